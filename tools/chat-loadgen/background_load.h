// BackgroundLoad: work chat-loadgen starts on this machine while it measures, so that a run can say
// how the server's latency holds when other work shares its cores (compactions, backups, compiles).
// The spec is "stress-ng:N" (Debian's stress-ng with N CPU workers, 0 = one per CPU) or
// "cmd:COMMAND" (run by /bin/sh). The process gets a process group of its own, and Stop() ends
// exactly that group: nothing else on the machine is touched.
//
// Not thread-safe: the coordinator thread owns it.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace chat::loadgen {

// The argv `spec` runs. False (with *error, one line) for a malformed spec.
bool BackgroundCommand(const std::string& spec, std::vector<std::string>* argv, std::string* error);

class BackgroundLoad {
 public:
  BackgroundLoad() = default;
  ~BackgroundLoad() { Stop(); }
  BackgroundLoad(const BackgroundLoad&) = delete;
  BackgroundLoad& operator=(const BackgroundLoad&) = delete;

  // Starts `spec` in a new process group. False (with *error) if it cannot be started (e.g.
  // stress-ng is not installed) or exited at once.
  bool Start(const std::string& spec, std::string* error);
  // SIGTERM to its process group, then waits for the process (SIGKILL to the group after 5 s).
  // Idempotent.
  void Stop();

  pid_t pid() const { return pid_; }
  // CPU seconds (user + system) the process and the children it waited for used; known after Stop.
  double cpu_s() const { return cpu_s_; }
  // How it ended ("terminated by signal 15", "exit 0"); known after Stop.
  const std::string& ending() const { return ending_; }

 private:
  pid_t pid_ = -1;
  bool running_ = false;
  double cpu_s_ = 0;
  std::string ending_;
};

// The 1-minute load average of this machine (/proc/loadavg), -1 if unreadable.
double LoadAverage1m();

}  // namespace chat::loadgen
