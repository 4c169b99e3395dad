#include "signals.h"

#include <signal.h>

#include <cstring>

namespace chat::chatd {
namespace {

// The asynchronous signals whose default action ends the process, except SIGKILL and SIGSTOP
// (which cannot be caught) and SIGPIPE/SIGXFSZ (ignored instead).
constexpr int kHandled[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM,
                            SIGVTALRM, SIGPROF, SIGIO,  SIGPWR,  SIGSTKFLT, SIGXCPU};

sigset_t HandledSet() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kHandled) sigaddset(&set, sig);
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) sigaddset(&set, sig);
  return set;
}

}  // namespace

void BlockSignals() {
  const sigset_t set = HandledSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A client that vanishes mid-write must not kill the process; nor a file that reached its limit.
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
}

int WaitForSignal() {
  const sigset_t set = HandledSet();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

std::string SignalName(int sig) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

SignalAction ActionOf(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
      return SignalAction::kStop;
    case SIGHUP:
      return SignalAction::kReload;
    default:
      return SignalAction::kIgnore;
  }
}

}  // namespace chat::chatd
