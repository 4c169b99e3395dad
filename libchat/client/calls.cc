// chat::Client's typed call signalling commands (docs/protocol.md, "Calls"). The media is the
// application's (a WebRTC stack); this carries the SDP and ICE candidates.
#include "client_internal.h"

namespace chat {

using namespace client_internal;

Result<CallInvitation> Client::CallInvite(ChatId chat, const std::string& media, const std::string& sdp) {
  return ParseReply<CallInvitation>(impl_->Call("callInvite", Json{{"chatId", chat}, {"media", media}, {"sdp", sdp}}),
                                    [](const Json& j) {
    CallInvitation c;
    c.call_id = j.at("callId").get<std::string>();
    c.callees = j.value("callees", std::vector<UserId>{});
    c.ring_until = j.value("ringUntil", TimeMs{0});
    c.ice_servers = Dump(j.value("iceServers", Json::array()));
    return c;
  });
}

Result<std::string> Client::CallAccept(const std::string& call_id, const std::string& sdp) {
  return ParseReply<std::string>(impl_->Call("callAccept", Json{{"callId", call_id}, {"sdp", sdp}}),
                                 [](const Json& j) { return Dump(j.value("iceServers", Json::array())); });
}

Status Client::CallReject(const std::string& call_id, const std::string& reason) {
  return impl_->Call("callReject", Json{{"callId", call_id}, {"reason", reason}}).status();
}

Status Client::CallIce(const std::string& call_id, const std::string& candidate_json) {
  Json candidate = Json::parse(candidate_json, nullptr, /*allow_exceptions=*/false);
  if (!candidate.is_object()) return Status::InvalidArgument("CallIce: the candidate must be a JSON object");
  return impl_->Call("callIce", Json{{"callId", call_id}, {"candidate", std::move(candidate)}}).status();
}

Result<CallResult> Client::CallHangup(const std::string& call_id) {
  return ParseReply<CallResult>(impl_->Call("callHangup", Json{{"callId", call_id}}), [](const Json& j) {
    CallResult r;
    r.call_id = j.at("callId").get<std::string>();
    r.outcome = j.value("outcome", std::string());
    r.duration_ms = j.value("durationMs", TimeMs{0});
    return r;
  });
}

}  // namespace chat
