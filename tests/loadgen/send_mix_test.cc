// chat-loadgen's client mix and server figures: the random draw of --senders all, and the
// percentiles of the server's stage histograms.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "layout.h"
#include "server_metrics.h"

namespace chat::loadgen {
namespace {

TEST_CASE("random senders (senders all) draw every device, not in turn, the same on every worker", "[loadgen][unit]") {
  constexpr std::uint64_t kMessages = 100'000;
  constexpr std::uint32_t kDevices = 1000;
  auto sender = [](std::uint64_t seed, std::uint64_t k) { return RandomSenderPosition(seed, k, kDevices); };
  std::vector<std::uint32_t> sent(kDevices, 0);
  std::uint64_t in_turn = 0, repeats = 0;
  for (std::uint64_t k = 0; k < kMessages; ++k) {
    const std::uint32_t s = sender(12345, k);
    REQUIRE(s < kDevices);
    ++sent[s];
    if (k > 0 && s == (sender(12345, k - 1) + 1) % kDevices) ++in_turn;
    if (k > 0 && s == sender(12345, k - 1)) ++repeats;
    // A pure function of (seed, k): every worker draws the same sender.
    REQUIRE(sender(12345, k) == s);
  }
  // 100 messages per device on average: every device sends, none far from its share.
  for (std::uint32_t c = 0; c < kDevices; ++c) {
    INFO("device " << c);
    CHECK(sent[c] > 50);
    CHECK(sent[c] < 160);
  }
  // Independent draws, not a rotation: the next sender is the next device about 1 time in 1000, and
  // the same device twice in a row happens too (a burst).
  CHECK(in_turn < 300);
  CHECK(repeats > 30);
  // Another seed, another sequence.
  std::uint64_t same = 0;
  for (std::uint64_t k = 0; k < 1000; ++k) same += sender(54321, k) == sender(12345, k) ? 1 : 0;
  CHECK(same < 20);
}

TEST_CASE("stage percentiles are interpolated within the histogram's buckets", "[loadgen][unit]") {
  const double inf = std::numeric_limits<double>::infinity();
  // 100 observations: 50 up to 1 ms, 49 in (1, 2] ms, 1 in (2, 5] ms.
  const std::vector<std::pair<double, double>> h = {{0.001, 50}, {0.002, 99}, {0.005, 100}, {inf, 100}};
  CHECK(HistogramQuantile(0.5, h) == Approx(0.001));
  CHECK(HistogramQuantile(0.99, h) == Approx(0.002));
  CHECK(HistogramQuantile(0.995, h) == Approx(0.0035));
  CHECK(HistogramQuantile(0.25, h) == Approx(0.0005));
  // Beyond the last finite bound the figure is that bound; an empty histogram gives 0.
  CHECK(HistogramQuantile(0.999, {{0.001, 1}, {inf, 10}}) == Approx(0.001));
  CHECK(HistogramQuantile(0.5, {{0.001, 0}, {inf, 0}}) == 0);
}

TEST_CASE("stages are read as the increase between two scrapes", "[loadgen][unit]") {
  MetricsSnapshot before, after;
  before.ok = after.ok = true;
  const std::string b = "chat_message_stage_seconds_bucket{stage=\"queued_to_durable\",le=\"";
  before.values = {{b + "0.0005\"}", 10}, {b + "0.001\"}", 10}, {b + "+Inf\"}", 10},
                   {"chat_message_stage_seconds_sum{stage=\"queued_to_durable\"}", 0.002}};
  after.values = {{b + "0.0005\"}", 10}, {b + "0.001\"}", 110}, {b + "+Inf\"}", 110},
                  {"chat_message_stage_seconds_sum{stage=\"queued_to_durable\"}", 0.082}};
  const std::vector<StageSummary> stages = MessageStages(before, after);
  REQUIRE(stages.size() == 1);
  CHECK(stages[0].stage == "queued_to_durable");
  CHECK(stages[0].count == 100);
  CHECK(stages[0].mean_ms == Approx(0.8));
  CHECK(stages[0].p50_ms == Approx(0.75));
  CHECK(stages[0].p99_ms == Approx(0.995));
}

}  // namespace
}  // namespace chat::loadgen
