// The Asio/Beast headers the server uses, and the usual namespace aliases. Asio and Beast are compiled
// once, in libchat_asio (asio_impl.cc), with BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION (Beast's test/lib_asio.cpp), to keep build times down.
#pragma once

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace chat::detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Close codes chatd uses beyond RFC 6455's (docs/protocol.md). 4000-4999 are for applications.
constexpr std::uint16_t kCloseSessionRevoked = 4001;

}  // namespace chat::detail
