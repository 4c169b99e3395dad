#include "jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "crypto.h"

namespace chat::curl_push {

struct SigningKey::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

std::string Base64UrlEncode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(data[k]); };
  for (; i + 3 <= data.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  if (data.size() - i == 1) {
    unsigned v = byte(i) << 16;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
  } else if (data.size() - i == 2) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8;
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
  }
  return out;
}

Result<SigningKey> SigningKey::FromPem(std::string_view pem, JwtAlgorithm algorithm, std::string_view what) {
  auto bad = [&](const std::string& why) { return Status::InvalidArgument(std::string(what) + ": " + why); };
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return Status::Internal("BIO_new_mem_buf failed");
  auto key = std::make_shared<Key>();
  key->pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!key->pkey) return bad("not a PEM private key");
  if (algorithm == JwtAlgorithm::kRs256) {
    if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_RSA) return bad("RS256 needs an RSA key");
    if (EVP_PKEY_get_bits(key->pkey) < 2048) return bad("RSA key shorter than 2048 bits");
  } else {
    if (EVP_PKEY_get_base_id(key->pkey) != EVP_PKEY_EC) return bad("ES256 needs an EC key");
    char group[64] = {};
    size_t len = 0;
    if (!EVP_PKEY_get_utf8_string_param(key->pkey, "group", group, sizeof(group), &len) ||
        std::string_view(group) != "prime256v1") {
      return bad("ES256 needs a key on curve P-256");
    }
  }
  return SigningKey(std::move(key), algorithm);
}

namespace {

// ECDSA signatures come from OpenSSL DER-encoded; JWS wants R and S as two 32-byte big-endian
// numbers side by side (RFC 7518, section 3.4).
Result<std::string> DerToJose(const std::vector<unsigned char>& der) {
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())),
                                                            ECDSA_SIG_free);
  if (!sig) return Status::Internal("ES256: malformed ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, o, 32) != 32 || BN_bn2binpad(s, o + 32, 32) != 32) {
    return Status::Internal("ES256: signature component too long");
  }
  return out;
}

}  // namespace

Result<std::string> SigningKey::Sign(std::string_view header_json, std::string_view claims_json) const {
  std::string input = Base64UrlEncode(header_json) + "." + Base64UrlEncode(claims_json);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey) != 1) {
    return Status::Internal("jwt: EVP_DigestSignInit failed");
  }
  size_t len = 0;
  auto data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) return Status::Internal("jwt: sign failed");
  std::vector<unsigned char> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data, input.size()) != 1) return Status::Internal("jwt: sign failed");
  sig.resize(len);
  std::string raw;
  if (algorithm_ == JwtAlgorithm::kEs256) {
    LIBCHAT_ASSIGN_OR_RETURN(raw, DerToJose(sig));
  } else {
    raw.assign(sig.begin(), sig.end());
  }
  return input + "." + Base64UrlEncode(raw);
}

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return detail::HexEncode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

Result<std::string> ReadSmallFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string(what) + ": cannot open '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  std::string content = s.str();
  // Keys and service-account files are a few KiB; a huge file is a wrong path.
  if (content.size() > 1024 * 1024) return Status::InvalidArgument(std::string(what) + ": '" + path + "' too large");
  return content;
}

}  // namespace chat::curl_push
