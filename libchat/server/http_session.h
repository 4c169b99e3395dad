// HttpSession: one plain HTTP connection. Serves /healthz, /readyz and /metrics, and hands a WebSocket
// upgrade at /ws over to a WsSession. Requests are read one at a time, each bounded in size
// (http_body_limit) and time (handshake_timeout). Lives on its connection's strand.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "beast.h"
#include "server_state.h"

namespace chat::detail {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::shared_ptr<ServerState> state);
  ~HttpSession();

  void Run();

 private:
  void DoRead();
  void OnRead(beast::error_code ec, std::size_t bytes);
  // Builds the response to a plain (non-upgrade) request.
  http::response<http::string_body> Respond(const http::request<http::string_body>& req) const;
  void OnWrite(bool close, beast::error_code ec, std::size_t bytes);
  void DoClose();

  std::shared_ptr<ServerState> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string remote_;
  // A new parser per request: Beast parsers are single-use.
  std::optional<http::request_parser<http::string_body>> parser_;
  // The response being written; one at a time.
  std::optional<http::response<http::string_body>> response_;
};

}  // namespace chat::detail
