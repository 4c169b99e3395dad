// What the throw-away servers of the tests (pg_cluster.h, nats_cluster.h) share: a free loopback
// port, the name and state of a process, the end of a log. Header-only: both libraries use it
// without Catch2.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace chat::test {

// A port of 127.0.0.1 nobody listens on now (the kernel's choice for port 0); 0 if none. Another
// process may take it before the server binds it: callers retry with another.
inline int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// /proc/PID/comm: the process's name, "" once it is gone. Checked before a PID is signalled.
inline std::string ProcessName(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

// The state letter of /proc/PID/stat or /proc/PID/task/TID/stat (R, S, D, T, t, Z, ...); 0 if the
// process or thread is gone.
inline char ProcessState(const std::string& stat_path) {
  std::ifstream stat(stat_path);
  std::string line;
  if (!std::getline(stat, line)) return 0;
  const std::size_t close = line.rfind(')');  // The name in parentheses may hold anything.
  return close != std::string::npos && close + 2 < line.size() ? line[close + 2] : 0;
}

// Gone: no longer in /proc, or a zombie (reaped here when it is our child; else its parent reaps it).
inline bool ProcessGone(pid_t pid) {
  const char state = ProcessState("/proc/" + std::to_string(pid) + "/stat");
  const bool gone = state == 0 || state == 'Z';
  // A zombie leader whose other threads still exit cannot be reaped yet (waitpid says 0): not gone.
  if (gone && ::waitpid(pid, nullptr, WNOHANG) == 0) return false;
  return gone;
}

// Waits until ProcessGone(pid); false if it is still there after `timeout`.
inline bool WaitProcessGone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ProcessGone(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Whether every thread of `pid` is stopped (state T). SIGSTOP is only queued when kill() returns:
// each thread stops on its next way back to user space, and one running on the other core may still
// read a socket in between.
inline bool AllThreadsStopped(pid_t pid) {
  std::error_code ec;
  bool any = false;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const char state = ProcessState((task.path() / "stat").string());
    if (state == 0) continue;  // The thread exited meanwhile.
    if (state != 'T' && state != 't') return false;
    any = true;
  }
  return !ec && any;
}

// The last `max_bytes` of a file (a server's log, for an error message).
inline std::string FileTail(const std::string& path, std::size_t max_bytes = 2000) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

}  // namespace chat::test
