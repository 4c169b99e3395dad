#include "libchat/client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>
#include <optional>
#include <type_traits>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

namespace chat {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;
using Json = nlohmann::json;

constexpr std::size_t kMaxUnmatched = 1000;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// ---- JSON -> domain. These throw nlohmann::json exceptions on a wrong type; every caller catches
// them (Parse below), so none crosses the Client API.

template <typename T>
T Field(const Json& j, const char* key, T fallback = T()) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

Message MessageFrom(const Json& j) {
  Message m;
  m.chat = Field<ChatId>(j, "chatId");
  m.seq = Field<Seq>(j, "seq");
  m.id = Field<std::string>(j, "id");
  m.sender = Field<UserId>(j, "sender");
  m.sender_device = Field<DeviceId>(j, "senderDevice");
  m.client_id = Field<std::string>(j, "clientId");
  if (!Parse(Field<std::string>(j, "kind", "text"), &m.kind)) m.kind = MessageKind::kText;
  m.body = Field<std::string>(j, "body");
  m.attachments = Field<std::vector<std::string>>(j, "attachments");
  m.reply_to = Field<Seq>(j, "replyTo");
  m.ref_seq = Field<Seq>(j, "refSeq");
  m.timestamp = Field<TimeMs>(j, "timestamp");
  m.deleted = Field<bool>(j, "deleted");
  return m;
}

std::vector<Message> MessagesFrom(const Json& a) {
  std::vector<Message> out;
  for (const Json& m : a) out.push_back(MessageFrom(m));
  return out;
}

User UserFrom(const Json& j) {
  User u;
  u.id = Field<UserId>(j, "id");
  u.username = Field<std::string>(j, "username");
  u.display_name = Field<std::string>(j, "displayName");
  u.email = Field<std::string>(j, "email");
  u.avatar_url = Field<std::string>(j, "avatarUrl");
  u.created_at = Field<TimeMs>(j, "createdAt");
  if (!Parse(Field<std::string>(j, "lastSeenVisibility", "everyone"), &u.last_seen_visibility)) {
    u.last_seen_visibility = LastSeenVisibility::kEveryone;
  }
  return u;
}

Device DeviceFrom(const Json& j) {
  Device d;
  d.id = Field<DeviceId>(j, "id");
  d.kind = Field<std::string>(j, "kind");
  d.name = Field<std::string>(j, "name");
  d.push_provider = Field<std::string>(j, "pushProvider");
  d.created_at = Field<TimeMs>(j, "createdAt");
  d.last_seen = Field<TimeMs>(j, "lastSeen");
  return d;
}

Chat ChatFrom(const Json& j) {
  Chat c;
  c.id = Field<ChatId>(j, "id");
  if (!Parse(Field<std::string>(j, "kind", "group"), &c.kind)) c.kind = ChatKind::kGroup;
  c.name = Field<std::string>(j, "name");
  c.metadata = Field<std::string>(j, "metadata");
  c.member_limit = Field<std::uint32_t>(j, "memberLimit");
  c.retention_ms = Field<TimeMs>(j, "retentionMs");
  c.created_by = Field<UserId>(j, "createdBy");
  c.created_at = Field<TimeMs>(j, "createdAt");
  return c;
}

ReceiptCursor CursorFrom(const Json& j) {
  ReceiptCursor c;
  c.chat = Field<ChatId>(j, "chatId");
  c.user = Field<UserId>(j, "userId");
  c.delivered = Field<Seq>(j, "delivered");
  c.read = Field<Seq>(j, "read");
  return c;
}

Session SessionFrom(const Json& j) {
  Session s;
  s.user = UserFrom(j.at("user"));
  s.device = DeviceFrom(j.at("device"));
  s.token = Field<std::string>(j, "token");
  return s;
}

// Runs `f` on the parsed result of a successful reply; a reply error or a malformed result becomes
// the returned Status.
template <typename T, typename F>
Result<T> ParseReply(const Reply& r, F f) {
  if (!r.ok) return r.status();
  try {
    Json j = Json::parse(r.result);
    return f(j);
  } catch (const Json::exception& e) {
    return Status::Internal(std::string("malformed response from server: ") + e.what());
  }
}

}  // namespace

// ---- Reply ----

Status Reply::status() const {
  if (ok) return Status::Ok();
  if (code == "bad_request" || code == "frame_too_large") {
    return Status::InvalidArgument(code + ": " + message);
  }
  if (code == "unknown_command" || code == "unsupported_version") return Status::NotSupported(code + ": " + message);
  for (int c = static_cast<int>(StatusCode::kNotFound); c <= static_cast<int>(StatusCode::kNotSupported); ++c) {
    // The server's retry hint (rate limits, login backoff) travels with the status.
    if (StatusCodeName(static_cast<StatusCode>(c)) == code) {
      return Status(static_cast<StatusCode>(c), message).WithRetryAfter(retry_after_ms);
    }
  }
  return Status::Internal(code + ": " + message);
}

// ---- Impl ----

struct Client::Impl {
  using PlainWs = websocket::stream<beast::tcp_stream>;
  using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  explicit Impl(ClientOptions o) : options(std::move(o)) {}

  // Sets up TLS when options.tls: the context (trusting options.tls_ca_file, or the system's CAs)
  // and the stream. InvalidArgument if the CA file cannot be loaded.
  Status InitTls();
  // Runs f(ws) on the stream in use (plain or TLS). f's code is compiled for both.
  template <class F>
  void WithWs(F&& f) {
    if (tls_ws) {
      f(*tls_ws);
    } else {
      f(plain_ws);
    }
  }

  // I/O thread side. Handlers capture `this`: the Impl outlives the thread and the io_context.
  void DoConnect(std::string host, std::uint16_t port);
  template <class Ws>
  void DoConnectOn(Ws& ws, std::string host, std::uint16_t port);
  template <class Ws>
  void DoUpgrade(Ws& ws, const std::string& host, std::uint16_t port);
  void DoRead();
  void HandleFrame(const std::string& text);
  void HandleEvent(const std::string& name, const Json& data);
  void Write(std::shared_ptr<const std::string> frame);
  void DoWrite();
  void DoClose();
  void MarkClosed(CloseInfo info);

  // Caller side.
  Reply Call(std::string_view cmd, Json args, std::function<void(const Json&)> hook = {});
  void AdvanceFromSync(const Json& result);
  void AdvanceTo(ChatId chat, Seq seq);
  void Shutdown();

  const ClientOptions options;
  net::io_context ioc{1};
  net::executor_work_guard<net::io_context::executor_type> guard{ioc.get_executor()};
  std::unique_ptr<ssl::context> tls_ctx;  // Set by InitTls.
  PlainWs plain_ws{ioc};
  std::optional<TlsWs> tls_ws;            // Set by InitTls: the stream used instead of plain_ws.
  tcp::resolver resolver{ioc};
  beast::flat_buffer buffer;
  std::deque<std::shared_ptr<const std::string>> outbox;  // I/O thread only.
  bool writing = false;                                   // I/O thread only.
  bool close_requested = false;                           // I/O thread only.
  std::thread thread;

  struct Pending {
    bool done = false;
    Reply reply;
    std::function<void(const Json&)> hook;  // Runs on the I/O thread before later frames are handled.
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::int64_t next_id = 1;                                          // GUARDED_BY(mu)
  std::unordered_map<std::int64_t, std::shared_ptr<Pending>> pending;  // GUARDED_BY(mu)
  std::deque<Reply> unmatched;                                       // GUARDED_BY(mu)
  std::deque<ClientEvent> events;                                    // GUARDED_BY(mu)
  std::uint64_t dropped = 0;                                         // GUARDED_BY(mu)
  EventHandler handler;                                              // GUARDED_BY(mu)
  std::unordered_map<ChatId, Seq> last_seq;                          // GUARDED_BY(mu)
  bool open = false;                                                 // GUARDED_BY(mu)
  bool closed = false;                                               // GUARDED_BY(mu)
  CloseInfo close_info;                                              // GUARDED_BY(mu)
  UserId user = 0;                                                   // GUARDED_BY(mu)
  DeviceId device = 0;                                               // GUARDED_BY(mu)
};

Status Client::Impl::InitTls() {
  if (!options.tls) return Status::Ok();
  tls_ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  tls_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                       ec);
  if (options.tls_ca_file.empty()) {
    tls_ctx->set_default_verify_paths(ec);
  } else {
    tls_ctx->load_verify_file(options.tls_ca_file, ec);
  }
  if (ec) {
    return Status::InvalidArgument("TLS CA file '" + options.tls_ca_file + "': " + ec.message());
  }
  tls_ctx->set_verify_mode(options.tls_verify ? ssl::verify_peer : ssl::verify_none);
  tls_ws.emplace(ioc, *tls_ctx);
  return Status::Ok();
}

void Client::Impl::DoConnect(std::string host, std::uint16_t port) {
  WithWs([&](auto& ws) { DoConnectOn(ws, std::move(host), port); });
}

template <class Ws>
void Client::Impl::DoConnectOn(Ws& ws, std::string host, std::uint16_t port) {
  resolver.async_resolve(host, std::to_string(port), [this, &ws, host, port](beast::error_code ec,
                                                                              tcp::resolver::results_type results) {
    if (ec) return MarkClosed({0, "resolve " + host + ": " + ec.message()});
    // Bounds the TCP connect and, with TLS, the TLS handshake.
    beast::get_lowest_layer(ws).expires_after(options.connect_timeout);
    beast::get_lowest_layer(ws).async_connect(results, [this, &ws, host, port](beast::error_code ec,
                                                                               const tcp::endpoint&) {
      if (ec) return MarkClosed({0, "connect: " + ec.message()});
      // Small frames, latency matters: no Nagle delay.
      beast::error_code ignored;
      beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true), ignored);
      if constexpr (std::is_same_v<Ws, TlsWs>) {
        // SNI, so that a server with several certificates picks this host's, and the certificate
        // must name the host (DNS name or IP address) unless verification is off.
        const std::string& name = options.tls_server_name.empty() ? host : options.tls_server_name;
        SSL_set_tlsext_host_name(ws.next_layer().native_handle(), name.c_str());
        if (options.tls_verify) ws.next_layer().set_verify_callback(ssl::host_name_verification(name));
        ws.next_layer().async_handshake(ssl::stream_base::client, [this, &ws, host, port](beast::error_code ec) {
          if (ec) return MarkClosed({0, "TLS handshake: " + ec.message()});
          DoUpgrade(ws, host, port);
        });
      } else {
        DoUpgrade(ws, host, port);
      }
    });
  });
}

template <class Ws>
void Client::Impl::DoUpgrade(Ws& ws, const std::string& host, std::uint16_t port) {
  // The websocket stream's own timeouts take over from the tcp stream's.
  beast::get_lowest_layer(ws).expires_never();
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws.read_message_max(options.max_frame_bytes);
  ws.async_handshake(host + ":" + std::to_string(port), options.path, [this](beast::error_code ec) {
    if (ec) return MarkClosed({0, "websocket handshake: " + ec.message()});
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
    DoRead();
  });
}

void Client::Impl::DoRead() {
  WithWs([this](auto& ws) {
    ws.async_read(buffer, [this, &ws](beast::error_code ec, std::size_t) {
      if (ec) {
        if (ec == websocket::error::closed) {
          return MarkClosed({static_cast<int>(ws.reason().code), std::string(ws.reason().reason.c_str())});
        }
        return MarkClosed({0, ec.message()});
      }
      std::string text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      HandleFrame(text);
      DoRead();
    });
  });
}

void Client::Impl::HandleFrame(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;  // Not protocol v1; nothing waits for it.
  if (auto ev = j.find("event"); ev != j.end() && ev->is_string()) {
    auto data = j.find("data");
    return HandleEvent(ev->get<std::string>(), data != j.end() ? *data : Json::object());
  }
  auto id = j.find("id");
  if (id == j.end()) return;
  Reply r;
  r.raw = text;
  auto ok = j.find("ok");
  r.ok = ok != j.end() && ok->is_boolean() && ok->get<bool>();
  Json result;
  if (r.ok) {
    if (auto it = j.find("result"); it != j.end()) result = *it;
    r.result = Dump(result);
  } else if (auto e = j.find("error"); e != j.end() && e->is_object()) {
    if (auto c = e->find("code"); c != e->end() && c->is_string()) r.code = c->get<std::string>();
    if (auto m = e->find("message"); m != e->end() && m->is_string()) r.message = m->get<std::string>();
    if (auto ra = e->find("retryAfterMs"); ra != e->end() && ra->is_number_integer()) {
      r.retry_after_ms = ra->get<std::int64_t>();
    }
  }
  std::shared_ptr<Pending> p;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (id->is_number_integer()) {
      auto it = pending.find(id->get<std::int64_t>());
      if (it != pending.end()) {
        p = it->second;
        pending.erase(it);
      }
    }
    if (!p) {
      // Nobody waits for it: an answer to a raw frame (SendText), or to a call that timed out.
      unmatched.push_back(std::move(r));
      if (unmatched.size() > kMaxUnmatched) unmatched.pop_front();
    }
  }
  if (!p) {
    cv.notify_all();
    return;
  }
  // The hook runs here, on the I/O thread, so that its effect (LastSeq) precedes the next frame.
  if (r.ok && p->hook) {
    try {
      p->hook(result);
    } catch (const Json::exception&) {
      // A malformed result is reported by the typed method that parses it.
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    p->reply = std::move(r);
    p->done = true;
  }
  cv.notify_all();
}

void Client::Impl::HandleEvent(const std::string& name, const Json& data) {
  ClientEvent ev;
  ev.name = name;
  ev.data = Dump(data);
  try {
    const char* entry_key = name == "newMessage" ? "message"
                            : (name == "chatUpdate" || name == "messageDeleted") ? "entry"
                                                                                 : nullptr;
    if (entry_key != nullptr && data.contains(entry_key)) {
      ev.entry = MessageFrom(data.at(entry_key));
      ev.chat = ev.entry->chat;
      ev.seq = ev.entry->seq;
    } else {
      ev.chat = Field<ChatId>(data, "chatId");
    }
    ev.user = Field<UserId>(data, "userId");
  } catch (const Json::exception&) {
    ev.entry.reset();  // Keep the raw data; the event carries no entry we can track.
  }
  EventHandler h;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (ev.entry && ev.seq != 0) {
      Seq& last = last_seq[ev.chat];
      if (ev.seq <= last) return;  // Already seen (live after sync, or twice): drop.
      if (ev.seq == last + 1) {
        last = ev.seq;
      } else {
        ev.gap = true;
      }
    }
    h = handler;
    if (!h) {
      events.push_back(std::move(ev));
      if (events.size() > options.max_buffered_events) {
        events.pop_front();
        ++dropped;
      }
    }
  }
  if (h) {
    h(ev);
  } else {
    cv.notify_all();
  }
}

void Client::Impl::Write(std::shared_ptr<const std::string> frame) {
  net::post(ioc, [this, frame = std::move(frame)]() mutable {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed) return;
    }
    outbox.push_back(std::move(frame));
    if (!writing) DoWrite();
  });
}

void Client::Impl::DoWrite() {
  writing = true;
  WithWs([this](auto& ws) {
    ws.text(true);
    ws.async_write(net::buffer(*outbox.front()), [this](beast::error_code ec, std::size_t) {
      writing = false;
      if (ec) {
        outbox.clear();
        return MarkClosed({0, "write: " + ec.message()});
      }
      outbox.pop_front();
      if (!outbox.empty()) return DoWrite();
      if (close_requested) DoClose();
    });
  });
}

void Client::Impl::DoClose() {
  // Over TLS, Beast's teardown sends close_notify before closing the TCP connection.
  WithWs([this](auto& ws) {
    ws.async_close(websocket::close_code::normal, [this](beast::error_code) {
      // The pending read completes with websocket::error::closed and records the server's answer;
      // this covers a close that failed before that.
      MarkClosed({1000, ""});
    });
  });
}

void Client::Impl::MarkClosed(CloseInfo info) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    closed = true;
    close_info = std::move(info);
  }
  cv.notify_all();
}

Reply Client::Impl::Call(std::string_view cmd, Json args, std::function<void(const Json&)> hook) {
  auto p = std::make_shared<Pending>();
  p->hook = std::move(hook);
  std::int64_t id;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) {
      Reply r;
      r.code = "unavailable";
      r.message = "connection closed";
      return r;
    }
    id = next_id++;
    pending.emplace(id, p);
  }
  args["id"] = id;
  args["cmd"] = cmd;
  Write(std::make_shared<const std::string>(Dump(args)));
  std::unique_lock<std::mutex> lock(mu);
  const bool done = cv.wait_for(lock, options.request_timeout, [&] { return p->done || closed; });
  if (p->done) return std::move(p->reply);
  pending.erase(id);
  Reply r;
  r.code = "unavailable";
  r.message = done ? "connection closed" : "no response within " + std::to_string(options.request_timeout.count()) + " ms";
  return r;
}

void Client::Impl::AdvanceTo(ChatId chat, Seq seq) {
  std::lock_guard<std::mutex> lock(mu);
  Seq& last = last_seq[chat];
  if (seq > last) last = seq;
}

void Client::Impl::AdvanceFromSync(const Json& result) {
  // A sync page is contiguous from where it started: its last entry is seen without a gap (entries
  // it skipped are gone by retention or predate the user joining).
  for (const Json& page : result.at("chats")) {
    const auto& messages = page.at("messages");
    if (messages.empty()) continue;
    AdvanceTo(page.at("chatId").get<ChatId>(), messages.back().at("seq").get<Seq>());
  }
}

void Client::Impl::Shutdown() {
  guard.reset();
  ioc.stop();
  if (thread.joinable()) thread.join();
}

// ---- Client ----

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  Close();
  impl_->Shutdown();
}

Result<std::unique_ptr<Client>> Client::Connect(const std::string& host, std::uint16_t port, ClientOptions options) {
  auto impl = std::make_shared<Impl>(std::move(options));
  LIBCHAT_RETURN_IF_ERROR(impl->InitTls());
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->ioc.run(); });
  std::unique_ptr<Client> client(new Client(impl));
  net::post(impl->ioc, [raw, host, port] { raw->DoConnect(host, port); });
  {
    std::unique_lock<std::mutex> lock(impl->mu);
    impl->cv.wait_for(lock, impl->options.connect_timeout, [raw] { return raw->open || raw->closed; });
    if (!impl->open) {
      std::string why = impl->closed ? impl->close_info.reason : "timed out";
      lock.unlock();
      return Status::Unavailable(std::string(impl->options.tls ? "wss://" : "ws://") + host + ":" + std::to_string(port) + impl->options.path + ": " + why);
    }
  }
  if (impl->options.hello) {
    Reply r = impl->Call("hello", Json{{"version", 1}});
    if (!r.ok) return r.status();
  }
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
  Impl* raw = impl_.get();
  net::post(impl_->ioc, [raw] {
    if (raw->close_requested) return;
    raw->close_requested = true;
    if (!raw->writing) raw->DoClose();
  });
  // The server answers a close at once; a dead one is not waited for long.
  WaitForClose(std::chrono::seconds(2)).reset();
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
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->user = s->user.id;
    impl_->device = s->device.id;
  }
  return s;
}

Result<Session> Client::Resume(const std::string& token) {
  auto s = ParseReply<Session>(impl_->Call("resume", Json{{"token", token}}), [](const Json& j) { return SessionFrom(j); });
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->user = s->user.id;
    impl_->device = s->device.id;
  }
  return s;
}

Status Client::Logout() {
  Status s = impl_->Call("logout", Json::object()).status();
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->user = 0;
    impl_->device = 0;
  }
  return s;
}

Result<std::string> Client::ChangePassword(const std::string& old_password, const std::string& new_password) {
  return ParseReply<std::string>(
      impl_->Call("changePassword", Json{{"oldPassword", old_password}, {"newPassword", new_password}}),
      [](const Json& j) { return j.at("token").get<std::string>(); });
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
      part.user = Field<UserId>(p, "userId");
      if (!Parse(Field<std::string>(p, "role", "member"), &part.role)) part.role = Role::kMember;
      part.joined_at = Field<TimeMs>(p, "joinedAt");
      part.joined_seq = Field<Seq>(p, "joinedSeq");
      v.participants.push_back(part);
    }
    return v;
  });
}

Result<std::vector<ChatSummary>> Client::ListChats() {
  return ParseReply<std::vector<ChatSummary>>(impl_->Call("listChats", Json::object()), [](const Json& j) {
    std::vector<ChatSummary> out;
    for (const Json& s : j.at("chats")) {
      ChatSummary c;
      c.chat = ChatFrom(s.at("chat"));
      if (!Parse(Field<std::string>(s, "role", "member"), &c.role)) c.role = Role::kMember;
      c.head = Field<Seq>(s, "head");
      c.read = Field<Seq>(s, "read");
      c.unread = Field<std::uint64_t>(s, "unread");
      if (auto m = s.find("lastMessage"); m != s.end() && m->is_object()) c.last_message = MessageFrom(*m);
      out.push_back(std::move(c));
    }
    return out;
  });
}

Result<AppendResult> Client::SendMessage(ChatId chat, const std::string& client_id, const std::string& body) {
  Impl* impl = impl_.get();
  auto reply = impl_->Call("sendMessage", Json{{"chatId", chat}, {"clientId", client_id}, {"body", body}},
                           [impl, chat](const Json& j) {
                             // Our own entry: seen without a gap only if it follows what we saw.
                             const Seq seq = j.at("seq").get<Seq>();
                             std::lock_guard<std::mutex> lock(impl->mu);
                             Seq& last = impl->last_seq[chat];
                             if (seq == last + 1) last = seq;
                           });
  return ParseReply<AppendResult>(reply, [&](const Json& j) {
    AppendResult r;
    r.message.chat = chat;
    r.message.client_id = client_id;
    r.message.body = body;
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
    r.more = Field<bool>(j, "more");
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
  return ParseReply<std::vector<Message>>(impl_->Call("history", std::move(args)),
                                          [](const Json& j) { return MessagesFrom(j.at("messages")); });
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
      info.user = Field<UserId>(p, "userId");
      info.visible = Field<bool>(p, "visible");
      info.online = Field<bool>(p, "online");
      if (auto ls = p.find("lastSeen"); ls != p.end() && ls->is_number()) info.last_seen = ls->get<TimeMs>();
      out.push_back(info);
    }
    return out;
  });
}

Status Client::Ping() { return impl_->Call("ping", Json::object()).status(); }

}  // namespace chat
