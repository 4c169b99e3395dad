// chat-loadgen against a real chatd (temp data dir, port 0, minimum password cost): small runs of
// every mode pass with nothing lost, and a second run resumes the sessions of the first.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "chatd_process.h"
#include "loadgen_run.h"

namespace chat::loadgen::test {
namespace {

using Json = nlohmann::json;

// Quiet, and no spam scoring: a load run is a burst of messages from fresh accounts.
const std::vector<std::string> kChatdArgs = {"--log-level", "warning", "--spam", "off"};

Json Passes(const LoadgenRun& run) {
  INFO("chat-loadgen output:\n" << run.output);
  REQUIRE(run.exit_code == 0);
  const Json j = Json::parse(run.last_line, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["ok"] == true);
  CHECK(j["lost"] == 0);
  CHECK(j["duplicates"] == 0);
  CHECK(j["reordered"] == 0);
  return j;
}

TEST_CASE("loadgen against chatd: steady runs lose nothing and reuse sessions", "[loadgen][integration]") {
  chat::test::TempDir dir;
  chat::test::ChatdProcess chatd(dir.str(), kChatdArgs);
  const std::vector<std::string> args = {"--url",   chatd.ws_url(), "--clients",  "20", "--group-size", "5",
                                         "--rate",  "50",        "--duration", "2",  "--state",      dir.str() + "/state.json"};
  const Json first = Passes(RunLoadgen(args));
  CHECK(first["setup"]["sessions_reused"] == false);
  CHECK(first["sent"] == 100);
  CHECK(first["acked"] == 100);
  CHECK(first["expected"] == 400);
  CHECK(first["delivered"] == 400);
  CHECK(first["latency_ms"]["count"] == 400);
  CHECK(first["server"]["metrics"] == true);
  CHECK(first["server"]["messages_in"] == 100);
  CHECK(first["server"]["send_queue_drops"] == 0);
  CHECK(first["server"]["rss_bytes_after"].get<std::int64_t>() > 0);

  const Json second = Passes(RunLoadgen(args));
  CHECK(second["setup"]["sessions_reused"] == true);
  CHECK(second["delivered"] == 400);
}

TEST_CASE("loadgen against chatd: random senders with their own device counted, on a loaded machine",
          "[loadgen][integration]") {
  chat::test::TempDir dir;
  chat::test::ChatdProcess chatd(dir.str(), kChatdArgs);
  const Json j = Passes(RunLoadgen({"--url", chatd.ws_url(), "--clients", "20", "--group-size", "5", "--rate", "50",
                                    "--duration", "2", "--senders", "all", "--count-own-device", "--body-bytes", "128",
                                    "--background-load", "stress-ng:1", "--state", dir.str() + "/state.json"}));
  CHECK(j["acked"] == 100);
  // Every member's device of the sender's group, the sender's own included.
  CHECK(j["expected"] == 500);
  CHECK(j["delivered"] == 500);
  CHECK(j["latency_ms"]["count"] == 500);
  // The background load ran for the load phase and is gone, with everything it started.
  const int pid = j["machine"]["background_pid"].get<int>();
  REQUIRE(pid > 0);
  CHECK(j["machine"]["background_cpu_s"].get<double>() > 0);
  CHECK(kill(-pid, 0) == -1);
  CHECK(errno == ESRCH);
  // The server's stages: one per message up to the fan-out, one per delivery after it.
  const Json& stages = j["server"]["stages_ms"];
  for (const char* stage : {"read_to_worker", "worker_to_queued", "queued_to_durable", "durable_to_fanout"}) {
    INFO(stage);
    CHECK(stages[stage]["count"] == 100);
  }
  CHECK(stages["fanout_to_written"]["count"] == 500);
  CHECK(stages["queued_to_durable"]["p50"].get<double>() > 0);
}

TEST_CASE("loadgen against chatd: a reconnect storm resyncs every device", "[loadgen][integration]") {
  chat::test::TempDir dir;
  chat::test::ChatdProcess chatd(dir.str(), kChatdArgs);
  const Json j = Passes(RunLoadgen({"--url", chatd.ws_url(), "--clients", "20", "--group-size", "5", "--rate", "50",
                                    "--duration", "3", "--mode", "reconnect-storm", "--state", dir.str() + "/state.json"}));
  CHECK(j["resync"]["devices"] == 20);
  CHECK(j["delivered"] == j["expected"]);
}

TEST_CASE("loadgen against chatd: offline devices sync everything", "[loadgen][integration]") {
  chat::test::TempDir dir;
  chat::test::ChatdProcess chatd(dir.str(), kChatdArgs);
  const Json j = Passes(RunLoadgen({"--url", chatd.ws_url(), "--clients", "20", "--group-size", "5", "--rate", "50",
                                    "--duration", "2", "--mode", "offline-sync", "--offline-share", "0.25", "--state",
                                    dir.str() + "/state.json"}));
  CHECK(j["sync"]["devices"] == 5);
  CHECK(j["delivered"] == j["expected"]);
  // Offline devices got theirs by sync, not live: fewer latency samples than deliveries.
  CHECK(j["latency_ms"]["count"].get<std::uint64_t>() < j["delivered"].get<std::uint64_t>());
}

TEST_CASE("loadgen against chatd: idle connections and the server's memory", "[loadgen][integration]") {
  chat::test::TempDir dir;
  chat::test::ChatdProcess chatd(dir.str(), kChatdArgs);
  const Json j = Passes(RunLoadgen({"--url", chatd.ws_url(), "--clients", "20", "--group-size", "5", "--duration", "1",
                                    "--mode", "idle", "--state", dir.str() + "/state.json"}));
  CHECK(j["server"]["idle_connections"] == 20);
  CHECK(j["server"].contains("rss_bytes_per_connection"));
}

}  // namespace
}  // namespace chat::loadgen::test
