// chat::Client's public API: connecting, raw calls, events, cursors and the typed commands. The link
// itself is in connection.cc, the local copy in offline.cc (client_internal.h lists every file).
#include "libchat/client.h"

#include "client_internal.h"

namespace chat {

using namespace client_internal;

// ---- Client ----

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  Close();
  impl_->Shutdown();
}

namespace {

// "HOST:PORT" or "[V6]:PORT" to its parts; nullopt when it is neither.
std::optional<std::pair<std::string, std::uint16_t>> ParseHostPort(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  std::string h = text.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return std::nullopt;
    h = h.substr(1, h.size() - 2);
  }
  unsigned long p = 0;
  for (std::size_t i = colon + 1; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned long>(text[i] - '0');
    if (p > 65535) return std::nullopt;
  }
  if (p == 0) return std::nullopt;
  return std::pair{h, static_cast<std::uint16_t>(p)};
}

}  // namespace

Status Client::Impl::Setup(const std::string& h, std::uint16_t p) {
  host = h;
  port = p;
  servers = {{h, p}};
  for (const std::string& entry : options.failover) {
    auto parsed = ParseHostPort(entry);
    if (!parsed) return Status::InvalidArgument("ClientOptions::failover: expected HOST:PORT, got '" + entry + "'");
    servers.push_back(*parsed);
  }
  current = 0;
  LIBCHAT_RETURN_IF_ERROR(InitTls());
  if (!options.local_store.empty()) {
    auto opened = LocalStore::Open(options.local_store);
    if (!opened.ok()) return opened.error();
    local = std::move(*opened);
    // The stored cursors seed LastSeq: entries already held are not taken for new ones.
    auto cursors = local->Cursors();
    if (!cursors.ok()) return cursors.error();
    for (const auto& [chat, seq] : *cursors) last_seq[chat] = seq;
    if (auto session = local->LoadSession(); session.ok()) token = session->token;
  }
  thread = std::thread([this] { ioc.run(); });
  return Status::Ok();
}

Status Client::Impl::OpenAnyLink() {
  Status last = Status::Unavailable("no server");
  for (std::size_t tried = 0; tried < servers.size(); ++tried) {
    const std::size_t i = (current + tried) % servers.size();
    host = servers[i].first;
    port = servers[i].second;
    last = OpenLink();
    if (last.ok()) {
      current = i;
      return last;
    }
    if (last.code() != StatusCode::kUnavailable) return last;
  }
  // Back to the one it started from: the next attempt begins there again.
  host = servers[current].first;
  port = servers[current].second;
  return last;
}

Status Client::Impl::SignedIn(const Session& s) {
  {
    std::lock_guard<std::mutex> lock(mu);
    user = s.user.id;
    device = s.device.id;
    token = s.token;
  }
  return local ? local->SaveSession(s) : Status::Ok();
}

Result<std::unique_ptr<Client>> Client::Connect(const std::string& host, std::uint16_t port, ClientOptions options) {
  auto impl = std::make_shared<Impl>(std::move(options));
  std::unique_ptr<Client> client(new Client(impl));
  LIBCHAT_RETURN_IF_ERROR(impl->Setup(host, port));
  LIBCHAT_RETURN_IF_ERROR(impl->OpenAnyLink());
  return client;
}

Result<std::unique_ptr<Client>> Client::Open(const std::string& host, std::uint16_t port, ClientOptions options) {
  auto impl = std::make_shared<Impl>(std::move(options));
  std::unique_ptr<Client> client(new Client(impl));
  LIBCHAT_RETURN_IF_ERROR(impl->Setup(host, port));
  Status s = impl->OpenAnyLink();
  // With a local copy, an unreachable server is a normal state: read locally, Reconnect later.
  if (!s.ok() && !(s.code() == StatusCode::kUnavailable && impl->local)) return s;
  return client;
}

Reply Client::Call(std::string_view cmd, std::string_view args_json) {
  Json args = Json::parse(args_json, nullptr, /*allow_exceptions=*/false);
  if (!args.is_object()) {
    Reply r;
    r.code = "bad_request";
    r.message = "Client::Call: args must be a JSON object";
    return r;
  }
  return impl_->Call(cmd, std::move(args));
}

Status Client::SendText(std::string frame) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->closed) return Status::Unavailable("connection closed");
  }
  impl_->Write(std::make_shared<const std::string>(std::move(frame)));
  return Status::Ok();
}

std::optional<Reply> Client::WaitForUnmatchedReply(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [this] { return !impl_->unmatched.empty() || impl_->closed; });
  if (impl_->unmatched.empty()) return std::nullopt;
  Reply r = std::move(impl_->unmatched.front());
  impl_->unmatched.pop_front();
  return r;
}

void Client::SetEventHandler(EventHandler handler) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->handler = std::move(handler);
}

std::optional<ClientEvent> Client::WaitForEvent(const std::function<bool(const ClientEvent&)>& match,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(impl_->mu);
  auto take_match = [&]() -> std::optional<ClientEvent> {
    // Scan from the front every time: another waiter may have removed events meanwhile.
    auto& events = impl_->events;
    for (auto it = events.begin(); it != events.end(); ++it) {
      if (match(*it)) {
        ClientEvent ev = std::move(*it);
        events.erase(it);
        return ev;
      }
    }
    return std::nullopt;
  };
  for (;;) {
    if (auto ev = take_match()) return ev;
    if (impl_->closed) return std::nullopt;
    if (impl_->cv.wait_until(lock, deadline) == std::cv_status::timeout) return take_match();
  }
}

std::vector<ClientEvent> Client::TakeEvents() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<ClientEvent> out(std::make_move_iterator(impl_->events.begin()),
                               std::make_move_iterator(impl_->events.end()));
  impl_->events.clear();
  return out;
}

std::uint64_t Client::dropped_events() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->dropped;
}

Seq Client::LastSeq(ChatId chat) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->last_seq.find(chat);
  return it == impl_->last_seq.end() ? 0 : it->second;
}

std::map<ChatId, Seq> Client::Cursors() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return std::map<ChatId, Seq>(impl_->last_seq.begin(), impl_->last_seq.end());
}

void Client::SetLastSeq(ChatId chat, Seq seq) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->last_seq[chat] = seq;
}

bool Client::connected() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->open && !impl_->closed;
}

std::optional<CloseInfo> Client::WaitForClose(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [this] { return impl_->closed; })) return std::nullopt;
  return impl_->close_info;
}

void Client::Close() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->closed || !impl_->open) return;
  }
  impl_->RequestClose();
  // The server answers a close at once; a dead one is not waited for long.
  WaitForClose(std::chrono::seconds(2)).reset();
}

std::string Client::server() const {
  // host and port change only while disconnected, from the thread that calls Reconnect.
  const bool v6 = impl_->host.find(':') != std::string::npos;
  return (v6 ? "[" + impl_->host + "]" : impl_->host) + ":" + std::to_string(impl_->port);
}

UserId Client::user() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->user;
}

DeviceId Client::device() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->device;
}

// ---- Typed commands ----

Result<User> Client::Register(const std::string& username, const std::string& password,
                              const std::string& display_name) {
  Json args{{"username", username}, {"password", password}};
  if (!display_name.empty()) args["displayName"] = display_name;
  return ParseReply<User>(impl_->Call("register", std::move(args)), [](const Json& j) { return UserFrom(j.at("user")); });
}

Result<Session> Client::Login(const std::string& username, const std::string& password,
                              const std::string& device_kind, const std::string& device_name) {
  Json args{{"username", username}, {"password", password}, {"device", {{"kind", device_kind}, {"name", device_name}}}};
  auto s = ParseReply<Session>(impl_->Call("login", std::move(args)), [](const Json& j) { return SessionFrom(j); });
  if (s.ok()) LIBCHAT_RETURN_IF_ERROR(impl_->SignedIn(*s));
  return s;
}

Result<Session> Client::Resume(const std::string& token) {
  auto s = ParseReply<Session>(impl_->Call("resume", Json{{"token", token}}), [](const Json& j) { return SessionFrom(j); });
  if (s.ok()) {
    s->token = token;  // Not echoed by the server; kept with the session.
    LIBCHAT_RETURN_IF_ERROR(impl_->SignedIn(*s));
  }
  return s;
}

Status Client::Logout() {
  Status s = impl_->Call("logout", Json::object()).status();
  if (s.ok()) {
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->user = 0;
      impl_->device = 0;
      impl_->token.clear();
    }
    // The device is gone: so is its local copy.
    if (impl_->local) LIBCHAT_RETURN_IF_ERROR(impl_->local->Clear());
  }
  return s;
}

Result<std::string> Client::ChangePassword(const std::string& old_password, const std::string& new_password) {
  auto token = ParseReply<std::string>(
      impl_->Call("changePassword", Json{{"oldPassword", old_password}, {"newPassword", new_password}}),
      [](const Json& j) { return j.at("token").get<std::string>(); });
  if (token.ok()) {
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->token = *token;
    }
    if (impl_->local) {
      auto session = impl_->local->LoadSession();
      if (session.ok()) {
        session->token = *token;
        LIBCHAT_RETURN_IF_ERROR(impl_->local->SaveSession(*session));
      }
    }
  }
  return token;
}

Result<std::vector<Device>> Client::ListDevices() {
  return ParseReply<std::vector<Device>>(impl_->Call("listDevices", Json::object()), [](const Json& j) {
    std::vector<Device> out;
    for (const Json& d : j.at("devices")) out.push_back(DeviceFrom(d));
    return out;
  });
}

Status Client::RemoveDevice(DeviceId device) {
  return impl_->Call("removeDevice", Json{{"deviceId", device}}).status();
}

Status Client::RemoveDevice(const std::string& username, const std::string& password, DeviceId device) {
  return impl_->Call("removeDevice", Json{{"username", username}, {"password", password}, {"deviceId", device}})
      .status();
}

Status Client::SetPrivacy(LastSeenVisibility last_seen) {
  return impl_->Call("setPrivacy", Json{{"lastSeen", ToString(last_seen)}}).status();
}

Result<User> Client::LookupUser(const std::string& username) {
  return ParseReply<User>(impl_->Call("lookupUser", Json{{"username", username}}),
                          [](const Json& j) { return UserFrom(j.at("user")); });
}

Result<User> Client::LookupUser(UserId user) {
  return ParseReply<User>(impl_->Call("lookupUser", Json{{"userId", user}}),
                          [](const Json& j) { return UserFrom(j.at("user")); });
}

Result<Chat> Client::CreateGroup(const std::string& name, const std::vector<UserId>& members) {
  return ParseReply<Chat>(impl_->Call("createChat", Json{{"kind", "group"}, {"name", name}, {"members", members}}),
                          [](const Json& j) { return ChatFrom(j.at("chat")); });
}

Result<Chat> Client::CreateDirect(UserId other) {
  return ParseReply<Chat>(impl_->Call("createChat", Json{{"kind", "direct"}, {"userId", other}}),
                          [](const Json& j) { return ChatFrom(j.at("chat")); });
}

Result<ChatView> Client::GetChat(ChatId chat) {
  return ParseReply<ChatView>(impl_->Call("getChat", Json{{"chatId", chat}}), [](const Json& j) {
    ChatView v;
    v.chat = ChatFrom(j.at("chat"));
    v.head = j.at("head").get<Seq>();
    for (const Json& p : j.at("participants")) {
      Participant part;
      part.chat = v.chat.id;
      part.user = p.value("userId", UserId{0});
      if (!Parse(p.value("role", std::string("member")), &part.role)) part.role = Role::kMember;
      part.joined_at = p.value("joinedAt", TimeMs{0});
      part.joined_seq = p.value("joinedSeq", Seq{0});
      v.participants.push_back(part);
    }
    return v;
  });
}

Result<std::vector<ChatSummary>> Client::ListChats() {
  auto chats = ParseReply<std::vector<ChatSummary>>(impl_->Call("listChats", Json::object()), [](const Json& j) {
    std::vector<ChatSummary> out;
    for (const Json& s : j.at("chats")) out.push_back(SummaryFrom(s));
    return out;
  });
  if (chats.ok() && impl_->local) LIBCHAT_RETURN_IF_ERROR(impl_->StoreChatList(*chats));
  return chats;
}

Result<AppendResult> Client::SendMessage(ChatId chat, const std::string& client_id, const std::string& body) {
  return SendMessage(chat, client_id, body, SendOptions{});
}

Result<AppendResult> Client::SendMessage(ChatId chat, const std::string& client_id, const std::string& body,
                                         const SendOptions& more) {
  Impl* impl = impl_.get();
  Json args{{"chatId", chat}, {"clientId", client_id}, {"body", body}};
  if (more.kind != MessageKind::kText) args["kind"] = ToString(more.kind);
  if (!more.attachments.empty()) args["attachments"] = more.attachments;
  if (more.reply_to != 0) args["replyTo"] = more.reply_to;
  Message own;
  own.chat = chat;
  own.client_id = client_id;
  own.kind = more.kind;
  own.body = body;
  own.attachments = more.attachments;
  own.reply_to = more.reply_to;
  auto reply = impl_->Call("sendMessage", std::move(args), [impl, own](const Json& j) mutable {
    // Our own entry: seen without a gap only if it follows what we saw. With a local copy it is
    // stored now, since its newMessage event will be dropped as already seen.
    own.seq = j.at("seq").get<Seq>();
    own.id = j.at("messageId").get<std::string>();
    own.timestamp = j.at("timestamp").get<TimeMs>();
    {
      std::lock_guard<std::mutex> lock(impl->mu);
      own.sender = impl->user;
      own.sender_device = impl->device;
      Seq& last = impl->last_seq[own.chat];
      if (own.seq == last + 1) last = own.seq;
    }
    if (impl->local) impl->StoreEntry(own);
  });
  return ParseReply<AppendResult>(reply, [&](const Json& j) {
    AppendResult r;
    r.message = own;
    r.message.id = j.at("messageId").get<std::string>();
    r.message.seq = j.at("seq").get<Seq>();
    r.message.timestamp = j.at("timestamp").get<TimeMs>();
    r.duplicate = j.at("duplicate").get<bool>();
    return r;
  });
}

Result<SyncResult> Client::Sync(const std::map<ChatId, Seq>& after, std::size_t limit) {
  Json args = Json::object();
  if (!after.empty()) {
    Json chats = Json::object();
    for (const auto& [chat, seq] : after) chats[std::to_string(chat)] = seq;
    args["chats"] = std::move(chats);
  }
  if (limit != 0) args["limit"] = limit;
  Impl* impl = impl_.get();
  auto reply = impl_->Call("sync", std::move(args), [impl](const Json& j) { impl->AdvanceFromSync(j); });
  return ParseReply<SyncResult>(reply, [](const Json& j) {
    SyncResult r;
    r.more = j.value("more", false);
    for (const Json& c : j.at("chats")) {
      SyncPage p;
      p.chat = c.at("chatId").get<ChatId>();
      p.messages = MessagesFrom(c.at("messages"));
      p.head = c.at("head").get<Seq>();
      p.has_more = c.at("hasMore").get<bool>();
      r.chats.push_back(std::move(p));
    }
    return r;
  });
}

Result<std::vector<Message>> Client::History(ChatId chat, Seq before, std::size_t limit) {
  Json args{{"chatId", chat}};
  if (before != 0) args["before"] = before;
  if (limit != 0) args["limit"] = limit;
  auto messages = ParseReply<std::vector<Message>>(impl_->Call("history", std::move(args)),
                                                   [](const Json& j) { return MessagesFrom(j.at("messages")); });
  // Older pages join the local copy; the cursor stays where it is (history is below it).
  if (messages.ok() && impl_->local) LIBCHAT_RETURN_IF_ERROR(impl_->local->PutEntries(chat, *messages, 0));
  return messages;
}

Result<ReceiptCursor> Client::Ack(ChatId chat, Seq seq) {
  return ParseReply<ReceiptCursor>(impl_->Call("ack", Json{{"chatId", chat}, {"seq", seq}}),
                                   [this](const Json& j) {
                                     ReceiptCursor c = CursorFrom(j);
                                     c.user = user();
                                     return c;
                                   });
}

Result<ReceiptCursor> Client::MarkRead(ChatId chat, Seq seq) {
  return ParseReply<ReceiptCursor>(impl_->Call("markRead", Json{{"chatId", chat}, {"seq", seq}}),
                                   [this](const Json& j) {
                                     ReceiptCursor c = CursorFrom(j);
                                     c.user = user();
                                     return c;
                                   });
}

Result<Message> Client::DeleteMessage(ChatId chat, Seq seq) {
  return ParseReply<Message>(impl_->Call("deleteMessage", Json{{"chatId", chat}, {"seq", seq}}),
                             [](const Json& j) { return MessageFrom(j.at("entry")); });
}

Status Client::Typing(ChatId chat, bool typing) {
  return impl_->Call("typing", Json{{"chatId", chat}, {"typing", typing}}).status();
}

Result<std::vector<PresenceInfo>> Client::GetPresence(const std::vector<UserId>& users) {
  return ParseReply<std::vector<PresenceInfo>>(impl_->Call("getPresence", Json{{"userIds", users}}), [](const Json& j) {
    std::vector<PresenceInfo> out;
    for (const Json& p : j.at("presence")) {
      PresenceInfo info;
      info.user = p.value("userId", UserId{0});
      info.visible = p.value("visible", false);
      info.online = p.value("online", false);
      if (auto ls = p.find("lastSeen"); ls != p.end() && ls->is_number()) info.last_seen = ls->get<TimeMs>();
      out.push_back(info);
    }
    return out;
  });
}

Status Client::Ping() { return impl_->Call("ping", Json::object()).status(); }

Status Client::BlockUser(UserId user) { return impl_->Call("blockUser", Json{{"userId", user}}).status(); }

Status Client::UnblockUser(UserId user) { return impl_->Call("unblockUser", Json{{"userId", user}}).status(); }

Status Client::ReportMessage(ChatId chat, Seq seq, const std::string& reason) {
  Json args{{"chatId", chat}, {"seq", seq}};
  if (!reason.empty()) args["reason"] = reason;
  return impl_->Call("reportMessage", std::move(args)).status();
}

}  // namespace chat
