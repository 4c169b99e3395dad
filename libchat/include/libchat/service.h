// ChatService: the chat domain's operations with their rules: who may do what, limits, ordering,
// idempotency, receipts, and the events that tell live sessions what happened. Everything persists
// through a Store; events go out through a Bus. This is the API a product embeds (see examples/embed).
//
// Thread-safe. Calls block on the store: call them from worker threads, never from network threads.
// Every failure is a typed Status that names its cause and leaves the store unchanged.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/blob.h"
#include "libchat/bus.h"
#include "libchat/options.h"
#include "libchat/result.h"
#include "libchat/spam.h"
#include "libchat/store.h"
#include "libchat/types.h"

namespace chat {

struct NewAccount {
  std::string username;
  std::string password;
  std::string display_name;
  std::string email;
  std::string avatar_url;
};

// An invitation as CreateInvite makes it: `code` is shown this once (the store keeps its digest).
struct NewInvite {
  Invite invite;
  std::string code;
};

// What DeleteUser removed.
struct UserDeletion {
  std::size_t messages = 0;     // The user's messages, now tombstones.
  std::size_t chats = 0;        // Chats the user was taken out of.
  std::size_t devices = 0;      // Devices removed (sessions ended).
  std::size_t blocks = 0;       // Blocks by and of the user.
  std::size_t attachments = 0;  // Uploads erased, bytes included.
};

struct DeviceInfo {
  std::string kind;  // "phone", "laptop", ...
  std::string name;
};

// A device's authenticated session. `token` is set only when it was just issued (login); it is
// shown once and stored only as a hash.
struct Session {
  User user;
  Device device;
  std::string token;
  // The hash of the token this session authenticated with (Login, Resume, ChangePassword): what
  // CheckSession and the revocation of a device's other connections compare.
  std::string token_hash;
};

struct SendRequest {
  UserId sender = 0;
  DeviceId device = 0;
  ChatId chat = 0;
  std::string client_id;  // Required: the idempotency key.
  MessageKind kind = MessageKind::kText;
  std::string body;
  std::vector<std::string> attachments;
  Seq reply_to = 0;
};

// What a client announces before uploading an attachment (createAttachment).
struct NewAttachment {
  AttachmentKind kind = AttachmentKind::kDocument;
  std::string mime;        // Lower-case type/subtype; see CheckAttachmentType in docs/protocol.md.
  std::uint64_t size = 0;  // Exact size in bytes, at least 1.
  std::string sha256;      // 64 hex digits (either case; stored lower-case).
};

// Permission to upload the bytes of a new, pending attachment.
struct UploadTicket {
  Attachment attachment;
  std::string upload_path;  // "/v1/attachments/<id>": PUT the bytes there on the server's HTTP port.
  TimeMs expires_at = 0;    // An upload not complete by then may be collected (attachment_orphan_ttl_ms).
};

// One upload of an attachment's bytes in progress (ChatService::BeginUpload). Bytes go straight to the
// BlobStore: memory use does not grow with the size. Not thread-safe: one caller at a time (calls may
// come from different threads in turn). Calls block on the BlobStore. Destroying it before Finish
// discards what was written; the attachment stays pending.
class AttachmentUpload {
 public:
  virtual ~AttachmentUpload() = default;
  // The attachment being uploaded, as announced (pending).
  virtual const Attachment& attachment() const = 0;
  // Appends bytes. InvalidArgument (and the upload is discarded) when they go past the declared size
  // or, once the first bytes are in, when they do not match the declared MIME type's signature.
  virtual Status Write(std::string_view bytes) = 0;
  // Checks size and SHA-256 against the declaration, makes the bytes durable and visible, and marks
  // the attachment complete. InvalidArgument on a mismatch (nothing is kept; the attachment stays
  // pending and may be uploaded again); FailedPrecondition if another upload completed it first.
  virtual Result<Attachment> Finish() = 0;
};

// An attachment opened for reading. The reader streams the bytes (BlobReader::ReadAt).
struct AttachmentDownload {
  Attachment attachment;
  std::unique_ptr<BlobReader> reader;
};

struct SyncPage {
  ChatId chat = 0;
  std::vector<Message> messages;  // Ascending seq.
  Seq head = 0;                   // The chat's head when read.
  bool has_more = false;          // More after the last message returned.
};

struct ChatView {
  Chat chat;
  std::vector<Participant> participants;
  Seq head = 0;
};

struct ChatSummary {
  Chat chat;
  Role role = Role::kMember;
  Seq head = 0;
  Seq read = 0;
  std::uint64_t unread = 0;             // Entries after the user's read cursor (own excluded once read).
  std::optional<Message> last_message;  // The newest entry within retention, if any.
};

struct ParticipantChange {
  std::vector<UserId> add;
  std::vector<UserId> remove;
  std::vector<std::pair<UserId, Role>> set_role;
};

// The actions with rate limits (ChargeDevice).
enum class RateAction { kSend, kCreateChat, kAddParticipants, kUpload };

class ChatService {
 public:
  // `store` and `bus` are shared with whoever else uses them (e.g. a server's sessions).
  // `blobs` keeps attachment bytes; without one (nullptr) the attachment calls return NotSupported.
  static Result<std::unique_ptr<ChatService>> Create(ServiceOptions options, std::shared_ptr<Store> store,
                                                     std::shared_ptr<Bus> bus,
                                                     std::shared_ptr<BlobStore> blobs = nullptr);
  virtual ~ChatService() = default;

  const ServiceOptions& options() const;
  Store& store();
  Bus& bus();

  // ---- Accounts and devices ----
  // InvalidArgument for a bad username/password/field; AlreadyExists if the username is taken. Blocks
  // for one Argon2id hash. Not limited here: a front end limits registrations per source (chat::Server
  // does, Limits::register_per_address and register_global) and runs them apart from other work.
  virtual Result<User> Register(const NewAccount& account) = 0;
  // Checks the password and opens a session on a new device. Unauthenticated (without saying whether
  // the user exists) on a wrong password; FailedPrecondition when the user already has the maximum
  // number of devices (the message says how to remove one); PermissionDenied if the user is disabled.
  // ResourceExhausted with Status::retry_after_ms() while the login throttle holds the account name
  // or `source_address` (the client's IP address, without port; empty if unknown) back after repeated
  // failures (ServiceOptions::login_throttle): the same answer whether or not the user exists.
  virtual Result<Session> Login(const std::string& username, const std::string& password,
                                const DeviceInfo& device, std::string_view source_address = {}) = 0;
  // The session of a token from Login. Unauthenticated if unknown, revoked or expired.
  virtual Result<Session> Resume(const std::string& token) = 0;
  // Checks a password without opening a session (e.g. to remove a device when at the limit). Errors
  // and throttling as Login's, with the same `source_address`.
  virtual Result<User> VerifyPassword(const std::string& username, const std::string& password,
                                      std::string_view source_address = {}) = 0;
  // Changes the user's password: `old_password` must be right (checked like Login's, behind the login
  // throttle with the device as the source: failures made elsewhere against the name do not hold it
  // back). Every session of the user ends: the other devices are removed (as by
  // RemoveDevice) and their live connections told to close (kSessionRevoked); `device`, the one asking,
  // keeps its cursors and gets a new token, returned in the Session. InvalidArgument for a new
  // password of the wrong length; Unauthenticated for a wrong old one; NotFound if `device` is not
  // the user's.
  virtual Result<Session> ChangePassword(UserId user, DeviceId device, const std::string& old_password,
                                         const std::string& new_password) = 0;
  // OK while a session of `device` that authenticated with the token hashed as `token_hash` (empty:
  // with any current token of the device) may act: the device is the user's, that token is its
  // current one and unexpired, and the account is open. Unauthenticated ("session ended") otherwise;
  // PermissionDenied for a disabled or banned account. Reads the store, not a cache: a server calls it
  // right after registering a session for live events, so that a revocation published just before
  // the registration is not missed.
  virtual Status CheckSession(UserId user, DeviceId device, std::string_view token_hash) = 0;
  // Ends the device's session and removes the device with its cursors.
  virtual Status Logout(UserId user, DeviceId device) = 0;
  virtual Result<std::vector<Device>> ListDevices(UserId user) = 0;
  // Removes one of the user's devices; its live sessions are told to close (kSessionRevoked).
  virtual Status RemoveDevice(UserId user, DeviceId device) = 0;
  virtual Status SetPushToken(UserId user, DeviceId device, const std::string& provider,
                              const std::string& token) = 0;
  virtual Status SetLastSeenVisibility(UserId user, LastSeenVisibility visibility) = 0;
  virtual Result<User> GetUser(UserId user) = 0;
  virtual Result<User> FindUser(const std::string& username) = 0;
  // Records device activity (connect, disconnect, heartbeat): the user's last seen.
  virtual Status TouchDevice(DeviceId device) = 0;
  // The user's last seen (max over devices) as `viewer` may see it; nullopt if hidden or never seen.
  virtual Result<std::optional<TimeMs>> LastSeen(UserId viewer, UserId user) = 0;
  // True if viewer may see user's presence: they share a chat (or are the same user).
  virtual Result<bool> SharesChat(UserId viewer, UserId user) = 0;
  // Disables or enables an account; disabling revokes every session. FailedPrecondition when enabling
  // a banned account (UnbanUser lifts the ban and the disable with it).
  virtual Status SetDisabled(UserId user, bool disabled) = 0;

  // ---- Blocking (docs/security.md "Blocking and bans") ----
  // `user` blocks `blocked`: from then on `blocked` cannot send to their direct chat or open a new
  // one with `user`, add `user` to a group (CreateGroup, ModifyParticipants), see `user`'s presence
  // and last seen, or call `user` (PermissionDenied, nothing changes). Messages in groups they share
  // are not filtered. Idempotent (blocking again keeps the first time). InvalidArgument for blocking
  // oneself; NotFound for an unknown user; FailedPrecondition when `user` already blocks
  // Limits::max_blocked_users others.
  virtual Status BlockUser(UserId user, UserId blocked) = 0;
  // Lifts the block; idempotent. InvalidArgument for oneself; NotFound for an unknown user.
  virtual Status UnblockUser(UserId user, UserId blocked) = 0;
  // The users `user` blocks, by id, with the time each block began.
  virtual Result<std::vector<UserBlock>> ListBlocked(UserId user) = 0;
  // True if `user` blocks `other`. Answered from memory after the first call per user (the send path
  // asks it); changes made through this service are seen at once.
  virtual Result<bool> Blocks(UserId user, UserId other) = 0;

  // ---- Administration (the admin API, libchat/admin; not reachable through the chat protocol) ----
  // ---- Administration (the admin API, libchat/admin; not reachable through the chat protocol) ----
  // Checks a password against Limits and hashes it with Argon2id at the configured cost, as Register
  // would. InvalidArgument for a password of the wrong length. Blocks for one hash (milliseconds to a
  // second, by cost).
  virtual Result<std::string> HashPassword(const std::string& password) = 0;
  // Register with a password hashed beforehand (by HashPassword): every check Register makes except
  // the password's, which `account.password` need not hold. Lets a bulk provisioner of test accounts
  // pay for Argon2id once and give many accounts the same hash. InvalidArgument for a bad field or a
  // hash that is not in libsodium's Argon2id form; AlreadyExists if the username is taken.
  virtual Result<User> RegisterWithHash(const NewAccount& account, const std::string& password_hash) = 0;
  // Opens a session on a new device of `user` without a password (an administrator's privilege).
  // The token is in the result only. InvalidArgument for a bad device kind or name; NotFound for an
  // unknown user; PermissionDenied if the account is disabled; FailedPrecondition when the user
  // already has the maximum number of devices.
  virtual Result<Session> IssueSession(UserId user, const DeviceInfo& device) = 0;

  // Bans an account: it is disabled with the ban recorded (time and reason) in one write, every
  // session is revoked and its live connections are closed (kSessionRevoked). From then on Login,
  // Resume and IssueSession answer PermissionDenied ("account ... is banned") and Send refuses the
  // user. Banning a banned account replaces the reason and time. InvalidArgument for an empty reason
  // or one over Limits::max_ban_reason_bytes; NotFound for an unknown user.
  virtual Result<UserBan> BanUser(UserId user, const std::string& reason) = 0;
  // Lifts a ban: the account is enabled and may log in again. OK, changing nothing, if the user is not
  // banned (a disabled account stays disabled). NotFound for an unknown user.
  virtual Status UnbanUser(UserId user) = 0;
  // The user's ban, or nullopt if not banned.
  virtual Result<std::optional<UserBan>> GetBan(UserId user) = 0;
  // Bans of users with id > after, ascending, at most limit.
  virtual Result<std::vector<UserBan>> ListBans(UserId after, std::size_t limit) = 0;

  // Sets a new password for the user (an administrator's reset: no old password) and ends every
  // session: every device is removed with its cursors and its live connections are closed
  // (kSessionRevoked), through Store::ChangeCredentials, in one write. Returns the devices removed.
  // InvalidArgument for a password breaking Limits; NotFound for an unknown user. Blocks for one
  // Argon2id hash.
  virtual Result<std::vector<DeviceId>> ResetPassword(UserId user, const std::string& new_password) = 0;
  // Deletes an account and what it leaves behind: its sessions end at once (devices removed,
  // connections closed), every message it sent becomes a tombstone (a deletion entry tells the
  // chats' devices, as for deleteMessage; content erased from disk as docs/storage.md says), it is
  // taken out of every chat (ownership passes on as when leaving), and its blocks (made and
  // received), ban, spam flag and uploads (bytes included) are erased; the username is free again,
  // the id never reused. Reads every chat's log once to find the messages: its cost follows the size
  // of the store. NotFound for an unknown user. If it fails midway, calling it again finishes it.
  virtual Result<UserDeletion> DeleteUser(UserId user) = 0;
  // Deletes a chat: every member is taken out (their devices are told, with a membership entry), then
  // the chat and everything in it goes (Store::DeleteChat). Returns how many members it had.
  // NotFound if the chat does not exist.
  virtual Result<std::size_t> DeleteChat(ChatId chat) = 0;

  // ---- Invitations (chat::Server's RegistrationMode::kInvite; docs/admin.md, "Invitations") ----
  // Makes an invitation good for `max_uses` registrations (1..10000) until `valid_for_ms` from now
  // (0: no expiry), with an administrator's `note` (at most 256 bytes of UTF-8). The code (24
  // lower-case hex digits, 96 random bits) is in the result only. InvalidArgument for bad values.
  virtual Result<NewInvite> CreateInvite(std::uint32_t max_uses, TimeMs valid_for_ms, const std::string& note) = 0;
  // Invitations with id > after, by id, at most limit.
  virtual Result<std::vector<Invite>> ListInvites(const std::string& after, std::size_t limit) = 0;
  // Deletes an invitation (its code stops working). NotFound if there is none with this id.
  virtual Status RevokeInvite(const std::string& id) = 0;
  // Register with an invitation code: as Register, and the code must name an invitation that has
  // not expired and has a use left, which this registration takes (atomically with the account).
  // PermissionDenied ("invalid, expired or used invitation code") otherwise, before any hashing.
  virtual Result<User> RegisterWithInvite(const NewAccount& account, const std::string& code) = 0;

  // ---- Rate limits (Limits::*_per_device, *_per_user; docs/security.md) ----
  // Send/SendAsync, CreateGroup/CreateDirect (a new chat only), ModifyParticipants (per user added)
  // and CreateAttachment charge the acting user's bucket themselves, and Send also the device's
  // (the request names it). A front end that knows the device of the other actions charges it with
  // ChargeDevice first. Exceeding a limit fails with ResourceExhausted and Status::retry_after_ms().
  //
  // Takes `units` tokens of `action` from `device`'s bucket. OK if it held enough (or limits are off);
  // ResourceExhausted with retry_after_ms() otherwise, taking nothing. Thread-safe; does not block.
  virtual Status ChargeDevice(DeviceId device, RateAction action, std::size_t units = 1) = 0;

  // ---- Spam (ServiceOptions::spam; docs/security.md, "Spam scoring") ----
  // Send/SendAsync refuse a sender whose spam score is over the suspend threshold with
  // PermissionDenied ("sending suspended for spam", retry_after_ms() until it decays), and a throttled
  // one over its cut rate with ResourceExhausted and retry_after_ms(); a refused send changes nothing.
  //
  // Reports message `seq` of `chat` as spam: stored for admins and added to the sender's score
  // (a reporter's first report about a sender counts the most). The reporter must see the message:
  // a member since before it, within retention, not deleted. PermissionDenied if not a member;
  // NotFound for a message they cannot see; InvalidArgument for their own message, an entry the
  // server wrote, or a reason over 256 bytes. Idempotent: reporting a message again returns the
  // stored report with `duplicate` set and adds nothing.
  virtual Result<SpamReportAdded> ReportMessage(UserId reporter, ChatId chat, Seq seq,
                                                const std::string& reason = {}) = 0;
  // The user's spam score, decayed to now, and what it does. Does not block.
  virtual SpamStanding SpamStatus(UserId user) = 0;
  // (Admin) Clears the user's flag, score and suspension, and what the rules remember of them.
  // OK if there was nothing to clear; NotFound for an unknown user.
  virtual Status ClearSpam(UserId user) = 0;
  // Counters since start (for metrics). Does not block.
  virtual SpamCounters SpamCountersSinceStart() = 0;

  // ---- Chats ----
  // A group with the creator as owner and `members` as members.
  virtual Result<Chat> CreateGroup(UserId creator, const std::string& name, const std::vector<UserId>& members,
                                   const std::string& metadata = {}, std::uint32_t member_limit = 0,
                                   TimeMs retention_ms = 0) = 0;
  // The direct chat of the two users, created if needed (the same chat on every call).
  virtual Result<Chat> CreateDirect(UserId creator, UserId other) = 0;
  // Adds, removes and re-roles members; only admins and owners may. Returns the kMembership entry.
  virtual Result<Message> ModifyParticipants(UserId actor, ChatId chat, const ParticipantChange& change) = 0;
  // The user leaves the chat; an owner leaving hands ownership to the longest-standing admin/member.
  virtual Result<Message> Leave(UserId user, ChatId chat) = 0;
  // Renames or changes metadata (admins and owners).
  virtual Result<Message> UpdateChat(UserId actor, ChatId chat, const std::optional<std::string>& name,
                                     const std::optional<std::string>& metadata) = 0;
  virtual Result<ChatView> GetChat(UserId viewer, ChatId chat) = 0;
  virtual Result<std::vector<ChatSummary>> ListChats(UserId user) = 0;
  // Members of the chat, for routing (cached). PermissionDenied unless viewer is a member (viewer 0: no check).
  virtual Result<std::vector<UserId>> Members(ChatId chat, UserId viewer = 0) = 0;

  // ---- Messages ----
  // Appends the message; returns once it is durable. Resending a client_id returns the original.
  // Every attachment must be complete and either the sender's or one the sender may open (forwarding);
  // NotFound, FailedPrecondition or PermissionDenied otherwise.
  virtual Result<AppendResult> Send(const SendRequest& request) = 0;
  // Send without blocking on the commit: validation runs on the calling thread, and `done` is called
  // once the message is durable and its spam points count (or once refused), on a store thread or the
  // calling thread; it must be quick. A server uses this so that a few worker threads keep many sends
  // in flight (they share fsyncs).
  virtual void SendAsync(const SendRequest& request, std::function<void(Result<AppendResult>)> done) = 0;
  // What the device has not acknowledged in chat after `after` (default: its stored cursor),
  // oldest first, at most `limit` (capped by Limits::max_page). Never earlier than the user joined or
  // than retention keeps.
  virtual Result<SyncPage> Sync(UserId user, DeviceId device, ChatId chat, std::optional<Seq> after,
                                std::size_t limit) = 0;
  // For each chat of the user with something pending for the device: (acked, head].
  virtual Result<std::vector<PendingChat>> Pending(UserId user, DeviceId device) = 0;
  // Entries before `before` (0: the newest), newest first, at most `limit`.
  virtual Result<std::vector<Message>> History(UserId user, ChatId chat, Seq before, std::size_t limit) = 0;
  // The device received everything up to seq. Publishes a receipt when the user's delivered cursor moves.
  virtual Result<ReceiptCursor> Ack(UserId user, DeviceId device, ChatId chat, Seq seq) = 0;
  // The user read everything up to seq. Publishes a receipt when the read cursor moves.
  virtual Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) = 0;
  virtual Result<std::vector<ReceiptCursor>> Receipts(UserId viewer, ChatId chat) = 0;
  // Deletes a message: its sender or a chat admin/owner may. Returns the kDeletion entry.
  virtual Result<Message> DeleteMessage(UserId actor, DeviceId device, ChatId chat, Seq seq) = 0;
  // Appends the server-written kCall entry of a call that ended: `body` is the call record (JSON),
  // the sender is the caller's device, so that the caller's own devices are not alerted by it.
  // Idempotent per call_id (the entry's clientId is "call:<call_id>"). No membership check: the
  // caller may have left while the call lasted. NotFound if the chat no longer exists.
  virtual Result<Message> RecordCall(ChatId chat, UserId caller, DeviceId device, const std::string& call_id,
                                     const std::string& body) = 0;
  // Tells the chat's other members that the user is (not) typing. Not stored. The same state again in
  // the same chat within Limits::typing_coalesce_ms is accepted and not sent on; beyond
  // Limits::typing_per_user (what is sent on), ResourceExhausted with retry_after_ms().
  virtual Status Typing(UserId user, DeviceId device, ChatId chat, bool typing) = 0;

  // ---- Attachments ----
  // Announces an upload: checks kind, MIME type, size (Limits::max_<kind>_bytes) and the uploader's
  // daily quota (Limits::attachment_bytes_per_day), and stores a pending attachment owned by `user`.
  // InvalidArgument for a bad field or a size over the kind's limit; ResourceExhausted when the quota
  // of the day is spent; NotSupported without a BlobStore.
  virtual Result<UploadTicket> CreateAttachment(UserId user, const NewAttachment& request) = 0;
  // Starts uploading the bytes of a pending attachment. NotFound for an unknown id; PermissionDenied
  // unless `user` announced it; FailedPrecondition if it is complete already.
  virtual Result<std::unique_ptr<AttachmentUpload>> BeginUpload(UserId user, const std::string& id) = 0;
  // Opens a complete attachment for reading. Allowed to its uploader and to members of a chat with a
  // message (seen by the member: after they joined, within retention) that references it. NotFound
  // for an unknown id, and for a pending one to anybody but its uploader (FailedPrecondition for
  // them); PermissionDenied for anybody else.
  virtual Result<AttachmentDownload> OpenAttachment(UserId user, const std::string& id) = 0;

  // ---- Retention ----
  // Deletes what retention no longer keeps, at most max_deletes items per call: expired messages,
  // idle cursors, and attachments unreferenced for longer than attachment_orphan_ttl_ms (bytes too).
  virtual Result<RetentionReport> RunRetention(std::size_t max_deletes = 10000) = 0;
  // What RunRetention(max_deletes) would delete now, counted without deleting (a dry run). NotSupported
  // if the store cannot count (Store::CountExpired).
  virtual Result<RetentionReport> PreviewRetention(std::size_t max_deletes = 10000) = 0;

 protected:
  ChatService(ServiceOptions options, std::shared_ptr<Store> store, std::shared_ptr<Bus> bus);
  ServiceOptions options_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<Bus> bus_;
};

}  // namespace chat
