#include "fake_chat_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace chat::loadgen::test {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Json = nlohmann::json;

}  // namespace

struct FakeChatServer::Impl {
  // A frame held back to be sent out of order. Inside Impl, not in the anonymous namespace: Session
  // has external linkage and may not hold a member of an internal type (GCC's -Wsubobject-linkage
  // says so once this file is part of a unity build).
  struct Held {
    std::uint64_t chat;
    std::uint64_t seq;
    std::string frame;
  };

  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl& s, tcp::socket socket) : server(s), ws(std::move(socket)) {}

    void Run() {
      ws.async_accept([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->DoRead();
      });
    }
    void DoRead() {
      ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return;
        const std::string text = beast::buffers_to_string(self->buffer.data());
        self->buffer.consume(self->buffer.size());
        self->server.Handle(*self, text);
        self->DoRead();
      });
    }
    void Send(std::string frame) {
      out.push_back(std::move(frame));
      if (out.size() == 1) DoWrite();
    }
    void DoWrite() {
      ws.text(true);
      ws.async_write(net::buffer(out.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return;
        self->out.pop_front();
        if (!self->out.empty()) self->DoWrite();
      });
    }
    // A newMessage frame on its way to this device; tracks the highest seq sent per chat.
    void SendMessage(std::uint64_t chat, std::uint64_t seq, std::string frame) {
      auto& max = max_sent[chat];
      if (seq > max) max = seq;
      Send(std::move(frame));
    }

    Impl& server;
    websocket::stream<tcp::socket> ws;
    beast::flat_buffer buffer;
    std::deque<std::string> out;
    std::uint64_t user = 0;
    std::optional<Held> held;
    std::map<std::uint64_t, std::uint64_t> max_sent;
  };

  struct Chat {
    std::vector<std::uint64_t> members;
    std::uint64_t seq = 1;  // Entry 1: the creation.
  };

  explicit Impl(FaultPlan p) : plan(p), acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {}

  void DoAccept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<Session>(*this, std::move(socket))->Run();
      DoAccept();
    });
  }

  static std::string Result(const Json& id, Json result) {
    return Json{{"id", id}, {"ok", true}, {"result", std::move(result)}}.dump();
  }
  static std::string Error(const Json& id, const char* code) {
    return Json{{"id", id}, {"ok", false}, {"error", {{"code", code}, {"message", code}}}}.dump();
  }

  void Handle(Session& s, const std::string& text) {
    const Json req = Json::parse(text, nullptr, false);
    if (!req.is_object()) return s.Send(Error(nullptr, "bad_request"));
    const Json id = req.value("id", Json());
    const std::string cmd = req.value("cmd", "");
    if (cmd == "hello") return s.Send(Result(id, {{"version", 1}}));
    if (cmd == "register") {
      const std::string name = req.value("username", "");
      if (users.count(name)) return s.Send(Error(id, "already_exists"));
      users[name] = ++next_user;
      return s.Send(Result(id, {{"user", {{"id", next_user}}}}));
    }
    if (cmd == "login") {
      auto it = users.find(req.value("username", ""));
      if (it == users.end()) return s.Send(Error(id, "unauthenticated"));
      SignIn(s, it->second);
      return s.Send(Result(id, {{"user", {{"id", s.user}}}, {"device", {{"id", s.user}}},
                                {"token", "t" + std::to_string(s.user)}}));
    }
    if (cmd == "resume") {
      const std::string token = req.value("token", "");
      const std::uint64_t user = token.size() > 1 ? std::stoull(token.substr(1)) : 0;
      if (user == 0 || user > next_user) return s.Send(Error(id, "unauthenticated"));
      SignIn(s, user);
      return s.Send(Result(id, {{"user", {{"id", user}}}, {"device", {{"id", user}}}}));
    }
    if (cmd == "createChat") {
      Chat c;
      c.members.push_back(s.user);
      for (const Json& m : req.value("members", Json::array())) c.members.push_back(m.get<std::uint64_t>());
      chats[++next_chat] = c;
      return s.Send(Result(id, {{"chat", {{"id", next_chat}, {"kind", "group"}}}}));
    }
    if (cmd == "getChat") {
      auto it = chats.find(req.value("chatId", std::uint64_t{0}));
      if (it == chats.end()) return s.Send(Error(id, "permission_denied"));
      return s.Send(Result(id, {{"chat", {{"id", it->first}}}, {"head", it->second.seq}, {"participants", Json::array()}}));
    }
    if (cmd == "sendMessage") {
      const std::uint64_t chat_id = req.value("chatId", std::uint64_t{0});
      auto it = chats.find(chat_id);
      if (it == chats.end()) return s.Send(Error(id, "permission_denied"));
      const std::uint64_t seq = ++it->second.seq;
      ++messages;
      s.Send(Result(id, {{"messageId", "m" + std::to_string(seq)}, {"seq", seq}, {"timestamp", 0}, {"duplicate", false}}));
      const std::string frame =
          Json{{"event", "newMessage"},
               {"data", {{"message", {{"chatId", chat_id}, {"seq", seq}, {"sender", s.user}, {"body", req.value("body", "")}}}}}}
              .dump();
      for (std::uint64_t member : it->second.members) Deliver(member, member == s.user, chat_id, seq, frame);
      return;
    }
    if (cmd == "sync") return s.Send(Result(id, {{"chats", Json::array()}, {"more", false}}));
    s.Send(Error(id, "unknown_command"));
  }

  void SignIn(Session& s, std::uint64_t user) {
    s.user = user;
    sessions[user] = s.shared_from_this();
  }

  void Deliver(std::uint64_t user, bool sender, std::uint64_t chat, std::uint64_t seq, const std::string& frame) {
    auto it = sessions.find(user);
    std::shared_ptr<Session> s = it == sessions.end() ? nullptr : it->second.lock();
    if (sender && !plan.spoil_own_copies) {
      if (s) s->SendMessage(chat, seq, frame);  // The sender's own copy is not spoilt.
      return;
    }
    const std::uint64_t d = ++deliveries;
    if (!s) {
      ++dropped;
      return;
    }
    if (plan.drop_every != 0 && d % plan.drop_every == 0) {
      ++dropped;
    } else if (plan.duplicate_every != 0 && d % plan.duplicate_every == 0) {
      s->SendMessage(chat, seq, frame);
      s->SendMessage(chat, seq, frame);
      ++duplicated;
    } else if (plan.delay_every != 0 && d % plan.delay_every == 0 && !s->held) {
      s->held = Held{chat, seq, frame};
      ++held_now;
      return;  // Goes out after the device's next delivery.
    } else {
      s->SendMessage(chat, seq, frame);
    }
    if (s->held) {
      Held h = std::move(*s->held);
      s->held.reset();
      --held_now;
      // Out of order only if something later of the same chat went out before it.
      if (h.seq < s->max_sent[h.chat]) ++reordered;
      s->SendMessage(h.chat, h.seq, std::move(h.frame));
    }
  }

  FaultPlan plan;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::thread thread;
  bool stopped = false;
  std::map<std::string, std::uint64_t> users;
  std::uint64_t next_user = 0;
  std::map<std::uint64_t, Chat> chats;
  std::uint64_t next_chat = 0;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions;
  std::uint64_t deliveries = 0;
  std::uint64_t held_now = 0;  // Held back and not released yet (their sessions may be gone).
  std::atomic<std::uint64_t> dropped{0}, duplicated{0}, reordered{0}, messages{0};
};

FakeChatServer::FakeChatServer(FaultPlan plan) : impl_(std::make_unique<Impl>(plan)) {
  impl_->DoAccept();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

FakeChatServer::~FakeChatServer() { Stop(); }

std::uint16_t FakeChatServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void FakeChatServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Frames still held back never reached their device.
  impl_->dropped += impl_->held_now;
}

std::uint64_t FakeChatServer::dropped() const { return impl_->dropped; }
std::uint64_t FakeChatServer::duplicated() const { return impl_->duplicated; }
std::uint64_t FakeChatServer::reordered() const { return impl_->reordered; }
std::uint64_t FakeChatServer::messages() const { return impl_->messages; }

}  // namespace chat::loadgen::test
