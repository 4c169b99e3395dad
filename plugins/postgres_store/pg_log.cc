// PgStore: the chat log. Appends are sequenced in memory under the chat's mutex (membership,
// reply-to and admission checked there, on the caller's thread), then committed by a worker in
// batches: one transaction per batch that locks the chat row, renumbers the batch if another process
// wrote meanwhile, inserts every row with one statement per table and commits, so that the appends
// of a batch share one WAL flush. Also deletions and reading the log back.
#include <algorithm>
#include <limits>
#include <set>

#include "crypto.h"
#include "denials.h"
#include "pg_rows.h"
#include "pg_schema.h"
#include "pg_store.h"

namespace chat::pg {

namespace {

using detail::NotMember;

std::string DedupKey(DeviceId device, std::string_view client_id) {
  std::string k = std::to_string(device);
  k.push_back('/');
  k.append(client_id);
  return k;
}

std::int64_t Limit(std::size_t limit) {
  return static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<std::int32_t>::max()));
}

// The checks an append passes at its place in the log.
Status CheckAppend(const Message& draft, const std::vector<Participant>& members, Seq head,
                   const Participant* (*find)(const std::vector<Participant>&, UserId)) {
  if (IsUserContent(draft.kind) && find(members, draft.sender) == nullptr) return NotMember(draft.chat);
  if (draft.reply_to != 0 && draft.reply_to > head) {
    return Status::InvalidArgument("replyTo " + std::to_string(draft.reply_to) + " is not in the chat");
  }
  return Status::Ok();
}

constexpr const char* kSetHead = "UPDATE chats SET head = $2, last_ts = $3 WHERE id = $1";

// A whole batch in one statement (so, outside an explicit transaction, in one transaction and one
// round trip): the chat's head moves from $2 to $4 only if it is still $2 and the chat's version
// still $3, and every row is written only if it did. The statement returns how many chat rows moved:
// 0 means another process wrote first, and nothing was written. A (device, client id) committed
// before fails the statement on dedup's key, and nothing is written either.
//   $1 chat, $2 base head, $3 version, $4 new head, $5 its timestamp,
//   $6..$18 one element per entry (seq, accepted_at, id, sender, sender_device, client_id, kind, body,
//   reply_to, ref_seq, ts, expires_at, attachment count),
//   $19..$21 one element per attachment (id, seq, expires_at), $22..$23 read cursors (user, seq).
constexpr const char* kAppendBatch = R"sql(
WITH c AS (UPDATE chats SET head = $4, last_ts = $5 WHERE id = $1 AND head = $2 AND version = $3 RETURNING id),
 t AS (SELECT * FROM unnest($6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
       AS t(seq, accepted_at, id, sender, sender_device, client_id, kind, body, reply_to, ref_seq, ts, expires_at, n)),
 m AS (INSERT INTO messages (chat_id, seq, accepted_at, id, sender, sender_device, client_id, kind, body,
                             attachments, reply_to, ref_seq, ts, deleted, expires_at)
       SELECT $1, t.seq, t.accepted_at, t.id, t.sender, t.sender_device, t.client_id, t.kind, t.body,
              CASE WHEN t.n = 0 THEN '{}'::text[] ELSE ARRAY(SELECT f.a FROM unnest($19, $20) WITH ORDINALITY
                   AS f(a, s, o) WHERE f.s = t.seq ORDER BY f.o) END,
              t.reply_to, t.ref_seq, t.ts, false, t.expires_at
       FROM t WHERE EXISTS (SELECT 1 FROM c)),
 d AS (INSERT INTO dedup (device_id, client_id, chat_id, seq, accepted_at, expires_at)
       SELECT t.sender_device, t.client_id, $1, t.seq, t.accepted_at, t.expires_at FROM t
       WHERE EXISTS (SELECT 1 FROM c) AND t.sender_device <> 0 AND t.client_id <> ''::bytea),
 ar AS (INSERT INTO attachment_refs (attachment_id, chat_id, seq, expires_at)
        SELECT f.a, $1, f.s, f.e FROM unnest($19, $20, $21) AS f(a, s, e) WHERE EXISTS (SELECT 1 FROM c)
        ON CONFLICT DO NOTHING),
 au AS (UPDATE attachments SET unreferenced_since = NULL
        WHERE id = ANY($19) AND unreferenced_since IS NOT NULL AND EXISTS (SELECT 1 FROM c)),
 rc AS (INSERT INTO receipts (chat_id, user_id, delivered, read)
        SELECT $1, u.u, u.s, u.s FROM unnest($22, $23) AS u(u, s) WHERE EXISTS (SELECT 1 FROM c)
        ON CONFLICT (chat_id, user_id) DO UPDATE SET delivered = GREATEST(receipts.delivered, EXCLUDED.delivered),
          read = GREATEST(receipts.read, EXCLUDED.read))
SELECT count(*) FROM c
)sql";

// The batches of several chats in one statement (CommitGroup), as kAppendBatch for each: a chat's
// head moves from its base only if it is still there and its version unchanged, and its rows are
// written only if it moved. Returns the ids of the chats written; a chat missing there was written
// by another process meanwhile, and nothing of it was.
//   $1..$5 one element per chat (chat, base head, version, new head, its timestamp),
//   $6..$19 one element per entry (chat, then kAppendBatch's $6..$18),
//   $20..$23 one element per attachment (id, chat, seq, expires_at), $24..$26 read cursors (chat,
//   user, seq).
constexpr const char* kAppendGroup = R"sql(
WITH h AS (SELECT * FROM unnest($1, $2, $3, $4, $5) AS h(chat_id, base, version, head, last_ts)),
 c AS (UPDATE chats SET head = h.head, last_ts = h.last_ts FROM h
       WHERE chats.id = h.chat_id AND chats.head = h.base AND chats.version = h.version RETURNING chats.id),
 t AS (SELECT * FROM unnest($6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
       AS t(chat_id, seq, accepted_at, id, sender, sender_device, client_id, kind, body, reply_to, ref_seq, ts,
            expires_at, n)
       WHERE t.chat_id IN (SELECT id FROM c)),
 m AS (INSERT INTO messages (chat_id, seq, accepted_at, id, sender, sender_device, client_id, kind, body,
                             attachments, reply_to, ref_seq, ts, deleted, expires_at)
       SELECT t.chat_id, t.seq, t.accepted_at, t.id, t.sender, t.sender_device, t.client_id, t.kind, t.body,
              CASE WHEN t.n = 0 THEN '{}'::text[] ELSE ARRAY(SELECT f.a FROM unnest($20, $21, $22) WITH ORDINALITY
                   AS f(a, c, s, o) WHERE f.c = t.chat_id AND f.s = t.seq ORDER BY f.o) END,
              t.reply_to, t.ref_seq, t.ts, false, t.expires_at
       FROM t),
 d AS (INSERT INTO dedup (device_id, client_id, chat_id, seq, accepted_at, expires_at)
       SELECT t.sender_device, t.client_id, t.chat_id, t.seq, t.accepted_at, t.expires_at FROM t
       WHERE t.sender_device <> 0 AND t.client_id <> ''::bytea),
 ar AS (INSERT INTO attachment_refs (attachment_id, chat_id, seq, expires_at)
        SELECT f.a, f.c, f.s, f.e FROM unnest($20, $21, $22, $23) AS f(a, c, s, e) WHERE f.c IN (SELECT id FROM c)
        ON CONFLICT DO NOTHING),
 au AS (UPDATE attachments SET unreferenced_since = NULL
        WHERE id IN (SELECT f.a FROM unnest($20, $21) AS f(a, c) WHERE f.c IN (SELECT id FROM c))
          AND unreferenced_since IS NOT NULL),
 rc AS (INSERT INTO receipts (chat_id, user_id, delivered, read)
        SELECT u.c, u.u, u.s, u.s FROM unnest($24, $25, $26) AS u(c, u, s) WHERE u.c IN (SELECT id FROM c)
        ON CONFLICT (chat_id, user_id) DO UPDATE SET delivered = GREATEST(receipts.delivered, EXCLUDED.delivered),
          read = GREATEST(receipts.read, EXCLUDED.read))
SELECT id FROM c
)sql";

// The chat rows of a group, locked in id order before kAppendGroup updates them (in whatever order
// its join takes): two processes' groups never wait on each other in a cycle.
constexpr const char* kLockGroup = "SELECT id FROM chats WHERE id = ANY($1) ORDER BY id FOR UPDATE";

}  // namespace

Params MessageParams(const Message& m, TimeMs accepted_at, TimeMs expires_at) {
  Params p;
  p.Uint(m.chat).Uint(m.seq).Int(accepted_at).Text(m.id).Uint(m.sender).Uint(m.sender_device).Bytes(m.client_id);
  p.Int(static_cast<std::int64_t>(m.kind)).Bytes(m.body).TextArray(m.attachments).Uint(m.reply_to).Uint(m.ref_seq);
  p.Int(m.timestamp).Bool(m.deleted).Int(expires_at);
  return p;
}

// ---------------------------------------------------------------- appends

Result<AppendResult> PgStore::Duplicate(const Message& original, ChatId requested_chat) {
  if (original.chat != requested_chat) {
    return Status::InvalidArgument("client message id '" + original.client_id + "' was already used in chat " +
                                   std::to_string(original.chat));
  }
  return AppendResult{original, true};
}

void PgStore::AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit) {
  if (draft.chat == 0) return done(Status::InvalidArgument("chat id 0"));
  const bool dedup = !draft.client_id.empty() && draft.sender_device != 0;
  const std::string key = dedup ? DedupKey(draft.sender_device, draft.client_id) : std::string();
  // Lock order: a chat's mutex, then a dedup shard's. No database call is made under a shard's
  // mutex, and none under a chat's while a worker may be waiting for it (see LoadLocked).
  //
  // 1. A resend of an append in flight here waits for it and gets its answer. One already committed
  // is found by the unique key when this one's batch is written (or below, if this one is refused):
  // either way it gets the original's answer. Looking it up here would cost every send a round trip
  // (ChatService looks up what RecentSent knows of before it appends).
  auto follow = [&]() -> bool {
    DedupShard& shard = ShardFor(key);
    MutexLock lock(&shard.mu);
    auto it = shard.inflight.find(key);
    if (it == shard.inflight.end()) return false;
    it->second->followers.emplace_back(draft.chat, std::move(done));
    return true;
  };
  if (dedup && follow()) return;
  // 2. The chat must exist.
  auto state = State(draft.chat);
  PendingPtr p;
  Status refused;
  bool schedule = false;
  bool followed = false;
  if (!state.ok()) {
    refused = state.error();
  } else {
    ChatState& st = **state;
    bool rechecked = false;
    for (;;) {
      std::int64_t seen_version = 0;
      {
        MutexLock lock(&st.mu);
        while (st.exclusive || st.want_exclusive > 0) st.cv.Wait(&st.mu);
        refused = LoadLocked(draft.chat, st);
        // 3. At the entry's place in the log: membership, reply-to, then admission.
        if (refused.ok()) refused = CheckAppend(draft, st.members, st.head, &PgStore::FindMember);
        if (!refused.ok() && refused.code() != StatusCode::kUnavailable && !rechecked) {
          rechecked = true;
          seen_version = st.version;
        } else {
          if (refused.ok() && admit) refused = admit(AppendContext{st.chat, st.member_ids});
          if (!refused.ok()) break;
          if (dedup) {
            // Claimed under the chat's lock: a resend that raced this one since step 1 follows it.
            DedupShard& shard = ShardFor(key);
            MutexLock shard_lock(&shard.mu);
            auto it = shard.inflight.find(key);
            if (it != shard.inflight.end()) {
              it->second->followers.emplace_back(draft.chat, std::move(done));
              followed = true;
              break;
            }
            p = std::make_shared<Pending>();
            p->dedup_key = key;
            shard.inflight.emplace(key, p);
          } else {
            p = std::make_shared<Pending>();
          }
          // From here on nothing fails in this process: the queue is the log's continuation.
          p->accepted_at = draft.timestamp;
          p->entry = std::move(draft);
          p->entry.seq = ++st.head;
          p->entry.timestamp = std::max(p->entry.timestamp, st.last_ts);
          st.last_ts = p->entry.timestamp;
          p->entry.id = detail::RandomHex(16);
          p->entry.deleted = false;
          p->members = st.member_ids;
          p->version = st.version;
          p->observer = std::move(observer);
          p->done = std::move(done);
          st.queue.push_back(p);
          if (!st.flushing) {
            st.flushing = true;
            schedule = true;
          }
          break;
        }
      }
      // Refused by what this process last saw: another process may have added the sender or
      // appended the entry replied to. Look again, without the chat's lock (a worker may need it),
      // and decide once more. The batch checks the other way round, under the chat row's lock.
      ChatRow row;
      std::vector<Participant> members;
      Status fresh = Tx([&](Conn& c) -> Status {
        LIBCHAT_RETURN_IF_ERROR(c.Script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
        LIBCHAT_ASSIGN_OR_RETURN(row, ReadChatRow(c, draft.chat, false));
        LIBCHAT_ASSIGN_OR_RETURN(members, ReadMembers(c, draft.chat));
        return Status::Ok();
      });
      if (!fresh.ok()) continue;  // Decided on what was seen.
      MutexLock lock(&st.mu);
      if (st.loaded && row.version != seen_version && row.version != st.version) Adopt(st, row, std::move(members));
      if (st.loaded && row.head > st.head && st.queue.empty()) {
        st.head = row.head;
        st.last_ts = std::max(st.last_ts, row.last_ts);
      }
    }
  }
  if (followed) return;
  if (p) {
    if (schedule) Schedule(*state);
    return;
  }
  // A resend gets its original answer whatever would refuse it now (membership, limits, the chat).
  if (dedup && refused.code() != StatusCode::kUnavailable) {
    auto sent = FindSent(draft.sender_device, draft.client_id);
    if (sent.ok()) return done(Duplicate(*sent, draft.chat));
  }
  done(refused);
}

void PgStore::Complete(const PendingPtr& p, const Result<AppendResult>& r) {
  std::vector<std::pair<ChatId, AppendDone>> followers;
  if (!p->dedup_key.empty()) {
    DedupShard& shard = ShardFor(p->dedup_key);
    MutexLock lock(&shard.mu);
    auto it = shard.inflight.find(p->dedup_key);
    if (it != shard.inflight.end() && it->second == p) shard.inflight.erase(it);
    followers.swap(p->followers);
  }
  if (p->done) p->done(r);
  for (auto& [chat, done] : followers) {
    if (!r.ok()) {
      done(r.error());
    } else {
      done(Duplicate(r->message, chat));
    }
  }
}

// ---------------------------------------------------------------- the sequencer's batches

void PgStore::Flush(const StatePtr& st) {
  while (CommitBatch(st)) {
  }
}

void PgStore::FailQueue(ChatState& st, const Status& s) {
  std::deque<PendingPtr> failed;
  {
    MutexLock lock(&st.mu);
    failed.swap(st.queue);
    // The database may hold some of these or none: read it again before sequencing anything else.
    st.loaded = false;
    st.flushing = false;
  }
  st.cv.SignalAll();
  for (const auto& p : failed) Complete(p, s);
}

std::vector<std::pair<PgStore::PendingPtr, Status>> PgStore::Resequence(ChatState& st, const ChatRow& row,
                                                                        std::vector<Participant> members) {
  std::vector<std::pair<PendingPtr, Status>> refused;
  st.chat = row.chat;
  st.version = row.version;
  st.db_head = row.head;
  st.db_last_ts = row.last_ts;
  SetMembers(st, std::move(members));
  Seq head = row.head;
  TimeMs last_ts = row.last_ts;
  std::deque<PendingPtr> kept;
  for (auto& p : st.queue) {
    Status s = CheckAppend(p->entry, st.members, head, &PgStore::FindMember);
    // Admission decided among the members it saw; among others it might have decided otherwise.
    if (s.ok() && (!p->members || *p->members != *st.member_ids)) {
      s = Status::Unavailable("chat " + std::to_string(row.chat.id) +
                              " changed while the message was being sent; send it again");
    }
    if (!s.ok()) {
      refused.emplace_back(p, s);
      continue;
    }
    p->entry.seq = ++head;
    p->entry.timestamp = std::max(p->accepted_at, last_ts);
    last_ts = p->entry.timestamp;
    p->members = st.member_ids;
    p->version = row.version;
    kept.push_back(p);
  }
  st.queue.swap(kept);
  st.head = head;
  st.last_ts = last_ts;
  return refused;
}

Statement PgStore::BatchStatement(const std::vector<PendingPtr>& batch, const Chat& chat, Seq base,
                                  std::int64_t version) {
  std::vector<std::int64_t> seq, accepted, sender, device, kind, reply, ref, ts, expires, n_att;
  std::vector<std::string> ids, client_ids, bodies;
  std::vector<std::string> att_id;
  std::vector<std::int64_t> att_seq, att_expires;
  std::map<UserId, Seq> read_cursors;
  for (const auto& p : batch) {
    const Message& m = p->entry;
    const TimeMs accepted_at = std::min(p->accepted_at, m.timestamp);
    // Expiry counts from acceptance, under the chat's retention at the time of writing.
    const TimeMs expires_at = accepted_at + chat.retention_ms;
    seq.push_back(static_cast<std::int64_t>(m.seq));
    accepted.push_back(accepted_at);
    ids.push_back(m.id);
    sender.push_back(static_cast<std::int64_t>(m.sender));
    device.push_back(static_cast<std::int64_t>(m.sender_device));
    // The dedup row is written for exactly the appends that claimed one.
    client_ids.push_back(p->dedup_key.empty() ? std::string() : m.client_id);
    kind.push_back(static_cast<std::int64_t>(m.kind));
    bodies.push_back(m.body);
    reply.push_back(static_cast<std::int64_t>(m.reply_to));
    ref.push_back(static_cast<std::int64_t>(m.ref_seq));
    ts.push_back(m.timestamp);
    expires.push_back(expires_at);
    n_att.push_back(static_cast<std::int64_t>(m.attachments.size()));
    for (const auto& a : m.attachments) {
      att_id.push_back(a);
      att_seq.push_back(static_cast<std::int64_t>(m.seq));
      att_expires.push_back(expires_at);
    }
    // The sender has read what they wrote, in the same transaction.
    if (IsUserContent(m.kind) && m.sender != 0) read_cursors[m.sender] = m.seq;
  }
  std::vector<std::int64_t> users, user_seqs;
  for (const auto& [u, s] : read_cursors) {
    users.push_back(static_cast<std::int64_t>(u));
    user_seqs.push_back(static_cast<std::int64_t>(s));
  }
  Params p;
  p.Uint(chat.id).Uint(base).Int(version).Uint(batch.back()->entry.seq).Int(batch.back()->entry.timestamp);
  p.IntArray(seq).IntArray(accepted).TextArray(ids).IntArray(sender).IntArray(device).BytesArray(client_ids);
  p.IntArray(kind).BytesArray(bodies).IntArray(reply).IntArray(ref).IntArray(ts).IntArray(expires).IntArray(n_att);
  p.TextArray(att_id).IntArray(att_seq).IntArray(att_expires).IntArray(users).IntArray(user_seqs);
  return {kAppendBatch, std::move(p)};
}

Statement PgStore::GroupLock(const std::vector<GroupPart>& parts) {
  std::vector<std::int64_t> ids;
  for (const auto& part : parts) ids.push_back(static_cast<std::int64_t>(part.chat.id));
  Params p;
  p.IntArray(ids);
  return {kLockGroup, std::move(p)};
}

Statement PgStore::GroupStatement(const std::vector<GroupPart>& parts) {
  std::vector<std::int64_t> h_chat, h_base, h_version, h_head, h_ts;
  std::vector<std::int64_t> chat, seq, accepted, sender, device, kind, reply, ref, ts, expires, n_att;
  std::vector<std::string> ids, client_ids, bodies;
  std::vector<std::string> att_id;
  std::vector<std::int64_t> att_chat, att_seq, att_expires;
  std::vector<std::int64_t> r_chat, r_user, r_seq;
  for (const auto& part : parts) {
    const auto id = static_cast<std::int64_t>(part.chat.id);
    h_chat.push_back(id);
    h_base.push_back(static_cast<std::int64_t>(part.base));
    h_version.push_back(part.version);
    h_head.push_back(static_cast<std::int64_t>(part.batch.back()->entry.seq));
    h_ts.push_back(part.batch.back()->entry.timestamp);
    std::map<UserId, Seq> read_cursors;
    for (const auto& p : part.batch) {
      const Message& m = p->entry;
      // As in BatchStatement.
      const TimeMs accepted_at = std::min(p->accepted_at, m.timestamp);
      const TimeMs expires_at = accepted_at + part.chat.retention_ms;
      chat.push_back(id);
      seq.push_back(static_cast<std::int64_t>(m.seq));
      accepted.push_back(accepted_at);
      ids.push_back(m.id);
      sender.push_back(static_cast<std::int64_t>(m.sender));
      device.push_back(static_cast<std::int64_t>(m.sender_device));
      client_ids.push_back(p->dedup_key.empty() ? std::string() : m.client_id);
      kind.push_back(static_cast<std::int64_t>(m.kind));
      bodies.push_back(m.body);
      reply.push_back(static_cast<std::int64_t>(m.reply_to));
      ref.push_back(static_cast<std::int64_t>(m.ref_seq));
      ts.push_back(m.timestamp);
      expires.push_back(expires_at);
      n_att.push_back(static_cast<std::int64_t>(m.attachments.size()));
      for (const auto& a : m.attachments) {
        att_id.push_back(a);
        att_chat.push_back(id);
        att_seq.push_back(static_cast<std::int64_t>(m.seq));
        att_expires.push_back(expires_at);
      }
      if (IsUserContent(m.kind) && m.sender != 0) read_cursors[m.sender] = m.seq;
    }
    for (const auto& [u, s] : read_cursors) {
      r_chat.push_back(id);
      r_user.push_back(static_cast<std::int64_t>(u));
      r_seq.push_back(static_cast<std::int64_t>(s));
    }
  }
  Params p;
  p.IntArray(h_chat).IntArray(h_base).IntArray(h_version).IntArray(h_head).IntArray(h_ts);
  p.IntArray(chat).IntArray(seq).IntArray(accepted).TextArray(ids).IntArray(sender).IntArray(device);
  p.BytesArray(client_ids).IntArray(kind).BytesArray(bodies).IntArray(reply).IntArray(ref).IntArray(ts);
  p.IntArray(expires).IntArray(n_att);
  p.TextArray(att_id).IntArray(att_chat).IntArray(att_seq).IntArray(att_expires);
  p.IntArray(r_chat).IntArray(r_user).IntArray(r_seq);
  return {kAppendGroup, std::move(p)};
}

bool PgStore::CommitBatch(const StatePtr& sp) {
  ChatState& st = *sp;
  std::vector<PendingPtr> batch;
  Seq base = 0;
  std::int64_t version = 0;
  Chat chat;
  // A batch: the queue's first appends that were admitted at one version of the chat (members read
  // since, here or from the database, start a new batch: it is written only if the chat is still at
  // that version, else renumbered against what the database holds).
  auto take = [&]() REQUIRES(st.mu) {
    batch.clear();
    for (const auto& p : st.queue) {
      if (batch.size() == std::max<std::size_t>(options_.max_batch, 1)) break;
      if (!batch.empty() && p->version != batch.front()->version) break;
      batch.push_back(p);
    }
    base = batch.empty() ? st.db_head : batch.front()->entry.seq - 1;
    version = batch.empty() ? st.version : batch.front()->version;
    chat = st.chat;
  };
  {
    MutexLock lock(&st.mu);
    if (st.queue.empty()) {
      st.flushing = false;
      st.cv.SignalAll();
      return false;
    }
    take();
  }
  auto lease = pool_.Acquire();
  if (!lease.ok()) {
    FailQueue(st, lease.error());
    return false;
  }
  Conn& c = **lease;
  bool in_tx = false;
  auto fail = [&](const Status& s) {
    Seen(s, c).IgnoreError();
    // The outcome of a statement on a broken connection is unknown: that connection is done.
    if (c.broken() || (in_tx && !c.Script("ROLLBACK").ok())) lease->Discard();
    FailQueue(st, s);
    return false;
  };
  for (const auto& p : batch) {
    if (Status s = EnsurePartitionFor(std::min(p->accepted_at, p->entry.timestamp)); !s.ok()) return fail(s);
  }
  std::vector<std::pair<PendingPtr, Status>> refused;
  // Optimistic: the chat is where this process last saw it (no other process wrote since), and one
  // statement writes the batch and commits it, one round trip and one WAL flush.
  auto written = c.Exec(kAppendBatch, BatchStatement(batch, chat, base, version).params);
  if (written.ok() && written->Int(0, 0) == 0) {
    // Another process wrote to the chat (or changed it) meanwhile. Take the chat row's lock, renumber
    // the queue after what is committed against the members read under that lock, and write then.
    in_tx = true;
    auto locked = c.Pipeline({{"BEGIN", {}},
                              {"SELECT head, last_ts, version FROM chats WHERE id = $1 FOR UPDATE", Params().Uint(chat.id)}});
    if (!locked.ok()) return fail(locked.error());
    if ((*locked)[1].empty()) return fail(Status::NotFound("chat " + std::to_string(chat.id)));
    auto row = ReadChatRow(c, chat.id, false);
    if (!row.ok()) return fail(row.error());
    auto members = ReadMembers(c, chat.id);
    if (!members.ok()) return fail(members.error());
    {
      MutexLock lock(&st.mu);
      refused = Resequence(st, *row, std::move(*members));
      take();
      base = row->head;
    }
    if (batch.empty()) {
      written = Result<Rows>(Rows());
      if (Status s = c.Script("ROLLBACK"); !s.ok()) return fail(s);
      in_tx = false;
    } else {
      auto done = c.Pipeline({BatchStatement(batch, chat, base, version), {"COMMIT", {}}});
      if (done.ok()) {
        in_tx = false;
        written = std::move((*done)[0]);
      } else {
        written = done.error();
      }
    }
  }
  if (!written.ok() && c.last_sqlstate() == "23505" && c.last_constraint() == "dedup_pkey") {
    // A (device, client id) of this batch was committed by another process (or before a restart):
    // those appends are resends. Answer them with their originals and renumber the rest.
    if (in_tx) {
      if (!c.Script("ROLLBACK").ok()) return fail(Status::Unavailable("postgres: rollback failed"));
      in_tx = false;
    }
    std::vector<std::pair<PendingPtr, Result<AppendResult>>> answered;
    std::uint64_t stale = 0;
    for (const auto& p : batch) {
      if (p->dedup_key.empty()) continue;
      auto original = DedupTarget(c, p->entry.sender_device, p->entry.client_id);
      if (original.ok()) {
        RememberSent(p->dedup_key);
        answered.emplace_back(p, Duplicate(*original, p->entry.chat));
      } else if (!original.error().IsNotFound()) {
        return fail(original.error());
      } else {
        // A dedup row whose message retention already removed (the sweep deletes the row soon
        // after): the client id is free again, as on the other stores once swept.
        auto gone = c.Exec("DELETE FROM dedup d WHERE device_id = $1 AND client_id = $2 AND NOT EXISTS "
                           "(SELECT 1 FROM messages m WHERE m.chat_id = d.chat_id AND m.seq = d.seq "
                           "AND m.accepted_at = d.accepted_at)",
                           Params().Uint(p->entry.sender_device).Bytes(p->entry.client_id));
        if (!gone.ok()) return fail(gone.error());
        stale += gone->affected();
      }
    }
    if (answered.empty() && stale == 0) return fail(written.error());
    {
      MutexLock lock(&st.mu);
      std::deque<PendingPtr> kept;
      for (auto& q : st.queue) {
        if (std::none_of(answered.begin(), answered.end(), [&](const auto& a) { return a.first == q; })) {
          kept.push_back(q);
        }
      }
      st.queue.swap(kept);
      // Renumbered from the committed head the batch followed; the next batch checks it again.
      ChatRow row{st.chat, base, st.db_last_ts, st.version};
      auto more = Resequence(st, row, st.members);
      refused.insert(refused.end(), more.begin(), more.end());
    }
    for (auto& [p, r] : answered) Complete(p, r);
    for (auto& [p, s] : refused) Complete(p, s);
    return true;
  }
  if (!written.ok()) {
    for (auto& [p, s] : refused) Complete(p, s);
    return fail(written.error());
  }
  Committed(st, batch);
  for (auto& [p, s] : refused) Complete(p, s);
  return true;
}

void PgStore::Committed(ChatState& st, const std::vector<PendingPtr>& batch) {
  if (!batch.empty()) {
    MutexLock lock(&st.mu);
    st.db_head = batch.back()->entry.seq;
    st.db_last_ts = batch.back()->entry.timestamp;
    for (std::size_t i = 0; i < batch.size(); ++i) st.queue.pop_front();
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  appends_.fetch_add(batch.size(), std::memory_order_relaxed);
  // Observers in seq order, before any later entry of the chat is committed (this worker owns the
  // chat's commits until the queue is empty or it hands the chat back to the work queue).
  for (const auto& p : batch) {
    if (p->observer) p->observer(CommittedEntry{p->entry, p->members, p->members});
  }
  for (const auto& p : batch) {
    if (!p->dedup_key.empty()) RememberSent(p->dedup_key);
  }
  for (const auto& p : batch) Complete(p, AppendResult{p->entry, false});
}

void PgStore::Reschedule(const StatePtr& sp) {
  {
    MutexLock lock(&sp->mu);
    if (sp->queue.empty()) {
      sp->flushing = false;
      sp->cv.SignalAll();
      return;
    }
  }
  Schedule(sp);  // Still flushing: appends queued meanwhile did not schedule it again.
}

void PgStore::CommitGroup(std::vector<StatePtr> group) {
  using Part = GroupPart;
  std::vector<Part> parts;
  std::vector<StatePtr> later;  // Beyond the group's row budget: back to the work queue as they are.
  std::size_t rows = 0;
  const std::size_t budget = std::max<std::size_t>(options_.max_batch, 1);
  for (auto& sp : group) {
    ChatState& st = *sp;
    Part part{sp, {}, {}, 0, 0};
    {
      MutexLock lock(&st.mu);
      if (st.queue.empty()) {
        st.flushing = false;
        st.cv.SignalAll();
        continue;
      }
      if (rows >= budget) {
        later.push_back(sp);
        continue;
      }
      // As CommitBatch's batch: the first appends admitted at one version of the chat.
      for (const auto& p : st.queue) {
        if (rows == budget) break;
        if (!part.batch.empty() && p->version != part.batch.front()->version) break;
        part.batch.push_back(p);
        ++rows;
      }
      part.base = part.batch.front()->entry.seq - 1;
      part.version = part.batch.front()->version;
      part.chat = st.chat;
    }
    parts.push_back(std::move(part));
  }
  for (auto& sp : later) Schedule(sp);
  if (parts.empty()) return;
  // Row locks are taken in chat id order, in every process: two groups never wait on each other in
  // a cycle.
  std::sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) { return a.chat.id < b.chat.id; });
  std::vector<StatePtr> alone;  // Left to CommitBatch (another process wrote, or the group failed).
  {
    auto lease = pool_.Acquire();
    if (!lease.ok()) {
      for (auto& part : parts) FailQueue(*part.st, lease.error());
      return;
    }
    Conn& c = **lease;
    Status partitions;
    for (const auto& part : parts) {
      for (const auto& p : part.batch) {
        if (partitions.ok()) partitions = EnsurePartitionFor(std::min(p->accepted_at, p->entry.timestamp));
      }
    }
    std::vector<Statement> statements;
    statements.push_back({"BEGIN", {}});
    statements.push_back(GroupLock(parts));
    statements.push_back(GroupStatement(parts));
    statements.push_back({"COMMIT", {}});
    auto done = partitions.ok() ? c.Pipeline(statements) : Result<std::vector<Rows>>(partitions);
    if (!done.ok() && c.broken()) {
      // The commit's outcome is unknown: every chat of the group reads the database again.
      Seen(done.error(), c).IgnoreError();
      lease->Discard();
      for (auto& part : parts) FailQueue(*part.st, done.error());
      return;
    }
    if (!done.ok()) {
      // A statement failed (a client id committed by another process, a lock or partition error):
      // nothing of the group was written. Each chat goes its own way, which answers each case.
      if (partitions.ok() && !c.Script("ROLLBACK").ok()) lease->Discard();
      for (auto& part : parts) alone.push_back(part.st);
    } else {
      std::set<ChatId> written;
      const Rows& ids = (*done)[2];
      for (int i = 0; i < ids.size(); ++i) written.insert(ids.Uint(i, 0));
      for (const auto& part : parts) {
        if (written.count(part.chat.id) == 0) {
          alone.push_back(part.st);  // Another process wrote to this chat: renumbered there.
          continue;
        }
        Committed(*part.st, part.batch);
        Reschedule(part.st);
      }
    }
  }
  for (auto& sp : alone) {
    if (CommitBatch(sp)) Reschedule(sp);
  }
}

Result<Message> PgStore::DedupTarget(Conn& conn, DeviceId device, std::string_view client_id) {
  std::string sql = "SELECT ";
  for (std::string_view col : {"chat_id", "seq", "id", "sender", "sender_device", "client_id", "kind", "body",
                               "attachments", "reply_to", "ref_seq", "ts", "deleted"}) {
    sql += (sql.size() > 7 ? ", m." : "m.") + std::string(col);
  }
  sql += " FROM dedup d JOIN messages m ON m.chat_id = d.chat_id AND m.seq = d.seq AND m.accepted_at = d.accepted_at "
         "WHERE d.device_id = $1 AND d.client_id = $2";
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, conn.Exec(sql, Params().Uint(device).Bytes(client_id)));
  if (r.empty()) return Status::NotFound("no message with client id '" + std::string(client_id) + "'");
  return MessageAt(r, 0);
}

Result<Message> PgStore::FindSent(DeviceId device, std::string_view client_id) {
  LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
  auto m = DedupTarget(*lease, device, client_id);
  Seen(m.status(), *lease).IgnoreError();
  return m;
}

void PgStore::RememberSent(const std::string& key) {
  DedupShard& shard = ShardFor(key);
  MutexLock lock(&shard.mu);
  if (!shard.recent.insert(key).second) return;
  shard.recent_order.push_back(key);
  while (shard.recent_order.size() > kRecentPerShard) {
    shard.recent.erase(shard.recent_order.front());
    shard.recent_order.pop_front();
  }
}

Result<Message> PgStore::RecentSent(DeviceId device, std::string_view client_id) {
  const std::string key = DedupKey(device, client_id);
  {
    DedupShard& shard = ShardFor(key);
    MutexLock lock(&shard.mu);
    // Not sent through this process lately (or still in flight, which AppendAsync follows): the
    // send goes on without a round trip, and a resend is caught by dedup's key when it is written.
    if (shard.recent.count(key) == 0) {
      return Status::NotFound("no message with client id '" + std::string(client_id) + "' sent lately here");
    }
  }
  // Known: the stored message, as it is now (deleted since, or gone with its retention).
  auto m = FindSent(device, client_id);
  if (!m.ok() && m.error().IsNotFound()) {
    DedupShard& shard = ShardFor(key);
    MutexLock lock(&shard.mu);
    shard.recent.erase(key);
  }
  return m;
}

// ---------------------------------------------------------------- deletion

Result<Message> PgStore::DeleteMessage(ChatId chat, Seq seq, UserId actor, DeviceId actor_device, TimeMs now,
                                       const std::function<Status(const Message&, const Participant&)>& authorize,
                                       const CommitObserver& observer) {
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(now));
  Message entry;
  TimeMs target_accepted = 0;
  Status s = Exclusive(chat, [&](ChatState& st) -> Status {
    ChatRow row;
    std::vector<Participant> members;
    LIBCHAT_RETURN_IF_ERROR(Tx([&](Conn& c) -> Status {
      LIBCHAT_ASSIGN_OR_RETURN(row, ReadChatRow(c, chat, true));
      LIBCHAT_ASSIGN_OR_RETURN(members, ReadMembers(c, chat));
      // Membership first: a non-member learns nothing about the chat's entries.
      const Participant* me = FindMember(members, actor);
      if (me == nullptr) return NotMember(chat);
      if (seq == 0 || seq > row.head) return Status::NotFound("message " + std::to_string(seq));
      LIBCHAT_ASSIGN_OR_RETURN(
          Rows r, c.Exec(std::string("SELECT ") + kMessageCols + ", accepted_at FROM messages WHERE chat_id = $1 AND seq = $2",
                         Params().Uint(chat).Uint(seq)));
      if (r.empty()) return Status::NotFound("message " + std::to_string(seq) + " of chat " + std::to_string(chat));
      Message target = MessageAt(r, 0);
      target_accepted = r.Int(0, 13);
      LIBCHAT_RETURN_IF_ERROR(authorize(target, *me));
      // Past its retention the message belongs to the sweeper.
      if (target.timestamp + row.chat.retention_ms <= now) {
        return Status::NotFound("message " + std::to_string(seq) + " has expired");
      }
      if (target.deleted) return Status::NotFound("message " + std::to_string(seq) + " is already deleted");
      // The tombstone keeps the position (seq, id, sender, time) so that sync never shows a gap.
      LIBCHAT_ASSIGN_OR_RETURN(
          Rows u, c.Exec("UPDATE messages SET body = ''::bytea, attachments = '{}', deleted = true "
                         "WHERE chat_id = $1 AND seq = $2 AND accepted_at = $3",
                         Params().Uint(chat).Uint(seq).Int(target_accepted)));
      if (u.affected() == 0) return Status::NotFound("message " + std::to_string(seq) + " has expired");
      for (const auto& a : target.attachments) {
        LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM attachment_refs WHERE attachment_id = $1 AND chat_id = $2 AND seq = $3",
                                       Params().Text(a).Uint(chat).Uint(seq))
                                    .status());
        LIBCHAT_RETURN_IF_ERROR(
            c.Exec("UPDATE attachments SET unreferenced_since = $2 WHERE id = $1 AND unreferenced_since IS NULL "
                   "AND NOT EXISTS (SELECT 1 FROM attachment_refs WHERE attachment_id = $1)",
                   Params().Text(a).Int(std::max<TimeMs>(now, 0)))
                .status());
      }
      entry = Message{};
      entry.chat = chat;
      entry.seq = row.head + 1;
      entry.id = detail::RandomHex(16);
      entry.sender = actor;
      entry.sender_device = actor_device;
      entry.kind = MessageKind::kDeletion;
      entry.ref_seq = seq;
      entry.timestamp = std::max(now, row.last_ts);
      LIBCHAT_RETURN_IF_ERROR(c.Exec(kInsertMessageSql, MessageParams(entry, now, now + row.chat.retention_ms)).status());
      return c.Exec(kSetHead, Params().Uint(chat).Uint(entry.seq).Int(entry.timestamp)).status();
    }));
    MemberList ids;
    {
      MutexLock lock(&st.mu);
      row.head = entry.seq;
      row.last_ts = entry.timestamp;
      Adopt(st, row, std::move(members));
      ids = st.member_ids;
    }
    // Appends wait while this runs, so the observer still comes in seq order.
    if (observer) observer(CommittedEntry{entry, ids, ids});
    return Status::Ok();
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  // The old row version still holds the text until VACUUM removes it (docs/storage.md, "Erasure").
  ScheduleErase(target_accepted);
  return entry;
}

// ---------------------------------------------------------------- reading

Result<std::vector<Message>> PgStore::ReadMessages(ChatId chat, Seq after, std::size_t limit) {
  std::vector<Message> out;
  if (after >= static_cast<Seq>(std::numeric_limits<std::int64_t>::max()) || limit == 0) return out;
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kMessageCols +
                                             " FROM messages WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                         Params().Uint(chat).Uint(after).Int(Limit(limit))));
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) out.push_back(MessageAt(r, i));
  return out;
}

Result<std::vector<Message>> PgStore::ReadMessagesBefore(ChatId chat, Seq before, std::size_t limit) {
  std::vector<Message> out;
  if (limit == 0 || before == 0) return out;
  const Seq bound = std::min<Seq>(before, static_cast<Seq>(std::numeric_limits<std::int64_t>::max()));
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kMessageCols +
                                             " FROM messages WHERE chat_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                                         Params().Uint(chat).Uint(bound).Int(Limit(limit))));
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) out.push_back(MessageAt(r, i));
  return out;
}

Result<Message> PgStore::GetMessage(ChatId chat, Seq seq) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kMessageCols +
                                             " FROM messages WHERE chat_id = $1 AND seq = $2",
                                         Params().Uint(chat).Uint(seq)));
  if (r.empty()) return Status::NotFound("message " + std::to_string(seq) + " of chat " + std::to_string(chat));
  return MessageAt(r, 0);
}

Result<Seq> PgStore::Head(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT head FROM chats WHERE id = $1", Params().Uint(chat)));
  if (r.empty()) return Status::NotFound("chat " + std::to_string(chat));
  return r.Uint(0, 0);
}

}  // namespace chat::pg
