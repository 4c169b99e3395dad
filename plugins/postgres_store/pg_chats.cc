// PgStore: chats and membership. A membership change is an exclusive chat operation: the chat's
// queued appends commit first, then one transaction locks the chat row, plans the change against the
// participants it reads under that lock (the end of the log, whoever wrote it), writes them with the
// kMembership entry and bumps the chat's version, which tells every other process's sequencer to
// re-read the members before it writes its next batch.
#include <algorithm>
#include <optional>

#include "crypto.h"
#include "pg_rows.h"
#include "pg_schema.h"
#include "pg_store.h"

namespace chat::pg {

namespace {

constexpr const char* kUpsertParticipant =
    "INSERT INTO participants (chat_id, user_id, role, joined_at, joined_seq) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (chat_id, user_id) DO UPDATE SET role = EXCLUDED.role";

Params ChatParams(const Chat& c) {
  Params p;
  p.Uint(c.id).Int(static_cast<std::int64_t>(c.kind)).Bytes(c.name).Bytes(c.metadata).Int(c.member_limit);
  p.Int(c.retention_ms).Uint(c.created_by).Int(c.created_at);
  return p;
}

}  // namespace

Result<Chat> PgStore::CreateChat(Chat chat, std::vector<Participant> members, UserId creator, std::string announcement,
                                 const CommitObserver& observer) {
  if (chat.kind == ChatKind::kDirect && members.size() != 2) {
    return Status::InvalidArgument("a direct chat has exactly two members");
  }
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(chat.created_at));
  Message entry;
  // The new chat's state is held exclusive from before its commit until entry 1 is published: an
  // append by a member who sees the committed chat (listChats) waits, so its entry's event cannot
  // come before entry 1's (the history checker caught entry 2 published first once sends stopped
  // reading the database before they are queued). Nobody else knows the id before the commit.
  StatePtr held;
  const auto release = [](const StatePtr& st) {
    {
      MutexLock lock(&st->mu);
      st->exclusive = false;
    }
    st->cv.SignalAll();
  };
  Status s = Tx([&](Conn& c) -> Status {
    LIBCHAT_ASSIGN_OR_RETURN(Rows id, c.Exec("SELECT nextval('chat_ids')"));
    chat.id = id.Uint(0, 0);
    if (held) release(held);  // A retried transaction: another id.
    held = Slot(chat.id);
    {
      MutexLock lock(&held->mu);
      held->exclusive = true;
    }
    entry = Message{};
    entry.chat = chat.id;
    entry.seq = 1;
    entry.id = detail::RandomHex(16);
    entry.sender = creator;
    entry.kind = MessageKind::kMembership;
    entry.body = announcement;
    entry.timestamp = chat.created_at;
    LIBCHAT_RETURN_IF_ERROR(
        c.Exec("INSERT INTO chats (id, kind, name, metadata, member_limit, retention_ms, created_by, created_at, head, "
               "last_ts, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, 0)",
               ChatParams(chat).Int(chat.created_at))
            .status());
    for (auto& p : members) {
      p.chat = chat.id;
      p.joined_at = chat.created_at;
      p.joined_seq = 0;
      Status ins = c.Exec(kUpsertParticipant,
                          Params().Uint(p.chat).Uint(p.user).Int(static_cast<std::int64_t>(p.role)).Int(p.joined_at).Int(0))
                       .status();
      if (ins.code() == StatusCode::kInvalidArgument) return Status::NotFound("user " + std::to_string(p.user));
      LIBCHAT_RETURN_IF_ERROR(ins);
    }
    if (chat.kind == ChatKind::kDirect) {
      const UserId lo = std::min(members[0].user, members[1].user);
      const UserId hi = std::max(members[0].user, members[1].user);
      Status pair = c.Exec("INSERT INTO direct_chats (user_lo, user_hi, chat_id) VALUES ($1, $2, $3)",
                           Params().Uint(lo).Uint(hi).Uint(chat.id))
                        .status();
      // Unique per pair: a concurrent creation (here or in another process) committed first.
      if (pair.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("a direct chat of these users exists");
      LIBCHAT_RETURN_IF_ERROR(pair);
    }
    return c.Exec(kInsertMessageSql, MessageParams(entry, chat.created_at, chat.created_at + chat.retention_ms)).status();
  });
  if (!s.ok() && held) release(held);
  if (s.code() == StatusCode::kAlreadyExists && chat.kind == ChatKind::kDirect) {
    auto found = FindDirectChat(members[0].user, members[1].user);
    if (found.ok()) return Status::AlreadyExists("direct chat " + std::to_string(*found) + " exists");
  }
  LIBCHAT_RETURN_IF_ERROR(s);
  // The state for the new chat, as committed: the next append needs no read.
  StatePtr st = held;
  MemberList ids;
  {
    MutexLock lock(&st->mu);
    if (!st->loaded || st->version == 0) {
      ChatRow row{chat, 1, chat.created_at, 0};
      Adopt(*st, row, members);
      st->loaded = true;
    }
    ids = st->member_ids;
  }
  if (observer) {
    const MemberList none = std::make_shared<const std::vector<UserId>>();
    observer(CommittedEntry{entry, ids, none});
  }
  release(st);
  return chat;
}

Result<Chat> PgStore::GetChat(ChatId id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kChatCols + " FROM chats WHERE id = $1", Params().Uint(id)));
  if (r.empty()) return Status::NotFound("chat " + std::to_string(id));
  return ChatAt(r, 0);
}

Status PgStore::UpdateChat(const Chat& chat) {
  return Exclusive(chat.id, [&](ChatState& st) -> Status {
    ChatRow row;
    LIBCHAT_RETURN_IF_ERROR(Tx([&](Conn& c) -> Status {
      LIBCHAT_ASSIGN_OR_RETURN(row, ReadChatRow(c, chat.id, true));
      if (row.chat.kind != chat.kind) return Status::InvalidArgument("a chat cannot change its kind");
      // The version tells other processes' sequencers to re-read the chat (its retention decides
      // the expiry of what they write next).
      return c.Exec("UPDATE chats SET name = $3, metadata = $4, member_limit = $5, retention_ms = $6, "
                    "created_by = $7, created_at = $8, version = version + 1 WHERE id = $1 AND kind = $2",
                    ChatParams(chat))
          .status();
    }));
    MutexLock lock(&st.mu);
    st.chat = chat;
    st.version = row.version + 1;
    return Status::Ok();
  });
}

Result<ChatId> PgStore::FindDirectChat(UserId a, UserId b) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT chat_id FROM direct_chats WHERE user_lo = $1 AND user_hi = $2",
                                         Params().Uint(std::min(a, b)).Uint(std::max(a, b))));
  if (r.empty()) return Status::NotFound("direct chat");
  return r.Uint(0, 0);
}

Result<std::vector<Chat>> PgStore::ListChats(ChatId after, std::size_t limit) {
  std::vector<Chat> out;
  LIBCHAT_RETURN_IF_ERROR(CheckFits(after, "chat id"));
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kChatCols + " FROM chats WHERE id > $1 ORDER BY id LIMIT $2",
                                         Params().Uint(after).Int(static_cast<std::int64_t>(std::min<std::size_t>(limit, 1u << 30)))));
  for (int i = 0; i < r.size(); ++i) out.push_back(ChatAt(r, i));
  return out;
}

Result<std::vector<Participant>> PgStore::ListParticipants(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kParticipantCols +
                                             " FROM participants WHERE chat_id = $1 ORDER BY user_id",
                                         Params().Uint(chat)));
  std::vector<Participant> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(ParticipantAt(r, i));
  return out;
}

Result<Participant> PgStore::GetParticipant(ChatId chat, UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kParticipantCols +
                                             " FROM participants WHERE chat_id = $1 AND user_id = $2",
                                         Params().Uint(chat).Uint(user)));
  if (r.empty()) {
    return Status::NotFound("user " + std::to_string(user) + " is not a member of chat " + std::to_string(chat));
  }
  return ParticipantAt(r, 0);
}

Result<std::vector<Participant>> PgStore::ListUserChats(UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kParticipantCols +
                                             " FROM participants WHERE user_id = $1 ORDER BY chat_id",
                                         Params().Uint(user)));
  std::vector<Participant> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(ParticipantAt(r, i));
  return out;
}

Result<MemberList> PgStore::Members(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(StatePtr st, State(chat));
  // The members this process holds are right unless another process changed them since: one
  // primary-key read of the chat's version tells (the list itself is read only when it moved).
  LIBCHAT_ASSIGN_OR_RETURN(Rows v, Query("SELECT version FROM chats WHERE id = $1", Params().Uint(chat)));
  if (v.empty()) return Status::NotFound("chat " + std::to_string(chat));
  {
    MutexLock lock(&st->mu);
    if (st->loaded && st->version >= v.Int(0, 0)) return st->member_ids;
  }
  ChatRow row;
  std::vector<Participant> members;
  LIBCHAT_RETURN_IF_ERROR(Tx([&](Conn& c) -> Status {
    LIBCHAT_RETURN_IF_ERROR(c.Script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
    LIBCHAT_ASSIGN_OR_RETURN(row, ReadChatRow(c, chat, false));
    LIBCHAT_ASSIGN_OR_RETURN(members, ReadMembers(c, chat));
    return Status::Ok();
  }));
  MutexLock lock(&st->mu);
  if (!st->loaded || row.version > st->version) {
    Adopt(*st, row, std::move(members));
    st->loaded = true;
  }
  return st->member_ids;
}

Result<MemberList> PgStore::RecentMembers(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(StatePtr st, State(chat));
  {
    // As this process last saw them: its own changes at once, another process's by the chat's
    // version, read when this process next commits to the chat or is asked Members.
    MutexLock lock(&st->mu);
    if (st->loaded) return st->member_ids;
  }
  return Members(chat);
}

Result<Message> PgStore::UpdateMembership(ChatId chat_id, UserId actor, const MembershipPlanner& planner,
                                          const CommitObserver& observer) {
  Message entry;
  MemberList before;
  MemberList after;
  std::optional<TimeMs> missing_day;
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(options_.clock->NowMs()));
  Status s = Exclusive(chat_id, [&](ChatState& st) -> Status {
    ChatRow row;
    std::vector<Participant> members;
    MembershipPlan plan;
    auto tx = [&](Conn& c) -> Status {
      LIBCHAT_ASSIGN_OR_RETURN(row, ReadChatRow(c, chat_id, true));
      LIBCHAT_ASSIGN_OR_RETURN(members, ReadMembers(c, chat_id));
      // Planned against the end of the log: the row lock keeps every other writer out.
      LIBCHAT_ASSIGN_OR_RETURN(plan, planner(row.chat, members));
      // The entry's day partition must exist already: creating it now would wait for this very
      // transaction (it has read the chat's members... and others' batches hold `messages` while they
      // wait for this chat's row). Made outside, then planned again.
      if (!PartitionKnown(plan.at)) {
        missing_day = plan.at;
        return Status::Unavailable("retry with the partition made");
      }
      before = std::make_shared<const std::vector<UserId>>([&] {
        std::vector<UserId> ids;
        for (const auto& p : members) ids.push_back(p.user);
        return ids;
      }());
      if (plan.chat_update) {
        if (plan.chat_update->id != chat_id || plan.chat_update->kind != row.chat.kind) {
          return Status::InvalidArgument("a membership plan cannot change the chat's id or kind");
        }
        row.chat = *plan.chat_update;
        LIBCHAT_RETURN_IF_ERROR(c.Exec("UPDATE chats SET name = $3, metadata = $4, member_limit = $5, retention_ms = $6, "
                                       "created_by = $7, created_at = $8 WHERE id = $1 AND kind = $2",
                                       ChatParams(row.chat))
                                    .status());
      }
      entry = Message{};
      entry.chat = chat_id;
      entry.seq = row.head + 1;
      entry.id = detail::RandomHex(16);
      entry.sender = actor;
      entry.kind = MessageKind::kMembership;
      entry.body = plan.announcement;
      entry.timestamp = std::max(plan.at, row.last_ts);
      for (Participant p : plan.upserts) {
        p.chat = chat_id;
        auto it = std::find_if(members.begin(), members.end(), [&](const Participant& m) { return m.user == p.user; });
        if (it != members.end()) {
          // A role change keeps the original join.
          p.joined_at = it->joined_at;
          p.joined_seq = it->joined_seq;
          *it = p;
        } else {
          // The new member sees the entry announcing the join, and nothing before it.
          p.joined_at = plan.at;
          p.joined_seq = entry.seq - 1;
          members.push_back(p);
        }
        Status up = c.Exec(kUpsertParticipant, Params().Uint(chat_id).Uint(p.user).Int(static_cast<std::int64_t>(p.role))
                                                   .Int(p.joined_at).Uint(p.joined_seq))
                        .status();
        if (up.code() == StatusCode::kInvalidArgument) return Status::NotFound("user " + std::to_string(p.user));
        LIBCHAT_RETURN_IF_ERROR(up);
      }
      for (UserId u : plan.removals) {
        members.erase(std::remove_if(members.begin(), members.end(), [u](const Participant& m) { return m.user == u; }),
                      members.end());
        // The participant first: an acknowledgement holding it (FOR SHARE) finishes before this, and
        // its cursor is then deleted below; one after this finds no participant and writes nothing.
        const Params who = Params().Uint(chat_id).Uint(u);
        LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM participants WHERE chat_id = $1 AND user_id = $2", who).status());
        LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM receipts WHERE chat_id = $1 AND user_id = $2", who).status());
        LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM device_cursors WHERE chat_id = $1 AND user_id = $2", who).status());
      }
      LIBCHAT_RETURN_IF_ERROR(
          c.Exec(kInsertMessageSql, MessageParams(entry, plan.at, plan.at + row.chat.retention_ms)).status());
      return c.Exec("UPDATE chats SET head = $2, last_ts = $3, version = version + 1 WHERE id = $1",
                    Params().Uint(chat_id).Uint(entry.seq).Int(entry.timestamp))
          .status();
    };
    Status done = Tx(tx);
    if (!done.ok() && missing_day) {
      LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(*missing_day));
      missing_day.reset();
      done = Tx(tx);
    }
    LIBCHAT_RETURN_IF_ERROR(done);
    {
      MutexLock lock(&st.mu);
      row.head = entry.seq;
      row.last_ts = entry.timestamp;
      row.version += 1;
      Adopt(st, row, std::move(members));
      after = st.member_ids;
    }
    // Appends wait while this runs, so the observer still comes in seq order.
    if (observer) observer(CommittedEntry{entry, after, before});
    return Status::Ok();
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  return entry;
}

}  // namespace chat::pg
