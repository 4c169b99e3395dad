// LoginThrottle: exponential backoff of password checks after failures (LoginThrottleOptions in
// libchat/options.h; docs/security.md, "Login throttling").
//
// Failures are counted three ways:
//  * per (account name, source address) pair: one address guessing one name is held back;
//  * per source address: one address spraying many names is held back, whatever the name;
//  * per account name, over every address: this count holds back only addresses that have failed
//    against that name themselves (and checks with no address). So guesses spread over many
//    addresses still slow down after each address's first, while the owner, from an address that has
//    not failed, is never locked out by somebody else's failures (issue 11, item 5).
// On top, a global budget of failed checks (every failure takes a token): while it is spent, addresses
// with failures of their own are held back; clean ones still pass. It bounds the Argon2id work that
// wrong passwords and unknown names cost overall.
//
// The account key is the name as typed (normalised by the caller), whether or not such a user exists,
// so a refusal says nothing about which names are real. Thread-safe (one mutex).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "libchat/clock.h"
#include "libchat/options.h"
#include "libchat/status.h"
#include "mutex.h"

namespace chat::detail {

class LoginThrottle {
 public:
  // `clock` is not owned and must outlive this.
  LoginThrottle(LoginThrottleOptions options, Clock* clock);

  // OK if a password check for `account` from `address` may run now; otherwise ResourceExhausted
  // with retry_after_ms() set to when it may. `address` is whatever identifies the source (an IP
  // address key, or "device:<id>" for a signed-in session); empty means unknown, which is treated as
  // one address that every account-wide failure holds back. The message is the same for every
  // account.
  Status Check(std::string_view account, std::string_view address);
  // Records the outcome of a check that Check allowed.
  void Failed(std::string_view account, std::string_view address);
  // Clears the failures of this (account, address) pair and takes them back from the account's
  // count: an attacker's failures against the account, and the address's failures against other
  // names, stay.
  void Succeeded(std::string_view account, std::string_view address);

  // For tests: records kept.
  std::size_t TEST_Records();

 private:
  struct Record {
    std::uint32_t failures = 0;
    TimeMs last_failure_ms = 0;
  };

  // When `r` allows the next check.
  TimeMs AllowedAt(const Record& r) const REQUIRES(mu_);
  // The record of `key`, forgetting it if stale; nullptr if none.
  Record* Find(const std::string& key, TimeMs now) REQUIRES(mu_);
  void Fail(std::string key, TimeMs now) REQUIRES(mu_);
  // Refills the global failure budget to `now`.
  void RefillGlobal(TimeMs now) REQUIRES(mu_);

  const LoginThrottleOptions options_;
  Clock* const clock_;
  Mutex mu_;
  // "p:<account>\n<address>", "u:<account>" and "a:<address>".
  std::unordered_map<std::string, Record> records_ GUARDED_BY(mu_);
  // The global failure budget (options_.global_failures).
  double global_tokens_ GUARDED_BY(mu_) = 0;
  TimeMs global_updated_ms_ = 0;
};

}  // namespace chat::detail
