// Result<T>: a value or an error Status, with a std::expected-shaped API (std::expected is C++23).
#pragma once

#include <cassert>
#include <utility>
#include <variant>

#include "libchat/status.h"

namespace chat {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status error) : v_(std::in_place_index<1>, std::move(error)) {  // NOLINT
    assert(!std::get<1>(v_).ok() && "Result constructed from an OK status");
  }

  bool has_value() const { return v_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !has_value()
  const Status& error() const { assert(!has_value()); return std::get<1>(v_); }
  // OK when a value is held, the error otherwise.
  Status status() const { return has_value() ? Status::Ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace chat

#define LIBCHAT_CONCAT_INNER(a, b) a##b
#define LIBCHAT_CONCAT(a, b) LIBCHAT_CONCAT_INNER(a, b)
// Declares `lhs` from a Result-returning expression, or returns its error.
#define LIBCHAT_ASSIGN_OR_RETURN(lhs, expr) \
  LIBCHAT_ASSIGN_OR_RETURN_IMPL(LIBCHAT_CONCAT(_libchat_r, __LINE__), lhs, expr)
#define LIBCHAT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.has_value()) return tmp.error();           \
  lhs = std::move(tmp).value()
