// Event <-> bytes: the form in which a multi-node bus carries events between nodes (bus.h,
// SerializeEvent). Laid out in docs/architecture.md, "Events between nodes"; built on the store's
// binary primitives (codec.h: varints and length-prefixed strings) and its message record.
#include <utility>

#include "codec.h"
#include "libchat/bus.h"

namespace chat {
namespace {

using detail::Reader;
using detail::Writer;

constexpr std::uint8_t kEventFormatV1 = 1;
constexpr std::uint8_t kLastEventType = static_cast<std::uint8_t>(EventType::kDeviceOnline);
constexpr std::uint8_t kLastSignalType = static_cast<std::uint8_t>(CallSignalType::kEnded);
constexpr std::uint8_t kLastOutcome = static_cast<std::uint8_t>(CallOutcome::kCompleted);

bool HasMessage(EventType t) {
  return t == EventType::kMessage || t == EventType::kMessageDeleted || t == EventType::kChatUpdate;
}

void PutSignal(Writer& w, const CallSignal& s) {
  w.Byte(static_cast<std::uint8_t>(s.type));
  w.Str(s.call_id);
  w.U64(s.user);
  w.U64(s.device);
  w.Byte(static_cast<std::uint8_t>(s.media));
  w.Str(s.sdp);
  w.I64(s.ring_until);
  w.U64(s.ice_servers.size());
  for (const IceServer& ice : s.ice_servers) {
    w.U64(ice.urls.size());
    for (const std::string& url : ice.urls) w.Str(url);
    w.Str(ice.username);
    w.Str(ice.credential);
  }
  w.Str(s.reason);
  w.Byte(s.end ? 1 : 0);
  w.Byte(static_cast<std::uint8_t>(s.end ? s.end->outcome : CallOutcome::kMissed));
  w.I64(s.end ? s.end->duration_ms : 0);
  w.Str(s.candidate);
}

// False if a byte holds no valid value (the Reader flags truncation itself).
bool GetSignal(Reader& r, CallSignal* s) {
  const std::uint8_t type = r.Byte();
  s->call_id = r.Str();
  s->user = r.U64();
  s->device = r.U64();
  const std::uint8_t media = r.Byte();
  s->sdp = r.Str();
  s->ring_until = r.I64();
  const std::uint64_t servers = r.U64();
  // Each server takes at least three bytes: a count that large is a damaged length, not a list.
  if (r.failed() || servers > (1u << 16)) return false;
  for (std::uint64_t i = 0; i < servers && !r.failed(); ++i) {
    IceServer ice;
    const std::uint64_t urls = r.U64();
    if (urls > (1u << 16)) return false;
    for (std::uint64_t u = 0; u < urls && !r.failed(); ++u) ice.urls.push_back(r.Str());
    ice.username = r.Str();
    ice.credential = r.Str();
    s->ice_servers.push_back(std::move(ice));
  }
  s->reason = r.Str();
  const std::uint8_t has_end = r.Byte();
  const std::uint8_t outcome = r.Byte();
  const TimeMs duration = r.I64();
  s->candidate = r.Str();
  if (type > kLastSignalType || media > 1 || has_end > 1 || outcome > kLastOutcome) return false;
  s->type = static_cast<CallSignalType>(type);
  s->media = static_cast<CallMedia>(media);
  if (has_end == 1) s->end = CallEnd{static_cast<CallOutcome>(outcome), duration};
  return true;
}

Status Corrupt(const std::string& what) { return Status::Corruption("undecodable event: " + what); }

}  // namespace

std::string SerializeEvent(const Event& e) {
  Writer w;
  w.Byte(kEventFormatV1);
  w.Byte(static_cast<std::uint8_t>(e.type));
  w.U64(e.chat);
  w.U64(e.recipients.size());
  for (UserId u : e.recipients) w.U64(u);
  w.U64(e.exclude_device);
  w.U64(e.only_device);
  w.U64(e.user);
  w.U64(e.device);
  switch (e.type) {
    case EventType::kMessage:
    case EventType::kMessageDeleted:
    case EventType::kChatUpdate:
      // The store's record of the entry, its own format byte first; empty if the event has none.
      w.Str(e.message ? detail::EncodeMessage(*e.message) : std::string());
      break;
    case EventType::kReceipt:
      w.U64(e.delivered);
      w.U64(e.read);
      break;
    case EventType::kPresence:
      w.Byte(e.online ? 1 : 0);
      w.I64(e.last_seen);
      break;
    case EventType::kTyping:
      w.Byte(e.typing ? 1 : 0);
      break;
    case EventType::kSignal:
      w.Byte(e.signal ? 1 : 0);
      if (e.signal) PutSignal(w, *e.signal);
      break;
    case EventType::kSessionRevoked:
      w.Str(e.keep_token_hash);
      break;
    case EventType::kDeviceOnline:
      break;  // user and device, above.
  }
  return w.Take();
}

Result<Event> ParseEvent(std::string_view bytes) {
  Reader r(bytes);
  const std::uint8_t format = r.Byte();
  if (r.failed()) return Corrupt("empty");
  if (format != kEventFormatV1) return Corrupt("unknown format " + std::to_string(format));
  const std::uint8_t type = r.Byte();
  if (r.failed() || type > kLastEventType) return Corrupt("unknown type " + std::to_string(type));
  Event e;
  e.type = static_cast<EventType>(type);
  e.chat = r.U64();
  const std::uint64_t n = r.U64();
  // Every recipient takes at least one byte: more than the bytes left is a damaged count.
  if (r.failed() || n > bytes.size()) return Corrupt("recipient count");
  e.recipients.reserve(n);
  for (std::uint64_t i = 0; i < n && !r.failed(); ++i) e.recipients.push_back(r.U64());
  e.exclude_device = r.U64();
  e.only_device = r.U64();
  e.user = r.U64();
  e.device = r.U64();
  bool valid = true;
  if (HasMessage(e.type)) {
    const std::string record = r.Str();
    if (!r.failed() && !record.empty()) {
      auto m = detail::DecodeMessage(record);
      if (!m.ok()) return Corrupt("message: " + m.error().message());
      e.message = std::make_shared<const Message>(std::move(*m));
    }
  } else if (e.type == EventType::kReceipt) {
    e.delivered = r.U64();
    e.read = r.U64();
  } else if (e.type == EventType::kPresence) {
    const std::uint8_t online = r.Byte();
    e.last_seen = r.I64();
    valid = online <= 1;
    e.online = online == 1;
  } else if (e.type == EventType::kTyping) {
    const std::uint8_t typing = r.Byte();
    valid = typing <= 1;
    e.typing = typing == 1;
  } else if (e.type == EventType::kSignal) {
    const std::uint8_t has_signal = r.Byte();
    valid = has_signal <= 1;
    if (valid && has_signal == 1) {
      auto s = std::make_shared<CallSignal>();
      valid = GetSignal(r, s.get());
      e.signal = std::move(s);
    }
  } else if (e.type == EventType::kSessionRevoked) {
    e.keep_token_hash = r.Str();
  }
  if (r.failed()) return Corrupt("truncated");
  if (!valid) return Corrupt("a field holds no valid value");
  if (!r.done()) return Corrupt("trailing bytes");
  return e;
}

}  // namespace chat
