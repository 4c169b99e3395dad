// chat-loadgen: the libchat performance instrument. A thin main(): flags -> Options -> RunLoad ->
// report and exit status (0 ok, 1 failure, 2 usage). See --help and docs/benchmarks.md.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "options.h"
#include "progress.h"
#include "report.h"
#include "runner.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// Descriptors beyond one per client: stdio, the metrics scrape, the state file, epoll and eventfds.
constexpr rlim_t kSpareFiles = 64;

// Raises the soft limit on open files to what `clients` connections need. False (with *error) if the
// hard limit is too low: only an administrator can raise that.
bool RaiseFileLimit(std::uint32_t clients, std::string* error) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return true;  // Unknown: let the connects tell.
  const rlim_t need = clients + kSpareFiles;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= need) return true;
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < need) {
    *error = std::to_string(clients) + " clients need " + std::to_string(need) +
             " open files, but the hard limit (ulimit -Hn) is " + std::to_string(lim.rlim_max);
    return false;
  }
  lim.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    *error = "cannot raise the open-file limit to " + std::to_string(need);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  chat::loadgen::Options options;
  std::string message;
  switch (chat::loadgen::ParseOptions(argc, argv, &options, &message)) {
    case chat::loadgen::ParseOutcome::kHelp:
      std::cout << message << "\n";
      return kExitOk;
    case chat::loadgen::ParseOutcome::kUsageError:
      std::cerr << "chat-loadgen: " << message << " (see chat-loadgen --help)\n";
      return kExitUsage;
    case chat::loadgen::ParseOutcome::kRun:
      break;
  }
  if (!RaiseFileLimit(options.clients, &message)) {
    std::cerr << "chat-loadgen: " << message << "\n";
    return kExitFailure;
  }
  // A server that vanishes mid-write must not kill the process (Asio sends with MSG_NOSIGNAL, but
  // belt and braces).
  signal(SIGPIPE, SIG_IGN);

  chat::loadgen::Progress progress(!options.quiet, isatty(STDERR_FILENO) == 1);
  const chat::loadgen::Report report = chat::loadgen::RunLoad(options, progress);
  if (options.json) {
    // People still get the summary, on stderr; stdout's last line is the JSON object.
    if (!options.quiet) std::cerr << report.ToText();
    std::cout << report.ToJson() << std::endl;
  } else {
    std::cout << report.ToText() << std::flush;
  }
  return report.Passed() ? kExitOk : kExitFailure;
}
