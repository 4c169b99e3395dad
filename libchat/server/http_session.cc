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

std::string RemoteOf(const tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  std::ostringstream os;
  os << ep;
  return os.str();
}

}  // namespace

// The connection's stream: TLS streams also need the server's context.
template <class Stream>
Stream OpenStream(tcp::socket&& socket, ServerState& state) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    return Stream(std::move(socket), *state.tls);
  } else {
    return Stream(std::move(socket));
  }
}

template <class Stream>
HttpSession<Stream>::HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state, AddressSlot slot)
    : state_(std::move(state)), stream_(OpenStream<Stream>(std::move(socket), *state_)), slot_(std::move(slot)) {
  remote_ = RemoteOf(beast::get_lowest_layer(stream_).socket());
  state_->metrics.connections.Add(1);
}

template <class Stream>
HttpSession<Stream>::~HttpSession() { state_->metrics.connections.Add(-1); }

template <class Stream>
void HttpSession<Stream>::Run() {
  // The socket's executor is this connection's strand; start there.
  if constexpr (kTls) {
    // The TLS handshake first, in the time a request is given: a client that connects and says
    // nothing (or speaks plain HTTP to this port) is cut off.
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      beast::get_lowest_layer(self->stream_).expires_after(self->state_->options.handshake_timeout);
      self->stream_.async_handshake(ssl::stream_base::server,
                                    beast::bind_front_handler(&HttpSession::OnHandshake, self));
    });
  } else {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&HttpSession::DoRead, this->shared_from_this()));
  }
}

template <class Stream>
void HttpSession<Stream>::OnHandshake(beast::error_code ec) {
  if (ec) {
    // A plain-HTTP or ws:// client on the TLS port ends here: one debug line, the socket closes.
    state_->metrics.tls_handshake_failures.Add();
    state_->log.Debug("https from ", remote_, ": TLS handshake: ", ec.message());
    return;
  }
  DoRead();
}

template <class Stream>
void HttpSession<Stream>::DoRead() {
  header_parser_.emplace();
  header_parser_->header_limit(16 * 1024);
  // Beast checks Content-Length against the body limit as the header is parsed: no limit yet, each
  // route sets its own (attachments: the declared size; the rest: http_body_limit, see OnHeader).
  header_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  // A client that connects and says nothing does not keep the connection forever.
  beast::get_lowest_layer(stream_).expires_after(state_->options.handshake_timeout);
  http::async_read_header(stream_, buffer_, *header_parser_,
                          beast::bind_front_handler(&HttpSession::OnHeader, this->shared_from_this()));
}

template <class Stream>
void HttpSession<Stream>::OnHeader(beast::error_code ec, std::size_t bytes) {
  if (ec) return OnRead(ec, bytes);
  const auto& req = header_parser_->get();
  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has a body of unknown
  // length. Read as having none (Beast's view), its body would be taken for the next request (request
  // smuggling past a proxy that reads it otherwise): answer 400 and close, before any route.
  if (req.count(http::field::transfer_encoding) != 0 && !header_parser_->chunked()) {
    return RejectAndClose(http::status::bad_request, "Transfer-Encoding must end in chunked\n");
  }
  // From a trusted reverse proxy, the request's client is who X-Forwarded-For names (client_address.h).
  if (!state_->proxies.empty() && FromTrustedProxy(state_->proxies, beast::get_lowest_layer(stream_).socket()) &&
      !AdoptForwardedClient(state_->proxies, *state_->address_slots, beast::get_lowest_layer(stream_).socket(), req,
                            &remote_, &slot_)) {
    state_->metrics.connections_refused_per_address.Add();
    return RejectAndClose(http::status::too_many_requests, "too many connections from your address\n");
  }
  const std::string_view target(req.target().data(), req.target().size());
  if (target.substr(0, kAttachmentPathPrefix.size()) == kAttachmentPathPrefix) {
    // The exchange borrows the stream and buffer; `self` keeps them alive until it is done.
    auto self = this->shared_from_this();
    std::make_shared<AttachmentExchange<Stream>>(stream_, buffer_, state_, *header_parser_, self,
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

template <class Stream>
void HttpSession<Stream>::RejectAndClose(http::status status, std::string text) {
  state_->log.Debug("http from ", remote_, ": refused with ", static_cast<unsigned>(status), "; closing");
  response_.emplace(status, header_parser_->get().version());
  response_->set(http::field::server, "chatd/" LIBCHAT_VERSION_STRING);
  response_->set(http::field::content_type, "text/plain; charset=utf-8");
  response_->keep_alive(false);
  response_->body() = std::move(text);
  response_->prepare_payload();
  beast::get_lowest_layer(stream_).expires_after(state_->options.write_timeout);
  http::async_write(stream_, *response_,
                    beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this(), true));
}

template <class Stream>
void HttpSession<Stream>::OnExchangeDone(bool keep_alive) {
  if (keep_alive) return DoRead();
  DoClose();
}

template <class Stream>
void HttpSession<Stream>::OnRead(beast::error_code ec, std::size_t) {
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
    if constexpr (kTls) {
      // The WebSocket stream keeps its own timers; the tcp_stream's must not cut it off.
      beast::get_lowest_layer(stream_).expires_never();
      std::make_shared<BasicWsSession<TlsWriteGate>>(std::move(stream_), state_, remote_, slot_)->Run(parser_->release());
    } else {
      std::make_shared<BasicWsSession<WriteGate>>(stream_.release_socket(), state_, remote_, slot_)
          ->Run(parser_->release());
    }
    return;
  }
  response_.emplace(Respond(req));
  const bool close = response_->need_eof();
  http::async_write(stream_, *response_,
                    beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this(), close));
}

template <class Stream>
http::response<http::string_body> HttpSession<Stream>::Respond(const http::request<http::string_body>& req) const {
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

template <class Stream>
void HttpSession<Stream>::OnWrite(bool close, beast::error_code ec, std::size_t) {
  response_.reset();
  if (ec) return;
  if (close) return DoClose();
  DoRead();
}

template <class Stream>
void HttpSession<Stream>::DoClose() {
  if constexpr (kTls) {
    // TLS close_notify first, so that the client can tell the end from a truncation; bounded in time.
    beast::get_lowest_layer(stream_).expires_after(state_->options.handshake_timeout);
    stream_.async_shutdown(beast::bind_front_handler(&HttpSession::OnShutdown, this->shared_from_this()));
  } else {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
}

template <class Stream>
void HttpSession<Stream>::OnShutdown(beast::error_code) {
  // Whatever the peer did, the connection is over; the socket closes with this object.
  beast::get_lowest_layer(stream_).close();
}

template class HttpSession<beast::tcp_stream>;
template class HttpSession<TlsStream>;

}  // namespace chat::detail
