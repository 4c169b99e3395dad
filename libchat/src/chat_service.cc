// ChatService: rules on top of the Store, events out through the Bus.
//
// Events are published from the store's commit observer, which runs in sequence order per chat once
// an entry is durable: live delivery therefore never gets ahead of the disk and never reorders.
// Recipients are the chat's members as cached here; the cache is dropped on every chatUpdate event
// seen on the bus (ours or, with a multi-node bus, another node's).
#include <algorithm>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "attachments.h"
#include "crypto.h"
#include "libchat/service.h"
#include "login_throttle.h"
#include "moderation.h"
#include "spam_service.h"
#include "token_buckets.h"
#include "validate.h"

namespace chat {

ChatService::ChatService(ServiceOptions options, std::shared_ptr<Store> store, std::shared_ptr<Bus> bus)
    : options_(std::move(options)), store_(std::move(store)), bus_(std::move(bus)) {}

const ServiceOptions& ChatService::options() const { return options_; }
Store& ChatService::store() { return *store_; }
Bus& ChatService::bus() { return *bus_; }

namespace {

using json = nlohmann::json;

bool IsUserContent(MessageKind k) {
  return k == MessageKind::kText || k == MessageKind::kImage || k == MessageKind::kAudio ||
         k == MessageKind::kVideo || k == MessageKind::kDocument;
}

Status NotMember(ChatId chat) {
  return Status::PermissionDenied("not a member of chat " + std::to_string(chat));
}

// The generic answer to a failed login: it must not reveal whether the username exists.
Status BadCredentials() { return Status::Unauthenticated("wrong username or password"); }

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

class ChatServiceImpl final : public ChatService {
 public:
  ChatServiceImpl(ServiceOptions options, std::shared_ptr<Store> store, std::shared_ptr<Bus> bus,
                  std::shared_ptr<BlobStore> blobs)
      : ChatService(std::move(options), std::move(store), std::move(bus)),
        attachments_(options_, *store_, std::move(blobs)) {
    // Membership changes anywhere invalidate the routing cache.
    subscription_ = bus_->Subscribe([this](const std::shared_ptr<const Event>& e) {
      if (e->type == EventType::kChatUpdate) Invalidate(e->chat);
    });
  }

  ~ChatServiceImpl() override { subscription_.Reset(); }

  TimeMs Now() const { return options_.clock->NowMs(); }

  // ------------------------------------------------------------------ accounts
  Result<User> Register(const NewAccount& a) override {
    LIBCHAT_ASSIGN_OR_RETURN(User u, NewUserRecord(a, /*check_password=*/true));
    LIBCHAT_ASSIGN_OR_RETURN(u.password_hash, detail::HashPassword(a.password, options_.password_cost));
    return store_->CreateUser(std::move(u));
  }

  Result<std::string> HashPassword(const std::string& password) override {
    LIBCHAT_RETURN_IF_ERROR(CheckPassword(password));
    return detail::HashPassword(password, options_.password_cost);
  }

  Result<User> RegisterWithHash(const NewAccount& a, const std::string& password_hash) override {
    // Only a shape check: the hash is the administrator's, made by HashPassword. Anything else would
    // lock the account out (or, empty, be a password nobody can present).
    if (password_hash.rfind("$argon2id$", 0) != 0 || password_hash.size() > 512) {
      return Status::InvalidArgument("password hash must be an Argon2id hash in libsodium's encoded form");
    }
    LIBCHAT_ASSIGN_OR_RETURN(User u, NewUserRecord(a, /*check_password=*/false));
    u.password_hash = password_hash;
    return store_->CreateUser(std::move(u));
  }

  Result<Session> IssueSession(UserId user_id, const DeviceInfo& info) override {
    LIBCHAT_RETURN_IF_ERROR(CheckDeviceInfo(info));
    auto user = store_->GetUser(user_id);
    if (!user.ok()) {
      return user.error().IsNotFound() ? Status::NotFound("user " + std::to_string(user_id) + " does not exist")
                                       : user.error();
    }
    if (user->disabled) return AccountClosed(*user);
    return AddSessionDevice(std::move(*user), info);
  }

  Result<User> VerifyPassword(const std::string& username, const std::string& password) override {
    return CheckCredentials(username, password, {});
  }

  // VerifyPassword behind the login throttle: a refused check is counted against the name (as typed,
  // normalised when it is a valid name, so existing and unknown names are treated alike) and the
  // source address, and a throttled one never reaches the password hash.
  Result<User> CheckCredentials(const std::string& username, const std::string& password,
                                std::string_view source) {
    std::string name;
    const bool valid_name = detail::NormalizeUsername(username, &name).ok();
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
    throttle_.Succeeded(key);
    if (user->disabled) return AccountClosed(*user);
    return user;
  }

  Result<Session> Login(const std::string& username, const std::string& password, const DeviceInfo& info,
                        std::string_view source_address) override {
    LIBCHAT_RETURN_IF_ERROR(CheckDeviceInfo(info));
    LIBCHAT_ASSIGN_OR_RETURN(User user, CheckCredentials(username, password, source_address));
    const std::string name = user.username;
    auto s = AddSessionDevice(std::move(user), info);
    if (!s.ok() && s.error().code() == StatusCode::kFailedPrecondition) {
      return Status::FailedPrecondition(
          "device limit reached: '" + name + "' already has " +
          std::to_string(options_.limits.max_devices_per_user) +
          " devices, the most allowed; remove one (removeDevice from a signed-in device, or with your "
          "username and password) and log in again");
    }
    return s;
  }

  Result<Session> Resume(const std::string& token) override {
    if (token.empty() || token.size() > 256) return Status::Unauthenticated("invalid or expired session token");
    auto d = store_->FindDeviceByTokenHash(detail::HashToken(token));
    if (!d.ok()) {
      if (d.error().IsNotFound()) return Status::Unauthenticated("invalid or expired session token");
      return d.error();
    }
    const TimeMs now = Now();
    if (d->token_expires_at != 0 && d->token_expires_at < now) {
      return Status::Unauthenticated("invalid or expired session token");
    }
    LIBCHAT_ASSIGN_OR_RETURN(User user, store_->GetUser(d->user));
    if (user.disabled) return AccountClosed(user);
    // Sliding expiry: an active device stays signed in. Written at most once a day per device.
    if (d->token_expires_at - now < options_.session_ttl_ms - kMsPerDay) {
      d->token_expires_at = now + options_.session_ttl_ms;
      LIBCHAT_RETURN_IF_ERROR(store_->UpdateDevice(*d));
    }
    return Session{std::move(user), std::move(*d), {}};
  }

  Result<Session> ChangePassword(UserId user, DeviceId device, const std::string& old_password,
                                 const std::string& new_password) override {
    LIBCHAT_RETURN_IF_ERROR(CheckPassword(new_password));
    LIBCHAT_ASSIGN_OR_RETURN(auto own, store_->GetDevice(device));
    if (own.user != user) return Status::NotFound("device " + std::to_string(device) + " is not yours");
    LIBCHAT_ASSIGN_OR_RETURN(User u, store_->GetUser(user));
    LIBCHAT_ASSIGN_OR_RETURN(u, CheckCredentials(u.username, old_password, {}));
    LIBCHAT_ASSIGN_OR_RETURN(u.password_hash, detail::HashPassword(new_password, options_.password_cost));
    LIBCHAT_RETURN_IF_ERROR(store_->UpdateUser(u));
    // Whoever knew the old password may hold a session: end them all. The asking device goes on
    // with a fresh token; the others are removed (as by RemoveDevice, so that they do not hold
    // device slots) and must log in with the new password.
    Session s;
    LIBCHAT_ASSIGN_OR_RETURN(auto devices, store_->ListDevices(user));
    for (auto& d : devices) {
      if (d.id == device) {
        s.token = detail::NewToken();
        d.token_hash = detail::HashToken(s.token);
        d.token_expires_at = Now() + options_.session_ttl_ms;
        LIBCHAT_RETURN_IF_ERROR(store_->UpdateDevice(d));
        s.device = d;
        continue;
      }
      LIBCHAT_RETURN_IF_ERROR(store_->RemoveDevice(d.id));
      PublishRevoked(user, d.id);
    }
    s.user = std::move(u);
    return s;
  }

  Status Logout(UserId user, DeviceId device) override { return RemoveDevice(user, device); }

  Result<std::vector<Device>> ListDevices(UserId user) override { return store_->ListDevices(user); }

  Status RemoveDevice(UserId user, DeviceId device) override {
    auto d = store_->GetDevice(device);
    if (!d.ok() || d->user != user) return Status::NotFound("device " + std::to_string(device) + " is not yours");
    LIBCHAT_RETURN_IF_ERROR(store_->RemoveDevice(device));
    PublishRevoked(user, device);
    return Status::Ok();
  }

  Status SetPushToken(UserId user, DeviceId device, const std::string& provider, const std::string& token) override {
    static const std::set<std::string> kProviders = {"", "webhook", "fcm", "apns"};
    if (!kProviders.count(provider)) {
      return Status::InvalidArgument("unknown push provider '" + provider + "' (webhook, fcm, apns)");
    }
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("push token", token, 4096));
    if (provider.empty() != token.empty()) return Status::InvalidArgument("push provider and token go together");
    auto d = store_->GetDevice(device);
    if (!d.ok() || d->user != user) return Status::NotFound("device " + std::to_string(device) + " is not yours");
    d->push_provider = provider;
    d->push_token = token;
    return store_->UpdateDevice(*d);
  }

  Status SetLastSeenVisibility(UserId user, LastSeenVisibility v) override {
    LIBCHAT_ASSIGN_OR_RETURN(User u, store_->GetUser(user));
    u.last_seen_visibility = v;
    return store_->UpdateUser(u);
  }

  Result<User> GetUser(UserId user) override { return store_->GetUser(user); }

  Result<User> FindUser(const std::string& username) override {
    std::string name;
    LIBCHAT_RETURN_IF_ERROR(detail::NormalizeUsername(username, &name));
    return store_->FindUserByName(name);
  }

  Status TouchDevice(DeviceId device) override { return store_->TouchDevice(device, Now()); }

  Result<std::optional<TimeMs>> LastSeen(UserId viewer, UserId user) override {
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

  Result<bool> SharesChat(UserId viewer, UserId user) override {
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

  Status SetDisabled(UserId user, bool disabled) override {
    LIBCHAT_ASSIGN_OR_RETURN(User u, store_->GetUser(user));
    if (!disabled) {
      LIBCHAT_ASSIGN_OR_RETURN(bool banned, moderation_.IsBanned(user));
      if (banned) {
        return Status::FailedPrecondition("account '" + u.username + "' is banned; unban it to let it log in again");
      }
    }
    u.disabled = disabled;
    LIBCHAT_RETURN_IF_ERROR(store_->UpdateUser(u));
    if (disabled) return RevokeAllSessions(user, /*forget_tokens=*/true);
    return Status::Ok();
  }

  // ------------------------------------------------------------------ blocks and bans
  Status BlockUser(UserId user, UserId blocked) override {
    LIBCHAT_RETURN_IF_ERROR(CheckBlockTarget(user, blocked));
    Status s = store_->Block({user, blocked, Now()}, options_.limits.max_blocked_users);
    moderation_.InvalidateBlocks(user);
    return s;
  }

  Status UnblockUser(UserId user, UserId blocked) override {
    LIBCHAT_RETURN_IF_ERROR(CheckBlockTarget(user, blocked));
    Status s = store_->Unblock(user, blocked);
    moderation_.InvalidateBlocks(user);
    return s;
  }

  Result<std::vector<UserBlock>> ListBlocked(UserId user) override { return store_->ListBlocked(user); }

  Result<bool> Blocks(UserId user, UserId other) override { return moderation_.Blocks(user, other); }

  Result<UserBan> BanUser(UserId user, const std::string& reason) override {
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("reason", reason, options_.limits.max_ban_reason_bytes, /*required=*/true));
    LIBCHAT_RETURN_IF_ERROR(UserExists(user));
    UserBan ban{user, Now(), reason};
    LIBCHAT_RETURN_IF_ERROR(store_->Ban(ban));
    // Before the sessions go: a send racing the revocation is refused from here on.
    moderation_.SetBanned(user, true);
    // The tokens stay (until UnbanUser) so that a client resuming hears "banned", not "expired".
    LIBCHAT_RETURN_IF_ERROR(RevokeAllSessions(user, /*forget_tokens=*/false));
    return ban;
  }

  Status UnbanUser(UserId user) override {
    LIBCHAT_RETURN_IF_ERROR(UserExists(user));
    Status s = store_->Unban(user);
    if (s.IsNotFound()) return Status::Ok();  // Not banned: nothing to lift.
    LIBCHAT_RETURN_IF_ERROR(s);
    moderation_.SetBanned(user, false);
    // The sessions the ban ended stay ended: the user logs in afresh.
    LIBCHAT_ASSIGN_OR_RETURN(auto devices, store_->ListDevices(user));
    for (auto& d : devices) {
      if (d.token_hash.empty()) continue;
      d.token_hash.clear();
      LIBCHAT_RETURN_IF_ERROR(store_->UpdateDevice(d));
    }
    return Status::Ok();
  }

  Result<std::optional<UserBan>> GetBan(UserId user) override {
    auto ban = store_->GetBan(user);
    if (ban.ok()) return std::optional<UserBan>(std::move(*ban));
    if (ban.error().IsNotFound()) return std::optional<UserBan>();
    return ban.error();
  }

  Result<std::vector<UserBan>> ListBans(UserId after, std::size_t limit) override {
    return store_->ListBans(after, limit);
  }

  // ------------------------------------------------------------------ rate limits
  Status ChargeDevice(DeviceId device, RateAction action, std::size_t units) override {
    return Charge(action, 0, device, units);
  }

  // Charges `units` of `action` to the user's bucket and, if `device` is not 0, the device's: both
  // or neither.
  Status Charge(RateAction action, UserId user, DeviceId device, std::size_t units) {
    if (!options_.enforce_rate_limits) return Status::Ok();
    const RatePolicy p = PolicyOf(action);
    const Limits& l = options_.limits;
    const RateLimit* user_limit = user != 0 ? &(l.*p.per_user) : nullptr;
    const RateLimit* device_limit = device != 0 ? &(l.*p.per_device) : nullptr;
    return buckets_.Take({{{UserBucket(action), user}, user_limit}, {{DeviceBucket(action), device}, device_limit}},
                         static_cast<double>(units), p.what);
  }

  // ------------------------------------------------------------------ chats
  Result<Chat> CreateGroup(UserId creator, const std::string& name, const std::vector<UserId>& members,
                           const std::string& metadata, std::uint32_t member_limit, TimeMs retention_ms) override {
    const Limits& l = options_.limits;
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("name", name, l.max_chat_name_bytes, /*required=*/true));
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("metadata", metadata, l.max_metadata_bytes));
    Chat chat;
    chat.kind = ChatKind::kGroup;
    chat.name = name;
    chat.metadata = metadata;
    chat.member_limit = member_limit == 0 ? l.default_member_limit : member_limit;
    if (chat.member_limit > l.max_member_limit) {
      return Status::InvalidArgument("member limit " + std::to_string(chat.member_limit) + " exceeds the maximum " +
                                     std::to_string(l.max_member_limit));
    }
    chat.retention_ms = retention_ms == 0 ? options_.default_retention_ms : retention_ms;
    if (chat.retention_ms < 0 || chat.retention_ms > options_.max_retention_ms) {
      return Status::InvalidArgument("retention exceeds the maximum of " +
                                     std::to_string(options_.max_retention_ms / kMsPerDay) + " days");
    }
    chat.created_by = creator;
    chat.created_at = Now();
    std::vector<Participant> parts;
    parts.push_back({0, creator, Role::kOwner, 0, 0});
    std::set<UserId> seen{creator};
    for (UserId m : members) {
      if (!seen.insert(m).second) continue;
      LIBCHAT_RETURN_IF_ERROR(UserExists(m));
      LIBCHAT_RETURN_IF_ERROR(RefuseIfBlocked(m, creator, "add them to a group"));
      parts.push_back({0, m, Role::kMember, 0, 0});
    }
    LIBCHAT_RETURN_IF_ERROR(UserExists(creator));
    if (parts.size() > chat.member_limit) {
      return Status::FailedPrecondition("a group of " + std::to_string(parts.size()) + " exceeds the member limit of " +
                                        std::to_string(chat.member_limit));
    }
    LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kCreateChat, creator, 0, 1));
    json ann = {{"action", "created"}, {"kind", "group"}, {"name", name}, {"members", json::array()}};
    for (const auto& p : parts) ann["members"].push_back(p.user);
    std::vector<UserId> recipients(seen.begin(), seen.end());
    return store_->CreateChat(chat, parts, creator, ann.dump(), ChatUpdateObserver(std::move(recipients)));
  }

  Result<Chat> CreateDirect(UserId creator, UserId other) override {
    if (creator == other) return Status::InvalidArgument("a direct chat needs another user");
    LIBCHAT_RETURN_IF_ERROR(UserExists(creator));
    LIBCHAT_RETURN_IF_ERROR(UserExists(other));
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto existing = store_->FindDirectChat(creator, other);
      if (existing.ok()) return store_->GetChat(*existing);
      if (!existing.error().IsNotFound()) return existing.error();
      // An existing chat is still returned: the block stops what is sent there, not reading it.
      if (attempt == 0) LIBCHAT_RETURN_IF_ERROR(RefuseIfBlocked(other, creator, "start a direct chat with them"));
      // Only a new chat is charged: asking again for an existing one costs nothing.
      if (attempt == 0) LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kCreateChat, creator, 0, 1));
      Chat chat;
      chat.kind = ChatKind::kDirect;
      chat.member_limit = 2;
      chat.retention_ms = options_.default_retention_ms;
      chat.created_by = creator;
      chat.created_at = Now();
      std::vector<Participant> parts = {{0, creator, Role::kMember, 0, 0}, {0, other, Role::kMember, 0, 0}};
      json ann = {{"action", "created"}, {"kind", "direct"}, {"members", {creator, other}}};
      auto made = store_->CreateChat(chat, parts, creator, ann.dump(), ChatUpdateObserver({creator, other}));
      // Lost a race with the other user creating the same chat: return theirs.
      if (made.ok() || made.error().code() != StatusCode::kAlreadyExists) return made;
    }
    return Status::Internal("direct chat creation did not converge");
  }

  Result<Message> ModifyParticipants(UserId actor, ChatId chat, const ParticipantChange& change) override {
    if (change.add.empty() && change.remove.empty() && change.set_role.empty()) {
      return Status::InvalidArgument("nothing to change: give add, remove or roles");
    }
    for (UserId u : change.add) {
      LIBCHAT_RETURN_IF_ERROR(UserExists(u));
      LIBCHAT_RETURN_IF_ERROR(RefuseIfBlocked(u, actor, "add them to a group"));
    }
    if (!change.add.empty()) {
      LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kAddParticipants, actor, 0, change.add.size()));
    }
    std::set<UserId> recipients;
    auto planner = [&](const Chat& c, const std::vector<Participant>& current) -> Result<MembershipPlan> {
      // Membership first: a non-member learns nothing of the chat, not even its kind.
      const Participant* me = Find(current, actor);
      if (me == nullptr) return NotMember(c.id);
      if (c.kind == ChatKind::kDirect) return Status::FailedPrecondition("the members of a direct chat cannot change");
      if (me->role == Role::kMember) {
        return Status::PermissionDenied("only admins and owners may modify participants of chat " + std::to_string(c.id));
      }
      MembershipPlan plan;
      plan.at = Now();
      json added = json::array(), removed = json::array(), roles = json::array();
      std::set<UserId> members;
      for (const auto& p : current) members.insert(p.user);
      for (UserId u : change.add) {
        if (members.count(u)) continue;  // Already a member: adding again changes nothing.
        members.insert(u);
        plan.upserts.push_back({c.id, u, Role::kMember, 0, 0});
        added.push_back(u);
      }
      for (UserId u : change.remove) {
        const Participant* p = Find(current, u);
        if (p == nullptr) return Status::NotFound("user " + std::to_string(u) + " is not a member of chat " + std::to_string(c.id));
        if (p->role >= me->role && u != actor) {
          return Status::PermissionDenied("a " + std::string(ToString(me->role)) + " cannot remove a " + std::string(ToString(p->role)));
        }
        members.erase(u);
        plan.removals.push_back(u);
        removed.push_back(u);
      }
      for (const auto& [u, role] : change.set_role) {
        const Participant* p = Find(current, u);
        if (p == nullptr) return Status::NotFound("user " + std::to_string(u) + " is not a member of chat " + std::to_string(c.id));
        if (me->role != Role::kOwner) return Status::PermissionDenied("only the owner may change roles");
        if (u == actor) return Status::InvalidArgument("the owner's role changes by handing ownership to another member");
        Participant updated = *p;
        updated.role = role;
        plan.upserts.push_back(updated);
        if (role == Role::kOwner) {
          // Handing over ownership: the old owner becomes an admin.
          Participant demoted = *me;
          demoted.role = Role::kAdmin;
          plan.upserts.push_back(demoted);
          roles.push_back({{"userId", actor}, {"role", "admin"}});
        }
        roles.push_back({{"userId", u}, {"role", ToString(role)}});
      }
      if (members.size() > c.member_limit) {
        return Status::FailedPrecondition("chat " + std::to_string(c.id) + " is full: the member limit is " +
                                          std::to_string(c.member_limit));
      }
      for (const auto& p : current) recipients.insert(p.user);
      for (const auto& p : plan.upserts) recipients.insert(p.user);
      plan.announcement =
          json{{"action", "modified"}, {"by", actor}, {"added", added}, {"removed", removed}, {"roles", roles}}.dump();
      return plan;
    };
    return UpdateMembershipAsMember(chat, actor, planner, RecipientsObserver(&recipients));
  }

  Result<Message> Leave(UserId user, ChatId chat) override {
    std::set<UserId> recipients;
    auto planner = [&](const Chat& c, const std::vector<Participant>& current) -> Result<MembershipPlan> {
      const Participant* me = Find(current, user);
      if (me == nullptr) return NotMember(c.id);
      if (c.kind == ChatKind::kDirect) return Status::FailedPrecondition("a direct chat cannot be left");
      MembershipPlan plan;
      plan.at = Now();
      plan.removals.push_back(user);
      json ann = {{"action", "left"}, {"userId", user}};
      if (me->role == Role::kOwner) {
        // Hand ownership to the longest-standing admin, else the longest-standing member.
        const Participant* heir = nullptr;
        for (const auto& p : current) {
          if (p.user == user) continue;
          if (heir == nullptr || p.role > heir->role ||
              (p.role == heir->role && p.joined_seq < heir->joined_seq)) {
            heir = &p;
          }
        }
        if (heir != nullptr) {
          Participant promoted = *heir;
          promoted.role = Role::kOwner;
          plan.upserts.push_back(promoted);
          ann["newOwner"] = heir->user;
        }
      }
      for (const auto& p : current) recipients.insert(p.user);
      plan.announcement = ann.dump();
      return plan;
    };
    return UpdateMembershipAsMember(chat, user, planner, RecipientsObserver(&recipients));
  }

  Result<Message> UpdateChat(UserId actor, ChatId chat, const std::optional<std::string>& name,
                             const std::optional<std::string>& metadata) override {
    const Limits& l = options_.limits;
    if (name) LIBCHAT_RETURN_IF_ERROR(detail::CheckText("name", *name, l.max_chat_name_bytes, true));
    if (metadata) LIBCHAT_RETURN_IF_ERROR(detail::CheckText("metadata", *metadata, l.max_metadata_bytes));
    if (!name && !metadata) return Status::InvalidArgument("nothing to change: give name or metadata");
    std::set<UserId> recipients;
    auto planner = [&](const Chat& c, const std::vector<Participant>& current) -> Result<MembershipPlan> {
      const Participant* me = Find(current, actor);
      if (me == nullptr) return NotMember(c.id);
      if (c.kind == ChatKind::kDirect) return Status::FailedPrecondition("a direct chat has no name to change");
      if (me->role == Role::kMember) return Status::PermissionDenied("only admins and owners may change the chat");
      MembershipPlan plan;
      plan.at = Now();
      Chat updated = c;
      json ann = {{"action", "updated"}, {"by", actor}};
      if (name) ann["name"] = updated.name = *name;
      if (metadata) ann["metadata"] = updated.metadata = *metadata;
      plan.chat_update = updated;
      plan.announcement = ann.dump();
      for (const auto& p : current) recipients.insert(p.user);
      return plan;
    };
    return UpdateMembershipAsMember(chat, actor, planner, RecipientsObserver(&recipients));
  }

  Result<ChatView> GetChat(UserId viewer, ChatId chat) override {
    LIBCHAT_RETURN_IF_ERROR(RequireMember(chat, viewer).status());
    ChatView v;
    LIBCHAT_ASSIGN_OR_RETURN(v.chat, store_->GetChat(chat));
    LIBCHAT_ASSIGN_OR_RETURN(v.participants, store_->ListParticipants(chat));
    LIBCHAT_ASSIGN_OR_RETURN(v.head, store_->Head(chat));
    return v;
  }

  Result<std::vector<ChatSummary>> ListChats(UserId user) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto memberships, store_->ListUserChats(user));
    std::vector<ChatSummary> out;
    for (const auto& p : memberships) {
      ChatSummary s;
      LIBCHAT_ASSIGN_OR_RETURN(s.chat, store_->GetChat(p.chat));
      s.role = p.role;
      LIBCHAT_ASSIGN_OR_RETURN(s.head, store_->Head(p.chat));
      LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor r, store_->GetReceipt(p.chat, user));
      s.read = std::max(r.read, p.joined_seq);
      s.unread = s.head > s.read ? s.head - s.read : 0;
      if (s.head > p.joined_seq) {
        auto last = store_->GetMessage(p.chat, s.head);
        if (last.ok()) s.last_message = std::move(*last);
        else if (!last.error().IsNotFound()) return last.error();
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<UserId>> Members(ChatId chat, UserId viewer) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto members, CachedMembers(chat));
    if (viewer != 0 && !std::binary_search(members->begin(), members->end(), viewer)) return NotMember(chat);
    return *members;
  }

  // ------------------------------------------------------------------ messages
  Result<AppendResult> Send(const SendRequest& r) override {
    std::promise<Result<AppendResult>> promise;
    auto future = promise.get_future();
    SendAsync(r, [&promise](Result<AppendResult> result) { promise.set_value(std::move(result)); });
    return future.get();
  }

  void SendAsync(const SendRequest& r, std::function<void(Result<AppendResult>)> done) override {
    auto draft = PrepareSend(r);
    if (!draft.ok()) return done(draft.error());
    auto members = RequireMember(r.chat, r.sender);
    if (!members.ok()) return done(members.error());
    if (Status s = CheckMaySend(r.sender, r.chat, **members); !s.ok()) return done(s);
    if (Status s = attachments_.CheckSend(r.sender, r.kind, r.attachments); !s.ok()) return done(s);
    // Spam first: a suspended or throttled sender is refused before any rate-limit token is spent.
    if (Status s = spam_.Admit(r.sender); !s.ok()) return done(s);
    if (Status s = Charge(RateAction::kSend, r.sender, r.device, 1); !s.ok()) return done(s);
    spam_.Score(r, **members);
    CommitObserver observer = [this, members = *members](const Message& m) {
      auto e = std::make_shared<Event>();
      e->type = EventType::kMessage;
      e->chat = m.chat;
      e->recipients = *members;
      e->message = std::make_shared<const Message>(m);
      bus_->Publish(std::move(e));
    };
    store_->AppendAsync(std::move(*draft), std::move(observer),
                        [this, done = std::move(done)](Result<AppendResult> result) {
                          // The sender has read what they wrote: keeps their unread count honest.
                          // A write-behind cursor move: it does not wait for a commit.
                          if (result.ok() && !result->duplicate) {
                            const Message& m = result->message;
                            store_->MarkRead(m.sender, m.chat, m.seq).status().IgnoreError();
                          }
                          done(std::move(result));
                        });
  }

  // ------------------------------------------------------------------ spam (spam_service.cc)
  Result<SpamReportAdded> ReportMessage(UserId reporter, ChatId chat, Seq seq, const std::string& reason) override {
    return spam_.Report(reporter, chat, seq, reason);
  }
  SpamStanding SpamStatus(UserId user) override { return spam_.Standing(user); }
  Status ClearSpam(UserId user) override { return spam_.Clear(user); }
  SpamCounters SpamCountersSinceStart() override { return spam_.counters(); }
  Status RestoreSpam() { return spam_.Restore(); }

  Result<SyncPage> Sync(UserId user, DeviceId device, ChatId chat, std::optional<Seq> after, std::size_t limit) override {
    auto p = store_->GetParticipant(chat, user);
    if (!p.ok()) return p.error().IsNotFound() ? NotMember(chat) : p.error();
    Seq from = 0;
    if (after) {
      from = *after;
    } else {
      LIBCHAT_ASSIGN_OR_RETURN(from, store_->DeviceCursor(device, chat));
    }
    from = std::max(from, p->joined_seq);
    SyncPage page;
    page.chat = chat;
    LIBCHAT_ASSIGN_OR_RETURN(page.head, store_->Head(chat));
    limit = std::clamp<std::size_t>(limit, 1, options_.limits.max_page);
    LIBCHAT_ASSIGN_OR_RETURN(page.messages, store_->ReadMessages(chat, from, limit));
    page.head = std::max(page.head, page.messages.empty() ? Seq{0} : page.messages.back().seq);
    page.has_more = !page.messages.empty() && page.messages.back().seq < page.head;
    return page;
  }

  Result<std::vector<PendingChat>> Pending(UserId user, DeviceId device) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto all, store_->PendingChats(user, device));
    std::vector<PendingChat> out;
    for (const auto& p : all) {
      if (p.acked < p.head) out.push_back(p);
    }
    return out;
  }

  Result<std::vector<Message>> History(UserId user, ChatId chat, Seq before, std::size_t limit) override {
    auto p = store_->GetParticipant(chat, user);
    if (!p.ok()) return p.error().IsNotFound() ? NotMember(chat) : p.error();
    limit = std::clamp<std::size_t>(limit, 1, options_.limits.max_page);
    LIBCHAT_ASSIGN_OR_RETURN(auto msgs, store_->ReadMessagesBefore(chat, before == 0 ? ~Seq{0} : before, limit));
    // Nothing from before the user joined.
    msgs.erase(std::remove_if(msgs.begin(), msgs.end(), [&](const Message& m) { return m.seq <= p->joined_seq; }),
               msgs.end());
    return msgs;
  }

  Result<ReceiptCursor> Ack(UserId user, DeviceId device, ChatId chat, Seq seq) override {
    return RaiseCursor(user, chat, seq, [&] { return store_->Acknowledge(user, device, chat, seq); });
  }

  Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) override {
    return RaiseCursor(user, chat, seq, [&] { return store_->MarkRead(user, chat, seq); });
  }

  Result<std::vector<ReceiptCursor>> Receipts(UserId viewer, ChatId chat) override {
    LIBCHAT_RETURN_IF_ERROR(RequireMember(chat, viewer).status());
    return store_->ListReceipts(chat);
  }

  Result<Message> DeleteMessage(UserId actor, DeviceId device, ChatId chat, Seq seq) override {
    auto me = store_->GetParticipant(chat, actor);
    if (!me.ok()) return me.error().IsNotFound() ? NotMember(chat) : me.error();
    LIBCHAT_ASSIGN_OR_RETURN(auto members, CachedMembers(chat));
    auto authorize = [&](const Message& target) -> Status {
      if (!IsUserContent(target.kind)) return Status::InvalidArgument("entries written by the server cannot be deleted");
      if (target.seq <= me->joined_seq) return Status::NotFound("message " + std::to_string(seq));
      if (target.sender != actor && me->role == Role::kMember) {
        return Status::PermissionDenied("only the sender or a chat admin may delete message " + std::to_string(seq));
      }
      return Status::Ok();
    };
    CommitObserver observer = [this, members](const Message& m) {
      auto e = std::make_shared<Event>();
      e->type = EventType::kMessageDeleted;
      e->chat = m.chat;
      e->recipients = *members;
      e->message = std::make_shared<const Message>(m);
      bus_->Publish(std::move(e));
    };
    return store_->DeleteMessage(chat, seq, actor, device, Now(), authorize, observer);
  }

  Result<Message> RecordCall(ChatId chat, UserId caller, DeviceId device, const std::string& call_id,
                             const std::string& body) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto members, CachedMembers(chat));
    Message draft;
    draft.chat = chat;
    draft.sender = caller;
    draft.sender_device = device;
    draft.client_id = "call:" + call_id;
    draft.kind = MessageKind::kCall;
    draft.body = body;
    draft.timestamp = Now();
    CommitObserver observer = [this, members](const Message& m) {
      auto e = std::make_shared<Event>();
      e->type = EventType::kMessage;
      e->chat = m.chat;
      e->recipients = *members;
      e->message = std::make_shared<const Message>(m);
      bus_->Publish(std::move(e));
    };
    LIBCHAT_ASSIGN_OR_RETURN(auto appended, store_->Append(std::move(draft), observer));
    return appended.message;
  }

  Status Typing(UserId user, DeviceId device, ChatId chat, bool typing) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto members, RequireMember(chat, user));
    auto e = std::make_shared<Event>();
    e->type = EventType::kTyping;
    e->chat = chat;
    e->recipients = *members;
    e->exclude_device = device;
    e->user = user;
    e->device = device;
    e->payload = json{{"typing", typing}}.dump();
    bus_->Publish(std::move(e));
    return Status::Ok();
  }

  Result<RetentionReport> RunRetention(std::size_t max_deletes) override {
    const TimeMs now = Now();
    LIBCHAT_ASSIGN_OR_RETURN(RetentionReport report, store_->SweepExpired(now, options_.device_cursor_ttl_ms, max_deletes));
    // After the messages: attachments they were the last reference of start their grace period now.
    LIBCHAT_ASSIGN_OR_RETURN(report.attachments_deleted, attachments_.Collect(now, max_deletes));
    return report;
  }

  // ------------------------------------------------------------------ attachments
  Result<UploadTicket> CreateAttachment(UserId user, const NewAttachment& request) override {
    LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kUpload, user, 0, 1));
    return attachments_.Create(user, request);
  }

  Result<std::unique_ptr<AttachmentUpload>> BeginUpload(UserId user, const std::string& id) override {
    return attachments_.BeginUpload(user, id);
  }

  Result<AttachmentDownload> OpenAttachment(UserId user, const std::string& id) override {
    return attachments_.Open(user, id);
  }

  Result<RetentionReport> PreviewRetention(std::size_t max_deletes) override {
    return store_->CountExpired(Now(), options_.device_cursor_ttl_ms, max_deletes);
  }

 private:
  // Store::UpdateMembership for a change `actor` makes as a member of `chat`. The store answers
  // NotFound for a chat that does not exist, before the planner runs; the caller gets NotMember
  // instead, as from any chat they are not in, so that chat ids cannot be probed (docs/security.md).
  Result<Message> UpdateMembershipAsMember(ChatId chat, UserId actor, const MembershipPlanner& planner,
                                           const CommitObserver& observer) {
    bool planned = false;
    auto result = store_->UpdateMembership(
        chat, actor,
        [&planned, &planner](const Chat& c, const std::vector<Participant>& current) {
          planned = true;
          return planner(c, current);
        },
        observer);
    if (!result.ok() && !planned && result.error().IsNotFound()) return NotMember(chat);
    return result;
  }

  Status CheckPassword(const std::string& password) const {
    const Limits& l = options_.limits;
    if (password.size() < l.min_password_bytes || password.size() > l.max_password_bytes) {
      return Status::InvalidArgument("password must be " + std::to_string(l.min_password_bytes) + " to " +
                                     std::to_string(l.max_password_bytes) + " bytes");
    }
    return Status::Ok();
  }

  static Status CheckDeviceInfo(const DeviceInfo& info) {
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("device.kind", info.kind, 32));
    return detail::CheckText("device.name", info.name, 64);
  }

  // Checks a new account (all but the password's hash) and builds the user to store.
  Result<User> NewUserRecord(const NewAccount& a, bool check_password) {
    const Limits& l = options_.limits;
    User u;
    LIBCHAT_RETURN_IF_ERROR(detail::NormalizeUsername(a.username, &u.username));
    if (check_password) LIBCHAT_RETURN_IF_ERROR(CheckPassword(a.password));
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("displayName", a.display_name, l.max_display_name_bytes));
    LIBCHAT_RETURN_IF_ERROR(detail::CheckEmail(a.email, l.max_email_bytes));
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("avatarUrl", a.avatar_url, l.max_url_bytes));
    // Fail fast on a taken name before paying for Argon2id; CreateUser re-checks atomically.
    if (store_->FindUserByName(u.username).ok()) return Status::AlreadyExists("username '" + u.username + "' is taken");
    u.display_name = a.display_name.empty() ? u.username : a.display_name;
    u.email = a.email;
    u.avatar_url = a.avatar_url;
    u.created_at = Now();
    return u;
  }

  // A new device of `user` with a fresh session token (returned once, stored only as a hash). The
  // store's FailedPrecondition at the device limit is passed on for the caller to word.
  Result<Session> AddSessionDevice(User user, const DeviceInfo& info) {
    Session s;
    s.token = detail::NewToken();
    Device d;
    d.user = user.id;
    d.kind = info.kind;
    d.name = info.name;
    d.token_hash = detail::HashToken(s.token);
    d.created_at = Now();
    d.last_seen = d.created_at;
    d.token_expires_at = d.created_at + options_.session_ttl_ms;
    LIBCHAT_ASSIGN_OR_RETURN(s.device, store_->AddDevice(std::move(d), options_.limits.max_devices_per_user));
    s.user = std::move(user);
    return s;
  }

  // Checks a send request and builds the draft entry (no store access but the reply-to bound).
  Result<Message> PrepareSend(const SendRequest& r) {
    const Limits& l = options_.limits;
    if (r.client_id.empty()) return Status::InvalidArgument("clientId is required (the idempotency key)");
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("clientId", r.client_id, l.max_client_id_bytes));
    if (!IsUserContent(r.kind)) {
      return Status::InvalidArgument("kind '" + std::string(ToString(r.kind)) + "' is written by the server only");
    }
    LIBCHAT_RETURN_IF_ERROR(detail::CheckText("body", r.body, l.max_body_bytes));
    if (r.body.empty() && r.attachments.empty()) return Status::InvalidArgument("a message needs a body or attachments");
    if (r.attachments.size() > l.max_attachments_per_message) {
      return Status::InvalidArgument(std::to_string(r.attachments.size()) + " attachments; the limit is " +
                                     std::to_string(l.max_attachments_per_message));
    }
    for (const auto& a : r.attachments) LIBCHAT_RETURN_IF_ERROR(detail::CheckText("attachment id", a, 64, true));
    if (r.reply_to != 0) {
      auto head = store_->Head(r.chat);
      if (!head.ok() || r.reply_to > *head) {
        return Status::InvalidArgument("replyTo " + std::to_string(r.reply_to) + " is not in the chat");
      }
    }
    Message draft;
    draft.chat = r.chat;
    draft.sender = r.sender;
    draft.sender_device = r.device;
    draft.client_id = r.client_id;
    draft.kind = r.kind;
    draft.body = r.body;
    draft.attachments = r.attachments;
    draft.reply_to = r.reply_to;
    draft.timestamp = Now();
    return draft;
  }

  using MemberList = std::shared_ptr<const std::vector<UserId>>;  // Sorted.

  static const Participant* Find(const std::vector<Participant>& ps, UserId u) {
    for (const auto& p : ps) {
      if (p.user == u) return &p;
    }
    return nullptr;
  }

  Status UserExists(UserId u) {
    auto user = store_->GetUser(u);
    if (user.ok()) return Status::Ok();
    if (user.error().IsNotFound()) return Status::NotFound("user " + std::to_string(u) + " does not exist");
    return user.error();
  }

  Result<MemberList> CachedMembers(ChatId chat) {
    {
      std::lock_guard lock(cache_mu_);
      auto it = members_.find(chat);
      if (it != members_.end()) return it->second;
    }
    std::uint64_t generation;
    {
      std::lock_guard lock(cache_mu_);
      generation = generation_;
    }
    auto ps = store_->ListParticipants(chat);
    if (!ps.ok()) return ps.error();
    if (ps->empty()) {
      // No members: either no such chat or everybody left. Either way nobody may use it.
      auto c = store_->GetChat(chat);
      if (!c.ok()) return c.error().IsNotFound() ? NotMember(chat) : c.error();
    }
    auto list = std::make_shared<std::vector<UserId>>();
    for (const auto& p : *ps) list->push_back(p.user);
    std::sort(list->begin(), list->end());
    std::lock_guard lock(cache_mu_);
    // An invalidation raced with our read: use the list but do not cache it.
    if (generation == generation_) members_[chat] = list;
    return MemberList(list);
  }

  void Invalidate(ChatId chat) {
    std::lock_guard lock(cache_mu_);
    members_.erase(chat);
    ++generation_;
  }

  // The chat's members, or PermissionDenied unless `user` is one of them.
  Result<MemberList> RequireMember(ChatId chat, UserId user) {
    LIBCHAT_ASSIGN_OR_RETURN(auto members, CachedMembers(chat));
    if (!std::binary_search(members->begin(), members->end(), user)) return NotMember(chat);
    return members;
  }

  template <typename Raise>
  Result<ReceiptCursor> RaiseCursor(UserId user, ChatId chat, Seq seq, Raise raise) {
    LIBCHAT_ASSIGN_OR_RETURN(auto members, RequireMember(chat, user));
    LIBCHAT_ASSIGN_OR_RETURN(Seq head, store_->Head(chat));
    if (seq > head) {
      return Status::InvalidArgument("seq " + std::to_string(seq) + " is beyond the head " + std::to_string(head) +
                                     " of chat " + std::to_string(chat));
    }
    LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor before, store_->GetReceipt(chat, user));
    LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor after, raise());
    if (after.delivered != before.delivered || after.read != before.read) {
      // The server coalesces these per chat before they reach the wire.
      auto e = std::make_shared<Event>();
      e->type = EventType::kReceipt;
      e->chat = chat;
      e->recipients = *members;
      e->user = user;
      e->delivered = after.delivered;
      e->read = after.read;
      bus_->Publish(std::move(e));
    }
    return after;
  }

  // Why a disabled account may not sign in: banned or disabled (the ban's reason is for admins only).
  Status AccountClosed(const User& u) {
    auto banned = moderation_.IsBanned(u.id);
    if (!banned.ok()) return banned.error();
    if (*banned) return Status::PermissionDenied("account '" + u.username + "' is banned");
    return Status::PermissionDenied("account '" + u.username + "' is disabled");
  }

  // Tells every live connection of the user to close (kSessionRevoked) and, with forget_tokens, makes
  // the tokens stop resolving. Without it the account must already refuse them (disabled).
  Status RevokeAllSessions(UserId user, bool forget_tokens) {
    LIBCHAT_ASSIGN_OR_RETURN(auto devices, store_->ListDevices(user));
    for (auto& d : devices) {
      if (forget_tokens) {
        d.token_hash.clear();
        LIBCHAT_RETURN_IF_ERROR(store_->UpdateDevice(d));
      }
      PublishRevoked(user, d.id);
    }
    return Status::Ok();
  }

  Status CheckBlockTarget(UserId user, UserId other) {
    if (user == other) return Status::InvalidArgument("you cannot block or unblock yourself");
    return UserExists(other);
  }

  // PermissionDenied if `target` blocks `actor`, naming what the block stops.
  Status RefuseIfBlocked(UserId target, UserId actor, const char* what) {
    LIBCHAT_ASSIGN_OR_RETURN(bool blocked, moderation_.Blocks(target, actor));
    if (!blocked) return Status::Ok();
    return Status::PermissionDenied("user " + std::to_string(target) + " has blocked you: you cannot " + what);
  }

  // The send path's moderation checks, from memory in the common case: a banned sender is refused
  // (closing their connections takes a moment), and so is a sender blocked by the other member of a
  // direct chat. Only a two-member chat whose other member blocks the sender costs a store read (is
  // it direct?); group messages are not filtered.
  Status CheckMaySend(UserId sender, ChatId chat, const std::vector<UserId>& members) {
    LIBCHAT_ASSIGN_OR_RETURN(bool banned, moderation_.IsBanned(sender));
    if (banned) return Status::PermissionDenied("account banned: nothing it sends is accepted");
    if (members.size() != 2) return Status::Ok();
    const UserId other = members[0] == sender ? members[1] : members[0];
    LIBCHAT_ASSIGN_OR_RETURN(bool blocked, moderation_.Blocks(other, sender));
    if (!blocked) return Status::Ok();
    LIBCHAT_ASSIGN_OR_RETURN(Chat c, store_->GetChat(chat));
    if (c.kind != ChatKind::kDirect) return Status::Ok();
    return Status::PermissionDenied("user " + std::to_string(other) + " has blocked you: you cannot message them");
  }

  void PublishRevoked(UserId user, DeviceId device) {
    auto e = std::make_shared<Event>();
    e->type = EventType::kSessionRevoked;
    e->recipients = {user};
    e->only_device = device;
    e->user = user;
    e->device = device;
    bus_->Publish(std::move(e));
  }

  CommitObserver ChatUpdateObserver(std::vector<UserId> recipients) {
    return [this, recipients = std::move(recipients)](const Message& m) {
      auto e = std::make_shared<Event>();
      e->type = EventType::kChatUpdate;
      e->chat = m.chat;
      e->recipients = recipients;
      e->message = std::make_shared<const Message>(m);
      bus_->Publish(std::move(e));
    };
  }

  // For membership planners: the recipient set is filled by the planner, before the observer runs.
  CommitObserver RecipientsObserver(const std::set<UserId>* recipients) {
    return [this, recipients](const Message& m) {
      auto e = std::make_shared<Event>();
      e->type = EventType::kChatUpdate;
      e->chat = m.chat;
      e->recipients.assign(recipients->begin(), recipients->end());
      e->message = std::make_shared<const Message>(m);
      bus_->Publish(std::move(e));
    };
  }

  detail::Attachments attachments_;
  detail::TokenBuckets buckets_{options_.clock};
  detail::LoginThrottle throttle_{options_.login_throttle, options_.clock};
  detail::ModerationCache moderation_{*store_};
  detail::SpamService spam_{options_, store_.get()};
  std::mutex cache_mu_;
  std::unordered_map<ChatId, MemberList> members_;
  std::uint64_t generation_ = 0;
  Subscription subscription_;
};

}  // namespace

Result<std::unique_ptr<ChatService>> ChatService::Create(ServiceOptions options, std::shared_ptr<Store> store,
                                                         std::shared_ptr<Bus> bus, std::shared_ptr<BlobStore> blobs) {
  if (!store) return Status::InvalidArgument("ChatService::Create: null store");
  if (!bus) return Status::InvalidArgument("ChatService::Create: null bus");
  if (options.clock == nullptr) options.clock = SystemClock();
  auto service = std::make_unique<ChatServiceImpl>(std::move(options), std::move(store), std::move(bus), std::move(blobs));
  // Flags raised before a restart keep their scores (and suspensions).
  LIBCHAT_RETURN_IF_ERROR(service->RestoreSpam());
  return std::unique_ptr<ChatService>(std::move(service));
}

}  // namespace chat
