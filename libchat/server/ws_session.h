// WsSession: one WebSocket connection speaking protocol v1 (docs/protocol.md).
//
// Everything happens on the connection's lane (below); other threads reach it only through Deliver(),
// Revoke() and Shutdown(), which post. Requests are handled one at a time in arrival order: the next
// frame is read only after the previous command's response is queued (so a device's sends keep their
// order), and reading also pauses while the outbound queue is more than half full (input
// backpressure). Commands run on the worker pool; their results come back to the lane.
//
// Outbound frames wait in a bounded SendQueue. The session frames them itself and writes every
// frame pending (up to a batch limit) in one gathered write through its transport's write gate (transport.h), one write in
// flight at a time: under load a session's frames go out many per syscall, and the payload bytes of
// an event are the router's shared buffer, never copied. A session whose queue overflows is a slow
// consumer: its queue is dropped and it is closed with 1008 "slow consumer"; the client catches up
// by sync, so memory stays bounded and nothing is lost.
//
// Memory of an idle connection (docs/benchmarks.md): most connections are idle most of the time, so
// between requests a session holds no read. On plain TCP, once Beast holds nothing unread (the
// transport stream follows the frame boundaries of what Beast has read, ws_frame.h), the session
// waits for the socket to become readable and starts Beast's read (and allocates its buffer) only
// then; pongs answering our idle pings are dropped without waking Beast. Over TLS the library may
// hold decrypted bytes the socket does not show, so a TLS session keeps a read pending as before.
// The idle tick and the write timeout are one node on the lane's timer wheel (timer_wheel.h), not
// timers of the session's own; the outbound queue and the write's bookkeeping are released when
// they empty.
//
// Threading: a session lives on one IoLane (io_lane.h) from accept to close, and that lane's one
// thread is its owner: every handler, timer and post of the session runs there (its executor is the
// lane's io_context, with no strand), and the lane's delivery drain calls QueueHere/FlushHere
// directly on that same thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "beast.h"
#include "commands.h"
#include "io_lane.h"
#include "peer.h"
#include "send_queue.h"
#include "server_state.h"
#include "session_auth.h"
#include "timer_wheel.h"
#include "transport_stream.h"
#include "ws_frame.h"

namespace chat::detail {


// Plain ws:// and wss:// alike: the connection is a Transport (transport.h), so this code and Beast's
// websocket::stream<TransportStream> are compiled once.
class WsSession final : public Peer, public TimerWheel::Node, public std::enable_shared_from_this<WsSession> {
 public:
  // Takes over the connection (a TLS one has completed its handshake) on `lane`, the lane whose
  // io_context the transport's executor is.
  WsSession(std::unique_ptr<Transport> transport, IoLane& lane, std::shared_ptr<ServerState> state,
            std::string remote, AddressSlot slot);
  ~WsSession() override;

  // Completes the WebSocket upgrade of `request`, then serves the connection.
  void Run(http::request<http::string_body> request);

  // Peer: thread-safe, non-blocking.
  void Deliver(OutFrame frame) override;
  void Revoke(const std::string& keep_token_hash) override;
  DeliveryLane* lane() const override { return lane_; }
  bool QueueHere(const OutFrame& frame) override;
  void FlushHere() override;
  // Closes with 1001 "going away" (server shutdown). Thread-safe, non-blocking.
  void Shutdown();

 private:
  void OnAccept(beast::error_code ec);

  // Reads the next request: waits for readability first when that is possible (see above).
  void DoRead();
  void OnReadable(beast::error_code ec);
  void StartRead();
  void OnRead(beast::error_code ec, std::size_t bytes);
  void HandleFrame(const std::string& text);
  void HandleHello(const Request& request);
  void HandlePing(const Request& request);
  void Submit(Request request, const CommandSpec* spec);
  void OnCommandDone(CommandOutcome outcome, std::shared_ptr<const std::string> frame);
  // Right after a login/resume registered the session for live events: checks the session against
  // the store once more (a revocation published before the registration would otherwise be missed)
  // and, on a bus between nodes, waits until the user's chats are watched and the device is in the
  // cluster's live registry; only then is `answer` (the login/resume reply) sent and the next frame
  // read. A session found revoked is closed with 4001, unanswered; one that could not be checked
  // (server busy, store unavailable) is answered and closed with 1013 "try again later".
  // `device_had_session`: the device had a session on this node already (ServerState::RingOnSignIn).
  void VerifyRegistration(std::shared_ptr<const std::string> answer, bool device_had_session);
  void OnVerified(Status status, std::shared_ptr<const std::string> answer);
  // Closes with 4001 "session revoked".
  void CloseRevoked();
  // A warning a client can cause (its sign-ins on a saturated server): at most a few lines a minute
  // per source address (state_->refusal_log), the rest counted in log_lines_suppressed. Any thread.
  template <typename... A>
  void WarnLimited(const A&... args) const;

  void SendResult(const Json& id, const Json& result);
  void SendError(const Json& id, WireError error);
  void Enqueue(OutFrame frame);
  void OnSlowConsumer();
  void DoWrite();
  void OnWrite(beast::error_code ec, std::size_t bytes);
  void OnWriteTimeout();
  // The session's one deadline on the lane's wheel: the earlier of the next idle tick and the
  // deadline of the write in flight. OnDeadline handles whichever has passed and schedules again.
  void ScheduleDeadline();
  void OnDeadline() override;
  // The idle timeout (ServerOptions::idle_timeout), kept here rather than by Beast so that an idle
  // connection is closed with a close frame (1001 "idle timeout") instead of a dropped socket (1006
  // at the client). Every half timeout: input since the last tick (or reading paused by us) keeps the
  // connection; otherwise a ping goes out, and if nothing has come back by the next tick, it closes.
  void OnIdleTick();

  // Begins the close handshake with `code`. `flush`: send what is queued first (e.g. the error that
  // explains the close); otherwise queued frames are dropped (the client resyncs).
  void StartClose(std::uint16_t code, const char* reason, bool flush);
  void DoClose();
  void OnClose(beast::error_code ec);
  void Fail(beast::error_code ec, const char* what);
  void CloseSocket();
  // Runs once when the connection is over: unregisters from the router and the server.
  void Finish(const char* why);
  void Unregister();

  std::shared_ptr<ServerState> state_;
  // No permessage-deflate (chatd never offers it), so none of its state either.
  websocket::stream<TransportStream, /*deflateSupported=*/false> ws_;
  beast::flat_buffer buffer_;  // The request being read; empty (no allocation) between requests.
  SendQueue queue_;
  // The write in flight: how many frames of queue_'s front it carries, their headers and the
  // buffer sequence (header, payload, header, ...), kept alive until OnWrite.
  std::size_t writing_frames_ = 0;
  std::vector<FrameHeader> write_headers_;
  std::vector<net::const_buffer> write_buffers_;
  const std::string remote_;
  const AddressSlot slot_;  // The source address's connection count, held until this session is gone.
  const std::uint64_t id_;
  IoLane* const lane_;  // The lane this connection lives on (its executor is the lane's io_context).
  const std::chrono::steady_clock::time_point opened_at_;

  // Lane state (its thread only).
  bool open_ = false;         // The upgrade completed.
  bool reading_ = false;      // Waiting for readability, or an async_read_some is in flight.
  bool flush_wanted_ = false; // QueueHere queued frames that FlushHere has not started writing yet.
  bool writing_ = false;      // A write is in flight (the first writing_frames_ of queue_).
  bool busy_ = false;         // A command is with the workers.
  bool closing_ = false;      // StartClose ran; nothing new is queued.
  bool close_sent_ = false;   // async_close is in flight or done.
  bool finished_ = false;
  bool oversized_ = false;    // The frame being read exceeds max_frame_bytes; its bytes are discarded.
  bool binary_ = false;       // The frame being read is binary.
  bool hello_ = false;
  bool registered_ = false;   // In the router as caller_.user/device.
  bool own_change_ = false;   // A command changing this connection's credentials is running.
  bool input_seen_ = false;   // A frame (data, ping or pong) arrived since the last idle tick.
  bool idle_ping_sent_ = false;  // The idle timer pinged and no input has come since.
  bool ping_in_flight_ = false;  // An async_ping has not completed yet (Beast allows one).
  std::uint64_t messages_read_ = 0;  // Messages Beast has returned whole (FrameScanner::OnlyPongsUnread).
  std::chrono::steady_clock::time_point idle_due_{};   // The next idle tick.
  std::chrono::steady_clock::time_point write_due_{};  // The write in flight times out (writing_).
  std::uint16_t close_code_ = 0;
  const char* close_why_ = "";  // A literal: StartClose's reason.
  // Who the connection acts for once signed in (0 before). Not a Caller, whose `remote` (remote_,
  // filled in per command) would be 32 more bytes for every connection.
  struct SignedIn {
    UserId user = 0;
    DeviceId device = 0;
  };
  SignedIn caller_;
  std::chrono::steady_clock::time_point last_touch_{};
  // Any thread: revocations (router) and the lane (before each command). Holds the session's token
  // (hashed), once.
  SessionAuth auth_;
};

}  // namespace chat::detail
