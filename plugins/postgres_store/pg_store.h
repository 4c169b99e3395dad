// PgStore: the Store on PostgreSQL. One class, defined across files with one job each:
//   pg_store.cc        open (schema), stats, availability, the worker threads, chat states
//   pg_accounts.cc     users, devices, credentials
//   pg_chats.cc        chats and membership (exclusive chat operations)
//   pg_log.cc          appends (the per-chat sequencer and its batches), deletions, reading the log
//   pg_cursors.cc      device and receipt cursors
//   pg_retention.cc    expiry (row deletes, day partitions dropped whole), erasure (VACUUM)
//   pg_attachments.cc  attachment metadata, references, collection
//   pg_moderation.cc   blocks, bans, spam tables
//   pg_dump.cc         export and import
//   pg_admin.cc        invitations; erasing a message, a user or a chat (an administrator's)
//
// Several processes may use one database at once. What keeps them correct is the database: the chat
// row's lock (SELECT ... FOR UPDATE) orders everything written to a chat's log, the unique keys catch
// a (device, client id) sent twice, and every membership check that guards a write is made in the
// transaction that writes. What keeps them fast is in memory:
//  - Each chat in use has a ChatState: its head, members and record as this process last saw them,
//    and the appends it has sequenced but not yet committed. An append is checked (membership,
//    reply-to, admission) and given its seq under the state's mutex, on the caller's thread, without
//    a round trip; then one worker commits the chat's queued appends as one transaction: it locks the
//    chat row, and if the head or the chat's version moved (another process wrote), re-reads the
//    members and renumbers the queue under that lock before writing. An append whose members changed
//    meanwhile is refused (retryably) rather than written against a decision made on another list.
//  - Rare chat operations (membership changes, deletions, chat updates) are exclusive: they wait for
//    the chat's queue to drain and run one transaction with the row lock; appends wait for them.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "libchat/plugins/postgres_store.h"
#include "erase_queue.h"
#include "mutex.h"
#include "pg_conn.h"
#include "pg_pool.h"

namespace chat::pg {

class PgStore final : public Store {
 public:
  PgStore(std::string conninfo, std::string description, PostgresStoreOptions options);
  // Finishes queued appends, stops the workers and the eraser.
  ~PgStore() override;

  // Checks (or creates) the schema and the partitions around today.
  Status Open();

  // ---- users, devices, credentials (pg_accounts.cc)
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

  // ---- chats and membership (pg_chats.cc)
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
  Result<MemberList> RecentMembers(ChatId chat) override;
  Result<Message> UpdateMembership(ChatId chat, UserId actor, const MembershipPlanner& planner,
                                   const CommitObserver& observer) override;

  // ---- the log (pg_log.cc)
  void AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit) override;
  Result<Message> DeleteMessage(ChatId chat, Seq seq, UserId actor, DeviceId actor_device, TimeMs now,
                                const std::function<Status(const Message&, const Participant&)>& authorize,
                                const CommitObserver& observer) override;
  Result<std::vector<Message>> ReadMessages(ChatId chat, Seq after, std::size_t limit) override;
  Result<std::vector<Message>> ReadMessagesBefore(ChatId chat, Seq before, std::size_t limit) override;
  Result<Message> GetMessage(ChatId chat, Seq seq) override;
  Result<Seq> Head(ChatId chat) override;
  Result<Message> FindSent(DeviceId device, std::string_view client_id) override;
  Result<Message> RecentSent(DeviceId device, std::string_view client_id) override;

  // ---- cursors (pg_cursors.cc)
  Result<ReceiptCursor> Acknowledge(UserId user, DeviceId device, ChatId chat, Seq seq) override;
  Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) override;
  Result<Seq> DeviceCursor(DeviceId device, ChatId chat) override;
  Result<ReceiptCursor> GetReceipt(ChatId chat, UserId user) override;
  Result<std::vector<ReceiptCursor>> ListReceipts(ChatId chat) override;
  Result<std::vector<PendingChat>> PendingChats(UserId user, DeviceId device) override;

  // ---- retention and erasure (pg_retention.cc)
  Result<RetentionReport> SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override;
  Result<RetentionReport> CountExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override;

  // ---- attachments (pg_attachments.cc)
  Status CreateAttachment(const Attachment& a, std::uint64_t bytes_per_day) override;
  Result<Attachment> GetAttachment(std::string_view id) override;
  Status CompleteAttachment(std::string_view id, TimeMs at) override;
  Result<std::vector<AttachmentRef>> ListAttachmentRefs(std::string_view id) override;
  Result<std::vector<std::string>> CollectAttachments(TimeMs now, TimeMs grace_ms, std::size_t max_deletes) override;
  Status ReleaseAttachments(const std::vector<std::string>& ids) override;

  // ---- blocks, bans, spam (pg_moderation.cc)
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

  // ---- invitations, erasing messages, users and chats as an administrator (pg_admin.cc)
  Status CreateInvite(const Invite& invite) override;
  Result<Invite> GetInvite(std::string_view id) override;
  Result<std::vector<Invite>> ListInvites(std::string_view after, std::size_t limit) override;
  Status DeleteInvite(std::string_view id) override;
  Result<User> CreateUserWithInvite(User user, std::string_view invite_id, std::string_view code_hash,
                                    TimeMs now) override;
  Result<Message> EraseMessage(ChatId chat, Seq seq, TimeMs now, const CommitObserver& observer) override;
  Result<UserErasure> DeleteUser(UserId user, TimeMs now) override;
  Status DeleteChat(ChatId chat) override;

  // ---- export and import (pg_dump.cc)
  Status Export(const RecordSink& sink) override;
  Status Import(const StoreRecord& record) override;

  StoreStats Stats() override;
  std::string Describe() const override { return description_; }
  Status Backup(const std::string& dir) override;
  Status Availability() override { return pool_.Availability(); }

  // Test hooks: runs every erasure scheduled so far (VACUUM of the partitions concerned) now.
  Status TEST_EraseNow();

 private:
  // ---------------------------------------------------------------- transactions
  // Runs `body` in a transaction on a pooled connection and commits it. Any error rolls it back; a
  // connection whose commit outcome is unknown is discarded. `async_commit` commits without waiting
  // for the WAL flush (cursors: a crash may lose the newest moves, which only redelivers).
  Status Tx(const std::function<Status(Conn&)>& body, bool async_commit = false);
  // Runs one statement on a pooled connection, outside any explicit transaction.
  Result<Rows> Query(std::string_view sql, const Params& params = {});
  // Records the outcome of work on `conn` with the pool (availability).
  Status Seen(const Status& s, const Conn& conn) {
    pool_.Observe(s, conn);
    return s;
  }

  // ---------------------------------------------------------------- chat states (pg_store.cc)
  // An append sequenced in this process and not yet committed.
  struct Pending {
    Message entry;            // seq, id and timestamp assigned.
    TimeMs accepted_at = 0;   // draft.timestamp: the partition and the expiry count from it.
    std::string dedup_key;    // Empty when the append has no client id.
    MemberList members;       // The members the append was admitted among,
    std::int64_t version = 0; // at this chats.version: a batch is written only if the chat is still at it.
    CommitObserver observer;
    AppendDone done;
    // Resends of the same (device, client id) while this one is in flight, with the chat each asked
    // for: they get this append's answer. Guarded by the dedup shard of dedup_key.
    std::vector<std::pair<ChatId, AppendDone>> followers;
  };
  using PendingPtr = std::shared_ptr<Pending>;

  // Appends in flight by (device, client id), so that a resend waits for the original instead of
  // racing it (the unique key on dedup catches what another process sends).
  struct DedupShard {
    Mutex mu;
    std::unordered_map<std::string, PendingPtr> inflight GUARDED_BY(mu);
    // Keys this process committed or answered lately (RecentSent), and their order of arrival: the
    // oldest go past kRecentPerShard. A key may stand twice in the order (erased, then sent again).
    std::unordered_set<std::string> recent GUARDED_BY(mu);
    std::deque<std::string> recent_order GUARDED_BY(mu);
  };
  static constexpr std::size_t kRecentPerShard = 1024;
  // Remembers that `key` is durable (RecentSent answers it from the database from then on).
  void RememberSent(const std::string& key);
  DedupShard& ShardFor(const std::string& key) { return dedup_shards_[std::hash<std::string>()(key) % dedup_shards_.size()]; }
  // Answers the append (and its followers) and releases its dedup claim.
  void Complete(const PendingPtr& p, const Result<AppendResult>& r);

  struct ChatState {
    Mutex mu;
    CondVar cv;  // Signalled when `flushing`, `exclusive` or `want_exclusive` change.
    bool loaded GUARDED_BY(mu) = false;
    Chat chat GUARDED_BY(mu);
    std::int64_t version GUARDED_BY(mu) = 0;  // chats.version when `chat` and `members` were read.
    Seq db_head GUARDED_BY(mu) = 0;           // The committed head, as last seen.
    TimeMs db_last_ts GUARDED_BY(mu) = 0;
    Seq head GUARDED_BY(mu) = 0;              // Last seq handed out here (db_head + queue).
    TimeMs last_ts GUARDED_BY(mu) = 0;
    std::vector<Participant> members GUARDED_BY(mu);  // Ascending by user.
    MemberList member_ids GUARDED_BY(mu);
    std::deque<PendingPtr> queue GUARDED_BY(mu);      // Sequenced, not committed; ascending seq.
    bool flushing GUARDED_BY(mu) = false;             // A worker owns the queue's commits.
    bool exclusive GUARDED_BY(mu) = false;            // An exclusive operation is running.
    int want_exclusive GUARDED_BY(mu) = 0;            // Exclusive operations waiting: appends wait.
  };
  using StatePtr = std::shared_ptr<ChatState>;
  // Chats whose batches one group transaction carries, at most (and options_.max_batch appends).
  static constexpr std::size_t kMaxGroupChats = 64;

  // What a chat row holds, as the sequencer needs it.
  struct ChatRow {
    Chat chat;
    Seq head = 0;
    TimeMs last_ts = 0;
    std::int64_t version = 0;
  };

  // The chat's state, loaded (from the database) if needed. NotFound if there is no such chat.
  Result<StatePtr> State(ChatId chat) EXCLUDES(states_mu_);
  StatePtr Slot(ChatId chat) EXCLUDES(states_mu_);
  // Reads the chat row and its members in one consistent snapshot (NotFound if absent).
  Result<ChatRow> ReadChatRow(Conn& conn, ChatId chat, bool lock);
  Result<std::vector<Participant>> ReadMembers(Conn& conn, ChatId chat);
  Status LoadLocked(ChatId chat, ChatState& st) REQUIRES(st.mu);
  // Adopts a chat row and members read from the database as the state's committed view.
  static void Adopt(ChatState& st, const ChatRow& row, std::vector<Participant> members) REQUIRES(st.mu);
  static void SetMembers(ChatState& st, std::vector<Participant> members) REQUIRES(st.mu);
  static const Participant* FindMember(const std::vector<Participant>& members, UserId user);

  // Exclusive chat operations: Begin waits for the queue to drain and keeps appends out; End lets
  // them in again. `body` runs between them with no lock held; it returns the state to adopt.
  Status Exclusive(ChatId chat, const std::function<Status(ChatState& st)>& body);

  // ---------------------------------------------------------------- the sequencer (pg_log.cc)
  void Schedule(const StatePtr& st) EXCLUDES(work_mu_);
  void Worker() EXCLUDES(work_mu_);
  // Commits the chat's queue, batch by batch, until it is empty.
  void Flush(const StatePtr& st);
  // One batch: the first `n` of the queue. Returns false when the state was reset (queue failed).
  bool CommitBatch(const StatePtr& st);
  // One batch of each chat of `group` (chats with queued appends that this worker owns) in one
  // transaction, so that they share one round trip and one WAL flush. A chat that another process
  // wrote to meanwhile, or every chat of a transaction that failed on a statement (a client id
  // committed elsewhere), goes through CommitBatch. Each chat is then handed back to the work queue
  // or released (Reschedule).
  void CommitGroup(std::vector<StatePtr> group);
  // One chat's batch in a group.
  struct GroupPart {
    StatePtr st;
    std::vector<PendingPtr> batch;
    Chat chat;
    Seq base = 0;
    std::int64_t version = 0;
  };
  // The group's chat rows locked in id order; then the one statement that writes every batch of it
  // (kLockGroup, kAppendGroup in pg_log.cc).
  static Statement GroupLock(const std::vector<GroupPart>& parts);
  static Statement GroupStatement(const std::vector<GroupPart>& parts);
  // A committed batch: the queue and the state move on, observers and callers are told.
  void Committed(ChatState& st, const std::vector<PendingPtr>& batch) EXCLUDES(st.mu);
  // After a commit: back to the work queue if appends are queued, else released (not flushing).
  void Reschedule(const StatePtr& st) EXCLUDES(work_mu_);
  // Fails the whole queue with `s` and forgets the state (the next use reloads it).
  void FailQueue(ChatState& st, const Status& s) EXCLUDES(st.mu);
  // Gives the queued appends new seqs after the committed head `row` (another process wrote), with
  // `members` read under the chat row's lock. Appends whose sender left are refused; appends admitted
  // among other members are refused retryably. Returns the refused ones with their status.
  std::vector<std::pair<PendingPtr, Status>> Resequence(ChatState& st, const ChatRow& row,
                                                        std::vector<Participant> members) REQUIRES(st.mu);
  // The one statement that writes a batch if the chat's head is still `base` and its version
  // `version` (kAppendBatch in pg_log.cc).
  static Statement BatchStatement(const std::vector<PendingPtr>& batch, const Chat& chat, Seq base,
                                  std::int64_t version);
  // The durable message a dedup row points to (NotFound if the row or the message is gone).
  Result<Message> DedupTarget(Conn& conn, DeviceId device, std::string_view client_id);
  static Result<AppendResult> Duplicate(const Message& original, ChatId requested_chat);

  // ---------------------------------------------------------------- partitions and erasure
  // Creates the day partition for `t` unless known to exist, on a connection kept for this alone
  // (outside the pool, so a transaction that finds its partition missing can create it without
  // waiting for a pooled connection).
  Status EnsurePartitionFor(TimeMs t) EXCLUDES(partitions_mu_);
  // Whether the day partition of `t` is known to exist (no database call).
  bool PartitionKnown(TimeMs t) EXCLUDES(partitions_mu_);
  void ForgetPartitions() EXCLUDES(partitions_mu_);
  // Drops the day partition `name` (day start `day`) and forgets it; a later entry of that day makes
  // it again.
  Status DropPartition(const std::string& name, TimeMs day) EXCLUDES(partitions_mu_);
  void ScheduleErase(TimeMs accepted_at);
  // The eraser's work: VACUUM of each day partition of `days` that still exists.
  Status Erase(const std::vector<TimeMs>& days);
  // Schedules the days in `again` (VACUUM had to keep dead row versions there) for another VACUUM,
  // 1 s later, then 2, 4 ... up to kMaxEraseRechecks times; forgets the days in `clean`.
  void RecheckErase(const std::vector<TimeMs>& clean, const std::vector<TimeMs>& again) EXCLUDES(erase_mu_);
  Result<RetentionReport> Sweep(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes, bool apply);

  // ---------------------------------------------------------------- accounts helpers
  Status RemoveDeviceIn(Conn& conn, DeviceId id);

  // ---------------------------------------------------------------- import helpers (pg_dump.cc)
  Status ImportEntity(Conn& c, const IdCounters& v);
  Status ImportEntity(Conn& c, const User& v);
  Status ImportEntity(Conn& c, const Device& v);
  Status ImportEntity(Conn& c, const ChatRecord& v);
  Status ImportEntity(Conn& c, const Participant& v);
  Status ImportEntity(Conn& c, const Message& v);
  Status ImportEntity(Conn& c, const DeviceCursorRecord& v);
  Status ImportEntity(Conn& c, const ReceiptCursor& v);
  Status ImportEntity(Conn& c, const Attachment& v);
  Status ImportEntity(Conn& c, const UserBan& v);
  Status ImportEntity(Conn& c, const UserBlock& v);
  Status ImportEntity(Conn& c, const SpamFlag& v);
  Status ImportEntity(Conn& c, const SpamReport& v);
  Status ImportEntity(Conn& c, const Invite& v);  // pg_admin.cc
  // Every invitation, by id, in Export's transaction (pg_admin.cc).
  Status ExportInvites(Conn& c, const RecordSink& sink);

  void Info(const std::string& line) const;

  const std::string description_;
  const PostgresStoreOptions options_;
  Pool pool_;

  Mutex states_mu_;
  std::unordered_map<ChatId, StatePtr> states_ GUARDED_BY(states_mu_);
  std::array<DedupShard, 64> dedup_shards_;

  // Chats with queued appends and no worker yet; the workers take them in order.
  Mutex work_mu_;
  CondVar work_cv_;
  std::deque<StatePtr> work_ GUARDED_BY(work_mu_);
  bool stop_ GUARDED_BY(work_mu_) = false;
  std::vector<std::thread> workers_;

  Mutex partitions_mu_;
  std::set<TimeMs> partitions_ GUARDED_BY(partitions_mu_);  // Day starts known to exist.
  std::unique_ptr<Conn> ddl_ GUARDED_BY(partitions_mu_);
  const std::string conninfo_;

  // The eraser: day partitions holding deleted messages (their day starts), vacuumed when due.
  detail::EraseQueue<TimeMs> eraser_;
  // Days whose last VACUUM had to keep dead row versions, and how often they were vacuumed again.
  // Touched only by the eraser's thread (Erase); the mutex keeps that checked.
  static constexpr int kMaxEraseRechecks = 7;
  Mutex erase_mu_;
  std::map<TimeMs, int> erase_rechecks_ GUARDED_BY(erase_mu_);

  std::atomic<std::uint64_t> appends_{0};
  std::atomic<std::uint64_t> batches_{0};
};

}  // namespace chat::pg
