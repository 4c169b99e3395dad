// Cryptography through libsodium: Argon2id password hashes, random tokens and ids, hashes.
#pragma once

#include <string>
#include <string_view>

#include "libchat/options.h"
#include "libchat/result.h"

namespace chat::detail {

// Argon2id in libsodium's self-describing encoded form (salt and limits included).
Result<std::string> HashPassword(std::string_view password, PasswordCost cost);
// True if password matches the encoded hash. Constant-time in the password.
bool VerifyPassword(std::string_view encoded_hash, std::string_view password);
// `bytes` random bytes as lower-case hex.
std::string RandomHex(std::size_t bytes);
// 256 random bits, URL-safe base64 without padding: a session token.
std::string NewToken();
// BLAKE2b-256 of a token, hex: what is stored instead of the token.
std::string HashToken(std::string_view token);
// `bytes` as lower-case hex (libsodium's constant-time encoder).
std::string HexEncode(std::string_view bytes);
// SHA-256 as lower-case hex.
std::string Sha256Hex(std::string_view data);

// Incremental SHA-256, for streams that must not be held in memory.
class Sha256 {
 public:
  Sha256();
  void Update(std::string_view data);
  // Lower-case hex of everything updated. Call once.
  std::string HexDigest();

 private:
  alignas(16) unsigned char state_[128];
};

}  // namespace chat::detail
