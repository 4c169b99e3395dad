// The store contract: every guarantee of store.h and service.h, checked against every backend
// (GENERATE runs each case on mem:// and on LevelDB in a temp dir).
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "backends.h"

using namespace chat;
using chat::test::Fixture;

namespace {

SendRequest Text(const Session& s, ChatId chat, const std::string& client_id, const std::string& body = "hi") {
  return test::TextMessage(s, chat, client_id, body);
}

std::vector<Message> All(Fixture& f, const Session& s, ChatId chat) {
  auto page = f.service->Sync(s.user.id, s.device.id, chat, Seq{0}, 500);
  REQUIRE_OK(page);
  return page->messages;
}

// Records every message event seen on the bus, per chat, in arrival order.
struct EventLog {
  explicit EventLog(Bus& bus) {
    sub = bus.Subscribe([this](const std::shared_ptr<const Event>& e) {
      std::lock_guard lock(mu);
      if (e->message) seqs[e->chat].push_back(e->message->seq);
      events.push_back(e);
    });
  }
  std::mutex mu;
  std::map<ChatId, std::vector<Seq>> seqs;
  std::vector<std::shared_ptr<const Event>> events;
  Subscription sub;
};

}  // namespace

TEST_CASE("store assigns gapless sequence numbers in send order", "[contract][order]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  for (int i = 0; i < 20; ++i) {
    auto r = f.service->Send(Text(alice, chat->id, "c" + std::to_string(i), "m" + std::to_string(i)));
    REQUIRE_OK(r);
    CHECK(r->message.seq == static_cast<Seq>(i + 2));  // seq 1 is the creation entry.
  }
  auto msgs = All(f, alice, chat->id);
  REQUIRE(msgs.size() == 21);
  for (std::size_t i = 0; i < msgs.size(); ++i) CHECK(msgs[i].seq == i + 1);
  CHECK(msgs[0].kind == MessageKind::kMembership);
  CHECK(msgs[5].body == "m4");
  for (std::size_t i = 1; i < msgs.size(); ++i) CHECK(msgs[i].timestamp >= msgs[i - 1].timestamp);
}

TEST_CASE("resending a client message id returns the original message, never a copy", "[contract][dedup]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  auto first = f.service->Send(Text(alice, chat->id, "same", "hello"));
  REQUIRE_OK(first);
  CHECK_FALSE(first->duplicate);
  auto again = f.service->Send(Text(alice, chat->id, "same", "hello"));
  REQUIRE_OK(again);
  CHECK(again->duplicate);
  CHECK(again->message.id == first->message.id);
  CHECK(again->message.seq == first->message.seq);
  CHECK(All(f, alice, chat->id).size() == 2);

  SECTION("the same id from another device is another message") {
    auto phone2 = f.NewDevice("alice");
    auto other = f.service->Send(Text(phone2, chat->id, "same", "hello"));
    REQUIRE_OK(other);
    CHECK_FALSE(other->duplicate);
    CHECK(other->message.seq == first->message.seq + 1);
  }
  SECTION("reusing an id in another chat is refused") {
    auto chat2 = f.service->CreateGroup(alice.user.id, "g2", {});
    REQUIRE_OK(chat2);
    CHECK_CODE(f.service->Send(Text(alice, chat2->id, "same")), StatusCode::kInvalidArgument);
  }
  SECTION("dedup survives reopening the store") {
    if (!f.durable()) return;
    f.Reopen();
    auto after = f.service->Send(Text(alice, chat->id, "same", "hello"));
    REQUIRE_OK(after);
    CHECK(after->duplicate);
    CHECK(after->message.id == first->message.id);
  }
}

TEST_CASE("concurrent resends of one client id while the first is in flight yield one message", "[contract][dedup]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> threads;
    std::mutex mu;
    std::set<std::string> ids;
    std::atomic<int> failures{0};
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&] {
        auto r = f.service->Send(Text(alice, chat->id, "r" + std::to_string(round)));
        if (!r.ok()) {
          ++failures;
          return;
        }
        std::lock_guard lock(mu);
        ids.insert(r->message.id);
      });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    CHECK(ids.size() == 1);
  }
  CHECK(All(f, alice, chat->id).size() == 21);
}

TEST_CASE("many threads sending to one chat produce a gapless, duplicate-free order", "[contract][concurrency]") {
  Fixture f(test::StoreBackend());
  EventLog log(*f.bus);
  auto alice = f.NewUser("alice");
  std::vector<Session> devices = {alice};
  for (int i = 0; i < 3; ++i) devices.push_back(f.NewDevice("alice"));
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  constexpr int kThreads = 8, kPerThread = 60;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::mutex mu;
  std::set<Seq> acked;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Session& s = devices[t % devices.size()];
      for (int i = 0; i < kPerThread; ++i) {
        auto r = f.service->Send(Text(s, chat->id, "t" + std::to_string(t) + "-" + std::to_string(i)));
        if (!r.ok()) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mu);
        CHECK(acked.insert(r->message.seq).second);
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failures == 0);
  auto msgs = All(f, alice, chat->id);
  REQUIRE(msgs.size() == kThreads * kPerThread + 1);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    CHECK(msgs[i].seq == i + 1);
    CHECK(ids.insert(msgs[i].id).second);
  }
  // Live events left the store in sequence order.
  std::lock_guard lock(log.mu);
  const auto& seen = log.seqs[chat->id];
  REQUIRE(seen.size() == msgs.size());
  for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i + 1);
}

TEST_CASE("group commit shares one durable write among concurrent sends", "[contract][durability]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  const auto before = f.store->Stats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) f.service->Send(Text(alice, chat->id, std::to_string(t * 100 + i))).status().IgnoreError();
    });
  }
  for (auto& t : threads) t.join();
  const auto after = f.store->Stats();
  CHECK(after.appends - before.appends == 400);
  // With eight senders waiting on each other's fsync, writes carry more than one entry on average.
  if (f.backend == "leveldb") CHECK(after.commit_groups - before.commit_groups < 400);
}

TEST_CASE("a device's pending messages are exactly those after its acknowledged sequence", "[contract][inbox]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto bob = f.NewUser("bob");
  auto bob_laptop = f.NewDevice("bob");
  auto g1 = f.service->CreateGroup(alice.user.id, "g1", {bob.user.id});
  auto g2 = f.service->CreateGroup(alice.user.id, "g2", {bob.user.id});
  REQUIRE_OK(g1);
  REQUIRE_OK(g2);
  for (int i = 0; i < 5; ++i) REQUIRE_OK(f.service->Send(Text(alice, g1->id, "a" + std::to_string(i))));
  REQUIRE_OK(f.service->Send(Text(alice, g2->id, "b")));

  auto pending = f.service->Pending(bob.user.id, bob.device.id);
  REQUIRE_OK(pending);
  REQUIRE(pending->size() == 2);
  std::map<ChatId, PendingChat> by_chat;
  for (const auto& p : *pending) by_chat[p.chat] = p;
  CHECK(by_chat[g1->id].acked == 0);
  CHECK(by_chat[g1->id].head == 6);
  CHECK(by_chat[g2->id].head == 2);

  // Bob's phone acknowledges g1 up to 4: it still has 5 and 6 there; the laptop has everything.
  REQUIRE_OK(f.service->Ack(bob.user.id, bob.device.id, g1->id, 4));
  auto page = f.service->Sync(bob.user.id, bob.device.id, g1->id, std::nullopt, 100);
  REQUIRE_OK(page);
  REQUIRE(page->messages.size() == 2);
  CHECK(page->messages[0].seq == 5);
  CHECK(page->messages[1].seq == 6);
  auto laptop = f.service->Sync(bob.user.id, bob_laptop.device.id, g1->id, std::nullopt, 100);
  REQUIRE_OK(laptop);
  CHECK(laptop->messages.size() == 6);

  // Acknowledging everything clears the chat from the pending list; cursors never go back.
  REQUIRE_OK(f.service->Ack(bob.user.id, bob.device.id, g1->id, 6));
  REQUIRE_OK(f.service->Ack(bob.user.id, bob.device.id, g1->id, 2));
  pending = f.service->Pending(bob.user.id, bob.device.id);
  REQUIRE_OK(pending);
  REQUIRE(pending->size() == 1);
  CHECK(pending->front().chat == g2->id);
  CHECK_CODE(f.service->Ack(bob.user.id, bob.device.id, g1->id, 99), StatusCode::kInvalidArgument);

  // Delivered for the user moves when any one of their devices acknowledges.
  auto receipts = f.service->Receipts(alice.user.id, g1->id);
  REQUIRE_OK(receipts);
  bool found = false;
  for (const auto& r : *receipts) {
    if (r.user == bob.user.id) {
      found = true;
      CHECK(r.delivered == 6);
      CHECK(r.read == 0);
    }
  }
  CHECK(found);
  auto read = f.service->MarkRead(bob.user.id, g1->id, 5);
  REQUIRE_OK(read);
  CHECK(read->read == 5);
  CHECK(read->delivered == 6);
}

TEST_CASE("sync pages through what a device missed and a new device gets the history", "[contract][sync]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  for (int i = 0; i < 25; ++i) REQUIRE_OK(f.service->Send(Text(alice, chat->id, "c" + std::to_string(i))));
  auto fresh = f.NewDevice("alice");
  Seq after = 0;
  std::vector<Seq> got;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = f.service->Sync(fresh.user.id, fresh.device.id, chat->id, after, 10);
    REQUIRE_OK(page);
    for (const auto& m : page->messages) got.push_back(m.seq);
    if (!page->messages.empty()) after = page->messages.back().seq;
    if (!page->has_more) break;
  }
  REQUIRE(got.size() == 26);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == i + 1);

  auto history = f.service->History(alice.user.id, chat->id, 0, 5);
  REQUIRE_OK(history);
  REQUIRE(history->size() == 5);
  CHECK(history->front().seq == 26);
  CHECK(history->back().seq == 22);
  auto older = f.service->History(alice.user.id, chat->id, 22, 100);
  REQUIRE_OK(older);
  CHECK(older->size() == 21);
  CHECK(older->front().seq == 21);
}

TEST_CASE("deleting a message erases its content, leaves a tombstone and syncs as an entry", "[contract][delete]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto bob = f.NewUser("bob");
  auto carol = f.NewUser("carol");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {bob.user.id, carol.user.id});
  REQUIRE_OK(chat);
  auto secret = f.service->Send(Text(bob, chat->id, "b1", "secret words"));
  REQUIRE_OK(secret);
  // A plain member may not delete someone else's message.
  CHECK_CODE(f.service->DeleteMessage(carol.user.id, carol.device.id, chat->id, secret->message.seq),
             StatusCode::kPermissionDenied);
  auto del = f.service->DeleteMessage(bob.user.id, bob.device.id, chat->id, secret->message.seq);
  REQUIRE_OK(del);
  CHECK(del->kind == MessageKind::kDeletion);
  CHECK(del->ref_seq == secret->message.seq);
  auto stored = f.store->GetMessage(chat->id, secret->message.seq);
  REQUIRE_OK(stored);
  CHECK(stored->deleted);
  CHECK(stored->body.empty());
  CHECK(stored->id == secret->message.id);
  // The sequence stays gapless; the deletion is the next entry.
  auto msgs = All(f, carol, chat->id);
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[1].deleted);
  CHECK(msgs[2].kind == MessageKind::kDeletion);
  // An admin (the owner here) may delete others' messages; server entries cannot be deleted.
  auto m2 = f.service->Send(Text(carol, chat->id, "c1", "spam"));
  REQUIRE_OK(m2);
  REQUIRE_OK(f.service->DeleteMessage(alice.user.id, alice.device.id, chat->id, m2->message.seq));
  CHECK_CODE(f.service->DeleteMessage(alice.user.id, alice.device.id, chat->id, 1), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->DeleteMessage(alice.user.id, alice.device.id, chat->id, m2->message.seq), StatusCode::kNotFound);
}

TEST_CASE("membership rules: admins modify, limits hold, joiners see from joining, leavers see nothing", "[contract][membership]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto bob = f.NewUser("bob");
  auto carol = f.NewUser("carol");
  auto dave = f.NewUser("dave");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {bob.user.id}, "", /*member_limit=*/3);
  REQUIRE_OK(chat);
  REQUIRE_OK(f.service->Send(Text(alice, chat->id, "before", "before carol")));

  // Only admins and owners modify participants.
  CHECK_CODE(f.service->ModifyParticipants(bob.user.id, chat->id, {{carol.user.id}, {}, {}}), StatusCode::kPermissionDenied);
  auto added = f.service->ModifyParticipants(alice.user.id, chat->id, {{carol.user.id}, {}, {}});
  REQUIRE_OK(added);
  CHECK(added->kind == MessageKind::kMembership);
  // The limit (3) is enforced with a clear error.
  auto full = f.service->ModifyParticipants(alice.user.id, chat->id, {{dave.user.id}, {}, {}});
  CHECK_CODE(full, StatusCode::kFailedPrecondition);
  CHECK(full.status().message().find("member limit is 3") != std::string::npos);
  // Non-members can neither send nor read.
  CHECK_CODE(f.service->Send(Text(dave, chat->id, "x")), StatusCode::kPermissionDenied);
  CHECK_CODE(f.service->Sync(dave.user.id, dave.device.id, chat->id, Seq{0}, 10), StatusCode::kPermissionDenied);
  CHECK_CODE(f.service->History(dave.user.id, chat->id, 0, 10), StatusCode::kPermissionDenied);
  CHECK_CODE(f.service->GetChat(dave.user.id, chat->id), StatusCode::kPermissionDenied);

  // Carol sees from her join (the announcement) on, not before.
  auto carol_view = All(f, carol, chat->id);
  REQUIRE(carol_view.size() == 1);
  CHECK(carol_view[0].seq == added->seq);
  auto carol_history = f.service->History(carol.user.id, chat->id, 0, 100);
  REQUIRE_OK(carol_history);
  CHECK(carol_history->size() == 1);

  // Bob leaves: nothing more reaches him.
  REQUIRE_OK(f.service->Leave(bob.user.id, chat->id));
  REQUIRE_OK(f.service->Send(Text(alice, chat->id, "after", "after bob left")));
  CHECK_CODE(f.service->Sync(bob.user.id, bob.device.id, chat->id, Seq{0}, 10), StatusCode::kPermissionDenied);
  auto bobs_chats = f.service->ListChats(bob.user.id);
  REQUIRE_OK(bobs_chats);
  CHECK(bobs_chats->empty());

  // Roles: only the owner changes them; an admin may then add.
  REQUIRE_OK(f.service->ModifyParticipants(alice.user.id, chat->id, {{}, {}, {{carol.user.id, Role::kAdmin}}}));
  REQUIRE_OK(f.service->ModifyParticipants(carol.user.id, chat->id, {{dave.user.id}, {}, {}}));
  // An admin cannot remove the owner.
  CHECK_CODE(f.service->ModifyParticipants(carol.user.id, chat->id, {{}, {alice.user.id}, {}}), StatusCode::kPermissionDenied);
  // The owner leaving hands ownership on.
  REQUIRE_OK(f.service->Leave(alice.user.id, chat->id));
  auto view = f.service->GetChat(carol.user.id, chat->id);
  REQUIRE_OK(view);
  bool carol_owner = false;
  for (const auto& p : view->participants) carol_owner |= (p.user == carol.user.id && p.role == Role::kOwner);
  CHECK(carol_owner);

  auto chats = f.service->ListChats(carol.user.id);
  REQUIRE_OK(chats);
  REQUIRE(chats->size() == 1);
  CHECK(chats->front().last_message.has_value());
}

TEST_CASE("a direct chat between two users is unique", "[contract][membership]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto bob = f.NewUser("bob");
  auto a = f.service->CreateDirect(alice.user.id, bob.user.id);
  auto b = f.service->CreateDirect(bob.user.id, alice.user.id);
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  CHECK(a->id == b->id);
  CHECK(a->kind == ChatKind::kDirect);
  CHECK_CODE(f.service->CreateDirect(alice.user.id, alice.user.id), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Leave(alice.user.id, a->id), StatusCode::kFailedPrecondition);
  CHECK_CODE(f.service->ModifyParticipants(alice.user.id, a->id, {{}, {bob.user.id}, {}}), StatusCode::kFailedPrecondition);
}

TEST_CASE("retention deletes expired messages and idle cursors, and only those", "[contract][retention]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto bob = f.NewUser("bob");
  auto short_chat = f.service->CreateGroup(alice.user.id, "short", {bob.user.id}, "", 0, kMsPerDay);
  auto long_chat = f.service->CreateGroup(alice.user.id, "long", {bob.user.id});
  REQUIRE_OK(short_chat);
  REQUIRE_OK(long_chat);
  for (int i = 0; i < 10; ++i) {
    REQUIRE_OK(f.service->Send(Text(alice, short_chat->id, "s" + std::to_string(i))));
    REQUIRE_OK(f.service->Send(Text(alice, long_chat->id, "l" + std::to_string(i))));
  }
  REQUIRE_OK(f.service->Ack(bob.user.id, bob.device.id, long_chat->id, 3));

  f.clock.Advance(kMsPerDay / 2);
  auto none = f.service->RunRetention();
  REQUIRE_OK(none);
  CHECK(none->messages_deleted == 0);

  f.clock.Advance(kMsPerDay);
  auto day = f.service->RunRetention();
  REQUIRE_OK(day);
  CHECK(day->messages_deleted == 11);  // The short chat's creation entry and its ten messages.
  CHECK(All(f, alice, short_chat->id).empty());
  CHECK(All(f, alice, long_chat->id).size() == 11);
  // The head (and so the numbering) stays; a resend of an expired client id is a new message.
  auto next = f.service->Send(Text(alice, short_chat->id, "s0"));
  REQUIRE_OK(next);
  CHECK(next->message.seq == 12);
  CHECK_FALSE(next->duplicate);

  // A sweep with a small budget stops and says there is more.
  f.clock.Advance(40 * kMsPerDay);
  auto partial = f.service->RunRetention(5);
  REQUIRE_OK(partial);
  CHECK(partial->messages_deleted == 5);
  CHECK(partial->more);
  auto rest = f.service->RunRetention();
  REQUIRE_OK(rest);
  CHECK(rest->messages_deleted == 7);
  // Bob's device was last seen 41 days ago: its cursors expired with retention.
  CHECK(rest->cursors_deleted >= 1);
  auto cursor = f.store->DeviceCursor(bob.device.id, long_chat->id);
  REQUIRE_OK(cursor);
  CHECK(*cursor == 0);
}

TEST_CASE("accounts: unique usernames, hashed passwords, at most five devices, revocable sessions", "[contract][accounts]") {
  Fixture f(test::StoreBackend());
  REQUIRE_OK(f.service->Register({"Alice", "password-alice", "", "", ""}));
  auto alice = f.NewDevice("alice");
  CHECK(alice.user.username == "alice");
  CHECK(alice.user.password_hash.rfind("$argon2id$", 0) == 0);
  CHECK(alice.user.password_hash.find("password-alice") == std::string::npos);
  CHECK_CODE(f.service->Register({"ALICE", "another-password", "", "", ""}), StatusCode::kAlreadyExists);
  CHECK_CODE(f.service->Register({"x", "another-password", "", "", ""}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Register({"shorty", "short", "", "", ""}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Register({"mailer", "long-enough", "", "not-an-email", ""}), StatusCode::kInvalidArgument);

  // Wrong password and unknown user get the same answer.
  auto wrong = f.service->Login("alice", "nope-nope-nope", {"phone", "x"});
  auto unknown = f.service->Login("nobody", "nope-nope-nope", {"phone", "x"});
  CHECK_CODE(wrong, StatusCode::kUnauthenticated);
  CHECK_CODE(unknown, StatusCode::kUnauthenticated);
  CHECK(wrong.status().message() == unknown.status().message());

  // The token resumes the session; it is stored only as a hash.
  auto resumed = f.service->Resume(alice.token);
  REQUIRE_OK(resumed);
  CHECK(resumed->device.id == alice.device.id);
  CHECK(alice.device.token_hash != alice.token);
  CHECK_CODE(f.service->Resume("garbage"), StatusCode::kUnauthenticated);

  std::vector<Session> devices = {alice};
  for (int i = 0; i < 4; ++i) devices.push_back(f.NewDevice("alice"));
  auto sixth = f.service->Login("alice", "password-alice", {"tablet", "sixth"});
  CHECK_CODE(sixth, StatusCode::kFailedPrecondition);
  CHECK(sixth.status().message().find("5 devices") != std::string::npos);
  CHECK(sixth.status().message().find("removeDevice") != std::string::npos);

  // Removing a device frees a slot and kills its token.
  REQUIRE_OK(f.service->RemoveDevice(alice.user.id, devices[1].device.id));
  CHECK_CODE(f.service->Resume(devices[1].token), StatusCode::kUnauthenticated);
  REQUIRE_OK(f.service->Login("alice", "password-alice", {"tablet", "sixth"}));

  // Sessions expire.
  f.clock.Advance(91 * kMsPerDay);
  CHECK_CODE(f.service->Resume(devices[2].token), StatusCode::kUnauthenticated);

  // Disabling an account revokes its sessions and refuses logins.
  f.clock.Advance(-91 * kMsPerDay);
  REQUIRE_OK(f.service->SetDisabled(alice.user.id, true));
  CHECK_CODE(f.service->Resume(devices[3].token), StatusCode::kUnauthenticated);
  CHECK_CODE(f.service->Login("alice", "password-alice", {"x", "y"}), StatusCode::kPermissionDenied);
}

TEST_CASE("limits and bad input are refused with typed errors and change nothing", "[contract][limits]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  auto head = [&] { return *f.store->Head(chat->id); };
  const Seq before = head();
  CHECK_CODE(f.service->Send(Text(alice, chat->id, "big", std::string(64 * 1024 + 1, 'x'))), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Send(Text(alice, chat->id, "utf", "bad \xff\xfe utf8")), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Send(Text(alice, chat->id, "")), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Send(Text(alice, chat->id, "empty", "")), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Send(Text(alice, 424242, "nochat")), StatusCode::kPermissionDenied);
  auto sys = Text(alice, chat->id, "sys");
  sys.kind = MessageKind::kMembership;
  CHECK_CODE(f.service->Send(sys), StatusCode::kInvalidArgument);
  auto many = Text(alice, chat->id, "many");
  many.attachments.assign(11, "att");
  CHECK_CODE(f.service->Send(many), StatusCode::kInvalidArgument);
  CHECK(head() == before);
  REQUIRE_OK(f.service->Send(Text(alice, chat->id, "ok", std::string(64 * 1024, 'x'))));
  CHECK_CODE(f.service->CreateGroup(alice.user.id, "", {}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->CreateGroup(alice.user.id, "g", {99999}), StatusCode::kNotFound);
  CHECK_CODE(f.service->CreateGroup(alice.user.id, "g", {}, "", 5000), StatusCode::kInvalidArgument);
}

TEST_CASE("listing a user's chats reports unread counts and the last message", "[contract][chats]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto bob = f.NewUser("bob");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {bob.user.id});
  REQUIRE_OK(chat);
  for (int i = 0; i < 3; ++i) REQUIRE_OK(f.service->Send(Text(alice, chat->id, std::to_string(i), "m" + std::to_string(i))));
  auto bobs = f.service->ListChats(bob.user.id);
  REQUIRE_OK(bobs);
  REQUIRE(bobs->size() == 1);
  CHECK(bobs->front().unread == 4);
  REQUIRE(bobs->front().last_message);
  CHECK(bobs->front().last_message->body == "m2");
  auto alices = f.service->ListChats(alice.user.id);
  REQUIRE_OK(alices);
  CHECK(alices->front().unread == 0);  // Her own messages count as read.
}
