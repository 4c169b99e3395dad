#include "apns_format.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace chat::curl_push {

using json = nlohmann::json;

Result<ApnsRequest> ApnsRequestFor(const PushNotification& n, const std::string& topic) {
  if (n.token.empty() || n.token.size() > 200 ||
      !std::all_of(n.token.begin(), n.token.end(), [](unsigned char c) { return std::isxdigit(c); })) {
    return Status::NotFound("apns: device token is not hex");
  }
  ApnsRequest r;
  r.path = "/3/device/" + n.token;
  r.headers.push_back("content-type: application/json");
  r.headers.push_back("apns-priority: 10");
  json body;
  if (n.call) {
    // PushKit (VoIP) pushes wake the app to show the incoming-call screen (CallKit).
    r.headers.push_back("apns-push-type: voip");
    r.headers.push_back("apns-topic: " + topic + ".voip");
    // Seconds since the epoch; APNs drops the push after that instead of storing it.
    r.headers.push_back("apns-expiration: " + std::to_string(n.expires_at / 1000));
    body = {{"aps", json::object()}, {"type", "call"}, {"call_id", n.call_id}, {"chat", n.chat}, {"caller", n.sender}};
  } else {
    r.headers.push_back("apns-push-type: alert");
    r.headers.push_back("apns-topic: " + topic);
    r.headers.push_back("apns-expiration: 0");
    // A newer notification of the chat replaces the one shown (collapse id: at most 64 bytes).
    r.headers.push_back("apns-collapse-id: chat-" + std::to_string(n.chat));
    json alert = json::object();
    if (!n.chat_name.empty()) alert["title"] = n.chat_name;
    if (!n.preview.empty()) {
      alert["body"] = n.preview;
    } else {
      // The app's Localizable.strings holds the text, e.g. "%@ new messages".
      alert["loc-key"] = "LIBCHAT_NEW_MESSAGES";
      alert["loc-args"] = {std::to_string(n.count)};
    }
    body = {{"aps",
             {{"alert", alert}, {"sound", "default"}, {"thread-id", "chat-" + std::to_string(n.chat)},
              {"mutable-content", 1}}},
            {"type", "message"},
            {"chat", n.chat},
            {"count", n.count},
            {"last_seq", n.last_seq},
            {"sender", n.sender}};
  }
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Result<std::string> ApnsProviderToken(const SigningKey& key, const std::string& key_id, const std::string& team_id,
                                      TimeMs now_ms) {
  json header = {{"alg", "ES256"}, {"kid", key_id}};
  json claims = {{"iss", team_id}, {"iat", now_ms / 1000}};
  return key.Sign(header.dump(), claims.dump());
}

ApnsVerdict ApnsStatus(const HttpResponse& r) {
  if (!r.transport.ok()) return {r.transport};
  if (r.status >= 200 && r.status < 300) return {Status::Ok()};
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  std::string reason = j.is_object() && j.contains("reason") && j["reason"].is_string() ? j["reason"].get<std::string>() : "";
  const std::string what = "apns: HTTP " + std::to_string(r.status) + (reason.empty() ? "" : " " + reason);
  if (r.status == 410 || reason == "BadDeviceToken" || reason == "Unregistered") return {Status::NotFound(what)};
  if (r.status == 403 && reason == "ExpiredProviderToken") return {Status::Unavailable(what), true};
  if (r.status == 403) return {Status::PermissionDenied(what)};
  if (r.status == 429 || r.status >= 500) return {Status::Unavailable(what)};
  return {Status::InvalidArgument(what)};
}

}  // namespace chat::curl_push
