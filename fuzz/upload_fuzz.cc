// libFuzzer target: the HTTP attachment path of a real chat::Server (in this process, on 127.0.0.1,
// port 0), over a real TCP connection, as a client on the network would drive it.
//
// Input: the first byte picks the mode, the rest is:
//   mode 0 - the whole HTTP request, raw (request line, headers, body): the parser, routing, auth;
//   mode 1 - "extra header lines\r\n\r\nbody" of a PUT, signed in, to an attachment the harness has
//            just announced with the body's size (and its SHA-256 or a wrong one, by the mode byte's
//            high bit; its MIME type by the next bits), so the upload streams, checks and completes;
//   mode 2 - extra header lines of a GET or HEAD of a complete attachment (Range, If-None-Match).
// The client half-closes after sending and reads until the server closes. A server that does not
// close a finished exchange within kCloseWithin is a finding, as are crashes and sanitizer reports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "libchat/server/server.h"
#include "world.h"

namespace {

using namespace chat;

constexpr int kInputsPerWorld = 2000;
constexpr std::chrono::seconds kCloseWithin{10};
constexpr std::array<std::string_view, 4> kMimeTypes = {"text/plain", "application/pdf", "application/zip",
                                                        "application/octet-stream"};

struct Harness {
  std::unique_ptr<fuzz::World> world;
  std::unique_ptr<Server> server;
  std::uint16_t port = 0;
  std::string complete_id;  // A complete attachment of alice's, for GET/HEAD.
  int inputs = 0;

  void Rebuild() {
    if (server) server->Stop();
    server.reset();
    world = fuzz::MakeWorld();
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.io_threads = 1;
    options.workers = 2;
    options.handshake_timeout = std::chrono::milliseconds(2000);
    options.idle_timeout = std::chrono::milliseconds(2000);
    auto made = Server::Create(options, *world->service);
    fuzz::Check(made.ok(), "create the server");
    server = std::move(*made);
    auto endpoint = server->Start();
    fuzz::Check(endpoint.ok(), "start the server");
    port = endpoint->port;
    complete_id = Announce("%PDF-1.7 fuzz", "application/pdf", /*right_checksum=*/true);
    std::string put = "PUT /v1/attachments/" + complete_id + " HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer " +
                      world->alice.token + "\r\nContent-Length: 13\r\n\r\n%PDF-1.7 fuzz";
    Exchange(put);
    inputs = 0;
  }

  // Announces a pending attachment of alice's that `body` would complete; returns its id.
  std::string Announce(std::string_view body, std::string_view mime, bool right_checksum) {
    NewAttachment a;
    a.kind = AttachmentKind::kDocument;
    a.mime = std::string(mime);
    a.size = body.empty() ? 1 : body.size();
    a.sha256 = right_checksum ? Sha256Hex(body) : std::string(64, '0');
    auto ticket = world->service->CreateAttachment(world->alice.user.id, a);
    fuzz::Check(ticket.ok(), "announce an attachment");
    return ticket->attachment.id;
  }

  static std::string Sha256Hex(std::string_view bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    fuzz::Check(EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) == 1, "sha256");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned i = 0; i < length; ++i) {
      hex += kHex[digest[i] >> 4];
      hex += kHex[digest[i] & 15];
    }
    return hex;
  }

  // Sends `request`, half-closes, reads until the server closes.
  void Exchange(std::string_view request) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    fuzz::Check(fd >= 0, "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fuzz::Check(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "connect");
    timeval tv{static_cast<time_t>(kCloseWithin.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::size_t sent = 0;
    while (sent < request.size()) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // The server may close early (an error answered before the body): fine.
      sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        std::fprintf(stderr, "the server kept a finished exchange open for %llds\n",
                     static_cast<long long>(kCloseWithin.count()));
        std::abort();
      }
      break;  // Closed (or reset).
    }
    ::close(fd);
  }
};

Harness& TheHarness() {
  static Harness* harness = [] {
    auto* h = new Harness;  // Never destroyed: libFuzzer exits without unwinding.
    h->Rebuild();
    return h;
  }();
  return *harness;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Harness& h = TheHarness();
  if (++h.inputs > kInputsPerWorld) h.Rebuild();
  const std::uint8_t mode = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string auth = "Host: fuzz\r\nAuthorization: Bearer " + h.world->alice.token + "\r\n";

  switch (mode % 3) {
    case 0:
      h.Exchange(rest);
      break;
    case 1: {
      const std::size_t split = rest.find("\r\n\r\n");
      std::string_view headers = split == std::string_view::npos ? std::string_view{} : rest.substr(0, split + 2);
      std::string_view body = split == std::string_view::npos ? rest : rest.substr(split + 4);
      const std::string id = h.Announce(body, kMimeTypes[(mode >> 2) % kMimeTypes.size()], (mode & 0x80) == 0);
      std::string request = "PUT /v1/attachments/" + id + " HTTP/1.1\r\n" + auth;
      request += headers;
      if (headers.find("ength:") == std::string_view::npos && headers.find("ncoding:") == std::string_view::npos) {
        request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      }
      request += "\r\n";
      request += body;
      h.Exchange(request);
      break;
    }
    default: {
      std::string request = std::string((mode & 0x80) ? "HEAD" : "GET") + " /v1/attachments/" + h.complete_id +
                            " HTTP/1.1\r\n" + auth;
      request += rest;
      request += "\r\n\r\n";
      h.Exchange(request);
      break;
    }
  }
  return 0;
}
