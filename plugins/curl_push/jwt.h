// JSON Web Tokens signed with OpenSSL, for provider authentication: RS256 (Google's OAuth2 JWT bearer
// flow, which FCM uses) and ES256 (APNs provider tokens).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "libchat/result.h"

namespace chat::curl_push {

// base64url without padding (RFC 7515, section 2).
std::string Base64UrlEncode(std::string_view data);

enum class JwtAlgorithm { kRs256, kEs256 };

// A private key for one JWT algorithm. Immutable once loaded; signing is thread-safe.
class SigningKey {
 public:
  // Loads a PEM private key (PKCS#8 "BEGIN PRIVATE KEY", or the traditional RSA/EC forms).
  // InvalidArgument naming `what` if it does not parse or does not suit the algorithm: RS256 needs
  // an RSA key of at least 2048 bits, ES256 an EC key on P-256.
  static Result<SigningKey> FromPem(std::string_view pem, JwtAlgorithm algorithm, std::string_view what);

  // "<header>.<claims>.<signature>", each part base64url. `header_json` and `claims_json` are
  // serialised JSON objects; the header must name the same "alg". Internal if OpenSSL fails.
  Result<std::string> Sign(std::string_view header_json, std::string_view claims_json) const;

 private:
  struct Key;
  SigningKey(std::shared_ptr<Key> key, JwtAlgorithm algorithm) : key_(std::move(key)), algorithm_(algorithm) {}
  std::shared_ptr<Key> key_;
  JwtAlgorithm algorithm_;
};

// Hex HMAC-SHA256 of data with key (webhook signatures).
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// The whole content of a (small) file, or InvalidArgument naming it.
Result<std::string> ReadSmallFile(const std::string& path, std::string_view what);

}  // namespace chat::curl_push
