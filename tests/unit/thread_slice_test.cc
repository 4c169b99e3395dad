// The scheduler slice latency-sensitive threads may ask for (libchat/src/thread_slice.h): off by
// default; asked for, on a kernel that takes it (Linux >= 6.12), the thread's slice is what was asked
// and nothing else about it changes.
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "test_support.h"
#include "thread_slice.h"

namespace {

// struct sched_attr, as thread_slice.cc declares it.
struct Attr {
  std::uint32_t size, policy;
  std::uint64_t flags;
  std::int32_t nice;
  std::uint32_t priority;
  std::uint64_t runtime, deadline, period;
  std::uint32_t util_min, util_max;
};

Attr ThisThread() {
  Attr a;
  std::memset(&a, 0, sizeof a);
  REQUIRE(syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) == 0);
  return a;
}

}  // namespace

TEST_CASE("a thread asking for a 100 us slice gets it and keeps its policy and nice value, off by default",
          "[unit][threads]") {
  // Off unless the environment asks for it (LIBCHAT_THREAD_SLICE_US).
  if (std::getenv("LIBCHAT_THREAD_SLICE_US") == nullptr) {
    CHECK(chat::detail::LatencyThreadSlice() == std::chrono::microseconds(0));
    CHECK_FALSE(chat::detail::RequestLatencySlice());
  }
  const Attr mine = ThisThread();
  Attr before, after;
  bool accepted = false;
  // On a thread of its own: the test's thread keeps its slice.
  std::thread t([&] {
    setpriority(PRIO_PROCESS, 0, 3);
    before = ThisThread();
    accepted = chat::detail::RequestThreadSlice(std::chrono::microseconds(100));
    after = ThisThread();
  });
  t.join();
  if (!accepted) {
    WARN("this kernel does not take a slice for SCHED_OTHER threads (Linux < 6.12): nothing changed");
    CHECK(after.runtime == before.runtime);
    return;
  }
  CHECK(after.runtime == 100'000);
  CHECK(after.policy == before.policy);
  CHECK(after.nice == 3);
  // Per thread: the test's own thread did not change.
  CHECK(ThisThread().runtime == mine.runtime);
}
