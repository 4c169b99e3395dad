// The signals chatd handles (docs/operations.md, "Signals"). Every asynchronous signal whose default
// action would end the process is either taken by the main thread (sigwait) or ignored, so that none
// kills chatd silently: SIGTERM, SIGINT and SIGQUIT stop it in order, SIGHUP reloads, and the others
// (SIGUSR1, SIGUSR2, SIGALRM, real-time signals, ...) are logged and ignored. SIGPIPE and SIGXFSZ are
// ignored (a write then fails with an error instead).
#pragma once

#include <string>

namespace chat::chatd {

// Blocks the handled signals in the calling thread, so that every thread started afterwards inherits
// the mask and only WaitForSignal receives them. Call before any thread starts.
void BlockSignals();

// Waits for the next handled signal and returns its number.
int WaitForSignal();

// "SIGHUP", "SIGRTMIN+3", ...
std::string SignalName(int sig);

// What a signal asks of chatd.
enum class SignalAction { kStop, kReload, kIgnore };
SignalAction ActionOf(int sig);

}  // namespace chat::chatd
