// PgStore: what only an administrator does (store.h, "Invitations" and "Erasing accounts and
// chats"), as the KvStore does it (libchat/src/kv_store_admin.cc): invitations (table `invites`,
// schema version 2), erasing one message as the server, deleting a user or a chat with everything that
// hangs off them. Each is one transaction; the rows it locks are the ones the ordinary operations
// lock (the invitation's, the user's, the chat's), so they serialise with them across processes.
#include <algorithm>
#include <set>

#include "crypto.h"
#include "pg_rows.h"
#include "pg_schema.h"
#include "pg_store.h"

namespace chat::pg {

// Schema version 2: invitations to register. The id is the code's first characters, the code itself
// is kept only as a digest.
const SchemaStep& InvitesSchemaStep() {
  static const SchemaStep step = {2, "invitations to register (chatd --registration invite)",
                                  R"sql(
CREATE TABLE invites (
  id text COLLATE "C" PRIMARY KEY,
  code_hash text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  max_uses bigint NOT NULL,
  uses bigint NOT NULL,
  note bytea NOT NULL);
)sql",
                                  "DROP TABLE invites;"};
  return step;
}

namespace {

constexpr const char* kInviteCols = "id, code_hash, created_at, expires_at, max_uses, uses, note";

// One answer for every reason a code is refused, so that a guesser learns nothing from it.
Status BadInvite() { return Status::PermissionDenied("invalid, expired or used invitation code"); }

Invite InviteAt(const Rows& r, int i) {
  Invite v;
  v.id = r.Str(i, 0);
  v.code_hash = r.Str(i, 1);
  v.created_at = r.Int(i, 2);
  v.expires_at = r.Int(i, 3);
  v.max_uses = static_cast<std::uint32_t>(r.Int(i, 4));
  v.uses = static_cast<std::uint32_t>(r.Int(i, 5));
  v.note = r.Str(i, 6);
  return v;
}

Params InviteParams(const Invite& v) {
  Params p;
  p.Text(v.id).Text(v.code_hash).Int(v.created_at).Int(v.expires_at).Int(v.max_uses).Int(v.uses).Bytes(v.note);
  return p;
}

constexpr const char* kInsertInvite =
    "INSERT INTO invites (id, code_hash, created_at, expires_at, max_uses, uses, note) VALUES ($1, $2, $3, $4, $5, $6, $7)";

// Attachments referenced by nothing any more start their grace period now (CollectAttachments).
Status MarkUnreferenced(Conn& c, const std::vector<std::string>& ids, TimeMs now) {
  for (const auto& a : ids) {
    LIBCHAT_RETURN_IF_ERROR(
        c.Exec("UPDATE attachments SET unreferenced_since = $2 WHERE id = $1 AND unreferenced_since IS NULL "
               "AND NOT EXISTS (SELECT 1 FROM attachment_refs WHERE attachment_id = $1)",
               Params().Text(a).Int(std::max<TimeMs>(now, 0)))
            .status());
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------- invitations

Status PgStore::CreateInvite(const Invite& invite) {
  if (invite.id.empty()) return Status::InvalidArgument("an invitation needs an id");
  Status s = Tx([&](Conn& c) { return c.Exec(kInsertInvite, InviteParams(invite)).status(); });
  if (s.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("invitation " + invite.id + " exists");
  return s;
}

Result<Invite> PgStore::GetInvite(std::string_view id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kInviteCols + " FROM invites WHERE id = $1",
                                         Params().Text(id)));
  if (r.empty()) return BadInvite();
  return InviteAt(r, 0);
}

Result<std::vector<Invite>> PgStore::ListInvites(std::string_view after, std::size_t limit) {
  LIBCHAT_ASSIGN_OR_RETURN(
      Rows r, Query(std::string("SELECT ") + kInviteCols + " FROM invites WHERE id > $1 ORDER BY id LIMIT $2",
                    Params().Text(after).Int(static_cast<std::int64_t>(std::min<std::size_t>(limit, 1u << 30)))));
  std::vector<Invite> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(InviteAt(r, i));
  return out;
}

Status PgStore::DeleteInvite(std::string_view id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("DELETE FROM invites WHERE id = $1 RETURNING id", Params().Text(id)));
  if (r.empty()) return Status::NotFound("invitation " + std::string(id));
  return Status::Ok();
}

Result<User> PgStore::CreateUserWithInvite(User user, std::string_view invite_id, std::string_view code_hash,
                                           TimeMs now) {
  bool refused = false;
  Status s = Tx([&](Conn& c) -> Status {
    // The invitation's row lock: two registrations cannot both take its last use.
    LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(std::string("SELECT ") + kInviteCols + " FROM invites WHERE id = $1 FOR UPDATE",
                                            Params().Text(invite_id)));
    if (r.empty()) {
      refused = true;
      return BadInvite();
    }
    const Invite invite = InviteAt(r, 0);
    if (invite.code_hash != code_hash || invite.uses >= invite.max_uses ||
        (invite.expires_at != 0 && invite.expires_at <= now)) {
      refused = true;
      return BadInvite();
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows id, c.Exec("SELECT nextval('user_ids')"));
    user.id = id.Uint(0, 0);
    LIBCHAT_RETURN_IF_ERROR(
        c.Exec("INSERT INTO users (id, username, display_name, email, password_hash, avatar_url, created_at, "
               "disabled, last_seen_visibility) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
               Params().Uint(user.id).Text(user.username).Bytes(user.display_name).Bytes(user.email)
                   .Bytes(user.password_hash).Bytes(user.avatar_url).Int(user.created_at).Bool(user.disabled)
                   .Int(static_cast<std::int64_t>(user.last_seen_visibility)))
            .status());
    return c.Exec("UPDATE invites SET uses = uses + 1 WHERE id = $1", Params().Text(invite_id)).status();
  });
  if (refused) return BadInvite();
  if (s.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("username '" + user.username + "' is taken");
  LIBCHAT_RETURN_IF_ERROR(s);
  return user;
}

Status PgStore::ImportEntity(Conn& c, const Invite& v) {
  if (v.id.empty() || v.code_hash.empty()) return Status::InvalidArgument("an invitation record needs an id and a code hash");
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec("SELECT 1 FROM invites WHERE id = $1", Params().Text(v.id)));
  if (!r.empty()) return Status::AlreadyExists("invitation " + v.id + " is already in the store (import needs a fresh store)");
  return c.Exec(kInsertInvite, InviteParams(v)).status();
}

Status PgStore::ExportInvites(Conn& c, const RecordSink& sink) {
  std::string after;
  for (;;) {
    LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(std::string("SELECT ") + kInviteCols +
                                                " FROM invites WHERE id > $1 ORDER BY id LIMIT 1000",
                                            Params().Text(after)));
    for (int i = 0; i < r.size(); ++i) {
      Invite v = InviteAt(r, i);
      after = v.id;
      LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{std::move(v)}));
    }
    if (r.size() < 1000) return Status::Ok();
  }
}

// ---------------------------------------------------------------- erasure

Result<Message> PgStore::EraseMessage(ChatId chat, Seq seq, TimeMs now, const CommitObserver& observer) {
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(now));
  Message entry;
  TimeMs target_accepted = 0;
  Status s = Exclusive(chat, [&](ChatState& st) -> Status {
    ChatRow row;
    std::vector<Participant> members;
    LIBCHAT_RETURN_IF_ERROR(Tx([&](Conn& c) -> Status {
      LIBCHAT_ASSIGN_OR_RETURN(row, ReadChatRow(c, chat, true));
      LIBCHAT_ASSIGN_OR_RETURN(members, ReadMembers(c, chat));
      if (seq == 0 || seq > row.head) return Status::NotFound("message " + std::to_string(seq));
      LIBCHAT_ASSIGN_OR_RETURN(
          Rows r, c.Exec(std::string("SELECT ") + kMessageCols + ", accepted_at FROM messages WHERE chat_id = $1 AND seq = $2",
                         Params().Uint(chat).Uint(seq)));
      if (r.empty()) return Status::NotFound("message " + std::to_string(seq) + " of chat " + std::to_string(chat));
      const Message target = MessageAt(r, 0);
      target_accepted = r.Int(0, 13);
      if (target.timestamp + row.chat.retention_ms <= now) {
        return Status::NotFound("message " + std::to_string(seq) + " has expired");
      }
      if (target.deleted) return Status::NotFound("message " + std::to_string(seq) + " is already deleted");
      LIBCHAT_RETURN_IF_ERROR(c.Exec("UPDATE messages SET body = ''::bytea, attachments = '{}', deleted = true "
                                     "WHERE chat_id = $1 AND seq = $2 AND accepted_at = $3",
                                     Params().Uint(chat).Uint(seq).Int(target_accepted))
                                  .status());
      for (const auto& a : target.attachments) {
        LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM attachment_refs WHERE attachment_id = $1 AND chat_id = $2 AND seq = $3",
                                       Params().Text(a).Uint(chat).Uint(seq))
                                    .status());
      }
      LIBCHAT_RETURN_IF_ERROR(MarkUnreferenced(c, target.attachments, now));
      // The server's deletion entry: no sender, no device.
      entry = Message{};
      entry.chat = chat;
      entry.seq = row.head + 1;
      entry.id = detail::RandomHex(16);
      entry.kind = MessageKind::kDeletion;
      entry.ref_seq = seq;
      entry.timestamp = std::max(now, row.last_ts);
      LIBCHAT_RETURN_IF_ERROR(c.Exec(kInsertMessageSql, MessageParams(entry, now, now + row.chat.retention_ms)).status());
      return c.Exec("UPDATE chats SET head = $2, last_ts = $3 WHERE id = $1",
                    Params().Uint(chat).Uint(entry.seq).Int(entry.timestamp))
          .status();
    }));
    MemberList ids;
    {
      MutexLock lock(&st.mu);
      row.head = entry.seq;
      row.last_ts = entry.timestamp;
      Adopt(st, row, std::move(members));
      ids = st.member_ids;
    }
    if (observer) observer(CommittedEntry{entry, ids, ids});
    return Status::Ok();
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  ScheduleErase(target_accepted);
  return entry;
}

Result<UserErasure> PgStore::DeleteUser(UserId user, TimeMs /*now*/) {
  UserErasure erased;
  Status s = Tx([&](Conn& c) -> Status {
    erased = UserErasure{};
    // The user's row lock, as AddDevice and ChangeCredentials take it.
    LIBCHAT_ASSIGN_OR_RETURN(Rows u, c.Exec("SELECT id FROM users WHERE id = $1 FOR UPDATE", Params().Uint(user)));
    if (u.empty()) return Status::NotFound("user " + std::to_string(user));
    LIBCHAT_ASSIGN_OR_RETURN(Rows devices, c.Exec("SELECT id FROM devices WHERE user_id = $1", Params().Uint(user)));
    for (int i = 0; i < devices.size(); ++i) {
      LIBCHAT_RETURN_IF_ERROR(RemoveDeviceIn(c, devices.Uint(i, 0)));
      ++erased.devices;
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows blocks, c.Exec("DELETE FROM blocks WHERE user_id = $1 OR blocked = $1 RETURNING 1",
                                                 Params().Uint(user)));
    erased.blocks = static_cast<std::size_t>(blocks.size());
    LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM bans WHERE user_id = $1", Params().Uint(user)).status());
    LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM spam_flags WHERE user_id = $1", Params().Uint(user)).status());
    // The user's uploads: their metadata goes now, their bytes are the caller's (attachment_garbage
    // until ReleaseAttachments).
    LIBCHAT_ASSIGN_OR_RETURN(Rows uploads, c.Exec("DELETE FROM attachments WHERE uploader = $1 RETURNING id",
                                                  Params().Uint(user)));
    for (int i = 0; i < uploads.size(); ++i) {
      const std::string id = uploads.Str(i, 0);
      LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM attachment_refs WHERE attachment_id = $1", Params().Text(id)).status());
      LIBCHAT_RETURN_IF_ERROR(
          c.Exec("INSERT INTO attachment_garbage (id) VALUES ($1) ON CONFLICT DO NOTHING", Params().Text(id)).status());
      erased.attachments.push_back(id);
    }
    std::sort(erased.attachments.begin(), erased.attachments.end());
    return c.Exec("DELETE FROM users WHERE id = $1", Params().Uint(user)).status();
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  return erased;
}

Status PgStore::DeleteChat(ChatId chat) {
  std::set<TimeMs> days;
  Status s = Exclusive(chat, [&](ChatState& st) -> Status {
    const TimeMs now = options_.clock->NowMs();
    Status tx = Tx([&](Conn& c) -> Status {
      days.clear();
      LIBCHAT_ASSIGN_OR_RETURN(ChatRow row, ReadChatRow(c, chat, true));
      (void)row;
      // The messages go whole; the days they were in are vacuumed later (their old row versions
      // still hold the text until then: docs/storage.md, "Erasure").
      LIBCHAT_ASSIGN_OR_RETURN(Rows gone, c.Exec("DELETE FROM messages WHERE chat_id = $1 RETURNING accepted_at",
                                                 Params().Uint(chat)));
      for (int i = 0; i < gone.size(); ++i) days.insert(DayStart(gone.Int(i, 0)));
      LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM dedup WHERE chat_id = $1", Params().Uint(chat)).status());
      LIBCHAT_ASSIGN_OR_RETURN(Rows refs, c.Exec("DELETE FROM attachment_refs WHERE chat_id = $1 RETURNING attachment_id",
                                                 Params().Uint(chat)));
      std::vector<std::string> released;
      for (int i = 0; i < refs.size(); ++i) released.push_back(refs.Str(i, 0));
      std::sort(released.begin(), released.end());
      released.erase(std::unique(released.begin(), released.end()), released.end());
      LIBCHAT_RETURN_IF_ERROR(MarkUnreferenced(c, released, now));
      LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM receipts WHERE chat_id = $1", Params().Uint(chat)).status());
      LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM device_cursors WHERE chat_id = $1", Params().Uint(chat)).status());
      LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM participants WHERE chat_id = $1", Params().Uint(chat)).status());
      LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM direct_chats WHERE chat_id = $1", Params().Uint(chat)).status());
      return c.Exec("DELETE FROM chats WHERE id = $1", Params().Uint(chat)).status();
    });
    if (tx.ok()) {
      // From now on the chat does not exist for this process: the next use reads the database again
      // and finds nothing.
      MutexLock lock(&st.mu);
      st.loaded = false;
    }
    return tx;
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  {
    MutexLock lock(&states_mu_);
    states_.erase(chat);
  }
  for (TimeMs day : days) ScheduleErase(day);
  return Status::Ok();
}

}  // namespace chat::pg
