// TLS for chatd (wss:// and https://): the server context built from ServerOptions' certificate and
// key (OpenSSL through Asio's ssl::context). The TLS stream itself is transport.cc's alone.
#pragma once

#include <memory>

#include <boost/asio/ssl/context.hpp>

#include "libchat/result.h"
#include "libchat/server/server.h"

namespace chat::detail {

namespace ssl = boost::asio::ssl;

// The server context of `tls` (ServerOptions::tls), or nullptr when TLS is off (no certificate).
// InvalidArgument naming the file (or "PEM") and OpenSSL's reason when the certificate chain or the
// key cannot be read or do not match. Blocks reading files.
Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsOptions& tls);

}  // namespace chat::detail
