#include "test_keys.h"

#include "test_support.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

namespace chat::test {
namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

std::string Pem(EVP_PKEY* key, bool is_private) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  int ok = is_private ? PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                      : PEM_write_bio_PUBKEY(bio.get(), key);
  if (!ok) throw std::runtime_error("PEM write failed");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

TestKey Export(PKey key) {
  if (!key) throw std::runtime_error("key generation failed");
  return {Pem(key.get(), true), Pem(key.get(), false)};
}

}  // namespace

TestKey NewRsaKey() { return Export(PKey(EVP_RSA_gen(2048), EVP_PKEY_free)); }
TestKey NewP256Key() { return Export(PKey(EVP_EC_gen("P-256"), EVP_PKEY_free)); }

TestCert NewLoopbackCert(bool rsa) {
  PKey key(rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) throw std::runtime_error("cert: allocation failed");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) throw std::runtime_error("cert: extension failed");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) throw std::runtime_error("cert: sign failed");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return {Pem(key.get(), true), std::string(data, static_cast<size_t>(len))};
}

std::string Base64UrlDecode(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    throw std::runtime_error("bad base64url character");
  };
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : s) {
    acc = acc << 6 | static_cast<unsigned>(value(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xFF);
    }
  }
  return out;
}

DecodedJwt VerifyJwt(const std::string& token, const std::string& public_pem) {
  auto dot1 = token.find('.');
  auto dot2 = token.find('.', dot1 + 1);
  if (dot1 == std::string::npos || dot2 == std::string::npos) throw std::runtime_error("jwt: not three parts");
  DecodedJwt out;
  out.header = nlohmann::json::parse(Base64UrlDecode(token.substr(0, dot1)));
  out.claims = nlohmann::json::parse(Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1)));
  std::string sig = Base64UrlDecode(token.substr(dot2 + 1));
  std::string input = token.substr(0, dot2);

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())),
                                                BIO_free);
  PKey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) throw std::runtime_error("bad public key");
  std::vector<unsigned char> der;
  if (out.header.value("alg", "") == "ES256") {
    // JOSE's R||S back to the DER form OpenSSL verifies.
    if (sig.size() != 64) return out;
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(ECDSA_SIG_new(), ECDSA_SIG_free);
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(es.get(), r, s);
    unsigned char* p = nullptr;
    int len = i2d_ECDSA_SIG(es.get(), &p);
    der.assign(p, p + len);
    OPENSSL_free(p);
  } else if (out.header.value("alg", "") == "RS256") {
    der.assign(sig.begin(), sig.end());
  } else {
    return out;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get());
  out.signature_ok = EVP_DigestVerify(ctx.get(), der.data(), der.size(),
                                      reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  return out;
}

CertFiles WriteLoopbackCert(const std::string& dir, bool rsa) {
  const TestCert cert = NewLoopbackCert(rsa);
  CertFiles out{dir + "/cert.pem", dir + "/key.pem"};
  WriteFile(out.cert_file, cert.cert_pem);
  WriteFile(out.key_file, cert.key_pem);
  return out;
}

}  // namespace chat::test
