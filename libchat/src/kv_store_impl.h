// KvStore: the chat domain on an ordered key-value engine (layout in keys.h and docs/storage.md).
// One class, defined across files with one job each:
//   kv_store.cc              open (schema, id counters), stats, backup, MakeKvStore
//   kv_store_accounts.cc     users, devices, credentials (password changes, bans, disabling)
//   kv_store_chats.cc        chat states (head and members in memory), chats, membership
//   kv_store_log.cc          appends (dedup, seqs, group commit), deletions, reading the log
//   kv_store_cursors.cc      device and receipt cursors, written behind
//   kv_store_retention.cc    expiry sweeps and the physical erasure of deleted content
//   kv_store_attachments.cc  attachment metadata, references, collection
//   kv_store_moderation.cc   blocks, bans, spam tables
//   kv_store_dump.cc         export and import
//   kv_store_admin.cc        invitations; erasing users and chats
//
// Concurrency (the lock order is in docs/architecture.md, "Locks"; clang checks the annotations):
//  - Each chat has a ChatState whose mutex orders everything written to the chat's log: under it a
//    sequence number is assigned from the in-memory head, membership is checked against the in-memory
//    members (which include changes still being written: the log's order is the truth), and the
//    batch is queued for group commit, so batches reach the disk (and observers) in sequence order.
//    The caller then waits for the commit without the lock, which is what lets many sends share one
//    fsync. Nothing ever waits for a commit while holding a lock.
//  - Dedup of (device, client id) is checked and claimed under a shard lock taken before the chat
//    lock; an append still in flight is found in the shard's in-flight map.
//  - Account operations (usernames, devices, credentials) take a striped lock by user id (by username
//    for creation); a check and the write it guards happen under it.
//  - Cursor updates are read-modify-write under a striped lock, written without fsync.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "commit_queue.h"
#include "erase_queue.h"
#include "libchat/store.h"
#include "mutex.h"
#include "spam_tables.h"

namespace chat::detail {

// Calls fn(key, value) for every entry whose key starts with prefix, until fn returns false.
Status ScanPrefix(KvEngine& engine, const std::string& prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn);
// Calls fn(key, value) for every entry whose key starts with prefix. Stops at, and returns, the first
// error from fn or from the engine.
Status ForEachPrefix(KvEngine& engine, const std::string& prefix,
                     const std::function<Status(std::string_view, std::string_view)>& fn);
std::string EncodeU64(std::uint64_t v);
std::uint64_t DecodeU64(std::string_view s);
inline TimeMs DayOf(TimeMs t) { return t - (t % kMsPerDay); }

class KvStore final : public Store {
 public:
  KvStore(std::unique_ptr<KvEngine> engine, KvStoreOptions options);
  // Drains the commit queue and the eraser first: their work refers to the state below.
  ~KvStore() override;

  // Checks the schema version and loads (and, where a crash left them behind the stored ids,
  // repairs) the id counters.
  Status Open();

  // ---- users, devices, credentials (kv_store_accounts.cc)
  Result<User> CreateUser(User user) override;
  Result<User> GetUser(UserId id) override;
  Result<User> FindUserByName(std::string_view username) override;
  Status UpdateUser(UserId id, const std::function<Status(User*)>& edit) override;
  Result<std::vector<User>> ListUsers(UserId after, std::size_t limit) override;
  Result<CredentialChangeResult> ChangeCredentials(const CredentialChange& change) override;
  Result<Device> AddDevice(Device device, std::size_t max_devices, std::string_view verified_password_hash) override;
  Result<Device> GetDevice(DeviceId id) override;
  Result<std::vector<Device>> ListDevices(UserId user) override;
  Status UpdateDevice(DeviceId id, const std::function<Status(Device*)>& edit) override;
  Result<Device> FindDeviceByTokenHash(std::string_view token_hash) override;
  Status RemoveDevice(DeviceId id) override;
  Status TouchDevice(DeviceId device, TimeMs when) override;

  // ---- chats and membership (kv_store_chats.cc)
  Result<Chat> CreateChat(Chat chat, std::vector<Participant> members, UserId creator, std::string announcement,
                          const CommitObserver& observer) override;
  Result<Chat> GetChat(ChatId id) override;
  Status UpdateChat(const Chat& chat) override;
  Result<ChatId> FindDirectChat(UserId a, UserId b) override;
  Result<std::vector<Chat>> ListChats(ChatId after, std::size_t limit) override;
  Result<std::vector<Participant>> ListParticipants(ChatId chat) override;
  Result<Participant> GetParticipant(ChatId chat, UserId user) override;
  Result<std::vector<Participant>> ListUserChats(UserId user) override;
  Result<MemberList> Members(ChatId chat) override;
  Result<Message> UpdateMembership(ChatId chat, UserId actor, const MembershipPlanner& planner,
                                   const CommitObserver& observer) override;

  // ---- the log (kv_store_log.cc)
  void AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit) override;
  Result<Message> DeleteMessage(ChatId chat, Seq seq, UserId actor, DeviceId actor_device, TimeMs now,
                                const std::function<Status(const Message&, const Participant&)>& authorize,
                                const CommitObserver& observer) override;
  Result<std::vector<Message>> ReadMessages(ChatId chat, Seq after, std::size_t limit) override;
  Result<std::vector<Message>> ReadMessagesBefore(ChatId chat, Seq before, std::size_t limit) override;
  Result<Message> GetMessage(ChatId chat, Seq seq) override;
  Result<Seq> Head(ChatId chat) override;
  Result<Message> FindSent(DeviceId device, std::string_view client_id) override;

  // ---- cursors (kv_store_cursors.cc)
  Result<ReceiptCursor> Acknowledge(UserId user, DeviceId device, ChatId chat, Seq seq) override;
  Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) override;
  Result<Seq> DeviceCursor(DeviceId device, ChatId chat) override;
  Result<ReceiptCursor> GetReceipt(ChatId chat, UserId user) override;
  Result<std::vector<ReceiptCursor>> ListReceipts(ChatId chat) override;
  Result<std::vector<PendingChat>> PendingChats(UserId user, DeviceId device) override;

  // ---- retention and erasure (kv_store_retention.cc)
  Result<RetentionReport> SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override;
  Result<RetentionReport> CountExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override;

  // ---- attachments (kv_store_attachments.cc)
  Status CreateAttachment(const Attachment& a, std::uint64_t bytes_per_day) override;
  Result<Attachment> GetAttachment(std::string_view id) override;
  Status CompleteAttachment(std::string_view id, TimeMs at) override;
  Result<std::vector<AttachmentRef>> ListAttachmentRefs(std::string_view id) override;
  Result<std::vector<std::string>> CollectAttachments(TimeMs now, TimeMs grace_ms, std::size_t max_deletes) override;
  Status ReleaseAttachments(const std::vector<std::string>& ids) override;

  // ---- blocks, bans, spam (kv_store_moderation.cc)
  Status Block(const UserBlock& block, std::size_t max_blocked) override;
  Status Unblock(UserId user, UserId blocked) override;
  Result<std::vector<UserBlock>> ListBlocked(UserId user) override;
  Result<UserBan> GetBan(UserId user) override;
  Result<std::vector<UserBan>> ListBans(UserId after, std::size_t limit) override;
  Status PutSpamFlag(const SpamFlag& flag) override;
  Result<SpamFlag> GetSpamFlag(UserId user) override;
  Status DeleteSpamFlag(UserId user) override;
  Result<std::vector<SpamFlag>> ListSpamFlags(UserId after, std::size_t limit) override;
  Result<SpamReportAdded> AddSpamReport(SpamReport report) override;
  Result<std::vector<SpamReport>> ListSpamReports(UserId sender, std::uint64_t after, std::size_t limit) override;

  // ---- invitations and erasure of users and chats (kv_store_admin.cc)
  Status CreateInvite(const Invite& invite) override;
  Result<std::vector<Invite>> ListInvites(std::string_view after, std::size_t limit) override;
  Status DeleteInvite(std::string_view id) override;
  Result<Invite> GetInvite(std::string_view id) override;
  Result<User> CreateUserWithInvite(User user, std::string_view invite_id, std::string_view code_hash,
                                    TimeMs now) override;
  Result<Message> EraseMessage(ChatId chat, Seq seq, TimeMs now, const CommitObserver& observer) override;
  Result<UserErasure> DeleteUser(UserId user, TimeMs now) override;
  Status DeleteChat(ChatId chat) override;

  // ---- export and import (kv_store_dump.cc)
  Status Export(const RecordSink& sink) override;
  Status Import(const StoreRecord& record) override;

  StoreStats Stats() override;
  std::string Describe() const override;
  Status Backup(const std::string& dir) override;

  // Test hooks (LevelDB's TEST_ convention): wait until every erasure scheduled so far has run.
  Status TEST_EraseNow();
  // How many chat states are in memory.
  std::size_t TEST_CachedChats();
  // Whether the engine holds `key`, once every write queued so far is in it.
  Result<bool> TEST_HasKey(std::string_view key);

 private:
  using Ticket = CommitQueue::Ticket;

  // A chat's state at the end of its log, in memory while the chat is in use. Loaded from the engine
  // on first use; dropped (LRU) only when nothing refers to it, which includes every queued ticket of
  // the chat, so the engine then holds exactly what it held.
  struct ChatState {
    Mutex mu;
    bool loaded GUARDED_BY(mu) = false;
    bool exists GUARDED_BY(mu) = false;  // False: no such chat (yet); kept so probes cost no reads.
    Chat chat GUARDED_BY(mu);
    Seq head GUARDED_BY(mu) = 0;                // Last assigned (may not be durable yet).
    std::atomic<Seq> durable_head{0};           // Last committed: what readers may rely on.
    TimeMs last_ts GUARDED_BY(mu) = 0;
    std::vector<Participant> members GUARDED_BY(mu);  // Ascending by user.
    MemberList member_ids GUARDED_BY(mu);            // The same users, shared with observers.
    // Messages whose deletion is queued: target seq -> seq of the kDeletion entry. An entry is pruned
    // once its deletion is durable (the stored tombstone then says it).
    std::map<Seq, Seq> deleting GUARDED_BY(mu);
  };
  using StatePtr = std::shared_ptr<ChatState>;

  struct DedupShard {
    Mutex mu;
    std::unordered_map<std::string, std::shared_ptr<Ticket>> inflight GUARDED_BY(mu);
  };

  // Cursor values written behind (see store.h): the newest value of each key whose write is still
  // queued, so that readers never see an older one from the engine. An entry lives only while its
  // writes are in flight, which bounds this map by the write rate, not by the number of cursors.
  struct CursorShard {
    Mutex mu;
    struct Pending {
      std::string value;
      int writes = 0;
    };
    std::unordered_map<std::string, Pending> pending GUARDED_BY(mu);
  };

  static Status NotFoundOr(const Status& s, const std::string& what);
  void Info(const std::string& line) const;

  // ---- ids (kv_store.cc)
  Result<std::uint64_t> LoadCounter(std::string_view key);
  // Checks the counter `key` against the largest id stored under `prefix` and raises it past that id
  // if a crash (or an older build) left it behind; logs the repair.
  Result<std::uint64_t> VerifiedCounter(std::string_view key, const std::string& prefix, const char* what);
  // Allocates the next id of a counter and records it in the ticket for the committer (CommitQueue
  // writes counters monotonically).
  std::uint64_t NextId(std::uint64_t* counter, std::string_view key, Ticket* ticket) EXCLUDES(id_mu_);

  // ---- accounts helpers
  Mutex& StripeFor(std::uint64_t h) { return stripes_[h % stripes_.size()]; }
  // Writes device `d` and its indexes to `b`. `old`: the stored record it replaces (same id and user,
  // read under the user's stripe), whose index entries that stay the same are not written again: a
  // last-seen touch on every sign-in writes the record alone, not the user's device list and the
  // token index too (bytes in the WAL and the memtable for each one).
  void PutDevice(const Device& d, const Device* old, KvBatch* b);
  // Adds the removal of device `d` (record, indexes, the cursors visible in the engine) to `b`, and a
  // marker that lets the retention sweep erase cursors written for it after this scan.
  Status RemoveDeviceInto(const Device& d, TimeMs now, KvBatch* b);
  Result<std::vector<Device>> ListDevicesUnlocked(UserId user);

  // ---- chat states (kv_store_chats.cc)
  // The chat's state, loaded if needed. NotFound if no such chat. Never creates a second state for a
  // chat: the map holds at most one, and every writer goes through it.
  Result<StatePtr> State(ChatId chat) EXCLUDES(chats_mu_);
  // The slot of `chat`, created empty (not loaded) if absent; drops idle states beyond the bound.
  StatePtr Slot(ChatId chat) EXCLUDES(chats_mu_);
  Status LoadLocked(ChatId id, ChatState& state) REQUIRES(state.mu);
  // Drops the chat's state so that its next use reads the engine (Import only: no concurrent calls).
  void ForgetState(ChatId chat) EXCLUDES(chats_mu_);
  static void SetMembers(ChatState& state, std::vector<Participant> members) REQUIRES(state.mu);
  static const Participant* FindMember(const ChatState& state, UserId user) REQUIRES(state.mu);
  Result<std::vector<Participant>> ScanParticipants(const std::string& prefix);

  // ---- the log (kv_store_log.cc)
  // Assigns the chat's next seq to `entry` and puts it, the head and the expiry index into the
  // ticket, with the members it is appended among. REQUIRES: the caller enqueues the ticket before
  // releasing state.mu.
  // `keep` is `st` itself, held by the ticket until the entry is durable.
  void AddEntry(ChatState& st, const StatePtr& keep, Message entry, TimeMs accepted_at, Ticket* ticket)
      REQUIRES(st.mu);
  Status DropAttachmentRefs(const Message& m, TimeMs now, KvBatch* b, std::set<std::string>* dropped);
  // Puts the tombstone of message `seq` and a kDeletion entry from (actor, actor_device) into
  // `ticket` (DeleteMessage, EraseMessage), once the message is found deletable: NotFound if it does
  // not exist, is being deleted, has expired by `now` or is deleted already. `authorize` (may be
  // empty) decides first. REQUIRES: the caller enqueues the ticket before releasing st.mu.
  Status TombstoneInto(ChatState& st, const StatePtr& keep, ChatId chat, Seq seq, UserId actor, DeviceId actor_device,
                       TimeMs now, const std::function<Status(const Message&)>& authorize, Ticket* ticket)
      REQUIRES(st.mu);
  static Result<AppendResult> Duplicate(const Message& original, ChatId requested_chat);
  // The durable message a dedup record points to.
  Result<Message> DedupTarget(std::string_view dedup_value);

  // ---- cursors (kv_store_cursors.cc)
  CursorShard& CursorShardFor(const std::string& key);
  Result<std::string> ReadCursor(const std::string& key);
  // Read-modify-write of one cursor: `raise` edits the value and says whether it changed; a change
  // is queued for the next commit group without waiting for it. Writes of one key are queued under
  // its shard lock, so they reach the disk in the order they were made.
  Status RaiseCursor(const std::string& key, const std::function<bool(std::string*)>& raise);
  Result<ReceiptCursor> RaiseReceipt(UserId user, ChatId chat, Seq delivered, Seq read);
  // RaiseReceipt in two steps, for a caller that must not fail once it has changed anything: Prepare
  // reads and computes (nothing changes; nullopt if the cursor is already there), Apply makes the
  // move visible and puts it into `ticket` (never fails). REQUIRES: the chat's lock held across both
  // (every writer of receipt cursors holds it), so nothing moves the cursor in between.
  struct PreparedCursor {
    std::string key;
    std::string value;
  };
  Result<std::optional<PreparedCursor>> PrepareReceipt(UserId user, ChatId chat, Seq delivered, Seq read);
  void ApplyCursor(const PreparedCursor& cursor, const std::shared_ptr<Ticket>& ticket);
  // Makes `value` the key's visible value until `ticket`, which carries its write, completes; a null
  // `value` deletes the key (readers see it absent).
  static void PutPending(CursorShard& shard, const std::string& key, const std::string* value, Ticket* ticket)
      REQUIRES(shard.mu);
  // Deletes a cursor in `ticket`'s batch, and hides a value still queued by an earlier write from
  // readers until then: without this, a read right after the delete committed could still see the
  // earlier value, whose pending entry is dropped only when its own ticket's completions run.
  void DeleteCursor(const std::string& key, Ticket* ticket);
  // Membership and head checks of the raising calls. REQUIRES the chat's lock.
  Status CheckCursorRaise(const ChatState& state, UserId user, ChatId chat, Seq seq) REQUIRES(state.mu);

  // ---- retention and erasure (kv_store_retention.cc)
  // Waits until every write queued so far is in the engine (cursors and device updates are written
  // behind): scans of the engine then see them. The queue is FIFO, so an empty ticket is a barrier.
  Status WaitForQueuedWrites();
  Result<RetentionReport> ScanExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes, KvBatch* deletes);
  // Messages [from, to) of `chat`, whose overwritten content must leave the engine's files.
  struct EraseRange {
    ChatId chat = 0;
    Seq from = 0;
    Seq to = 0;
  };
  // Schedules the physical erasure of messages [from, to) of `chat` (KvStoreOptions::erase_delay_ms),
  // whose marker (keys::EraseMarker) the caller's committed batch wrote.
  void ScheduleErase(ChatId chat, Seq from, Seq to);
  // Schedules every marker left in the engine (by a crash before the eraser ran). Called by Open.
  Status ScheduleLeftoverErasures();
  // The eraser's work: compacts the ranges' message keys, then deletes their markers.
  Status Erase(const std::vector<EraseRange>& due);

  // ---- export / import (kv_store_dump.cc)
  Status ExportUser(std::string_view value, const RecordSink& sink);
  Status ExportChat(std::string_view value, const RecordSink& sink);
  template <typename T>
  Status SinkDecoded(Result<T> decoded, const RecordSink& sink);
  Result<bool> Exists(std::string_view key);
  static Status Missing(const std::string& what, const std::string& referrer);
  Status RequireImported(std::string_view key, const std::string& what, const std::string& referrer);
  Status RequireAbsent(std::string_view key, const std::string& what);
  void RaiseCounter(std::uint64_t* counter, std::string_view key, std::uint64_t at_least, KvBatch* b)
      EXCLUDES(id_mu_);
  Status ImportEntity(const IdCounters& c);
  Status ImportEntity(const User& u);
  Status ImportEntity(const Device& d);
  Status ImportEntity(const ChatRecord& r);
  Status ImportEntity(const Participant& p);
  Status ImportEntity(const Message& m);
  Status ImportEntity(const SpamFlag& f);
  Status ImportEntity(const SpamReport& r);
  Status ImportEntity(const Attachment& a);
  Status ImportEntity(const UserBan& ban);
  Status ImportEntity(const UserBlock& block);
  Status ImportEntity(const DeviceCursorRecord& c);
  Status ImportEntity(const ReceiptCursor& r);
  Status ImportEntity(const Invite& i);

  std::unique_ptr<KvEngine> engine_;
  const KvStoreOptions options_;
  CommitQueue commits_;
  // Spam flags and reports (spam_tables.cc); writes through commits_.
  SpamTables spam_{engine_.get(), &commits_};

  Mutex id_mu_;
  std::uint64_t next_user_ GUARDED_BY(id_mu_) = 1;
  std::uint64_t next_chat_ GUARDED_BY(id_mu_) = 1;
  std::uint64_t next_device_ GUARDED_BY(id_mu_) = 1;

  Mutex moderation_mu_;  // Block and Unblock: their read-check-write steps.
  Mutex invites_mu_;     // An invitation's read-check-write (CreateUserWithInvite, CreateInvite).

  // The chat states: a map and its LRU order (front: most recently used).
  struct Slotted {
    StatePtr state;
    std::list<ChatId>::iterator lru;
  };
  Mutex chats_mu_;
  std::unordered_map<ChatId, Slotted> chats_ GUARDED_BY(chats_mu_);
  std::list<ChatId> lru_ GUARDED_BY(chats_mu_);

  Mutex direct_mu_;  // CreateChat of a direct chat: the pair's check and its write.
  std::array<DedupShard, 64> dedup_shards_;
  std::array<Mutex, 256> stripes_;
  std::array<CursorShard, 64> cursor_shards_;
  std::atomic<std::uint64_t> appends_{0};

  // The eraser: key ranges whose overwritten content must leave the engine's files.
  EraseQueue<EraseRange> eraser_;
};

}  // namespace chat::detail
