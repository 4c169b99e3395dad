// ClientStream: chat::Client's connection to chatd, plain TCP or TLS, as one stream type for Beast.
//
// Why: the client's WebSocket code (connection.cc) and its HTTP transfers (http_transfer.cc) used to
// be written once per stream type (websocket::stream<tcp_stream> and <ssl_stream<tcp_stream>>), so
// every Beast operation they use was compiled twice. Above this type they are compiled once; the
// templates below only move Beast's handler into a UniqueFunction and copy buffer descriptors, and
// client_stream.cc, the only file that knows both stream types, does the work.
//
// Both are a beast::tcp_stream underneath (tcp()): connect, socket options and the tcp_stream's
// timeouts (expires_after, for asynchronous operations) are the same for either. Not thread-safe:
// the client's I/O thread, or the one thread of an HTTP transfer.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/system/system_error.hpp>

#include "unique_function.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace chat::client_internal {

class ClientStream {
 public:
  using error_code = boost::system::error_code;
  using executor_type = boost::asio::any_io_executor;
  using IoHandler = detail::UniqueFunction<void(error_code, std::size_t)>;
  using WaitHandler = detail::UniqueFunction<void(error_code)>;

  // TLS when `tls` is not null (the context must outlive the stream).
  ClientStream(boost::asio::io_context& ioc, boost::asio::ssl::context* tls);
  ~ClientStream();
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  executor_type get_executor() noexcept;
  bool is_tls() const { return tls_ != nullptr; }
  // The TCP stream underneath (the TLS stream's next layer, with TLS).
  boost::beast::tcp_stream& tcp();
  void close() { tcp().close(); }

  // TLS: the name sent as SNI and, if `verify`, the name the certificate must carry. Plain: nothing.
  void SetServerName(const std::string& name, bool verify);
  // TLS: the client side of the handshake. Plain: succeeds at once (posted for the async form).
  void AsyncHandshake(WaitHandler done);
  void Handshake(error_code& ec);
  // The end of a connection: TLS close_notify; plain: both TCP sides shut down.
  void Shutdown(error_code& ec);
  // Beast's WebSocket teardown for the stream in use.
  void AsyncTeardown(boost::beast::role_type role, WaitHandler done);

  // AsyncReadStream, AsyncWriteStream (a write_some may write less than asked).
  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return boost::asio::async_initiate<ReadHandler, void(error_code, std::size_t)>(
        [this](auto h, const MutableBufferSequence& b) { StartRead(First(b), IoHandler(std::move(h))); }, handler,
        buffers);
  }
  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(error_code, std::size_t)>(
        [this](auto h, const ConstBufferSequence& b) { StartWrite(List(b), IoHandler(std::move(h))); }, handler,
        buffers);
  }

  // SyncReadStream, SyncWriteStream.
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, error_code& ec) {
    return ReadSome(First(buffers), ec);
  }
  template <class MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    return OrThrow([&](error_code& ec) { return ReadSome(First(buffers), ec); });
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, error_code& ec) {
    return WriteSome(List(buffers), ec);
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    return OrThrow([&](error_code& ec) { return WriteSome(List(buffers), ec); });
  }

 private:
  struct Tls;

  // The throwing forms of the synchronous operations.
  template <class F>
  static std::size_t OrThrow(F f) {
    error_code ec;
    const std::size_t n = f(ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  // A read_some fills one buffer: the first non-empty one.
  template <class MutableBufferSequence>
  static boost::asio::mutable_buffer First(const MutableBufferSequence& b) {
    boost::asio::mutable_buffer first;
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it) {
      first = *it;
      if (first.size() != 0) break;
    }
    return first;
  }
  template <class ConstBufferSequence>
  static std::vector<boost::asio::const_buffer> List(const ConstBufferSequence& b) {
    std::vector<boost::asio::const_buffer> list;
    for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it) {
      boost::asio::const_buffer cb = *it;
      if (cb.size() != 0) list.push_back(cb);
    }
    return list;
  }

  void StartRead(boost::asio::mutable_buffer buffer, IoHandler done);
  void StartWrite(std::vector<boost::asio::const_buffer> buffers, IoHandler done);
  std::size_t ReadSome(boost::asio::mutable_buffer buffer, error_code& ec);
  std::size_t WriteSome(std::vector<boost::asio::const_buffer> buffers, error_code& ec);

  std::optional<boost::beast::tcp_stream> tcp_;  // Plain.
  std::unique_ptr<Tls> tls_;                     // TLS (its own tcp_stream inside).
};

// Beast's websocket::stream closes through these, found by argument-dependent lookup.
inline void teardown(boost::beast::role_type, ClientStream& stream, boost::system::error_code& ec) {
  stream.Shutdown(ec);
}
template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, ClientStream& stream, TeardownHandler&& handler) {
  stream.AsyncTeardown(role, ClientStream::WaitHandler(std::forward<TeardownHandler>(handler)));
}
inline void beast_close_socket(ClientStream& stream) { stream.close(); }

}  // namespace chat::client_internal
