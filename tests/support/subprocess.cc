#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "test_support.h"

namespace chat::test {
namespace {

using namespace std::chrono_literals;

int MsLeft(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

Subprocess::Subprocess(std::vector<std::string> argv, const std::string& stderr_path) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  const int err_fd = ::open(stderr_path.empty() ? "/dev/null" : stderr_path.c_str(),
                            O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  REQUIRE(err_fd >= 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err_fd);
  out_fd_ = out[0];
}

Subprocess::~Subprocess() {
  Kill9();
  if (out_fd_ >= 0) ::close(out_fd_);
}

void Subprocess::Kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool Subprocess::ReadSome(int ms) {
  if (!out_open_) return false;
  pollfd p{out_fd_, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return true;  // Nothing yet: not the end.
  char buf[4096];
  const ssize_t n = ::read(out_fd_, buf, sizeof buf);
  if (n <= 0) {
    out_open_ = false;
    return false;
  }
  output_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::string Subprocess::WaitForLine(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::size_t eol;
    while ((eol = output_.find('\n', scanned_)) != std::string::npos) {
      std::string line = output_.substr(scanned_, eol - scanned_);
      scanned_ = eol + 1;
      if (line.find(needle) != std::string::npos) return line;
    }
    if (MsLeft(deadline) == 0 || !ReadSome(MsLeft(deadline))) return "";
  }
}

int Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Keep draining stdout: a child blocked on a full pipe would never exit.
    const bool open = ReadSome(out_open_ ? 50 : 0);
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      // The rest of stdout; bounded in case something else still holds the pipe open.
      for (int i = 0; out_open_ && i < 100; ++i) ReadSome(50);
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (MsLeft(deadline) == 0) {
      Kill9();
      return -1;
    }
    if (!open) std::this_thread::sleep_for(5ms);
  }
}

int Subprocess::SignalAndWait(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  return Wait(timeout);
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CommandRun RunCommand(const std::string& command_line, const std::string& scratch_dir, const std::string& stdin_text) {
  const std::string in = scratch_dir + "/stdin.txt";
  const std::string out = scratch_dir + "/stdout.txt";
  const std::string err = scratch_dir + "/stderr.txt";
  WriteFile(in, stdin_text);
  const std::string cmd = command_line + " <" + ShellQuote(in) + " >" + ShellQuote(out) + " 2>" + ShellQuote(err);
  const int status = std::system(cmd.c_str());
  REQUIRE(status != -1);
  CommandRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

}  // namespace chat::test
