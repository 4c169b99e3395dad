// PgStore: export (every record in Store::Export's order, read in pages from one REPEATABLE READ
// snapshot, so that an export of a store in use is consistent and memory stays flat) and import
// (one record at a time, each with what it implies: dedup rows, references, the direct-chat pair,
// the id sequences raised past it).
#include "blob_id.h"
#include "pg_rows.h"
#include "pg_schema.h"
#include "pg_store.h"

namespace chat::pg {

namespace {

constexpr std::int64_t kPage = 1000;

Status Missing(const std::string& what, const std::string& referrer) {
  return Status::InvalidArgument(referrer + " refers to " + what +
                                 ", which is missing (an export lists it before what refers to it)");
}

Status Taken(const std::string& what) {
  return Status::AlreadyExists(what + " is already in the store (import needs a fresh store)");
}

Result<bool> Exists(Conn& c, const std::string& sql, const Params& params) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(sql, params));
  return !r.empty();
}

Status RequireUser(Conn& c, UserId user, const std::string& referrer) {
  LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(c, "SELECT 1 FROM users WHERE id = $1", Params().Uint(user)));
  return found ? Status::Ok() : Missing("user " + std::to_string(user), referrer);
}

Result<Chat> RequireChat(Conn& c, ChatId chat, const std::string& referrer) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(std::string("SELECT ") + kChatCols + " FROM chats WHERE id = $1", Params().Uint(chat)));
  if (r.empty()) return Missing("chat " + std::to_string(chat), referrer);
  return ChatAt(r, 0);
}

// Raises a sequence so that its next value is at least `next`.
Status RaiseSequence(Conn& c, const char* seq, std::uint64_t next) {
  LIBCHAT_RETURN_IF_ERROR(CheckFits(next, "id counter"));
  if (next <= 1) return Status::Ok();
  return c.Exec(std::string("SELECT setval('") + seq + "', $1, false) FROM " + seq +
                    " WHERE (CASE WHEN is_called THEN last_value + 1 ELSE last_value END) < $1",
                Params().Uint(next))
      .status();
}

Result<std::uint64_t> NextOf(Conn& c, const char* seq) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(std::string("SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM ") + seq));
  return r.Uint(0, 0);
}

}  // namespace

// ---------------------------------------------------------------- export

Status PgStore::Export(const RecordSink& sink) {
  LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
  Conn& c = *lease;
  // One snapshot for everything: an export of a store in use is consistent (unlike the other
  // stores', whose contract does not promise it).
  Status s = c.Script("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  if (!s.ok()) return Seen(s, c);
  s = [&]() -> Status {
    IdCounters counters;
    LIBCHAT_ASSIGN_OR_RETURN(counters.next_user, NextOf(c, "user_ids"));
    LIBCHAT_ASSIGN_OR_RETURN(counters.next_device, NextOf(c, "device_ids"));
    LIBCHAT_ASSIGN_OR_RETURN(counters.next_chat, NextOf(c, "chat_ids"));
    LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{counters}));
    // Each user followed by its devices.
    for (std::int64_t after = 0;;) {
      LIBCHAT_ASSIGN_OR_RETURN(Rows users, c.Exec(std::string("SELECT ") + kUserCols +
                                                      " FROM users WHERE id > $1 ORDER BY id LIMIT $2",
                                                  Params().Int(after).Int(kPage)));
      for (int i = 0; i < users.size(); ++i) {
        User u = UserAt(users, i);
        after = static_cast<std::int64_t>(u.id);
        LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{u}));
        LIBCHAT_ASSIGN_OR_RETURN(Rows devices, c.Exec(std::string("SELECT ") + kDeviceCols +
                                                          " FROM devices WHERE user_id = $1 ORDER BY id",
                                                      Params().Uint(u.id)));
        for (int j = 0; j < devices.size(); ++j) LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{DeviceAt(devices, j)}));
      }
      if (users.size() < kPage) break;
    }
    // After every user: a ban or a block may name any of them.
    LIBCHAT_ASSIGN_OR_RETURN(Rows bans, c.Exec("SELECT user_id, at, reason FROM bans ORDER BY user_id"));
    for (int i = 0; i < bans.size(); ++i) {
      LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{UserBan{bans.Uint(i, 0), bans.Int(i, 1), bans.Str(i, 2)}}));
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows blocks, c.Exec("SELECT user_id, blocked, since FROM blocks ORDER BY user_id, blocked"));
    for (int i = 0; i < blocks.size(); ++i) {
      LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{UserBlock{blocks.Uint(i, 0), blocks.Uint(i, 1), blocks.Int(i, 2)}}));
    }
    // Before the chats, so that an import sees each attachment before the messages that reference it.
    for (std::string after;;) {
      LIBCHAT_ASSIGN_OR_RETURN(Rows a, c.Exec(std::string("SELECT ") + kAttachmentCols +
                                                  " FROM attachments WHERE id > $1 ORDER BY id LIMIT $2",
                                              Params().Text(after).Int(kPage)));
      for (int i = 0; i < a.size(); ++i) {
        Attachment att = AttachmentAt(a, i);
        after = att.id;
        LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{att}));
      }
      if (a.size() < kPage) break;
    }
    // Each chat (with its head) followed by its participants, its messages and its receipts.
    for (std::int64_t after = 0;;) {
      LIBCHAT_ASSIGN_OR_RETURN(Rows chats, c.Exec(std::string("SELECT ") + kChatCols +
                                                      " FROM chats WHERE id > $1 ORDER BY id LIMIT $2",
                                                  Params().Int(after).Int(kPage)));
      for (int i = 0; i < chats.size(); ++i) {
        ChatRecord record{ChatAt(chats, i), chats.Uint(i, 8), chats.Int(i, 9)};
        const ChatId id = record.chat.id;
        after = static_cast<std::int64_t>(id);
        LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{record}));
        LIBCHAT_ASSIGN_OR_RETURN(Rows ps, c.Exec(std::string("SELECT ") + kParticipantCols +
                                                     " FROM participants WHERE chat_id = $1 ORDER BY user_id",
                                                 Params().Uint(id)));
        for (int j = 0; j < ps.size(); ++j) LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{ParticipantAt(ps, j)}));
        for (std::int64_t seq = 0;;) {
          LIBCHAT_ASSIGN_OR_RETURN(Rows ms, c.Exec(std::string("SELECT ") + kMessageCols +
                                                       " FROM messages WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                                                   Params().Uint(id).Int(seq).Int(kPage)));
          for (int j = 0; j < ms.size(); ++j) {
            Message m = MessageAt(ms, j);
            seq = static_cast<std::int64_t>(m.seq);
            LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{std::move(m)}));
          }
          if (ms.size() < kPage) break;
        }
        LIBCHAT_ASSIGN_OR_RETURN(Rows rs, c.Exec("SELECT user_id, delivered, read FROM receipts WHERE chat_id = $1 "
                                                 "ORDER BY user_id",
                                                 Params().Uint(id)));
        for (int j = 0; j < rs.size(); ++j) {
          LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{ReceiptCursor{id, rs.Uint(j, 0), rs.Uint(j, 1), rs.Uint(j, 2)}}));
        }
      }
      if (chats.size() < kPage) break;
    }
    for (std::int64_t device = 0, chat = 0;;) {
      LIBCHAT_ASSIGN_OR_RETURN(Rows dc, c.Exec("SELECT device_id, chat_id, seq FROM device_cursors WHERE "
                                               "(device_id, chat_id) > ($1, $2) ORDER BY device_id, chat_id LIMIT $3",
                                               Params().Int(device).Int(chat).Int(kPage)));
      for (int i = 0; i < dc.size(); ++i) {
        device = dc.Int(i, 0);
        chat = dc.Int(i, 1);
        LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{DeviceCursorRecord{dc.Uint(i, 0), dc.Uint(i, 1), dc.Uint(i, 2)}}));
      }
      if (dc.size() < kPage) break;
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows flags, c.Exec(std::string("SELECT ") + kSpamFlagCols + " FROM spam_flags ORDER BY user_id"));
    for (int i = 0; i < flags.size(); ++i) LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{SpamFlagAt(flags, i)}));
    for (std::int64_t after = 0;;) {
      LIBCHAT_ASSIGN_OR_RETURN(Rows reports, c.Exec(std::string("SELECT ") + kSpamReportCols +
                                                        " FROM spam_reports WHERE id > $1 ORDER BY id LIMIT $2",
                                                    Params().Int(after).Int(kPage)));
      for (int i = 0; i < reports.size(); ++i) {
        SpamReport r = SpamReportAt(reports, i);
        after = static_cast<std::int64_t>(r.id);
        LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{r}));
      }
      if (reports.size() < kPage) break;
    }
    return ExportInvites(c, sink);
  }();
  if (!c.broken()) c.Script(s.ok() ? "COMMIT" : "ROLLBACK").IgnoreError();
  return Seen(s, c);
}

// ---------------------------------------------------------------- import

Status PgStore::Import(const StoreRecord& record) {
  // A message's day partition is made before the transaction: creating one waits for every
  // transaction that has read `messages`, this one's included.
  if (const auto* m = std::get_if<Message>(&record.entity)) LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(m->timestamp));
  // Written without waiting for the WAL flush, like the other stores' bulk load; chat-migrate's
  // verification (and the next checkpoint) follow.
  return Tx([&](Conn& c) { return std::visit([&](const auto& e) { return ImportEntity(c, e); }, record.entity); },
            /*async_commit=*/true);
}

Status PgStore::ImportEntity(Conn& c, const IdCounters& v) {
  LIBCHAT_RETURN_IF_ERROR(RaiseSequence(c, "user_ids", v.next_user));
  LIBCHAT_RETURN_IF_ERROR(RaiseSequence(c, "device_ids", v.next_device));
  return RaiseSequence(c, "chat_ids", v.next_chat);
}

Status PgStore::ImportEntity(Conn& c, const User& u) {
  if (u.id == 0 || u.username.empty()) return Status::InvalidArgument("a user record needs an id and a username");
  LIBCHAT_RETURN_IF_ERROR(CheckFits(u.id, "user id"));
  LIBCHAT_ASSIGN_OR_RETURN(bool id_taken, Exists(c, "SELECT 1 FROM users WHERE id = $1", Params().Uint(u.id)));
  if (id_taken) return Taken("user " + std::to_string(u.id));
  LIBCHAT_ASSIGN_OR_RETURN(bool name_taken, Exists(c, "SELECT 1 FROM users WHERE username = $1", Params().Text(u.username)));
  if (name_taken) return Taken("username '" + u.username + "'");
  LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO users (id, username, display_name, email, password_hash, avatar_url, "
                                 "created_at, disabled, last_seen_visibility) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                                 Params().Uint(u.id).Text(u.username).Bytes(u.display_name).Bytes(u.email)
                                     .Bytes(u.password_hash).Bytes(u.avatar_url).Int(u.created_at).Bool(u.disabled)
                                     .Int(static_cast<std::int64_t>(u.last_seen_visibility)))
                              .status());
  return RaiseSequence(c, "user_ids", u.id + 1);
}

Status PgStore::ImportEntity(Conn& c, const Device& d) {
  const std::string what = "device " + std::to_string(d.id);
  if (d.id == 0 || d.user == 0) return Status::InvalidArgument("a device record needs an id and a user");
  LIBCHAT_RETURN_IF_ERROR(CheckFits(d.id, "device id"));
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, d.user, what));
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM devices WHERE id = $1", Params().Uint(d.id)));
  if (taken) return Taken(what);
  if (!d.token_hash.empty()) {
    LIBCHAT_ASSIGN_OR_RETURN(bool token, Exists(c, "SELECT 1 FROM devices WHERE token_hash = $1", Params().Text(d.token_hash)));
    if (token) return Taken("the session token of " + what);
  }
  Params p;
  p.Uint(d.id).Uint(d.user).Bytes(d.kind).Bytes(d.name).Bytes(d.push_provider).Bytes(d.push_token).Text(d.token_hash);
  p.Int(d.token_expires_at).Int(d.created_at).Int(d.last_seen);
  LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO devices (id, user_id, kind, name, push_provider, push_token, token_hash, "
                                 "token_expires_at, created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, "
                                 "NULLIF($7, ''), $8, $9, $10)",
                                 p)
                              .status());
  return RaiseSequence(c, "device_ids", d.id + 1);
}

Status PgStore::ImportEntity(Conn& c, const ChatRecord& r) {
  const ChatId id = r.chat.id;
  if (id == 0) return Status::InvalidArgument("a chat record needs an id");
  LIBCHAT_RETURN_IF_ERROR(CheckFits(id, "chat id"));
  LIBCHAT_RETURN_IF_ERROR(CheckFits(r.head, "head"));
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM chats WHERE id = $1", Params().Uint(id)));
  if (taken) return Taken("chat " + std::to_string(id));
  LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO chats (id, kind, name, metadata, member_limit, retention_ms, created_by, "
                                 "created_at, head, last_ts, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)",
                                 Params().Uint(id).Int(static_cast<std::int64_t>(r.chat.kind)).Bytes(r.chat.name)
                                     .Bytes(r.chat.metadata).Int(r.chat.member_limit).Int(r.chat.retention_ms)
                                     .Uint(r.chat.created_by).Int(r.chat.created_at).Uint(r.head).Int(r.last_timestamp))
                              .status());
  return RaiseSequence(c, "chat_ids", id + 1);
}

Status PgStore::ImportEntity(Conn& c, const Participant& p) {
  const std::string what = "participant " + std::to_string(p.user) + " of chat " + std::to_string(p.chat);
  if (p.chat == 0 || p.user == 0) return Status::InvalidArgument("a participant record needs a chat and a user");
  LIBCHAT_ASSIGN_OR_RETURN(Chat chat, RequireChat(c, p.chat, what));
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, p.user, what));
  LIBCHAT_ASSIGN_OR_RETURN(Rows others, c.Exec("SELECT user_id FROM participants WHERE chat_id = $1", Params().Uint(p.chat)));
  for (int i = 0; i < others.size(); ++i) {
    if (others.Uint(i, 0) == p.user) return Taken(what);
  }
  LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO participants (chat_id, user_id, role, joined_at, joined_seq) "
                                 "VALUES ($1, $2, $3, $4, $5)",
                                 Params().Uint(p.chat).Uint(p.user).Int(static_cast<std::int64_t>(p.role)).Int(p.joined_at)
                                     .Uint(p.joined_seq))
                              .status());
  if (chat.kind == ChatKind::kDirect) {
    // The pair is complete once the second member arrives.
    if (others.size() > 1) {
      return Status::InvalidArgument("direct chat " + std::to_string(p.chat) + " would have more than two participants");
    }
    if (others.size() == 1) {
      const UserId other = others.Uint(0, 0);
      Status pair = c.Exec("INSERT INTO direct_chats (user_lo, user_hi, chat_id) VALUES ($1, $2, $3)",
                           Params().Uint(std::min(other, p.user)).Uint(std::max(other, p.user)).Uint(p.chat))
                        .status();
      if (pair.code() == StatusCode::kAlreadyExists) {
        return Taken("a direct chat of users " + std::to_string(other) + " and " + std::to_string(p.user));
      }
      LIBCHAT_RETURN_IF_ERROR(pair);
    }
  }
  // Its state, if this process had one, holds other members.
  MutexLock lock(&states_mu_);
  states_.erase(p.chat);
  return Status::Ok();
}

Status PgStore::ImportEntity(Conn& c, const Message& m) {
  const std::string what = "message " + std::to_string(m.seq) + " of chat " + std::to_string(m.chat);
  if (m.chat == 0 || m.seq == 0) return Status::InvalidArgument("a message record needs a chat and a seq");
  LIBCHAT_ASSIGN_OR_RETURN(Rows chat, c.Exec("SELECT head, retention_ms FROM chats WHERE id = $1", Params().Uint(m.chat)));
  if (chat.empty()) return Missing("chat " + std::to_string(m.chat), what);
  // An entry past the head would be overwritten by the chat's next append.
  if (m.seq > chat.Uint(0, 0)) {
    return Status::InvalidArgument(what + " is past the chat's head (" + std::to_string(chat.Uint(0, 0)) + ")");
  }
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM messages WHERE chat_id = $1 AND seq = $2",
                                              Params().Uint(m.chat).Uint(m.seq)));
  if (taken) return Taken(what);
  // The export does not carry the acceptance time; the timestamp is at most a clock step past it.
  const TimeMs accepted = m.timestamp;
  const TimeMs expires = accepted + chat.Int(0, 1);
  if (!m.client_id.empty() && m.sender_device != 0) {
    Status d = c.Exec("INSERT INTO dedup (device_id, client_id, chat_id, seq, accepted_at, expires_at) "
                      "VALUES ($1, $2, $3, $4, $5, $6)",
                      Params().Uint(m.sender_device).Bytes(m.client_id).Uint(m.chat).Uint(m.seq).Int(accepted).Int(expires))
                   .status();
    if (d.code() == StatusCode::kAlreadyExists) {
      return Taken("client message id '" + m.client_id + "' of device " + std::to_string(m.sender_device));
    }
    LIBCHAT_RETURN_IF_ERROR(d);
  }
  LIBCHAT_RETURN_IF_ERROR(c.Exec(kInsertMessageSql, MessageParams(m, accepted, expires))
                              .status());
  for (const auto& a : m.attachments) {
    LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO attachment_refs (attachment_id, chat_id, seq, expires_at) "
                                   "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                                   Params().Text(a).Uint(m.chat).Uint(m.seq).Int(expires))
                                .status());
    LIBCHAT_RETURN_IF_ERROR(
        c.Exec("UPDATE attachments SET unreferenced_since = NULL WHERE id = $1", Params().Text(a)).status());
  }
  return Status::Ok();
}

Status PgStore::ImportEntity(Conn& c, const DeviceCursorRecord& r) {
  const std::string what = "the cursor of device " + std::to_string(r.device) + " in chat " + std::to_string(r.chat);
  if (r.device == 0 || r.chat == 0) return Status::InvalidArgument("a device cursor record needs a device and a chat");
  // The device itself may be gone (a cursor can outlive a removed device); the chat never is.
  LIBCHAT_RETURN_IF_ERROR(RequireChat(c, r.chat, what).status());
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM device_cursors WHERE device_id = $1 AND chat_id = $2",
                                              Params().Uint(r.device).Uint(r.chat)));
  if (taken) return Taken(what);
  return c.Exec("INSERT INTO device_cursors (device_id, chat_id, user_id, seq) "
                "VALUES ($1, $2, COALESCE((SELECT user_id FROM devices WHERE id = $1), 0), $3)",
                Params().Uint(r.device).Uint(r.chat).Uint(r.seq))
      .status();
}

Status PgStore::ImportEntity(Conn& c, const ReceiptCursor& r) {
  const std::string what = "the receipt cursor of user " + std::to_string(r.user) + " in chat " + std::to_string(r.chat);
  if (r.chat == 0 || r.user == 0) return Status::InvalidArgument("a receipt record needs a chat and a user");
  LIBCHAT_RETURN_IF_ERROR(RequireChat(c, r.chat, what).status());
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM receipts WHERE chat_id = $1 AND user_id = $2",
                                              Params().Uint(r.chat).Uint(r.user)));
  if (taken) return Taken(what);
  return c.Exec("INSERT INTO receipts (chat_id, user_id, delivered, read) VALUES ($1, $2, $3, $4)",
                Params().Uint(r.chat).Uint(r.user).Uint(r.delivered).Uint(r.read))
      .status();
}

Status PgStore::ImportEntity(Conn& c, const Attachment& a) {
  const std::string what = "attachment " + a.id;
  if (!detail::IsValidBlobId(a.id) || a.uploader == 0) {
    return Status::InvalidArgument("an attachment record needs a valid id and an uploader");
  }
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, a.uploader, what));
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM attachments WHERE id = $1", Params().Text(a.id)));
  if (taken) return Taken(what);
  // Unreferenced until an imported message references it (messages come after attachments).
  LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO attachments (id, uploader, kind, mime, size, sha256, state, created_at, "
                                 "completed_at, unreferenced_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                                 Params().Text(a.id).Uint(a.uploader).Int(static_cast<std::int64_t>(a.kind)).Bytes(a.mime)
                                     .Uint(a.size).Text(a.sha256).Int(static_cast<std::int64_t>(a.state))
                                     .Int(a.created_at).Int(a.completed_at).Int(std::max<TimeMs>(a.created_at, 0)))
                              .status());
  // The day's quota counter is derived: the sum of what the uploader announced that day.
  return c.Exec("INSERT INTO upload_quota (day, user_id, bytes) VALUES ($1, $2, $3) ON CONFLICT (day, user_id) "
                "DO UPDATE SET bytes = upload_quota.bytes + EXCLUDED.bytes",
                Params().Int(DayStart(a.created_at)).Uint(a.uploader).Uint(a.size))
      .status();
}

Status PgStore::ImportEntity(Conn& c, const UserBan& ban) {
  const std::string what = "the ban of user " + std::to_string(ban.user);
  if (ban.user == 0) return Status::InvalidArgument("a ban record needs a user");
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, ban.user, what));
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM bans WHERE user_id = $1", Params().Uint(ban.user)));
  if (taken) return Taken(what);
  return c.Exec("INSERT INTO bans (user_id, at, reason) VALUES ($1, $2, $3)",
                Params().Uint(ban.user).Int(ban.at).Bytes(ban.reason))
      .status();
}

Status PgStore::ImportEntity(Conn& c, const UserBlock& block) {
  const std::string what =
      "the block of user " + std::to_string(block.blocked) + " by user " + std::to_string(block.user);
  if (block.user == 0 || block.blocked == 0 || block.user == block.blocked) {
    return Status::InvalidArgument("a block record needs two different users");
  }
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, block.user, what));
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, block.blocked, what));
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM blocks WHERE user_id = $1 AND blocked = $2",
                                              Params().Uint(block.user).Uint(block.blocked)));
  if (taken) return Taken(what);
  return c.Exec("INSERT INTO blocks (user_id, blocked, since) VALUES ($1, $2, $3)",
                Params().Uint(block.user).Uint(block.blocked).Int(block.since))
      .status();
}

Status PgStore::ImportEntity(Conn& c, const SpamFlag& f) {
  const std::string what = "the spam flag of user " + std::to_string(f.user);
  if (f.user == 0) return Status::InvalidArgument("a spam flag record needs a user");
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, f.user, what));
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM spam_flags WHERE user_id = $1", Params().Uint(f.user)));
  if (taken) return Taken(what);
  return c.Exec("INSERT INTO spam_flags (user_id, score, flagged_at, updated_at, suspended, reasons) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                Params().Uint(f.user).Float(f.score).Int(f.flagged_at).Int(f.updated_at).Bool(f.suspended)
                    .BytesArray(f.reasons))
      .status();
}

Status PgStore::ImportEntity(Conn& c, const SpamReport& r) {
  const std::string what = "spam report " + std::to_string(r.id);
  if (r.id == 0 || r.reporter == 0 || r.sender == 0 || r.chat == 0 || r.seq == 0) {
    return Status::InvalidArgument("a spam report record needs an id, a reporter, a sender, a chat and a seq");
  }
  LIBCHAT_RETURN_IF_ERROR(CheckFits(r.id, "spam report id"));
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, r.reporter, what));
  LIBCHAT_RETURN_IF_ERROR(RequireUser(c, r.sender, what));
  LIBCHAT_ASSIGN_OR_RETURN(bool taken, Exists(c, "SELECT 1 FROM spam_reports WHERE id = $1 OR (reporter = $2 AND "
                                                 "chat_id = $3 AND seq = $4)",
                                              Params().Uint(r.id).Uint(r.reporter).Uint(r.chat).Uint(r.seq)));
  if (taken) return Taken(what);
  LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO spam_reports (id, reporter, sender, chat_id, seq, reason, reported_at) "
                                 "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                                 Params().Uint(r.id).Uint(r.reporter).Uint(r.sender).Uint(r.chat).Uint(r.seq)
                                     .Bytes(r.reason).Int(r.reported_at))
                              .status());
  // The sequence never hands out an imported id again.
  return RaiseSequence(c, "spam_report_ids", r.id + 1);
}

}  // namespace chat::pg
