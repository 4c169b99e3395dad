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
//
// Several nodes (Share): the three records are the cluster's, in a SharedKv bucket whose TTL is
// forget_after_ms: Check reads them (three round trips: a password check costs far more), Failed and
// Succeeded change them with compare-and-set, so failures through any node count everywhere. The
// global budget stays per node: it bounds this node's Argon2id work. A request waits 1 s at most
// (kSharedRequestTimeoutMs), and a bucket that fails one (its engine away or silent) is not asked
// again for kSharedPauseMs: meanwhile this node's own records decide (it keeps them too), so a
// sign-in waits out at most one request's timeout, and the next ones none. Failing open to the
// node's own records, not closed: refusing every sign-in while the bus is away would turn a NATS
// outage into a login outage, and the per-node throttle and global budget still bound guessing
// through this node.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "libchat/clock.h"
#include "libchat/options.h"
#include "libchat/shared_kv.h"
#include "libchat/status.h"
#include "mutex.h"

namespace chat::detail {

class LoginThrottle {
 public:
  // `clock` is not owned and must outlive this.
  LoginThrottle(LoginThrottleOptions options, Clock* clock);

  // How long a bucket that failed a request is left alone.
  static constexpr TimeMs kSharedPauseMs = 10'000;
  // How long one request to the bucket may wait (SharedKvOptions::request_timeout_ms): a sign-in waits
  // on it, and a healthy bucket answers in milliseconds.
  static constexpr std::int64_t kSharedRequestTimeoutMs = 1'000;

  // Keeps the records in `kv`, shared with the other nodes, from now on. Call before the first
  // Check. If the bucket does not answer, the node's own records decide (never a refusal because of
  // the engine), for kSharedPauseMs before it is asked again.
  void Share(std::shared_ptr<SharedKv> kv) { shared_ = std::move(kv); }

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
  // Shared records: the bucket's record of `key`, if any and not stale (the engine away: this node's
  // own record, which Failed keeps too).
  std::optional<Record> Pull(const std::string& key, TimeMs now) EXCLUDES(mu_);
  // Whether the bucket is asked now; Pause after a request it failed.
  bool SharedAnswering() const;
  void PauseShared();
  // Shared records: `change` applied to the bucket's record of `key` with compare-and-set.
  // `change` returns false to delete the record.
  void Push(const std::string& key, TimeMs now, const std::function<bool(Record&)>& change) EXCLUDES(mu_);

  const LoginThrottleOptions options_;
  Clock* const clock_;
  Mutex mu_;
  // "p:<account>\n<address>", "u:<account>" and "a:<address>".
  std::unordered_map<std::string, Record> records_ GUARDED_BY(mu_);
  // The global failure budget (options_.global_failures).
  double global_tokens_ GUARDED_BY(mu_) = 0;
  TimeMs global_updated_ms_ = 0;
  std::shared_ptr<SharedKv> shared_;  // Set before use, then read-only.
  std::atomic<TimeMs> shared_paused_until_{0};  // The bucket is not asked before this (clock_ ms).
};

}  // namespace chat::detail
