#include "listener.h"

#include <sstream>

#include "address_key.h"
#include "client_address.h"
#include "http_session.h"

namespace chat::detail {
namespace {

// The peer's IP address without the port: the key of the per-address connection count.
std::string SourceAddressOf(const tcp::socket& socket) {
  beast::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return "?";
  return peer.address().to_string();
}

}  // namespace

Listener::Listener(net::io_context& accept_context, std::vector<net::io_context*> contexts,
                   std::shared_ptr<ServerState> state)
    : contexts_(std::move(contexts)),
      state_(std::move(state)),
      acceptor_(net::make_strand(accept_context)),
      retry_timer_(acceptor_.get_executor()) {}

Status Listener::Open(const tcp::endpoint& endpoint) {
  auto fail = [&endpoint](const char* what, const beast::error_code& ec) {
    std::ostringstream os;
    os << endpoint << ": " << what << ": " << ec.message();
    return Status::Unavailable(os.str());
  };
  beast::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open", ec);
  // Restarting chatd must not wait for TIME_WAIT connections of the previous process.
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("set_option", ec);
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind", ec);
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen", ec);
  return Status::Ok();
}

tcp::endpoint Listener::local_endpoint() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Listener::Run() { net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->DoAccept(); }); }

void Listener::Stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
    self->retry_timer_.cancel();
  });
}

void Listener::DoAccept() {
  if (!acceptor_.is_open()) return;
  // Each connection gets a strand on the next io_context: with one thread per context the strand
  // costs nothing, and the same session code stays correct when a context runs on several threads.
  net::io_context& ioc = *contexts_[next_++ % contexts_.size()];
  acceptor_.async_accept(net::make_strand(ioc), beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

void Listener::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;  // Stopped.
  if (ec) {
    // E.g. too many open files: back off briefly instead of spinning on the error.
    state_->log.Warn("accept: ", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(50));
    retry_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->DoAccept();
    });
    return;
  }
  // Counted per AddressKey: an IPv6 host picks any address of its /64, and counts as one.
  const std::string address = AddressKey(SourceAddressOf(socket));
  AddressSlot slot;
  if (state_->metrics.connections.Get() >= static_cast<std::int64_t>(state_->options.max_connections)) {
    state_->metrics.connections_refused.Add();
    beast::error_code ignored;
    socket.close(ignored);
  } else if (!FromTrustedProxy(state_->proxies, socket) &&  // Counted per request (client_address.h).
             (slot = state_->address_slots->TryAcquire(address)) == nullptr) {
    // One host holds its share already: refuse it alone, without a word (it is not a client we
    // owe an answer, and an HTTP reply would cost what the limit is there to save).
    state_->metrics.connections_refused_per_address.Add();
    state_->log.Debug("accept: ", address, " has ", state_->options.max_connections_per_address,
                      " connections open; refused");
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    state_->metrics.connections_accepted.Add();
    // Chat frames are small and latency matters: do not let Nagle hold them back waiting for ACKs.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (state_->tls) {
      std::make_shared<HttpSession<TlsStream>>(std::move(socket), state_, std::move(slot))->Run();
    } else {
      std::make_shared<HttpSession<beast::tcp_stream>>(std::move(socket), state_, std::move(slot))->Run();
    }
  }
  DoAccept();
}

}  // namespace chat::detail
