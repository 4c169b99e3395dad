// Test harness for integration tests: a real chatd process on 127.0.0.1 (port 0, read back from its
// stdout), clients logged in to it, and raw sockets for what chat::Client will not do (never read,
// speak HTTP). Everything is RAII: a process is always killed and reaped, even when a REQUIRE fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libchat/client.h"
#include "subprocess.h"
#include "test_support.h"

namespace chat::test {

using namespace std::chrono_literals;

// How long the tests wait for anything that should happen at once (a live event, a close).
constexpr std::chrono::milliseconds kWait = 5s;

class ChatdProcess {
 public:
  // Starts chatd with --listen 127.0.0.1:0 (unless `args` has --listen) --data-dir `data_dir` plus `args` (and --password-cost
  // minimum, --log-level debug and --rate-limits off unless `args` set them), its log in
  // data_dir/chatd.log, and waits for its "chatd listening on" line. REQUIREs that it comes within 15 s.
  ChatdProcess(const std::string& data_dir, std::vector<std::string> args = {});
  // Kills (SIGKILL) and reaps the process if it is still running.
  ~ChatdProcess();
  ChatdProcess(const ChatdProcess&) = delete;
  ChatdProcess& operator=(const ChatdProcess&) = delete;

  std::uint16_t port() const { return port_; }
  std::string ws_url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/ws"; }
  // -1 once the process is reaped.
  pid_t pid() const;
  // chatd's stderr (its log) so far.
  std::string Log() const;

  // SIGKILL and reap.
  void Kill9();
  // Sends `sig` and waits up to `timeout` for the exit. The exit code, or -1 if it did not exit in
  // time (it is then killed) or died by a signal.
  int SignalAndWait(int sig, std::chrono::milliseconds timeout = 15s);

  // The admin API's port, from the "chatd admin API on HOST:PORT" line (started with
  // --admin-token-file and --admin-listen 127.0.0.1:0). REQUIREs it within 15 s.
  std::uint16_t AdminPort();
  // A connected client (hello done). REQUIREs success.
  std::unique_ptr<Client> Connect(ClientOptions options = {}) const;

 private:
  std::string log_path_;
  std::unique_ptr<Subprocess> process_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// Runs chatd on `data_dir` (--listen 127.0.0.1:0, --password-cost minimum) with `args` to its exit,
// for a start that is expected to fail. The exit code (-1 if it did not exit within 15 s, when it is
// killed, or died by a signal); its stderr in *err. The stderr file lives outside `data_dir`.
int RunChatdToExit(const std::string& data_dir, const std::vector<std::string>& args, std::string* err);

// Registers `name` (password "password-" + name) and returns its id. REQUIREs success.
UserId RegisterUser(const ChatdProcess& chatd, const std::string& name);
std::string PasswordOf(const std::string& name);

// A device of a user: a logged-in client and its session (token included).
struct LiveDevice {
  std::unique_ptr<Client> client;
  Session session;
  UserId user() const { return session.user.id; }
  DeviceId id() const { return session.device.id; }
};
// Logs `name` in as a new device. REQUIREs success.
LiveDevice LoginDevice(const ChatdProcess& chatd, const std::string& name, const std::string& device_name);
// Resumes an existing device's session on a new connection. REQUIREs success.
LiveDevice ResumeDevice(const ChatdProcess& chatd, const Session& session);

// Waits for the newMessage event of `chat` with seq `seq` on `client`.
std::optional<ClientEvent> WaitForMessage(Client& client, ChatId chat, Seq seq,
                                          std::chrono::milliseconds timeout = kWait);
// Every entry of `chat` after `after`, oldest first, paging sync until it has reached the head.
std::vector<Message> SyncAll(Client& client, ChatId chat, Seq after = 0);

// GET http://127.0.0.1:port/path. Returns "<status>\n<body>" (status 0 if the request failed).
std::string HttpGet(std::uint16_t port, const std::string& path);
// The value of a metric line "name value" in /metrics, or -1 if absent.
double MetricValue(std::uint16_t port, const std::string& name);

// A bare TCP connection to chatd that sends only what the test says: for clients that connect and
// say nothing, or stop halfway through a request.
class RawTcp {
 public:
  explicit RawTcp(std::uint16_t port);  // REQUIREs that connect() succeeds.
  ~RawTcp();
  RawTcp(const RawTcp&) = delete;
  RawTcp& operator=(const RawTcp&) = delete;

  void Send(const std::string& bytes);
  // Reads and drops whatever arrives until the server ends the connection: true if it did within
  // `timeout`.
  bool WaitForEnd(std::chrono::milliseconds timeout = kWait);
  // Everything the server sends until it closes the connection (or `timeout` passes).
  std::string ReadAll(std::chrono::milliseconds timeout = kWait);

 private:
  int fd_ = -1;
};

// A bare WebSocket client over a blocking socket, for what chat::Client does on purpose not do:
// stop reading, or look at raw close frames.
class RawWebSocket {
 public:
  // Connects and upgrades at /ws. `receive_buffer` > 0 sets SO_RCVBUF before connecting (a small
  // window makes a non-reading peer fill the server's queue sooner). REQUIREs success.
  RawWebSocket(std::uint16_t port, int receive_buffer = 0);
  ~RawWebSocket();
  RawWebSocket(const RawWebSocket&) = delete;
  RawWebSocket& operator=(const RawWebSocket&) = delete;

  // Sends one masked text frame.
  void SendText(const std::string& text);
  // One masked client frame (FIN set) of `opcode` (1 text, 9 ping, 10 pong, ...), to send with SendRaw.
  static std::string MaskedFrame(int opcode, const std::string& payload);
  // Sends `bytes` as they are, in one write (several frames at once, for instance).
  void SendRaw(const std::string& bytes);
  struct Frame {
    int opcode = -1;  // 1 text, 2 binary, 8 close, 9 ping, 10 pong; -1: connection ended or timeout.
    std::string payload;
  };
  // Reads the next frame, waiting up to `timeout`.
  Frame Read(std::chrono::milliseconds timeout = kWait);
  // Sends a text frame and returns the next text frame (skipping pings).
  std::string Call(const std::string& text);
  // Reads and drops whatever arrives (pings, a close frame) until the server ends the connection:
  // true if it did within `timeout`.
  bool WaitForEnd(std::chrono::milliseconds timeout = kWait);

 private:
  bool ReadExact(char* out, std::size_t n, std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string pending_;  // Bytes read past the HTTP upgrade response.
};

// A raw WebSocket to chatd at `port` past hello (protocol version 1). REQUIREs success.
std::unique_ptr<RawWebSocket> RawAfterHello(std::uint16_t port);

}  // namespace chat::test
