// Wire JSON <-> libchat's domain types, for chat::Client (docs/protocol.md's shapes).
#include "client_internal.h"

namespace chat {
namespace client_internal {
namespace {

template <typename T>
T Field(const Json& j, const char* key, T fallback = T()) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

}  // namespace

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Message MessageFrom(const Json& j) {
  Message m;
  m.chat = Field<ChatId>(j, "chatId");
  m.seq = Field<Seq>(j, "seq");
  m.id = Field<std::string>(j, "id");
  m.sender = Field<UserId>(j, "sender");
  m.sender_device = Field<DeviceId>(j, "senderDevice");
  m.client_id = Field<std::string>(j, "clientId");
  if (!Parse(Field<std::string>(j, "kind", "text"), &m.kind)) m.kind = MessageKind::kText;
  m.body = Field<std::string>(j, "body");
  m.attachments = Field<std::vector<std::string>>(j, "attachments");
  m.reply_to = Field<Seq>(j, "replyTo");
  m.ref_seq = Field<Seq>(j, "refSeq");
  m.timestamp = Field<TimeMs>(j, "timestamp");
  m.deleted = Field<bool>(j, "deleted");
  return m;
}

Json MessageJson(const Message& m) {
  return Json{{"chatId", m.chat},       {"seq", m.seq},
              {"id", m.id},             {"sender", m.sender},
              {"senderDevice", m.sender_device}, {"clientId", m.client_id},
              {"kind", ToString(m.kind)}, {"body", m.body},
              {"attachments", m.attachments}, {"replyTo", m.reply_to},
              {"refSeq", m.ref_seq},    {"timestamp", m.timestamp},
              {"deleted", m.deleted}};
}

std::vector<Message> MessagesFrom(const Json& a) {
  std::vector<Message> out;
  for (const Json& m : a) out.push_back(MessageFrom(m));
  return out;
}

User UserFrom(const Json& j) {
  User u;
  u.id = Field<UserId>(j, "id");
  u.username = Field<std::string>(j, "username");
  u.display_name = Field<std::string>(j, "displayName");
  u.email = Field<std::string>(j, "email");
  u.avatar_url = Field<std::string>(j, "avatarUrl");
  u.created_at = Field<TimeMs>(j, "createdAt");
  if (!Parse(Field<std::string>(j, "lastSeenVisibility", "everyone"), &u.last_seen_visibility)) {
    u.last_seen_visibility = LastSeenVisibility::kEveryone;
  }
  return u;
}

Device DeviceFrom(const Json& j) {
  Device d;
  d.id = Field<DeviceId>(j, "id");
  d.kind = Field<std::string>(j, "kind");
  d.name = Field<std::string>(j, "name");
  d.push_provider = Field<std::string>(j, "pushProvider");
  d.created_at = Field<TimeMs>(j, "createdAt");
  d.last_seen = Field<TimeMs>(j, "lastSeen");
  return d;
}

Chat ChatFrom(const Json& j) {
  Chat c;
  c.id = Field<ChatId>(j, "id");
  if (!Parse(Field<std::string>(j, "kind", "group"), &c.kind)) c.kind = ChatKind::kGroup;
  c.name = Field<std::string>(j, "name");
  c.metadata = Field<std::string>(j, "metadata");
  c.member_limit = Field<std::uint32_t>(j, "memberLimit");
  c.retention_ms = Field<TimeMs>(j, "retentionMs");
  c.created_by = Field<UserId>(j, "createdBy");
  c.created_at = Field<TimeMs>(j, "createdAt");
  return c;
}

Json ChatJson(const Chat& c) {
  return Json{{"id", c.id},
              {"kind", ToString(c.kind)},
              {"name", c.name},
              {"metadata", c.metadata},
              {"memberLimit", c.member_limit},
              {"retentionMs", c.retention_ms},
              {"createdBy", c.created_by},
              {"createdAt", c.created_at}};
}

ChatSummary SummaryFrom(const Json& s) {
  ChatSummary c;
  c.chat = ChatFrom(s.at("chat"));
  if (!Parse(Field<std::string>(s, "role", "member"), &c.role)) c.role = Role::kMember;
  c.head = Field<Seq>(s, "head");
  c.read = Field<Seq>(s, "read");
  c.unread = Field<std::uint64_t>(s, "unread");
  if (auto m = s.find("lastMessage"); m != s.end() && m->is_object()) c.last_message = MessageFrom(*m);
  return c;
}

Json SummaryJson(const ChatSummary& s) {
  Json j{{"chat", ChatJson(s.chat)}, {"role", ToString(s.role)}, {"head", s.head}, {"read", s.read}, {"unread", s.unread}};
  j["lastMessage"] = s.last_message ? MessageJson(*s.last_message) : Json(nullptr);
  return j;
}

ReceiptCursor CursorFrom(const Json& j) {
  ReceiptCursor c;
  c.chat = Field<ChatId>(j, "chatId");
  c.user = Field<UserId>(j, "userId");
  c.delivered = Field<Seq>(j, "delivered");
  c.read = Field<Seq>(j, "read");
  return c;
}

Session SessionFrom(const Json& j) {
  Session s;
  s.user = UserFrom(j.at("user"));
  s.device = DeviceFrom(j.at("device"));
  s.token = Field<std::string>(j, "token");
  return s;
}

Json SessionJson(const Session& s) {
  return Json{{"user",
               {{"id", s.user.id},
                {"username", s.user.username},
                {"displayName", s.user.display_name},
                {"email", s.user.email},
                {"avatarUrl", s.user.avatar_url},
                {"createdAt", s.user.created_at},
                {"lastSeenVisibility", ToString(s.user.last_seen_visibility)}}},
              {"device",
               {{"id", s.device.id},
                {"kind", s.device.kind},
                {"name", s.device.name},
                {"pushProvider", s.device.push_provider},
                {"createdAt", s.device.created_at},
                {"lastSeen", s.device.last_seen}}},
              {"token", s.token}};
}

Attachment AttachmentFrom(const Json& j) {
  Attachment a;
  a.id = Field<std::string>(j, "id");
  a.uploader = Field<UserId>(j, "uploaderId");
  if (!Parse(Field<std::string>(j, "kind", "document"), &a.kind)) a.kind = AttachmentKind::kDocument;
  a.mime = Field<std::string>(j, "mimeType");
  a.size = Field<std::uint64_t>(j, "size");
  a.sha256 = Field<std::string>(j, "sha256");
  a.state = Field<std::string>(j, "state") == "complete" ? AttachmentState::kComplete : AttachmentState::kPending;
  a.created_at = Field<TimeMs>(j, "createdAt");
  return a;
}

Json OutboxJson(const OutboxItem& o) {
  return Json{{"clientId", o.client_id}, {"chatId", o.chat}, {"kind", ToString(o.kind)}, {"body", o.body},
              {"attachments", o.attachments}, {"replyTo", o.reply_to}, {"error", o.error}};
}

OutboxItem OutboxFrom(const Json& j) {
  OutboxItem o;
  o.client_id = Field<std::string>(j, "clientId");
  o.chat = Field<ChatId>(j, "chatId");
  if (!Parse(Field<std::string>(j, "kind", "text"), &o.kind)) o.kind = MessageKind::kText;
  o.body = Field<std::string>(j, "body");
  o.attachments = Field<std::vector<std::string>>(j, "attachments");
  o.reply_to = Field<Seq>(j, "replyTo");
  o.error = Field<std::string>(j, "error");
  return o;
}

}  // namespace client_internal

// ---- Reply ----

Status Reply::status() const {
  if (ok) return Status::Ok();
  if (code == "bad_request" || code == "frame_too_large") {
    return Status::InvalidArgument(code + ": " + message);
  }
  if (code == "unknown_command" || code == "unsupported_version") return Status::NotSupported(code + ": " + message);
  for (int c = static_cast<int>(StatusCode::kNotFound); c <= static_cast<int>(StatusCode::kNotSupported); ++c) {
    // The server's retry hint (rate limits, login backoff) travels with the status.
    if (StatusCodeName(static_cast<StatusCode>(c)) == code) {
      return Status(static_cast<StatusCode>(c), message).WithRetryAfter(retry_after_ms);
    }
  }
  return Status::Internal(code + ": " + message);
}

}  // namespace chat
