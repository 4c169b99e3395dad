// Status: the outcome of a libchat operation. A small closed set of codes (after LevelDB's Status and
// RocksDB's IOStatus): callers branch on the code, people read the message, which names the failing input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace chat {

enum class StatusCode {
  kOk = 0,
  kNotFound,
  kInvalidArgument,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kUnavailable,        // Retryable: the backend is temporarily unable to serve.
  kResourceExhausted,  // Retryable: a queue is full or a rate limit was hit.
  kFailedPrecondition, // A limit or state forbids the operation (e.g. member limit reached).
  kCorruption,
  kInternal,
  kNotSupported,
};

// Stable lower-case name of a code as used on the wire ("not_found", "invalid_argument", ...).
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status NotSupported(std::string m) { return {StatusCode::kNotSupported, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  // True for failures that may succeed if the same call is retried later.
  bool IsRetryable() const {
    return code_ == StatusCode::kUnavailable || code_ == StatusCode::kResourceExhausted;
  }

  // How long the caller should wait before retrying, in milliseconds, when the failing component knows
  // (a rate limit or login backoff); -1 when it does not. Only meaningful for a non-OK status.
  std::int64_t retry_after_ms() const { return retry_after_ms_; }
  // Returns a copy that carries a retry-after hint of `ms` milliseconds.
  Status WithRetryAfter(std::int64_t ms) const {
    Status s = *this;
    s.retry_after_ms_ = ms;
    return s;
  }

  // "not_found: user 42" — for logs and errors shown to people.
  std::string ToString() const;

  // Marks an error as deliberately ignored, so that the places doing so can be found with grep.
  void IgnoreError() const {}

  // Returns a copy whose message is prefixed with "context: ".
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::int64_t retry_after_ms_ = -1;
};

}  // namespace chat

// Propagates an error Status from an expression returning Status.
#define LIBCHAT_RETURN_IF_ERROR(expr)        \
  do {                                       \
    ::chat::Status _libchat_s = (expr);      \
    if (!_libchat_s.ok()) return _libchat_s; \
  } while (0)
