// chatd over TLS: a real chatd process with --tls-cert/--tls-key (a self-signed certificate made here
// with the OpenSSL API) serves wss:// and https://; a plain client on the TLS port fails cleanly and
// chatd keeps serving; a bad certificate stops chatd at start with exit code 1. Also the wire form
// of a rate-limit refusal and of the login throttle (resource_exhausted with retryAfterMs).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "chatd_process.h"
#include "test_keys.h"

extern char** environ;

namespace chat::test {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

std::vector<std::string> TlsArgs(const CertFiles& cert) {
  return {"--tls-cert", cert.cert_file, "--tls-key", cert.key_file};
}

ClientOptions TlsClient(const CertFiles& cert) {
  ClientOptions o;
  o.tls = true;
  o.tls_ca_file = cert.cert_file;
  return o;
}

// GET https://127.0.0.1:port/target trusting `cert`. Returns "<status>\n<body>", or "0\n<error>".
std::string HttpsGet(std::uint16_t port, const std::string& target, const CertFiles& cert) {
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert.cert_file);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_after(kWait);
  beast::get_lowest_layer(stream).socket().connect({net::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "0\nconnect: " + ec.message();
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return "0\nhandshake: " + ec.message();
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req, ec);
  if (ec) return "0\nwrite: " + ec.message();
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  if (ec) return "0\nread: " + ec.message();
  stream.shutdown(ec);  // close_notify; the server may close first, which is fine.
  return std::to_string(res.result_int()) + "\n" + res.body();
}

// A TLS 1.2 handshake with chatd offering only `ciphers` (OpenSSL names). The suite agreed on, or
// "" if the handshake failed.
std::string Tls12Handshake(std::uint16_t port, const CertFiles& cert, const char* ciphers) {
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert.cert_file);
  ctx.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  // Security level 0: let the test client offer suites OpenSSL would no longer offer by default.
  SSL_CTX_set_security_level(ctx.native_handle(), 0);
  if (SSL_CTX_set_cipher_list(ctx.native_handle(), ciphers) != 1) return "";
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_after(kWait);
  beast::get_lowest_layer(stream).socket().connect({net::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "";
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return "";
  const std::string suite = SSL_get_cipher_name(stream.native_handle());
  stream.shutdown(ec);
  return suite;
}

}  // namespace

TEST_CASE("chatd with --tls-cert/--tls-key: two users chat over wss://") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  ChatdProcess chatd(dir.str(), TlsArgs(cert));
  auto ada = Client::Connect("127.0.0.1", chatd.port(), TlsClient(cert));
  REQUIRE_OK(ada);
  auto bob = Client::Connect("127.0.0.1", chatd.port(), TlsClient(cert));
  REQUIRE_OK(bob);
  REQUIRE_OK((*ada)->Register("ada", PasswordOf("ada")));
  auto bob_user = (*bob)->Register("bob", PasswordOf("bob"));
  REQUIRE_OK(bob_user);
  REQUIRE_OK((*ada)->Login("ada", PasswordOf("ada"), "laptop", "tls test"));
  REQUIRE_OK((*bob)->Login("bob", PasswordOf("bob"), "phone", "tls test"));
  auto chat = (*ada)->CreateGroup("over tls", {bob_user->id});
  REQUIRE_OK(chat);
  auto sent = (*ada)->SendMessage(chat->id, "c1", "hello over TLS");
  REQUIRE_OK(sent);
  auto ev = WaitForMessage(**bob, chat->id, sent->message.seq);
  REQUIRE(ev.has_value());
  CHECK(ev->entry->body == "hello over TLS");
  // A clean close over TLS (close frame, then close_notify) leaves chatd serving.
  (*ada)->Close();
  CHECK(HttpsGet(chatd.port(), "/healthz", cert) == "200\nok\n");
}

TEST_CASE("chatd with TLS serves /healthz, /metrics and the attachment routes over https://") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  ChatdProcess chatd(dir.str(), TlsArgs(cert));
  CHECK(HttpsGet(chatd.port(), "/healthz", cert) == "200\nok\n");
  const std::string metrics = HttpsGet(chatd.port(), "/metrics", cert);
  CHECK(metrics.rfind("200\n", 0) == 0);
  CHECK(metrics.find("chat_tls_handshake_failures_total") != std::string::npos);
  // No token: refused by the attachment route itself (a JSON error), not by the transport.
  const std::string attachment = HttpsGet(chatd.port(), "/v1/attachments/nope", cert);
  INFO(attachment);
  CHECK(attachment.rfind("0\n", 0) != 0);
  CHECK(attachment.find("\"code\"") != std::string::npos);
}

TEST_CASE("a client that does not trust chatd's certificate fails the TLS handshake") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  TempDir other_dir;
  const CertFiles other = WriteLoopbackCert(other_dir.str());
  ChatdProcess chatd(dir.str(), TlsArgs(cert));
  auto c = Client::Connect("127.0.0.1", chatd.port(), TlsClient(other));
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code() == StatusCode::kUnavailable);
  CHECK(c.error().message().find("TLS handshake") != std::string::npos);
}

TEST_CASE("a plain ws:// or http:// client on the TLS port fails cleanly and chatd keeps serving") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  ChatdProcess chatd(dir.str(), TlsArgs(cert));
  ClientOptions plain;
  plain.connect_timeout = 3s;
  auto c = Client::Connect("127.0.0.1", chatd.port(), plain);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code() == StatusCode::kUnavailable);
  CHECK(HttpGet(chatd.port(), "/healthz").rfind("200", 0) != 0);
  // Still serving TLS clients, and the failures were counted.
  auto ok = Client::Connect("127.0.0.1", chatd.port(), TlsClient(cert));
  REQUIRE_OK(ok);
  const std::string metrics = HttpsGet(chatd.port(), "/metrics", cert);
  CHECK(metrics.find("chat_tls_handshake_failures_total 0\n") == std::string::npos);
  CHECK(chatd.SignalAndWait(SIGTERM) == 0);
}

TEST_CASE("chatd refuses to start with a missing certificate or a key that does not match, exit code 1") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  TempDir other_dir;
  const CertFiles other = WriteLoopbackCert(other_dir.str());
  std::string err;
  CHECK(RunChatdToExit(dir.str(), {"--tls-cert", dir.str() + "/missing.pem", "--tls-key", cert.key_file}, &err) == 1);
  CHECK(err.find("cannot read certificate '" + dir.str() + "/missing.pem': No such file") != std::string::npos);
  // OpenSSL notices the mismatch as the key is loaded ("key values mismatch").
  CHECK(RunChatdToExit(dir.str(), {"--tls-cert", cert.cert_file, "--tls-key", other.key_file}, &err) == 1);
  CHECK(err.find("key '" + other.key_file + "'") != std::string::npos);
  CHECK(err.find("mismatch") != std::string::npos);
  CHECK(RunChatdToExit(dir.str(), {"--tls-cert", cert.cert_file}, &err) == 2);
}

TEST_CASE("a rate-limited send is refused on the wire with resource_exhausted and retryAfterMs") {
  TempDir dir;
  ChatdProcess chatd(dir.str(), {"--rate-limits", "on"});
  RegisterUser(chatd, "ada");
  LiveDevice ada = LoginDevice(chatd, "ada", "laptop");
  auto chat = ada.client->CreateGroup("busy", {});
  REQUIRE_OK(chat);
  // The default per-device burst is 30 messages.
  Status refused;
  for (int i = 0; i < 40 && refused.ok(); ++i) {
    auto sent = ada.client->SendMessage(chat->id, "m" + std::to_string(i), "hi");
    if (!sent.ok()) refused = sent.error();
  }
  CHECK(refused.code() == StatusCode::kResourceExhausted);
  CHECK(refused.retry_after_ms() > 0);
  CHECK(refused.retry_after_ms() <= 1000);
}

TEST_CASE("failed logins from one address are throttled over the wire, the same for any username") {
  TempDir dir;
  ChatdProcess chatd(dir.str());
  RegisterUser(chatd, "ada");
  auto c = chatd.Connect();
  // Five wrong guesses, each at a different name (a spray) from this client's address, 127.0.0.1.
  for (int i = 0; i < 5; ++i) {
    auto s = c->Login("guess" + std::to_string(i), "wrong-password", "phone");
    CHECK(s.error().code() == StatusCode::kUnauthenticated);
  }
  // The address is held back now: a real user with the right password and an unknown name get the
  // same answer, with a retry hint.
  auto real = c->Login("ada", PasswordOf("ada"), "phone");
  auto unknown = c->Login("nobody-here", PasswordOf("ada"), "phone");
  REQUIRE_FALSE(real.ok());
  REQUIRE_FALSE(unknown.ok());
  CHECK(real.error().code() == StatusCode::kResourceExhausted);
  CHECK(real.error().message() == unknown.error().message());
  CHECK(real.error().retry_after_ms() > 0);
  CHECK(real.error().retry_after_ms() <= 1000);
}

TEST_CASE("TLS 1.2 with an RSA certificate offers only AEAD suites with forward secrecy", "[integration][tls]") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str(), /*rsa=*/true);
  ChatdProcess chatd(dir.str(), TlsArgs(cert));
  // Static RSA key exchange (no forward secrecy) and CBC with SHA-1, which OpenSSL's defaults allow.
  CHECK(Tls12Handshake(chatd.port(), cert, "AES128-SHA:AES256-SHA:AES128-GCM-SHA256:AES256-SHA256") == "");
  CHECK(Tls12Handshake(chatd.port(), cert, "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384") == "");
  CHECK(Tls12Handshake(chatd.port(), cert, "DHE-RSA-AES128-SHA") == "");
  // What a current client offers still works, and gets an ECDHE AEAD suite.
  const std::string suite = Tls12Handshake(chatd.port(), cert, "DEFAULT");
  INFO(suite);
  CHECK(suite.rfind("ECDHE-RSA-", 0) == 0);
  CHECK((suite.find("GCM") != std::string::npos || suite.find("CHACHA20") != std::string::npos));
  CHECK(HttpsGet(chatd.port(), "/healthz", cert) == "200\nok\n");
}

}  // namespace chat::test
