#include "spam_service.h"

#include <algorithm>
#include <set>

#include "validate.h"

namespace chat::detail {
namespace {

Status NoSuchMessage(ChatId chat, Seq seq) {
  return Status::NotFound("message " + std::to_string(seq) + " of chat " + std::to_string(chat));
}

}  // namespace

SpamService::SpamService(const ServiceOptions& options, Store* store)
    : options_(options), store_(store), guard_(options.spam, options.clock) {}

Status SpamService::Restore() {
  UserId after = 0;
  for (;;) {
    auto flags = store_->ListSpamFlags(after, 1000);
    if (!flags.ok()) return flags.error().code() == StatusCode::kNotSupported ? Status::Ok() : flags.error();
    if (flags->empty()) return Status::Ok();
    for (const SpamFlag& f : *flags) guard_.Restore(f);
    after = flags->back().user;
  }
}

void SpamService::Score(const SendRequest& r, const std::vector<UserId>& members) {
  if (!guard_.enabled()) return;
  SpamSend send;
  send.sender = r.sender;
  send.now = options_.clock->NowMs();
  // An account that cannot be read counts as old: the new-account rule then stays out of the way.
  const TimeMs created = guard_.CreatedAt(r.sender, [&] {
    auto u = store_->GetUser(r.sender);
    return u.ok() ? u->created_at : TimeMs{0};
  });
  send.account_age_ms = send.now - created;
  send.chat = r.chat;
  send.chat_kind = guard_.KindOf(r.chat, [&] {
    auto c = store_->GetChat(r.chat);
    return c.ok() ? c->kind : ChatKind::kGroup;
  });
  send.members = &members;
  send.text = r.body;
  send.shares_other_chat = [this, &r](UserId other) { return SharesOtherChat(r.sender, other, r.chat); };
  Persist(guard_.Score(send));
}

bool SpamService::SharesOtherChat(UserId a, UserId b, ChatId except) {
  auto mine = store_->ListUserChats(a);
  auto theirs = store_->ListUserChats(b);
  // Unreadable: give the sender the benefit of the doubt.
  if (!mine.ok() || !theirs.ok()) return true;
  std::set<ChatId> chats;
  for (const auto& p : *mine) {
    if (p.chat != except) chats.insert(p.chat);
  }
  return std::any_of(theirs->begin(), theirs->end(), [&](const Participant& p) { return chats.count(p.chat) > 0; });
}

void SpamService::Persist(const std::optional<SpamFlag>& flag) {
  if (!flag) return;
  // The guard holds the flag in memory either way; a store error here only means admins see it after
  // the account's next change of level.
  store_->PutSpamFlag(*flag).IgnoreError();
}

void SpamService::PersistRemote(SpamFlag flag) {
  // The node whose own points raised the flag may have stored it with the reasons it saw: kept,
  // oldest first, with this node's after them.
  auto stored = store_->GetSpamFlag(flag.user);
  if (stored.ok()) {
    flag.flagged_at = std::min(flag.flagged_at, stored->flagged_at);
    std::vector<std::string> reasons = std::move(stored->reasons);
    for (std::string& r : flag.reasons) {
      if (std::find(reasons.begin(), reasons.end(), r) == reasons.end()) reasons.push_back(std::move(r));
    }
    if (reasons.size() > kMaxSpamReasons) reasons.erase(reasons.begin(), reasons.end() - kMaxSpamReasons);
    flag.reasons = std::move(reasons);
  }
  if (flag.reasons.empty()) flag.reasons.push_back("scored on other nodes");
  Persist(flag);
}

double SpamService::ReportPoints(std::uint64_t earlier) const {
  const ReportOptions& o = options_.spam.reports;
  auto total = [&o](std::uint64_t n) {
    if (n == 0) return 0.0;
    return std::min(o.max_points_per_reporter,
                    o.first_report_points + static_cast<double>(n - 1) * o.repeat_report_points);
  };
  return std::max(0.0, total(earlier + 1) - total(earlier));
}

Result<SpamReportAdded> SpamService::Report(UserId reporter, ChatId chat, Seq seq, const std::string& reason) {
  LIBCHAT_RETURN_IF_ERROR(CheckText("reason", reason, kMaxReportReasonBytes));
  if (seq == 0) return Status::InvalidArgument("seq must be at least 1");
  // Only what the reporter can see may be reported: a member's messages since they joined.
  auto me = store_->GetParticipant(chat, reporter);
  if (!me.ok()) {
    return me.error().IsNotFound() ? Status::PermissionDenied("not a member of chat " + std::to_string(chat))
                                   : me.error();
  }
  if (seq <= me->joined_seq) return NoSuchMessage(chat, seq);
  auto message = store_->GetMessage(chat, seq);
  if (!message.ok()) return message.error().IsNotFound() ? NoSuchMessage(chat, seq) : message.error();
  LIBCHAT_ASSIGN_OR_RETURN(Chat c, store_->GetChat(chat));
  const TimeMs now = options_.clock->NowMs();
  // Past retention but not swept yet: already gone for the reporter.
  if (c.retention_ms > 0 && message->timestamp + c.retention_ms <= now) return NoSuchMessage(chat, seq);
  if (message->deleted) return NoSuchMessage(chat, seq);
  if (!IsUserContent(message->kind)) {
    return Status::InvalidArgument("entry " + std::to_string(seq) + " was written by the server and cannot be reported");
  }
  if (message->sender == reporter) return Status::InvalidArgument("you cannot report your own message");
  SpamReport report;
  report.reporter = reporter;
  report.sender = message->sender;
  report.chat = chat;
  report.seq = seq;
  report.reason = reason;
  report.reported_at = now;
  LIBCHAT_ASSIGN_OR_RETURN(SpamReportAdded added, store_->AddSpamReport(std::move(report)));
  if (added.duplicate) return added;  // One report per reporter and message: no more points.
  guard_.CountReport();
  std::string why = "report: reported by user " + std::to_string(reporter);
  if (!reason.empty()) why += " (" + reason + ")";
  // The report is stored for admins either way; what it adds to the score depends on who reports.
  const ReportOptions& o = options_.spam.reports;
  const SpamStanding standing = guard_.Standing(reporter);
  if (standing.flagged || standing.throttled) return added;  // A suspect reporter adds nothing.
  const TimeMs created = guard_.CreatedAt(reporter, [&] {
    auto u = store_->GetUser(reporter);
    return u.ok() ? u->created_at : now;  // Unreadable: treated as new.
  });
  const double points = ReportPoints(added.earlier_by_reporter);
  if (now - created < o.new_reporter_ms) {
    Persist(guard_.AddCappedPoints(added.report.sender, points * o.new_reporter_weight,
                                   o.max_points_from_new_reporters, why + ", a new account"));
  } else {
    Persist(guard_.AddPoints(added.report.sender, points, why));
  }
  return added;
}

Status SpamService::Clear(UserId user) {
  auto u = store_->GetUser(user);
  if (!u.ok()) return u.error().IsNotFound() ? Status::NotFound("user " + std::to_string(user) + " does not exist") : u.error();
  Status s = store_->DeleteSpamFlag(user);
  if (!s.ok() && !s.IsNotFound()) return s;
  const TimeMs at = options_.clock->NowMs();
  guard_.Clear(user, at);
  return shared_ ? shared_->PublishClear(user, at) : Status::Ok();
}

void SpamService::Share(std::shared_ptr<SharedKv> kv, std::int64_t period_ms) {
  // PutSpamFlag replaces: a flag stored by two nodes is one record.
  auto store_flag = [this](const SpamFlag& f) { PersistRemote(f); };
  shared_ = std::make_unique<SharedSpam>(std::move(kv), guard_, options_.clock, std::move(store_flag), period_ms);
}

}  // namespace chat::detail
