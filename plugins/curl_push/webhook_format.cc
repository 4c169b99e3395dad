#include "webhook_format.h"

#include <nlohmann/json.hpp>

namespace chat::curl_push {

using json = nlohmann::json;

std::string WebhookBody(const PushNotification& n) {
  json j = {
      {"type", n.call ? "call" : "message"},
      {"priority", n.call ? "high" : "normal"},
      {"provider", n.provider},
      {"token", n.token},
      {"user", n.user},
      {"device", n.device},
      {"chat", n.chat},
      {"chat_name", n.chat_name},
      {"sender", n.sender},
  };
  if (n.call) {
    j["call_id"] = n.call_id;
  } else {
    j["count"] = n.count;
    j["last_seq"] = n.last_seq;
  }
  // Absent, not empty, when previews are off: a gateway cannot mistake "" for an empty message.
  if (!n.preview.empty()) j["preview"] = n.preview;
  if (n.expires_at != 0) j["expires_at"] = n.expires_at;
  // Replace invalid UTF-8 rather than throw: names and tokens come from clients.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status WebhookStatus(const HttpResponse& r) {
  if (!r.transport.ok()) return r.transport;
  const std::string what = "webhook: HTTP " + std::to_string(r.status);
  if (r.status >= 200 && r.status < 300) return Status::Ok();
  if (r.status == 410) return Status::NotFound(what + ": token no longer valid");
  if (r.status == 404) {
    json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object() && body.value("reason", "") == "invalid_token") {
      return Status::NotFound(what + ": invalid token");
    }
    return Status::InvalidArgument(what + ": gateway URL not found");
  }
  if (r.status == 408 || r.status == 429 || r.status >= 500) return Status::Unavailable(what);
  return Status::InvalidArgument(what + ": " + r.body.substr(0, 200));
}

}  // namespace chat::curl_push
