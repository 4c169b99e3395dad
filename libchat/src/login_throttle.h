// LoginThrottle: exponential backoff of password checks after failures, per account name and per
// source address (LoginThrottleOptions in libchat/options.h; docs/security.md).
//
// The account key is the name as typed (normalised by the caller), whether or not such a user
// exists, so a refusal says nothing about which names are real. Thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "libchat/clock.h"
#include "libchat/options.h"
#include "libchat/status.h"

namespace chat::detail {

class LoginThrottle {
 public:
  // `clock` is not owned and must outlive this.
  LoginThrottle(LoginThrottleOptions options, Clock* clock) : options_(options), clock_(clock) {}

  // OK if a password check for `account` from `address` (empty: unknown, not throttled by address)
  // may run now; otherwise ResourceExhausted with retry_after_ms() set to when it may. The message is
  // the same for every account.
  Status Check(std::string_view account, std::string_view address);
  // Records the outcome of a check that Check allowed.
  void Failed(std::string_view account, std::string_view address);
  void Succeeded(std::string_view account);

  // For tests: records kept.
  std::size_t TEST_Records();

 private:
  struct Record {
    std::uint32_t failures = 0;
    TimeMs last_failure_ms = 0;
  };

  // When `r` allows the next check. REQUIRES: mu_ held.
  TimeMs AllowedAt(const Record& r) const;
  // The record of `key`, forgetting it if stale; nullptr if none. REQUIRES: mu_ held.
  Record* Find(const std::string& key, TimeMs now);
  void Fail(std::string key, TimeMs now);  // REQUIRES: mu_ held.

  const LoginThrottleOptions options_;
  Clock* const clock_;
  std::mutex mu_;
  // "u:<account>" and "a:<address>". GUARDED_BY(mu_)
  std::unordered_map<std::string, Record> records_;
};

}  // namespace chat::detail
