// Delivery semantics of chatd: live to every device, sync for the offline, history for the new,
// idempotent sends, and one order for everybody. Two users with three devices between them.
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "test_server.h"

namespace chat::test {
namespace {

struct ThreeDevices {
  explicit ThreeDevices(TestServer& s) {
    alice = RegisterUser(s.chatd(), "alice");
    bob = RegisterUser(s.chatd(), "bob");
    a1 = LoginDevice(s.chatd(), "alice", "a1");
    a2 = LoginDevice(s.chatd(), "alice", "a2");
    b1 = LoginDevice(s.chatd(), "bob", "b1");
    auto c = a1.client->CreateGroup("trio", {bob});
    REQUIRE_OK(c);
    chat = c->id;
  }
  UserId alice = 0;
  UserId bob = 0;
  LiveDevice a1, a2, b1;
  ChatId chat = 0;
};

TEST_CASE("live delivery reaches every device of every member, the sender's other device included",
          "[integration][delivery]") {
  TestServer s;
  ThreeDevices t(s);

  auto sent = t.a1.client->SendMessage(t.chat, "m1", "hello from a1");
  REQUIRE_OK(sent);
  for (Client* c : {t.a2.client.get(), t.b1.client.get()}) {
    auto e = WaitForMessage(*c, t.chat, sent->message.seq);
    REQUIRE(e);
    REQUIRE(e->entry);
    CHECK(e->entry->id == sent->message.id);
    CHECK(e->entry->body == "hello from a1");
    CHECK(e->entry->sender == t.alice);
    CHECK(e->entry->sender_device == t.a1.id());
    CHECK(e->entry->client_id == "m1");
  }

  // And the other way round: both of alice's devices get bob's message.
  auto reply = t.b1.client->SendMessage(t.chat, "m2", "hello from b1");
  REQUIRE_OK(reply);
  for (Client* c : {t.a1.client.get(), t.a2.client.get()}) {
    auto e = WaitForMessage(*c, t.chat, reply->message.seq);
    REQUIRE(e);
    CHECK(e->entry->id == reply->message.id);
    CHECK(e->entry->sender == t.bob);
  }
}

TEST_CASE("an offline device syncs exactly what it missed", "[integration][delivery]") {
  TestServer s;
  ThreeDevices t(s);

  auto before = t.a1.client->SendMessage(t.chat, "before", "seen live by a2");
  REQUIRE_OK(before);
  REQUIRE(WaitForMessage(*t.a2.client, t.chat, before->message.seq));
  REQUIRE_OK(t.a2.client->Ack(t.chat, before->message.seq));
  const Session a2_session = t.a2.session;
  t.a2.client.reset();  // a2 goes offline.

  std::vector<std::string> missed;
  for (int i = 0; i < 3; ++i) {
    REQUIRE_OK(t.b1.client->SendMessage(t.chat, "b" + std::to_string(i), "from bob " + std::to_string(i)));
    missed.push_back("from bob " + std::to_string(i));
  }
  for (int i = 0; i < 2; ++i) {
    REQUIRE_OK(t.a1.client->SendMessage(t.chat, "a" + std::to_string(i), "from a1 " + std::to_string(i)));
    missed.push_back("from a1 " + std::to_string(i));
  }

  LiveDevice back = ResumeDevice(s.chatd(), a2_session);
  // No cursors given: the server syncs every chat with something this device has not acknowledged.
  auto sync = back.client->Sync();
  REQUIRE_OK(sync);
  REQUIRE(sync->chats.size() == 1);
  const SyncPage& page = sync->chats[0];
  CHECK(page.chat == t.chat);
  CHECK_FALSE(page.has_more);
  CHECK_FALSE(sync->more);
  REQUIRE(page.messages.size() == missed.size());
  for (std::size_t i = 0; i < missed.size(); ++i) {
    CHECK(page.messages[i].seq == before->message.seq + 1 + i);
    CHECK(page.messages[i].body == missed[i]);
  }
  CHECK(page.head == before->message.seq + missed.size());
}

TEST_CASE("a new device gets the chat history", "[integration][delivery]") {
  TestServer s;
  ThreeDevices t(s);
  std::vector<Seq> sent;
  for (int i = 0; i < 4; ++i) {
    Client& c = i % 2 == 0 ? *t.a1.client : *t.b1.client;
    auto r = c.SendMessage(t.chat, "h" + std::to_string(i), "history " + std::to_string(i));
    REQUIRE_OK(r);
    sent.push_back(r->message.seq);
  }

  LiveDevice a3 = LoginDevice(s.chatd(), "alice", "a3");
  auto sync = a3.client->Sync();
  REQUIRE_OK(sync);
  REQUIRE(sync->chats.size() == 1);
  const auto& messages = sync->chats[0].messages;
  // Everything since alice joined: the creation entry and the four messages.
  REQUIRE(messages.size() == 1 + sent.size());
  CHECK(messages[0].kind == MessageKind::kMembership);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CHECK(messages[i + 1].seq == sent[i]);
    CHECK(messages[i + 1].body == "history " + std::to_string(i));
  }

  // history pages backwards, newest first.
  auto history = a3.client->History(t.chat, /*before=*/0, /*limit=*/2);
  REQUIRE_OK(history);
  REQUIRE(history->size() == 2);
  CHECK((*history)[0].seq == sent[3]);
  CHECK((*history)[1].seq == sent[2]);
  auto older = a3.client->History(t.chat, sent[2], 10);
  REQUIRE_OK(older);
  REQUIRE(older->size() == 3);
  CHECK(older->back().seq == 1);
}

TEST_CASE("resending a client message id returns the same message", "[integration][delivery]") {
  TestServer s;
  ThreeDevices t(s);

  auto first = t.a1.client->SendMessage(t.chat, "retry-1", "only once");
  REQUIRE_OK(first);
  CHECK_FALSE(first->duplicate);
  auto again = t.a1.client->SendMessage(t.chat, "retry-1", "only once");
  REQUIRE_OK(again);
  CHECK(again->duplicate);
  CHECK(again->message.id == first->message.id);
  CHECK(again->message.seq == first->message.seq);
  CHECK(again->message.timestamp == first->message.timestamp);

  // The same device on a new connection (a client retrying after a disconnect): still the original.
  LiveDevice a1b = ResumeDevice(s.chatd(), t.a1.session);
  auto third = a1b.client->SendMessage(t.chat, "retry-1", "only once");
  REQUIRE_OK(third);
  CHECK(third->duplicate);
  CHECK(third->message.seq == first->message.seq);

  // One entry in the chat, one live event for bob.
  auto next = t.a1.client->SendMessage(t.chat, "retry-2", "next");
  REQUIRE_OK(next);
  REQUIRE(WaitForMessage(*t.b1.client, t.chat, next->message.seq));
  int copies = 0;
  for (const auto& e : t.b1.client->TakeEvents()) {
    if (e.entry && e.entry->client_id == "retry-1") ++copies;
  }
  CHECK(copies == 1);
  int stored = 0;
  for (const auto& m : SyncAll(*t.b1.client, t.chat)) {
    if (m.client_id == "retry-1") ++stored;
  }
  CHECK(stored == 1);
}

TEST_CASE("concurrent senders produce one order seen identically by every device", "[integration][delivery]") {
  TestServer s;
  ThreeDevices t(s);
  const Seq start = 1;  // The chat's first entry is its creation (seq 1).
  constexpr int kPerDevice = 25;
  std::vector<LiveDevice*> devices = {&t.a1, &t.a2, &t.b1};

  // Three devices send at once; each thread keeps its own tally (no REQUIRE off the main thread).
  std::vector<int> failures(devices.size(), 0);
  std::vector<std::thread> senders;
  for (std::size_t d = 0; d < devices.size(); ++d) {
    senders.emplace_back([&, d] {
      for (int i = 0; i < kPerDevice; ++i) {
        auto r = devices[d]->client->SendMessage(t.chat, "d" + std::to_string(d) + "-" + std::to_string(i), "x");
        if (!r.ok()) ++failures[d];
      }
    });
  }
  for (auto& th : senders) th.join();
  for (int f : failures) REQUIRE(f == 0);

  // Every device sees all 75 entries live, in one order.
  const std::size_t total = devices.size() * kPerDevice;
  std::vector<std::vector<std::pair<Seq, std::string>>> seen(devices.size());
  for (std::size_t d = 0; d < devices.size(); ++d) {
    while (seen[d].size() < total) {
      auto e = devices[d]->client->WaitForEvent(
          [&](const ClientEvent& ev) { return ev.name == "newMessage" && ev.chat == t.chat; }, kWait);
      REQUIRE(e);
      CHECK_FALSE(e->gap);
      seen[d].emplace_back(e->seq, e->entry->id);
    }
  }
  for (std::size_t i = 0; i < total; ++i) CHECK(seen[0][i].first == start + 1 + i);
  CHECK(seen[1] == seen[0]);
  CHECK(seen[2] == seen[0]);

  // And the store agrees with what was delivered.
  auto stored = SyncAll(*t.b1.client, t.chat, start);
  REQUIRE(stored.size() == total);
  for (std::size_t i = 0; i < total; ++i) CHECK(stored[i].id == seen[0][i].second);
}

}  // namespace
}  // namespace chat::test
