// The edges of protocol v1 a client writer asked about (issue 15), as docs/protocol.md now states them:
// which request ids are accepted, the close frame of an idle timeout, a message's kind against its
// attachments, history's limits, sync past the head, and one token resumed on two connections.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_server.h"

using namespace chat;
using namespace chat::test;
using Json = nlohmann::json;

TEST_CASE("request ids: a string of 1 to 128 bytes or an integer from 0 to 2^64-1", "[protocol][integration]") {
  TestServer s;
  auto ws = RawAfterHello(s.port());
  for (const std::string& ok_id : std::vector<std::string>{"0", "18446744073709551615", "\"x\"", "\"" + std::string(128, 'i') + "\""}) {
    INFO(ok_id);
    const Json r = Json::parse(ws->Call(R"({"id":)" + ok_id + R"(,"cmd":"ping"})"));
    CHECK(r.at("ok") == true);
    CHECK(r.at("id") == Json::parse(ok_id));
  }
  for (const std::string& bad_id : std::vector<std::string>{"-1", "\"\"", "\"" + std::string(129, 'i') + "\"", "1.5", "true", "[1]", "null"}) {
    INFO(bad_id);
    const Json r = Json::parse(ws->Call(R"({"id":)" + bad_id + R"(,"cmd":"ping"})"));
    CHECK(r.at("ok") == false);
    CHECK(r.at("id").is_null());
    CHECK(r.at("error").at("code") == "bad_request");
  }
  // The connection keeps serving.
  CHECK(Json::parse(ws->Call(R"({"id":1,"cmd":"ping"})")).at("ok") == true);
}

TEST_CASE("an idle connection is closed with a close frame: 1001 idle timeout", "[protocol][integration]") {
  TestServer s({"--idle-timeout-ms", "600"});
  RawWebSocket mute(s.port());  // Upgraded, then silent: it answers neither the ping nor anything else.
  const auto start = std::chrono::steady_clock::now();
  RawWebSocket::Frame f;
  do {
    f = mute.Read(std::chrono::seconds(5));
  } while (f.opcode == 9);  // The server's ping first.
  REQUIRE(f.opcode == 8);
  REQUIRE(f.payload.size() >= 2);
  const int code = (static_cast<unsigned char>(f.payload[0]) << 8) | static_cast<unsigned char>(f.payload[1]);
  CHECK(code == 1001);
  CHECK(f.payload.substr(2) == "idle timeout");
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(500));
  // The server does not wait long for an answer to its close from a peer that says nothing.
  CHECK(mute.WaitForEnd(std::chrono::seconds(3)));
}

TEST_CASE("a message's kind matches its attachments", "[protocol][integration]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  LiveDevice alice = LoginDevice(s.chatd(), "alice", "a");
  auto chat = alice.client->CreateGroup("g", {});
  REQUIRE_OK(chat);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'p');
  auto image = alice.client->UploadAttachment(AttachmentKind::kImage, "image/png", png);
  REQUIRE_OK(image);
  auto send = [&](const std::string& client_id, Json extra) {
    Json args{{"chatId", chat->id}, {"clientId", client_id}, {"body", "x"}};
    args.update(extra);
    return alice.client->Call("sendMessage", args.dump());
  };
  // An image with no attachment; text with one; a video carrying an image.
  Reply no_attachment = send("k1", {{"kind", "image"}});
  CHECK(no_attachment.code == "invalid_argument");
  CHECK(no_attachment.message.find("needs at least one attachment") != std::string::npos);
  Reply text_with = send("k2", {{"attachments", {image->id}}});
  CHECK(text_with.code == "invalid_argument");
  Reply wrong_kind = send("k3", {{"kind", "video"}, {"attachments", {image->id}}});
  CHECK(wrong_kind.code == "invalid_argument");
  CHECK(wrong_kind.message.find("is of kind image, not video") != std::string::npos);
  CHECK(send("k4", {{"kind", "image"}, {"attachments", {image->id}}}).ok);
  // Nothing but the good one was appended.
  CHECK(SyncAll(*alice.client, chat->id).size() == 2);
}

TEST_CASE("history: default 100, at most maxPage, limit 0 and before 0 mean the defaults, sync past the head is empty",
          "[protocol][integration]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  LiveDevice alice = LoginDevice(s.chatd(), "alice", "a");
  auto chat = alice.client->CreateGroup("g", {});
  REQUIRE_OK(chat);
  for (int i = 0; i < 120; ++i) REQUIRE_OK(alice.client->SendMessage(chat->id, "m" + std::to_string(i), "x"));
  auto history = [&](Json extra) {
    Json args{{"chatId", chat->id}};
    if (extra.is_object()) args.update(extra);
    Reply r = alice.client->Call("history", args.dump());
    REQUIRE(r.ok);
    return Json::parse(r.result);
  };
  CHECK(history({}).at("messages").size() == 100);
  CHECK(history({{"limit", 0}}).at("messages").size() == 100);
  CHECK(history({{"limit", 0}, {"before", 0}}).at("messages").front().at("seq") == 121);
  const Json all = history({{"limit", 100000}});  // Clamped to maxPage (500): all 121 fit.
  CHECK(all.at("messages").size() == 121);
  CHECK(all.at("hasMore") == false);
  const Json page = history({{"limit", 20}, {"before", 50}});
  CHECK(page.at("messages").size() == 20);
  CHECK(page.at("messages").front().at("seq") == 49);
  CHECK(page.at("hasMore") == true);

  // A sync cursor past the head: ok and empty, the head told.
  Reply past = alice.client->Call("sync", Json{{"chats", {{std::to_string(chat->id), 5000}}}}.dump());
  REQUIRE(past.ok);
  const Json p = Json::parse(past.result).at("chats").at(0);
  CHECK(p.at("messages").empty());
  CHECK(p.at("head") == 121);
  CHECK(p.at("hasMore") == false);
  // ack past the head is the error (it would claim entries that do not exist).
  CHECK(alice.client->Call("ack", Json{{"chatId", chat->id}, {"seq", 5000}}.dump()).code == "invalid_argument");
}

TEST_CASE("one token resumed on two connections: both stay open and both get every event", "[protocol][integration]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob_id = RegisterUser(s.chatd(), "bob");
  LiveDevice first = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice second = ResumeDevice(s.chatd(), first.session);
  LiveDevice bob = LoginDevice(s.chatd(), "bob", "b");
  auto chat = bob.client->CreateDirect(first.user());
  REQUIRE_OK(chat);
  REQUIRE_OK(bob.client->SendMessage(chat->id, "b1", "to both"));
  CHECK(WaitForMessage(*first.client, chat->id, 2));
  CHECK(WaitForMessage(*second.client, chat->id, 2));
  CHECK(first.client->connected());
  CHECK(second.client->connected());
  (void)bob_id;
}
