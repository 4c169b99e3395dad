// Reading server frames without a JSON document (tools/chat-loadgen/json_scan.h, frames.h) and the
// message body stamp (body.h).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "body.h"
#include "frames.h"
#include "json_scan.h"

namespace chat::loadgen {
namespace {

TEST_CASE("scanner: reads nested values and skips the rest", "[loadgen][json]") {
  JsonScanner s(R"( {"a": [1, {"x": "]}"}, "s\"q"], "b" : -42, "c": true, "d": null, "e": 18446744073709551615} )");
  REQUIRE(s.EnterObject());
  std::string_view key;
  REQUIRE(s.NextKey(&key));
  CHECK(key == "a");
  REQUIRE(s.SkipValue());
  REQUIRE(s.NextKey(&key));
  CHECK(key == "b");
  std::int64_t b = 0;
  REQUIRE(s.ReadInt(&b));
  CHECK(b == -42);
  REQUIRE(s.NextKey(&key));
  bool c = false;
  REQUIRE(s.ReadBool(&c));
  CHECK(c);
  REQUIRE(s.NextKey(&key));
  CHECK(s.ReadNull());
  REQUIRE(s.NextKey(&key));
  std::uint64_t e = 0;
  REQUIRE(s.ReadUint(&e));
  CHECK(e == 18446744073709551615ULL);
  CHECK_FALSE(s.NextKey(&key));
  CHECK(s.ok());
}

TEST_CASE("scanner: a wrong type consumes nothing", "[loadgen][json]") {
  JsonScanner s(R"({"n": "text", "m": 1.5})");
  REQUIRE(s.EnterObject());
  std::string_view key;
  REQUIRE(s.NextKey(&key));
  std::uint64_t n = 0;
  CHECK_FALSE(s.ReadUint(&n));
  std::string_view text;
  REQUIRE(s.ReadString(&text));
  CHECK(text == "text");
  REQUIRE(s.NextKey(&key));
  CHECK_FALSE(s.ReadUint(&n));  // Not an integer.
  REQUIRE(s.SkipValue());
  CHECK_FALSE(s.NextKey(&key));
  CHECK(s.ok());
}

TEST_CASE("scanner: malformed input fails without looping", "[loadgen][json]") {
  for (const char* bad : {"{\"a\":", "{\"a\" 1}", "{\"a\":\"unterminated}", "{\"a\":[1,2", "{\"a\":}", "{1:2}", ""}) {
    INFO(bad);
    JsonScanner s(bad);
    if (!s.EnterObject()) continue;
    std::string_view key;
    int steps = 0;
    while (s.NextKey(&key) && ++steps < 10) s.SkipValue();
    CHECK_FALSE(s.ok());
  }
}

TEST_CASE("frames: a newMessage event, keys in chatd's (sorted) order", "[loadgen][frames]") {
  const std::string text =
      R"({"data":{"message":{"attachments":[],"body":"lg1 123 4 5 xx","chatId":12,"clientId":"c-1",)"
      R"("deleted":false,"id":"9f0c","kind":"text","refSeq":0,"replyTo":0,"sender":1,"senderDevice":7,)"
      R"("seq":41,"timestamp":1714557600123}},"event":"newMessage"})";
  const ServerFrame f = ParseServerFrame(text);
  REQUIRE(f.type == ServerFrame::Type::kNewMessage);
  CHECK(f.message.chat == 12);
  CHECK(f.message.seq == 41);
  CHECK(f.message.body == "lg1 123 4 5 xx");
}

TEST_CASE("frames: a newMessage event, keys in the documented order", "[loadgen][frames]") {
  const std::string text = R"({"event": "newMessage", "data": {"message": {"chatId": 3, "seq": 9, "body": "hi"}}})";
  const ServerFrame f = ParseServerFrame(text);
  REQUIRE(f.type == ServerFrame::Type::kNewMessage);
  CHECK(f.message.chat == 3);
  CHECK(f.message.seq == 9);
  CHECK(f.message.body == "hi");
}

TEST_CASE("frames: other events are told apart", "[loadgen][frames]") {
  CHECK(ParseServerFrame(R"({"data":{"chatId":12,"entry":{"seq":43,"body":"{\"a\":1}"}},"event":"chatUpdate"})").type ==
        ServerFrame::Type::kOtherEvent);
  CHECK(ParseServerFrame(R"({"data":{"userId":2,"online":true,"lastSeen":null},"event":"presence"})").type ==
        ServerFrame::Type::kOtherEvent);
  CHECK(ParseServerFrame("not json").type == ServerFrame::Type::kMalformed);
  CHECK(ParseServerFrame(R"({"hello": 1})").type == ServerFrame::Type::kMalformed);
}

TEST_CASE("frames: responses, ok and error", "[loadgen][frames]") {
  const ServerFrame ok = ParseServerFrame(
      R"({"id":7,"ok":true,"result":{"duplicate":false,"messageId":"9f0c","seq":41,"timestamp":1714557600123}})");
  REQUIRE(ok.type == ServerFrame::Type::kResponse);
  CHECK(ok.id == 7);
  CHECK(ok.ok);
  std::uint64_t seq = 0;
  REQUIRE(ParseSendResult(ok.result, &seq));
  CHECK(seq == 41);

  const ServerFrame err = ParseServerFrame(
      R"({"error":{"code":"resource_exhausted","message":"server busy","retryAfterMs":100},"id":8,"ok":false})");
  REQUIRE(err.type == ServerFrame::Type::kResponse);
  CHECK(err.id == 8);
  CHECK_FALSE(err.ok);
  CHECK(err.error_code == "resource_exhausted");
  CHECK(err.retry_after_ms == 100);

  const ServerFrame null_id = ParseServerFrame(R"({"error":{"code":"bad_request","message":"x"},"id":null,"ok":false})");
  REQUIRE(null_id.type == ServerFrame::Type::kResponse);
  CHECK(null_id.id == -1);
}

class Collect : public SyncVisitor {
 public:
  void OnSyncedMessage(const MessageView& m) override { seen.push_back({m.chat, m.seq}); }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
};

TEST_CASE("frames: sync results, several chats and pages", "[loadgen][frames]") {
  const std::string result =
      R"({"chats":[{"chatId":12,"hasMore":true,"head":50,"messages":[{"body":"a","chatId":12,"seq":39},)"
      R"({"body":"b","chatId":12,"seq":40}]},{"chatId":15,"hasMore":false,"head":3,"messages":[]}],"more":true})";
  Collect c;
  std::vector<SyncPage> pages;
  REQUIRE(ParseSyncResult(result, c, &pages));
  REQUIRE(pages.size() == 2);
  CHECK(pages[0].chat == 12);
  CHECK(pages[0].has_more);
  CHECK(pages[0].head == 50);
  CHECK(pages[0].last_seq == 40);
  CHECK(pages[1].chat == 15);
  CHECK_FALSE(pages[1].has_more);
  CHECK(pages[1].last_seq == 0);
  CHECK(c.seen == std::vector<std::pair<std::uint64_t, std::uint64_t>>{{12, 39}, {12, 40}});
}

TEST_CASE("frames: requests are valid JSON with the protocol's fields", "[loadgen][frames]") {
  using Json = nlohmann::json;
  const Json send = Json::parse(EncodeSendMessage(5, 12, "abc-1", "lg1 \"quoted\"\n"));
  CHECK(send["id"] == 5);
  CHECK(send["cmd"] == "sendMessage");
  CHECK(send["chatId"] == 12);
  CHECK(send["clientId"] == "abc-1");
  CHECK(send["body"] == "lg1 \"quoted\"\n");
  const Json sync = Json::parse(EncodeSync(6, {{12, 38}, {15, 0}}, 500));
  CHECK(sync["chats"]["12"] == 38);
  CHECK(sync["chats"]["15"] == 0);
  CHECK(sync["limit"] == 500);
  const Json group = Json::parse(EncodeCreateGroup(7, "g", {2, 3}, 200));
  CHECK(group["kind"] == "group");
  CHECK(group["members"] == Json::array({2, 3}));
  CHECK(group["memberLimit"] == 200);
  CHECK_FALSE(Json::parse(EncodeCreateGroup(8, "g", {2}, 0)).contains("memberLimit"));
  const Json login = Json::parse(EncodeLogin(9, "u", "p", "d"));
  CHECK(login["device"]["kind"] == "loadgen");
  CHECK(Json::parse(EncodeResume(10, "tok"))["token"] == "tok");
  CHECK(Json::parse(EncodeHello(1))["version"] == 1);
}

TEST_CASE("frames: setup results", "[loadgen][frames]") {
  LoginResult login;
  REQUIRE(ParseLoginResult(R"({"device":{"id":7},"token":"k2V","user":{"id":1,"username":"a"}})", &login));
  CHECK(login.user == 1);
  CHECK(login.device == 7);
  CHECK(login.token == "k2V");
  CHECK_FALSE(ParseLoginResult(R"({"user":{"id":1}})", &login));
  std::uint64_t chat = 0, head = 0;
  REQUIRE(ParseCreateChatResult(R"({"chat":{"id":12,"kind":"group"}})", &chat));
  CHECK(chat == 12);
  REQUIRE(ParseGetChatResult(R"({"chat":{"id":12},"head":41,"participants":[]})", &head));
  CHECK(head == 41);
  CHECK_FALSE(ParseGetChatResult("{oops", &head));
}

TEST_CASE("body: the stamp survives the round trip and padding", "[loadgen][body]") {
  const BodyStamp in{1234567890123456789, 4321, 99};
  const std::string body = EncodeBody(in, 200);
  CHECK(body.size() == 200);
  BodyStamp out;
  REQUIRE(DecodeBody(body, &out));
  CHECK(out.scheduled_ns == in.scheduled_ns);
  CHECK(out.sender == in.sender);
  CHECK(out.number == in.number);
  // Never shorter than the stamp.
  CHECK(DecodeBody(EncodeBody(in, 1), &out));
  CHECK_FALSE(DecodeBody("hello", &out));
  CHECK_FALSE(DecodeBody("lg1 12 x 3 ", &out));
}

}  // namespace
}  // namespace chat::loadgen
