// PgStore: opening, transactions, chat states, exclusive chat operations, the worker threads.
#include "pg_store.h"

#include <cstdio>

#include "pg_rows.h"
#include "pg_schema.h"

namespace chat::pg {

PgStore::PgStore(std::string conninfo, std::string description, PostgresStoreOptions options)
    : description_(std::move(description)),
      options_(std::move(options)),
      pool_(conninfo, options_.pool_size, [this](std::string_view line) { Info(std::string(line)); }),
      conninfo_(std::move(conninfo)) {}

PgStore::~PgStore() {
  // Workers finish the queues they hold (their appends complete, with an error if the database is
  // gone), then stop.
  {
    MutexLock lock(&work_mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  for (auto& t : workers_) t.join();
  eraser_.Stop();
}

void PgStore::Info(const std::string& line) const {
  if (options_.info_log) {
    options_.info_log(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

Status PgStore::Open() {
  {
    LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
    LIBCHAT_RETURN_IF_ERROR(EnsureSchema(*lease, options_.create, description_));
    // Today's and tomorrow's partitions, so that the first sends of a day never wait for DDL.
  }
  const TimeMs now = options_.clock->NowMs();
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(now));
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(now + kMsPerDay));
  // Fewer committers than connections: the senders' reads never wait behind the commits.
  const std::size_t committers =
      options_.committers != 0 ? options_.committers : std::max<std::size_t>(1, options_.pool_size / 4);
  for (std::size_t i = 0; i < committers; ++i) workers_.emplace_back([this] { Worker(); });
  // A VACUUM that failed (the database away) is tried again a second later.
  eraser_.Start([this](const std::vector<TimeMs>& days) { return Erase(days); }, 1000);
  return Status::Ok();
}

// ---------------------------------------------------------------- transactions

Status PgStore::Tx(const std::function<Status(Conn&)>& body, bool async_commit) {
  LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
  Conn& c = *lease;
  Status s = c.Script(async_commit ? "BEGIN; SET LOCAL synchronous_commit = off" : "BEGIN");
  if (s.ok()) s = body(c);
  if (s.ok()) {
    s = c.Script("COMMIT");
    // A commit whose answer was lost may or may not have happened: that connection is done.
    if (!s.ok()) lease.Discard();
    return Seen(s, c);
  }
  if (!c.broken() && !c.Script("ROLLBACK").ok()) lease.Discard();
  return Seen(s, c);
}

Result<Rows> PgStore::Query(std::string_view sql, const Params& params) {
  LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
  auto rows = lease->Exec(sql, params);
  Seen(rows.status(), *lease).IgnoreError();
  return rows;
}

StoreStats PgStore::Stats() {
  StoreStats s;
  // The ids handed out, as the KvStore counts them: two sequence reads, not two table scans.
  auto counts = Query("SELECT (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM user_ids), "
                      "(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM chat_ids)");
  if (counts.ok()) {
    s.users = counts->Uint(0, 0);
    s.chats = counts->Uint(0, 1);
  }
  s.appends = appends_.load(std::memory_order_relaxed);
  s.commit_groups = batches_.load(std::memory_order_relaxed);
  return s;
}

Status PgStore::Backup(const std::string& /*dir*/) {
  return Status::NotSupported(description_ +
                              ": back up the database with pg_basebackup or pg_dump (docs/operations.md)");
}

// ---------------------------------------------------------------- partitions

bool PgStore::PartitionKnown(TimeMs t) {
  MutexLock lock(&partitions_mu_);
  return partitions_.count(DayStart(t)) != 0;
}

Status PgStore::EnsurePartitionFor(TimeMs t) {
  const TimeMs day = DayStart(t);
  MutexLock lock(&partitions_mu_);
  if (partitions_.count(day) != 0) return Status::Ok();
  if (ddl_ && ddl_->broken()) ddl_.reset();
  if (!ddl_) {
    LIBCHAT_ASSIGN_OR_RETURN(ddl_, Conn::Open(conninfo_));
    // DDL on `messages` waits for every transaction using it, and queues the writers behind it
    // meanwhile: it gives up soon rather than stall them (the caller retries; a long export or
    // report holding the table is what makes it wait).
    LIBCHAT_RETURN_IF_ERROR(ddl_->Script("SET lock_timeout = '2s'"));
  }
  LIBCHAT_RETURN_IF_ERROR(Seen(EnsurePartition(*ddl_, t), *ddl_));
  partitions_.insert(day);
  return Status::Ok();
}

void PgStore::ForgetPartitions() {
  MutexLock lock(&partitions_mu_);
  partitions_.clear();
}

// ---------------------------------------------------------------- chat states

PgStore::StatePtr PgStore::Slot(ChatId chat) {
  MutexLock lock(&states_mu_);
  auto it = states_.find(chat);
  if (it != states_.end()) return it->second;
  // Beyond the bound, drop a few states nothing else holds: no caller, no queued append (a queued
  // append's worker holds its state), so the database has all of it.
  if (states_.size() >= options_.max_cached_chats) {
    std::size_t looked = 0;
    for (auto victim = states_.begin(); victim != states_.end() && looked < 16; ++looked) {
      victim = victim->second.use_count() == 1 ? states_.erase(victim) : std::next(victim);
    }
  }
  auto st = std::make_shared<ChatState>();
  states_.emplace(chat, st);
  return st;
}

Result<PgStore::ChatRow> PgStore::ReadChatRow(Conn& conn, ChatId chat, bool lock) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, conn.Exec(lock ? std::string("SELECT ") + kChatCols + " FROM chats WHERE id = $1 FOR UPDATE"
                                                  : std::string("SELECT ") + kChatCols + " FROM chats WHERE id = $1",
                                             Params().Uint(chat)));
  if (r.empty()) return Status::NotFound("chat " + std::to_string(chat));
  ChatRow row;
  row.chat = ChatAt(r, 0);
  row.head = r.Uint(0, 8);
  row.last_ts = r.Int(0, 9);
  row.version = r.Int(0, 10);
  return row;
}

Result<std::vector<Participant>> PgStore::ReadMembers(Conn& conn, ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(
      Rows r, conn.Exec(std::string("SELECT ") + kParticipantCols + " FROM participants WHERE chat_id = $1 ORDER BY user_id",
                        Params().Uint(chat)));
  std::vector<Participant> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) out.push_back(ParticipantAt(r, i));
  return out;
}

Status PgStore::LoadLocked(ChatId chat, ChatState& st) {
  if (st.loaded) return Status::Ok();
  ChatRow row;
  std::vector<Participant> members;
  // One snapshot for the row and its members, so that the version matches the list.
  LIBCHAT_RETURN_IF_ERROR(Tx([&](Conn& c) -> Status {
    LIBCHAT_RETURN_IF_ERROR(c.Script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
    LIBCHAT_ASSIGN_OR_RETURN(row, ReadChatRow(c, chat, false));
    LIBCHAT_ASSIGN_OR_RETURN(members, ReadMembers(c, chat));
    return Status::Ok();
  }));
  Adopt(st, row, std::move(members));
  st.loaded = true;
  return Status::Ok();
}

void PgStore::Adopt(ChatState& st, const ChatRow& row, std::vector<Participant> members) {
  st.chat = row.chat;
  st.version = row.version;
  st.db_head = row.head;
  st.db_last_ts = row.last_ts;
  // Queued appends keep their (now possibly stale) seqs: their worker renumbers them under the chat
  // row's lock if the committed head moved past them.
  if (st.queue.empty()) {
    st.head = row.head;
    st.last_ts = row.last_ts;
  }
  SetMembers(st, std::move(members));
}

void PgStore::SetMembers(ChatState& st, std::vector<Participant> members) {
  std::sort(members.begin(), members.end(), [](const Participant& a, const Participant& b) { return a.user < b.user; });
  auto ids = std::make_shared<std::vector<UserId>>();
  ids->reserve(members.size());
  for (const auto& p : members) ids->push_back(p.user);
  st.members = std::move(members);
  st.member_ids = std::move(ids);
}

const Participant* PgStore::FindMember(const std::vector<Participant>& members, UserId user) {
  auto it = std::lower_bound(members.begin(), members.end(), user,
                             [](const Participant& p, UserId u) { return p.user < u; });
  if (it == members.end() || it->user != user) return nullptr;
  return &*it;
}

Result<PgStore::StatePtr> PgStore::State(ChatId chat) {
  if (chat == 0) return Status::NotFound("chat 0");
  StatePtr st = Slot(chat);
  MutexLock lock(&st->mu);
  LIBCHAT_RETURN_IF_ERROR(LoadLocked(chat, *st));
  return st;
}

Status PgStore::Exclusive(ChatId chat, const std::function<Status(ChatState& st)>& body) {
  LIBCHAT_ASSIGN_OR_RETURN(StatePtr st, State(chat));
  {
    MutexLock lock(&st->mu);
    // Appends wait from now on; those already queued commit first (their seqs come before ours).
    ++st->want_exclusive;
    while (st->exclusive || st->flushing || !st->queue.empty()) st->cv.Wait(&st->mu);
    --st->want_exclusive;
    st->exclusive = true;
  }
  Status s = body(*st);
  {
    MutexLock lock(&st->mu);
    st->exclusive = false;
    // What the database holds after a failure is not known here: read it again on next use.
    if (!s.ok() && (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kInternal)) st->loaded = false;
  }
  st->cv.SignalAll();
  return s;
}

// ---------------------------------------------------------------- workers

void PgStore::Schedule(const StatePtr& st) {
  {
    MutexLock lock(&work_mu_);
    work_.push_back(st);
  }
  work_cv_.Signal();
}

void PgStore::Worker() {
  for (;;) {
    std::vector<StatePtr> group;
    {
      MutexLock lock(&work_mu_);
      while (work_.empty() && !stop_) work_cv_.Wait(&work_mu_);
      if (work_.empty()) return;  // Stopping, and nothing left to commit.
      // Several chats waiting: a batch of each in one transaction (CommitGroup), one WAL flush for
      // all, rather than one commit per chat. One chat alone is flushed until its queue is empty.
      const std::size_t n = std::min<std::size_t>(work_.size(), kMaxGroupChats);
      for (std::size_t i = 0; i < n; ++i) {
        group.push_back(std::move(work_.front()));
        work_.pop_front();
      }
    }
    if (group.size() == 1) {
      Flush(group.front());
    } else {
      CommitGroup(std::move(group));
    }
  }
}

}  // namespace chat::pg
