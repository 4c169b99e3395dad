#include "registration_guard.h"

#include <functional>
#include <string>

namespace chat::detail {
namespace {

// Bucket ids within this guard's own TokenBuckets.
constexpr std::uint32_t kAddressBucket = 0;
constexpr std::uint32_t kGlobalBucket = 1;

}  // namespace

RegistrationGuard::RegistrationGuard(RateLimit per_address, RateLimit global, bool enabled, Clock* clock)
    : per_address_(per_address), global_(global), enabled_(enabled), buckets_(clock) {}

Status RegistrationGuard::Admit(std::string_view address_key) {
  if (!enabled_) return Status::Ok();
  // A 64-bit hash of the address names its bucket: a collision only makes two addresses share one.
  const std::uint64_t owner = std::hash<std::string_view>()(address_key);
  const RateLimit* per_address = address_key.empty() ? nullptr : &per_address_;
  return buckets_.Take({{{kAddressBucket, owner}, per_address}, {{kGlobalBucket, 0}, &global_}}, 1, "registrations");
}

}  // namespace chat::detail
