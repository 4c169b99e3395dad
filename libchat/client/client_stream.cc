// ClientStream (client_stream.h): the only file of chat::Client that knows whether a connection is
// plain or TLS, and so the only one that instantiates the TCP and TLS stream operations.
#include "client_stream.h"

#include <openssl/ssl.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace chat::client_internal {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = net::ssl;

namespace {

// buffers as an Asio ConstBufferSequence.
struct BufferList {
  using value_type = net::const_buffer;
  using const_iterator = std::vector<net::const_buffer>::const_iterator;
  const_iterator begin() const { return list->begin(); }
  const_iterator end() const { return list->end(); }
  const std::vector<net::const_buffer>* list;
};

}  // namespace

struct ClientStream::Tls {
  Tls(net::io_context& ioc, ssl::context& ctx) : stream(ioc, ctx) {}
  beast::ssl_stream<beast::tcp_stream> stream;
};

ClientStream::ClientStream(net::io_context& ioc, ssl::context* tls) {
  if (tls != nullptr) {
    tls_ = std::make_unique<Tls>(ioc, *tls);
  } else {
    tcp_.emplace(ioc);
  }
}

ClientStream::~ClientStream() = default;

ClientStream::executor_type ClientStream::get_executor() noexcept { return tcp().get_executor(); }

beast::tcp_stream& ClientStream::tcp() { return tls_ ? tls_->stream.next_layer() : *tcp_; }

void ClientStream::SetServerName(const std::string& name, bool verify) {
  if (!tls_) return;
  // SNI, so that a server with several certificates picks this host's, and the certificate must
  // name the host (DNS name or IP address) unless verification is off.
  SSL_set_tlsext_host_name(tls_->stream.native_handle(), name.c_str());
  if (verify) tls_->stream.set_verify_callback(ssl::host_name_verification(name));
}

void ClientStream::AsyncHandshake(WaitHandler done) {
  if (!tls_) {
    net::post(get_executor(), [done = std::move(done)]() mutable { done({}); });
    return;
  }
  tls_->stream.async_handshake(ssl::stream_base::client, std::move(done));
}

void ClientStream::Handshake(error_code& ec) {
  ec = {};
  if (tls_) tls_->stream.handshake(ssl::stream_base::client, ec);
}

void ClientStream::Shutdown(error_code& ec) {
  if (tls_) {
    tls_->stream.shutdown(ec);
  } else {
    tcp_->socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  }
}

void ClientStream::AsyncTeardown(beast::role_type role, WaitHandler done) {
  using beast::websocket::async_teardown;
  // Over TLS, Beast's teardown sends close_notify; over TCP it shuts down and drains.
  if (tls_) return async_teardown(role, tls_->stream, std::move(done));
  async_teardown(role, tcp_->socket(), std::move(done));
}

void ClientStream::StartRead(net::mutable_buffer buffer, IoHandler done) {
  if (tls_) return tls_->stream.async_read_some(buffer, std::move(done));
  tcp_->async_read_some(buffer, std::move(done));
}

void ClientStream::StartWrite(std::vector<net::const_buffer> buffers, IoHandler done) {
  // The list lives in the completion handler (a vector's move keeps its storage) until it runs.
  auto list = std::make_unique<std::vector<net::const_buffer>>(std::move(buffers));
  const BufferList view{list.get()};
  auto complete = [list = std::move(list), done = std::move(done)](error_code ec, std::size_t n) mutable {
    done(ec, n);
  };
  if (tls_) return tls_->stream.async_write_some(view, std::move(complete));
  tcp_->async_write_some(view, std::move(complete));
}

std::size_t ClientStream::ReadSome(net::mutable_buffer buffer, error_code& ec) {
  if (tls_) return tls_->stream.read_some(buffer, ec);
  return tcp_->read_some(buffer, ec);
}

std::size_t ClientStream::WriteSome(std::vector<net::const_buffer> buffers, error_code& ec) {
  const BufferList view{&buffers};
  if (tls_) return tls_->stream.write_some(view, ec);
  return tcp_->write_some(view, ec);
}

}  // namespace chat::client_internal
