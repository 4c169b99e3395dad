#include "spam_tables.h"

#include <bit>
#include <memory>

#include "codec.h"
#include "keys.h"

namespace chat::detail {
namespace {

std::string EncodeCount(std::uint64_t v) {
  std::string s;
  keys::AppendBE(&s, v);
  return s;
}

}  // namespace

std::string EncodeSpamFlag(const SpamFlag& f) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(f.user);
  w.U64(std::bit_cast<std::uint64_t>(f.score));
  w.I64(f.flagged_at);
  w.I64(f.updated_at);
  w.Byte(f.suspended ? 1 : 0);
  w.U64(f.reasons.size());
  for (const auto& r : f.reasons) w.Str(r);
  return w.Take();
}

Result<SpamFlag> DecodeSpamFlag(std::string_view in) {
  Reader r(in);
  if (r.Byte() != kFormatV1) return CorruptRecord("spam flag");
  SpamFlag f;
  f.user = r.U64();
  f.score = std::bit_cast<double>(r.U64());
  f.flagged_at = r.I64();
  f.updated_at = r.I64();
  f.suspended = r.Byte() != 0;
  const std::uint64_t n = r.U64();
  for (std::uint64_t i = 0; i < n && !r.failed(); ++i) f.reasons.push_back(r.Str());
  if (r.failed() || !r.done()) return CorruptRecord("spam flag");
  return f;
}

std::string EncodeSpamReport(const SpamReport& rep) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(rep.id);
  w.U64(rep.reporter);
  w.U64(rep.sender);
  w.U64(rep.chat);
  w.U64(rep.seq);
  w.Str(rep.reason);
  w.I64(rep.reported_at);
  return w.Take();
}

Result<SpamReport> DecodeSpamReport(std::string_view in) {
  Reader r(in);
  if (r.Byte() != kFormatV1) return CorruptRecord("spam report");
  SpamReport rep;
  rep.id = r.U64();
  rep.reporter = r.U64();
  rep.sender = r.U64();
  rep.chat = r.U64();
  rep.seq = r.U64();
  rep.reason = r.Str();
  rep.reported_at = r.I64();
  if (r.failed() || !r.done()) return CorruptRecord("spam report");
  return rep;
}

Status SpamTables::PutFlag(const SpamFlag& flag) {
  if (flag.user == 0) return Status::InvalidArgument("a spam flag needs a user");
  auto ticket = std::make_shared<CommitQueue::Ticket>();
  ticket->batch.Put(keys::SpamFlag(flag.user), EncodeSpamFlag(flag));
  return commits_->Commit(ticket);
}

Result<SpamFlag> SpamTables::GetFlag(UserId user) {
  auto v = engine_->Get(keys::SpamFlag(user));
  if (!v.ok()) {
    return v.error().IsNotFound() ? Status::NotFound("user " + std::to_string(user) + " is not flagged") : v.error();
  }
  return DecodeSpamFlag(*v);
}

Status SpamTables::DeleteFlag(UserId user) {
  LIBCHAT_RETURN_IF_ERROR(GetFlag(user).status());
  auto ticket = std::make_shared<CommitQueue::Ticket>();
  ticket->batch.Delete(keys::SpamFlag(user));
  return commits_->Commit(ticket);
}

Result<std::vector<SpamFlag>> SpamTables::ListFlags(UserId after, std::size_t limit) {
  std::vector<SpamFlag> out;
  const std::string prefix = keys::SpamFlagPrefix();
  auto it = engine_->NewIterator();
  for (it->Seek(keys::SpamFlag(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    LIBCHAT_ASSIGN_OR_RETURN(SpamFlag f, DecodeSpamFlag(it->value()));
    out.push_back(std::move(f));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Status SpamTables::LoadCounter() {
  if (counter_loaded_) return Status::Ok();
  auto v = engine_->Get(keys::kNextSpamReport);
  if (v.ok()) {
    next_report_ = keys::ReadBE(*v, 0);
  } else if (!v.error().IsNotFound()) {
    return v.error();
  }
  counter_loaded_ = true;
  return Status::Ok();
}

Result<SpamReportAdded> SpamTables::AddReport(SpamReport report) {
  if (report.reporter == 0 || report.sender == 0 || report.chat == 0 || report.seq == 0) {
    return Status::InvalidArgument("a spam report needs a reporter, a sender, a chat and a seq");
  }
  MutexLock lock(&mu_);
  LIBCHAT_RETURN_IF_ERROR(LoadCounter());
  SpamReportAdded added;
  auto earlier = engine_->Get(keys::SpamReportOfMessage(report.reporter, report.chat, report.seq));
  if (earlier.ok()) {
    auto v = engine_->Get(keys::SpamReport(keys::ReadBE(*earlier, 0)));
    if (!v.ok()) return v.error().IsNotFound() ? Status::Corruption("spam report index without its report") : v.error();
    LIBCHAT_ASSIGN_OR_RETURN(added.report, DecodeSpamReport(*v));
    added.duplicate = true;
    return added;
  }
  if (!earlier.error().IsNotFound()) return earlier.error();
  auto count = engine_->Get(keys::SpamReporterCount(report.sender, report.reporter));
  if (count.ok()) {
    added.earlier_by_reporter = keys::ReadBE(*count, 0);
  } else if (!count.error().IsNotFound()) {
    return count.error();
  }
  report.id = next_report_;
  auto ticket = std::make_shared<CommitQueue::Ticket>();
  KvBatch& b = ticket->batch;
  b.Put(keys::SpamReport(report.id), EncodeSpamReport(report));
  b.Put(keys::SpamReportBySender(report.sender, report.id), "");
  b.Put(keys::SpamReportOfMessage(report.reporter, report.chat, report.seq), EncodeCount(report.id));
  b.Put(keys::SpamReporterCount(report.sender, report.reporter), EncodeCount(added.earlier_by_reporter + 1));
  b.Put(std::string(keys::kNextSpamReport), EncodeCount(report.id + 1));
  LIBCHAT_RETURN_IF_ERROR(commits_->Commit(ticket));
  ++next_report_;
  added.report = std::move(report);
  return added;
}

Result<std::vector<SpamReport>> SpamTables::ListReports(UserId sender, std::uint64_t after, std::size_t limit) {
  std::vector<SpamReport> out;
  auto it = engine_->NewIterator();
  if (sender == 0) {
    const std::string prefix = keys::SpamReportPrefix();
    for (it->Seek(keys::SpamReport(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
      if (it->key().substr(0, prefix.size()) != prefix) break;
      LIBCHAT_ASSIGN_OR_RETURN(SpamReport r, DecodeSpamReport(it->value()));
      out.push_back(std::move(r));
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
    return out;
  }
  // The sender's index names the reports; each is one lookup.
  const std::string prefix = keys::SpamReportBySenderPrefix(sender);
  std::vector<std::uint64_t> ids;
  for (it->Seek(keys::SpamReportBySender(sender, after + 1)); it->Valid() && ids.size() < limit; it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    ids.push_back(keys::ReadBE(it->key(), prefix.size()));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  for (std::uint64_t id : ids) {
    auto v = engine_->Get(keys::SpamReport(id));
    if (!v.ok()) return v.error().IsNotFound() ? Status::Corruption("spam report index without its report") : v.error();
    LIBCHAT_ASSIGN_OR_RETURN(SpamReport r, DecodeSpamReport(*v));
    out.push_back(std::move(r));
  }
  return out;
}

Status SpamTables::Export(const RecordSink& sink) {
  for (const std::string& prefix : {keys::SpamFlagPrefix(), keys::SpamReportPrefix()}) {
    const bool flags = prefix == keys::SpamFlagPrefix();
    auto it = engine_->NewIterator();
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      if (it->key().substr(0, prefix.size()) != prefix) break;
      if (flags) {
        LIBCHAT_ASSIGN_OR_RETURN(SpamFlag f, DecodeSpamFlag(it->value()));
        LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{std::move(f)}));
      } else {
        LIBCHAT_ASSIGN_OR_RETURN(SpamReport r, DecodeSpamReport(it->value()));
        LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{std::move(r)}));
      }
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
  }
  return Status::Ok();
}

namespace {

Status RequireUser(const std::function<Result<bool>(UserId)>& user_exists, UserId user, const std::string& referrer) {
  LIBCHAT_ASSIGN_OR_RETURN(bool found, user_exists(user));
  if (found) return Status::Ok();
  return Status::InvalidArgument(referrer + " refers to user " + std::to_string(user) +
                                 ", which is missing (an export lists it before what refers to it)");
}

}  // namespace

Status SpamTables::Import(const SpamFlag& flag, const std::function<Result<bool>(UserId)>& user_exists) {
  const std::string what = "the spam flag of user " + std::to_string(flag.user);
  if (flag.user == 0) return Status::InvalidArgument("a spam flag record needs a user");
  LIBCHAT_RETURN_IF_ERROR(RequireUser(user_exists, flag.user, what));
  if (engine_->Get(keys::SpamFlag(flag.user)).ok()) {
    return Status::AlreadyExists(what + " is already in the store (import needs a fresh store)");
  }
  KvBatch b;
  b.Put(keys::SpamFlag(flag.user), EncodeSpamFlag(flag));
  return engine_->Write(b, false);
}

Status SpamTables::Import(const SpamReport& r, const std::function<Result<bool>(UserId)>& user_exists) {
  const std::string what = "spam report " + std::to_string(r.id);
  if (r.id == 0 || r.reporter == 0 || r.sender == 0 || r.chat == 0 || r.seq == 0) {
    return Status::InvalidArgument("a spam report record needs an id, a reporter, a sender, a chat and a seq");
  }
  LIBCHAT_RETURN_IF_ERROR(RequireUser(user_exists, r.reporter, what));
  LIBCHAT_RETURN_IF_ERROR(RequireUser(user_exists, r.sender, what));
  MutexLock lock(&mu_);
  LIBCHAT_RETURN_IF_ERROR(LoadCounter());
  if (engine_->Get(keys::SpamReport(r.id)).ok() ||
      engine_->Get(keys::SpamReportOfMessage(r.reporter, r.chat, r.seq)).ok()) {
    return Status::AlreadyExists(what + " is already in the store (import needs a fresh store)");
  }
  std::uint64_t count = 0;
  if (auto c = engine_->Get(keys::SpamReporterCount(r.sender, r.reporter)); c.ok()) count = keys::ReadBE(*c, 0);
  KvBatch b;
  b.Put(keys::SpamReport(r.id), EncodeSpamReport(r));
  b.Put(keys::SpamReportBySender(r.sender, r.id), "");
  b.Put(keys::SpamReportOfMessage(r.reporter, r.chat, r.seq), EncodeCount(r.id));
  b.Put(keys::SpamReporterCount(r.sender, r.reporter), EncodeCount(count + 1));
  // The counter never hands out an imported id again.
  if (next_report_ <= r.id) {
    next_report_ = r.id + 1;
    b.Put(std::string(keys::kNextSpamReport), EncodeCount(next_report_));
  }
  return engine_->Write(b, false);
}

}  // namespace chat::detail
