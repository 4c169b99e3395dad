// Child processes for chat-loadgen's integration tests: chatd and chat-loadgen itself, started with
// fork/exec, stdout captured, and always killed and reaped (RAII), even when a REQUIRE fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace chat::loadgen::test {

class Subprocess {
 public:
  // Starts `argv` (argv[0] is the program's path) with stdout on a pipe and stderr appended to
  // `stderr_path` ("" for /dev/null). REQUIREs that it starts.
  Subprocess(std::vector<std::string> argv, const std::string& stderr_path = "");
  // SIGKILL and reap, if still running.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Reads stdout until a full line containing `needle` arrives; returns that line, or "" after
  // `timeout` or at end of output.
  std::string WaitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  // Waits for the exit, collecting stdout meanwhile. The exit code, or -1 if it did not exit within
  // `timeout` (it is then killed) or died by a signal.
  int Wait(std::chrono::milliseconds timeout);
  // Everything read from stdout so far.
  const std::string& output() const { return output_; }
  pid_t pid() const { return pid_; }

 private:
  // Reads what stdout has within `ms`; false at end of output.
  bool ReadSome(int ms);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
  std::size_t scanned_ = 0;  // Bytes of output_ WaitForLine has looked at.
};

// A chatd on 127.0.0.1 with a fresh port, LevelDB in `data_dir`, the minimum password cost.
class Chatd {
 public:
  explicit Chatd(const std::string& data_dir);
  std::uint16_t port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/ws"; }

 private:
  Subprocess process_;
  std::uint16_t port_ = 0;
};

// Runs chat-loadgen with `args` (and --json --quiet) to completion.
struct LoadgenRun {
  int exit_code = -1;
  std::string output;     // All of stdout.
  std::string last_line;  // The JSON object.
};
LoadgenRun RunLoadgen(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace chat::loadgen::test
