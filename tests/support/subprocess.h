// Child processes for tests (chatd, chat-loadgen, chatctl, chat-migrate): started with fork/exec,
// stdout on a pipe, stderr to a file, and always killed and reaped (RAII), even when a REQUIRE fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace chat::test {

class Subprocess {
 public:
  // Starts `argv` (argv[0] is the program's path) with stdout on a pipe and stderr appended to
  // `stderr_path` ("" for /dev/null). REQUIREs that it starts.
  explicit Subprocess(std::vector<std::string> argv, const std::string& stderr_path = "");
  // SIGKILL and reap, if still running.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Reads stdout until a full line containing `needle` arrives; returns that line, or "" after
  // `timeout` or at end of output. Lines already returned or skipped are not looked at again.
  std::string WaitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  // Waits for the exit, collecting stdout meanwhile. The exit code, or -1 if it did not exit within
  // `timeout` (it is then killed) or died by a signal.
  int Wait(std::chrono::milliseconds timeout);
  // Sends `sig` and waits up to `timeout` for the exit: as Wait.
  int SignalAndWait(int sig, std::chrono::milliseconds timeout);
  // SIGKILL and reap (no-op once reaped).
  void Kill9();
  // Everything read from stdout so far.
  const std::string& output() const { return output_; }
  // The process id, or -1 once reaped.
  pid_t pid() const { return pid_; }

 private:
  // Reads what stdout has within `ms`; false at end of output.
  bool ReadSome(int ms);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool out_open_ = true;
  std::string output_;
  std::size_t scanned_ = 0;  // Bytes of output_ WaitForLine has looked at.
};

// The result of a command run to completion through the shell.
struct CommandRun {
  int code = -1;    // Exit code; -1 if it died by a signal.
  std::string out;  // Standard output.
  std::string err;  // Standard error.
};
// Runs `command_line` with /bin/sh (quote arguments with ShellQuote), feeding it `stdin_text`, with
// scratch files for the streams in `scratch_dir`. For the command-line tools' tests.
CommandRun RunCommand(const std::string& command_line, const std::string& scratch_dir,
                      const std::string& stdin_text = "");
// `s` in single quotes for /bin/sh.
std::string ShellQuote(const std::string& s);

}  // namespace chat::test
