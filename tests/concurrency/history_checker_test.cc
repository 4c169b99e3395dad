// The randomised history checker (history.h) as part of the suite: short seeded runs on both engines,
// with restarts and crashes. The long run is the chat-history-check program (--seconds).
#include <catch2/catch.hpp>

#include "history.h"

namespace {

chat::check::HistoryReport Run(const std::string& backend, std::uint64_t seed) {
  chat::check::HistoryOptions o;
  o.backend = backend;
  o.seed = seed;
  o.threads = 8;
  o.ops_per_thread = 200;
  o.phases = 4;
  auto report = RunHistoryCheck(o);
  INFO(report.Summary());
  CHECK(report.violations.empty());
  // The run exercised what it checks: sends were acknowledged and events seen.
  CHECK(report.messages_acked > 50);
  CHECK(report.events > 50);
  CHECK(report.crashes == 2);
  return report;
}

}  // namespace

TEST_CASE("history checker: random concurrent operations keep every invariant on the in-memory store",
          "[concurrency]") {
  Run("mem", 20261206);
}

TEST_CASE("history checker: random concurrent operations keep every invariant on LevelDB with crashes",
          "[concurrency]") {
  Run("leveldb", 7);
}
