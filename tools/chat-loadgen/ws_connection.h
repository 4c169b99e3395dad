// WsConnection: a lean asynchronous WebSocket client connection for one simulated device. Thousands
// share one io_context per worker thread, so everything here is about cost per connection and per
// frame (see ws_frame.h for why the framing is our own):
//  * the socket uses the io_context's concrete executor, not the type-erased any_io_executor;
//  * one read in flight into the connection's own buffer, parsed in place (only an incomplete tail
//    is copied and kept). The buffer starts at 2 KiB and doubles, up to 64 KiB, whenever a read fills
//    it: an idle connection stays small, a busy one gets its whole backlog in one recvmsg. (Reading
//    into one buffer shared by the worker's connections would need async_wait, which in Asio 1.74
//    costs an epoll_ctl per wait: twice the system calls.);
//  * one async_write in flight, gathering every frame queued meanwhile into it.
//
// Threading: every member function and every callback runs on the io_context's single thread.
// Ownership: the owner holds a shared_ptr; pending operations hold one too, so the object outlives
// the owner's reset until they complete. Detach() or Abort() cut the link back to the owner first.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ws_frame.h"

namespace chat::loadgen {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

class WsConnection : public std::enable_shared_from_this<WsConnection>, private WsFrameReader::Sink {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // The WebSocket is open.
    virtual void OnOpen() = 0;
    // One complete text message, valid only during the call.
    virtual void OnFrame(std::string_view text) = 0;
    // The connection failed or ended; called once, and nothing after it. `what` names the step
    // ("connect", "handshake", "read", "write", "closed"); `close_code` is the server's close code if
    // it sent a close frame (0 otherwise).
    virtual void OnClosed(const char* what, error_code ec, int close_code) = 0;
  };

  WsConnection(net::io_context& ioc, Handler* handler);

  // Connects to `endpoint` and upgrades with `host_header` and `path`, within `handshake_timeout`.
  void Start(const tcp::endpoint& endpoint, const std::string& host_header, const std::string& path,
             std::chrono::milliseconds handshake_timeout = std::chrono::seconds(30));
  // Queues a text message; messages go out in order. Frames queued before the upgrade completes wait
  // for it. Ignored once closed.
  void Send(std::string_view text);
  // Drops the connection at once, as a network failure would (no close handshake), and reports
  // nothing more to the handler.
  void Abort();
  // Forgets the handler: no callback after this.
  void Detach() { handler_ = nullptr; }

 private:
  using Socket = net::basic_stream_socket<tcp, net::io_context::executor_type>;

  void OnConnect(error_code ec);
  void OnRequestWritten(error_code ec);
  void DoRead();
  void OnRead(error_code ec, std::size_t bytes);
  // The upgrade response, accumulated in handshake_; true once complete and valid.
  bool ParseHandshake(std::size_t* header_end);
  void QueueFrame(std::string frame);
  void DoWrite();
  void OnWrite(error_code ec, std::size_t bytes);
  void Fail(const char* what, error_code ec, int close_code = 0);
  std::uint32_t NextMask();

  // WsFrameReader::Sink
  void OnText(std::string_view text) override;
  void OnPing(std::string_view payload) override;
  void OnClose(int code, std::string_view reason) override;
  void OnProtocolError(const char* what) override;

  Socket socket_;
  net::steady_timer handshake_timer_;
  std::vector<char> read_buffer_;
  Handler* handler_;
  WsFrameReader reader_;
  std::string request_;    // The upgrade request, alive while it is written.
  std::string handshake_;  // The upgrade response so far; emptied once open.
  std::string accept_;     // The Sec-WebSocket-Accept value the server must send.
  std::deque<std::string> queue_;
  std::size_t writing_ = 0;  // Frames of queue_ in the write in flight.
  std::vector<net::const_buffer> gather_;
  std::uint64_t mask_state_;
  bool open_ = false;
  bool closed_ = false;
};

}  // namespace chat::loadgen
