#include "event_json.h"

#include <utility>

namespace chat::codec {
namespace {

Json CallSignalJson(ChatId chat, const CallSignal& s) {
  switch (s.type) {
    case CallSignalType::kRing:
      return Json{{"callId", s.call_id},
                  {"chatId", chat},
                  {"media", ToString(s.media)},
                  {"callerId", s.user},
                  {"callerDevice", s.device},
                  {"sdp", s.sdp},
                  {"ringUntil", s.ring_until},
                  {"iceServers", IceServersJson(s.ice_servers)}};
    case CallSignalType::kAccepted:
      return Json{{"callId", s.call_id}, {"chatId", chat}, {"userId", s.user}, {"deviceId", s.device}, {"sdp", s.sdp}};
    case CallSignalType::kRejected:
      return Json{{"callId", s.call_id}, {"chatId", chat}, {"userId", s.user}, {"reason", s.reason}};
    case CallSignalType::kIce:
      // The candidate was checked to be an object when it was sent (CallManager::Ice); relayed as is.
      return Json{{"callId", s.call_id},
                  {"fromUser", s.user},
                  {"fromDevice", s.device},
                  {"candidate", Json::parse(s.candidate, nullptr, /*allow_exceptions=*/false)}};
    case CallSignalType::kEnded: {
      Json j{{"callId", s.call_id}, {"chatId", chat}, {"reason", s.reason}};
      if (s.end) {
        j["outcome"] = ToString(s.end->outcome);
        j["durationMs"] = s.end->duration_ms;
      }
      return j;
    }
  }
  return Json::object();
}

std::string_view CallSignalName(CallSignalType type) {
  switch (type) {
    case CallSignalType::kRing: return "callRing";
    case CallSignalType::kAccepted: return "callAccepted";
    case CallSignalType::kRejected: return "callRejected";
    case CallSignalType::kIce: return "callIce";
    case CallSignalType::kEnded: return "callEnded";
  }
  return "callEnded";
}

}  // namespace

Json IceServersJson(const std::vector<IceServer>& servers) {
  Json a = Json::array();
  for (const IceServer& s : servers) {
    Json e{{"urls", s.urls}};
    // STUN entries carry no credentials; WebRTC rejects empty ones on a TURN entry only.
    if (!s.username.empty()) {
      e["username"] = s.username;
      e["credential"] = s.credential;
    }
    a.push_back(std::move(e));
  }
  return a;
}

WireEvent ReceiptsWireEvent(ChatId chat, const std::vector<ReceiptCursor>& cursors) {
  Json receipts = Json::array();
  for (const ReceiptCursor& c : cursors) receipts.push_back(ToJson(c, kWire));
  return WireEvent{"receipt", Json{{"chatId", chat}, {"receipts", std::move(receipts)}}};
}

std::optional<WireEvent> ToWireEvent(const Event& e) {
  switch (e.type) {
    case EventType::kMessage:
      if (!e.message) return std::nullopt;
      return WireEvent{"newMessage", Json{{"message", ToJson(*e.message, kWire)}}};
    case EventType::kChatUpdate:
      if (!e.message) return std::nullopt;
      return WireEvent{"chatUpdate", Json{{"chatId", e.chat}, {"entry", ToJson(*e.message, kWire)}}};
    case EventType::kMessageDeleted:
      if (!e.message) return std::nullopt;
      return WireEvent{"messageDeleted",
                       Json{{"chatId", e.chat}, {"seq", e.message->ref_seq}, {"entry", ToJson(*e.message, kWire)}}};
    case EventType::kPresence:
      return WireEvent{"presence", Json{{"userId", e.user},
                                        {"online", e.online},
                                        {"lastSeen", e.online ? Json(nullptr) : Json(e.last_seen)}}};
    case EventType::kTyping:
      return WireEvent{"typing", Json{{"chatId", e.chat}, {"userId", e.user}, {"typing", e.typing}}};
    case EventType::kSignal:
      if (!e.signal) return std::nullopt;
      return WireEvent{CallSignalName(e.signal->type), CallSignalJson(e.chat, *e.signal)};
    case EventType::kReceipt:
    case EventType::kSessionRevoked:
    case EventType::kDeviceOnline:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace chat::codec
