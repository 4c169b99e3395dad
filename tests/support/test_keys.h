// Keys and JWT checks for push tests, written independently of the plugin's jwt.cc so that a bug
// there cannot hide itself: keys are generated fresh with OpenSSL, tokens verified with the public key.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace chat::test {

// A private key in PKCS#8 PEM and its public key in PEM.
struct TestKey {
  std::string private_pem;
  std::string public_pem;
};
TestKey NewRsaKey();     // 2048 bits.
TestKey NewP256Key();    // EC P-256, the shape of an APNs .p8 key.

// A self-signed certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1), valid for a day, with its
// key: lets a test serve https that libcurl verifies with ca_file=<the certificate>.
struct TestCert {
  std::string key_pem;
  std::string cert_pem;
};
TestCert NewLoopbackCert();

std::string Base64UrlDecode(const std::string& s);

struct DecodedJwt {
  nlohmann::json header;
  nlohmann::json claims;
  bool signature_ok = false;
};
// Splits and decodes the token and verifies its signature with public_pem ("RS256" or "ES256",
// as its header says). Throws std::runtime_error if the token is malformed.
DecodedJwt VerifyJwt(const std::string& token, const std::string& public_pem);

// Writes content to path (tests keep key files in a TempDir).
void WriteFile(const std::string& path, const std::string& content);

}  // namespace chat::test
