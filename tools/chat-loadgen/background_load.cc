#include "background_load.h"

#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "options.h"

extern char** environ;

namespace chat::loadgen {
namespace {

constexpr unsigned kMaxStressWorkers = 256;

double Seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

std::string Ending(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "terminated by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

bool BackgroundCommand(const std::string& spec, std::vector<std::string>* argv, std::string* error) {
  argv->clear();
  if (spec.rfind("stress-ng:", 0) == 0) {
    const std::string n = spec.substr(10);
    if (!AllDigits(n) || n.size() > 3 || std::stoul(n) > kMaxStressWorkers) {
      *error = "stress-ng:N wants N from 0 to " + std::to_string(kMaxStressWorkers) + " (0: one per CPU)";
      return false;
    }
    *argv = {"stress-ng", "--cpu", n, "--quiet"};
    return true;
  }
  if (spec.rfind("cmd:", 0) == 0) {
    if (spec.size() == 4) {
      *error = "cmd: needs a command";
      return false;
    }
    *argv = {"/bin/sh", "-c", spec.substr(4)};
    return true;
  }
  *error = "'" + spec + "' is neither stress-ng:N nor cmd:COMMAND";
  return false;
}

bool BackgroundLoad::Start(const std::string& spec, std::string* error) {
  std::vector<std::string> args;
  if (!BackgroundCommand(spec, &args, error)) return false;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group (pgid = its pid), so that Stop ends it and whatever it started, nothing else.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], nullptr, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    *error = "cannot start " + args[0] + ": " + std::strerror(rc) +
             (args[0] == "stress-ng" ? " (Debian: apt-get install stress-ng; scripts/deps.sh installs it)" : "");
    return false;
  }
  pid_ = pid;
  running_ = true;
  // A command that fails at once (a typo, a missing program) must not pass for load.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int status = 0;
  rusage usage{};
  if (wait4(pid_, &status, WNOHANG, &usage) == pid_) {
    running_ = false;
    ending_ = Ending(status);
    cpu_s_ = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
    *error = "the background load '" + spec + "' ended at once (" + ending_ + ")";
    return false;
  }
  return true;
}

void BackgroundLoad::Stop() {
  if (!running_) return;
  running_ = false;
  kill(-pid_, SIGTERM);
  int status = 0;
  rusage usage{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  pid_t got = 0;
  while ((got = wait4(pid_, &status, WNOHANG, &usage)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (got == 0) {
    kill(-pid_, SIGKILL);
    got = wait4(pid_, &status, 0, &usage);
  }
  if (got == pid_) {
    ending_ = Ending(status);
    cpu_s_ = Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
  }
  // Whatever it started and left behind in its group (a shell's children) goes too.
  kill(-pid_, SIGKILL);
}

double LoadAverage1m() {
  std::ifstream in("/proc/loadavg");
  double v = -1;
  if (!(in >> v)) return -1;
  return v;
}

}  // namespace chat::loadgen
