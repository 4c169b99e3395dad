// PgStore: blocks, bans (written by ChangeCredentials with the account) and the spam tables.
#include "pg_rows.h"
#include "pg_store.h"

namespace chat::pg {

namespace {

// A transaction-scoped advisory lock on (kind, user): the users named need not exist.
constexpr const char* kUserLock = "SELECT pg_advisory_xact_lock($1::int4, ($2 % 2147483647)::int4)";
constexpr std::int64_t kBlockLock = 72620;
constexpr std::int64_t kReportLock = 72621;

}  // namespace

Status PgStore::Block(const UserBlock& block, std::size_t max_blocked) {
  return Tx([&](Conn& c) -> Status {
    // A lock per blocker serialises their blocks, so the cap holds across processes.
    LIBCHAT_RETURN_IF_ERROR(c.Exec(kUserLock, Params().Int(kBlockLock).Uint(block.user)).status());
    LIBCHAT_ASSIGN_OR_RETURN(Rows found, c.Exec("SELECT 1 FROM blocks WHERE user_id = $1 AND blocked = $2",
                                                Params().Uint(block.user).Uint(block.blocked)));
    if (!found.empty()) return Status::Ok();  // Blocking again keeps the first record.
    LIBCHAT_ASSIGN_OR_RETURN(Rows n, c.Exec("SELECT count(*) FROM blocks WHERE user_id = $1", Params().Uint(block.user)));
    const std::uint64_t count = n.Uint(0, 0);
    if (count >= max_blocked) {
      return Status::FailedPrecondition("you already block " + std::to_string(count) + " users, the most allowed; " +
                                        "unblock one first");
    }
    Status s = c.Exec("INSERT INTO blocks (user_id, blocked, since) VALUES ($1, $2, $3)",
                      Params().Uint(block.user).Uint(block.blocked).Int(block.since))
                   .status();
    if (s.code() == StatusCode::kInvalidArgument) return Status::NotFound("user " + std::to_string(block.blocked));
    return s;
  });
}

Status PgStore::Unblock(UserId user, UserId blocked) {
  return Query("DELETE FROM blocks WHERE user_id = $1 AND blocked = $2", Params().Uint(user).Uint(blocked)).status();
}

Result<std::vector<UserBlock>> PgStore::ListBlocked(UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT blocked, since FROM blocks WHERE user_id = $1 ORDER BY blocked",
                                         Params().Uint(user)));
  std::vector<UserBlock> out;
  for (int i = 0; i < r.size(); ++i) out.push_back({user, r.Uint(i, 0), r.Int(i, 1)});
  return out;
}

Result<UserBan> PgStore::GetBan(UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT at, reason FROM bans WHERE user_id = $1", Params().Uint(user)));
  if (r.empty()) return Status::NotFound("ban of user " + std::to_string(user));
  return UserBan{user, r.Int(0, 0), r.Str(0, 1)};
}

Result<std::vector<UserBan>> PgStore::ListBans(UserId after, std::size_t limit) {
  std::vector<UserBan> out;
  if (!CheckFits(after, "user id").ok()) return out;
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT user_id, at, reason FROM bans WHERE user_id > $1 ORDER BY user_id LIMIT $2",
                                         Params().Uint(after).Int(LimitOf(limit))));
  for (int i = 0; i < r.size(); ++i) out.push_back({r.Uint(i, 0), r.Int(i, 1), r.Str(i, 2)});
  return out;
}

// ---------------------------------------------------------------- spam flags and reports

Status PgStore::PutSpamFlag(const SpamFlag& f) {
  if (f.user == 0) return Status::InvalidArgument("a spam flag needs a user");
  Status s = Query("INSERT INTO spam_flags (user_id, score, flagged_at, updated_at, suspended, reasons) "
                   "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET score = EXCLUDED.score, "
                   "flagged_at = EXCLUDED.flagged_at, updated_at = EXCLUDED.updated_at, "
                   "suspended = EXCLUDED.suspended, reasons = EXCLUDED.reasons",
                   Params().Uint(f.user).Float(f.score).Int(f.flagged_at).Int(f.updated_at).Bool(f.suspended)
                       .BytesArray(f.reasons))
                 .status();
  if (s.code() == StatusCode::kInvalidArgument) return Status::NotFound("user " + std::to_string(f.user));
  return s;
}

Result<SpamFlag> PgStore::GetSpamFlag(UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kSpamFlagCols + " FROM spam_flags WHERE user_id = $1",
                                         Params().Uint(user)));
  if (r.empty()) return Status::NotFound("user " + std::to_string(user) + " is not flagged");
  return SpamFlagAt(r, 0);
}

Status PgStore::DeleteSpamFlag(UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("DELETE FROM spam_flags WHERE user_id = $1 RETURNING 1", Params().Uint(user)));
  if (r.empty()) return Status::NotFound("user " + std::to_string(user) + " is not flagged");
  return Status::Ok();
}

Result<std::vector<SpamFlag>> PgStore::ListSpamFlags(UserId after, std::size_t limit) {
  std::vector<SpamFlag> out;
  if (!CheckFits(after, "user id").ok()) return out;
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kSpamFlagCols +
                                             " FROM spam_flags WHERE user_id > $1 ORDER BY user_id LIMIT $2",
                                         Params().Uint(after).Int(LimitOf(limit))));
  for (int i = 0; i < r.size(); ++i) out.push_back(SpamFlagAt(r, i));
  return out;
}

Result<SpamReportAdded> PgStore::AddSpamReport(SpamReport report) {
  if (report.reporter == 0 || report.sender == 0 || report.chat == 0 || report.seq == 0) {
    return Status::InvalidArgument("a spam report needs a reporter, a sender, a chat and a seq");
  }
  SpamReportAdded added;
  Status s = Tx([&](Conn& c) -> Status {
    added = SpamReportAdded{};
    // A lock per reporter makes "reported before?" and the insert one step, across processes.
    LIBCHAT_RETURN_IF_ERROR(c.Exec(kUserLock, Params().Int(kReportLock).Uint(report.reporter)).status());
    LIBCHAT_ASSIGN_OR_RETURN(Rows earlier, c.Exec(std::string("SELECT ") + kSpamReportCols +
                                                      " FROM spam_reports WHERE reporter = $1 AND chat_id = $2 AND seq = $3",
                                                  Params().Uint(report.reporter).Uint(report.chat).Uint(report.seq)));
    if (!earlier.empty()) {
      added.report = SpamReportAt(earlier, 0);
      added.duplicate = true;
      return Status::Ok();
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows n, c.Exec("SELECT count(*) FROM spam_reports WHERE sender = $1 AND reporter = $2",
                                            Params().Uint(report.sender).Uint(report.reporter)));
    added.earlier_by_reporter = n.Uint(0, 0);
    LIBCHAT_ASSIGN_OR_RETURN(Rows id, c.Exec("SELECT nextval('spam_report_ids')"));
    report.id = id.Uint(0, 0);
    Status ins = c.Exec("INSERT INTO spam_reports (id, reporter, sender, chat_id, seq, reason, reported_at) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        Params().Uint(report.id).Uint(report.reporter).Uint(report.sender).Uint(report.chat)
                            .Uint(report.seq).Bytes(report.reason).Int(report.reported_at))
                     .status();
    if (ins.code() == StatusCode::kInvalidArgument) return Status::NotFound("user " + std::to_string(report.sender));
    LIBCHAT_RETURN_IF_ERROR(ins);
    added.report = report;
    return Status::Ok();
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  return added;
}

Result<std::vector<SpamReport>> PgStore::ListSpamReports(UserId sender, std::uint64_t after, std::size_t limit) {
  std::vector<SpamReport> out;
  if (!CheckFits(after, "report id").ok()) return out;
  auto r = sender == 0 ? Query(std::string("SELECT ") + kSpamReportCols + " FROM spam_reports WHERE id > $1 ORDER BY id LIMIT $2",
                               Params().Uint(after).Int(LimitOf(limit)))
                       : Query(std::string("SELECT ") + kSpamReportCols +
                                   " FROM spam_reports WHERE sender = $3 AND id > $1 ORDER BY id LIMIT $2",
                               Params().Uint(after).Int(LimitOf(limit)).Uint(sender));
  if (!r.ok()) return r.error();
  for (int i = 0; i < r->size(); ++i) out.push_back(SpamReportAt(*r, i));
  return out;
}

}  // namespace chat::pg
