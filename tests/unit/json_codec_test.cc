// The JSON forms of every entity (libchat/codec): the protocol's bytes pinned as docs/protocol.md and
// the web app read them, the admin API's fields, and decoding back with typed errors for wrong types.
#include <nlohmann/json.hpp>

#include "json_codec.h"
#include "test_support.h"

namespace chat::codec {
namespace {

User SampleUser() {
  User u;
  u.id = 7;
  u.username = "alice";
  u.display_name = "Alice";
  u.email = "a@example.org";
  u.password_hash = "$argon2id$secret";
  u.avatar_url = "https://example.org/a.png";
  u.created_at = 1700000000000;
  u.disabled = true;
  u.last_seen_visibility = LastSeenVisibility::kChatPartners;
  return u;
}

Device SampleDevice() {
  Device d;
  d.id = 9;
  d.user = 7;
  d.kind = "phone";
  d.name = "Pixel";
  d.push_provider = "fcm";
  d.push_token = "push-secret";
  d.token_hash = "hash-secret";
  d.token_expires_at = 1800000000000;
  d.created_at = 1700000000001;
  d.last_seen = 1700000000002;
  return d;
}

Chat SampleChat() {
  Chat c;
  c.id = 3;
  c.kind = ChatKind::kGroup;
  c.name = "team";
  c.metadata = R"({"topic":"x"})";
  c.member_limit = 50;
  c.retention_ms = 86400000;
  c.created_by = 7;
  c.created_at = 1700000000003;
  return c;
}

Message SampleMessage() {
  Message m;
  m.chat = 3;
  m.seq = 12;
  m.id = "0123456789abcdef0123456789abcdef";
  m.sender = 7;
  m.sender_device = 9;
  m.client_id = "c-1";
  m.kind = MessageKind::kImage;
  m.body = "caf\xc3\xa9 \"quoted\"\n";
  m.attachments = {"a1", "a2"};
  m.reply_to = 11;
  m.ref_seq = 0;
  m.timestamp = 1700000000004;
  m.deleted = false;
  return m;
}

}  // namespace

// The protocol's bytes: nlohmann::json's sorted keys, as every earlier server sent them.
TEST_CASE("codec: the protocol's form of each entity, byte for byte", "[unit][codec]") {
  CHECK(Dump(ToJson(SampleMessage(), kWire)) ==
        R"({"attachments":["a1","a2"],"body":"café \"quoted\"\n","chatId":3,"clientId":"c-1","deleted":false,)"
        R"("id":"0123456789abcdef0123456789abcdef","kind":"image","refSeq":0,"replyTo":11,"sender":7,)"
        R"("senderDevice":9,"seq":12,"timestamp":1700000000004})");
  CHECK(Dump(ToJson(SampleUser(), kWire)) ==
        R"({"avatarUrl":"https://example.org/a.png","createdAt":1700000000000,"displayName":"Alice","id":7,)"
        R"("username":"alice"})");
  CHECK(Dump(ToJson(SampleUser(), kOwn)) ==
        R"({"avatarUrl":"https://example.org/a.png","createdAt":1700000000000,"displayName":"Alice",)"
        R"("email":"a@example.org","id":7,"lastSeenVisibility":"chat_partners","username":"alice"})");
  CHECK(Dump(ToJson(SampleDevice(), kWire)) ==
        R"({"createdAt":1700000000001,"id":9,"kind":"phone","lastSeen":1700000000002,"name":"Pixel",)"
        R"("pushProvider":"fcm"})");
  CHECK(Dump(ToJson(SampleChat(), kWire)) ==
        R"({"createdAt":1700000000003,"createdBy":7,"id":3,"kind":"group","memberLimit":50,)"
        R"("metadata":"{\"topic\":\"x\"}","name":"team","retentionMs":86400000})");
  CHECK(Dump(ToJson(Participant{3, 7, Role::kOwner, 1700000000005, 4}, kWire)) ==
        R"({"joinedAt":1700000000005,"joinedSeq":4,"role":"owner","userId":7})");
  // A chat's receipts name the user; the reader's own cursor (ack, markRead) names the chat.
  CHECK(Dump(ToJson(ReceiptCursor{3, 7, 10, 8}, kWire)) == R"({"delivered":10,"read":8,"userId":7})");
  CHECK(Dump(ToJson(ReceiptCursor{3, 7, 10, 8}, kOwn)) == R"({"chatId":3,"delivered":10,"read":8})");
  CHECK(Dump(ToJson(UserBlock{7, 8, 1700000000006}, kOwn)) == R"({"since":1700000000006,"userId":8})");
  Attachment a;
  a.id = "fedcba9876543210fedcba9876543210";
  a.uploader = 7;
  a.kind = AttachmentKind::kImage;
  a.mime = "image/png";
  a.size = 1234;
  a.sha256 = std::string(64, 'a');
  a.state = AttachmentState::kComplete;
  a.created_at = 1700000000007;
  a.completed_at = 1700000000008;
  CHECK(Dump(ToJson(a, kWire)) ==
        R"({"createdAt":1700000000007,"id":"fedcba9876543210fedcba9876543210","kind":"image",)"
        R"("mimeType":"image/png","sha256":")" + std::string(64, 'a') +
            R"(","size":1234,"state":"complete","uploaderId":7})");
  ChatSummary s;
  s.chat = SampleChat();
  s.role = Role::kAdmin;
  s.head = 12;
  s.read = 10;
  s.unread = 2;
  CHECK(Dump(ToJson(s, kWire)) == R"({"chat":)" + Dump(ToJson(SampleChat(), kWire)) +
                                      R"(,"head":12,"lastMessage":null,"read":10,"role":"admin","unread":2})");
  s.last_message = SampleMessage();
  CHECK(ToJson(s, kWire).at("lastMessage") == ToJson(SampleMessage(), kWire));
  Session session{SampleUser(), SampleDevice(), "tok", "hash"};
  CHECK(Dump(ToJson(session, kOwn)) == R"({"device":)" + Dump(ToJson(SampleDevice(), kOwn)) + R"(,"token":"tok","user":)" +
                                           Dump(ToJson(SampleUser(), kOwn)) + "}");
}

TEST_CASE("codec: no JSON form holds a secret", "[unit][codec]") {
  for (Form form : {kWire, kOwn, kAdmin}) {
    const std::string user = Dump(ToJson(SampleUser(), form));
    CHECK(user.find("secret") == std::string::npos);
    const std::string device = Dump(ToJson(SampleDevice(), form));
    CHECK(device.find("secret") == std::string::npos);
  }
}

// The admin API's fields, in the schema's order (docs/admin.md).
TEST_CASE("codec: the admin form of each entity", "[unit][codec]") {
  CHECK(ToOrderedJson(SampleUser(), kAdmin).dump() ==
        R"({"id":7,"username":"alice","displayName":"Alice","email":"a@example.org",)"
        R"("avatarUrl":"https://example.org/a.png","createdAt":1700000000000,"disabled":true,)"
        R"("lastSeenVisibility":"chat_partners"})");
  CHECK(ToOrderedJson(SampleDevice(), kAdmin).dump() ==
        R"({"id":9,"userId":7,"kind":"phone","name":"Pixel","pushProvider":"fcm",)"
        R"("sessionExpiresAt":1800000000000,"createdAt":1700000000001,"lastSeen":1700000000002})");
  // Chats are listed without their metadata.
  CHECK(ToOrderedJson(SampleChat(), kAdmin).dump() ==
        R"({"id":3,"kind":"group","name":"team","memberLimit":50,"retentionMs":86400000,"createdBy":7,)"
        R"("createdAt":1700000000003})");
  // Messages without their content.
  CHECK(ToOrderedJson(SampleMessage(), kAdmin).dump() ==
        R"({"seq":12,"id":"0123456789abcdef0123456789abcdef","sender":7,"senderDevice":9,"kind":"image",)"
        R"("replyTo":11,"refSeq":0,"timestamp":1700000000004,"deleted":false})");
  CHECK(ToOrderedJson(UserBan{7, 1700000000009, "spam"}, kAdmin).dump() ==
        R"({"userId":7,"bannedAt":1700000000009,"banReason":"spam"})");
  SpamFlag f{7, 12.5, 1, 2, true, {"flood", "duplicate"}};
  CHECK(ToOrderedJson(f, kAdmin).dump() ==
        R"({"userId":7,"score":12.5,"flaggedAt":1,"updatedAt":2,"suspended":true,"reasons":["flood","duplicate"]})");
  SpamReport r{4, 8, 7, 3, 12, "ads", 5};
  CHECK(ToOrderedJson(r, kAdmin).dump() ==
        R"({"id":4,"reporterId":8,"senderId":7,"chatId":3,"seq":12,"reason":"ads","reportedAt":5})");
}

TEST_CASE("codec: what is encoded decodes to the same entity", "[unit][codec]") {
  auto m = FromJson<Message>(ToJson(SampleMessage(), kWire), kWire | kOwn);
  REQUIRE_OK(m);
  CHECK(Dump(ToJson(*m, kWire)) == Dump(ToJson(SampleMessage(), kWire)));
  Session session{SampleUser(), SampleDevice(), "tok", ""};
  auto s = FromJson<Session>(ToJson(session, kOwn), kWire | kOwn);
  REQUIRE_OK(s);
  CHECK(s->user.email == "a@example.org");
  CHECK(s->user.last_seen_visibility == LastSeenVisibility::kChatPartners);
  CHECK(s->user.password_hash.empty());
  CHECK(s->device.push_provider == "fcm");
  CHECK(s->token == "tok");
  ChatSummary summary;
  summary.chat = SampleChat();
  summary.last_message = SampleMessage();
  auto back = FromJson<ChatSummary>(ToJson(summary, kWire), kWire);
  REQUIRE_OK(back);
  REQUIRE(back->last_message.has_value());
  CHECK(back->last_message->body == SampleMessage().body);
  CHECK(back->chat.metadata == SampleChat().metadata);
}

TEST_CASE("codec: decoding keeps defaults for what is absent and refuses wrong types", "[unit][codec]") {
  using nlohmann::json;
  // Absent and null fields keep their defaults; an unknown kind (a newer server's) too.
  auto m = FromJson<Message>(json{{"seq", 5}, {"body", nullptr}, {"kind", "hologram"}}, kWire);
  REQUIRE_OK(m);
  CHECK(m->seq == 5);
  CHECK(m->body.empty());
  CHECK(m->kind == MessageKind::kText);

  auto wrong = FromJson<Message>(json{{"seq", "5"}}, kWire);
  CHECK_CODE(wrong, StatusCode::kInvalidArgument);
  CHECK(wrong.error().message() == "message.seq: expected a non-negative integer, got string");
  CHECK_CODE(FromJson<Message>(json{{"seq", -1}}, kWire), StatusCode::kInvalidArgument);
  CHECK_CODE(FromJson<Message>(json{{"attachments", {"a", 1}}}, kWire), StatusCode::kInvalidArgument);
  CHECK_CODE(FromJson<Message>(json::array(), kWire), StatusCode::kInvalidArgument);
  CHECK_CODE(FromJson<Chat>(json{{"memberLimit", 1ull << 40}}, kWire), StatusCode::kInvalidArgument);
  // A nested entity's error names its own field.
  auto nested = FromJson<ChatSummary>(json{{"chat", {{"name", 3}}}}, kWire);
  CHECK_CODE(nested, StatusCode::kInvalidArgument);
  CHECK(nested.error().message() == "chat.name: expected a string, got integer");
  // Fields of forms not asked for are not read.
  auto u = FromJson<User>(json{{"email", "x@example.org"}, {"disabled", true}}, kWire);
  REQUIRE_OK(u);
  CHECK(u->email.empty());
  CHECK_FALSE(u->disabled);
}

}  // namespace chat::codec
