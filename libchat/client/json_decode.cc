// Wire JSON <-> libchat's domain types for chat::Client: the entities through the codec (json_codec.h),
// the client's own outbox records, and Reply::status.
#include "client_internal.h"

namespace chat {
namespace client_internal {
namespace {

// A field of an outbox record (the client's own format, in its local store).
template <typename T>
T Field(const Json& j, const char* key, T fallback = T()) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

// The forms a client reads: about anyone, and its own account and cursors.
constexpr std::uint8_t kReadForms = codec::kWire | codec::kOwn;

template <typename T>
T Decode(const Json& j) {
  auto decoded = codec::FromJson<T>(j, kReadForms);
  if (!decoded.ok()) throw MalformedJson(decoded.error().message());
  return std::move(*decoded);
}

}  // namespace

Message MessageFrom(const Json& j) { return Decode<Message>(j); }

Json MessageJson(const Message& m) { return codec::ToJson(m, codec::kWire); }

std::vector<Message> MessagesFrom(const Json& a) {
  if (!a.is_array()) throw MalformedJson(std::string("messages: expected an array, got ") + a.type_name());
  std::vector<Message> out;
  for (const Json& m : a) out.push_back(MessageFrom(m));
  return out;
}

User UserFrom(const Json& j) { return Decode<User>(j); }
Device DeviceFrom(const Json& j) { return Decode<Device>(j); }
Chat ChatFrom(const Json& j) { return Decode<Chat>(j); }
ChatSummary SummaryFrom(const Json& j) { return Decode<ChatSummary>(j); }
Json SummaryJson(const ChatSummary& s) { return codec::ToJson(s, codec::kWire); }
ReceiptCursor CursorFrom(const Json& j) { return Decode<ReceiptCursor>(j); }
Session SessionFrom(const Json& j) { return Decode<Session>(j); }
Json SessionJson(const Session& s) { return codec::ToJson(s, codec::kOwn); }
Attachment AttachmentFrom(const Json& j) { return Decode<Attachment>(j); }

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
