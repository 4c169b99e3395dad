// KvStore: blocks, bans (written by ChangeCredentials with the account) and the spam tables.
#include <algorithm>

#include "blob_id.h"
#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {
// ---------------------------------------------------------------- blocks and bans
Status KvStore::Block(const UserBlock& block, std::size_t max_blocked) {
  MutexLock lock(&moderation_mu_);
  LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(keys::Block(block.user, block.blocked)));
  if (found) return Status::Ok();  // Blocking again keeps the first record.
  std::size_t count = 0;
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::BlockPrefix(block.user), [&](std::string_view, std::string_view) {
    return ++count < max_blocked;
  }));
  if (count >= max_blocked) {
    return Status::FailedPrecondition("you already block " + std::to_string(count) + " users, the most allowed; " +
                                      "unblock one first");
  }
  auto ticket = std::make_shared<Ticket>();
  ticket->batch.Put(keys::Block(block.user, block.blocked), EncodeU64(static_cast<std::uint64_t>(block.since)));
  return commits_.Commit(ticket);
}

Status KvStore::Unblock(UserId user, UserId blocked) {
  MutexLock lock(&moderation_mu_);
  LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(keys::Block(user, blocked)));
  if (!found) return Status::Ok();
  auto ticket = std::make_shared<Ticket>();
  ticket->batch.Delete(keys::Block(user, blocked));
  return commits_.Commit(ticket);
}

Result<std::vector<UserBlock>> KvStore::ListBlocked(UserId user) {
  std::vector<UserBlock> out;
  const std::string prefix = keys::BlockPrefix(user);
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, prefix, [&](std::string_view k, std::string_view v) -> Status {
    if (k.size() != prefix.size() + 8) return Status::Corruption(Describe() + ": malformed block key");
    out.push_back({user, keys::ReadBE(k, prefix.size()), static_cast<TimeMs>(DecodeU64(v))});
    return Status::Ok();
  }));
  return out;
}

Result<UserBan> KvStore::GetBan(UserId user) {
  auto v = engine_->Get(keys::Ban(user));
  if (!v.ok()) return NotFoundOr(v.error(), "ban of user " + std::to_string(user));
  return DecodeBan(*v);
}

Result<std::vector<UserBan>> KvStore::ListBans(UserId after, std::size_t limit) {
  std::vector<UserBan> out;
  const std::string prefix = keys::BanPrefix();
  auto it = engine_->NewIterator();
  for (it->Seek(keys::Ban(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    LIBCHAT_ASSIGN_OR_RETURN(UserBan b, DecodeBan(it->value()));
    out.push_back(std::move(b));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

// ---------------------------------------------------------------- spam flags and reports
Status KvStore::PutSpamFlag(const SpamFlag& flag) { return spam_.PutFlag(flag); }
Result<SpamFlag> KvStore::GetSpamFlag(UserId user) { return spam_.GetFlag(user); }
Status KvStore::DeleteSpamFlag(UserId user) { return spam_.DeleteFlag(user); }
Result<std::vector<SpamFlag>> KvStore::ListSpamFlags(UserId after, std::size_t limit) {
  return spam_.ListFlags(after, limit);
}
Result<SpamReportAdded> KvStore::AddSpamReport(SpamReport report) { return spam_.AddReport(std::move(report)); }
Result<std::vector<SpamReport>> KvStore::ListSpamReports(UserId sender, std::uint64_t after, std::size_t limit) {
  return spam_.ListReports(sender, after, limit);
}

}  // namespace chat::detail
