// Listener: accepts TCP connections and hands each to an HttpSession on a strand of the next network
// io_context (round-robin). Connections beyond max_connections, or beyond max_connections_per_address
// from one IP address, are closed at once; an accepted one holds its address's slot for its lifetime.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "beast.h"
#include "libchat/status.h"
#include "server_state.h"

namespace chat::detail {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Accepts on `accept_context`; sessions go to `contexts` in turn. Contexts must outlive the listener.
  Listener(net::io_context& accept_context, std::vector<net::io_context*> contexts,
           std::shared_ptr<ServerState> state);

  // Opens, binds and listens. Unavailable (naming the endpoint) if that fails.
  Status Open(const tcp::endpoint& endpoint);
  tcp::endpoint local_endpoint() const;
  // Starts accepting.
  void Run();
  // Stops accepting (closes the acceptor on its executor). Thread-safe.
  void Stop();

 private:
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);

  std::vector<net::io_context*> contexts_;
  std::shared_ptr<ServerState> state_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::size_t next_ = 0;
};

}  // namespace chat::detail
