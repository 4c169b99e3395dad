// WorkerPool (libchat/server/worker_pool.h): the bound of its queue, and Shutdown's drain.
#include <unistd.h>

#include <atomic>
#include <future>

#include "test_support.h"
#include "worker_pool.h"

namespace chat::test {
namespace {

using detail::WorkerPool;

TEST_CASE("worker pool: a full queue refuses a job without running it, and every queued job runs before Shutdown "
          "returns",
          "[unit][server]") {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  REQUIRE(pool.TrySubmit([&] {
    released.wait();
    ++ran;
  }));
  // The one thread is held: two more wait in the queue, the third is refused.
  for (int tries = 0; pool.depth() != 0 && tries < 1000; ++tries) usleep(1000);
  REQUIRE(pool.TrySubmit([&] { ++ran; }));
  REQUIRE(pool.TrySubmit([&] { ++ran; }));
  CHECK_FALSE(pool.TrySubmit([&] { ran += 100; }));
  release.set_value();
  pool.Shutdown();
  CHECK(ran == 3);
  CHECK_FALSE(pool.accepting());
  CHECK_FALSE(pool.TrySubmit([&] { ++ran; }));
}

}  // namespace
}  // namespace chat::test
