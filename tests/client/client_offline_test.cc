// chat::Client with a local store (ClientOptions::local_store) against a real chatd: what it holds is
// readable with the server down (also by a new Client on the same store), and what is posted while the
// server is down is delivered once, in order, after it restarts.
#include <catch2/catch.hpp>

#include "libchat/client.h"
#include "test_server.h"

using namespace chat;
using namespace chat::test;

namespace {

ClientOptions WithStore(const TempDir& dir) {
  ClientOptions o;
  o.local_store = "leveldb://" + dir.str() + "/local";
  o.connect_timeout = std::chrono::milliseconds(2000);
  return o;
}

std::vector<std::string> Bodies(const std::vector<Message>& messages) {
  std::vector<std::string> out;
  for (const Message& m : messages) {
    if (m.kind == MessageKind::kText) out.push_back(m.body);
  }
  return out;
}

}  // namespace

TEST_CASE("the local copy is readable while the server is down, by this client and by a new one",
          "[client][offline][integration]") {
  TestServer server;
  RegisterUser(server.chatd(), "alice");
  const UserId bob_id = RegisterUser(server.chatd(), "bob");
  TempDir store;
  ChatId chat = 0;
  {
    auto alice = Client::Open("127.0.0.1", server.port(), WithStore(store));
    REQUIRE_OK(alice);
    REQUIRE_OK((*alice)->Login("alice", PasswordOf("alice"), "terminal"));
    auto group = (*alice)->CreateGroup("Weekend", {bob_id});
    REQUIRE_OK(group);
    chat = group->id;
    REQUIRE_OK((*alice)->Synchronize());
    LiveDevice bob = LoginDevice(server.chatd(), "bob", "phone");
    Seq last = 0;
    for (const char* text : {"one", "two", "three"}) {
      auto sent = bob.client->SendMessage(chat, std::string("b-") + text, text);
      REQUIRE_OK(sent);
      last = sent->message.seq;
    }
    // Live: alice's client stores what arrives as it arrives.
    REQUIRE(WaitForMessage(**alice, chat, last));
    REQUIRE_OK((*alice)->SendMessage(chat, "a-1", "four"));

    server.chatd().Kill9();
    REQUIRE((*alice)->WaitForClose(kWait));
    CHECK_FALSE((*alice)->connected());
    auto messages = (*alice)->LocalMessages(chat);
    REQUIRE_OK(messages);
    CHECK(Bodies(*messages) == std::vector<std::string>{"one", "two", "three", "four"});
    // Entries in seq order, without a gap, the creation entry first.
    for (std::size_t i = 0; i < messages->size(); ++i) CHECK((*messages)[i].seq == i + 1);
  }
  // A new client (a restarted program) on the same store, with the server still down.
  auto again = Client::Open("127.0.0.1", server.port(), WithStore(store));
  REQUIRE_OK(again);
  CHECK_FALSE((*again)->connected());
  auto session = (*again)->LocalSession();
  REQUIRE_OK(session);
  CHECK(session->user.username == "alice");
  CHECK_FALSE(session->token.empty());
  auto chats = (*again)->LocalChats();
  REQUIRE_OK(chats);
  REQUIRE(chats->size() == 1);
  CHECK(chats->front().chat.name == "Weekend");
  REQUIRE(chats->front().last_message);
  CHECK(chats->front().last_message->body == "four");
  auto messages = (*again)->LocalMessages(chat, 2);
  REQUIRE_OK(messages);
  CHECK(Bodies(*messages) == std::vector<std::string>{"three", "four"});
  auto older = (*again)->LocalMessages(chat, 10, messages->front().seq);
  REQUIRE_OK(older);
  CHECK(Bodies(*older) == std::vector<std::string>{"one", "two"});
  // LastSeq starts from the stored cursor: what it holds is not taken for new.
  CHECK((*again)->LastSeq(chat) == 5);
  // Commands that need the server say so.
  CHECK_CODE((*again)->ListChats(), StatusCode::kUnavailable);
}

TEST_CASE("messages posted while the server is down are delivered once, in order, after it restarts",
          "[client][offline][integration]") {
  TestServer server;
  RegisterUser(server.chatd(), "alice");
  const UserId bob_id = RegisterUser(server.chatd(), "bob");
  TempDir store;
  auto opened = Client::Open("127.0.0.1", server.port(), WithStore(store));
  REQUIRE_OK(opened);
  Client& alice = **opened;
  auto session = alice.Login("alice", PasswordOf("alice"), "terminal");
  REQUIRE_OK(session);
  auto direct = alice.CreateDirect(bob_id);
  REQUIRE_OK(direct);
  const ChatId chat = direct->id;
  REQUIRE_OK(alice.Post(chat, "before"));
  auto outbox = alice.LocalOutbox();
  REQUIRE_OK(outbox);
  CHECK(outbox->empty());  // Connected: sent at once.

  server.chatd().Kill9();
  REQUIRE(alice.WaitForClose(kWait));
  auto first = alice.Post(chat, "first while down");
  auto second = alice.Post(chat, "second while down");
  REQUIRE_OK(first);
  REQUIRE_OK(second);
  outbox = alice.LocalOutbox();
  REQUIRE_OK(outbox);
  REQUIRE(outbox->size() == 2);
  CHECK((*outbox)[0].body == "first while down");
  CHECK((*outbox)[1].client_id == *second);
  CHECK_CODE(alice.Reconnect(), StatusCode::kUnavailable);  // Still down.

  server.Restart();
  SECTION("the outbox goes out on Reconnect") {}
  SECTION("even when the first message had reached the server before the crash") {
    // The same device sends the first one itself (say its answer was lost): the outbox's resend with
    // the same client id then appends nothing.
    auto other = server.chatd().Connect();
    REQUIRE_OK(other->Resume(session->token));
    auto sent = other->SendMessage(chat, *first, "first while down");
    REQUIRE_OK(sent);
    CHECK_FALSE(sent->duplicate);
  }
  REQUIRE_OK(alice.Reconnect("127.0.0.1", server.port()));
  CHECK(alice.connected());
  outbox = alice.LocalOutbox();
  REQUIRE_OK(outbox);
  CHECK(outbox->empty());

  const std::vector<std::string> expected = {"before", "first while down", "second while down"};
  LiveDevice bob = LoginDevice(server.chatd(), "bob", "phone");
  CHECK(Bodies(SyncAll(*bob.client, chat)) == expected);
  auto mine = alice.LocalMessages(chat);
  REQUIRE_OK(mine);
  CHECK(Bodies(*mine) == expected);
  // Flushing again sends nothing more.
  REQUIRE_OK(alice.FlushOutbox());
  CHECK(Bodies(SyncAll(*bob.client, chat)) == expected);
}

TEST_CASE("a message the server refuses for good stays in the outbox, marked, and does not block the rest",
          "[client][offline][integration]") {
  TestServer server;
  RegisterUser(server.chatd(), "alice");
  const UserId bob_id = RegisterUser(server.chatd(), "bob");
  TempDir store;
  auto opened = Client::Open("127.0.0.1", server.port(), WithStore(store));
  REQUIRE_OK(opened);
  Client& alice = **opened;
  REQUIRE_OK(alice.Login("alice", PasswordOf("alice"), "terminal"));
  auto direct = alice.CreateDirect(bob_id);
  REQUIRE_OK(direct);
  REQUIRE_OK(alice.Post(999999, "to a chat that does not exist"));
  REQUIRE_OK(alice.Post(direct->id, "fine"));
  auto outbox = alice.LocalOutbox();
  REQUIRE_OK(outbox);
  REQUIRE(outbox->size() == 1);
  CHECK(outbox->front().error.find("permission_denied") == 0);
  REQUIRE_OK(alice.RemoveFromOutbox(outbox->front().client_id));
  auto messages = alice.LocalMessages(direct->id);
  REQUIRE_OK(messages);
  CHECK(Bodies(*messages) == std::vector<std::string>{"fine"});

  // Without a local store, the offline calls say so.
  auto plain = server.chatd().Connect();
  CHECK_CODE(plain->LocalChats(), StatusCode::kNotSupported);
  CHECK_CODE(plain->Post(direct->id, "x"), StatusCode::kNotSupported);
}
