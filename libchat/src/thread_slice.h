// Short scheduler slices for the threads a message passes through (the network lanes, the workers,
// the router's fan-out thread, the store's committer), so that each hand-over between them waits less
// for a core when other work shares the machine.
//
// Linux 6.12 and later schedule ordinary (SCHED_OTHER) threads by EEVDF, and let a thread ask for its
// own time slice (sched_attr::sched_runtime): a shorter slice gives a woken thread an earlier virtual
// deadline, so it runs before a busy neighbour's slice is over instead of after it. Its share of the
// CPU does not change (that is nice's business), and no privilege is needed. Older kernels, and other
// systems, ignore or refuse it: nothing changes then.
#pragma once

#include <chrono>

namespace chat::detail {

// The slice latency-sensitive threads request: from the environment variable LIBCHAT_THREAD_SLICE_US
// (microseconds, at most 100,000; 0 = the kernel's default slice), read once. Default: 0 — measured on
// the project's machine, 100 us did not shorten the tails under CPU contention (docs/benchmarks.md,
// "Tails on a busy machine"), so it is left to the operator.
std::chrono::microseconds LatencyThreadSlice();

// Asks the scheduler for a slice of `slice` for the calling thread, keeping its policy and nice
// value. True if the kernel accepted it (false: refused or ignored, not Linux, or `slice` is 0).
bool RequestThreadSlice(std::chrono::microseconds slice);

// RequestThreadSlice(LatencyThreadSlice()). Call once, at the start of a latency-sensitive thread.
inline bool RequestLatencySlice() { return RequestThreadSlice(LatencyThreadSlice()); }

}  // namespace chat::detail
