// Store: where the chat domain persists (users, devices, chats, participants, messages, cursors).
// Thread-safe. Calls may block on disk: never call them from a network thread.
//
// Guarantees every implementation gives (tests/contract/store_contract.cc checks them):
//  - Append assigns each chat's next sequence number atomically: gapless, no two messages alike.
//  - An Append that returns OK is durable: it survives kill -9 of the process (and, with a syncing
//    engine, power loss), together with its dedup record and the chat's head.
//  - (sender_device, client_id) identifies a message: appending it again returns the original.
//  - The commit observer runs once per new entry, in sequence order within a chat.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/clock.h"
#include "libchat/kv.h"
#include "libchat/result.h"
#include "libchat/spam.h"
#include "libchat/store_record.h"
#include "libchat/types.h"

namespace chat {

// The chat's members, user ids ascending, at one point of its log. The store hands out one shared list
// until the membership changes, so holding one costs nothing.
using MemberList = std::shared_ptr<const std::vector<UserId>>;

// An entry that has become durable, as its commit observer sees it.
struct CommittedEntry {
  const Message& entry;
  // The chat's members once the entry is in the log: who may see it. For a membership change, the
  // members after it.
  const MemberList& members;
  // The members just before the entry: the same list unless the entry changed the membership (then
  // the users it removed are here and not in `members`).
  const MemberList& previous_members;
};

// Called once an entry is durable, in sequence order per chat, before Append (or the call that
// wrote the entry) returns. Runs on a store thread while the store holds internal state: it must be
// quick and must not call back into the store (post the work elsewhere instead).
using CommitObserver = std::function<void(const CommittedEntry&)>;

// The chat as an append finds it, at the point of the log where the new entry would go.
struct AppendContext {
  const Chat& chat;
  const MemberList& members;
};
// Decides whether an append may go ahead, after the store found it new (not a resend) and the sender
// a member. Runs under the chat's lock, so that what it checks holds at the entry's place in the log:
// it must be quick, must not write to the store and must not call into it (reading from memory only).
// A non-OK Status refuses the append; nothing is written.
using AppendAdmission = std::function<Status(const AppendContext&)>;

struct AppendResult {
  Message message;
  bool duplicate = false;  // True when (sender_device, client_id) had been appended before.
};

// What a membership change does; produced by a planner under the chat's lock.
struct MembershipPlan {
  std::vector<Participant> upserts;  // New members (joined_* set by the store) or role changes.
  std::vector<UserId> removals;
  std::string announcement;          // Body of the kMembership entry recorded in the chat.
  TimeMs at = 0;                     // Timestamp of that entry.
  std::optional<Chat> chat_update;   // New name/metadata for the chat, written in the same batch.
};
// Given the chat and its participants at the end of its log (changes still being written included),
// decides the change or refuses it. Runs under the chat's lock, so the decision and its application
// are atomic and no two changes are planned against the same list.
using MembershipPlanner =
    std::function<Result<MembershipPlan>(const Chat&, const std::vector<Participant>&)>;

// One atomic change of an account's credentials and sessions: a password change, a ban, disabling.
// Everything it says happens in one durable write, under the lock that AddDevice takes, so a login
// whose password check raced it either finished before (and its device is among those revoked) or
// is refused.
struct CredentialChange {
  UserId user = 0;
  // Refuse (Unauthenticated, nothing changes) unless the stored password hash is still this one: the
  // one the caller verified. Empty: no condition.
  std::string expected_password_hash;
  std::optional<std::string> new_password_hash;
  std::optional<bool> disabled;
  // Refuse enabling (disabled = false) with FailedPrecondition while the account is banned.
  bool refuse_if_banned = false;
  std::optional<UserBan> ban;  // Stored, replacing any earlier ban.
  bool lift_ban = false;       // Deletes the ban; NotFound (nothing changes) if there is none.
  // The one device that keeps its session, with this new token (hash and expiry); 0 for none.
  DeviceId keep_device = 0;
  std::string keep_token_hash;
  TimeMs keep_token_expires_at = 0;
  // Only a live session keeps its device (a password change): refuse, changing nothing, with
  // PermissionDenied if the account is disabled or banned, FailedPrecondition if keep_device holds no
  // token (forgotten by a disable or unban). Checked with the write, so that a session ended while
  // the caller was checking it never gets a fresh token. (Expiry is the caller's to check, on its
  // clock: the store's may differ.)
  bool keep_only_if_live = false;
  // What happens to every other device of the user.
  enum class Others {
    kKeep,          // Left as they are (a disabled account's tokens are refused anyway).
    kForgetTokens,  // Their tokens stop resolving; the devices and cursors stay.
    kRemove,        // Removed with their cursors, as RemoveDevice does.
  };
  Others others = Others::kKeep;
};

struct CredentialChangeResult {
  User user;                     // As stored after the change.
  std::optional<Device> kept;    // The kept device with its new token.
  std::vector<DeviceId> others;  // The devices whose sessions ended (removed or tokens forgotten).
};

struct RetentionReport {
  std::size_t messages_deleted = 0;
  std::size_t cursors_deleted = 0;
  std::size_t attachments_deleted = 0;  // ChatService::RunRetention only (bytes included).
  bool more = false;  // The sweep stopped at its batch limit; run again.
};

// What Store::DeleteUser removed besides the user record.
struct UserErasure {
  std::size_t devices = 0;  // Devices still left (ChatService::DeleteUser removes them first).
  std::size_t blocks = 0;   // Blocks the user made and blocks of the user by others.
  // Attachments the user uploaded whose metadata is gone: their bytes are the caller's to remove,
  // then ReleaseAttachments (as after CollectAttachments).
  std::vector<std::string> attachments;
};

struct StoreStats {
  std::uint64_t users = 0;
  std::uint64_t chats = 0;
  std::uint64_t appends = 0;        // Entries appended since open.
  std::uint64_t commit_groups = 0;  // Durable writes that carried them (group commit).
};

class Store {
 public:
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store() = default;

  // ---- Users ----
  // Assigns the id. AlreadyExists if the username is taken.
  virtual Result<User> CreateUser(User user) = 0;
  virtual Result<User> GetUser(UserId id) = 0;
  // NotFound if no user has this (lower-case) username.
  virtual Result<User> FindUserByName(std::string_view username) = 0;
  // Read-modify-write of the stored user under the user's lock: `edit` changes the current record
  // (never a stale copy) or returns non-OK to change nothing. It must not change the id, the
  // username, the password hash or `disabled` (ChangeCredentials does those): InvalidArgument if it
  // does. NotFound for an unknown user.
  virtual Status UpdateUser(UserId id, const std::function<Status(User*)>& edit) = 0;
  // Users with id > after, ascending, at most limit.
  virtual Result<std::vector<User>> ListUsers(UserId after, std::size_t limit) = 0;
  // Applies `change` atomically (see CredentialChange). NotFound for an unknown user or device to
  // keep; Unauthenticated if the password hash is not the expected one; FailedPrecondition for
  // enabling a banned account. Durable on return.
  virtual Result<CredentialChangeResult> ChangeCredentials(const CredentialChange& change) = 0;

  // ---- Devices ----
  // Assigns the id, unless the user is disabled (PermissionDenied) or their password hash is no
  // longer `verified_password_hash` (Unauthenticated: it changed after the caller checked it; empty
  // skips this check), or they already have max_devices devices (FailedPrecondition). Checked and
  // written under the user's lock, atomically with ChangeCredentials.
  virtual Result<Device> AddDevice(Device device, std::size_t max_devices,
                                   std::string_view verified_password_hash = {}) = 0;
  virtual Result<Device> GetDevice(DeviceId id) = 0;
  virtual Result<std::vector<Device>> ListDevices(UserId user) = 0;
  // Read-modify-write of the stored device under its user's lock: `edit` changes the current record
  // or returns non-OK to change nothing. It may change the push fields, the token's expiry and
  // last_seen, never the id, user or token hash (InvalidArgument): a stale copy can never bring back
  // a token that was replaced or forgotten. NotFound if absent.
  virtual Status UpdateDevice(DeviceId id, const std::function<Status(Device*)>& edit) = 0;
  // NotFound unless a device carries this token hash.
  virtual Result<Device> FindDeviceByTokenHash(std::string_view token_hash) = 0;
  // Removes the device and its cursors (a cursor write still in flight for it is erased by the next
  // retention sweep). NotFound if absent.
  virtual Status RemoveDevice(DeviceId id) = 0;

  // ---- Chats and membership ----
  // Assigns the chat id, stores the chat and its first members (joined_seq 0) and records a
  // kMembership entry (seq 1) with `announcement` from `creator`. For a direct chat of two users
  // that already have one, AlreadyExists (see FindDirectChat).
  virtual Result<Chat> CreateChat(Chat chat, std::vector<Participant> members, UserId creator,
                                  std::string announcement, const CommitObserver& observer) = 0;
  virtual Result<Chat> GetChat(ChatId id) = 0;
  // Replaces name, metadata, member limit and retention of an existing chat.
  virtual Status UpdateChat(const Chat& chat) = 0;
  // The direct chat of two users, or NotFound.
  virtual Result<ChatId> FindDirectChat(UserId a, UserId b) = 0;
  // Chats with id > after, ascending, at most limit.
  virtual Result<std::vector<Chat>> ListChats(ChatId after, std::size_t limit) = 0;
  // The durable participants.
  virtual Result<std::vector<Participant>> ListParticipants(ChatId chat) = 0;
  // NotFound if the user is not a (durable) member.
  virtual Result<Participant> GetParticipant(ChatId chat, UserId user) = 0;
  // The memberships of one user: one indexed lookup, not a scan.
  virtual Result<std::vector<Participant>> ListUserChats(UserId user) = 0;
  // The chat's members at the end of its log: a change counts from the moment its entry has a
  // sequence number, which is the order every membership check of this store follows. NotFound if
  // the chat does not exist. Cheap: answered from memory for chats in use.
  virtual Result<MemberList> Members(ChatId chat) = 0;
  // The members as this process last saw them, for an early check that Append repeats at the
  // entry's place in the log (ChatService refuses a non-member's send with it before looking at
  // anything else). A store shared by several processes may answer without asking the database, so
  // a change another process made a moment ago may be missing: a caller that finds the user absent
  // asks Members. Default: Members.
  virtual Result<MemberList> RecentMembers(ChatId chat) { return Members(chat); }
  // Applies what `planner` decides atomically with a kMembership entry from `actor`; returns it.
  // Removed members' receipt and device cursors of the chat go in the same write.
  virtual Result<Message> UpdateMembership(ChatId chat, UserId actor, const MembershipPlanner& planner,
                                           const CommitObserver& observer) = 0;

  // ---- Messages ----
  // Appends `draft` (chat, sender, sender_device, client_id, kind, body, attachments, reply_to,
  // timestamp) as the chat's next entry; assigns seq and id. In this order:
  //  1. If the device appended this client_id before, returns that message with duplicate=true
  //     (InvalidArgument if it was another chat), whatever changed since: a resend gets its answer.
  //     A store shared by several processes may find one that is already durable only when it
  //     writes the entry (by the database's unique key): the answer is the same, but `admit` (3.)
  //     has run for it. Callers that must not admit a resend look it up first (FindSent).
  //  2. NotFound if the chat does not exist.
  //  3. Under the chat's lock: a user-content entry (text, image, audio, video, document) needs its
  //     sender to be a member there (PermissionDenied) and reply_to, if set, an earlier entry
  //     (InvalidArgument); then `admit` (may be empty) decides.
  // A timestamp earlier than the chat's last one is raised to it, so time never goes backwards within
  // a chat; the entry expires by the time it was accepted (draft.timestamp). A user-content entry
  // raises its sender's read cursor to itself (they have read what they wrote), in the same write.
  // Blocks until durable. Equivalent to AppendAsync and waiting for `done` (which the default does).
  virtual Result<AppendResult> Append(Message draft, const CommitObserver& observer,
                                      const AppendAdmission& admit = {});
  using AppendDone = std::function<void(Result<AppendResult>)>;
  // Append without blocking the caller on the commit: `done` is called exactly once, when the entry
  // is durable (or failed), on a store thread or on the calling thread; it must be quick (post work
  // elsewhere). This is what lets a few threads keep many sends in flight, all sharing fsyncs.
  virtual void AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit = {}) = 0;
  // Erases the content of message `seq` (a tombstone stays) and appends a kDeletion entry from
  // `actor`, atomically, once `authorize(target, actor's participant)` returns OK under the chat's
  // lock. PermissionDenied if `actor` is not a member there; NotFound for a message that does not
  // exist, has expired or is already deleted (or being deleted). The erased content is physically
  // gone from the store's files within the time the store documents (docs/storage.md).
  virtual Result<Message> DeleteMessage(ChatId chat, Seq seq, UserId actor, DeviceId actor_device,
                                        TimeMs now,
                                        const std::function<Status(const Message&, const Participant&)>& authorize,
                                        const CommitObserver& observer) = 0;
  // Entries with seq > after, ascending, at most limit.
  virtual Result<std::vector<Message>> ReadMessages(ChatId chat, Seq after, std::size_t limit) = 0;
  // Entries with seq < before, descending, at most limit.
  virtual Result<std::vector<Message>> ReadMessagesBefore(ChatId chat, Seq before, std::size_t limit) = 0;
  virtual Result<Message> GetMessage(ChatId chat, Seq seq) = 0;
  // The chat's last durable sequence number (0 for none). NotFound if the chat does not exist.
  virtual Result<Seq> Head(ChatId chat) = 0;
  // The message `device` appended with `client_id`, if it is durable; NotFound otherwise.
  virtual Result<Message> FindSent(DeviceId device, std::string_view client_id) = 0;
  // FindSent for a send about to be appended: a store shared by several processes may answer
  // NotFound without asking the database for an id that was not sent through this process lately
  // (saving a round trip per send); Append still answers such a resend with its original (point 1
  // above, after `admit`). A message it returns is the stored one, as FindSent's. Default: FindSent.
  virtual Result<Message> RecentSent(DeviceId device, std::string_view client_id) {
    return FindSent(device, client_id);
  }

  // ---- Cursors ----
  // Cursors are written behind: the call returns once the new value is visible to every reader of
  // this store, and the write reaches the disk with the next commit group, without an fsync of its
  // own. A crash may lose the newest cursor moves; that only causes messages to be delivered again,
  // which clients drop by seq. Both raising calls check, under the chat's lock, that `user` is a
  // member (PermissionDenied) and that seq is not past the durable head (InvalidArgument), so a
  // cursor is never written for a chat the user has left.
  // Raises the device's acknowledged cursor in `chat` to `seq` (never lowers it) and the user's
  // delivered cursor with it. Returns the user's receipt cursor after the change.
  virtual Result<ReceiptCursor> Acknowledge(UserId user, DeviceId device, ChatId chat, Seq seq) = 0;
  // Raises the user's read cursor (and delivered, which read implies) to seq.
  virtual Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) = 0;
  // The device's acknowledged sequence in chat (0 if none).
  virtual Result<Seq> DeviceCursor(DeviceId device, ChatId chat) = 0;
  virtual Result<ReceiptCursor> GetReceipt(ChatId chat, UserId user) = 0;
  virtual Result<std::vector<ReceiptCursor>> ListReceipts(ChatId chat) = 0;
  // For each chat of `user`: the device's cursor and the chat's head. One lookup per chat.
  virtual Result<std::vector<PendingChat>> PendingChats(UserId user, DeviceId device) = 0;

  // ---- Retention ----
  // Records that the device was active at `when` (last seen).
  virtual Status TouchDevice(DeviceId device, TimeMs when) = 0;
  // Deletes every entry whose chat's retention has passed by `now`, and the cursors of devices not
  // seen for longer than `cursor_ttl_ms`, at most `max_deletes` items. Cost follows what is deleted.
  virtual Result<RetentionReport> SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) = 0;
  // What SweepExpired with the same arguments would delete, counted without deleting anything (a
  // retention dry run): the same report, as long as nothing changes in between. Reads only the
  // expiry and activity indexes up to `now`, like the sweep. The default returns NotSupported.
  virtual Result<RetentionReport> CountExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes);

  // ---- Attachments (metadata only: the bytes live in a BlobStore under the same id) ----
  // An attachment is "unreferenced" while no stored message names it: from its creation until the
  // first Append that references it, and again once every referencing message has expired or been
  // deleted. CollectAttachments deletes those unreferenced for longer than a grace period.
  //
  // Stores a new attachment (normally pending) and counts its declared size against the uploader's
  // bytes of the UTC day of created_at. ResourceExhausted if that total would exceed bytes_per_day;
  // AlreadyExists if the id is taken. Durable on return. The default returns NotSupported.
  virtual Status CreateAttachment(const Attachment& attachment, std::uint64_t bytes_per_day);
  // NotFound if absent (never created, or collected). The default returns NotSupported.
  virtual Result<Attachment> GetAttachment(std::string_view id);
  // Marks a pending attachment complete at `at`. NotFound if absent; FailedPrecondition if it is
  // complete already. Durable on return. The default returns NotSupported.
  virtual Status CompleteAttachment(std::string_view id, TimeMs at);
  // The stored messages that reference the attachment (Append records them; expiry and deletion
  // forget them), in (chat, seq) order. The default returns NotSupported.
  virtual Result<std::vector<AttachmentRef>> ListAttachmentRefs(std::string_view id);
  // Deletes the metadata of up to max_deletes attachments unreferenced since before now - grace_ms
  // and returns the ids whose bytes are still to be removed: those and any collected by earlier calls
  // and not yet released. The caller removes the bytes, then calls ReleaseAttachments; a crash in
  // between only means the ids come back on the next call. The default returns NotSupported.
  virtual Result<std::vector<std::string>> CollectAttachments(TimeMs now, TimeMs grace_ms, std::size_t max_deletes);
  // Forgets collected ids whose bytes are gone. The default returns NotSupported.
  virtual Status ReleaseAttachments(const std::vector<std::string>& ids);

  // ---- Blocks and bans (docs/security.md "Blocking and bans") ----
  // Records that `block.user` blocks `block.blocked` since `block.since`. Idempotent: blocking again
  // keeps the first record and returns OK. FailedPrecondition (nothing written) if the user already
  // blocks max_blocked others. Durable on return. The default returns NotSupported.
  virtual Status Block(const UserBlock& block, std::size_t max_blocked);
  // Removes the block; OK if there was none. Durable on return. The default returns NotSupported.
  virtual Status Unblock(UserId user, UserId blocked);
  // The users `user` blocks, by blocked id. The default returns NotSupported.
  virtual Result<std::vector<UserBlock>> ListBlocked(UserId user);
  // Bans are written by ChangeCredentials (ban, lift_ban), together with User::disabled.
  // NotFound unless the user is banned. The default returns NotSupported.
  virtual Result<UserBan> GetBan(UserId user);
  // Bans of users with id > after, ascending, at most limit. The default returns NotSupported.
  virtual Result<std::vector<UserBan>> ListBans(UserId after, std::size_t limit);
  // ---- Spam flags and reports (docs/security.md, "Spam scoring"). Durable on return. ----
  // Stores the flag of flag.user, replacing any. The defaults return NotSupported.
  virtual Status PutSpamFlag(const SpamFlag& flag);
  // NotFound if the user is not flagged.
  virtual Result<SpamFlag> GetSpamFlag(UserId user);
  // Removes the user's flag. NotFound if there was none.
  virtual Status DeleteSpamFlag(UserId user);
  // Flags of users with id > after, ascending by user, at most limit.
  virtual Result<std::vector<SpamFlag>> ListSpamFlags(UserId after, std::size_t limit);
  // Stores `report` with the next report id and reported_at as given, unless its reporter has
  // reported (chat, seq) before: then stores nothing and returns the earlier report as a duplicate.
  // Atomic per (reporter, chat, seq).
  virtual Result<SpamReportAdded> AddSpamReport(SpamReport report);
  // Reports with id > after, ascending, at most limit; only those about `sender` unless it is 0.
  virtual Result<std::vector<SpamReport>> ListSpamReports(UserId sender, std::uint64_t after, std::size_t limit);

  // ---- Invitations (chat::Server with RegistrationMode::kInvite; docs/admin.md, "Invitations") ----
  // Stores a new invitation. AlreadyExists if its id is taken. Durable on return. The default
  // returns NotSupported.
  virtual Status CreateInvite(const Invite& invite);
  // PermissionDenied ("invalid, expired or used invitation code") if there is no invitation with
  // this id: the same answer CreateUserWithInvite gives, so that a guesser learns nothing. The
  // default returns NotSupported.
  virtual Result<Invite> GetInvite(std::string_view id);
  // Invitations with id > after (byte order), ascending, at most limit. The default returns
  // NotSupported.
  virtual Result<std::vector<Invite>> ListInvites(std::string_view after, std::size_t limit);
  // Deletes the invitation. NotFound if there is none with this id. Durable on return. The default
  // returns NotSupported.
  virtual Status DeleteInvite(std::string_view id);
  // Creates `user` as CreateUser does and counts one use of invitation `invite_id`, in one durable
  // write under the invitation's lock (so two registrations cannot share its last use). The
  // invitation must exist with `code_hash`, not have expired by `now` and have a use left; otherwise
  // PermissionDenied with the same message whichever failed, nothing written. AlreadyExists if the
  // username is taken (no use counted). The default returns NotSupported.
  virtual Result<User> CreateUserWithInvite(User user, std::string_view invite_id, std::string_view code_hash,
                                            TimeMs now);

  // ---- Erasing accounts and chats (an administrator's; ChatService::DeleteUser, DeleteChat) ----
  // Tombstones message `seq` of `chat` as DeleteMessage does (content erased from the store's files
  // within the store's bound, a kDeletion entry appended with sender 0, the server), without any
  // membership check: an administrator erases the messages of a deleted user, in chats the user has
  // left too. NotFound if there is no such message, or it expired or was deleted already. The
  // default returns NotSupported.
  virtual Result<Message> EraseMessage(ChatId chat, Seq seq, TimeMs now, const CommitObserver& observer);
  // Deletes what is left of a user once ChatService::DeleteUser has ended their sessions, erased
  // their messages and taken them out of their chats: the user record and username (free to be
  // taken again; the id never is), any device left with its cursors, the blocks the user made and
  // the blocks of the user by others, a ban, a spam flag, and the metadata of the attachments the
  // user uploaded (their ids are returned: see UserErasure). Spam reports stay (they are the
  // administrators' record). In one durable write. NotFound for an unknown user. The default
  // returns NotSupported.
  virtual Result<UserErasure> DeleteUser(UserId user, TimeMs now);
  // Deletes a chat and everything in it, in one durable write: the chat record and head, its
  // participants and their chat-list entries, its messages (content erased from the files as a
  // deletion's is) with their dedup records and attachment references (attachments left without a
  // reference are collected by retention), its receipt cursors and its members' device cursors, and
  // a direct chat's pair. The chat id is never used again. NotFound if the chat does not exist.
  // The default returns NotSupported.
  virtual Status DeleteChat(ChatId chat);

  virtual StoreStats Stats() = 0;
  virtual std::string Describe() const = 0;
  // Whether the store can serve now, as last observed: Unavailable (with a retry hint) while the
  // database behind it is down, restarting or unreachable, OK again once it answers. Never blocks
  // (chatd's /readyz calls it on a network thread). The default, for stores in this process, is OK.
  virtual Status Availability();
  // A consistent copy of the whole store into `dir` while it serves. NotSupported without a disk form.
  virtual Status Backup(const std::string& dir) = 0;

  // ---- Export and import (chat-migrate; format in docs/storage.md) ----
  // Streams the whole content to `sink`, one record at a time and in this order: the id counters;
  // each user followed by its devices; every ban, then every block; every attachment; each chat (with its head) followed by its participants, its
  // messages in seq order (tombstones included) and its receipt cursors; then every device cursor;
  // then every spam flag and every spam report; then every invitation.
  // Memory use does not grow with the store. Cursor moves made before the call are included even
  // if they were still being written behind. Stops at the first non-OK Status from the sink or the
  // engine and returns it. Blocks on the engine. Not a snapshot: run it on a store nothing else
  // writes to (chat-migrate opens the store exclusively), or export a Backup. The default returns
  // NotSupported.
  virtual Status Export(const RecordSink& sink);
  // Adds one exported record, keeping ids, sequence numbers and timestamps exactly, and rebuilds the
  // indexes derived from it. Records must come in Export's order (a record may refer only to those
  // before it). InvalidArgument for a record that is malformed or refers to an entity not imported
  // yet; AlreadyExists for one that collides with stored content (same id, username or token).
  // Written without sync: a bulk load survives a crash of the process but not a power loss until the
  // engine syncs (chat-migrate syncs the files before it swaps a store into place).
  // REQUIRES: a fresh store, and no concurrent calls on it. The default returns NotSupported.
  virtual Status Import(const StoreRecord& record);
};

struct KvStoreOptions {
  // Sync appends and membership changes to stable storage before acknowledging them. Default: true.
  bool sync = true;
  // Merge the writes of concurrent callers into one engine write (one fsync). Default: true.
  bool group_commit = true;
  // Upper bound on the entries one group carries. Default: 1024.
  std::size_t max_group = 1024;
  // Chats whose state (head, members) is kept in memory; beyond, the least recently used idle ones
  // are dropped and read again from the engine when next used. Default: 65536.
  std::size_t max_cached_chats = 65536;
  // Erased content (deleted messages, expired entries) is physically removed from the engine's files
  // (KvEngine::CompactRange) at most this long after the erasing write. 0 erases at once, after every
  // such write. Default: 60 s.
  TimeMs erase_delay_ms = 60 * 1000;
  // Time of removals (a removed device's cursors are erased by the first retention sweep an hour
  // after). Not owned; must outlive the store. Default: the system clock.
  Clock* clock = SystemClock();
  // Where the store reports what an operator should know (a repaired id counter); one line each,
  // without a newline. Default (empty): standard error.
  std::function<void(std::string_view)> info_log;
};

// The built-in Store: the chat domain laid out in an ordered key-value engine (key layout in
// docs/storage.md), with group commit. Stamps an empty engine with kSchemaVersion; FailedPrecondition
// if the engine holds another version (newer: upgrade libchat; older: run `chat-migrate up`, see
// migrate.h).
Result<std::unique_ptr<Store>> MakeKvStore(std::unique_ptr<KvEngine> engine, KvStoreOptions options = {});

// The schema version this build of libchat reads and writes (meta/schema; see migrate.h).
constexpr int kSchemaVersion = 1;

}  // namespace chat
