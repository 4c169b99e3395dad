#include "codec.h"
#include "keys.h"
#include "test_support.h"

using namespace chat;
using namespace chat::detail;

TEST_CASE("every entity survives an encode/decode round trip", "[unit][codec]") {
  Message m;
  m.chat = 7;
  m.seq = 1ULL << 40;
  m.id = "00ff";
  m.sender = 3;
  m.sender_device = 9;
  m.client_id = "c-1";
  m.kind = MessageKind::kVideo;
  m.body = std::string("with\0nul", 8);
  m.attachments = {"a1", "a2"};
  m.reply_to = 5;
  m.ref_seq = 2;
  m.timestamp = -1;
  m.deleted = true;
  auto back = DecodeMessage(EncodeMessage(m));
  REQUIRE_OK(back);
  CHECK(back->seq == m.seq);
  CHECK(back->body == m.body);
  CHECK(back->attachments == m.attachments);
  CHECK(back->kind == MessageKind::kVideo);
  CHECK(back->timestamp == -1);
  CHECK(back->deleted);

  User u{42, "alice", "Alice", "a@x.org", "$argon2id$...", "https://x/a.png", 123, true, LastSeenVisibility::kNobody};
  auto ub = DecodeUser(EncodeUser(u));
  REQUIRE_OK(ub);
  CHECK(ub->username == "alice");
  CHECK(ub->disabled);
  CHECK(ub->last_seen_visibility == LastSeenVisibility::kNobody);

  Device d;
  d.id = 5;
  d.user = 42;
  d.push_token = "tok";
  d.token_expires_at = 99;
  auto db = DecodeDevice(EncodeDevice(d));
  REQUIRE_OK(db);
  CHECK(db->push_token == "tok");
  CHECK(db->token_expires_at == 99);
}

TEST_CASE("truncated or foreign records decode as corruption, never as garbage", "[unit][codec]") {
  Message m;
  m.body = "hello";
  m.attachments = {"x"};
  std::string enc = EncodeMessage(m);
  for (std::size_t n = 0; n < enc.size(); ++n) {
    CHECK_CODE(DecodeMessage(enc.substr(0, n)), StatusCode::kCorruption);
  }
  CHECK_CODE(DecodeUser("\x07garbage"), StatusCode::kCorruption);
  CHECK_CODE(DecodeChat(""), StatusCode::kCorruption);
}

TEST_CASE("keys order numerically so that a chat's messages sort by sequence", "[unit][keys]") {
  CHECK(keys::Message(1, 255) < keys::Message(1, 256));
  CHECK(keys::Message(1, 1ULL << 40) < keys::Message(2, 0));
  CHECK(keys::Expiry(1000, 9, 9) < keys::Expiry(1001, 0, 0));
  CHECK(keys::ReadBE(keys::Message(3, 77), 2 + 8) == 77);
  CHECK(keys::PrefixEnd("m/a") == "m/b");
  CHECK(keys::PrefixEnd(std::string("m/\xff", 3)) == "m0");
  // A prefix of one chat never matches another's keys.
  std::string p = keys::MessagePrefix(1);
  CHECK(keys::Message(1, 5).rfind(p, 0) == 0);
  CHECK(keys::Message(256, 5).rfind(p, 0) != 0);
}
