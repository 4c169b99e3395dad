// Retention (dry run against a real run), backup while writing, store and server figures.
#include <atomic>
#include <thread>

#include "admin_test_support.h"
#include "backends.h"

using namespace chat;
using chat::test::AdminHarness;
using chat::test::Json;
using chat::test::TextMessage;

TEST_CASE("a retention dry run counts exactly what a real run then deletes, and deletes nothing", "[admin][retention]") {
  AdminHarness h(test::StoreBackend());
  auto alice = h.fixture().NewUser("alice");
  auto bob = h.fixture().NewUser("bob");
  auto g = h.service().CreateGroup(alice.user.id, "g", {bob.user.id});
  REQUIRE_OK(g);
  for (int i = 0; i < 7; ++i) REQUIRE_OK(h.service().Send(TextMessage(alice, g->id, "c" + std::to_string(i), "m")));
  REQUIRE_OK(h.service().Ack(bob.user.id, bob.device.id, g->id, 4));
  REQUIRE_OK(h.service().Ack(alice.user.id, alice.device.id, g->id, 8));

  // Nothing has expired yet.
  auto none = h.Post("/v1/retention/run", Json{{"dryRun", true}});
  REQUIRE(none.status == 200);
  CHECK(none.json == Json{{"dryRun", true}, {"messages", 0}, {"cursors", 0}, {"more", false}});

  // Past the 30-day retention of the chat and the 30-day cursor TTL of devices not seen since.
  h.fixture().clock.Advance(32 * kMsPerDay);
  auto dry_partial = h.Post("/v1/retention/run", Json{{"dryRun", true}, {"maxDeletes", 3}});
  REQUIRE(dry_partial.status == 200);
  CHECK(dry_partial.json["messages"] == 3);
  CHECK(dry_partial.json["more"] == true);
  auto dry = h.Post("/v1/retention/run", Json{{"dryRun", true}});
  REQUIRE(dry.status == 200);
  CHECK(dry.json["messages"] == 8);
  CHECK(dry.json["cursors"] == 2);
  // The dry runs deleted nothing (read from the store: sync no longer serves expired entries).
  auto page = h.fixture().store->ReadMessages(g->id, 0, 100);
  REQUIRE_OK(page);
  CHECK(page->size() == 8);

  auto partial = h.Post("/v1/retention/run", Json{{"maxDeletes", 3}});
  CHECK(partial.json["messages"] == dry_partial.json["messages"]);
  CHECK(partial.json["cursors"] == dry_partial.json["cursors"]);
  CHECK(partial.json["more"] == dry_partial.json["more"]);
  CHECK(partial.json["dryRun"] == false);
  // What remains is again counted exactly.
  auto dry_rest = h.Post("/v1/retention/run", Json{{"dryRun", true}});
  auto rest = h.Post("/v1/retention/run", "{}");
  CHECK(rest.json["messages"] == dry_rest.json["messages"]);
  CHECK(rest.json["cursors"] == dry_rest.json["cursors"]);
  CHECK(rest.json["messages"].get<int>() + partial.json["messages"].get<int>() == 8);
  CHECK(rest.json["cursors"] == 2);
  auto after = h.Post("/v1/retention/run", Json{{"dryRun", true}});
  CHECK(after.json["messages"] == 0);
  CHECK(after.json["cursors"] == 0);

  CHECK(h.Post("/v1/retention/run", Json{{"dryRun", "yes"}}).status == 400);
  CHECK(h.Post("/v1/retention/run", Json{{"maxDeletes", 0}}).status == 400);
  CHECK(h.Post("/v1/retention/run", Json{{"maxDeletes", -5}}).status == 400);
}

TEST_CASE("a backup taken while messages are written holds everything acknowledged before it", "[admin][backup]") {
  AdminHarness h("leveldb");
  test::TempDir target;
  auto alice = h.fixture().NewUser("alice");
  auto bob = h.fixture().NewUser("bob");
  auto g = h.service().CreateGroup(alice.user.id, "g", {bob.user.id});
  REQUIRE_OK(g);

  // A writer keeps sending while the backup runs; `acknowledged` is the newest seq whose Send returned.
  std::atomic<Seq> acknowledged{1};
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto r = h.service().Send(TextMessage(alice, g->id, "w" + std::to_string(i), "message " + std::to_string(i)));
      if (!r.ok()) {
        ++failures;
        return;
      }
      acknowledged.store(r->message.seq);
    }
  });
  while (acknowledged.load() < 50) std::this_thread::yield();
  REQUIRE_OK(h.service().Ack(bob.user.id, bob.device.id, g->id, 40));
  const Seq before = acknowledged.load();
  const std::string dir = (target.path() / "backup").string();
  auto r = h.Post("/v1/backup", Json{{"dir", dir}});
  stop = true;
  writer.join();
  REQUIRE(r.status == 200);
  CHECK(failures == 0);
  CHECK(r.json["dir"] == dir);

  // DIR/store is the store's copy (DIR/blobs the attachment files, DIR/backup.json the manifest).
  CHECK(std::filesystem::is_regular_file(std::filesystem::path(dir) / "backup.json"));
  auto copy = test::OpenStore("leveldb", dir + "/store");
  auto head = copy->Head(g->id);
  REQUIRE_OK(head);
  CHECK(*head >= before);
  auto messages = copy->ReadMessages(g->id, 0, 100000);
  REQUIRE_OK(messages);
  REQUIRE(messages->size() == *head);
  for (Seq s = 1; s <= *head; ++s) CHECK((*messages)[s - 1].seq == s);
  CHECK(copy->FindUserByName("bob").ok());
  auto cursor = copy->DeviceCursor(bob.device.id, g->id);
  REQUIRE_OK(cursor);
  CHECK(*cursor == 40);

  // The target must be new: a second backup into it is refused, and changes nothing.
  auto again = h.Post("/v1/backup", Json{{"dir", dir}});
  CHECK(again.status == 409);
  CHECK(again.ErrorCode() == "already_exists");
  CHECK(h.Post("/v1/backup", Json{{"dir", "relative/path"}}).status == 400);
  CHECK(h.Post("/v1/backup", Json{{"dir", (target.path() / "missing" / "b").string()}}).status == 422);
  CHECK(h.Post("/v1/backup", Json{{"to", dir}}).status == 400);
}

TEST_CASE("backup of a store without a disk form is not supported", "[admin][backup]") {
  AdminHarness h("mem");
  test::TempDir target;
  auto r = h.Post("/v1/backup", Json{{"dir", (target.path() / "b").string()}});
  CHECK(r.status == 501);
  CHECK(r.ErrorCode() == "not_supported");
}

TEST_CASE("stats report store figures, and server figures when a metrics source is given", "[admin][stats]") {
  const std::string metrics =
      "# TYPE chat_connections gauge\nchat_connections 12\nchat_devices_online 10\n"
      "chat_messages_in_total 500\nchat_messages_out_total 4500\nchat_fanout_deliveries_total 5000\n"
      "chat_send_queue_drops_total 1\nprocess_resident_memory_bytes 5.5e+07\n"
      "chat_delivery_latency_seconds_bucket{le=\"0.001\"} 90\n"
      "chat_delivery_latency_seconds_bucket{le=\"0.01\"} 100\n"
      "chat_delivery_latency_seconds_bucket{le=\"+Inf\"} 100\n";
  {
    AdminHarness h("mem", [metrics] { return metrics; });
    h.fixture().NewUser("alice");
    auto s = h.Get("/v1/stats");
    REQUIRE(s.status == 200);
    CHECK(s.json["store"]["users"] == 1);
    CHECK(s.json["store"]["describe"] == "mem://");
    CHECK(s.json["server"]["connections"] == 12);
    CHECK(s.json["server"]["messagesOut"] == 4500);
    CHECK(s.json["server"]["rssBytes"] == 55e6);
    CHECK(s.json["server"]["deliveryP99Seconds"].get<double>() == Approx(0.0091));
    CHECK(s.json["server"]["storeP99Seconds"].is_null());
    auto m = h.Get("/v1/metrics");
    CHECK(m.status == 200);
    CHECK(m.body == metrics);
  }
  AdminHarness bare;
  CHECK(bare.Get("/v1/stats").json["server"].is_null());
  CHECK(bare.Get("/v1/metrics").status == 501);
}
