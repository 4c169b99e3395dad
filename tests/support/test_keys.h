// Keys, certificates and JWT checks for the TLS and push tests, written independently of the plugin's jwt.cc so that a bug
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
TestCert NewLoopbackCert(bool rsa = false);

std::string Base64UrlDecode(const std::string& s);

struct DecodedJwt {
  nlohmann::json header;
  nlohmann::json claims;
  bool signature_ok = false;
};
// Splits and decodes the token and verifies its signature with public_pem ("RS256" or "ES256",
// as its header says). Throws std::runtime_error if the token is malformed.
DecodedJwt VerifyJwt(const std::string& token, const std::string& public_pem);

// NewLoopbackCert() written as PEM files into `dir` (cert.pem, key.pem): for servers that take file
// paths (chatd --tls-cert/--tls-key); clients trust it by loading cert_file as their CA.
struct CertFiles {
  std::string cert_file;
  std::string key_file;
};
CertFiles WriteLoopbackCert(const std::string& dir, bool rsa = false);

}  // namespace chat::test
