// HttpSession: one plain HTTP connection. Serves /healthz, /readyz and /metrics, hands
// /v1/attachments/{id} to an AttachmentExchange for the request, and a WebSocket upgrade at /ws over
// to a WsSession. Requests are read one at a time, each bounded in size
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
  // The header is in: attachments take the request over (their bodies stream); everything else
  // reads its small body into a string.
  void OnHeader(beast::error_code ec, std::size_t bytes);
  void OnRead(beast::error_code ec, std::size_t bytes);
  void OnExchangeDone(bool keep_alive);
  // Builds the response to a plain (non-upgrade) request.
  http::response<http::string_body> Respond(const http::request<http::string_body>& req) const;
  void OnWrite(bool close, beast::error_code ec, std::size_t bytes);
  void DoClose();

  std::shared_ptr<ServerState> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string remote_;
  // New parsers per request: Beast parsers are single-use. The header parser becomes the body parser
  // of the route's body type (Beast's "change body type").
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // The response being written; one at a time.
  std::optional<http::response<http::string_body>> response_;
};

}  // namespace chat::detail
