// The admin token check. The configured token is kept only as a BLAKE2b-256 digest, and a presented
// token is compared digest to digest with sodium_memcmp: the time taken depends on neither the token's
// content nor its length.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace chat::admin {

class TokenCheck {
 public:
  explicit TokenCheck(std::string_view token);
  // True if `presented` is the token.
  bool Matches(std::string_view presented) const;

 private:
  std::array<unsigned char, 32> digest_{};
};

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive, RFC 6750);
// nullopt if the value is not of that form.
std::optional<std::string_view> BearerToken(std::string_view authorization);

}  // namespace chat::admin
