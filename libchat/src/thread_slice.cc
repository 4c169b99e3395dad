#include "thread_slice.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace chat::detail {
namespace {

constexpr long kDefaultSliceUs = 0;
// The kernel clamps fair slices to 0.1 .. 100 ms.
constexpr long kMaxSliceUs = 100'000;

#if defined(__linux__)
// struct sched_attr (include/uapi/linux/sched/types.h), which glibc 2.36 does not declare.
struct SchedAttr {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
  std::uint32_t sched_util_min;
  std::uint32_t sched_util_max;
};
#endif

}  // namespace

std::chrono::microseconds LatencyThreadSlice() {
  static const std::chrono::microseconds slice = [] {
    const char* env = std::getenv("LIBCHAT_THREAD_SLICE_US");
    if (env == nullptr || *env == '\0') return std::chrono::microseconds(kDefaultSliceUs);
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (*end != '\0' || v < 0) return std::chrono::microseconds(kDefaultSliceUs);
    return std::chrono::microseconds(v > kMaxSliceUs ? kMaxSliceUs : v);
  }();
  return slice;
}

bool RequestThreadSlice(std::chrono::microseconds slice) {
#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
  if (slice.count() <= 0) return false;
  if (slice.count() > kMaxSliceUs) slice = std::chrono::microseconds(kMaxSliceUs);
  // Keep the thread's policy and nice value; change only the slice it asks for.
  SchedAttr attr;
  std::memset(&attr, 0, sizeof attr);
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return false;
  if (attr.sched_policy != SCHED_OTHER) return false;
  attr.size = sizeof attr;
  attr.sched_flags = 0;
  attr.sched_runtime = static_cast<std::uint64_t>(slice.count()) * 1000;
  return syscall(SYS_sched_setattr, 0, &attr, 0) == 0;
#else
  (void)slice;
  return false;
#endif
}

}  // namespace chat::detail
