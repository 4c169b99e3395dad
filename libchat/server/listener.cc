#include "listener.h"

#include <sstream>

#include "address_key.h"
#include "client_address.h"
#include "http_session.h"
#include "io_lane.h"

namespace chat::detail {
namespace {

// The peer's IP address without the port: the key of the per-address connection count.
std::string SourceAddressOf(const LaneSocket& socket) {
  beast::error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return "?";
  return peer.address().to_string();
}

}  // namespace

Listener::Listener(net::io_context& accept_context, std::shared_ptr<ServerState> state)
    : state_(std::move(state)),
      // The accepting lane's executor: its one thread serialises the acceptor too (io_lane.h).
      acceptor_(accept_context.get_executor()),
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
  // Each connection lives on the next lane: its socket is bound to that lane's io_context, whose one
  // thread then runs everything the connection does (no strand needed; io_lane.h).
  IoLane* lane = state_->lanes[next_++ % state_->lanes.size()].get();
  acceptor_.async_accept(lane->executor(), beast::bind_front_handler(&Listener::OnAccept, shared_from_this(), lane));
}

void Listener::OnAccept(IoLane* lane, beast::error_code ec, LaneSocket socket) {
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
  } else if (!FromTrustedProxy(state_->proxies, SourceAddressOf(socket)) &&  // Counted per request (client_address.h).
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
    std::unique_ptr<Transport> transport =
        state_->tls ? MakeTlsTransport(std::move(socket), *state_->tls) : MakeTcpTransport(std::move(socket));
    std::make_shared<HttpSession>(std::move(transport), *lane, state_, std::move(slot))->Run();
  }
  DoAccept();
}

}  // namespace chat::detail
