// Events in their two forms: between nodes (SerializeEvent / ParseEvent, bus.h), which must give back
// every field of every type, and to clients (codec::ToWireEvent), whose bytes docs/protocol.md pins.
#include "event_json.h"
#include "test_support.h"

namespace chat {
namespace {

Event Routed(EventType type) {
  Event e;
  e.type = type;
  e.chat = 42;
  e.recipients = {1, 2, 300000};
  e.exclude_device = 7;
  e.only_device = 0;
  e.user = 2;
  e.device = 7;
  return e;
}

std::shared_ptr<const Message> Entry() {
  auto m = std::make_shared<Message>();
  m->chat = 42;
  m->seq = 9;
  m->id = "0123456789abcdef0123456789abcdef";
  m->sender = 2;
  m->sender_device = 7;
  m->client_id = "c-9";
  m->kind = MessageKind::kDocument;
  m->body = std::string("bytes\0and\xff", 10);
  m->attachments = {"att"};
  m->reply_to = 3;
  m->timestamp = 1700000000000;
  return m;
}

CallSignal Ring() {
  CallSignal s;
  s.type = CallSignalType::kRing;
  s.call_id = "call-1";
  s.user = 1;
  s.device = 5;
  s.media = CallMedia::kVideo;
  s.sdp = "v=0\r\n";
  s.ring_until = 1700000045000;
  s.ice_servers = {IceServer{{"stun:a:3478"}, "", ""}, IceServer{{"turn:b:3478", "turns:b:5349"}, "u", "p"}};
  return s;
}

// Every field, compared by re-serialising: SerializeEvent writes each one.
void RequireRoundTrip(const Event& e) {
  const std::string bytes = SerializeEvent(e);
  auto back = ParseEvent(bytes);
  REQUIRE_OK(back);
  CHECK(SerializeEvent(*back) == bytes);
  CHECK(back->type == e.type);
  CHECK(back->recipients == e.recipients);
  CHECK(back->exclude_device == e.exclude_device);
}

}  // namespace

TEST_CASE("event bytes: every type comes back field for field", "[unit][events]") {
  Event message = Routed(EventType::kMessage);
  message.message = Entry();
  RequireRoundTrip(message);
  auto parsed = ParseEvent(SerializeEvent(message));
  REQUIRE_OK(parsed);
  REQUIRE(parsed->message != nullptr);
  CHECK(parsed->message->body == message.message->body);
  CHECK(parsed->message->attachments == message.message->attachments);

  for (EventType t : {EventType::kMessageDeleted, EventType::kChatUpdate}) {
    Event e = Routed(t);
    e.message = Entry();
    RequireRoundTrip(e);
  }
  Event receipt = Routed(EventType::kReceipt);
  receipt.delivered = 9;
  receipt.read = 8;
  RequireRoundTrip(receipt);
  CHECK(ParseEvent(SerializeEvent(receipt))->read == 8);

  Event presence = Routed(EventType::kPresence);
  presence.online = false;
  presence.last_seen = 1700000000123;
  RequireRoundTrip(presence);
  CHECK(ParseEvent(SerializeEvent(presence))->last_seen == 1700000000123);

  Event typing = Routed(EventType::kTyping);
  typing.typing = true;
  RequireRoundTrip(typing);
  CHECK(ParseEvent(SerializeEvent(typing))->typing);

  Event ring = Routed(EventType::kSignal);
  ring.signal = std::make_shared<const CallSignal>(Ring());
  RequireRoundTrip(ring);
  auto ring_back = ParseEvent(SerializeEvent(ring));
  REQUIRE_OK(ring_back);
  REQUIRE(ring_back->signal != nullptr);
  CHECK(ring_back->signal->ice_servers.size() == 2);
  CHECK(ring_back->signal->ice_servers[1].urls.size() == 2);
  CHECK(ring_back->signal->media == CallMedia::kVideo);

  CallSignal ended;
  ended.type = CallSignalType::kEnded;
  ended.call_id = "call-1";
  ended.reason = "hangup";
  ended.end = CallEnd{CallOutcome::kCompleted, 61000};
  Event end = Routed(EventType::kSignal);
  end.signal = std::make_shared<const CallSignal>(ended);
  RequireRoundTrip(end);
  auto end_back = ParseEvent(SerializeEvent(end));
  REQUIRE_OK(end_back);
  REQUIRE(end_back->signal->end.has_value());
  CHECK(end_back->signal->end->duration_ms == 61000);

  Event revoked = Routed(EventType::kSessionRevoked);
  revoked.only_device = 7;
  revoked.keep_token_hash = "new-hash";
  RequireRoundTrip(revoked);
  CHECK(ParseEvent(SerializeEvent(revoked))->keep_token_hash == "new-hash");

  Event online = Routed(EventType::kDeviceOnline);  // Its user and device, nothing more.
  RequireRoundTrip(online);
  CHECK(ParseEvent(SerializeEvent(online))->device == online.device);
}

TEST_CASE("event bytes: format 1 is pinned byte for byte", "[unit][events]") {
  // Nodes of two releases share a bus: these bytes may only change under a new format byte
  // (docs/architecture.md, "Events between nodes").
  auto hex = [](const std::string& bytes) {
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
    return out;
  };
  Event typing = Routed(EventType::kTyping);
  typing.typing = true;
  // format 1, type 5, chat 42, 3 recipients (300000 as a three-byte varint), exclude 7, only 0,
  // user 2, device 7, typing.
  CHECK(hex(SerializeEvent(typing)) == "0105" "2a" "030102e0a712" "07" "00" "02" "07" "01");
  Event presence = Routed(EventType::kPresence);
  presence.recipients = {1};
  presence.online = false;
  presence.last_seen = 1;
  CHECK(hex(SerializeEvent(presence)) == "0104" "2a" "0101" "07" "00" "02" "07" "00" "01");
  Event revoked = Routed(EventType::kSessionRevoked);
  revoked.recipients = {};
  revoked.keep_token_hash = "h";
  CHECK(hex(SerializeEvent(revoked)) == "0107" "2a" "00" "07" "00" "02" "07" "0168");
  Event online = Routed(EventType::kDeviceOnline);
  online.recipients = {};
  CHECK(hex(SerializeEvent(online)) == "0108" "2a" "00" "07" "00" "02" "07");
}

TEST_CASE("event bytes: damaged input is Corruption, never a guess", "[unit][events]") {
  Event ring = Routed(EventType::kSignal);
  ring.signal = std::make_shared<const CallSignal>(Ring());
  const std::string bytes = SerializeEvent(ring);
  CHECK_CODE(ParseEvent(""), StatusCode::kCorruption);
  // Every truncation, and a trailing byte.
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n);
    CHECK_CODE(ParseEvent(std::string_view(bytes).substr(0, n)), StatusCode::kCorruption);
  }
  CHECK_CODE(ParseEvent(bytes + "x"), StatusCode::kCorruption);
  std::string other_format = bytes;
  other_format[0] = 2;
  CHECK_CODE(ParseEvent(other_format), StatusCode::kCorruption);
  std::string bad_type = bytes;
  bad_type[1] = 99;
  CHECK_CODE(ParseEvent(bad_type), StatusCode::kCorruption);
}

TEST_CASE("event wire form: the frames clients read", "[unit][events]") {
  using codec::Dump;
  Event typing = Routed(EventType::kTyping);
  typing.typing = true;
  auto t = codec::ToWireEvent(typing);
  REQUIRE(t.has_value());
  CHECK(t->name == "typing");
  CHECK(Dump(t->data) == R"({"chatId":42,"typing":true,"userId":2})");

  Event presence = Routed(EventType::kPresence);
  presence.online = true;
  presence.last_seen = 5;
  CHECK(Dump(codec::ToWireEvent(presence)->data) == R"({"lastSeen":null,"online":true,"userId":2})");
  presence.online = false;
  CHECK(Dump(codec::ToWireEvent(presence)->data) == R"({"lastSeen":5,"online":false,"userId":2})");

  Event ring = Routed(EventType::kSignal);
  ring.signal = std::make_shared<const CallSignal>(Ring());
  auto r = codec::ToWireEvent(ring);
  REQUIRE(r.has_value());
  CHECK(r->name == "callRing");
  CHECK(Dump(r->data) ==
        R"({"callId":"call-1","callerDevice":5,"callerId":1,"chatId":42,"iceServers":[{"urls":["stun:a:3478"]},)"
        R"({"credential":"p","urls":["turn:b:3478","turns:b:5349"],"username":"u"}],"media":"video",)"
        R"("ringUntil":1700000045000,"sdp":"v=0\r\n"})");

  CallSignal ice;
  ice.type = CallSignalType::kIce;
  ice.call_id = "call-1";
  ice.user = 1;
  ice.device = 5;
  ice.candidate = R"({"candidate":"candidate:1 1 udp 1 10.0.0.1 5000 typ host","sdpMid":"0"})";
  Event ice_event = Routed(EventType::kSignal);
  ice_event.signal = std::make_shared<const CallSignal>(ice);
  CHECK(Dump(codec::ToWireEvent(ice_event)->data) ==
        R"({"callId":"call-1","candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 5000 typ host","sdpMid":"0"},)"
        R"("fromDevice":5,"fromUser":1})");

  CallSignal elsewhere;
  elsewhere.type = CallSignalType::kEnded;
  elsewhere.call_id = "call-1";
  elsewhere.reason = "answered_elsewhere";
  Event end = Routed(EventType::kSignal);
  end.signal = std::make_shared<const CallSignal>(elsewhere);
  CHECK(codec::ToWireEvent(end)->name == "callEnded");
  CHECK(Dump(codec::ToWireEvent(end)->data) == R"({"callId":"call-1","chatId":42,"reason":"answered_elsewhere"})");

  // Not sent one by one: receipts are coalesced, revocations close sessions.
  CHECK_FALSE(codec::ToWireEvent(Routed(EventType::kReceipt)).has_value());
  CHECK_FALSE(codec::ToWireEvent(Routed(EventType::kSessionRevoked)).has_value());
  CHECK_FALSE(codec::ToWireEvent(Routed(EventType::kDeviceOnline)).has_value());
  CHECK_FALSE(codec::ToWireEvent(Routed(EventType::kMessage)).has_value());  // No message.
}

}  // namespace chat
