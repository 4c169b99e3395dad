#include "protocol.h"

#include <utility>

#include "json_depth.h"

namespace chat::detail {
namespace {

const char* TypeName(const Json& j) {
  if (j.is_number_unsigned() || j.is_number_integer()) return "integer";
  return j.type_name();
}

}  // namespace

WireError ToWireError(const Status& status) {
  WireError e;
  e.code = std::string(StatusCodeName(status.code()));
  e.message = status.message();
  // The failing component's own hint (a rate limit knows when its bucket refills); otherwise, for
  // retryable codes, one long enough for a queue to drain and short enough to feel live.
  if (status.retry_after_ms() >= 0) {
    e.retry_after_ms = status.retry_after_ms();
  } else if (status.IsRetryable()) {
    e.retry_after_ms = 200;
  }
  return e;
}

bool GetU64(const Json& j, std::uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<std::uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
    *out = static_cast<std::uint64_t>(j.get<std::int64_t>());
    return true;
  }
  return false;
}

bool ParseRequest(std::string_view text, Request* out, WireError* error, Json* error_id) {
  *error_id = nullptr;
  if (!JsonDepthWithin(text)) {
    *error = {std::string(kBadRequest), "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels", -1};
    return false;
  }
  // allow_exceptions=false: a parse error yields a "discarded" value instead of throwing.
  Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    *error = {std::string(kBadRequest), "malformed JSON", -1};
    return false;
  }
  if (!doc.is_object()) {
    *error = {std::string(kBadRequest), "a request must be a JSON object", -1};
    return false;
  }
  auto id = doc.find("id");
  if (id == doc.end() || !(id->is_string() || id->is_number_integer() || id->is_number_unsigned())) {
    *error = {std::string(kBadRequest), "field 'id': expected a string or an integer", -1};
    return false;
  }
  // protocol.md, Frames: a non-negative integer, or a string of 1 to kMaxRequestIdBytes bytes. An id
  // the client cannot have meant to match a response by (negative, empty, a whole document) is
  // refused, and the refusal carries "id": null since echoing it would be of no use.
  if (id->is_number_integer() && !id->is_number_unsigned() && id->get<std::int64_t>() < 0) {
    *error = {std::string(kBadRequest), "field 'id': a negative integer is not a request id", -1};
    return false;
  }
  if (id->is_string() && (id->get_ref<const std::string&>().empty() ||
                          id->get_ref<const std::string&>().size() > kMaxRequestIdBytes)) {
    *error = {std::string(kBadRequest),
              "field 'id': a string id must be 1 to " + std::to_string(kMaxRequestIdBytes) + " bytes", -1};
    return false;
  }
  *error_id = *id;
  auto cmd = doc.find("cmd");
  if (cmd == doc.end() || !cmd->is_string()) {
    *error = {std::string(kBadRequest), "field 'cmd': expected a string", -1};
    return false;
  }
  out->id = *id;
  out->cmd = cmd->get<std::string>();
  out->args = std::move(doc);
  return true;
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::shared_ptr<const std::string> EncodeResult(const Json& id, const Json& result) {
  Json r = Json::object();
  r["id"] = id;
  r["ok"] = true;
  r["result"] = result;
  return std::make_shared<const std::string>(Dump(r));
}

std::shared_ptr<const std::string> EncodeError(const Json& id, const WireError& error) {
  Json e = {{"code", error.code}, {"message", error.message}};
  if (error.retry_after_ms >= 0) e["retryAfterMs"] = error.retry_after_ms;
  Json r = Json::object();
  r["id"] = id;
  r["ok"] = false;
  r["error"] = std::move(e);
  return std::make_shared<const std::string>(Dump(r));
}

std::shared_ptr<const std::string> EncodeEvent(std::string_view name, const Json& data) {
  Json r = Json::object();
  r["event"] = name;
  r["data"] = data;
  return std::make_shared<const std::string>(Dump(r));
}

Json ToJson(const Message& m) {
  return Json{{"chatId", m.chat},
              {"seq", m.seq},
              {"id", m.id},
              {"sender", m.sender},
              {"senderDevice", m.sender_device},
              {"clientId", m.client_id},
              {"kind", ToString(m.kind)},
              {"body", m.body},
              {"attachments", m.attachments},
              {"replyTo", m.reply_to},
              {"refSeq", m.ref_seq},
              {"timestamp", m.timestamp},
              {"deleted", m.deleted}};
}

Json ToJson(const Chat& c) {
  return Json{{"id", c.id},
              {"kind", ToString(c.kind)},
              {"name", c.name},
              {"metadata", c.metadata},
              {"memberLimit", c.member_limit},
              {"retentionMs", c.retention_ms},
              {"createdBy", c.created_by},
              {"createdAt", c.created_at}};
}

Json ToJson(const Device& d) {
  // Never the token hash or the push token: they are credentials.
  return Json{{"id", d.id},
              {"kind", d.kind},
              {"name", d.name},
              {"pushProvider", d.push_provider},
              {"createdAt", d.created_at},
              {"lastSeen", d.last_seen}};
}

Json ToJson(const Participant& p) {
  return Json{{"userId", p.user}, {"role", ToString(p.role)}, {"joinedAt", p.joined_at}, {"joinedSeq", p.joined_seq}};
}

Json ToJson(const ChatSummary& s) {
  Json j{{"chat", ToJson(s.chat)},
         {"role", ToString(s.role)},
         {"head", s.head},
         {"read", s.read},
         {"unread", s.unread}};
  j["lastMessage"] = s.last_message ? ToJson(*s.last_message) : Json(nullptr);
  return j;
}

Json ToJson(const ReceiptCursor& r) {
  return Json{{"userId", r.user}, {"delivered", r.delivered}, {"read", r.read}};
}

Json ToJson(const Attachment& a) {
  return Json{{"id", a.id},
              {"uploaderId", a.uploader},
              {"kind", ToString(a.kind)},
              {"mimeType", a.mime},
              {"size", a.size},
              {"sha256", a.sha256},
              {"state", ToString(a.state)},
              {"createdAt", a.created_at}};
}

Json ToJson(const User& u, bool self) {
  // Never the password hash.
  Json j{{"id", u.id},
         {"username", u.username},
         {"displayName", u.display_name},
         {"avatarUrl", u.avatar_url},
         {"createdAt", u.created_at}};
  if (self) {
    j["email"] = u.email;
    j["lastSeenVisibility"] = ToString(u.last_seen_visibility);
  }
  return j;
}

// ---- Args ----

void Args::Fail(std::string message) {
  if (error_.code.empty()) error_ = {std::string(kBadRequest), std::move(message), -1};
}

bool Args::Has(const char* key) const {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

const Json* Args::Find(const char* key, bool required) {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) {
    if (required) Fail(std::string("missing field '") + key + "'");
    return nullptr;
  }
  return &*it;
}

std::string Args::Str(const char* key, bool required, std::string fallback) {
  const Json* j = Find(key, required);
  if (j == nullptr) return fallback;
  if (!j->is_string()) {
    Fail(std::string("field '") + key + "': expected a string, got " + TypeName(*j));
    return fallback;
  }
  return j->get<std::string>();
}

std::uint64_t Args::U64(const char* key, bool required, std::uint64_t fallback) {
  const Json* j = Find(key, required);
  if (j == nullptr) return fallback;
  std::uint64_t v = 0;
  if (!GetU64(*j, &v)) {
    Fail(std::string("field '") + key + "': expected a non-negative integer, got " + TypeName(*j));
    return fallback;
  }
  return v;
}

bool Args::Bool(const char* key, bool required, bool fallback) {
  const Json* j = Find(key, required);
  if (j == nullptr) return fallback;
  if (!j->is_boolean()) {
    Fail(std::string("field '") + key + "': expected a boolean, got " + TypeName(*j));
    return fallback;
  }
  return j->get<bool>();
}

const Json* Args::Object(const char* key, bool required) {
  const Json* j = Find(key, required);
  if (j == nullptr) return nullptr;
  if (!j->is_object()) {
    Fail(std::string("field '") + key + "': expected an object, got " + TypeName(*j));
    return nullptr;
  }
  return j;
}

const Json* Args::Array(const char* key, bool required) {
  const Json* j = Find(key, required);
  if (j == nullptr) return nullptr;
  if (!j->is_array()) {
    Fail(std::string("field '") + key + "': expected an array, got " + TypeName(*j));
    return nullptr;
  }
  return j;
}

std::vector<std::uint64_t> Args::U64Array(const char* key, bool required) {
  std::vector<std::uint64_t> out;
  const Json* a = Array(key, required);
  if (a == nullptr) return out;
  out.reserve(a->size());
  for (const auto& e : *a) {
    std::uint64_t v = 0;
    if (!GetU64(e, &v)) {
      Fail(std::string("field '") + key + "': expected an array of non-negative integers");
      return {};
    }
    out.push_back(v);
  }
  return out;
}

std::vector<std::string> Args::StrArray(const char* key, bool required) {
  std::vector<std::string> out;
  const Json* a = Array(key, required);
  if (a == nullptr) return out;
  out.reserve(a->size());
  for (const auto& e : *a) {
    if (!e.is_string()) {
      Fail(std::string("field '") + key + "': expected an array of strings");
      return {};
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace chat::detail
