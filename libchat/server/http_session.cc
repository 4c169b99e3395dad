#include "http_session.h"

#include <limits>
#include <sstream>

#include "attachment_http.h"
#include "client_address.h"
#include "libchat/version.h"
#include "static_files.h"
#include "ws_session.h"

namespace chat::detail {
namespace {

// The X-Forwarded-For values of `headers`, several headers joined with ','.
std::string ForwardedFor(const http::fields& headers) {
  std::string forwarded;
  const auto range = headers.equal_range("X-Forwarded-For");
  for (auto it = range.first; it != range.second; ++it) {
    if (!forwarded.empty()) forwarded += ',';
    forwarded.append(it->value().data(), it->value().size());
  }
  return forwarded;
}

}  // namespace

HttpSession::HttpSession(std::unique_ptr<Transport> transport, IoLane& lane, std::shared_ptr<ServerState> state,
                         AddressSlot slot)
    : state_(std::move(state)), lane_(lane), stream_(std::move(transport)), slot_(std::move(slot)) {
  remote_ = stream_.transport().RemoteEndpoint();
  state_->metrics.connections.Add(1);
}

HttpSession::~HttpSession() { state_->metrics.connections.Add(-1); }

void HttpSession::Run() {
  // The transport's executor is this connection's lane; start there.
  if (stream_.transport().is_tls()) {
    // The TLS handshake first, in the time a request is given: a client that connects and says
    // nothing (or speaks plain HTTP to this port) is cut off.
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->stream_.transport().ExpiresAfter(self->state_->options.handshake_timeout);
      self->stream_.transport().Handshake(beast::bind_front_handler(&HttpSession::OnHandshake, self));
    });
  } else {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::DoRead, this->shared_from_this()));
  }
}

void HttpSession::OnHandshake(beast::error_code ec) {
  if (ec) {
    // A plain-HTTP or ws:// client on the TLS port ends here: one debug line, the socket closes.
    state_->metrics.tls_handshake_failures.Add();
    state_->log.Debug("https from ", remote_, ": TLS handshake: ", ec.message());
    return;
  }
  DoRead();
}

void HttpSession::DoRead() {
  header_parser_.emplace();
  header_parser_->header_limit(16 * 1024);
  // Beast checks Content-Length against the body limit as the header is parsed: no limit yet, each
  // route sets its own (attachments: the declared size; the rest: http_body_limit, see OnHeader).
  header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  // A client that connects and says nothing does not keep the connection forever.
  stream_.transport().ExpiresAfter(state_->options.handshake_timeout);
  http::async_read_header(stream_, buffer_, *header_parser_,
                          beast::bind_front_handler(&HttpSession::OnHeader, this->shared_from_this()));
}

void HttpSession::OnHeader(beast::error_code ec, std::size_t bytes) {
  if (ec) return OnRead(ec, bytes);
  const auto& req = header_parser_->get();
  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has a body of unknown
  // length. Read as having none (Beast's view), its body would be taken for the next request (request
  // smuggling past a proxy that reads it otherwise): answer 400 and close, before any route.
  if (req.count(http::field::transfer_encoding) != 0 && !header_parser_->chunked()) {
    return RejectAndClose(http::status::bad_request, "Transfer-Encoding must end in chunked\n");
  }
  // From a trusted reverse proxy, the request's client is who X-Forwarded-For names (client_address.h).
  if (!state_->proxies.empty()) {
    const std::string peer = stream_.transport().RemoteAddress();
    if (FromTrustedProxy(state_->proxies, peer) &&
        !AdoptForwardedClient(state_->proxies, *state_->address_slots, peer, ForwardedFor(req), &remote_, &slot_)) {
      state_->metrics.connections_refused_per_address.Add();
      return RejectAndClose(http::status::too_many_requests, "too many connections from your address\n");
    }
  }
  const std::string_view target(req.target().data(), req.target().size());
  if (target.substr(0, kAttachmentPathPrefix.size()) == kAttachmentPathPrefix) {
    // The exchange borrows the stream and buffer; `self` keeps them alive until it is done.
    auto self = this->shared_from_this();
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
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::OnRead, this->shared_from_this()));
}

void HttpSession::RejectAndClose(http::status status, std::string text) {
  state_->log.Debug("http from ", remote_, ": refused with ", static_cast<unsigned>(status), "; closing");
  response_.emplace(status, header_parser_->get().version());
  response_->set(http::field::server, "chatd/" LIBCHAT_VERSION_STRING);
  response_->set(http::field::content_type, "text/plain; charset=utf-8");
  response_->keep_alive(false);
  response_->body() = std::move(text);
  response_->prepare_payload();
  stream_.transport().ExpiresAfter(state_->options.write_timeout);
  http::async_write(stream_, *response_,
                    beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this(), true));
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
    // Hand the connection over: the WebSocket session owns it from here; this object goes away.
    // The WebSocket session keeps its own timers; the HTTP deadline must not cut it off.
    stream_.transport().ExpiresNever();
    std::make_shared<WsSession>(stream_.Release(), lane_, state_, remote_, slot_)->Run(parser_->release());
    return;
  }
  response_.emplace(Respond(req));
  const bool close = response_->need_eof();
  http::async_write(stream_, *response_,
                    beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this(), close));
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
    auto res = reply(http::status::method_not_allowed, "only GET and HEAD\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  if (path == "/healthz") return reply(http::status::ok, "ok\n");
  if (path == "/readyz") {
    // Ready: listening with the store open and answering, and not shutting down (load balancers stop
    // sending here).
    const bool ready = state_->ready.load() && !state_->draining.load() &&
                       (!state_->options.ready_check || state_->options.ready_check());
    return ready ? reply(http::status::ok, "ready\n") : reply(http::status::service_unavailable, "not ready\n");
  }
  if (path == "/metrics") {
    return reply(http::status::ok, state_->metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path == "/ws") return reply(http::status::upgrade_required, "WebSocket upgrade required at /ws\n");
  // Everything else is the web app's, when chatd serves one (--web-root; static_files.h).
  if (state_->site) return state_->site->Respond(req);
  return reply(http::status::not_found, "not found\n");
}

void HttpSession::OnWrite(bool close, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec) return;
  if (close) return DoClose();
  DoRead();
}

void HttpSession::DoClose() {
  // TLS: close_notify first, so that the client can tell the end from a truncation; bounded in
  // time. Plain: the TCP send side is shut down.
  if (stream_.transport().is_tls()) stream_.transport().ExpiresAfter(state_->options.handshake_timeout);
  stream_.transport().Shutdown(beast::bind_front_handler(&HttpSession::OnShutdown, this->shared_from_this()));
}

void HttpSession::OnShutdown(beast::error_code) {
  // Whatever the peer did, the connection is over; the socket closes with this object.
  stream_.close();
}

}  // namespace chat::detail
