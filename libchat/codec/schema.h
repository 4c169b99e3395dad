// The fields of every entity libchat writes as JSON, listed once. Each Schema<T>::Fields names a
// field's key in the export record (snake_case, docs/storage.md "Export format") and in the JSON of
// the protocol and the admin API (camelCase, docs/protocol.md and docs/admin.md), and which of those
// JSON forms show it. Every encoder and decoder of the codec walks these lists (json_codec.cc for the
// protocol and admin forms, record_json.cc for the export), so a new field of Message is one line in
// Schema<Message>: its encoders and decoders follow.
//
// Internal to libchat (the library's own targets link libchat_codec); not installed.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "libchat/service.h"
#include "libchat/spam.h"
#include "libchat/store_record.h"
#include "libchat/types.h"

namespace chat::codec {

// The JSON forms of an entity, as bits: a field lists the forms that show it.
enum Form : std::uint8_t {
  kWire = 1,   // Protocol v1, about anyone: what any member may see of a user, a chat, a message.
  kOwn = 2,    // Protocol v1, the reader's own: their account (email, privacy), their receipt cursor.
  kAdmin = 4,  // The admin API: what an operator sees (never a secret).
};
inline constexpr std::uint8_t kEveryForm = kWire | kOwn | kAdmin;

// One field: its export key, its JSON key (null: never in JSON, e.g. a password hash) and the JSON
// forms that show it. The export record always has every field.
struct Field {
  const char* record;
  const char* json;
  std::uint8_t forms;
};

// Specialised for each entity below: kRecordType (the export's "type", or null for entities that are
// not exported) and Fields(entity, visit), which calls visit(member, Field) for each field in the
// export's order. `E` is the entity, const or not: decoders visit to fill, encoders to read.
template <typename T>
struct Schema;

// True for the types Schema knows: a field of such a type is a nested object.
template <typename T>
concept Entity = requires { Schema<T>::kRecordType; };

template <>
struct Schema<IdCounters> {
  static constexpr const char* kRecordType = "counters";
  template <typename E, typename V>
  static void Fields(E& c, V&& visit) {
    visit(c.next_user, {"next_user", nullptr, 0});
    visit(c.next_device, {"next_device", nullptr, 0});
    visit(c.next_chat, {"next_chat", nullptr, 0});
  }
};

template <>
struct Schema<User> {
  static constexpr const char* kRecordType = "user";
  template <typename E, typename V>
  static void Fields(E& u, V&& visit) {
    visit(u.id, {"id", "id", kEveryForm});
    visit(u.username, {"username", "username", kEveryForm});
    visit(u.display_name, {"display_name", "displayName", kEveryForm});
    visit(u.email, {"email", "email", kOwn | kAdmin});
    visit(u.password_hash, {"password_hash", nullptr, 0});
    visit(u.avatar_url, {"avatar_url", "avatarUrl", kEveryForm});
    visit(u.created_at, {"created_at", "createdAt", kEveryForm});
    visit(u.disabled, {"disabled", "disabled", kAdmin});
    visit(u.last_seen_visibility, {"last_seen_visibility", "lastSeenVisibility", kOwn | kAdmin});
  }
};

template <>
struct Schema<UserBan> {
  static constexpr const char* kRecordType = "ban";
  template <typename E, typename V>
  static void Fields(E& b, V&& visit) {
    visit(b.user, {"user", "userId", kAdmin});
    visit(b.at, {"at", "bannedAt", kAdmin});
    visit(b.reason, {"reason", "banReason", kAdmin});
  }
};

template <>
struct Schema<Invite> {
  static constexpr const char* kRecordType = "invite";
  // In the export only: the admin API's invitation answers are written by libchat/admin.
  template <typename E, typename V>
  static void Fields(E& i, V&& visit) {
    visit(i.id, {"id", nullptr, 0});
    visit(i.code_hash, {"code_hash", nullptr, 0});
    visit(i.created_at, {"created_at", nullptr, 0});
    visit(i.expires_at, {"expires_at", nullptr, 0});
    visit(i.max_uses, {"max_uses", nullptr, 0});
    visit(i.uses, {"uses", nullptr, 0});
    visit(i.note, {"note", nullptr, 0});
  }
};

template <>
struct Schema<UserBlock> {
  static constexpr const char* kRecordType = "block";
  template <typename E, typename V>
  static void Fields(E& b, V&& visit) {
    visit(b.user, {"user", nullptr, 0});  // The blocker: the reader of listBlocked.
    visit(b.blocked, {"blocked", "userId", kOwn});
    visit(b.since, {"since", "since", kOwn});
  }
};

template <>
struct Schema<Device> {
  static constexpr const char* kRecordType = "device";
  template <typename E, typename V>
  static void Fields(E& d, V&& visit) {
    visit(d.id, {"id", "id", kEveryForm});
    visit(d.user, {"user", "userId", kAdmin});
    visit(d.kind, {"kind", "kind", kEveryForm});
    visit(d.name, {"name", "name", kEveryForm});
    visit(d.push_provider, {"push_provider", "pushProvider", kEveryForm});
    // Credentials: in the export only.
    visit(d.push_token, {"push_token", nullptr, 0});
    visit(d.token_hash, {"token_hash", nullptr, 0});
    visit(d.token_expires_at, {"token_expires_at", "sessionExpiresAt", kAdmin});
    visit(d.created_at, {"created_at", "createdAt", kEveryForm});
    visit(d.last_seen, {"last_seen", "lastSeen", kEveryForm});
  }
};

template <>
struct Schema<Chat> {
  static constexpr const char* kRecordType = nullptr;  // Exported as a ChatRecord.
  template <typename E, typename V>
  static void Fields(E& c, V&& visit) {
    visit(c.id, {"id", "id", kEveryForm});
    visit(c.kind, {"kind", "kind", kEveryForm});
    visit(c.name, {"name", "name", kEveryForm});
    // Opaque and up to kilobytes: not in the admin API's lists (its chat detail is the kWire form).
    visit(c.metadata, {"metadata", "metadata", kWire | kOwn});
    visit(c.member_limit, {"member_limit", "memberLimit", kEveryForm});
    visit(c.retention_ms, {"retention_ms", "retentionMs", kEveryForm});
    visit(c.created_by, {"created_by", "createdBy", kEveryForm});
    visit(c.created_at, {"created_at", "createdAt", kEveryForm});
  }
};

template <>
struct Schema<ChatRecord> {
  static constexpr const char* kRecordType = "chat";
  template <typename E, typename V>
  static void Fields(E& r, V&& visit) {
    // The chat's own fields at the top level of the record, then its log position.
    Schema<Chat>::Fields(r.chat, visit);
    visit(r.head, {"head", nullptr, 0});
    visit(r.last_timestamp, {"last_timestamp", nullptr, 0});
  }
};

template <>
struct Schema<Participant> {
  static constexpr const char* kRecordType = "participant";
  template <typename E, typename V>
  static void Fields(E& p, V&& visit) {
    visit(p.chat, {"chat", nullptr, 0});  // Listed under its chat.
    visit(p.user, {"user", "userId", kEveryForm});
    visit(p.role, {"role", "role", kEveryForm});
    visit(p.joined_at, {"joined_at", "joinedAt", kEveryForm});
    visit(p.joined_seq, {"joined_seq", "joinedSeq", kEveryForm});
  }
};

template <>
struct Schema<Message> {
  static constexpr const char* kRecordType = "message";
  template <typename E, typename V>
  static void Fields(E& m, V&& visit) {
    visit(m.chat, {"chat", "chatId", kWire | kOwn});
    visit(m.seq, {"seq", "seq", kEveryForm});
    visit(m.id, {"id", "id", kEveryForm});
    visit(m.sender, {"sender", "sender", kEveryForm});
    visit(m.sender_device, {"sender_device", "senderDevice", kEveryForm});
    visit(m.client_id, {"client_id", "clientId", kWire | kOwn});
    visit(m.kind, {"kind", "kind", kEveryForm});
    // Content: the admin API shows sizes unless bodies are asked for (admin views.cc).
    visit(m.body, {"body", "body", kWire | kOwn});
    visit(m.attachments, {"attachments", "attachments", kWire | kOwn});
    visit(m.reply_to, {"reply_to", "replyTo", kEveryForm});
    visit(m.ref_seq, {"ref_seq", "refSeq", kEveryForm});
    visit(m.timestamp, {"timestamp", "timestamp", kEveryForm});
    visit(m.deleted, {"deleted", "deleted", kEveryForm});
  }
};

template <>
struct Schema<DeviceCursorRecord> {
  static constexpr const char* kRecordType = "device_cursor";
  template <typename E, typename V>
  static void Fields(E& c, V&& visit) {
    visit(c.device, {"device", nullptr, 0});
    visit(c.chat, {"chat", nullptr, 0});
    visit(c.seq, {"seq", nullptr, 0});
  }
};

template <>
struct Schema<ReceiptCursor> {
  static constexpr const char* kRecordType = "receipt";
  template <typename E, typename V>
  static void Fields(E& r, V&& visit) {
    // A chat's receipts (kWire) name the user; the reader's own cursor (kOwn: ack) names the chat.
    visit(r.chat, {"chat", "chatId", kOwn});
    visit(r.user, {"user", "userId", kWire});
    visit(r.delivered, {"delivered", "delivered", kEveryForm});
    visit(r.read, {"read", "read", kEveryForm});
  }
};

template <>
struct Schema<SpamFlag> {
  static constexpr const char* kRecordType = "spam_flag";
  template <typename E, typename V>
  static void Fields(E& f, V&& visit) {
    visit(f.user, {"user", "userId", kAdmin});
    visit(f.score, {"score", "score", kAdmin});
    visit(f.flagged_at, {"flagged_at", "flaggedAt", kAdmin});
    visit(f.updated_at, {"updated_at", "updatedAt", kAdmin});
    visit(f.suspended, {"suspended", "suspended", kAdmin});
    visit(f.reasons, {"reasons", "reasons", kAdmin});
  }
};

template <>
struct Schema<SpamReport> {
  static constexpr const char* kRecordType = "spam_report";
  template <typename E, typename V>
  static void Fields(E& r, V&& visit) {
    visit(r.id, {"id", "id", kAdmin});
    visit(r.reporter, {"reporter", "reporterId", kAdmin});
    visit(r.sender, {"sender", "senderId", kAdmin});
    visit(r.chat, {"chat", "chatId", kAdmin});
    visit(r.seq, {"seq", "seq", kAdmin});
    visit(r.reason, {"reason", "reason", kAdmin});
    visit(r.reported_at, {"reported_at", "reportedAt", kAdmin});
  }
};

template <>
struct Schema<Attachment> {
  static constexpr const char* kRecordType = "attachment";
  template <typename E, typename V>
  static void Fields(E& a, V&& visit) {
    visit(a.id, {"id", "id", kEveryForm});
    visit(a.uploader, {"uploader", "uploaderId", kEveryForm});
    visit(a.kind, {"kind", "kind", kEveryForm});
    visit(a.mime, {"mime", "mimeType", kEveryForm});
    visit(a.size, {"size", "size", kEveryForm});
    visit(a.sha256, {"sha256", "sha256", kEveryForm});
    visit(a.state, {"state", "state", kEveryForm});
    visit(a.created_at, {"created_at", "createdAt", kEveryForm});
    visit(a.completed_at, {"completed_at", nullptr, 0});
  }
};

// Protocol-only shapes (not exported): a chat in listChats, and a signed-in session.

template <>
struct Schema<ChatSummary> {
  static constexpr const char* kRecordType = nullptr;
  template <typename E, typename V>
  static void Fields(E& s, V&& visit) {
    visit(s.chat, {"chat", "chat", kWire});
    visit(s.role, {"role", "role", kWire});
    visit(s.head, {"head", "head", kWire});
    visit(s.read, {"read", "read", kWire});
    visit(s.unread, {"unread", "unread", kWire});
    visit(s.last_message, {"last_message", "lastMessage", kWire});
  }
};

template <>
struct Schema<Session> {
  static constexpr const char* kRecordType = nullptr;
  template <typename E, typename V>
  static void Fields(E& s, V&& visit) {
    visit(s.user, {"user", "user", kOwn});
    visit(s.device, {"device", "device", kOwn});
    visit(s.token, {"token", "token", kOwn});  // Absent when empty (a resume never echoes it).
    visit(s.token_hash, {"token_hash", nullptr, 0});
  }
};

}  // namespace chat::codec
