#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#ifndef CHATD_PATH
#error "CHATD_PATH must name the chatd binary"
#endif
#ifndef LOADGEN_PATH
#error "LOADGEN_PATH must name the chat-loadgen binary"
#endif

namespace chat::loadgen::test {
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
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool Subprocess::ReadSome(int ms) {
  pollfd p{out_fd_, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return true;  // Nothing yet: not the end.
  char buf[4096];
  const ssize_t n = ::read(out_fd_, buf, sizeof buf);
  if (n <= 0) return false;
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
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool open = true;
  for (;;) {
    // Keep draining stdout: a child blocked on a full pipe would never exit.
    if (open) open = ReadSome(50);
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      // The rest of stdout; bounded in case something else still holds the pipe open.
      for (int i = 0; open && i < 100; ++i) open = ReadSome(50);
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (MsLeft(deadline) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    if (!open) std::this_thread::sleep_for(10ms);
  }
}

Chatd::Chatd(const std::string& data_dir)
    : process_({CHATD_PATH, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--password-cost", "minimum",
                "--log-level", "warning", "--rate-limits", "off", "--spam", "off"},
               data_dir + "/chatd.log") {
  const std::string line = process_.WaitForLine("chatd listening on", 15s);
  INFO("chatd stdout: " << process_.output());
  REQUIRE(!line.empty());
  port_ = static_cast<std::uint16_t>(std::stoul(line.substr(line.rfind(':') + 1)));
  REQUIRE(port_ != 0);
}

LoadgenRun RunLoadgen(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {LOADGEN_PATH, "--json", "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  Subprocess p(argv);
  LoadgenRun run;
  run.exit_code = p.Wait(timeout);
  run.output = p.output();
  std::string out = run.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const auto nl = out.rfind('\n');
  run.last_line = nl == std::string::npos ? out : out.substr(nl + 1);
  return run;
}

}  // namespace chat::loadgen::test
