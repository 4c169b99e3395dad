// RegistrationGuard: how fast new accounts may be made (Limits::register_per_address and
// register_global; docs/security.md, "Registration").
//
// Each registration costs an Argon2id hash (64 MiB and tens of milliseconds at the interactive cost)
// and makes an account, which multiplies every per-user quota and weighs in spam reports. One token
// bucket per source address (its AddressKey: an IPv6 client counts as its /64) and one for the whole
// server bound both. A front end calls Admit before it lets a registration reach the service.
//
// Thread-safe; Admit does not block.
#pragma once

#include <string_view>

#include "libchat/clock.h"
#include "libchat/options.h"
#include "libchat/status.h"
#include "token_buckets.h"

namespace chat::detail {

class RegistrationGuard {
 public:
  // `enabled` false: Admit always says OK (ServiceOptions::enforce_rate_limits off). `clock` is not
  // owned and must outlive this.
  RegistrationGuard(RateLimit per_address, RateLimit global, bool enabled, Clock* clock);

  // Takes one registration from the bucket of `address_key` (empty: unknown, charged to the global
  // bucket only) and from the global one, both or neither. ResourceExhausted with retry_after_ms()
  // when either is empty; nothing is taken then.
  Status Admit(std::string_view address_key);

 private:
  const RateLimit per_address_;
  const RateLimit global_;
  const bool enabled_;
  TokenBuckets buckets_;
};

}  // namespace chat::detail
