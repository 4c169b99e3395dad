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
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
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
namespace websocket = beast::websocket;
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

// The value of `name` in chatd's /metrics over https://, or -1.
double HttpsMetric(std::uint16_t port, const CertFiles& cert, const std::string& name) {
  const std::string text = HttpsGet(port, "/metrics", cert);
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

// A wss:// client with a small receive window that reads only when told: for a device that stops
// reading. Every wait is bounded (asynchronous operations run for at most `timeout`).
class SlowTlsWebSocket {
 public:
  SlowTlsWebSocket(std::uint16_t port, const CertFiles& cert) : ctx_(ssl::context::tls_client), ws_(ioc_, ctx_) {
    ctx_.load_verify_file(cert.cert_file);
    ctx_.set_verify_mode(ssl::verify_peer);
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.open(tcp::v4());
    socket.set_option(net::socket_base::receive_buffer_size(4096));
    socket.connect({net::ip::make_address("127.0.0.1"), port});
    ws_.next_layer().handshake(ssl::stream_base::client);
    ws_.handshake("127.0.0.1", "/ws");
    ws_.text(true);
  }

  // Sends `text` and returns the next text frame.
  std::string Call(const std::string& text) {
    ws_.write(net::buffer(text));
    std::string out;
    REQUIRE(Read(&out) == beast::error_code());
    return out;
  }

  // Reads one message into *out; the error if there is none within kWait.
  beast::error_code Read(std::string* out) {
    beast::flat_buffer buffer;
    beast::error_code result = net::error::timed_out;
    bool done = false;
    ws_.async_read(buffer, [&](beast::error_code ec, std::size_t) {
      done = true;
      result = ec;
    });
    ioc_.restart();
    ioc_.run_for(kWait);
    if (!done) {
      beast::get_lowest_layer(ws_).close();
      ioc_.restart();
      ioc_.run();
    }
    *out = beast::buffers_to_string(buffer.data());
    return result;
  }

  websocket::close_reason reason() const { return ws_.reason(); }

 private:
  net::io_context ioc_;
  ssl::context ctx_;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
};

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
  // Between requests a wss:// session keeps Beast's read pending (OpenSSL may hold decrypted bytes
  // the socket no longer shows, so waiting for readability could miss them; ws_session.h): both
  // idle sessions are reading, and a request is still answered.
  double reading = -1;
  for (const auto deadline = std::chrono::steady_clock::now() + kWait; std::chrono::steady_clock::now() < deadline;) {
    reading = HttpsMetric(chatd.port(), cert, "chat_ws_reading_sessions");
    if (reading == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(reading == 2);
  REQUIRE_OK((*bob)->ListChats());
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

// The TLS and plain connections share one session code (one Transport interface under Beast): these
// exercise over TLS what the plain tests exercise over TCP.

TEST_CASE("an attachment goes up and down over https:// in several chunks, byte for byte", "[integration][tls]") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  ChatdProcess chatd(dir.str(), TlsArgs(cert));
  auto ada = Client::Connect("127.0.0.1", chatd.port(), TlsClient(cert));
  REQUIRE_OK(ada);
  REQUIRE_OK((*ada)->Register("ada", PasswordOf("ada")));
  REQUIRE_OK((*ada)->Login("ada", PasswordOf("ada"), "laptop", "tls test"));
  // Larger than the server's 256 KiB chunk and the client's 64 KiB writes: several of each.
  std::string pdf = "%PDF-1.7\n";
  for (int i = 0; pdf.size() < 700 * 1024; ++i) pdf += static_cast<char>('a' + i % 26);
  std::uint64_t up = 0;
  auto a = (*ada)->UploadAttachment(AttachmentKind::kDocument, "application/pdf", pdf,
                                    [&up](std::uint64_t done, std::uint64_t) { up = done; });
  REQUIRE_OK(a);
  CHECK(up == pdf.size());
  CHECK(a->size == pdf.size());
  auto bytes = (*ada)->DownloadAttachment(a->id);
  REQUIRE_OK(bytes);
  CHECK(*bytes == pdf);
  CHECK(HttpsMetric(chatd.port(), cert, "chat_attachment_uploads_total") == 1);
  CHECK(HttpsMetric(chatd.port(), cert, "chat_attachment_downloads_total") == 1);
}

TEST_CASE("a wss:// device that stops reading is closed with 1008 slow consumer, and the others keep receiving",
          "[integration][tls]") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  std::vector<std::string> args = TlsArgs(cert);
  for (const char* a : {"--send-queue-messages", "16", "--send-queue-bytes", "524288", "--max-response-bytes", "262144"}) {
    args.push_back(a);
  }
  ChatdProcess chatd(dir.str(), args);
  auto ada = Client::Connect("127.0.0.1", chatd.port(), TlsClient(cert));
  auto cy = Client::Connect("127.0.0.1", chatd.port(), TlsClient(cert));
  REQUIRE_OK(ada);
  REQUIRE_OK(cy);
  REQUIRE_OK((*ada)->Register("ada", PasswordOf("ada")));
  auto bob = (*ada)->Register("bob", PasswordOf("bob"));
  auto cy_user = (*cy)->Register("cyd", PasswordOf("cyd"));
  REQUIRE_OK(bob);
  REQUIRE_OK(cy_user);
  REQUIRE_OK((*ada)->Login("ada", PasswordOf("ada"), "laptop", "tls test"));
  REQUIRE_OK((*cy)->Login("cyd", PasswordOf("cyd"), "phone", "tls test"));

  SlowTlsWebSocket slow(chatd.port(), cert);
  CHECK(slow.Call(R"({"id":1,"cmd":"hello","version":1})").find("\"ok\":true") != std::string::npos);
  CHECK(slow.Call(R"({"id":2,"cmd":"login","username":"bob","password":")" + PasswordOf("bob") +
                  R"(","device":{"kind":"test","name":"slow"}})")
            .find("\"ok\":true") != std::string::npos);

  auto chat = (*ada)->CreateGroup("flood", {bob->id, cy_user->id});
  REQUIRE_OK(chat);
  const std::string body(60000, 'x');
  Seq last = 0;
  // Send until the server reports the slow consumer (adaptive: no fixed count or sleep).
  for (int i = 0; i < 600 && HttpsMetric(chatd.port(), cert, "chat_send_queue_drops_total") < 1; i += 10) {
    for (int j = i; j < i + 10; ++j) {
      auto r = (*ada)->SendMessage(chat->id, "f" + std::to_string(j), body);
      REQUIRE_OK(r);
      last = r->message.seq;
    }
  }
  REQUIRE(HttpsMetric(chatd.port(), cert, "chat_send_queue_drops_total") >= 1);
  // The reading device got everything, the last message included.
  CHECK(WaitForMessage(**cy, chat->id, last).has_value());

  // The slow device reads again: what was already on the wire, then the close frame.
  beast::error_code ec;
  std::string frame;
  int frames = 0;
  while (!(ec = slow.Read(&frame)) && frames < 10000) ++frames;
  CHECK(ec == websocket::error::closed);
  CHECK(slow.reason().code == 1008);
  CHECK(std::string(slow.reason().reason.c_str()) == "slow consumer");
}

TEST_CASE("on the TLS port, a client that says nothing, or stops after the handshake, is cut off at the handshake timeout",
          "[integration][tls]") {
  TempDir dir;
  const CertFiles cert = WriteLoopbackCert(dir.str());
  std::vector<std::string> args = TlsArgs(cert);
  // 1 s, not less: the last check's own TLS handshake and request must fit in it on a loaded 2-core
  // CI machine (with 300 ms, CI once cut that client off: "stream truncated").
  args.push_back("--handshake-timeout-ms");
  args.push_back("1000");
  ChatdProcess chatd(dir.str(), args);
  const auto start = std::chrono::steady_clock::now();
  RawTcp silent(chatd.port());  // Never starts the TLS handshake.
  // Completes the TLS handshake, then sends half a request header.
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert.cert_file);
  ctx.set_verify_mode(ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> half(ioc, ctx);
  beast::get_lowest_layer(half).socket().connect({net::ip::make_address("127.0.0.1"), chatd.port()});
  half.handshake(ssl::stream_base::client);
  net::write(half, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")));
  CHECK(silent.WaitForEnd());
  beast::error_code ec;
  char byte;
  beast::get_lowest_layer(half).expires_after(kWait);
  bool ended = false;
  half.async_read_some(net::buffer(&byte, 1), [&](beast::error_code e, std::size_t) {
    ended = true;
    ec = e;
  });
  ioc.run();
  CHECK(ended);
  CHECK(ec != beast::error::timeout);  // The server ended it, not our own wait.
  CHECK(ec);
  // Closed by the deadline, not at once.
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(900));
  // And TLS clients are still served.
  CHECK(HttpsGet(chatd.port(), "/healthz", cert) == "200\nok\n");
}

}  // namespace chat::test
