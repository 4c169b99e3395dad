// The chat domain's entities, after the requirements: users with up to N devices, direct and group chats
// with participants, and messages ordered by a per-chat sequence number. Plain values; no behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chat {

using UserId = std::uint64_t;
using DeviceId = std::uint64_t;
using ChatId = std::uint64_t;
// Position of a message in its chat: 1, 2, 3, ... gapless, assigned by the store. 0 means "none".
using Seq = std::uint64_t;
// Milliseconds since the Unix epoch, UTC.
using TimeMs = std::int64_t;

constexpr TimeMs kMsPerDay = 24LL * 3600 * 1000;

// Who may see a user's "last seen" time.
enum class LastSeenVisibility : std::uint8_t { kEveryone = 0, kChatPartners = 1, kNobody = 2 };

struct User {
  UserId id = 0;
  std::string username;       // Unique, 3..32 of [a-z0-9_.-], compared case-insensitively (stored lower-case).
  std::string display_name;
  std::string email;
  std::string password_hash;  // Argon2id in libsodium's encoded form; never the password.
  std::string avatar_url;
  TimeMs created_at = 0;
  bool disabled = false;
  LastSeenVisibility last_seen_visibility = LastSeenVisibility::kEveryone;
};

struct Device {
  DeviceId id = 0;
  UserId user = 0;
  std::string kind;           // "phone", "laptop", "web", ... free text chosen by the client.
  std::string name;
  std::string push_provider;  // "", "webhook", "fcm", "apns".
  std::string push_token;
  std::string token_hash;     // BLAKE2b of the session token; the token itself is never stored.
  TimeMs token_expires_at = 0;
  TimeMs created_at = 0;
  TimeMs last_seen = 0;

  // Whether a session of this device may act at `now`: it holds a token (not forgotten by a disable
  // or unban) that has not expired (0: never expires).
  bool HasLiveToken(TimeMs now) const { return !token_hash.empty() && (token_expires_at == 0 || token_expires_at >= now); }
};

enum class ChatKind : std::uint8_t { kDirect = 0, kGroup = 1 };

struct Chat {
  ChatId id = 0;
  ChatKind kind = ChatKind::kGroup;
  std::string name;
  std::string metadata;      // Opaque to the server (clients store JSON here), size-limited.
  std::uint32_t member_limit = 100;
  TimeMs retention_ms = 30 * kMsPerDay;
  UserId created_by = 0;
  TimeMs created_at = 0;
};

enum class Role : std::uint8_t { kMember = 0, kAdmin = 1, kOwner = 2 };

struct Participant {
  ChatId chat = 0;
  UserId user = 0;
  Role role = Role::kMember;
  TimeMs joined_at = 0;
  // Head of the chat when the user joined: the member sees messages with seq > joined_seq only.
  Seq joined_seq = 0;
};

enum class MessageKind : std::uint8_t {
  kText = 0,
  kImage = 1,
  kAudio = 2,
  kVideo = 3,
  kDocument = 4,
  // Server-written entries in the chat's log. They take a sequence number like any message, so that
  // every device syncs them in the one order: membership changes, deletions, call records.
  kMembership = 10,  // body: JSON describing the change.
  kDeletion = 11,    // ref_seq: the deleted message.
  kCall = 12,        // body: JSON call record.
};

// True for what users write (text, image, audio, video, document); false for entries the server writes.
bool IsUserContent(MessageKind kind);

struct Message {
  ChatId chat = 0;
  Seq seq = 0;
  std::string id;             // Globally unique: 32 hex digits, random.
  UserId sender = 0;          // 0 for server-written entries.
  DeviceId sender_device = 0;
  std::string client_id;      // Client-chosen idempotency key, unique per sending device.
  MessageKind kind = MessageKind::kText;
  std::string body;
  std::vector<std::string> attachments;  // Attachment ids.
  Seq reply_to = 0;
  Seq ref_seq = 0;            // kDeletion: the message deleted.
  TimeMs timestamp = 0;       // Server time at acceptance.
  bool deleted = false;       // Tombstone: body and attachments have been erased.
};

// Per-user, per-chat receipt cursors: every message with seq <= delivered reached at least one of the
// user's devices; every message with seq <= read was read by the user.
struct ReceiptCursor {
  ChatId chat = 0;
  UserId user = 0;
  Seq delivered = 0;
  Seq read = 0;
};

// One chat's pending state for a device: the device must still receive (acked, head].
struct PendingChat {
  ChatId chat = 0;
  Seq acked = 0;
  Seq head = 0;
};

// One user blocking another (ChatService::BlockUser): `blocked` may no longer message, add, call
// or see the presence of `user`.
struct UserBlock {
  UserId user = 0;
  UserId blocked = 0;
  TimeMs since = 0;
};

// An administrator's ban of an account (ChatService::BanUser). While it stands the account is also
// disabled (User::disabled): every refusal a disabled account gets, a banned one gets too.
struct UserBan {
  UserId user = 0;
  TimeMs at = 0;
  std::string reason;
};

// An invitation to register (chat::Server with RegistrationMode::kInvite; chatctl invites create).
// The code is shown once, when the invitation is made; the store keeps its first characters as the
// invitation's id and a digest of the whole code, so that a copy of the store holds no usable code.
struct Invite {
  std::string id;           // The code's first 8 characters (lower-case hex): shown to admins.
  std::string code_hash;    // HashToken of the whole code.
  TimeMs created_at = 0;
  TimeMs expires_at = 0;    // 0: never.
  std::uint32_t max_uses = 1;
  std::uint32_t uses = 0;   // Accounts registered with it so far.
  std::string note;         // The administrator's note (who it is for); at most 256 bytes.
};

// What an attachment holds; decides its size limit and the magic bytes checked on upload.
enum class AttachmentKind : std::uint8_t { kAudio = 0, kImage = 1, kVideo = 2, kDocument = 3 };

// pending: announced by createAttachment, bytes not (completely) uploaded. complete: bytes stored and
// verified; only then may a message reference it.
enum class AttachmentState : std::uint8_t { kPending = 0, kComplete = 1 };

// A file attached to messages. The bytes live in a BlobStore under the same id; this is the metadata.
struct Attachment {
  std::string id;          // 32 hex digits, random; also the blob id.
  UserId uploader = 0;
  AttachmentKind kind = AttachmentKind::kDocument;
  std::string mime;        // Declared MIME type, lower-case "type/subtype".
  std::uint64_t size = 0;  // Declared size in bytes; the upload must match it exactly.
  std::string sha256;      // Declared SHA-256, 64 lower-case hex digits; the upload must match it.
  AttachmentState state = AttachmentState::kPending;
  TimeMs created_at = 0;
  TimeMs completed_at = 0;  // 0 while pending.
};

// A message that references an attachment.
struct AttachmentRef {
  ChatId chat = 0;
  Seq seq = 0;
};

std::string_view ToString(ChatKind kind);
std::string_view ToString(Role role);
std::string_view ToString(MessageKind kind);
std::string_view ToString(LastSeenVisibility v);
std::string_view ToString(AttachmentKind kind);
std::string_view ToString(AttachmentState state);
// Parse the names above; false if unknown.
bool Parse(std::string_view s, ChatKind* out);
bool Parse(std::string_view s, Role* out);
bool Parse(std::string_view s, MessageKind* out);
bool Parse(std::string_view s, LastSeenVisibility* out);
bool Parse(std::string_view s, AttachmentKind* out);
bool Parse(std::string_view s, AttachmentState* out);

}  // namespace chat
