// The Transport base (the write gate and the deadline) and its two implementations: plain TCP, and
// TLS over TCP (OpenSSL through asio::ssl, Beast's ssl_stream). The only file that knows a
// connection's stream type, and so the only one that instantiates socket and TLS operations.
#include "transport.h"

#include <sys/socket.h>

#include <cerrno>
#include <sstream>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace chat::detail {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// ---------------------------------------------------------------- the base

// The deadline's timer and what its handler needs. Shared with that handler: a wait that already
// fired may still be queued when the transport is destroyed, and then finds `owner` null.
struct Transport::Deadline {
  explicit Deadline(const LaneExecutor& ex, Transport* t) : timer(ex), owner(t) {}
  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>, LaneExecutor> timer;
  Transport* owner;
  std::chrono::steady_clock::time_point at{};
  std::uint64_t generation = 0;  // Bumped by every (re)arm and disarm: stale waits do nothing.
  bool armed = false;
  bool timed_out = false;
};

Transport::~Transport() {
  if (deadline_) {
    deadline_->owner = nullptr;
    deadline_->timer.cancel();
  }
}

void Transport::ExpiresAfter(std::chrono::steady_clock::duration d) {
  if (!deadline_) deadline_ = std::make_shared<Deadline>(get_executor(), this);
  Deadline& dl = *deadline_;
  dl.at = std::chrono::steady_clock::now() + d;
  dl.timed_out = false;
  if (dl.armed) {
    dl.armed = false;
    ++dl.generation;
    dl.timer.cancel();
  }
  // Operations already pending are bound by the new deadline.
  if (pending_ > 0) Arm();
}

void Transport::Arm() {
  Deadline& dl = *deadline_;
  dl.armed = true;
  ++dl.generation;
  dl.timer.expires_at(dl.at);
  dl.timer.async_wait([d = deadline_, gen = dl.generation](error_code ec) {
    if (ec || d->owner == nullptr || gen != d->generation) return;
    // Like beast::tcp_stream: what is pending fails with timeout, and the connection is done.
    d->timed_out = true;
    d->owner->Close();
  });
}

void Transport::ExpiresNever() {
  if (!deadline_) return;
  deadline_->owner = nullptr;
  deadline_->timer.cancel();
  deadline_.reset();
}

bool Transport::Expired() {
  if (!deadline_ || std::chrono::steady_clock::now() < deadline_->at) return false;
  deadline_->timed_out = true;
  return true;
}

void Transport::BeginOp() {
  ++pending_;
  if (deadline_ && !deadline_->armed) Arm();
}

void Transport::EndOp(error_code& ec) {
  --pending_;
  if (!deadline_) return;
  Deadline& dl = *deadline_;
  if (ec && dl.timed_out) ec = boost::beast::error::timeout;
  if (pending_ == 0 && dl.armed) {
    // Nothing pending: the timer waits for the next operation (as tcp_stream's does).
    dl.armed = false;
    ++dl.generation;
    dl.timer.cancel();
  }
}

// An operation started past the deadline fails at once, posted, as beast::tcp_stream's do.
void Transport::Handshake(WaitHandler done) {
  if (Expired()) {
    net::post(get_executor(), [done = std::move(done)]() mutable { done(boost::beast::error::timeout); });
    return;
  }
  BeginOp();
  StartHandshake(std::move(done));
}

void Transport::ReadSome(net::mutable_buffer buffer, IoHandler done) {
  if (Expired()) {
    net::post(get_executor(), [done = std::move(done)]() mutable { done(boost::beast::error::timeout, 0); });
    return;
  }
  BeginOp();
  StartRead(buffer, std::move(done));
}

void Transport::ReadDone(IoHandler done, error_code ec, std::size_t n) {
  EndOp(ec);
  done(ec, n);
}

void Transport::Write(const net::const_buffer* buffers, std::size_t count, IoHandler done) {
  Enqueue({}, buffers, count, std::move(done));
}

void Transport::WriteOwned(std::vector<net::const_buffer> buffers, IoHandler done) {
  Enqueue(std::move(buffers), nullptr, 0, std::move(done));
}

void Transport::Enqueue(std::vector<net::const_buffer> owned, const net::const_buffer* buffers, std::size_t count,
                        IoHandler done) {
  if (Expired()) {
    net::post(get_executor(), [done = std::move(done)]() mutable { done(boost::beast::error::timeout, 0); });
    return;
  }
  BeginOp();
  PendingWrite w{std::move(owned), buffers, count, std::move(done)};
  if (writing_) {
    waiting_.push_back(std::move(w));
    return;
  }
  StartGated(std::move(w));
}

void Transport::StartGated(PendingWrite w) {
  writing_ = true;
  const net::const_buffer* buffers = w.buffers;
  std::size_t count = w.count;
  if (buffers == nullptr) {
    // Beast's buffer list: kept here (a vector's move keeps its storage) until the write is done.
    owned_ = std::move(w.owned);
    buffers = owned_.data();
    count = owned_.size();
  }
  StartWrite(buffers, count, std::move(w.done));
}

void Transport::WriteDone(IoHandler done, error_code ec, std::size_t n) {
  writing_ = false;
  EndOp(ec);
  // Start the next write before completing this one: whatever the handler queues then goes behind
  // the writes that were already waiting.
  if (!waiting_.empty()) {
    PendingWrite next = std::move(waiting_.front());
    waiting_.erase(waiting_.begin());
    StartGated(std::move(next));
  } else {
    // Idle again: an idle connection keeps no buffer list (Beast's after the upgrade response: its
    // later writes, pings and the close, are rare) and no waiting room.
    std::vector<net::const_buffer>().swap(owned_);
    std::vector<PendingWrite>().swap(waiting_);
  }
  done(ec, n);
}

void Transport::Shutdown(WaitHandler done) {
  if (Expired()) {
    net::post(get_executor(), [done = std::move(done)]() mutable { done(boost::beast::error::timeout); });
    return;
  }
  BeginOp();
  StartShutdown(std::move(done));
}

void Transport::Teardown(WaitHandler done) {
  BeginOp();
  StartTeardown(std::move(done));
}

void Transport::WaitReadable(WaitHandler done) {
  net::post(get_executor(), [done = std::move(done)]() mutable { done(net::error::operation_not_supported); });
}

std::size_t Transport::PeekNow(void*, std::size_t, error_code& ec) {
  ec = net::error::operation_not_supported;
  return 0;
}

std::size_t Transport::ReadNow(void*, std::size_t, error_code& ec) {
  ec = net::error::operation_not_supported;
  return 0;
}

void Transport::WaitDone(WaitHandler done, error_code ec) {
  EndOp(ec);
  done(ec);
}

namespace {

// buffers[0, count) as an Asio ConstBufferSequence.
struct BufferList {
  using value_type = net::const_buffer;
  using const_iterator = const net::const_buffer*;
  const_iterator begin() const { return data; }
  const_iterator end() const { return data + size; }
  const net::const_buffer* data;
  std::size_t size;
};

std::string EndpointText(const LaneSocket& s, bool with_port) {
  error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  if (!with_port) return ep.address().to_string();
  std::ostringstream os;
  os << ep;
  return os.str();
}

// ---------------------------------------------------------------- plain TCP

class TcpTransport final : public Transport {
 public:
  explicit TcpTransport(LaneSocket socket) : socket_(std::move(socket)) {}

  LaneExecutor get_executor() override { return socket_.get_executor(); }
  bool is_tls() const override { return false; }
  std::string RemoteEndpoint() const override { return EndpointText(socket_, true); }
  std::string RemoteAddress() const override { return EndpointText(socket_, false); }
  void Close() override {
    error_code ec;
    socket_.close(ec);
  }
  bool is_open() const override { return socket_.is_open(); }

  bool can_wait_readable() const override { return true; }
  void WaitReadable(WaitHandler done) override {
    socket_.async_wait(tcp::socket::wait_read, [done = std::move(done)](error_code ec) mutable { done(ec); });
  }
  std::size_t PeekNow(void* data, std::size_t size, error_code& ec) override { return Recv(data, size, MSG_PEEK, ec); }
  std::size_t ReadNow(void* data, std::size_t size, error_code& ec) override { return Recv(data, size, 0, ec); }

 protected:
  void StartHandshake(WaitHandler done) override {
    net::post(socket_.get_executor(), [this, done = std::move(done)]() mutable { WaitDone(std::move(done), {}); });
  }

  void StartRead(net::mutable_buffer buffer, IoHandler done) override {
    socket_.async_read_some(buffer, [this, done = std::move(done)](error_code ec, std::size_t n) mutable {
      ReadDone(std::move(done), ec, n);
    });
  }

  void StartWrite(const net::const_buffer* buffers, std::size_t count, IoHandler done) override {
    // Asio gathers up to 64 buffers per sendmsg.
    net::async_write(socket_, BufferList{buffers, count},
                     [this, done = std::move(done)](error_code ec, std::size_t n) mutable {
                       WriteDone(std::move(done), ec, n);
                     });
  }

  void StartShutdown(WaitHandler done) override {
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    net::post(socket_.get_executor(), [this, done = std::move(done), ec]() mutable { WaitDone(std::move(done), ec); });
  }

  void StartTeardown(WaitHandler done) override {
    boost::beast::websocket::async_teardown(boost::beast::role_type::server, socket_,
                                            [this, done = std::move(done)](error_code ec) mutable {
                                              WaitDone(std::move(done), ec);
                                            });
  }

 private:
  // One recv(2) that does not wait, whatever the socket's mode.
  std::size_t Recv(void* data, std::size_t size, int flags, error_code& ec) {
    ec = {};
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), data, size, flags | MSG_DONTWAIT);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      ec = (errno == EAGAIN || errno == EWOULDBLOCK) ? error_code(net::error::would_block)
                                                     : error_code(errno, boost::system::system_category());
      return 0;
    }
  }

  LaneSocket socket_;
};

// ---------------------------------------------------------------- TLS

class TlsTransport final : public Transport {
 public:
  TlsTransport(LaneSocket socket, net::ssl::context& ctx) : ssl_(std::move(socket), ctx) {}

  LaneExecutor get_executor() override { return ssl_.get_executor(); }
  bool is_tls() const override { return true; }
  std::string RemoteEndpoint() const override { return EndpointText(ssl_.next_layer(), true); }
  std::string RemoteAddress() const override { return EndpointText(ssl_.next_layer(), false); }
  void Close() override {
    error_code ec;
    ssl_.next_layer().close(ec);
  }
  bool is_open() const override { return ssl_.next_layer().is_open(); }

 protected:
  void StartHandshake(WaitHandler done) override {
    ssl_.async_handshake(net::ssl::stream_base::server, [this, done = std::move(done)](error_code ec) mutable {
      WaitDone(std::move(done), ec);
    });
  }

  void StartRead(net::mutable_buffer buffer, IoHandler done) override {
    ssl_.async_read_some(buffer, [this, done = std::move(done)](error_code ec, std::size_t n) mutable {
      ReadDone(std::move(done), ec, n);
    });
  }

  void StartWrite(const net::const_buffer* buffers, std::size_t count, IoHandler done) override {
    // Beast's ssl_stream coalesces small buffers into one TLS record rather than one per buffer.
    net::async_write(ssl_, BufferList{buffers, count},
                     [this, done = std::move(done)](error_code ec, std::size_t n) mutable {
                       WriteDone(std::move(done), ec, n);
                     });
  }

  void StartShutdown(WaitHandler done) override {
    ssl_.async_shutdown([this, done = std::move(done)](error_code ec) mutable { WaitDone(std::move(done), ec); });
  }

  void StartTeardown(WaitHandler done) override {
    // Beast's teardown for an ssl_stream: close_notify (the TCP connection closes with the transport).
    using boost::beast::websocket::async_teardown;
    async_teardown(boost::beast::role_type::server, ssl_, [this, done = std::move(done)](error_code ec) mutable {
      WaitDone(std::move(done), ec);
    });
  }

 private:
  boost::beast::ssl_stream<LaneSocket> ssl_;
};

}  // namespace

std::unique_ptr<Transport> MakeTcpTransport(LaneSocket&& socket) { return std::make_unique<TcpTransport>(std::move(socket)); }

std::unique_ptr<Transport> MakeTlsTransport(LaneSocket&& socket, net::ssl::context& tls) {
  return std::make_unique<TlsTransport>(std::move(socket), tls);
}

}  // namespace chat::detail
