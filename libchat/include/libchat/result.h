// Result<T>: a value or an error Status, with a std::expected-shaped API (std::expected is C++23).
#pragma once

#include <cassert>
#include <new>
#include <type_traits>
#include <utility>

#include "libchat/status.h"

namespace chat {

// A tagged union rather than std::variant<T, Status>: Result is in nearly every signature, and each
// std::variant instantiation brings its visitation machinery (vtables of lambdas, _Variant_storage,
// __do_visit, ...), which every translation unit instantiated and compiled again: ~1,300 of the 7,000
// functions clang emitted for one unity batch of libchat_core at -O0 (docs/benchmarks.md, "Build
// time", fifth round).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : ok_(true) { ::new (static_cast<void*>(&value_)) T(std::move(value)); }  // NOLINT: implicit by design
  Result(Status error) : ok_(false) {  // NOLINT
    ::new (static_cast<void*>(&error_)) Status(std::move(error));
    assert(!error_.ok() && "Result constructed from an OK status");
  }
  Result(const Result& other) requires std::is_copy_constructible_v<T> : ok_(other.ok_) {
    if (ok_) {
      ::new (static_cast<void*>(&value_)) T(other.value_);
    } else {
      ::new (static_cast<void*>(&error_)) Status(other.error_);
    }
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(other.ok_) {
    if (ok_) {
      ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
    } else {
      ::new (static_cast<void*>(&error_)) Status(std::move(other.error_));
    }
  }
  Result& operator=(const Result& other) requires std::is_copy_constructible_v<T> {
    if (this != &other) *this = Result(other);
    return *this;
  }
  Result& operator=(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T> &&
                                             std::is_nothrow_move_assignable_v<T>) {
    if (this == &other) return *this;
    if (ok_ && other.ok_) {
      value_ = std::move(other.value_);
    } else if (!ok_ && !other.ok_) {
      error_ = std::move(other.error_);
    } else {
      Destroy();
      ok_ = other.ok_;
      if (ok_) {
        ::new (static_cast<void*>(&value_)) T(std::move(other.value_));
      } else {
        ::new (static_cast<void*>(&error_)) Status(std::move(other.error_));
      }
    }
    return *this;
  }
  ~Result() { Destroy(); }

  bool has_value() const { return ok_; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & { assert(has_value()); return value_; }
  const T& value() const& { assert(has_value()); return value_; }
  T&& value() && { assert(has_value()); return std::move(value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !has_value()
  const Status& error() const { assert(!has_value()); return error_; }
  // OK when a value is held, the error otherwise.
  Status status() const { return has_value() ? Status::Ok() : error_; }

 private:
  void Destroy() {
    if (ok_) {
      value_.~T();
    } else {
      error_.~Status();
    }
  }

  union {
    T value_;
    Status error_;
  };
  bool ok_;
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
