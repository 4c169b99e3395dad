#include "http_session.h"

#include <limits>
#include <sstream>

#include "attachment_http.h"
#include "libchat/version.h"
#include "ws_session.h"

namespace chat::detail {
namespace {

std::string RemoteOf(const tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  std::ostringstream os;
  os << ep;
  return os.str();
}

}  // namespace

HttpSession::HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state)
    : state_(std::move(state)), stream_(std::move(socket)) {
  remote_ = RemoteOf(stream_.socket());
  state_->metrics.connections.Add(1);
}

HttpSession::~HttpSession() { state_->metrics.connections.Add(-1); }

void HttpSession::Run() {
  // The socket's executor is this connection's strand; start there.
  net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
}

void HttpSession::DoRead() {
  header_parser_.emplace();
  header_parser_->header_limit(16 * 1024);
  // Beast checks Content-Length against the body limit as the header is parsed: no limit yet, each
  // route sets its own (attachments: the declared size; the rest: http_body_limit, see OnHeader).
  header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  // A client that connects and says nothing does not keep the connection forever.
  stream_.expires_after(state_->options.handshake_timeout);
  http::async_read_header(stream_, buffer_, *header_parser_,
                          beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
}

void HttpSession::OnHeader(beast::error_code ec, std::size_t bytes) {
  if (ec) return OnRead(ec, bytes);
  const auto& req = header_parser_->get();
  const std::string_view target(req.target().data(), req.target().size());
  if (target.substr(0, kAttachmentPathPrefix.size()) == kAttachmentPathPrefix) {
    // The exchange borrows the stream and buffer; `self` keeps them alive until it is done.
    auto self = shared_from_this();
    std::make_shared<AttachmentExchange>(stream_, buffer_, state_, *header_parser_, self,
                                         [self](bool keep_alive) { self->OnExchangeDone(keep_alive); })
        ->Run();
    return;
  }
  if (header_parser_->content_length().value_or(0) > state_->options.http_body_limit) {
    state_->log.Debug("http from ", remote_, ": body over ", state_->options.http_body_limit, " bytes");
    return DoClose();
  }
  parser_.emplace(std::move(*header_parser_));
  // Checked as a chunked body arrives.
  parser_->body_limit(state_->options.http_body_limit);
  if (parser_->is_done()) return OnRead({}, 0);
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
}

void HttpSession::OnExchangeDone(bool keep_alive) {
  if (keep_alive) return DoRead();
  DoClose();
}

void HttpSession::OnRead(beast::error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream) return DoClose();
  if (ec) {
    if (ec != beast::error::timeout && ec != net::error::operation_aborted) {
      state_->log.Debug("http from ", remote_, ": read: ", ec.message());
    }
    return;
  }
  const auto& req = parser_->get();
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (websocket::is_upgrade(req) && path == "/ws") {
    // Hand the socket over: the WebSocket session owns it from here; this object goes away.
    std::make_shared<WsSession>(stream_.release_socket(), state_, remote_)->Run(parser_->release());
    return;
  }
  response_.emplace(Respond(req));
  const bool close = response_->need_eof();
  http::async_write(stream_, *response_,
                    beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this(), close));
}

http::response<http::string_body> HttpSession::Respond(const http::request<http::string_body>& req) const {
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  auto reply = [&req](http::status status, std::string body, const char* type = "text/plain; charset=utf-8") {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "chatd/" LIBCHAT_VERSION_STRING);
    res.set(http::field::content_type, type);
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::head) res.body() = std::move(body);
    res.prepare_payload();
    return res;
  };
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    return reply(http::status::method_not_allowed, "only GET and HEAD\n");
  }
  if (path == "/healthz") return reply(http::status::ok, "ok\n");
  if (path == "/readyz") {
    // Ready: listening with the store open and not shutting down (load balancers stop sending here).
    const bool ready = state_->ready.load() && !state_->draining.load();
    return ready ? reply(http::status::ok, "ready\n") : reply(http::status::service_unavailable, "not ready\n");
  }
  if (path == "/metrics") {
    return reply(http::status::ok, state_->metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path == "/ws") return reply(http::status::upgrade_required, "WebSocket upgrade required at /ws\n");
  return reply(http::status::not_found, "not found\n");
}

void HttpSession::OnWrite(bool close, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec) return;
  if (close) return DoClose();
  DoRead();
}

void HttpSession::DoClose() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace chat::detail
