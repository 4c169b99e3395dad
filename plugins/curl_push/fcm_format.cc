#include "fcm_format.h"

#include <cctype>
#include <nlohmann/json.hpp>

namespace chat::curl_push {

using json = nlohmann::json;

namespace {

// Percent-encodes for a form body: everything but unreserved characters.
std::string FormEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

json ParseJson(const std::string& text) { return json::parse(text, nullptr, /*allow_exceptions=*/false); }

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<ServiceAccount> ParseServiceAccount(const std::string& text, const std::string& path) {
  auto bad = [&](const std::string& why) { return Status::InvalidArgument("fcm credentials '" + path + "': " + why); };
  json j = ParseJson(text);
  if (!j.is_object()) return bad("not a JSON object");
  if (Str(j, "type") != "service_account") return bad("\"type\" is not \"service_account\"");
  std::string pem = Str(j, "private_key");
  std::string email = Str(j, "client_email");
  if (pem.empty() || email.empty()) return bad("missing private_key or client_email");
  auto key = SigningKey::FromPem(pem, JwtAlgorithm::kRs256, "fcm credentials '" + path + "' private_key");
  if (!key.ok()) return key.error();
  std::string token_uri = Str(j, "token_uri");
  if (token_uri.empty()) token_uri = "https://oauth2.googleapis.com/token";
  return ServiceAccount{Str(j, "project_id"), email, Str(j, "private_key_id"), token_uri, std::move(*key)};
}

Result<std::string> FcmAssertion(const ServiceAccount& a, const std::string& token_uri, TimeMs now_ms) {
  json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!a.private_key_id.empty()) header["kid"] = a.private_key_id;
  const std::int64_t now = now_ms / 1000;
  json claims = {{"iss", a.client_email}, {"scope", kFcmScope}, {"aud", token_uri}, {"iat", now}, {"exp", now + 3600}};
  return a.key.Sign(header.dump(), claims.dump());
}

std::string FcmTokenRequestBody(const std::string& assertion) {
  return "grant_type=" + FormEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" +
         FormEncode(assertion);
}

Result<AccessToken> ParseTokenResponse(const HttpResponse& r, TimeMs now_ms) {
  if (!r.transport.ok()) return r.transport.WithContext("fcm token");
  const std::string what = "fcm token endpoint: HTTP " + std::to_string(r.status);
  json j = ParseJson(r.body);
  if (r.status == 429 || r.status >= 500) return Status::Unavailable(what);
  if (r.status != 200) {
    std::string error = j.is_object() ? Str(j, "error") + " " + Str(j, "error_description") : r.body.substr(0, 200);
    return Status::PermissionDenied(what + ": " + error);
  }
  if (!j.is_object() || Str(j, "access_token").empty() || !j.contains("expires_in") ||
      !j["expires_in"].is_number_integer()) {
    return Status::Unavailable(what + ": answer without access_token/expires_in");
  }
  return AccessToken{Str(j, "access_token"), now_ms + j["expires_in"].get<std::int64_t>() * 1000};
}

std::string FcmMessageBody(const PushNotification& n, TimeMs now_ms) {
  json data = {
      {"type", n.call ? "call" : "message"},
      {"chat", std::to_string(n.chat)},
      {"sender", std::to_string(n.sender)},
  };
  json android = {{"priority", "high"}};
  if (n.call) {
    data["call_id"] = n.call_id;
    if (n.expires_at > now_ms) {
      // FCM drops a message it could not deliver within ttl: a call no longer ringing.
      android["ttl"] = std::to_string((n.expires_at - now_ms + 999) / 1000) + "s";
    }
  } else {
    data["count"] = std::to_string(n.count);
    data["last_seq"] = std::to_string(n.last_seq);
    if (!n.chat_name.empty()) data["chat_name"] = n.chat_name;
    // A newer notification of the same chat replaces an undelivered older one.
    android["collapse_key"] = "chat-" + std::to_string(n.chat);
  }
  json message = {{"token", n.token}, {"data", data}, {"android", android}};
  if (!n.preview.empty()) {
    message["notification"] = {{"title", n.chat_name}, {"body", n.preview}};
  }
  return json{{"message", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

FcmVerdict FcmStatus(const HttpResponse& r) {
  if (!r.transport.ok()) return {r.transport};
  if (r.status >= 200 && r.status < 300) return {Status::Ok()};
  json j = ParseJson(r.body);
  std::string status;
  std::string error_code;
  std::string message;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    status = Str(e, "status");
    message = Str(e, "message");
    if (e.contains("details") && e["details"].is_array()) {
      for (const json& d : e["details"]) {
        if (d.is_object() && !Str(d, "errorCode").empty()) error_code = Str(d, "errorCode");
      }
    }
  }
  const std::string what = "fcm: HTTP " + std::to_string(r.status) + " " + (error_code.empty() ? status : error_code) +
                           (message.empty() ? "" : ": " + message);
  if (error_code == "UNREGISTERED") return {Status::NotFound(what)};
  if ((r.status == 404 || r.status == 410) && status == "NOT_FOUND") return {Status::NotFound(what)};
  if (r.status == 401) return {Status::Unavailable(what), true};
  if (r.status == 403) return {Status::PermissionDenied(what)};
  if (r.status == 429 || r.status >= 500) return {Status::Unavailable(what)};
  return {Status::InvalidArgument(what)};
}

}  // namespace chat::curl_push
