// chatd under abuse and failure: bad input, slow consumers, kill -9, SIGTERM; and its HTTP routes.
#include <signal.h>

#include <atomic>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "test_server.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;

TEST_CASE("bad input gets a typed error, changes nothing, and the server keeps serving others",
          "[integration][robustness]") {
  TestServer s({"--max-frame-bytes", "65536"});
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  RegisterUser(s.chatd(), "mallory");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  LiveDevice m = LoginDevice(s.chatd(), "mallory", "m");
  auto chat = a.client->CreateGroup("ab", {bob});
  REQUIRE_OK(chat);
  const std::string foreign = std::to_string(chat->id);

  struct Case {
    const char* what;
    std::string frame;
    const char* code;
    bool signed_in;   // Sent by mallory's signed-in device (else by a fresh connection after hello).
    bool anonymous;   // The error carries "id": null (the frame had no usable id); else "id": "bad".
  };
  const std::vector<Case> cases = {
      {"malformed JSON", R"({"id":"bad","cmd":"ping",)", "bad_request", true, true},
      {"not an object", R"([1,2,3])", "bad_request", true, true},
      {"missing id", R"({"cmd":"ping"})", "bad_request", true, true},
      {"id of a wrong type", R"({"id":{"x":1},"cmd":"ping"})", "bad_request", true, true},
      {"missing cmd", R"({"id":"bad"})", "bad_request", true, false},
      {"wrong type", R"({"id":"bad","cmd":"sendMessage","chatId":"abc","clientId":"x","body":"hi"})", "bad_request",
       true, false},
      {"negative number", R"({"id":"bad","cmd":"ack","chatId":-1,"seq":1})", "bad_request", true, false},
      {"missing field", R"({"id":"bad","cmd":"sendMessage","chatId":1})", "bad_request", true, false},
      {"unknown command", R"({"id":"bad","cmd":"launchRockets"})", "unknown_command", true, false},
      {"oversized frame", R"({"id":"bad","cmd":"ping","pad":")" + std::string(70000, 'x') + "\"}",
       "frame_too_large", true, true},
      {"missing auth", R"({"id":"bad","cmd":"listChats"})", "unauthenticated", false, false},
      {"missing auth to send",
       R"({"id":"bad","cmd":"sendMessage","chatId":)" + foreign + R"(,"clientId":"x","body":"hi"})",
       "unauthenticated", false, false},
      {"foreign chat id: send",
       R"({"id":"bad","cmd":"sendMessage","chatId":)" + foreign + R"(,"clientId":"x","body":"hi"})",
       "permission_denied", true, false},
      {"foreign chat id: sync", R"({"id":"bad","cmd":"sync","chats":{")" + foreign + R"(":0}})",
       "permission_denied", true, false},
      {"foreign chat id: history", R"({"id":"bad","cmd":"history","chatId":)" + foreign + "}",
       "permission_denied", true, false},
      {"bad sync cursor key", R"({"id":"bad","cmd":"sync","chats":{"general":0}})", "bad_request", true, false},
      {"server-written kind",
       R"({"id":"bad","cmd":"sendMessage","chatId":)" + foreign + R"(,"clientId":"k","kind":"membership","body":"x"})",
       "invalid_argument", true, false},
  };

  int round = 0;
  for (const Case& c : cases) {
    INFO("case: " << c.what);
    std::unique_ptr<Client> fresh;
    Client* sender = m.client.get();
    if (!c.signed_in) {
      fresh = s.chatd().Connect();
      sender = fresh.get();
    }
    REQUIRE_OK(sender->SendText(c.frame));
    // The answer carries an id the client did not issue (or none): it is "unmatched".
    auto reply = sender->WaitForUnmatchedReply(kWait);
    REQUIRE(reply);
    INFO("reply: " << reply->raw);
    CHECK_FALSE(reply->ok);
    CHECK(reply->code == c.code);
    CHECK_FALSE(reply->message.empty());
    const Json id = Json::parse(reply->raw).at("id");
    if (c.anonymous) {
      CHECK(id.is_null());
    } else {
      CHECK(id == "bad");
    }
    // The offending connection stays usable...
    CHECK(sender->Ping().ok());
    // ...and the others are served meanwhile.
    auto sent = a.client->SendMessage(chat->id, "round-" + std::to_string(round++), "still here");
    REQUIRE_OK(sent);
    REQUIRE(WaitForMessage(*b.client, chat->id, sent->message.seq));
  }

  // Nothing bad input did reached the chat: its entries are the creation and our own rounds.
  auto entries = SyncAll(*b.client, chat->id);
  REQUIRE(entries.size() == 1 + cases.size());
  for (std::size_t i = 1; i < entries.size(); ++i) CHECK(entries[i].sender != m.user());
}

TEST_CASE("the handshake requires hello with version 1 first", "[integration][robustness]") {
  TestServer s;
  ClientOptions no_hello;
  no_hello.hello = false;

  auto early = s.chatd().Connect(no_hello);
  CHECK(early->Call("ping").code == "failed_precondition");
  Reply hello = early->Call("hello", R"({"version":1})");
  REQUIRE(hello.ok);
  auto info = Json::parse(hello.result);
  CHECK(info.at("version") == 1);
  CHECK(info.at("server").get<std::string>().rfind("chatd/", 0) == 0);
  CHECK(info.at("maxFrameBytes").get<std::size_t>() > 0);
  CHECK(early->Ping().ok());

  auto future = s.chatd().Connect(no_hello);
  Reply refused = future->Call("hello", R"({"version":2})");
  CHECK(refused.code == "unsupported_version");
  auto closed = future->WaitForClose(kWait);
  REQUIRE(closed);
  CHECK(closed->code == 1002);
}

// Reads frames until the close frame; returns the newMessage seqs of `chat` seen before it.
std::vector<Seq> DrainUntilClose(RawWebSocket& raw, ChatId chat, int* close_code, std::string* close_reason) {
  std::vector<Seq> seqs;
  for (;;) {
    RawWebSocket::Frame f = raw.Read(kWait);
    if (f.opcode == -1) return seqs;
    if (f.opcode == 8) {
      *close_code = f.payload.size() >= 2 ? (static_cast<unsigned char>(f.payload[0]) << 8) |
                                                static_cast<unsigned char>(f.payload[1])
                                          : 0;
      *close_reason = f.payload.size() > 2 ? f.payload.substr(2) : "";
      return seqs;
    }
    if (f.opcode != 1) continue;
    Json j = Json::parse(f.payload);
    if (j.value("event", "") == "newMessage" && j["data"]["message"]["chatId"] == chat) {
      seqs.push_back(j["data"]["message"]["seq"].get<Seq>());
    }
  }
}

TEST_CASE("a slow consumer is disconnected with 1008 and then syncs without loss", "[integration][robustness]") {
  // Small queues so that the test fills them quickly; the kernel's socket buffers still take ~4 MiB.
  TestServer s({"--send-queue-messages", "16", "--send-queue-bytes", "524288", "--max-response-bytes", "262144"});
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");

  // Bob's device: a raw socket with a tiny receive window that stops reading after login.
  RawWebSocket raw(s.port(), /*receive_buffer=*/4096);
  raw.Call(R"({"id":1,"cmd":"hello","version":1})");
  Json login = Json::parse(raw.Call(R"({"id":2,"cmd":"login","username":"bob","password":")" + PasswordOf("bob") +
                                    R"(","device":{"kind":"test","name":"slow"}})"));
  REQUIRE(login.at("ok").get<bool>());
  Session bob_session;
  bob_session.token = login["result"]["token"].get<std::string>();

  auto chat = a.client->CreateGroup("flood", {bob});
  REQUIRE_OK(chat);
  const std::string body(60000, 'x');
  std::set<Seq> sent;
  // Send until the server reports the slow consumer (adaptive: no fixed message count or sleep).
  for (int i = 0; i < 600 && MetricValue(s.port(), "chat_send_queue_drops_total") < 1; i += 10) {
    for (int j = i; j < i + 10; ++j) {
      auto r = a.client->SendMessage(chat->id, "f" + std::to_string(j), body);
      REQUIRE_OK(r);
      sent.insert(r->message.seq);
    }
  }
  REQUIRE(MetricValue(s.port(), "chat_send_queue_drops_total") >= 1);

  // Bob reads again: what was already on the wire, then the close.
  int code = 0;
  std::string reason;
  std::vector<Seq> live = DrainUntilClose(raw, chat->id, &code, &reason);
  CHECK(code == 1008);
  CHECK(reason == "slow consumer");
  REQUIRE_FALSE(live.empty());
  for (std::size_t i = 1; i < live.size(); ++i) REQUIRE(live[i] == live[i - 1] + 1);

  // Catch up by sync from the last seq seen live: together they hold every message exactly once.
  LiveDevice back = ResumeDevice(s.chatd(), bob_session);
  std::vector<Message> rest = SyncAll(*back.client, chat->id, live.back());
  std::set<Seq> all(live.begin(), live.end());
  for (const Message& msg : rest) CHECK(all.insert(msg.seq).second);
  for (Seq seq : sent) CHECK(all.count(seq) == 1);
  CHECK(*all.rbegin() == *sent.rbegin());
}

TEST_CASE("after kill -9 every acknowledged message is there exactly once with no gaps", "[integration][robustness]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  std::vector<LiveDevice> devices;
  devices.push_back(LoginDevice(s.chatd(), "alice", "a"));
  devices.push_back(LoginDevice(s.chatd(), "bob", "b"));
  auto chat = devices[0].client->CreateGroup("crash", {bob});
  REQUIRE_OK(chat);

  struct Tally {
    std::vector<std::pair<std::string, Seq>> acked;  // client id -> seq, as the server acknowledged.
    std::vector<std::string> unacked;                // Sent, no answer: may or may not be stored.
    std::atomic<int> count{0};
  };
  std::vector<Tally> tallies(devices.size());
  std::vector<std::thread> senders;
  for (std::size_t d = 0; d < devices.size(); ++d) {
    senders.emplace_back([&, d] {
      for (int i = 0;; ++i) {
        const std::string id = "d" + std::to_string(d) + "-" + std::to_string(i);
        auto r = devices[d].client->SendMessage(chat->id, id, "crash test " + id);
        if (!r.ok()) {
          tallies[d].unacked.push_back(id);
          return;  // The server is gone.
        }
        tallies[d].acked.emplace_back(id, r->message.seq);
        tallies[d].count++;
      }
    });
  }
  // Kill while both are mid-stream.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((tallies[0].count < 20 || tallies[1].count < 20) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  s.chatd().Kill9();
  for (auto& t : senders) t.join();
  REQUIRE(tallies[0].count >= 20);
  REQUIRE(tallies[1].count >= 20);

  s.Restart();
  std::vector<LiveDevice> again;
  for (const auto& d : devices) again.push_back(ResumeDevice(s.chatd(), d.session));

  auto check = [&](bool resent) {
    std::vector<Message> entries = SyncAll(*again[1].client, chat->id);
    std::map<std::string, Seq> by_client_id;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      INFO("entry " << i);
      REQUIRE(entries[i].seq == i + 1);  // No gaps.
      if (entries[i].kind != MessageKind::kText) continue;
      CHECK(by_client_id.emplace(entries[i].client_id, entries[i].seq).second);  // No duplicates.
    }
    for (const Tally& t : tallies) {
      for (const auto& [id, seq] : t.acked) {
        INFO("acknowledged " << id);
        REQUIRE(by_client_id.count(id) == 1);
        CHECK(by_client_id[id] == seq);
      }
      if (resent) {
        for (const auto& id : t.unacked) CHECK(by_client_id.count(id) == 1);
      }
    }
  };
  check(false);

  // The devices retry what had no answer: stored ones come back as duplicates, the rest are added.
  for (std::size_t d = 0; d < devices.size(); ++d) {
    for (const auto& id : tallies[d].unacked) REQUIRE_OK(again[d].client->SendMessage(chat->id, id, "crash test " + id));
  }
  check(true);
}

TEST_CASE("SIGTERM closes websockets with going away, keeps the data and exits 0", "[integration][robustness]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  auto chat = a.client->CreateGroup("solo", {});
  REQUIRE_OK(chat);
  auto sent = a.client->SendMessage(chat->id, "keep", "survives shutdown");
  REQUIRE_OK(sent);

  CHECK(s.chatd().SignalAndWait(SIGTERM) == 0);
  auto closed = a.client->WaitForClose(kWait);
  REQUIRE(closed);
  CHECK(closed->code == 1001);
  CHECK(closed->reason == "going away");
  CHECK(s.chatd().Log().find("received SIGTERM") != std::string::npos);

  s.Restart();
  LiveDevice back = ResumeDevice(s.chatd(), a.session);
  auto entries = SyncAll(*back.client, chat->id);
  REQUIRE(entries.size() == 2);
  CHECK(entries[1].id == sent->message.id);
}

TEST_CASE("health, readiness and metrics are served over HTTP", "[integration][robustness]") {
  TestServer s;
  CHECK(HttpGet(s.port(), "/healthz") == "200\nok\n");
  CHECK(HttpGet(s.port(), "/readyz") == "200\nready\n");
  CHECK(HttpGet(s.port(), "/nope").rfind("404\n", 0) == 0);
  CHECK(HttpGet(s.port(), "/ws").rfind("426\n", 0) == 0);

  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  auto chat = a.client->CreateGroup("metrics", {bob});
  REQUIRE_OK(chat);
  auto sent = a.client->SendMessage(chat->id, "m", "count me");
  REQUIRE_OK(sent);
  REQUIRE(WaitForMessage(*b.client, chat->id, sent->message.seq));

  const std::string text = HttpGet(s.port(), "/metrics");
  for (const char* name : {"chat_connections", "chat_devices_online", "chat_messages_in_total",
                           "chat_messages_out_total", "chat_fanout_deliveries_total", "chat_send_queue_drops_total",
                           "chat_delivery_latency_seconds_bucket", "chat_store_latency_seconds_count"}) {
    INFO(name);
    CHECK(text.find(std::string("\n") + name) != std::string::npos);
  }
  CHECK(MetricValue(s.port(), "chat_devices_online") == 2);
  CHECK(MetricValue(s.port(), "chat_messages_in_total") == 1);
  CHECK(MetricValue(s.port(), "chat_messages_out_total") >= 1);
  CHECK(MetricValue(s.port(), "chat_fanout_deliveries_total") >= 2);
}

}  // namespace
}  // namespace chat::test
