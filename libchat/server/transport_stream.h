// TransportStream: a connection's Transport (transport.h) as Beast sees a stream: an AsyncReadStream
// and AsyncWriteStream whose type does not depend on TLS. `websocket::stream<TransportStream>`, the
// HTTP session's reads and writes and the attachment exchange's are each compiled once.
//
// The templates below only move Beast's handler into a Transport::IoHandler and copy its buffer
// descriptors; the work is in transport.cc, compiled once. Every write through the stream is a
// complete write behind the transport's write gate (Beast's frames never interleave with a
// session's batches), and a read or write completes with beast::error::timeout past the transport's
// deadline (Transport::ExpiresAfter), as with beast::tcp_stream.
//
// Threading: the connection's lane only (io_lane.h). Completions run on the lane's thread, called
// directly: every handler of a connection is bound to the lane's executor, which is this stream's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/role.hpp>

#include "transport.h"
#include "ws_frame.h"

namespace chat::detail {

class TransportStream {
 public:
  using executor_type = LaneExecutor;

  explicit TransportStream(std::unique_ptr<Transport> transport)
      : transport_(std::move(transport)), executor_(transport_->get_executor()) {}
  TransportStream(const TransportStream&) = delete;
  TransportStream& operator=(const TransportStream&) = delete;

  executor_type get_executor() const noexcept { return executor_; }
  Transport& transport() { return *transport_; }

  // From now on, follows the frame boundaries of the bytes Beast reads (a WebSocket session's,
  // ws_frame.h): Drained() then says whether Beast holds none of them unread.
  void ScanFrames() { scan_ = true; }
  // REQUIRES: ScanFrames() before the first read. See FrameScanner::Drained.
  bool Drained(std::uint64_t messages) const { return scanner_.Drained(messages); }
  // REQUIRES: ScanFrames() before the first read. See FrameScanner::OnlyPongsUnread.
  bool OnlyPongsUnread(std::uint64_t messages) const { return scanner_.OnlyPongsUnread(messages); }
  // Gives the transport up (to the WebSocket session). REQUIRES: nothing pending.
  std::unique_ptr<Transport> Release() { return std::move(transport_); }
  // Closes the connection: pending operations complete with an error (beast::close_socket).
  void close() {
    if (transport_) transport_->Close();
  }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return boost::asio::async_initiate<ReadHandler, void(error_code, std::size_t)>(
        [this](auto h, const MutableBufferSequence& b) {
          // Beast reads into one buffer at a time (a flat_buffer's prepared space): the first
          // non-empty one is what a read_some fills.
          boost::asio::mutable_buffer first;
          for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it) {
            first = *it;
            if (first.size() != 0) break;
          }
          if (!scan_) return transport_->ReadSome(first, Transport::IoHandler(std::move(h)));
          transport_->ReadSome(first, Transport::IoHandler([this, data = static_cast<const std::uint8_t*>(first.data()),
                                                            h = std::move(h)](error_code ec, std::size_t n) mutable {
            scanner_.Feed(data, n);
            h(ec, n);
          }));
        },
        handler, buffers);
  }

  // Writes all of `buffers` (never a part: the rest of a frame must not wait behind someone else's
  // write) once the writes queued before it are done.
  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(error_code, std::size_t)>(
        [this](auto h, const ConstBufferSequence& b) {
          std::vector<boost::asio::const_buffer> list;
          for (auto it = boost::asio::buffer_sequence_begin(b); it != boost::asio::buffer_sequence_end(b); ++it) {
            boost::asio::const_buffer cb = *it;
            if (cb.size() != 0) list.push_back(cb);
          }
          transport_->WriteOwned(std::move(list), Transport::IoHandler(std::move(h)));
        },
        handler, buffers);
  }

 private:
  std::unique_ptr<Transport> transport_;
  executor_type executor_;
  bool scan_ = false;
  FrameScanner scanner_;
};

// Beast's websocket::stream ends a connection through teardown() of its next layer, found by
// argument-dependent lookup: the transport's (TLS close_notify; plain: FIN, drain, close).
inline void teardown(boost::beast::role_type, TransportStream& stream, error_code& ec) {
  // Synchronous teardown is never used by chatd (every close is asynchronous): close at once.
  stream.close();
  ec = {};
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type, TransportStream& stream, TeardownHandler&& handler) {
  stream.transport().Teardown(Transport::WaitHandler(std::forward<TeardownHandler>(handler)));
}

// beast::close_socket (Beast's timeouts, get_lowest_layer) closes the transport.
inline void beast_close_socket(TransportStream& stream) { stream.close(); }

}  // namespace chat::detail
