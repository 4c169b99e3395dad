// Listener: accepts TCP connections and hands each, as a Transport (plain or TLS), to an HttpSession
// on the next network lane (round-robin), where the connection then lives until it closes. Connections beyond max_connections, or beyond max_connections_per_address
// from one IP address, are closed at once; an accepted one holds its address's slot for its lifetime.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "beast.h"
#include "libchat/status.h"
#include "server_state.h"
#include "transport.h"

namespace chat::detail {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Accepts on `accept_context`; connections go to state->lanes in turn.
  Listener(net::io_context& accept_context, std::shared_ptr<ServerState> state);

  // Opens, binds and listens. Unavailable (naming the endpoint) if that fails.
  Status Open(const tcp::endpoint& endpoint);
  tcp::endpoint local_endpoint() const;
  // Starts accepting.
  void Run();
  // Stops accepting (closes the acceptor on its executor). Thread-safe.
  void Stop();

 private:
  void DoAccept();
  void OnAccept(IoLane* lane, beast::error_code ec, LaneSocket socket);

  std::shared_ptr<ServerState> state_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::size_t next_ = 0;
};

}  // namespace chat::detail
