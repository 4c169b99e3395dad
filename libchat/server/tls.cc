#include "tls.h"

#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace chat::detail {
namespace {

Status Bad(const std::string& what, const std::string& source, const boost::system::error_code& ec) {
  return Status::InvalidArgument("TLS " + what + " " + source + ": " + ec.message());
}

// OpenSSL reports a missing file as a bare "asio.ssl error": say why first.
Status CheckReadable(const std::string& what, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return Status::InvalidArgument("TLS cannot read " + what + " '" + path + "': " + std::strerror(errno));
  }
  std::fclose(f);
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsOptions& tls) {
  if (!tls.enabled()) return std::shared_ptr<ssl::context>();
  if (tls.key_file.empty() && tls.key_pem.empty()) {
    return Status::InvalidArgument("TLS: a certificate without a private key");
  }
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  // TLS 1.2 and later only: what every current client speaks; older versions have known weaknesses.
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (ec) return Bad("options", "", ec);
  // TLS 1.2 suites: ECDHE key exchange (forward secrecy) with AEAD ciphers only. OpenSSL's default
  // list also offers static-RSA key exchange and CBC with SHA-1 to an RSA certificate. TLS 1.3's
  // suites are all AEAD with forward secrecy and are left as they are.
  static constexpr const char* kTls12Ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  if (SSL_CTX_set_cipher_list(ctx->native_handle(), kTls12Ciphers) != 1) {
    return Status::InvalidArgument("TLS: OpenSSL accepts none of the AEAD cipher suites");
  }
  // The server's order wins: the client cannot steer towards the weakest suite both support.
  SSL_CTX_set_options(ctx->native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  const std::string cert_source = tls.cert_pem.empty() ? "certificate '" + tls.cert_file + "'" : "certificate (PEM)";
  if (tls.cert_pem.empty()) {
    LIBCHAT_RETURN_IF_ERROR(CheckReadable("certificate", tls.cert_file));
    ctx->use_certificate_chain_file(tls.cert_file, ec);
  } else {
    ctx->use_certificate_chain(boost::asio::buffer(tls.cert_pem), ec);
  }
  if (ec) return Bad("cannot load", cert_source, ec);
  const std::string key_source = tls.key_pem.empty() ? "key '" + tls.key_file + "'" : "key (PEM)";
  if (tls.key_pem.empty()) {
    LIBCHAT_RETURN_IF_ERROR(CheckReadable("key", tls.key_file));
    ctx->use_private_key_file(tls.key_file, ssl::context::pem, ec);
  } else {
    ctx->use_private_key(boost::asio::buffer(tls.key_pem), ssl::context::pem, ec);
  }
  if (ec) return Bad("cannot load", key_source, ec);
  // A key that belongs to another certificate would fail every handshake: refuse to start instead.
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return Status::InvalidArgument("TLS " + key_source + " does not match the " + cert_source);
  }
  return ctx;
}

}  // namespace chat::detail
