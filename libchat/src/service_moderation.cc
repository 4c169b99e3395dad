// ChatService: disabling and banning accounts, blocks between users, rate limits and spam.
#include "chat_service_impl.h"
#include "validate.h"

namespace chat::detail {

namespace {

// Which RateLimit fields of Limits an action is charged to, and their bucket ids in TokenBuckets.
struct RatePolicy {
  RateLimit Limits::*per_device;
  RateLimit Limits::*per_user;
  const char* what;
};

RatePolicy PolicyOf(RateAction action) {
  switch (action) {
    case RateAction::kSend: return {&Limits::send_per_device, &Limits::send_per_user, "messages"};
    case RateAction::kCreateChat:
      return {&Limits::create_chat_per_device, &Limits::create_chat_per_user, "chats created"};
    case RateAction::kAddParticipants:
      return {&Limits::add_participants_per_device, &Limits::add_participants_per_user, "participants added"};
    case RateAction::kUpload: return {&Limits::upload_per_device, &Limits::upload_per_user, "uploads"};
  }
  return {&Limits::send_per_device, &Limits::send_per_user, "actions"};
}

// Device and user buckets of one action must not share an id: two per action.
std::uint32_t DeviceBucket(RateAction a) { return static_cast<std::uint32_t>(a) * 2; }
std::uint32_t UserBucket(RateAction a) { return static_cast<std::uint32_t>(a) * 2 + 1; }

}  // namespace

// ------------------------------------------------------------------ disabling and bans

Status ChatServiceImpl::SetDisabled(UserId user, bool disabled) {
  CredentialChange change;
  change.user = user;
  change.disabled = disabled;
  change.refuse_if_banned = !disabled;
  // A disabled account's tokens stop resolving: enabling it again does not bring its sessions back.
  change.others = disabled ? CredentialChange::Others::kForgetTokens : CredentialChange::Others::kKeep;
  auto changed = store_->ChangeCredentials(change);
  if (!changed.ok()) return changed.error();
  // Every session of the user, on every node, whatever device: one revocation for the account.
  PublishRevoked(user, 0);
  return Status::Ok();
}

Result<UserBan> ChatServiceImpl::BanUser(UserId user, const std::string& reason) {
  LIBCHAT_RETURN_IF_ERROR(CheckText("reason", reason, options_.limits.max_ban_reason_bytes, /*required=*/true));
  UserBan ban{user, Now(), reason};
  CredentialChange change;
  change.user = user;
  change.ban = ban;
  change.disabled = true;
  // The tokens stay (until UnbanUser) so that a client resuming hears "banned", not "expired".
  change.others = CredentialChange::Others::kKeep;
  auto changed = store_->ChangeCredentials(change);
  if (!changed.ok()) {
    return changed.error().IsNotFound() ? Status::NotFound("user " + std::to_string(user) + " does not exist")
                                        : changed.error();
  }
  PublishRevoked(user, 0);
  return ban;
}

Status ChatServiceImpl::UnbanUser(UserId user) {
  LIBCHAT_RETURN_IF_ERROR(UserExists(user));
  CredentialChange change;
  change.user = user;
  change.lift_ban = true;
  change.disabled = false;
  // The sessions the ban ended stay ended: the user logs in afresh.
  change.others = CredentialChange::Others::kForgetTokens;
  auto changed = store_->ChangeCredentials(change);
  if (!changed.ok() && changed.error().IsNotFound()) return Status::Ok();  // Not banned: nothing to lift.
  if (!changed.ok()) return changed.error();
  access_.Invalidate(user, 0);
  return Status::Ok();
}

Result<std::optional<UserBan>> ChatServiceImpl::GetBan(UserId user) {
  auto ban = store_->GetBan(user);
  if (ban.ok()) return std::optional<UserBan>(std::move(*ban));
  if (ban.error().IsNotFound()) return std::optional<UserBan>();
  return ban.error();
}

Result<std::vector<UserBan>> ChatServiceImpl::ListBans(UserId after, std::size_t limit) {
  return store_->ListBans(after, limit);
}

// ------------------------------------------------------------------ blocks

Status ChatServiceImpl::CheckBlockTarget(UserId user, UserId other) {
  if (user == other) return Status::InvalidArgument("you cannot block or unblock yourself");
  return UserExists(other);
}

Status ChatServiceImpl::BlockUser(UserId user, UserId blocked) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  LIBCHAT_RETURN_IF_ERROR(CheckBlockTarget(user, blocked));
  Status s = store_->Block({user, blocked, Now()}, options_.limits.max_blocked_users);
  moderation_.InvalidateBlocks(user);
  return s;
}

Status ChatServiceImpl::UnblockUser(UserId user, UserId blocked) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  LIBCHAT_RETURN_IF_ERROR(CheckBlockTarget(user, blocked));
  Status s = store_->Unblock(user, blocked);
  moderation_.InvalidateBlocks(user);
  return s;
}

Result<std::vector<UserBlock>> ChatServiceImpl::ListBlocked(UserId user) { return store_->ListBlocked(user); }

Result<bool> ChatServiceImpl::Blocks(UserId user, UserId other) { return moderation_.Blocks(user, other); }

Status ChatServiceImpl::RefuseIfBlocked(UserId target, UserId actor, const char* what) {
  LIBCHAT_ASSIGN_OR_RETURN(bool blocked, moderation_.Blocks(target, actor));
  if (!blocked) return Status::Ok();
  return Status::PermissionDenied("user " + std::to_string(target) + " has blocked you: you cannot " + what);
}

// ------------------------------------------------------------------ rate limits

Status ChatServiceImpl::ChargeDevice(DeviceId device, RateAction action, std::size_t units) {
  return Charge(action, 0, device, units);
}

// Charges `units` of `action` to the user's bucket and, if `device` is not 0, the device's: both or
// neither.
Status ChatServiceImpl::Charge(RateAction action, UserId user, DeviceId device, std::size_t units) {
  if (!options_.enforce_rate_limits) return Status::Ok();
  const RatePolicy p = PolicyOf(action);
  const Limits& l = options_.limits;
  const RateLimit* user_limit = user != 0 ? &(l.*p.per_user) : nullptr;
  const RateLimit* device_limit = device != 0 ? &(l.*p.per_device) : nullptr;
  return buckets_.Take({{{UserBucket(action), user}, user_limit}, {{DeviceBucket(action), device}, device_limit}},
                       static_cast<double>(units), p.what);
}

// ------------------------------------------------------------------ spam (spam_service.cc)

Result<SpamReportAdded> ChatServiceImpl::ReportMessage(UserId reporter, ChatId chat, Seq seq,
                                                       const std::string& reason) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(reporter));
  return spam_.Report(reporter, chat, seq, reason);
}
SpamStanding ChatServiceImpl::SpamStatus(UserId user) { return spam_.Standing(user); }
Status ChatServiceImpl::ClearSpam(UserId user) { return spam_.Clear(user); }
SpamCounters ChatServiceImpl::SpamCountersSinceStart() { return spam_.counters(); }

// ------------------------------------------------------------------ several nodes

Status ChatServiceImpl::ShareState() {
  if (!bus_->BetweenNodes()) return Status::Ok();
  if (options_.login_throttle.enabled) {
    // A record nobody failed against for forget_after_ms is forgotten: the bucket's TTL does it. A
    // sign-in waits on its requests: each waits 1 s at most (login_throttle.h).
    auto kv = bus_->OpenSharedKv(SharedKvOptions{"throttle", options_.login_throttle.forget_after_ms,
                                                 detail::LoginThrottle::kSharedRequestTimeoutMs});
    if (!kv.ok()) return kv.error().WithContext("login throttle");
    throttle_.Share(std::move(*kv));
  }
  if (options_.enforce_rate_limits) {
    // Every node's spends reach the others (shared_rates.h); a node's batch key lives a minute after
    // its last write.
    auto kv = bus_->OpenSharedKv(SharedKvOptions{"rates", 60'000});
    if (!kv.ok()) return kv.error().WithContext("rate limits");
    std::vector<std::pair<std::uint32_t, RateLimit>> limits;
    for (RateAction a : {RateAction::kSend, RateAction::kCreateChat, RateAction::kAddParticipants, RateAction::kUpload}) {
      const RatePolicy p = PolicyOf(a);
      limits.emplace_back(DeviceBucket(a), options_.limits.*p.per_device);
      limits.emplace_back(UserBucket(a), options_.limits.*p.per_user);
    }
    buckets_.TrackSpent(limits);
    rates_ = std::make_unique<SharedRates>(std::move(*kv), buckets_, kSharedRatePeriodMs);
  }
  if (options_.spam.enabled) {
    // Every node's spam points and clears reach the others (shared_spam.h); a node's batch key and a
    // clear live a minute after their last write.
    auto kv = bus_->OpenSharedKv(SharedKvOptions{"spam", 60'000});
    if (!kv.ok()) return kv.error().WithContext("spam scores");
    spam_.Share(std::move(*kv), kSharedSpamPeriodMs);
  }
  return Status::Ok();
}
Status ChatServiceImpl::RestoreSpam() { return spam_.Restore(); }

}  // namespace chat::detail
