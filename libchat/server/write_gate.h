// WriteGate: the layer between a Beast WebSocket stream and its TCP stream that lets a session write
// whole batches of pre-framed WebSocket messages itself, in one gathered write, while Beast keeps
// writing what it writes (the upgrade response, pings, pongs, the close frame).
//
// Why: Beast's websocket::stream::async_write sends one message per call, so a session with 20 events
// queued makes 20 sendmsg calls and runs 20 composed operations. Profiles of chatd under group fan-out
// were dominated by exactly that (per-frame syscalls and completion machinery). A server's data frames
// are unmasked and can be framed once (FrameHeader in ws_frame.h) and shared by every recipient;
// WriteFrames then sends all of a session's pending frames with one writev.
//
// Safety: every write through the gate is a complete write (net::async_write), and one runs at a time,
// the others waiting in FIFO order. So Beast's frames and the session's frames never interleave on the
// wire, whichever side writes first. Beast's write state is untouched: the session never starts a
// message through Beast, so there is no fragmented message in progress for a raw frame to break into.
//
// TLS: the same gate wraps an ssl_stream (TlsWriteGate). Every write through the gate is still a
// complete net::async_write of plaintext into the ssl_stream, one at a time, so the TLS records of
// two frames never interleave either; one read and one write in flight at once is what asio::ssl
// allows. Teardown forwards to the next layer's, which for ssl_stream is Beast's async_teardown: the
// TLS close_notify, then the TCP shutdown.
//
// Not thread-safe: used only on the session's strand (Beast's own operations run there too).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "beast.h"
#include "tls.h"

namespace chat::detail {

template <class NextLayer>
class BasicWriteGate {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename next_layer_type::executor_type;

  explicit BasicWriteGate(NextLayer&& next) : next_(std::move(next)) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  next_layer_type& next_layer() noexcept { return next_; }
  const next_layer_type& next_layer() const noexcept { return next_; }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return next_.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  // Beast's writes. Writes all of `buffers` (never a part: the rest of a frame must not wait behind
  // someone else's write) once the writes queued before it are done.
  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return net::async_initiate<WriteHandler, void(beast::error_code, std::size_t)>(
        [this](auto h, const ConstBufferSequence& b) { this->Enqueue(b, std::move(h)); }, handler, buffers);
  }

  // The session's writes: `buffers` (e.g. a vector of const_buffer: header, payload, header, ...)
  // must stay valid until `handler(error_code, bytes)` runs, on the stream's executor.
  template <class ConstBufferSequence, class WriteHandler>
  void WriteFrames(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    Enqueue(buffers, std::forward<WriteHandler>(handler));
  }

 private:
  struct Pending {
    virtual ~Pending() = default;
    virtual void Start(BasicWriteGate& gate) = 0;
  };

  template <class Buffers, class Handler>
  struct PendingWrite final : Pending {
    PendingWrite(const Buffers& b, Handler&& h) : buffers(b), handler(std::move(h)) {}
    void Start(BasicWriteGate& gate) override { gate.StartWrite(buffers, std::move(handler)); }
    Buffers buffers;
    Handler handler;
  };

  template <class Buffers, class Handler>
  void Enqueue(const Buffers& buffers, Handler&& handler) {
    if (!busy_) return StartWrite(buffers, std::forward<Handler>(handler));
    waiting_.push_back(std::make_unique<PendingWrite<Buffers, std::decay_t<Handler>>>(
        buffers, std::forward<Handler>(handler)));
  }

  template <class Buffers, class Handler>
  void StartWrite(const Buffers& buffers, Handler&& handler) {
    busy_ = true;
    // The handler keeps its own associated executor and allocator through the wrapper: the
    // completion already runs on the stream's executor (the session's strand), which is the one
    // every handler here is bound to, so calling it directly is what dispatch would do.
    net::async_write(next_, buffers,
                     [this, h = std::forward<Handler>(handler)](beast::error_code ec, std::size_t n) mutable {
                       busy_ = false;
                       // Start the next write before completing this one: whatever the handler queues
                       // then goes behind the writes that were already waiting.
                       if (!waiting_.empty()) {
                         auto next = std::move(waiting_.front());
                         waiting_.erase(waiting_.begin());
                         next->Start(*this);
                       }
                       std::move(h)(ec, n);
                     });
  }

  next_layer_type next_;
  bool busy_ = false;
  // Rarely more than one (a pong behind a batch): a vector, since an empty std::deque already
  // allocates half a kilobyte, which every idle connection would pay.
  std::vector<std::unique_ptr<Pending>> waiting_;
};

// The plain gate: a plain socket, not beast::tcp_stream: the WebSocket stream keeps its own timers,
// and tcp_stream's two timers would cost every idle connection half a kilobyte for nothing.
using WriteGate = BasicWriteGate<tcp::socket>;
// The TLS gate. The ssl_stream's own next layer is the tcp_stream the HTTP session handshook on (an
// ssl_stream cannot change its next layer's type); next to TLS state its timers cost little.
using TlsWriteGate = BasicWriteGate<TlsStream>;

// Beast's websocket::stream shuts a connection down through teardown() of its next layer, found by
// argument-dependent lookup: the gate's is its next layer's (TCP, or TLS then TCP).
template <class NextLayer>
void teardown(beast::role_type role, BasicWriteGate<NextLayer>& gate, beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, gate.next_layer(), ec);
}

template <class NextLayer, class TeardownHandler>
void async_teardown(beast::role_type role, BasicWriteGate<NextLayer>& gate, TeardownHandler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, gate.next_layer(), std::forward<TeardownHandler>(handler));
}

}  // namespace chat::detail
