// TLS for chatd (wss:// and https://): the stream type and the server context built from
// ServerOptions' certificate and key (OpenSSL through Asio's ssl::context).
#pragma once

#include <memory>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "beast.h"
#include "libchat/result.h"
#include "libchat/server/server.h"

namespace chat::detail {

namespace ssl = net::ssl;

// A TLS connection over a tcp_stream (whose timers bound the handshake and the HTTP requests).
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The server context of `tls` (ServerOptions::tls), or nullptr when TLS is off (no certificate).
// InvalidArgument naming the file (or "PEM") and OpenSSL's reason when the certificate chain or the
// key cannot be read or do not match. Blocks reading files.
Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsOptions& tls);

}  // namespace chat::detail
