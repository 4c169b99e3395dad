// HttpSession: one HTTP connection (plain or TLS). Serves /healthz, /readyz and /metrics, hands
// /v1/attachments/{id} to an AttachmentExchange for the request, and a WebSocket upgrade at /ws over
// to a WsSession. Requests are read one at a time, each bounded in size
// (http_body_limit) and time (handshake_timeout). Lives on its connection's lane (io_lane.h).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "address_slots.h"
#include "beast.h"
#include "server_state.h"
#include "transport_stream.h"

namespace chat::detail {

class IoLane;

// Plain (http://, ws://) and TLS (https://, wss://: the TLS handshake comes first, bounded by
// handshake_timeout) alike: the connection is a Transport, so this is compiled once.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `transport`: an accepted connection on `lane`. `slot`: the connection's place in its source
  // address's count, held as long as the connection.
  HttpSession(std::unique_ptr<Transport> transport, IoLane& lane, std::shared_ptr<ServerState> state,
              AddressSlot slot);
  ~HttpSession();

  void Run();

 private:
  void OnHandshake(beast::error_code ec);
  void DoRead();
  // The header is in: attachments take the request over (their bodies stream); everything else
  // reads its small body into a string.
  void OnHeader(beast::error_code ec, std::size_t bytes);
  void OnRead(beast::error_code ec, std::size_t bytes);
  void OnExchangeDone(bool keep_alive);
  // Answers `status` with `text` and closes the connection: the request cannot be read safely.
  void RejectAndClose(http::status status, std::string text);
  // Builds the response to a plain (non-upgrade) request.
  http::response<http::string_body> Respond(const http::request<http::string_body>& req) const;
  void OnWrite(bool close, beast::error_code ec, std::size_t bytes);
  void DoClose();
  void OnShutdown(beast::error_code ec);

  std::shared_ptr<ServerState> state_;
  IoLane& lane_;
  TransportStream stream_;
  beast::flat_buffer buffer_;
  std::string remote_;
  AddressSlot slot_;
  // New parsers per request: Beast parsers are single-use. The header parser becomes the body parser
  // of the route's body type (Beast's "change body type").
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // The response being written; one at a time.
  std::optional<http::response<http::string_body>> response_;
};

}  // namespace chat::detail
