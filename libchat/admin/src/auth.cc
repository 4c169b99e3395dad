#include "auth.h"

#include <sodium.h>

#include <cctype>
#include <cstdlib>

namespace chat::admin {
namespace {

std::array<unsigned char, 32> Digest(std::string_view s) {
  // sodium_init is idempotent and thread-safe.
  static const bool ready = sodium_init() >= 0;
  if (!ready) std::abort();  // No libsodium, no safe comparison.
  std::array<unsigned char, 32> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()), s.size(), nullptr, 0);
  return out;
}

}  // namespace

TokenCheck::TokenCheck(std::string_view token) : digest_(Digest(token)) {}

bool TokenCheck::Matches(std::string_view presented) const {
  const auto d = Digest(presented);
  return sodium_memcmp(d.data(), digest_.data(), d.size()) == 0;
}

std::optional<std::string_view> BearerToken(std::string_view v) {
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kScheme[i]) return std::nullopt;
  }
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  return v;
}

}  // namespace chat::admin
