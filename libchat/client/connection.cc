// chat::Client's WebSocket link: connecting (TLS optional), hello, reading and demultiplexing frames,
// one write at a time, closing. Everything here runs on the client's I/O thread except OpenLink and
// Call, which block their caller until the I/O thread answers.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "client_internal.h"
#include "client_stream.h"

namespace chat {

using namespace client_internal;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

namespace client_internal {

// One WebSocket connection, plain or TLS (ClientStream: this code is compiled once for both).
// Handlers hold the Link by shared_ptr, so an old link's last completions find it alive. I/O thread
// only.
struct Link {
  Link(net::io_context& ioc, ssl::context* tls) : ws(ioc, tls), resolver(ioc) {}

  websocket::stream<ClientStream> ws;
  tcp::resolver resolver;
  beast::flat_buffer buffer;
  std::deque<std::shared_ptr<const std::string>> outbox;
  bool writing = false;
  bool close_requested = false;
  std::uint64_t generation = 0;  // Which Connect/Reconnect made it.
};

}  // namespace client_internal

namespace {
constexpr std::size_t kMaxUnmatched = 1000;
}  // namespace

Status Client::Impl::InitTls() {
  if (!options.tls) return Status::Ok();
  tls_ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
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
  return Status::Ok();
}

Status Client::Impl::OpenLink() {
  std::uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (open && !closed) return Status::FailedPrecondition("already connected");
    gen = ++generation;
    open = false;
    closed = false;
    close_info = {};
  }
  auto l = std::make_shared<Link>(ioc, tls_ctx.get());
  l->generation = gen;
  net::post(ioc, [this, l] {
    link = l;
    DoConnect(l);
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, options.connect_timeout, [this, gen] { return generation != gen || open || closed; });
    if (!open || generation != gen) {
      std::string why = closed ? close_info.reason : "timed out";
      lock.unlock();
      // A connect still in progress must not complete into this generation later.
      MarkClosed(gen, {0, why});
      return Status::Unavailable(std::string(options.tls ? "wss://" : "ws://") + host + ":" + std::to_string(port) +
                                 options.path + ": " + why);
    }
  }
  if (options.hello) {
    Reply r = Call("hello", Json{{"version", 1}});
    if (!r.ok) return r.status();
  }
  return Status::Ok();
}

void Client::Impl::DoConnect(std::shared_ptr<Link> l) {
  l->resolver.async_resolve(host, std::to_string(port), [this, l](beast::error_code ec,
                                                                  tcp::resolver::results_type results) {
    if (ec) return MarkClosed(l->generation, {0, "resolve " + host + ": " + ec.message()});
    ClientStream& stream = l->ws.next_layer();
    // Bounds the TCP connect and, with TLS, the TLS handshake.
    stream.tcp().expires_after(options.connect_timeout);
    stream.tcp().async_connect(results, [this, l](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return MarkClosed(l->generation, {0, "connect: " + ec.message()});
      ClientStream& stream = l->ws.next_layer();
      // Small frames, latency matters: no Nagle delay.
      beast::error_code ignored;
      stream.tcp().socket().set_option(tcp::no_delay(true), ignored);
      stream.SetServerName(options.tls_server_name.empty() ? host : options.tls_server_name, options.tls_verify);
      stream.AsyncHandshake([this, l](beast::error_code ec) {
        if (ec) return MarkClosed(l->generation, {0, "TLS handshake: " + ec.message()});
        DoUpgrade(l);
      });
    });
  });
}

void Client::Impl::DoUpgrade(std::shared_ptr<Link> l) {
  // The websocket stream's own timeouts take over from the tcp stream's.
  l->ws.next_layer().tcp().expires_never();
  l->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  l->ws.read_message_max(options.max_frame_bytes);
  l->ws.async_handshake(host + ":" + std::to_string(port), options.path, [this, l](beast::error_code ec) {
    if (ec) return MarkClosed(l->generation, {0, "websocket handshake: " + ec.message()});
    {
      std::lock_guard<std::mutex> lock(mu);
      if (l->generation != generation || closed) return;
      open = true;
    }
    cv.notify_all();
    DoRead(l);
  });
}

void Client::Impl::DoRead(std::shared_ptr<Link> l) {
  l->ws.async_read(l->buffer, [this, l](beast::error_code ec, std::size_t) {
    if (ec) {
      if (ec == websocket::error::closed) {
        return MarkClosed(l->generation, {static_cast<int>(l->ws.reason().code), std::string(l->ws.reason().reason.c_str())});
      }
      return MarkClosed(l->generation, {0, ec.message()});
    }
    std::string text = beast::buffers_to_string(l->buffer.data());
    l->buffer.consume(l->buffer.size());
    HandleFrame(text);
    DoRead(l);
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
  // The hook runs here, on the I/O thread, so that its effect (LastSeq, the local store) precedes the
  // next frame.
  if (r.ok && p->hook) {
    try {
      p->hook(result);
    } catch (const std::exception&) {  // Json::exception or MalformedJson.
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
      ev.chat = data.value("chatId", ChatId{0});
    }
    ev.user = data.value("userId", UserId{0});
  } catch (const std::exception&) {  // Json::exception or MalformedJson.
    ev.entry.reset();  // Keep the raw data; the event carries no entry we can track.
  }
  EventHandler h;
  bool store = false;
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
      store = local != nullptr;
    }
  }
  if (store) {
    // messageDeleted: data.seq is the entry deleted (tombstoned); the deletion entry is stored below.
    if (name == "messageDeleted") {
      local->Tombstone(ev.chat, data.value("seq", Seq{0})).IgnoreError();
    }
    StoreEntry(*ev.entry);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    h = handler;
    if (!h) {
      events.push_back(ev);
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
    auto l = link;
    if (!l) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed || l->generation != generation) return;
    }
    l->outbox.push_back(std::move(frame));
    if (!l->writing) DoWrite(l);
  });
}

void Client::Impl::DoWrite(std::shared_ptr<Link> l) {
  l->writing = true;
  l->ws.text(true);
  l->ws.async_write(net::buffer(*l->outbox.front()), [this, l](beast::error_code ec, std::size_t) {
    l->writing = false;
    if (ec) {
      l->outbox.clear();
      return MarkClosed(l->generation, {0, "write: " + ec.message()});
    }
    l->outbox.pop_front();
    if (!l->outbox.empty()) return DoWrite(l);
    if (l->close_requested) DoClose(l);
  });
}

void Client::Impl::DoClose(std::shared_ptr<Link> l) {
  // Over TLS, Beast's teardown sends close_notify before closing the TCP connection.
  l->ws.async_close(websocket::close_code::normal, [this, l](beast::error_code) {
    // The pending read completes with websocket::error::closed and records the server's answer;
    // this covers a close that failed before that.
    MarkClosed(l->generation, {1000, ""});
  });
}

void Client::Impl::RequestClose() {
  net::post(ioc, [this] {
    auto l = link;
    if (!l || l->close_requested) return;
    l->close_requested = true;
    if (!l->writing) DoClose(l);
  });
}

void Client::Impl::MarkClosed(std::uint64_t gen, CloseInfo info) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (gen != generation || closed) return;
    closed = true;
    close_info = std::move(info);
    // Calls waiting for an answer on this link will not get one.
    for (auto& [id, p] : pending) {
      p->reply = Reply{};
      p->reply.code = "unavailable";
      p->reply.message = "connection closed";
      p->done = true;
    }
    pending.clear();
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
  const bool done = cv.wait_for(lock, options.request_timeout, [&] { return p->done; });
  if (done) return std::move(p->reply);
  pending.erase(id);
  Reply r;
  r.code = "unavailable";
  r.message = "no response within " + std::to_string(options.request_timeout.count()) + " ms";
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
    const ChatId chat = page.at("chatId").get<ChatId>();
    AdvanceTo(chat, messages.back().at("seq").get<Seq>());
    if (local) {
      std::vector<Message> entries = MessagesFrom(messages);
      Seq last;
      {
        std::lock_guard<std::mutex> lock(mu);
        last = last_seq[chat];
      }
      for (const Message& m : entries) {
        if (m.kind == MessageKind::kDeletion) local->Tombstone(chat, m.ref_seq).IgnoreError();
      }
      local->PutEntries(chat, entries, last).IgnoreError();
    }
  }
}

void Client::Impl::Shutdown() {
  guard.reset();
  ioc.stop();
  if (thread.joinable()) thread.join();
}

}  // namespace chat
