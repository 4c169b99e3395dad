// Events in the protocol's form (docs/protocol.md, "Events"): the name and data of the frame the
// server sends for an Event (bus.h). Only the server sends them; the core publishes typed events.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "json_codec.h"
#include "libchat/bus.h"

namespace chat::codec {

struct WireEvent {
  std::string_view name;  // "newMessage", "typing", "callRing", ...
  Json data;
};

// The protocol event for `event`. nullopt for the types the server does not forward one by one
// (kReceipt: coalesced per chat; kSessionRevoked: closes sessions; kDeviceOnline: for the nodes) and
// for an event without the payload its type needs (no message, no signal).
std::optional<WireEvent> ToWireEvent(const Event& event);

// The "receipt" event: the cursors of one chat that moved within a coalescing window (the server
// sends these instead of one frame per kReceipt event).
WireEvent ReceiptsWireEvent(ChatId chat, const std::vector<ReceiptCursor>& cursors);

// RTCConfiguration.iceServers: STUN entries without credentials, TURN entries with theirs.
Json IceServersJson(const std::vector<IceServer>& servers);

}  // namespace chat::codec
