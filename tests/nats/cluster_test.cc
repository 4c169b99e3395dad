// Several chatd nodes as one service: three real chatd processes on one throw-away PostgreSQL
// database and a real 3-server NATS cluster (--bus nats://), users' devices spread over the nodes.
// What a device on one node sends reaches the devices on the others exactly once and in order, also
// when the NATS server a node is attached to stops while messages flow.
//
// The observing devices are raw WebSockets: chat::Client drops duplicates and would hide them.
#include <signal.h>

#include <set>
#include <thread>

#include "three_nodes.h"

using namespace chat;
using namespace chat::test;
using Json = nlohmann::json;

namespace {

// A device's live session on a raw WebSocket: every frame the server sends is seen, duplicates too.
struct Observer {
  std::string who;
  std::unique_ptr<RawWebSocket> ws;
  std::vector<Seq> entries;         // Seqs of newMessage / chatUpdate / messageDeleted of the chat, as received.
  std::vector<Seq> deleted;         // The seqs messageDeleted named.
  Seq alice_read = 0;               // The highest read cursor of the sender a receipt event showed.

  // Reads frames until `done` holds or `timeout` passes.
  template <class Done>
  bool ReadUntil(ChatId chat, UserId sender, Done done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(*this)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto f = ws->Read(left);
      if (f.opcode == -1) return false;
      if (f.opcode != 1) continue;
      const Json j = Json::parse(f.payload, nullptr, false);
      if (!j.is_object() || !j.contains("event")) continue;
      const std::string name = j.at("event");
      const Json& d = j.at("data");
      if (name == "newMessage" && d.at("message").at("chatId") == chat) {
        entries.push_back(d.at("message").at("seq"));
      } else if ((name == "chatUpdate" || name == "messageDeleted") && d.at("chatId") == chat) {
        entries.push_back(d.at("entry").at("seq"));
        if (name == "messageDeleted") deleted.push_back(d.at("seq"));
      } else if (name == "receipt" && d.at("chatId") == chat) {
        for (const Json& r : d.at("receipts")) {
          if (r.at("userId") == sender) alice_read = std::max<Seq>(alice_read, r.at("read"));
        }
      }
    }
    return true;
  }
};

// Sends `frame` and returns the answer whose "id" is `id`, skipping the events that come first (a
// partner's presence may arrive between a request and its answer).
Json CallFor(RawWebSocket& ws, const std::string& frame, const std::string& id) {
  ws.SendText(frame);
  for (;;) {
    auto f = ws.Read();
    REQUIRE(f.opcode != -1);
    if (f.opcode != 1) continue;
    Json j = Json::parse(f.payload, nullptr, false);
    if (j.is_object() && j.value("id", "") == id) return j;
  }
}

// Logs `name` in on `node` as a new device and moves its session to a raw WebSocket there.
Observer Observe(const ChatdProcess& node, const std::string& name, const std::string& device) {
  LiveDevice d = LoginDevice(node, name, device);
  const std::string token = d.session.token;
  d.client.reset();
  Observer o;
  o.who = name + "@" + device;
  o.ws = std::make_unique<RawWebSocket>(node.port());
  REQUIRE(CallFor(*o.ws, R"({"id":"h","cmd":"hello","version":1})", "h").at("ok") == true);
  REQUIRE(CallFor(*o.ws, R"({"id":"r","cmd":"resume","token":")" + token + "\"}", "r").at("ok") == true);
  // Answered only once the session is registered and its chats are watched (the node reads no
  // command before): from here on every entry reaches it live.
  REQUIRE(CallFor(*o.ws, R"({"id":"p","cmd":"ping"})", "p").at("ok") == true);
  return o;
}

// Whether the server closes `ws` (a close frame, or the connection ends) within a few seconds.
bool ClosedByServer(RawWebSocket& ws) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto f = ws.Read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (f.opcode == 8 || f.opcode == -1) return f.opcode == 8 || std::chrono::steady_clock::now() < deadline;
  }
  return false;
}

// Every seq of [from, to] exactly once, ascending: compared as vectors so that a failure prints
// what arrived.
std::vector<Seq> Seqs(Seq from, Seq to) {
  std::vector<Seq> all;
  for (Seq s = from; s <= to; ++s) all.push_back(s);
  return all;
}

}  // namespace

TEST_CASE("three chatd nodes on NATS and PostgreSQL: messages, a delete and receipts sent on node A reach devices "
          "on B and C exactly once, in order",
          "[nats][postgres][cluster]") {
  ThreeNodes nodes;
  auto& [a, b, c] = nodes.chatd;
  CHECK(HttpGet(b->port(), "/readyz") == "200\nready\n");
  CHECK(b->Log().find("node node-b") != std::string::npos);

  const UserId alice = RegisterUser(*a, "alice");
  const UserId bob = RegisterUser(*b, "bob");
  const UserId carol = RegisterUser(*c, "carol");
  LiveDevice sender = LoginDevice(*a, "alice", "a-phone");
  auto chat = sender.client->CreateGroup("spread", {bob, carol});
  REQUIRE_OK(chat);

  // Alice's second device on B, Bob's devices on B and C, Carol's on C.
  std::vector<Observer> observers;
  observers.push_back(Observe(*b, "alice", "a-laptop"));
  observers.push_back(Observe(*b, "bob", "b-phone"));
  observers.push_back(Observe(*c, "bob", "b-laptop"));
  observers.push_back(Observe(*c, "carol", "c-phone"));

  constexpr int kMessages = 40;
  Seq first = 0, last = 0;
  for (int i = 0; i < kMessages; ++i) {
    auto sent = sender.client->SendMessage(chat->id, "m" + std::to_string(i), "hello " + std::to_string(i));
    REQUIRE_OK(sent);
    if (i == 0) first = sent->message.seq;
    last = sent->message.seq;
  }
  auto gone = sender.client->DeleteMessage(chat->id, first + 3);
  REQUIRE_OK(gone);
  REQUIRE_OK(sender.client->MarkRead(chat->id, gone->seq));
  const Seq end = gone->seq;
  CHECK(end == last + 1);

  for (Observer& o : observers) {
    INFO(o.who);
    CHECK(o.ReadUntil(chat->id, alice, [&](const Observer& x) { return !x.entries.empty() && x.entries.back() >= end &&
                                                                       x.alice_read >= end; },
                      10s));
    // A moment more: a duplicate would come now.
    o.ReadUntil(chat->id, alice, [](const Observer&) { return false; }, 300ms);
    CHECK(o.entries == Seqs(first, end));
    CHECK(o.deleted == std::vector<Seq>{first + 3});
    CHECK(o.alice_read == end);
  }
  // Nothing had to be repaired on a healthy bus, and nothing arrived twice.
  for (auto* node : {b.get(), c.get()}) {
    CHECK(MetricValue(node->port(), "chat_bus_entries_repaired_total") == 0);
    CHECK(MetricValue(node->port(), "chat_bus_duplicates_dropped_total") == 0);
  }
  // A node on NATS shuts down cleanly (its subscriptions end with its sessions, then the bus): well
  // within its 3 s shutdown grace plus the room a loaded sanitized run needs (5.7 s seen with three
  // suites on two cores); a shutdown stuck on the bus runs into SignalAndWait's 15 s instead.
  const auto stop_start = std::chrono::steady_clock::now();
  CHECK(b->SignalAndWait(SIGTERM) == 0);
  CHECK(std::chrono::steady_clock::now() - stop_start < 8s);
}

TEST_CASE("a chatd node whose NATS server stops while messages flow gets every message once and in order, "
          "repaired from the store, and is not ready while cut off",
          "[nats][postgres][cluster]") {
  Database db;
  const std::string& store = db.uri;
  // A private cluster: one of its servers is stopped. Its servers do not advertise each other, so
  // node B, given server 1 alone, is cut off from the bus while it is down (it cannot move).
  auto made = NatsCluster::Start(3, /*advertise=*/false);
  REQUIRE_OK(made);
  NatsCluster& nats = **made;
  const std::string prefix = UniquePrefix();
  TempDir da, db_;
  auto a = Node(da, store, nats.Url(0), prefix, "node-a");
  auto b = Node(db_, store, nats.Url(1), prefix, "node-b");

  const UserId alice = RegisterUser(*a, "alice");
  const UserId bob = RegisterUser(*a, "bob");
  LiveDevice sender = LoginDevice(*a, "alice", "a-phone");
  auto chat = sender.client->CreateGroup("through an outage", {bob});
  REQUIRE_OK(chat);
  Observer bob_b = Observe(*b, "bob", "b-phone");
  Observer alice_b = Observe(*b, "alice", "a-laptop");

  // Alice sends 150 messages, one every 10 ms; server 1 stops after the 40th, restarts after the 90th.
  constexpr int kMessages = 150;
  Seq first = 0, last = 0;
  bool saw_unready = false;
  for (int i = 0; i < kMessages; ++i) {
    if (i == 40) nats.Stop(1);
    if (i == 90) REQUIRE_OK(nats.Restart(1));
    if (i > 40 && i < 90 && !saw_unready) saw_unready = HttpGet(b->port(), "/readyz") == "503\nnot ready\n";
    auto sent = sender.client->SendMessage(chat->id, "m" + std::to_string(i), "n" + std::to_string(i));
    REQUIRE_OK(sent);
    if (i == 0) first = sent->message.seq;
    last = sent->message.seq;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (Observer* o : {&bob_b, &alice_b}) {
    INFO(o->who);
    CHECK(o->ReadUntil(chat->id, alice,
                       [&](const Observer& x) { return !x.entries.empty() && x.entries.back() >= last; }, 15s));
    o->ReadUntil(chat->id, alice, [](const Observer&) { return false; }, 300ms);
    CHECK(o->entries == Seqs(first, last));
  }
  // B was not ready while cut off, and is again; what it missed meanwhile came from the store.
  CHECK(saw_unready);
  CHECK(HttpGet(b->port(), "/readyz") == "200\nready\n");
  CHECK(MetricValue(b->port(), "chat_bus_entries_repaired_total") > 0);
}

TEST_CASE("a password change on node A closes the user's other sessions on nodes B and C, and only theirs",
          "[nats][postgres][cluster]") {
  ThreeNodes nodes;
  auto& [a, b, c] = nodes.chatd;
  RegisterUser(*a, "alice");
  RegisterUser(*a, "carol");
  LiveDevice changer = LoginDevice(*a, "alice", "a-phone");
  Observer alice_b = Observe(*b, "alice", "a-laptop");
  Observer alice_c = Observe(*c, "alice", "a-tablet");
  Observer carol_b = Observe(*b, "carol", "c-phone");

  auto token = changer.client->ChangePassword(PasswordOf("alice"), "a-new-password-1");
  REQUIRE_OK(token);
  CHECK(ClosedByServer(*alice_b.ws));
  CHECK(ClosedByServer(*alice_c.ws));
  // Carol, on the same node as one of them, is not touched.
  CHECK(CallFor(*carol_b.ws, R"({"id":"p","cmd":"ping"})", "p").at("ok") == true);
}

TEST_CASE("a user on node B added to a chat on node A gets its entries from the addition on, and none after "
          "their removal",
          "[nats][postgres][cluster]") {
  ThreeNodes nodes;
  auto& [a, b, c] = nodes.chatd;
  const UserId alice = RegisterUser(*a, "alice");
  const UserId bob = RegisterUser(*a, "bob");
  const UserId carol = RegisterUser(*a, "carol");
  LiveDevice sender = LoginDevice(*a, "alice", "a-phone");
  auto chat = sender.client->CreateGroup("later", {carol});
  REQUIRE_OK(chat);
  // Bob's session on B starts before he is in the chat: B does not watch it yet.
  Observer bob_b = Observe(*b, "bob", "b-phone");
  Observer carol_c = Observe(*c, "carol", "c-phone");

  auto modify = [&](const char* field) {
    const std::string args = "{\"chatId\":" + std::to_string(chat->id) + ",\"" + field + "\":[" + std::to_string(bob) + "]}";
    Reply r = sender.client->Call("modifyParticipants", args);
    REQUIRE_OK(r.status());
  };
  modify("add");
  std::vector<Seq> sent;
  for (int i = 0; i < 5; ++i) {
    auto m = sender.client->SendMessage(chat->id, "in" + std::to_string(i), "while bob is in");
    REQUIRE_OK(m);
    sent.push_back(m->message.seq);
  }
  const Seq added = sent.front() - 1;  // The membership entry that added Bob.
  CHECK(bob_b.ReadUntil(chat->id, alice, [&](const Observer& x) { return !x.entries.empty() && x.entries.back() >= sent.back(); },
                        10s));
  CHECK(bob_b.entries == Seqs(added, sent.back()));

  modify("remove");
  const Seq removed = sent.back() + 1;
  for (int i = 0; i < 3; ++i) REQUIRE_OK(sender.client->SendMessage(chat->id, "out" + std::to_string(i), "after"));
  // Carol, who stayed, sees all of it; Bob sees his removal and nothing after it.
  CHECK(carol_c.ReadUntil(chat->id, alice, [&](const Observer& x) { return !x.entries.empty() && x.entries.back() >= removed + 3; },
                          10s));
  CHECK(carol_c.entries == Seqs(added, removed + 3));
  bob_b.ReadUntil(chat->id, alice, [](const Observer&) { return false; }, 500ms);
  CHECK(bob_b.entries == Seqs(added, removed));
}
