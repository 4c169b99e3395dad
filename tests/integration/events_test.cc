// Events besides newMessage: coalesced receipts, typing, deletions, membership changes.
#include <map>
#include <nlohmann/json.hpp>

#include "test_server.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;

TEST_CASE("receipts of one chat are coalesced into one event per window", "[integration][events]") {
  constexpr int kWindowMs = 250;
  TestServer s({"--receipt-interval-ms", std::to_string(kWindowMs)});
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  const UserId carol = RegisterUser(s.chatd(), "carol");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  LiveDevice c = LoginDevice(s.chatd(), "carol", "c");
  auto chat = a.client->CreateGroup("receipts", {bob, carol});
  REQUIRE_OK(chat);
  auto sent = a.client->SendMessage(chat->id, "m", "did you get it?");
  REQUIRE_OK(sent);
  const Seq seq = sent->message.seq;
  REQUIRE(WaitForMessage(*b.client, chat->id, seq));
  REQUIRE(WaitForMessage(*c.client, chat->id, seq));
  a.client->TakeEvents();

  // Four cursor moves (delivered and read, for two users) in quick succession.
  const auto start = std::chrono::steady_clock::now();
  REQUIRE_OK(b.client->Ack(chat->id, seq));
  REQUIRE_OK(c.client->Ack(chat->id, seq));
  REQUIRE_OK(b.client->MarkRead(chat->id, seq));
  REQUIRE_OK(c.client->MarkRead(chat->id, seq));
  const auto elapsed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();

  // The sender learns the latest cursors of both, in fewer events than moves.
  std::map<UserId, std::pair<Seq, Seq>> latest;  // user -> (delivered, read)
  int events = 0;
  std::string seen_data;
  while (latest[bob].second != seq || latest[carol].second != seq) {
    auto e = a.client->WaitForEvent(
        [&](const ClientEvent& ev) { return ev.name == "receipt" && ev.chat == chat->id; }, kWait);
    if (!e) FAIL("events so far: " << seen_data);
    seen_data += e->data + "\n";
    ++events;
    const Json data = Json::parse(e->data);  // Named: a range-for over a temporary's member dangles.
    for (const Json& r : data.at("receipts")) {
      latest[r.at("userId").get<UserId>()] = {r.at("delivered").get<Seq>(), r.at("read").get<Seq>()};
    }
  }
  CHECK(latest[bob] == std::make_pair(seq, seq));
  CHECK(latest[carol] == std::make_pair(seq, seq));
  INFO("receipt events: " << events << ", moves took " << elapsed_ms << " ms");
  CHECK(events < 4);
  // All four moves within one window arrive as one event.
  if (elapsed_ms < kWindowMs) CHECK(events == 1);
}

TEST_CASE("typing reaches the other devices but not the typist's own", "[integration][events]") {
  TestServer s;
  const UserId alice = RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a1 = LoginDevice(s.chatd(), "alice", "a1");
  LiveDevice a2 = LoginDevice(s.chatd(), "alice", "a2");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  auto chat = a1.client->CreateDirect(bob);
  REQUIRE_OK(chat);

  REQUIRE_OK(a1.client->Typing(chat->id, true));
  auto is_typing = [&](const ClientEvent& e) { return e.name == "typing" && e.chat == chat->id && e.user == alice; };
  auto seen = b.client->WaitForEvent(is_typing, kWait);
  REQUIRE(seen);
  CHECK(Json::parse(seen->data).at("typing") == true);
  REQUIRE(a2.client->WaitForEvent(is_typing, kWait));
  // The router skipped a1 in the same fan-out that reached the others.
  for (const auto& e : a1.client->TakeEvents()) CHECK(e.name != "typing");
}

TEST_CASE("deleting a message tells every member and leaves a tombstone", "[integration][events]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  auto chat = a.client->CreateGroup("oops", {bob});
  REQUIRE_OK(chat);
  auto sent = a.client->SendMessage(chat->id, "m", "regrettable");
  REQUIRE_OK(sent);
  auto entry = a.client->DeleteMessage(chat->id, sent->message.seq);
  REQUIRE_OK(entry);
  CHECK(entry->kind == MessageKind::kDeletion);
  CHECK(entry->ref_seq == sent->message.seq);

  auto e = b.client->WaitForEvent([&](const ClientEvent& ev) { return ev.name == "messageDeleted"; }, kWait);
  REQUIRE(e);
  CHECK(e->chat == chat->id);
  CHECK(Json::parse(e->data).at("seq") == sent->message.seq);
  CHECK(e->seq == entry->seq);
  auto history = b.client->History(chat->id);
  REQUIRE_OK(history);
  bool tombstone = false;
  for (const auto& m : *history) {
    if (m.seq == sent->message.seq) tombstone = m.deleted && m.body.empty();
  }
  CHECK(tombstone);
}

TEST_CASE("membership changes reach old and new members as chatUpdate", "[integration][events]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  const UserId carol = RegisterUser(s.chatd(), "carol");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  LiveDevice c = LoginDevice(s.chatd(), "carol", "c");
  auto chat = a.client->CreateGroup("growing", {bob});
  REQUIRE_OK(chat);

  Reply added = a.client->Call("modifyParticipants", R"({"chatId":)" + std::to_string(chat->id) + R"(,"add":[)" +
                                                         std::to_string(carol) + "]}");
  REQUIRE(added.ok);
  const Seq seq = Json::parse(added.result).at("entry").at("seq").get<Seq>();
  auto is_update = [&](const ClientEvent& e) { return e.name == "chatUpdate" && e.chat == chat->id && e.seq == seq; };
  REQUIRE(b.client->WaitForEvent(is_update, kWait));
  REQUIRE(c.client->WaitForEvent(is_update, kWait));
  auto chats = c.client->ListChats();
  REQUIRE_OK(chats);
  REQUIRE(chats->size() == 1);
  CHECK(chats->at(0).chat.name == "growing");
}

}  // namespace
}  // namespace chat::test
