// Transport: one connection's byte stream, plain TCP or TLS, behind one small virtual interface.
//
// Why: the HTTP session, the attachment exchange and the WebSocket session used to be templates over
// the stream type, so every Beast operation they use was compiled twice (plain and TLS), and the
// write gate instantiated its machinery once per handler type. Everything above this interface is
// compiled once: Beast sees the connection as a TransportStream (transport_stream.h), whatever it
// is. The two implementations (transport.cc) are the only code that knows which stream a connection
// has. The price is an indirect call per operation and, for Beast's own composed operations (which
// do not fit UniqueFunction's inline buffer), one allocation per operation; a session's batched
// writes and simple handlers allocate nothing.
//
// What the base class does for both:
// * The write gate. Every write is a complete write (all of its buffers), and one runs at a time,
//   the others waiting in FIFO order: a session's pre-framed batch (Write) and Beast's own frames
//   (WriteOwned: the upgrade response, pings, pongs, the close frame) never interleave on the wire,
//   whichever starts first. With TLS this also keeps one write in flight, which asio::ssl requires.
// * An optional deadline (ExpiresAfter, like beast::tcp_stream's): an operation still pending when
//   it passes fails with beast::error::timeout and the connection is closed; an operation started
//   after it passed fails at once. Used by the HTTP session; a WebSocket session keeps its own
//   timers and leaves it unset (it then costs a null pointer).
//
// Threading: a Transport belongs to one connection, which lives on one IoLane (io_lane.h): every
// call and every completion happens on that lane's one thread. Completions are never invoked from
// inside the call that started the operation. Handlers receive the error codes Asio and Beast give
// (net::error::eof, operation_aborted after Close, ...).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "unique_function.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace chat::detail {

using error_code = boost::system::error_code;
// A connection's executor: its lane's io_context, directly (no strand: io_lane.h says why).
using LaneExecutor = boost::asio::io_context::executor_type;
// An accepted socket bound to its lane's executor.
using LaneSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, LaneExecutor>;

class Transport {
 public:
  using WaitHandler = UniqueFunction<void(error_code)>;
  using IoHandler = UniqueFunction<void(error_code, std::size_t)>;

  virtual ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  virtual LaneExecutor get_executor() = 0;
  virtual bool is_tls() const = 0;
  // "address:port" of the peer, or "?" if the socket has none.
  virtual std::string RemoteEndpoint() const = 0;
  // The peer's numeric IP address alone, or "?".
  virtual std::string RemoteAddress() const = 0;
  // Closes the socket now: pending operations complete with an error. Idempotent.
  virtual void Close() = 0;
  virtual bool is_open() const = 0;

  // TLS: the server side of the handshake. Plain: succeeds at once. Under the deadline.
  void Handshake(WaitHandler done);
  // Reads some bytes (at least one) into `buffer`. One read in flight at a time. Under the deadline.
  void ReadSome(boost::asio::mutable_buffer buffer, IoHandler done);
  // Writes all of buffers[0, count), behind the writes already queued (the gate). The caller keeps
  // the buffers (not only the bytes: the array too) valid until `done`. Under the deadline.
  void Write(const boost::asio::const_buffer* buffers, std::size_t count, IoHandler done);
  // The same for a buffer list the transport keeps until the write is done (Beast's writes: their
  // buffer sequences are temporaries).
  void WriteOwned(std::vector<boost::asio::const_buffer> buffers, IoHandler done);
  // The end of an HTTP connection: TLS sends close_notify and waits for the peer's (bounded by the
  // deadline); plain shuts the TCP send side down. The caller then lets the transport go (closes).
  void Shutdown(WaitHandler done);
  // The end of a WebSocket connection after the close handshake, as Beast's teardown does it for the
  // stream: TLS close_notify; plain: shut the send side down, read until the peer's FIN, close.
  void Teardown(WaitHandler done);

  // Readiness, for a WebSocket session waiting for its next request without holding a read and
  // its buffer (ws_session.h). Plain TCP only: can_wait_readable() is false for TLS, whose library
  // may already hold decrypted bytes that the socket no longer shows, and the three calls below
  // then fail with operation_not_supported.
  virtual bool can_wait_readable() const { return false; }
  // Completes once the socket has bytes to read or has been closed by the peer, or with an error
  // (operation_aborted after Close). Never inline. Not under the deadline.
  virtual void WaitReadable(WaitHandler done);
  // Non-blocking: copies up to `size` bytes that can be read now, leaving them to be read (PeekNow)
  // or consuming them (ReadNow). net::error::would_block if there are none; 0 and no error at the
  // end of the stream. REQUIRES: no read in flight.
  virtual std::size_t PeekNow(void* data, std::size_t size, error_code& ec);
  virtual std::size_t ReadNow(void* data, std::size_t size, error_code& ec);

  // Operations pending or started from now on fail with beast::error::timeout once `d` has passed.
  void ExpiresAfter(std::chrono::steady_clock::duration d);
  // No deadline (and its timer freed).
  void ExpiresNever();

 protected:
  Transport() = default;

  // The stream's own operations. Each completes by calling ReadDone / WriteDone / WaitDone with the
  // handler it was given, from a completion handler (never inline).
  virtual void StartHandshake(WaitHandler done) = 0;
  virtual void StartRead(boost::asio::mutable_buffer buffer, IoHandler done) = 0;
  virtual void StartWrite(const boost::asio::const_buffer* buffers, std::size_t count, IoHandler done) = 0;
  virtual void StartShutdown(WaitHandler done) = 0;
  virtual void StartTeardown(WaitHandler done) = 0;

  void ReadDone(IoHandler done, error_code ec, std::size_t n);
  void WriteDone(IoHandler done, error_code ec, std::size_t n);
  void WaitDone(WaitHandler done, error_code ec);

 private:
  struct Deadline;
  struct PendingWrite {
    std::vector<boost::asio::const_buffer> owned;
    const boost::asio::const_buffer* buffers = nullptr;
    std::size_t count = 0;
    IoHandler done;
  };

  // Deadline bookkeeping around every operation: Expired() is true (and the operation must fail
  // with timeout, posted) if the deadline has passed; BeginOp counts it and arms the timer; EndOp
  // turns its error into beast::error::timeout if the deadline closed the connection.
  bool Expired();
  void BeginOp();
  void Arm();
  void EndOp(error_code& ec);
  void Enqueue(std::vector<boost::asio::const_buffer> owned, const boost::asio::const_buffer* buffers,
               std::size_t count, IoHandler done);
  void StartGated(PendingWrite w);

  // The gate: a write is in flight; the writes waiting behind it (rarely more than one: a vector,
  // since an empty std::deque already allocates half a kilobyte, which every idle connection would
  // pay); the buffer list of an owned write in flight.
  bool writing_ = false;
  std::vector<PendingWrite> waiting_;
  std::vector<boost::asio::const_buffer> owned_;
  // Operations in flight (for the deadline).
  int pending_ = 0;
  std::shared_ptr<Deadline> deadline_;  // Null: no deadline set since the last ExpiresNever.
};

// A plain TCP transport.
std::unique_ptr<Transport> MakeTcpTransport(LaneSocket&& socket);
// A TLS transport (server side) over the socket, with the server's context (which must outlive it).
std::unique_ptr<Transport> MakeTlsTransport(LaneSocket&& socket, boost::asio::ssl::context& tls);

}  // namespace chat::detail
