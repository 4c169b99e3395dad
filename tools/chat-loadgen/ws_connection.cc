#include "ws_connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <random>

namespace chat::loadgen {
namespace {

// A handshake response larger than this is not a WebSocket server's.
constexpr std::size_t kMaxHandshakeBytes = 16 * 1024;
constexpr std::size_t kInitialReadBuffer = 2 * 1024;
constexpr std::size_t kMaxReadBuffer = 64 * 1024;
// Frames gathered into one write.
constexpr std::size_t kMaxGather = 64;

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::uint64_t SeedMask(const void* self) {
  // One random seed per thread, varied per connection: masks need only differ, not be secret.
  thread_local const std::uint64_t seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  const std::uint64_t s = seed ^ reinterpret_cast<std::uintptr_t>(self) * 0x9E3779B97F4A7C15ULL;
  return s == 0 ? 1 : s;
}

}  // namespace

WsConnection::WsConnection(net::io_context& ioc, Handler* handler)
    : socket_(ioc.get_executor()),
      handshake_timer_(ioc),
      read_buffer_(kInitialReadBuffer),
      handler_(handler),
      mask_state_(SeedMask(this)) {}

std::uint32_t WsConnection::NextMask() {
  // xorshift64*: a few cycles per frame.
  mask_state_ ^= mask_state_ >> 12;
  mask_state_ ^= mask_state_ << 25;
  mask_state_ ^= mask_state_ >> 27;
  return static_cast<std::uint32_t>((mask_state_ * 0x2545F4914F6CDD1DULL) >> 32);
}

void WsConnection::Start(const tcp::endpoint& endpoint, const std::string& host_header, const std::string& path,
                         std::chrono::milliseconds handshake_timeout) {
  namespace detail = boost::beast::websocket::detail;
  // The key and the accept value the server must answer with (RFC 6455 4.1, 4.2.2), computed by
  // Beast's own implementation of the handshake.
  detail::sec_ws_key_type key;
  detail::make_sec_ws_key(key);
  detail::sec_ws_accept_type accept;
  detail::make_sec_ws_accept(accept, boost::beast::string_view(key.data(), key.size()));
  accept_.assign(accept.data(), accept.size());
  request_ = "GET " + path + " HTTP/1.1\r\nHost: " + host_header +
             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(key.data(), key.size()) +
             "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: chat-loadgen\r\n\r\n";
  handshake_timer_.expires_after(handshake_timeout);
  handshake_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec && !self->open_) self->Fail("handshake", net::error::timed_out);
  });
  socket_.async_connect(endpoint, [self = shared_from_this()](error_code ec) { self->OnConnect(ec); });
}

void WsConnection::OnConnect(error_code ec) {
  if (closed_) return;
  if (ec) return Fail("connect", ec);
  error_code ignored;
  // Requests are small and latency is what we measure: Nagle must not hold them back.
  socket_.set_option(tcp::no_delay(true), ignored);
  net::async_write(socket_, net::buffer(request_),
                   [self = shared_from_this()](error_code e, std::size_t) { self->OnRequestWritten(e); });
}

void WsConnection::OnRequestWritten(error_code ec) {
  if (closed_) return;
  if (ec) return Fail("handshake", ec);
  request_.clear();
  request_.shrink_to_fit();
  DoRead();
}

void WsConnection::DoRead() {
  socket_.async_read_some(net::buffer(read_buffer_),
                          [self = shared_from_this()](error_code ec, std::size_t n) { self->OnRead(ec, n); });
}

void WsConnection::OnRead(error_code ec, std::size_t n) {
  if (closed_) return;
  if (ec) return Fail("read", ec);
  if (!open_) {
    handshake_.append(read_buffer_.data(), n);
    std::size_t header_end = 0;
    if (!ParseHandshake(&header_end)) {
      if (closed_) return;
      if (handshake_.size() > kMaxHandshakeBytes) return Fail("handshake", net::error::message_size);
      return DoRead();
    }
    open_ = true;
    handshake_timer_.cancel();
    // Whatever followed the response is already WebSocket frames.
    const std::string rest = handshake_.substr(header_end);
    handshake_.clear();
    handshake_.shrink_to_fit();
    if (handler_ != nullptr) handler_->OnOpen();
    if (closed_) return;
    if (!queue_.empty() && writing_ == 0) DoWrite();
    if (!rest.empty() && !reader_.Feed(rest.data(), rest.size(), *this)) return;
  } else if (!reader_.Feed(read_buffer_.data(), n, *this)) {
    return;  // Closed, or a protocol error: already reported.
  }
  if (closed_) return;
  // A full buffer means more was waiting: read more at once next time.
  if (n == read_buffer_.size() && read_buffer_.size() < kMaxReadBuffer) read_buffer_.resize(read_buffer_.size() * 2);
  DoRead();
}

bool WsConnection::ParseHandshake(std::size_t* header_end) {
  const auto end = handshake_.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  *header_end = end + 4;
  std::string_view head(handshake_.data(), end);
  const auto first = head.find("\r\n");
  const std::string_view status = head.substr(0, first);
  if (status.substr(0, 12) != "HTTP/1.1 101") {
    Fail("handshake", net::error::connection_refused);
    return false;
  }
  // Find Sec-WebSocket-Accept among the headers.
  std::string_view rest = first == std::string_view::npos ? std::string_view() : head.substr(first + 2);
  while (!rest.empty()) {
    const auto eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (EqualsNoCase(Trim(line.substr(0, colon)), "Sec-WebSocket-Accept")) {
      if (Trim(line.substr(colon + 1)) == accept_) return true;
      break;
    }
  }
  Fail("handshake", net::error::access_denied);
  return false;
}

void WsConnection::Send(std::string_view text) { QueueFrame(EncodeClientFrame(WsOpcode::kText, text, NextMask())); }

void WsConnection::QueueFrame(std::string frame) {
  if (closed_) return;
  // deque: references to queued frames stay valid while more are appended during a write.
  queue_.push_back(std::move(frame));
  if (open_ && writing_ == 0) DoWrite();
}

void WsConnection::DoWrite() {
  gather_.clear();
  for (std::size_t i = 0; i < queue_.size() && i < kMaxGather; ++i) gather_.push_back(net::buffer(queue_[i]));
  writing_ = gather_.size();
  net::async_write(socket_, gather_,
                   [self = shared_from_this()](error_code ec, std::size_t n) { self->OnWrite(ec, n); });
}

void WsConnection::OnWrite(error_code ec, std::size_t) {
  if (closed_) return;
  if (ec) return Fail("write", ec);
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(writing_));
  writing_ = 0;
  if (!queue_.empty()) DoWrite();
}

void WsConnection::OnText(std::string_view text) {
  if (handler_ == nullptr) return reader_.Stop();
  handler_->OnFrame(text);
  // The handler may have aborted the connection: stop parsing its frames.
  if (closed_) reader_.Stop();
}

void WsConnection::OnPing(std::string_view payload) {
  QueueFrame(EncodeClientFrame(WsOpcode::kPong, payload, NextMask()));
}

void WsConnection::OnClose(int code, std::string_view) {
  // Answer the close (best effort, without waiting) so that the server's close handshake completes.
  const char echo[2] = {static_cast<char>((code >> 8) & 0xFF), static_cast<char>(code & 0xFF)};
  const std::string frame = EncodeClientFrame(WsOpcode::kClose, code == 1005 ? std::string_view() : std::string_view(echo, 2), NextMask());
  error_code ignored;
  socket_.write_some(net::buffer(frame), ignored);
  Fail("closed", net::error::eof, code);
}

void WsConnection::OnProtocolError(const char* what) { Fail(what, net::error::invalid_argument); }

void WsConnection::Abort() {
  if (closed_) return;
  closed_ = true;
  handler_ = nullptr;
  reader_.Stop();
  handshake_timer_.cancel();
  // Closing completes the pending wait and write with operation_aborted; they see closed_ and stop.
  error_code ignored;
  socket_.close(ignored);
}

void WsConnection::Fail(const char* what, error_code ec, int close_code) {
  if (closed_) return;
  closed_ = true;
  reader_.Stop();
  handshake_timer_.cancel();
  error_code ignored;
  socket_.close(ignored);
  Handler* h = handler_;
  handler_ = nullptr;
  if (h != nullptr) h->OnClosed(what, ec, close_code);
}

}  // namespace chat::loadgen
