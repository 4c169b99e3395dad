// ChatService: accounts, sessions and devices. A session is a device with a token; everything that ends
// sessions is one atomic store write (Store::ChangeCredentials, RemoveDevice) followed by a revocation
// that closes live connections on every node and forgets cached access.
#include <algorithm>

#include "chat_service_impl.h"
#include "crypto.h"
#include "validate.h"

namespace chat::detail {

namespace {

// The generic answer to a failed login: it must not reveal whether the username exists.
Status BadCredentials() { return Status::Unauthenticated("wrong username or password"); }

Status InvalidToken() { return Status::Unauthenticated("invalid or expired session token"); }

}  // namespace

// ------------------------------------------------------------------ registration

Result<User> ChatServiceImpl::Register(const NewAccount& a) {
  LIBCHAT_ASSIGN_OR_RETURN(User u, NewUserRecord(a, /*check_password=*/true));
  LIBCHAT_ASSIGN_OR_RETURN(u.password_hash, detail::HashPassword(a.password, options_.password_cost));
  return store_->CreateUser(std::move(u));
}

Result<std::string> ChatServiceImpl::HashPassword(const std::string& password) {
  LIBCHAT_RETURN_IF_ERROR(CheckPassword(password));
  return detail::HashPassword(password, options_.password_cost);
}

Result<User> ChatServiceImpl::RegisterWithHash(const NewAccount& a, const std::string& password_hash) {
  // Only a shape check: the hash is the administrator's, made by HashPassword. Anything else would
  // lock the account out (or, empty, be a password nobody can present).
  if (password_hash.rfind("$argon2id$", 0) != 0 || password_hash.size() > 512) {
    return Status::InvalidArgument("password hash must be an Argon2id hash in libsodium's encoded form");
  }
  LIBCHAT_ASSIGN_OR_RETURN(User u, NewUserRecord(a, /*check_password=*/false));
  u.password_hash = password_hash;
  return store_->CreateUser(std::move(u));
}

Result<User> ChatServiceImpl::NewUserRecord(const NewAccount& a, bool check_password) {
  const Limits& l = options_.limits;
  User u;
  LIBCHAT_RETURN_IF_ERROR(NormalizeUsername(a.username, &u.username));
  if (check_password) LIBCHAT_RETURN_IF_ERROR(CheckPassword(a.password));
  LIBCHAT_RETURN_IF_ERROR(CheckText("displayName", a.display_name, l.max_display_name_bytes));
  LIBCHAT_RETURN_IF_ERROR(CheckEmail(a.email, l.max_email_bytes));
  LIBCHAT_RETURN_IF_ERROR(CheckText("avatarUrl", a.avatar_url, l.max_url_bytes));
  // Fail fast on a taken name before paying for Argon2id; CreateUser re-checks atomically.
  if (store_->FindUserByName(u.username).ok()) return Status::AlreadyExists("username '" + u.username + "' is taken");
  u.display_name = a.display_name.empty() ? u.username : a.display_name;
  u.email = a.email;
  u.avatar_url = a.avatar_url;
  u.created_at = Now();
  return u;
}

// ------------------------------------------------------------------ sessions

Result<User> ChatServiceImpl::VerifyPassword(const std::string& username, const std::string& password,
                                             std::string_view source_address) {
  return CheckCredentials(username, password, source_address);
}

// VerifyPassword behind the login throttle: a refused check is counted against the name (as typed,
// normalised when it is a valid name, so existing and unknown names are treated alike) and the
// source address, and a throttled one never reaches the password hash. The user returned carries
// the password hash that was checked: callers that act on the check hand it to the store, which
// refuses if it changed meanwhile.
Result<User> ChatServiceImpl::CheckCredentials(const std::string& username, const std::string& password,
                                               std::string_view source) {
  std::string name;
  const bool valid_name = NormalizeUsername(username, &name).ok();
  const std::string key = valid_name ? name : username.substr(0, 256);
  LIBCHAT_RETURN_IF_ERROR(throttle_.Check(key, source));
  auto user = valid_name ? store_->FindUserByName(name) : Result<User>(Status::NotFound("user"));
  if (!user.ok()) {
    if (!user.error().IsNotFound()) return user.error();
    // Spend the time a real check costs, so that timing does not reveal unknown usernames.
    static const std::string dummy = *detail::HashPassword("not-a-real-password", options_.password_cost);
    (void)detail::VerifyPassword(dummy, password);
    throttle_.Failed(key, source);
    return BadCredentials();
  }
  if (!detail::VerifyPassword(user->password_hash, password)) {
    throttle_.Failed(key, source);
    return BadCredentials();
  }
  throttle_.Succeeded(key, source);
  if (user->disabled) return AccountClosed(*user);
  return user;
}

Result<Session> ChatServiceImpl::AddSessionDevice(User user, const DeviceInfo& info, std::string_view verified_hash) {
  Session s;
  s.token = NewToken();
  Device d;
  d.user = user.id;
  d.kind = info.kind;
  d.name = info.name;
  d.token_hash = HashToken(s.token);
  d.created_at = Now();
  d.last_seen = d.created_at;
  d.token_expires_at = d.created_at + options_.session_ttl_ms;
  auto added = store_->AddDevice(std::move(d), options_.limits.max_devices_per_user, verified_hash);
  if (!added.ok()) {
    // The account changed between the password check and now: a changed password is a wrong one,
    // a closed account says why.
    if (added.error().code() == StatusCode::kUnauthenticated) return BadCredentials();
    if (added.error().code() == StatusCode::kPermissionDenied) return AccountClosed(user);
    return added.error();
  }
  s.device = std::move(*added);
  s.token_hash = s.device.token_hash;
  s.user = std::move(user);
  return s;
}

Result<Session> ChatServiceImpl::IssueSession(UserId user_id, const DeviceInfo& info) {
  LIBCHAT_RETURN_IF_ERROR(CheckDeviceInfo(info));
  auto user = store_->GetUser(user_id);
  if (!user.ok()) {
    return user.error().IsNotFound() ? Status::NotFound("user " + std::to_string(user_id) + " does not exist")
                                     : user.error();
  }
  if (user->disabled) return AccountClosed(*user);
  return AddSessionDevice(std::move(*user), info, {});
}

Result<Session> ChatServiceImpl::Login(const std::string& username, const std::string& password,
                                       const DeviceInfo& info, std::string_view source_address) {
  LIBCHAT_RETURN_IF_ERROR(CheckDeviceInfo(info));
  LIBCHAT_ASSIGN_OR_RETURN(User user, CheckCredentials(username, password, source_address));
  const std::string name = user.username;
  const std::string verified = user.password_hash;
  auto s = AddSessionDevice(std::move(user), info, verified);
  if (!s.ok() && s.error().code() == StatusCode::kFailedPrecondition) {
    return Status::FailedPrecondition(
        "device limit reached: '" + name + "' already has " + std::to_string(options_.limits.max_devices_per_user) +
        " devices, the most allowed; remove one (removeDevice from a signed-in device, or with your "
        "username and password) and log in again");
  }
  return s;
}

Result<Session> ChatServiceImpl::Resume(const std::string& token) {
  if (token.empty() || token.size() > 256) return InvalidToken();
  const std::string hash = HashToken(token);
  auto d = store_->FindDeviceByTokenHash(hash);
  if (!d.ok()) return d.error().IsNotFound() ? InvalidToken() : d.error();
  const TimeMs now = Now();
  if (d->token_expires_at != 0 && d->token_expires_at < now) return InvalidToken();
  LIBCHAT_ASSIGN_OR_RETURN(User user, store_->GetUser(d->user));
  if (user.disabled) return AccountClosed(user);
  // Sliding expiry: an active device stays signed in. Written at most once a day per device, on the
  // current record and only while it still carries this token: a concurrent password change or
  // revocation is never undone by it.
  if (d->token_expires_at - now < options_.session_ttl_ms - kMsPerDay) {
    Status s = store_->UpdateDevice(d->id, [&](Device* current) {
      if (current->token_hash != hash) return InvalidToken();
      current->token_expires_at = now + options_.session_ttl_ms;
      return Status::Ok();
    });
    if (!s.ok()) return s.IsNotFound() ? InvalidToken() : s;
    d->token_expires_at = now + options_.session_ttl_ms;
  }
  Session session{std::move(user), std::move(*d), {}};
  session.token_hash = hash;
  return session;
}

Status ChatServiceImpl::CheckSession(UserId user, DeviceId device, std::string_view token_hash) {
  auto d = store_->GetDevice(device);
  if (!d.ok()) return d.error().IsNotFound() ? Status::Unauthenticated("session ended: log in again") : d.error();
  if (d->user != user || !d->HasLiveToken(Now()) || (!token_hash.empty() && d->token_hash != token_hash)) {
    return Status::Unauthenticated("session ended: log in again");
  }
  LIBCHAT_ASSIGN_OR_RETURN(User u, store_->GetUser(user));
  if (u.disabled) return AccountClosed(u);
  return Status::Ok();
}

Result<Session> ChatServiceImpl::ChangePassword(UserId user, DeviceId device, const std::string& old_password,
                                                const std::string& new_password) {
  LIBCHAT_RETURN_IF_ERROR(CheckPassword(new_password));
  auto own = store_->GetDevice(device);
  if (!own.ok() || own->user != user) return Status::NotFound("device " + std::to_string(device) + " is not yours");
  if (!own->HasLiveToken(Now())) return Status::Unauthenticated("session ended: log in again");
  // Only a live session may do this: a device whose token was forgotten (its account was disabled,
  // or unbanned) would otherwise get a fresh token here, and act again.
  LIBCHAT_RETURN_IF_ERROR(access_.CheckDevice(user, device));
  LIBCHAT_ASSIGN_OR_RETURN(User u, store_->GetUser(user));
  // Throttled as the asking device: others' failures against the name do not hold the owner back.
  LIBCHAT_ASSIGN_OR_RETURN(u, CheckCredentials(u.username, old_password, "device:" + std::to_string(device)));
  // Whoever knew the old password may hold a session: end them all, in one write with the new hash.
  // The asking device goes on with a fresh token; the others are removed (so that they do not hold
  // device slots) and must log in with the new password. The write is refused if the hash we checked
  // is no longer the stored one (a concurrent change won).
  CredentialChange change;
  change.user = user;
  change.expected_password_hash = u.password_hash;
  LIBCHAT_ASSIGN_OR_RETURN(change.new_password_hash, detail::HashPassword(new_password, options_.password_cost));
  Session s;
  s.token = NewToken();
  change.keep_device = device;
  change.keep_token_hash = HashToken(s.token);
  change.keep_token_expires_at = Now() + options_.session_ttl_ms;
  change.others = CredentialChange::Others::kRemove;
  // The checks above ran before the store's lock: the session (its token, the account open) is
  // checked again with the write. A disable, ban or unban that ended it meanwhile must not be undone
  // by a fresh token here.
  change.keep_only_if_live = true;
  auto changed = store_->ChangeCredentials(change);
  if (!changed.ok()) {
    if (changed.error().code() == StatusCode::kUnauthenticated) return BadCredentials();
    if (changed.error().code() == StatusCode::kFailedPrecondition) return Status::Unauthenticated("session ended: log in again");
    if (changed.error().IsNotFound()) return Status::NotFound("device " + std::to_string(device) + " is not yours");
    return changed.error();
  }
  for (DeviceId other : changed->others) PublishRevoked(user, other);
  // The asking device's other connections (a copy of its token) end too; only the new token goes on.
  PublishRevoked(user, device, change.keep_token_hash);
  s.user = std::move(changed->user);
  s.device = std::move(*changed->kept);
  s.token_hash = s.device.token_hash;
  return s;
}

Status ChatServiceImpl::Logout(UserId user, DeviceId device) { return RemoveDevice(user, device); }

Result<std::vector<Device>> ChatServiceImpl::ListDevices(UserId user) { return store_->ListDevices(user); }

Status ChatServiceImpl::RemoveDevice(UserId user, DeviceId device) {
  auto d = store_->GetDevice(device);
  if (!d.ok() || d->user != user) return Status::NotFound("device " + std::to_string(device) + " is not yours");
  LIBCHAT_RETURN_IF_ERROR(store_->RemoveDevice(device));
  PublishRevoked(user, device);
  return Status::Ok();
}

Status ChatServiceImpl::SetPushToken(UserId user, DeviceId device, const std::string& provider,
                                     const std::string& token) {
  static const std::set<std::string> kProviders = {"", "webhook", "fcm", "apns"};
  if (!kProviders.count(provider)) {
    return Status::InvalidArgument("unknown push provider '" + provider + "' (webhook, fcm, apns)");
  }
  LIBCHAT_RETURN_IF_ERROR(CheckText("push token", token, 4096));
  if (provider.empty() != token.empty()) return Status::InvalidArgument("push provider and token go together");
  LIBCHAT_RETURN_IF_ERROR(access_.CheckDevice(user, device));
  const Status not_yours = Status::NotFound("device " + std::to_string(device) + " is not yours");
  Status s = store_->UpdateDevice(device, [&](Device* d) {
    if (d->user != user) return not_yours;
    d->push_provider = provider;
    d->push_token = token;
    return Status::Ok();
  });
  return s.IsNotFound() ? not_yours : s;
}

Status ChatServiceImpl::SetLastSeenVisibility(UserId user, LastSeenVisibility v) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  return store_->UpdateUser(user, [v](User* u) {
    u->last_seen_visibility = v;
    return Status::Ok();
  });
}

Result<User> ChatServiceImpl::GetUser(UserId user) { return store_->GetUser(user); }

Result<User> ChatServiceImpl::FindUser(const std::string& username) {
  std::string name;
  LIBCHAT_RETURN_IF_ERROR(NormalizeUsername(username, &name));
  return store_->FindUserByName(name);
}

Status ChatServiceImpl::TouchDevice(DeviceId device) { return store_->TouchDevice(device, Now()); }

Result<std::optional<TimeMs>> ChatServiceImpl::LastSeen(UserId viewer, UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(User u, store_->GetUser(user));
  if (viewer != user) {
    if (u.last_seen_visibility == LastSeenVisibility::kNobody) return std::optional<TimeMs>();
    // A user who blocks the viewer is hidden from them whatever the setting.
    LIBCHAT_ASSIGN_OR_RETURN(bool blocked, moderation_.Blocks(user, viewer));
    if (blocked) return std::optional<TimeMs>();
    if (u.last_seen_visibility == LastSeenVisibility::kChatPartners) {
      LIBCHAT_ASSIGN_OR_RETURN(bool shares, SharesChat(viewer, user));
      if (!shares) return std::optional<TimeMs>();
    }
  }
  LIBCHAT_ASSIGN_OR_RETURN(auto devices, store_->ListDevices(user));
  TimeMs last = 0;
  for (const auto& d : devices) last = std::max(last, d.last_seen);
  if (last == 0) return std::optional<TimeMs>();
  return std::optional<TimeMs>(last);
}

Result<bool> ChatServiceImpl::SharesChat(UserId viewer, UserId user) {
  if (viewer == user) return true;
  LIBCHAT_ASSIGN_OR_RETURN(auto mine, store_->ListUserChats(viewer));
  LIBCHAT_ASSIGN_OR_RETURN(auto theirs, store_->ListUserChats(user));
  std::set<ChatId> chats;
  for (const auto& p : mine) chats.insert(p.chat);
  for (const auto& p : theirs) {
    if (chats.count(p.chat)) return true;
  }
  return false;
}

// Why a disabled account may not sign in: banned or disabled (the ban's reason is for admins only).
Status ChatServiceImpl::AccountClosed(const User& u) {
  auto ban = store_->GetBan(u.id);
  if (ban.ok()) return Status::PermissionDenied("account '" + u.username + "' is banned");
  if (!ban.error().IsNotFound() && ban.error().code() != StatusCode::kNotSupported) return ban.error();
  return Status::PermissionDenied("account '" + u.username + "' is disabled");
}

}  // namespace chat::detail
