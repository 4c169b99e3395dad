#include "commands.h"

#include "attachment_commands.h"
#include "block_commands.h"
#include "call_commands.h"
#include "command_names.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <map>
#include <utility>

#include "address_key.h"
#include "log_escape.h"

namespace chat::detail {

std::string SourceAddress(const std::string& remote) {
  // A bare IPv6 address (a client named by a trusted proxy) has colons and no port.
  if (remote.find(':') != remote.rfind(':') && remote.front() != '[') return AddressKey(remote);
  const auto colon = remote.rfind(':');
  std::string host = colon == std::string::npos ? remote : remote.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "?" ? std::string() : AddressKey(host);
}

namespace {

Json SessionJson(const Session& s) {
  Json j = codec::ToJson(s, codec::kOwn);
  // A resume never echoes the token back: the field is left out rather than empty.
  if (s.token.empty()) j.erase("token");
  return j;
}

constexpr std::size_t kDefaultPage = 100;

std::size_t PageLimit(const CommandContext& ctx, Args& args) {
  std::uint64_t limit = args.U64("limit", false, kDefaultPage);
  if (limit == 0) limit = kDefaultPage;
  return static_cast<std::size_t>(std::min<std::uint64_t>(limit, ctx.service.options().limits.max_page));
}

// The leading messages that fit in `limit_bytes` given the `*used` bytes already spent, as the JSON
// array of the response, adding their encoded size to *used; at least one if `first` (no message is in
// the response yet), so that a single large message still makes progress. *cut is set if some were
// left out. Sizes are measured on the encoded JSON, not estimated: a control character escapes to six
// bytes, so a page of them is six times its stored size.
Json FitBudget(const std::vector<Message>& messages, std::size_t limit_bytes, bool first, std::size_t* used,
               bool* cut) {
  Json out = Json::array();
  *cut = false;
  for (const Message& m : messages) {
    Json j = ToJson(m);
    const std::size_t n = Dump(j).size() + 1;  // The comma that separates it.
    if (*used + n > limit_bytes && !(first && out.empty())) {
      *cut = true;
      break;
    }
    *used += n;
    out.push_back(std::move(j));
  }
  return out;
}

// Logs a refusal of a request from the caller's address, at most a few lines a minute per address
// (LogLimiter): a client refused in a loop must not fill the disk.
template <typename... A>
void LogRefusal(CommandContext& ctx, const Caller& caller, const A&... args) {
  const LogLimiter::Verdict v = ctx.refusal_log.Admit(SourceAddress(caller.remote));
  if (!v.log) {
    ctx.metrics.log_lines_suppressed.Add();
    return;
  }
  if (v.suppressed == 0) return ctx.log.Info(args...);
  ctx.log.Info(args..., " (", v.suppressed, " more such lines from this address were not logged)");
}

// ---- Accounts and devices ----

CommandOutcome Register(CommandContext& ctx, const Caller& caller, Args& args) {
  if (caller.user != 0) return Err(Status::FailedPrecondition("already logged in on this connection"));
  NewAccount a;
  a.username = args.Str("username", true);
  a.password = args.Str("password", true);
  a.display_name = args.Str("displayName", false);
  a.email = args.Str("email", false);
  a.avatar_url = args.Str("avatarUrl", false);
  const std::string invite = args.Str("invite", false);
  if (!args.ok()) return BadArgs(args);
  // Who may sign up at all (ServerOptions::registration), before anything costs the server.
  const RegistrationMode mode = ctx.options.registration;
  if (mode == RegistrationMode::kClosed) {
    LogRefusal(ctx, caller, "register from ", caller.remote, " refused: registration is closed");
    return Err(Status::PermissionDenied("registration is closed on this server: ask its administrator for an account"));
  }
  if (mode == RegistrationMode::kInvite && invite.empty()) {
    LogRefusal(ctx, caller, "register from ", caller.remote, " refused: no invitation code");
    return Err(Status::PermissionDenied("registration on this server needs an invitation code (field 'invite')"));
  }
  // Before the Argon2id hash: a flood of registrations is refused for the price of a map lookup.
  if (Status s = ctx.registration.Admit(SourceAddress(caller.remote)); !s.ok()) {
    ctx.metrics.registrations_refused.Add();
    LogRefusal(ctx, caller, "register from ", caller.remote, " refused: ", StatusCodeName(s.code()));
    return Err(s);
  }
  auto user = mode == RegistrationMode::kInvite ? ctx.service.RegisterWithInvite(a, invite) : ctx.service.Register(a);
  if (!user.ok()) {
    if (mode == RegistrationMode::kInvite && user.error().code() == StatusCode::kPermissionDenied) {
      LogRefusal(ctx, caller, "register from ", caller.remote, " refused: bad invitation code");
    }
    return Err(user.error());
  }
  ctx.log.Info("registered user ", user->id, " (", LogEscape(user->username), ") from ", caller.remote);
  return Ok(Json{{"user", codec::ToJson(*user, codec::kOwn)}});
}

CommandOutcome Login(CommandContext& ctx, const Caller& caller, Args& args) {
  if (caller.user != 0) return Err(Status::FailedPrecondition("already logged in on this connection"));
  std::string username = args.Str("username", true);
  std::string password = args.Str("password", true);
  DeviceInfo info;
  if (const Json* device = args.Object("device", true)) {
    Args d(*device);
    info.kind = d.Str("kind", true);
    info.name = d.Str("name", false);
    if (!d.ok()) args.Fail("device: " + d.error().message);
  }
  if (!args.ok()) return BadArgs(args);
  auto session = ctx.service.Login(username, password, info, SourceAddress(caller.remote));
  if (!session.ok()) {
    // Only a valid username is logged (people type passwords into that field), and never the
    // password.
    LogRefusal(ctx, caller, "login of ", LogUsername(username), " from ", caller.remote, " refused: ",
               StatusCodeName(session.error().code()));
    return Err(session.error());
  }
  ctx.log.Info("user ", session->user.id, " logged in as device ", session->device.id, " (",
               LogEscape(info.kind), ") from ", caller.remote);
  CommandOutcome o = Ok(SessionJson(*session));
  o.effect = SessionEffect::kAuthenticated;
  o.user = session->user.id;
  o.device = session->device.id;
  o.token_hash = session->token_hash;
  return o;
}

CommandOutcome Resume(CommandContext& ctx, const Caller& caller, Args& args) {
  if (caller.user != 0) return Err(Status::FailedPrecondition("already logged in on this connection"));
  std::string token = args.Str("token", true);
  if (!args.ok()) return BadArgs(args);
  auto session = ctx.service.Resume(token);
  if (!session.ok()) {
    LogRefusal(ctx, caller, "resume from ", caller.remote, " refused: ", StatusCodeName(session.error().code()));
    return Err(session.error());
  }
  // Every connect announces the user to all their chat partners: reconnecting in a loop must not
  // turn that into a flood. The only write Resume may have made (the sliding expiry) needs no undoing.
  if (ctx.service.options().enforce_rate_limits) {
    const RateLimit& limit = ctx.service.options().limits.resume_per_user;
    if (Status s = ctx.resumes.Take({{{0, session->user.id}, &limit}}, 1, "resumes"); !s.ok()) {
      LogRefusal(ctx, caller, "resume of user ", session->user.id, " from ", caller.remote, " refused: ",
                 StatusCodeName(s.code()));
      return Err(s);
    }
  }
  ctx.log.Info("user ", session->user.id, " resumed device ", session->device.id, " from ", caller.remote);
  session->token.clear();  // Never echo a token back.
  CommandOutcome o = Ok(SessionJson(*session));
  o.effect = SessionEffect::kAuthenticated;
  o.user = session->user.id;
  o.device = session->device.id;
  o.token_hash = session->token_hash;
  return o;
}

CommandOutcome Logout(CommandContext& ctx, const Caller& caller, Args&) {
  Status s = ctx.service.Logout(caller.user, caller.device);
  if (!s.ok()) return Err(s);
  ctx.log.Info("user ", caller.user, " logged out device ", caller.device);
  CommandOutcome o = Ok(Json::object());
  o.effect = SessionEffect::kLoggedOut;
  return o;
}

// Every other session of the user ends; the caller's device gets a new token (the old one is void).
CommandOutcome ChangePassword(CommandContext& ctx, const Caller& caller, Args& args) {
  std::string old_password = args.Str("oldPassword", true);
  std::string new_password = args.Str("newPassword", true);
  if (!args.ok()) return Err(args.error());
  auto session = ctx.service.ChangePassword(caller.user, caller.device, old_password, new_password);
  if (!session.ok()) return Err(session.error());
  ctx.log.Info("user ", caller.user, " changed the password from device ", caller.device,
               "; every other session ended");
  CommandOutcome o = Ok(Json{{"token", session->token}});
  o.effect = SessionEffect::kTokenRotated;
  o.token_hash = session->token_hash;
  return o;
}

CommandOutcome ListDevices(CommandContext& ctx, const Caller& caller, Args&) {
  auto devices = ctx.service.ListDevices(caller.user);
  if (!devices.ok()) return Err(devices.error());
  Json a = Json::array();
  for (const Device& d : *devices) a.push_back(ToJson(d));
  return Ok(Json{{"devices", std::move(a)}, {"current", caller.device}});
}

// Signed in: removes one of the caller's devices. Not signed in: {username, password, deviceId} — how a
// user at the device limit frees a slot without a session. Then it is a password check like login's:
// the same throttle (by name and source address), and one answer for a wrong password and for a
// right password with a device that is not the user's, so it cannot tell which passwords are right.
CommandOutcome RemoveDevice(CommandContext& ctx, const Caller& caller, Args& args) {
  const DeviceId device = args.U64("deviceId", true);
  UserId user = caller.user;
  if (user == 0) {
    std::string username = args.Str("username", true);
    std::string password = args.Str("password", true);
    if (!args.ok()) return BadArgs(args);
    const Status wrong = Status::Unauthenticated("wrong username, password or device id");
    auto u = ctx.service.VerifyPassword(username, password, SourceAddress(caller.remote));
    if (!u.ok()) {
      LogRefusal(ctx, caller, "removeDevice of ", LogUsername(username), " from ", caller.remote, " refused: ",
                 StatusCodeName(u.error().code()));
      return Err(u.error().code() == StatusCode::kUnauthenticated ? wrong : u.error());
    }
    Status s = ctx.service.RemoveDevice(u->id, device);
    if (s.IsNotFound()) return Err(wrong);
    if (!s.ok()) return Err(s);
    ctx.log.Info("user ", u->id, " removed device ", device, " with the password, from ", caller.remote);
    return Ok(Json::object());
  }
  if (!args.ok()) return BadArgs(args);
  Status s = ctx.service.RemoveDevice(user, device);
  if (!s.ok()) return Err(s);
  ctx.log.Info("user ", user, " removed device ", device);
  CommandOutcome o = Ok(Json::object());
  if (caller.user != 0 && device == caller.device) o.effect = SessionEffect::kLoggedOut;
  return o;
}

CommandOutcome SetPushToken(CommandContext& ctx, const Caller& caller, Args& args) {
  std::string provider = args.Str("provider", true);
  std::string token = args.Str("token", true);
  if (!args.ok()) return BadArgs(args);
  Status s = ctx.service.SetPushToken(caller.user, caller.device, provider, token);
  if (!s.ok()) return Err(s);
  return Ok(Json::object());
}

CommandOutcome SetPrivacy(CommandContext& ctx, const Caller& caller, Args& args) {
  std::string text = args.Str("lastSeen", true);
  if (!args.ok()) return BadArgs(args);
  LastSeenVisibility v;
  if (!Parse(text, &v)) {
    return Err(Status::InvalidArgument("lastSeen must be everyone, chat_partners or nobody, not '" + text + "'"));
  }
  Status s = ctx.service.SetLastSeenVisibility(caller.user, v);
  if (!s.ok()) return Err(s);
  return Ok(Json{{"lastSeen", ToString(v)}});
}

// By username (anyone's: how a chat partner is found), or by userId (only yourself and people you
// share a chat with, so that ids cannot be walked to list every account: any other id is "not found").
CommandOutcome LookupUser(CommandContext& ctx, const Caller& caller, Args& args) {
  if (args.Has("userId")) {
    const UserId id = args.U64("userId", true);
    if (!args.ok()) return BadArgs(args);
    const Status hidden = Status::NotFound("user " + std::to_string(id) + " not found");
    if (id != caller.user) {
      auto shares = ctx.service.SharesChat(caller.user, id);
      if (!shares.ok()) return Err(shares.error());
      if (!*shares) return Err(hidden);
    }
    auto user = ctx.service.GetUser(id);
    if (!user.ok()) return Err(user.error().code() == StatusCode::kNotFound ? hidden : user.error());
    return Ok(Json{{"user", ToJson(*user)}});
  }
  std::string username = args.Str("username", true);
  if (!args.ok()) return BadArgs(args);
  auto user = ctx.service.FindUser(username);
  if (!user.ok()) return Err(user.error());
  return Ok(Json{{"user", ToJson(*user)}});
}

// ---- Chats ----

CommandOutcome CreateChat(CommandContext& ctx, const Caller& caller, Args& args) {
  std::string kind = args.Str("kind", true);
  if (!args.ok()) return BadArgs(args);
  if (kind == "direct") {
    const UserId other = args.U64("userId", true);
    if (!args.ok()) return BadArgs(args);
    auto chat = ctx.service.CreateDirect(caller.user, other);
    if (!chat.ok()) return Err(chat.error());
    return Ok(Json{{"chat", ToJson(*chat)}});
  }
  if (kind != "group") return Err(Status::InvalidArgument("kind must be group or direct, not '" + kind + "'"));
  std::string name = args.Str("name", true);
  std::vector<UserId> members = args.U64Array("members", false);
  std::string metadata = args.Str("metadata", false);
  const std::uint64_t member_limit = args.U64("memberLimit", false);
  const std::uint64_t retention_ms = args.U64("retentionMs", false);
  if (!args.ok()) return BadArgs(args);
  if (member_limit > UINT32_MAX) return Err(Status::InvalidArgument("memberLimit is too large"));
  if (retention_ms > static_cast<std::uint64_t>(INT64_MAX)) return Err(Status::InvalidArgument("retentionMs is too large"));
  // The device's bucket here, the user's in the service (docs/security.md).
  if (Status s = ctx.service.ChargeDevice(caller.device, RateAction::kCreateChat); !s.ok()) return Err(s);
  auto chat = ctx.service.CreateGroup(caller.user, name, members, metadata,
                                      static_cast<std::uint32_t>(member_limit), static_cast<TimeMs>(retention_ms));
  if (!chat.ok()) return Err(chat.error());
  ctx.log.Info("user ", caller.user, " created group ", chat->id, " with ", members.size(), " members");
  return Ok(Json{{"chat", ToJson(*chat)}});
}

CommandOutcome ModifyParticipants(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  ParticipantChange change;
  change.add = args.U64Array("add", false);
  change.remove = args.U64Array("remove", false);
  if (const Json* roles = args.Array("roles", false)) {
    for (const Json& r : *roles) {
      if (!r.is_object()) {
        args.Fail("field 'roles': expected an array of {userId, role} objects");
        break;
      }
      Args ra(r);
      const UserId user = ra.U64("userId", true);
      std::string role_name = ra.Str("role", true);
      if (!ra.ok()) {
        args.Fail("roles: " + ra.error().message);
        break;
      }
      Role role;
      if (!Parse(role_name, &role)) {
        return Err(Status::InvalidArgument("role must be member, admin or owner, not '" + role_name + "'"));
      }
      change.set_role.emplace_back(user, role);
    }
  }
  if (!args.ok()) return BadArgs(args);
  if (!change.add.empty()) {
    Status s = ctx.service.ChargeDevice(caller.device, RateAction::kAddParticipants, change.add.size());
    if (!s.ok()) return Err(s);
  }
  auto entry = ctx.service.ModifyParticipants(caller.user, chat, change);
  if (!entry.ok()) return Err(entry.error());
  return Ok(Json{{"entry", ToJson(*entry)}});
}

CommandOutcome LeaveChat(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  if (!args.ok()) return BadArgs(args);
  auto entry = ctx.service.Leave(caller.user, chat);
  if (!entry.ok()) return Err(entry.error());
  return Ok(Json{{"entry", ToJson(*entry)}});
}

CommandOutcome UpdateChat(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  std::optional<std::string> name;
  std::optional<std::string> metadata;
  if (args.Has("name")) name = args.Str("name", true);
  if (args.Has("metadata")) metadata = args.Str("metadata", true);
  if (!args.ok()) return BadArgs(args);
  if (!name && !metadata) return Err(Status::InvalidArgument("updateChat needs name or metadata"));
  auto entry = ctx.service.UpdateChat(caller.user, chat, name, metadata);
  if (!entry.ok()) return Err(entry.error());
  return Ok(Json{{"entry", ToJson(*entry)}});
}

CommandOutcome ListChats(CommandContext& ctx, const Caller& caller, Args&) {
  auto chats = ctx.service.ListChats(caller.user);
  if (!chats.ok()) return Err(chats.error());
  Json a = Json::array();
  for (const ChatSummary& s : *chats) a.push_back(ToJson(s));
  return Ok(Json{{"chats", std::move(a)}});
}

CommandOutcome GetChat(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  if (!args.ok()) return BadArgs(args);
  auto view = ctx.service.GetChat(caller.user, chat);
  if (!view.ok()) return Err(view.error());
  Json participants = Json::array();
  for (const Participant& p : view->participants) participants.push_back(ToJson(p));
  return Ok(Json{{"chat", ToJson(view->chat)}, {"participants", std::move(participants)}, {"head", view->head}});
}

// ---- Messages ----

namespace {

// The stamps of one send's stages (StageHistograms). The worker (queued) and the committer (durable)
// each write their own and then arrive; the second to arrive records the stages, so that a commit
// completing before SendAsync has returned on the worker is measured too.
struct SendStamps {
  std::int64_t read_ns = 0;     // The session handed the frame over (Caller::received).
  std::int64_t worker_ns = 0;   // The worker started the command.
  std::int64_t queued_ns = 0;   // SendAsync returned: the append is queued for the group commit.
  std::int64_t durable_ns = 0;  // The completion ran on the committer: written and fsynced.
  bool stored = false;          // A new entry (not a refusal, nor the answer to a resend).
  std::atomic<int> arrived{0};

  void Arrive(StageHistograms& h) {
    if (arrived.fetch_add(1, std::memory_order_acq_rel) != 1 || !stored) return;
    if (read_ns != 0) h.Observe(StageHistograms::kReadToWorker, worker_ns - read_ns);
    h.Observe(StageHistograms::kWorkerToQueued, queued_ns - worker_ns);
    h.Observe(StageHistograms::kQueuedToDurable, durable_ns - queued_ns);
  }
};

}  // namespace

void SendMessage(CommandContext& ctx, const Caller& caller, Args& args, CommandDone done) {
  auto stamps = std::make_shared<SendStamps>();
  stamps->worker_ns = StageHistograms::NowNs();
  if (caller.received != std::chrono::steady_clock::time_point()) {
    stamps->read_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(caller.received.time_since_epoch()).count();
  }
  SendRequest r;
  r.sender = caller.user;
  r.device = caller.device;
  r.chat = args.U64("chatId", true);
  r.client_id = args.Str("clientId", true);
  std::string kind = args.Str("kind", false, "text");
  r.body = args.Str("body", true);
  r.attachments = args.StrArray("attachments", false);
  r.reply_to = args.U64("replyTo", false);
  if (!args.ok()) return done(BadArgs(args));
  if (!Parse(kind, &r.kind)) return done(Err(Status::InvalidArgument("unknown message kind '" + kind + "'")));
  // Membership, deletion and call entries are written by the server, never sent by clients.
  if (r.kind == MessageKind::kMembership || r.kind == MessageKind::kDeletion || r.kind == MessageKind::kCall) {
    return done(Err(Status::InvalidArgument("message kind '" + kind + "' is written by the server")));
  }
  // The kind says what the message is: text has no attachments, the others at least one (of that
  // kind, which the service checks against the stored attachments).
  if (r.kind == MessageKind::kText && !r.attachments.empty()) {
    return done(Err(Status::InvalidArgument(
        "a text message carries no attachments: send it as kind image, audio, video or document")));
  }
  if (r.kind != MessageKind::kText && r.attachments.empty()) {
    return done(Err(Status::InvalidArgument("a message of kind '" + kind + "' needs at least one attachment")));
  }
  Metrics& metrics = ctx.metrics;
  // `done` runs on the store's committer thread once the message is durable: build the small result
  // object only; the session encodes it on its lane.
  ctx.service.SendAsync(r, [&metrics, received = caller.received, stamps,
                            done = std::move(done)](Result<AppendResult> sent) {
    stamps->durable_ns = StageHistograms::NowNs();
    stamps->stored = sent.ok() && !sent->duplicate;
    stamps->Arrive(metrics.message_stages);
    if (!sent.ok()) return done(Err(sent.error()));
    if (!sent->duplicate) {
      metrics.messages_in.Add();
      // The commit observer published the event (and the in-process bus fanned it out) before this.
      if (received != std::chrono::steady_clock::time_point()) {
        metrics.send_fanout_latency.ObserveMicros(std::chrono::duration_cast<std::chrono::microseconds>(
                                                      std::chrono::steady_clock::now() - received)
                                                      .count());
      }
    }
    done(Ok(Json{{"messageId", sent->message.id},
                 {"seq", sent->message.seq},
                 {"timestamp", sent->message.timestamp},
                 {"duplicate", sent->duplicate}}));
  });
  stamps->queued_ns = StageHistograms::NowNs();
  stamps->Arrive(metrics.message_stages);
}

CommandOutcome Sync(CommandContext& ctx, const Caller& caller, Args& args) {
  // (chat, after) pairs; nullopt: from the device's stored cursor.
  std::vector<std::pair<ChatId, std::optional<Seq>>> wanted;
  const Json* chats = args.Object("chats", false);
  const std::size_t limit = PageLimit(ctx, args);
  if (!args.ok()) return BadArgs(args);
  if (chats != nullptr) {
    for (const auto& [key, value] : chats->items()) {
      ChatId chat = 0;
      auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), chat);
      // Canonical decimal only: "1", "01" and "001" would otherwise be three keys for one chat, each
      // read and answered again.
      if (ec != std::errc() || end != key.data() + key.size() || chat == 0 || key[0] == '0') {
        return Err(WireError{std::string(kBadRequest), "chats: key '" + key + "' is not a chat id", -1});
      }
      Seq after = 0;
      if (!GetU64(value, &after)) {
        return Err(WireError{std::string(kBadRequest), "chats: value of '" + key + "' must be a sequence number", -1});
      }
      wanted.emplace_back(chat, after);
    }
  } else {
    auto pending = ctx.service.Pending(caller.user, caller.device);
    if (!pending.ok()) return Err(pending.error());
    for (const PendingChat& p : *pending) wanted.emplace_back(p.chat, std::nullopt);
  }

  // Keep the response under max_response_bytes: it must fit the session's send queue.
  std::size_t used = 0;
  std::size_t included = 0;  // Messages in the response so far.
  bool more = false;
  Json out = Json::array();
  for (const auto& [chat, after] : wanted) {
    if (used >= ctx.options.max_response_bytes) {
      more = true;  // Chats left out: the client syncs again.
      break;
    }
    auto page = ctx.service.Sync(caller.user, caller.device, chat, after, limit);
    if (!page.ok()) return Err(page.error());
    // The chat's own fields: two ids of at most 20 digits, names and punctuation, under this bound.
    constexpr std::size_t kChatEnvelopeBytes = 128;
    used += kChatEnvelopeBytes;
    bool cut = false;
    Json messages = FitBudget(page->messages, ctx.options.max_response_bytes, included == 0, &used, &cut);
    included += messages.size();
    if (cut) page->has_more = true;
    more = more || page->has_more;
    out.push_back(Json{{"chatId", chat},
                       {"messages", std::move(messages)},
                       {"head", page->head},
                       {"hasMore", page->has_more}});
  }
  return Ok(Json{{"chats", std::move(out)}, {"more", more}});
}

CommandOutcome History(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  const Seq before = args.U64("before", false);
  const std::size_t limit = PageLimit(ctx, args);
  if (!args.ok()) return BadArgs(args);
  auto messages = ctx.service.History(caller.user, chat, before, limit);
  if (!messages.ok()) return Err(messages.error());
  std::size_t used = 0;
  bool cut = false;
  Json page = FitBudget(*messages, ctx.options.max_response_bytes, /*first=*/true, &used, &cut);
  const bool has_more = cut || messages->size() == limit;
  return Ok(Json{{"chatId", chat}, {"messages", std::move(page)}, {"hasMore", has_more}});
}

CommandOutcome Ack(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  const Seq seq = args.U64("seq", true);
  if (!args.ok()) return BadArgs(args);
  auto c = ctx.service.Ack(caller.user, caller.device, chat, seq);
  if (!c.ok()) return Err(c.error());
  return Ok(codec::ToJson(*c, codec::kOwn));
}

CommandOutcome MarkRead(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  const Seq seq = args.U64("seq", true);
  if (!args.ok()) return BadArgs(args);
  auto c = ctx.service.MarkRead(caller.user, chat, seq);
  if (!c.ok()) return Err(c.error());
  return Ok(codec::ToJson(*c, codec::kOwn));
}

CommandOutcome GetReceipts(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  if (!args.ok()) return BadArgs(args);
  auto cursors = ctx.service.Receipts(caller.user, chat);
  if (!cursors.ok()) return Err(cursors.error());
  Json a = Json::array();
  for (const ReceiptCursor& c : *cursors) a.push_back(ToJson(c));
  return Ok(Json{{"chatId", chat}, {"receipts", std::move(a)}});
}

CommandOutcome DeleteMessage(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  const Seq seq = args.U64("seq", true);
  if (!args.ok()) return BadArgs(args);
  auto entry = ctx.service.DeleteMessage(caller.user, caller.device, chat, seq);
  if (!entry.ok()) return Err(entry.error());
  return Ok(Json{{"entry", ToJson(*entry)}});
}

// reportMessage {chatId, seq, reason?}: the message goes to admins' reports and its sender's spam score.
CommandOutcome ReportMessage(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  const Seq seq = args.U64("seq", true);
  const std::string reason = args.Str("reason", false);
  if (!args.ok()) return BadArgs(args);
  auto added = ctx.service.ReportMessage(caller.user, chat, seq, reason);
  if (!added.ok()) return Err(added.error());
  return Ok(Json{{"reportId", added->report.id}, {"duplicate", added->duplicate}});
}

CommandOutcome Typing(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  const bool typing = args.Bool("typing", true);
  if (!args.ok()) return BadArgs(args);
  Status s = ctx.service.Typing(caller.user, caller.device, chat, typing);
  if (!s.ok()) return Err(s);
  return Ok(Json::object());
}

CommandOutcome GetPresence(CommandContext& ctx, const Caller& caller, Args& args) {
  std::vector<UserId> users = args.U64Array("userIds", true);
  if (!args.ok()) return BadArgs(args);
  constexpr std::size_t kMaxUsers = 1000;
  if (users.size() > kMaxUsers) return Err(Status::InvalidArgument("userIds: at most 1000 users per call"));
  auto views = ctx.presence.Query(caller.user, users);
  if (!views.ok()) return Err(views.error());
  Json a = Json::array();
  for (const PresenceView& v : *views) {
    a.push_back(Json{{"userId", v.user},
                     {"visible", v.visible},
                     {"online", v.online},
                     {"lastSeen", v.last_seen ? Json(*v.last_seen) : Json(nullptr)}});
  }
  return Ok(Json{{"presence", std::move(a)}});
}

constexpr std::array kCommands = {
    CommandSpec{"register", false, &Register},
    CommandSpec{"login", false, &Login},
    CommandSpec{"resume", false, &Resume},
    CommandSpec{"logout", true, &Logout},
    CommandSpec{"changePassword", true, &ChangePassword},
    CommandSpec{"listDevices", true, &ListDevices},
    CommandSpec{"removeDevice", false, &RemoveDevice},  // Checks credentials itself when not signed in.
    CommandSpec{"setPushToken", true, &SetPushToken},
    CommandSpec{"setPrivacy", true, &SetPrivacy},
    CommandSpec{"lookupUser", true, &LookupUser},
    CommandSpec{"createChat", true, &CreateChat},
    CommandSpec{"modifyParticipants", true, &ModifyParticipants},
    CommandSpec{"leaveChat", true, &LeaveChat},
    CommandSpec{"updateChat", true, &UpdateChat},
    CommandSpec{"listChats", true, &ListChats},
    CommandSpec{"getChat", true, &GetChat},
    CommandSpec{"sendMessage", true, nullptr, &SendMessage},
    CommandSpec{"sync", true, &Sync},
    CommandSpec{"history", true, &History},
    CommandSpec{"ack", true, &Ack},
    CommandSpec{"markRead", true, &MarkRead},
    CommandSpec{"getReceipts", true, &GetReceipts},
    CommandSpec{"deleteMessage", true, &DeleteMessage},
    CommandSpec{"reportMessage", true, &ReportMessage},
    CommandSpec{"typing", true, &Typing},
    CommandSpec{"getPresence", true, &GetPresence},
    CommandSpec{"createAttachment", true, &CreateAttachmentCommand},
    CommandSpec{"blockUser", true, &BlockUserCommand},
    CommandSpec{"unblockUser", true, &UnblockUserCommand},
    CommandSpec{"listBlocked", true, &ListBlockedCommand},
    CommandSpec{"callInvite", true, &CallInvite},
    CommandSpec{"callAccept", true, &CallAccept},
    CommandSpec{"callReject", true, &CallReject},
    CommandSpec{"callIce", true, &CallIce},
    CommandSpec{"callHangup", true, &CallHangup},
};

}  // namespace

const CommandSpec* FindCommand(std::string_view name) {
  for (const CommandSpec& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::vector<std::string> CommandNames() {
  std::vector<std::string> names;
  for (const CommandSpec& c : kCommands) names.emplace_back(c.name);
  return names;
}

bool HashesPassword(const Request& request, const Caller& caller) {
  if (request.cmd == "register" || request.cmd == "login" || request.cmd == "changePassword") return true;
  return request.cmd == "removeDevice" && caller.user == 0;
}

bool ChangesOwnCredentials(const Request& request, const Caller& caller) {
  if (caller.user == 0) return false;
  if (request.cmd == "logout" || request.cmd == "changePassword") return true;
  if (request.cmd != "removeDevice") return false;
  auto it = request.args.find("deviceId");
  std::uint64_t device = 0;
  return it != request.args.end() && GetU64(*it, &device) && device == caller.device;
}

}  // namespace chat::detail
