#include "chatd_process.h"

#include <algorithm>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#ifndef CHATD_PATH
#error "CHATD_PATH must name the chatd binary"
#endif

namespace chat::test {
namespace {

int Milliseconds(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

int ConnectLoopback(std::uint16_t port, int receive_buffer = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  if (receive_buffer > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0) ::close(fd);
  REQUIRE(rc == 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void SendAll(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    off += static_cast<std::size_t>(n);
  }
}

// Drops input until the peer closes (true) or `deadline` passes (false).
bool DrainUntilEnd(int fd, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, Milliseconds(deadline)) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;  // EOF or reset: the server ended it.
  }
}

}  // namespace

int RunChatdToExit(const std::string& data_dir, const std::vector<std::string>& args, std::string* err) {
  std::vector<std::string> argv = {CHATD_PATH, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
                                   "--password-cost", "minimum"};
  argv.insert(argv.end(), args.begin(), args.end());
  TempDir out;
  const std::string err_path = (out.path() / "stderr.txt").string();
  Subprocess process(std::move(argv), err_path);
  const int code = process.Wait(15s);
  *err = ReadFile(err_path);
  return code;
}

// ---- ChatdProcess ----

// How long a chatd may take to say it listens. Generous: a sanitized chatd on PostgreSQL and NATS,
// started while the three suites of scripts/test.sh share two cores, once took more than 15 s (its log
// showed it opening the store and the bus, slowly); a chatd that never starts still fails the test.
constexpr auto kStartDeadline = 45s;

ChatdProcess::ChatdProcess(const std::string& data_dir, std::vector<std::string> args) {
  log_path_ = data_dir + "/chatd.log";
  std::vector<std::string> argv = {CHATD_PATH, "--data-dir", data_dir};
  // A node restarted in place keeps its port (the tests' clients have its address): --listen in `args`.
  if (std::find(args.begin(), args.end(), "--listen") == args.end()) argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  // Defaults that `args` may override: Argon2id at its lowest cost (a test of hashing under load asks
  // for the real one), the full log (read back on failure), and no rate limits (tests of other
  // features send faster than people do; a test of the limits turns them on itself).
  for (const auto& [flag, value] : {std::pair{"--password-cost", "minimum"}, std::pair{"--log-level", "debug"},
                                    std::pair{"--rate-limits", "off"}}) {
    if (std::find(args.begin(), args.end(), flag) == args.end()) argv.insert(argv.end(), {flag, value});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<Subprocess>(std::move(argv), log_path_);
  // The line that names the port says that chatd is ready.
  const std::string line = process_->WaitForLine("chatd listening on ", kStartDeadline);
  INFO("chatd stdout: " << process_->output());
  INFO("chatd log:\n" << Log());
  REQUIRE(!line.empty());
  port_ = static_cast<std::uint16_t>(std::stoul(line.substr(line.rfind(':') + 1)));
  REQUIRE(port_ != 0);
}

std::uint16_t ChatdProcess::AdminPort() {
  if (admin_port_ != 0) return admin_port_;
  const std::string line = process_->WaitForLine("chatd admin API on ", kStartDeadline);
  INFO("chatd stdout: " << process_->output());
  REQUIRE(!line.empty());
  admin_port_ = static_cast<std::uint16_t>(std::stoul(line.substr(line.rfind(':') + 1)));
  return admin_port_;
}

ChatdProcess::~ChatdProcess() = default;

pid_t ChatdProcess::pid() const { return process_->pid(); }

std::string ChatdProcess::Log() const { return ReadFile(log_path_); }

void ChatdProcess::Kill9() { process_->Kill9(); }

int ChatdProcess::SignalAndWait(int sig, std::chrono::milliseconds timeout) {
  return process_->SignalAndWait(sig, timeout);
}

std::unique_ptr<Client> ChatdProcess::Connect(ClientOptions options) const {
  auto c = Client::Connect("127.0.0.1", port_, options);
  REQUIRE_OK(c);
  return std::move(*c);
}

// ---- Users and devices ----

std::string PasswordOf(const std::string& name) { return "password-" + name; }

UserId RegisterUser(const ChatdProcess& chatd, const std::string& name) {
  auto c = chatd.Connect();
  auto u = c->Register(name, PasswordOf(name));
  REQUIRE_OK(u);
  return u->id;
}

LiveDevice LoginDevice(const ChatdProcess& chatd, const std::string& name, const std::string& device_name) {
  LiveDevice d;
  d.client = chatd.Connect();
  auto s = d.client->Login(name, PasswordOf(name), "laptop", device_name);
  REQUIRE_OK(s);
  d.session = std::move(*s);
  return d;
}

LiveDevice ResumeDevice(const ChatdProcess& chatd, const Session& session) {
  LiveDevice d;
  d.client = chatd.Connect();
  auto s = d.client->Resume(session.token);
  REQUIRE_OK(s);
  d.session = std::move(*s);
  d.session.token = session.token;
  return d;
}

std::optional<ClientEvent> WaitForMessage(Client& client, ChatId chat, Seq seq, std::chrono::milliseconds timeout) {
  return client.WaitForEvent(
      [&](const ClientEvent& e) { return e.name == "newMessage" && e.chat == chat && e.seq == seq; }, timeout);
}

std::vector<Message> SyncAll(Client& client, ChatId chat, Seq after) {
  std::vector<Message> out;
  for (;;) {
    auto r = client.Sync({{chat, after}});
    REQUIRE_OK(r);
    REQUIRE(r->chats.size() == 1);
    const SyncPage& page = r->chats[0];
    out.insert(out.end(), page.messages.begin(), page.messages.end());
    if (!page.has_more || page.messages.empty()) break;
    after = page.messages.back().seq;
  }
  return out;
}

// ---- HTTP ----

std::string HttpGet(std::uint16_t port, const std::string& path) {
  const int fd = ConnectLoopback(port);
  SendAll(fd, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, Milliseconds(deadline)) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  int status = 0;
  if (response.size() > 12) status = std::atoi(response.c_str() + 9);
  const auto body = response.find("\r\n\r\n");
  return std::to_string(status) + "\n" + (body == std::string::npos ? "" : response.substr(body + 4));
}

double MetricValue(std::uint16_t port, const std::string& name) {
  std::istringstream in(HttpGet(port, "/metrics"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// ---- RawTcp ----

RawTcp::RawTcp(std::uint16_t port) : fd_(ConnectLoopback(port)) {}

RawTcp::~RawTcp() {
  if (fd_ >= 0) ::close(fd_);
}

void RawTcp::Send(const std::string& bytes) { SendAll(fd_, bytes); }

bool RawTcp::WaitForEnd(std::chrono::milliseconds timeout) {
  return DrainUntilEnd(fd_, std::chrono::steady_clock::now() + timeout);
}

std::string RawTcp::ReadAll(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, Milliseconds(deadline)) <= 0) break;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// ---- RawWebSocket ----

RawWebSocket::RawWebSocket(std::uint16_t port, int receive_buffer) {
  fd_ = ConnectLoopback(port, receive_buffer);
  SendAll(fd_,
          "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd_, POLLIN, 0};
    REQUIRE(::poll(&p, 1, Milliseconds(deadline)) > 0);
    char buf[1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    head.append(buf, static_cast<std::size_t>(n));
  }
  INFO(head);
  REQUIRE(head.rfind("HTTP/1.1 101", 0) == 0);
  pending_ = head.substr(head.find("\r\n\r\n") + 4);
}

RawWebSocket::~RawWebSocket() {
  if (fd_ >= 0) ::close(fd_);
}

std::string RawWebSocket::MaskedFrame(int opcode, const std::string& text) {
  std::string frame;
  frame.push_back(static_cast<char>(0x80 | opcode));  // FIN, opcode.
  const std::size_t n = text.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  // Clients must mask; a fixed key is as good as any for a test.
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  frame.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(text[i] ^ key[i % 4]));
  return frame;
}

void RawWebSocket::SendText(const std::string& text) { SendAll(fd_, MaskedFrame(1, text)); }

void RawWebSocket::SendRaw(const std::string& bytes) { SendAll(fd_, bytes); }

bool RawWebSocket::ReadExact(char* out, std::size_t n, std::chrono::steady_clock::time_point deadline) {
  std::size_t got = 0;
  const std::size_t from_pending = std::min(n, pending_.size());
  std::memcpy(out, pending_.data(), from_pending);
  pending_.erase(0, from_pending);
  got = from_pending;
  while (got < n) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, Milliseconds(deadline)) <= 0) return false;
    ssize_t r = ::recv(fd_, out + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

RawWebSocket::Frame RawWebSocket::Read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Frame f;
  unsigned char h[2];
  if (!ReadExact(reinterpret_cast<char*>(h), 2, deadline)) return f;
  std::uint64_t len = h[1] & 0x7f;
  if (len == 126 || len == 127) {
    const int bytes = len == 126 ? 2 : 8;
    unsigned char ext[8];
    if (!ReadExact(reinterpret_cast<char*>(ext), static_cast<std::size_t>(bytes), deadline)) return f;
    len = 0;
    for (int i = 0; i < bytes; ++i) len = (len << 8) | ext[i];
  }
  std::string payload(len, '\0');
  if (len > 0 && !ReadExact(payload.data(), len, deadline)) return f;
  f.opcode = h[0] & 0x0f;
  f.payload = std::move(payload);
  return f;
}

bool RawWebSocket::WaitForEnd(std::chrono::milliseconds timeout) {
  pending_.clear();
  return DrainUntilEnd(fd_, std::chrono::steady_clock::now() + timeout);
}

std::string RawWebSocket::Call(const std::string& text) {
  SendText(text);
  for (;;) {
    Frame f = Read();
    REQUIRE(f.opcode != -1);
    if (f.opcode == 1) return f.payload;
  }
}

std::unique_ptr<RawWebSocket> RawAfterHello(std::uint16_t port) {
  auto ws = std::make_unique<RawWebSocket>(port);
  const auto hello = nlohmann::json::parse(ws->Call(R"({"id":"h","cmd":"hello","version":1})"), nullptr, false);
  REQUIRE((hello.is_object() && hello.value("ok", false)));
  return ws;
}

}  // namespace chat::test
