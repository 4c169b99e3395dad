#include "ws_session.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include "libchat/version.h"
#include "log_escape.h"

namespace chat::detail {
namespace {

constexpr std::size_t kDiscardChunk = 64 * 1024;
// What a sign-in on a bus between nodes waits at most, after its command, for the cluster: its chats'
// interest at the NATS server and its device in the live registry (VerifyRegistration). Together
// with one shared-bucket request of the login throttle (1 s at most: login_throttle.h), it stays under
// a client's 10 s request timeout when the node's NATS server has gone silent.
constexpr std::chrono::milliseconds kClusterRegistrationWait{4000};

std::int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string Code(StatusCode code) { return std::string(StatusCodeName(code)); }

// Errors that mean "the peer went away", not worth more than a debug line.
bool IsDisconnect(const beast::error_code& ec) {
  return ec == net::error::operation_aborted || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == websocket::error::closed || ec == beast::error::timeout;
}

}  // namespace

template <typename... A>
void WsSession::WarnLimited(const A&... args) const {
  const LogLimiter::Verdict v = state_->refusal_log.Admit(SourceAddress(remote_));
  if (!v.log) {
    state_->metrics.log_lines_suppressed.Add();
    return;
  }
  if (v.suppressed == 0) return state_->log.Warn(args...);
  state_->log.Warn(args..., " (", v.suppressed, " more such lines from this address were not logged)");
}

WsSession::WsSession(std::unique_ptr<Transport> transport, IoLane& lane, std::shared_ptr<ServerState> state,
                     std::string remote, AddressSlot slot)
    : state_(std::move(state)),
      ws_(std::move(transport)),
      queue_(state_->options.send_queue_messages, state_->options.send_queue_bytes),
      remote_(std::move(remote)),
      slot_(std::move(slot)),
      id_(state_->next_session_id.fetch_add(1)),
      lane_(&lane),
      opened_at_(std::chrono::steady_clock::now()) {
  state_->metrics.connections.Add(1);
}

WsSession::~WsSession() {
  // Normally Finish() ran on the lane (and took the node off the wheel); this covers a session
  // destroyed with its io_context, after the lane's thread has stopped.
  TimerWheel::Cancel(this);
  if (registered_) state_->router.Remove(caller_.user, this);
  if (open_ && !finished_) state_->metrics.websockets.Add(-1);
  if (registered_) state_->metrics.devices_online.Add(-1);
  if (!finished_) state_->RemoveSession(id_);
  state_->metrics.connections.Add(-1);
}

void WsSession::Run(http::request<http::string_body> request) {
  const ServerOptions& o = state_->options;
  state_->AddSession(id_, this->weak_from_this());
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = o.handshake_timeout;
  // No idle timeout in Beast: it would drop the socket without a close frame. StartIdleTimer keeps it.
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
  // Pings and pongs are input too (a client answering our pings is alive). Runs on the lane, inside
  // Beast's read; the stream and with it this callback live as long as the session.
  ws_.control_callback([this](websocket::frame_type, beast::string_view) { input_seen_ = true; });
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "chatd/" LIBCHAT_VERSION_STRING); }));
  // The hard cap: Beast closes with 1009 beyond it. Frames between max_frame_bytes and the cap are
  // discarded as they arrive and answered with frame_too_large, keeping the connection usable.
  ws_.read_message_max(4 * o.max_frame_bytes);
  // Plain TCP: follow the frames Beast reads, so that DoRead knows when it may wait for readability.
  if (ws_.next_layer().transport().can_wait_readable()) ws_.next_layer().ScanFrames();
  ws_.async_accept(request, beast::bind_front_handler(&WsSession::OnAccept, this->shared_from_this()));
}

void WsSession::OnAccept(beast::error_code ec) {
  if (ec) return Fail(ec, "accept");
  open_ = true;
  state_->metrics.websockets.Add(1);
  state_->log.Debug("ws ", id_, " from ", remote_, " open");
  if (state_->draining.load()) return StartClose(static_cast<std::uint16_t>(websocket::close_code::going_away),
                                                 "going away", false);
  idle_due_ = std::chrono::steady_clock::now() + state_->options.idle_timeout / 2;
  ScheduleDeadline();
  DoRead();
}

void WsSession::ScheduleDeadline() {
  if (finished_) return;
  // No idle ticks once closing: the close handshake is bounded by Beast's handshake timeout.
  std::optional<std::chrono::steady_clock::time_point> due;
  if (!closing_) due = idle_due_;
  if (writing_ && (!due || write_due_ < *due)) due = write_due_;
  if (!due) return TimerWheel::Cancel(this);
  lane_->wheel().Schedule(this, *due);
}

void WsSession::OnDeadline() {
  // The wheel holds no reference: keep the session alive while it acts (a close may drop the last
  // other one).
  auto self = this->weak_from_this().lock();
  if (!self || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (writing_ && now >= write_due_) OnWriteTimeout();
  if (!closing_ && !finished_ && now >= idle_due_) OnIdleTick();
  ScheduleDeadline();
}

void WsSession::OnIdleTick() {
  idle_due_ = std::chrono::steady_clock::now() + state_->options.idle_timeout / 2;
  // Not reading means we paused (a command running, or the peer behind on output): not the peer's
  // silence.
  if (input_seen_ || !reading_) {
    input_seen_ = false;
    idle_ping_sent_ = false;
  } else if (!idle_ping_sent_) {
    idle_ping_sent_ = true;
    if (!ping_in_flight_) {
      ping_in_flight_ = true;
      ws_.async_ping({}, [self = this->shared_from_this()](beast::error_code) { self->ping_in_flight_ = false; });
    }
  } else {
    state_->log.Info("ws ", id_, " from ", remote_, " user ", caller_.user, ": nothing received for ",
                     state_->options.idle_timeout.count(), " ms; closing with 1001 idle timeout");
    // The peer is probably gone: do not wait the whole handshake timeout for its close frame.
    websocket::stream_base::timeout closing{};
    closing.handshake_timeout = std::min<std::chrono::steady_clock::duration>(state_->options.handshake_timeout,
                                                                              std::chrono::seconds(1));
    closing.idle_timeout = websocket::stream_base::none();
    closing.keep_alive_pings = false;
    ws_.set_option(closing);
    return StartClose(static_cast<std::uint16_t>(websocket::close_code::going_away), "idle timeout", false);
  }
}

// ---- Input ----

void WsSession::CloseSocket() {
  ws_.next_layer().close();
}

void WsSession::DoRead() {
  // One request at a time, and no new input while the peer is behind on output.
  if (reading_ || busy_ || closing_ || finished_ || queue_.HalfFull()) return;
  reading_ = true;
  // Between requests, with nothing of a next frame in Beast's hands: wait until the socket has
  // something, holding neither Beast's read operation nor a buffer meanwhile.
  TransportStream& stream = ws_.next_layer();
  // Whole pongs Beast read behind the last request (a client answering an idle ping while it sends)
  // are input, and Beast drops them with the next read: no reason to start one now and hold it.
  if (stream.transport().can_wait_readable() && stream.OnlyPongsUnread(messages_read_)) {
    if (!stream.Drained(messages_read_)) input_seen_ = true;
    stream.transport().WaitReadable(beast::bind_front_handler(&WsSession::OnReadable, this->shared_from_this()));
    return;
  }
  StartRead();
}

void WsSession::OnReadable(beast::error_code ec) {
  // Closing: Beast's close operation reads the peer's close frame itself.
  if (closing_ || finished_) {
    reading_ = false;
    return;
  }
  if (ec) {
    reading_ = false;
    return Fail(ec, "wait");
  }
  // Pongs (answers to our idle pings) are input, and nothing more: dropped here, they do not wake
  // Beast, whose read would then stay pending for the next frame.
  Transport& transport = ws_.next_layer().transport();
  std::array<std::uint8_t, 2 + 4 + 125> head;
  for (;;) {
    beast::error_code peek_ec;
    const std::size_t n = transport.PeekNow(head.data(), head.size(), peek_ec);
    if (peek_ec == net::error::would_block) {
      // Nothing (more) to read: wait again.
      reading_ = false;
      return DoRead();
    }
    // An error or the end of the stream is Beast's to report; anything but a whole pong is its to read.
    if (peek_ec || n == 0) break;
    const std::optional<std::size_t> pong = CompletePongSize(head.data(), n);
    if (!pong) break;
    transport.ReadNow(head.data(), *pong, peek_ec);
    if (peek_ec) break;
    input_seen_ = true;
  }
  StartRead();
}

void WsSession::StartRead() {
  state_->metrics.ws_reading.Add(1);
  const std::size_t max = state_->options.max_frame_bytes;
  // Read at most one byte past the limit: enough to know the frame is too large. A new message is
  // read in small steps at first: Beast reads the socket into its own buffer and copies into ours,
  // so this costs no syscalls, and an idle connection (a read always pending) holds 512 bytes
  // rather than Beast's default 1.5 KiB; larger requests grow the buffer as they arrive.
  constexpr std::size_t kFirstStep = 512;
  const std::size_t limit = oversized_ ? kDiscardChunk
                            : buffer_.size() == 0 ? std::min(kFirstStep, max + 1)
                                                  : max + 1 - buffer_.size();
  ws_.async_read_some(buffer_, limit, beast::bind_front_handler(&WsSession::OnRead, this->shared_from_this()));
}

void WsSession::OnRead(beast::error_code ec, std::size_t) {
  reading_ = false;
  state_->metrics.ws_reading.Add(-1);
  if (!ec) input_seen_ = true;
  if (ec == websocket::error::closed) return Finish("closed by peer");
  if (ec == websocket::error::message_too_big) {
    state_->log.Info("ws ", id_, " from ", remote_, ": frame above the hard limit; closed with 1009");
    return Finish("frame too big");
  }
  if (ec) return Fail(ec, "read");
  if (ws_.is_message_done()) ++messages_read_;
  if (!ws_.got_text()) binary_ = true;
  if (oversized_ || buffer_.size() > state_->options.max_frame_bytes) {
    oversized_ = true;
    buffer_.consume(buffer_.size());
  }
  if (!ws_.is_message_done()) return DoRead();

  if (oversized_) {
    oversized_ = binary_ = false;
    SendError(nullptr, {std::string(kFrameTooLarge),
                        "frame larger than maxFrameBytes (" + std::to_string(state_->options.max_frame_bytes) +
                            " bytes); discarded",
                        -1});
  } else if (binary_) {
    binary_ = false;
    buffer_.consume(buffer_.size());
    SendError(nullptr, {std::string(kBadRequest), "binary frames are not supported: send JSON text frames", -1});
  } else {
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    HandleFrame(text);
  }
  // Give the buffer back between requests (see DoRead): most connections are idle most of the time.
  buffer_.shrink_to_fit();
  DoRead();
}

void WsSession::HandleFrame(const std::string& text) {
  state_->metrics.requests.Add();
  Request request;
  WireError error;
  Json error_id;
  if (!ParseRequest(text, &request, &error, &error_id)) return SendError(error_id, std::move(error));
  if (request.cmd == "hello") return HandleHello(request);
  if (!hello_) {
    return SendError(request.id, {Code(StatusCode::kFailedPrecondition), "the first command must be hello {\"version\":1}", -1});
  }
  if (request.cmd == "ping") return HandlePing(request);
  const CommandSpec* spec = FindCommand(request.cmd);
  if (spec == nullptr) {
    return SendError(request.id, {std::string(kUnknownCommand), "unknown command '" + request.cmd + "'", -1});
  }
  if (spec->needs_auth && caller_.user == 0) {
    return SendError(request.id, {Code(StatusCode::kUnauthenticated), "log in first (login or resume)", -1});
  }
  // A revoked session acts no more, even before the close the revocation posted reaches this lane.
  if (caller_.user != 0 && auth_.revoked()) {
    SendError(request.id, {Code(StatusCode::kUnauthenticated), "session revoked", -1});
    return CloseRevoked();
  }
  Submit(std::move(request), spec);
}

void WsSession::HandleHello(const Request& request) {
  if (hello_) return SendError(request.id, {Code(StatusCode::kFailedPrecondition), "hello was already sent", -1});
  Args args(request.args);
  const std::uint64_t version = args.U64("version", true);
  if (!args.ok()) return SendError(request.id, args.error());
  if (version != static_cast<std::uint64_t>(kProtocolVersion)) {
    SendError(request.id, {std::string(kUnsupportedVersion),
                           "protocol version " + std::to_string(version) + " is not supported; this server speaks 1",
                           -1});
    // Versions cannot be mixed on one connection: the client reconnects speaking one we know.
    return StartClose(static_cast<std::uint16_t>(websocket::close_code::protocol_error), "unsupported version",
                      /*flush=*/true);
  }
  hello_ = true;
  const ServerOptions& o = state_->options;
  SendResult(request.id, Json{{"version", kProtocolVersion},
                              {"server", "chatd/" LIBCHAT_VERSION_STRING},
                              {"maxFrameBytes", o.max_frame_bytes},
                              {"maxBodyBytes", state_->service.options().limits.max_body_bytes},
                              {"maxPage", state_->service.options().limits.max_page},
                              {"idleTimeoutMs", o.idle_timeout.count()}});
}

void WsSession::HandlePing(const Request& request) {
  SendResult(request.id, Json{{"time", NowMs()}});
  // A heartbeat is activity: refresh last seen, but not on every ping (it is a store write).
  const auto now = std::chrono::steady_clock::now();
  if (caller_.device != 0 && now - last_touch_ >= state_->options.last_seen_interval) {
    last_touch_ = now;
    state_->presence.DeviceActive(caller_.device);
  }
}

void WsSession::Submit(Request request, const CommandSpec* spec) {
  Json id = request.id;
  Caller caller{caller_.user, caller_.device, remote_, std::chrono::steady_clock::now()};
  // The service will publish this device's revocation when the command succeeds; the outcome, not
  // the revocation, then decides what happens to this connection (SessionAuth).
  own_change_ = ChangesOwnCredentials(request, caller);
  if (own_change_) auth_.BeginOwnChange();
  busy_ = true;
  // Password commands wait for one of the few hash workers; a flood of them (register, wrong
  // passwords) then delays only its own kind, never the commands of signed-in users.
  const bool hashes = HashesPassword(request, caller);
  WorkerPool& pool = hashes ? state_->hash_workers : state_->workers;
  auto self = this->shared_from_this();
  const bool queued =
      pool.TrySubmit([self, spec, caller = std::move(caller), request = std::move(request)]() mutable {
        ServerState& st = *self->state_;
        const auto start = std::chrono::steady_clock::now();
        auto observe_latency = [&st, start, name = spec->name](const CommandOutcome& outcome) {
          const auto us =
              std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
          st.metrics.store_latency.ObserveMicros(us);
          st.metrics.commands.Observe(name, outcome.ok ? "ok" : outcome.error.code, us);
        };
        if (spec->run_async != nullptr) {
          // The outcome arrives later, on whichever thread completes the work (the store's committer):
          // count the command as in flight until it has been handed to the lane, so that Stop()
          // waits for it, and encode there rather than on the committer, which every send shares.
          st.async_commands.Begin();
          auto answered = std::make_shared<std::atomic<bool>>(false);
          auto done = [self, id = request.id, observe_latency, answered](CommandOutcome outcome) mutable {
            if (answered->exchange(true)) return;
            observe_latency(outcome);
            ServerState& state = *self->state_;
            // Behind the events the command committed (the sender's own newMessage first).
            state.router.AfterQueued([self, id = std::move(id), outcome = std::move(outcome)]() mutable {
              net::post(self->ws_.get_executor(), [self, id = std::move(id), outcome = std::move(outcome)]() mutable {
                auto frame = outcome.ok ? EncodeResult(id, outcome.result) : EncodeError(id, outcome.error);
                self->OnCommandDone(std::move(outcome), std::move(frame));
              });
              self->state_->async_commands.End();
            });
          };
          try {
            Args args(request.args);
            CommandContext ctx = st.Context();
            spec->run_async(ctx, caller, args, done);
          } catch (const std::exception& e) {
            st.log.Error("command ", request.cmd, " threw: ", LogEscape(e.what(), 256));
            CommandOutcome failed;
            failed.error = {Code(StatusCode::kInternal), "internal error", -1};
            done(std::move(failed));  // Ignored if the command had answered before throwing.
          }
          return;
        }
        CommandOutcome outcome;
        try {
          Args args(request.args);
          CommandContext ctx = st.Context();
          outcome = spec->run(ctx, caller, args);
        } catch (const std::exception& e) {
          // Nothing in a handler should throw; if something does, answer rather than kill the worker.
          st.log.Error("command ", request.cmd, " threw: ", LogEscape(e.what(), 256));
          outcome = CommandOutcome{};
          outcome.error = {Code(StatusCode::kInternal), "internal error", -1};
        }
        observe_latency(outcome);
        // Encode here, on the worker: JSON work stays off the network threads.
        auto frame = outcome.ok ? EncodeResult(request.id, outcome.result) : EncodeError(request.id, outcome.error);
        // Behind the events the command committed, as for asynchronous commands.
        self->state_->router.AfterQueued([self, outcome = std::move(outcome), frame = std::move(frame)]() mutable {
          net::post(self->ws_.get_executor(), [self, outcome = std::move(outcome), frame = std::move(frame)]() mutable {
            self->OnCommandDone(std::move(outcome), std::move(frame));
          });
        });
      });
  if (!queued) {
    busy_ = false;
    if (own_change_ && auth_.EndOwnChange(std::nullopt)) CloseRevoked();
    own_change_ = false;
    if (hashes) {
      state_->metrics.hash_rejected.Add();
      state_->metrics.commands.Observe(spec->name, "resource_exhausted", 0);
      SendError(id, {Code(StatusCode::kResourceExhausted), "server busy: too many password checks queued", 1000});
    } else {
      state_->metrics.worker_rejected.Add();
      state_->metrics.commands.Observe(spec->name, "resource_exhausted", 0);
      SendError(id, {Code(StatusCode::kResourceExhausted), "server busy: too many commands queued", 100});
    }
  }
}

void WsSession::OnCommandDone(CommandOutcome outcome, std::shared_ptr<const std::string> frame) {
  busy_ = false;
  bool revoked_meanwhile = false;
  if (own_change_) {
    own_change_ = false;
    std::optional<std::string> rotated;
    if (outcome.ok && outcome.effect == SessionEffect::kTokenRotated) rotated = outcome.token_hash;
    revoked_meanwhile = auth_.EndOwnChange(rotated);
  }
  if (finished_) return;  // The connection ended while the command ran; its effect stays in the store.
  if (!outcome.ok) state_->metrics.request_errors.Add();
  bool verify = false;
  bool device_had_session = false;
  switch (outcome.effect) {
    case SessionEffect::kNone:
    case SessionEffect::kTokenRotated:
      break;
    case SessionEffect::kAuthenticated: {
      caller_.user = outcome.user;
      caller_.device = outcome.device;
      auth_.SetToken(outcome.token_hash);
      // Register before the response goes out (VerifyRegistration sends it): the client syncs after
      // it, so whatever commits from now on reaches it live or by that sync (it drops seq it has
      // already seen).
      registered_ = true;
      const bool first =
          state_->router.Add(caller_.user, caller_.device, this->shared_from_this(), &device_had_session);
      state_->interest.AddSession(caller_.user);
      state_->metrics.devices_online.Add(1);
      last_touch_ = std::chrono::steady_clock::now();
      state_->presence.DeviceConnected(caller_.user, caller_.device, first);
      verify = true;
      break;
    }
    case SessionEffect::kLoggedOut:
      Unregister();
      caller_ = SignedIn{};
      break;
  }
  if (verify && !revoked_meanwhile) return VerifyRegistration(std::move(frame), device_had_session);
  Enqueue(OutFrame{std::move(frame), 0, false});
  if (outcome.effect == SessionEffect::kLoggedOut) {
    return StartClose(static_cast<std::uint16_t>(websocket::close_code::normal), "logged out", /*flush=*/true);
  }
  if (revoked_meanwhile) return CloseRevoked();
  DoRead();
}

void WsSession::VerifyRegistration(std::shared_ptr<const std::string> answer, bool device_had_session) {
  busy_ = true;  // No command until the check is done: a revoked session must not act.
  auto self = this->shared_from_this();
  const bool queued = state_->workers.TrySubmit(
      [self, user = caller_.user, device = caller_.device, hash = auth_.token_hash(), answer,
       device_had_session]() mutable {
        // Both waits below share one budget: with the node's NATS server silent, each would wait
        // out its own timeout, and the client's request times out at 10 s (docs/scaling.md).
        const auto deadline = std::chrono::steady_clock::now() + kClusterRegistrationWait;
        const auto left = [deadline] {
          return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        };
        // On a bus between nodes, the user's chats are watched before the session reads its next
        // command (its sync): what commits after that sync's read reaches this node live.
        self->state_->interest.WatchChatsOf(user, left()).IgnoreError();
        // And the device is in the cluster's record before the client hears it is signed in: the
        // user's last other device ending on another node meanwhile would otherwise announce them
        // offline, and this device's write online again (a flap; docs/scaling.md, "Presence"). Not
        // before its chats are watched: the nodes holding calls that ring the user ring it on seeing
        // that write (CallManager::DeviceOnline), on the chat's subject.
        if (Status w = self->state_->presence.Register(user, device, left()); !w.ok()) {
          self->WarnLimited("ws ", self->id_, ": ", w.ToString());
        }
        Status s = self->state_->service.CheckSession(user, device, hash);
        const bool ring = s.ok();
        net::post(self->ws_.get_executor(), [self, s = std::move(s), answer = std::move(answer)]() mutable {
          self->OnVerified(std::move(s), std::move(answer));
        });
        // Calls ringing the user ring this device too (it may have been woken by their push). After
        // the answer is posted, to the same lane: the client hears it is signed in first.
        if (ring) self->state_->RingOnSignIn(user, device, device_had_session);
      });
  // A full worker queue: the check is not made, and the session does not go on unchecked.
  if (!queued) OnVerified(Status::Unavailable("server busy"), std::move(answer));
}

void WsSession::OnVerified(Status status, std::shared_ptr<const std::string> answer) {
  busy_ = false;
  if (finished_ || closing_) return;
  if (status.code() == StatusCode::kUnauthenticated || status.code() == StatusCode::kPermissionDenied) {
    state_->log.Info("ws ", id_, ": session of user ", caller_.user, " device ", caller_.device,
                     " ended while it was being registered: ", StatusCodeName(status.code()));
    auth_.Revoke({});
    return CloseRevoked();
  }
  Enqueue(OutFrame{std::move(answer), 0, false});
  if (!status.ok()) {
    // Not checked (a full worker queue, the store unavailable): the session is not used unchecked,
    // but it stands. The client has its answer (a login's new token) and reconnects and resumes;
    // 4001 would have signed it out for good.
    WarnLimited("ws ", id_, ": session of user ", caller_.user, " device ", caller_.device, " not registered: ",
                StatusCodeName(status.code()), "; closing with 1013");
    Unregister();
    return StartClose(static_cast<std::uint16_t>(websocket::close_code::try_again_later), "try again later",
                      /*flush=*/true);
  }
  DoRead();
}

void WsSession::CloseRevoked() {
  if (closing_ || finished_) return;
  Unregister();
  StartClose(kCloseSessionRevoked, "session revoked", /*flush=*/false);
}

// ---- Output ----

void WsSession::Deliver(OutFrame frame) {
  // Post our work to the lane: the queue is touched only on its thread.
  net::post(ws_.get_executor(),
            [self = this->shared_from_this(), frame = std::move(frame)]() mutable { self->Enqueue(std::move(frame)); });
}

bool WsSession::QueueHere(const OutFrame& frame) {
  if (closing_ || finished_ || !open_) return false;
  if (!queue_.Push(frame)) {
    OnSlowConsumer();
    return false;
  }
  if (writing_ || flush_wanted_) return false;
  flush_wanted_ = true;
  return true;
}

void WsSession::FlushHere() {
  flush_wanted_ = false;
  if (!writing_ && !queue_.empty() && !closing_ && !finished_) DoWrite();
}

void WsSession::Revoke(const std::string& keep_token_hash) {
  // Decided here, on the revoking thread: commands that start from now on are refused.
  if (!auth_.Revoke(keep_token_hash)) return;
  net::post(ws_.get_executor(), [self = this->shared_from_this()] {
    if (self->finished_) return;
    self->state_->log.Info("ws ", self->id_, ": session of user ", self->caller_.user, " device ",
                           self->caller_.device, " revoked");
    self->CloseRevoked();
  });
}

void WsSession::Shutdown() {
  net::post(ws_.get_executor(), [self = this->shared_from_this()] {
    self->StartClose(static_cast<std::uint16_t>(websocket::close_code::going_away), "going away", false);
  });
}

void WsSession::SendResult(const Json& id, const Json& result) { Enqueue(OutFrame{EncodeResult(id, result), 0, false}); }

void WsSession::SendError(const Json& id, WireError error) {
  state_->metrics.request_errors.Add();
  Enqueue(OutFrame{EncodeError(id, error), 0, false});
}

void WsSession::Enqueue(OutFrame frame) {
  if (closing_ || finished_ || !open_) return;
  if (!queue_.Push(std::move(frame))) return OnSlowConsumer();
  if (!writing_) DoWrite();
}

void WsSession::OnSlowConsumer() {
  state_->metrics.send_queue_drops.Add();
  state_->log.Warn("ws ", id_, " user ", caller_.user, " device ", caller_.device, ": slow consumer (",
                   queue_.size(), " frames, ", queue_.bytes(), " bytes queued); closing with 1008");
  StartClose(static_cast<std::uint16_t>(websocket::close_code::policy_error), "slow consumer", false);
}

void WsSession::DoWrite() {
  writing_ = true;
  // A peer that stops reading must not hold a write (and its buffers) forever. Usually the session's
  // node is due earlier (the idle tick) and OnDeadline looks at the write then: nothing to move.
  write_due_ = std::chrono::steady_clock::now() + state_->options.write_timeout;
  if (!scheduled() || lane_->wheel().DueOf(*this) > write_due_) ScheduleDeadline();
  // Everything pending, up to a batch: one writev of at most 2 x kMaxBatchFrames buffers (below
  // IOV_MAX) and about kMaxBatchBytes, so that one write does not hog the thread.
  constexpr std::size_t kMaxBatchFrames = 256;
  constexpr std::size_t kMaxBatchBytes = 512 * 1024;
  const std::size_t n = std::min(queue_.size(), kMaxBatchFrames);
  write_headers_.clear();
  write_buffers_.clear();
  std::size_t bytes = 0;
  std::size_t frames = 0;
  for (; frames < n && (frames == 0 || bytes < kMaxBatchBytes); ++frames) {
    bytes += queue_[frames].text->size();
    write_headers_.push_back(TextFrameHeader(queue_[frames].text->size()));
  }
  for (std::size_t i = 0; i < frames; ++i) {
    write_buffers_.push_back(net::buffer(write_headers_[i].bytes.data(), write_headers_[i].size));
    write_buffers_.push_back(net::buffer(*queue_[i].text));
  }
  writing_frames_ = frames;
  state_->metrics.write_batches.Add();
  // Through the transport's write gate, behind (or ahead of) Beast's own frames, never between them.
  ws_.next_layer().transport().Write(write_buffers_.data(), write_buffers_.size(),
                                     beast::bind_front_handler(&WsSession::OnWrite, this->shared_from_this()));
}

void WsSession::OnWriteTimeout() {
  // Once: the write completes with an error soon after the socket is closed.
  write_due_ = std::chrono::steady_clock::time_point::max();
  state_->log.Warn("ws ", id_, " user ", caller_.user, ": write stalled for ",
                   state_->options.write_timeout.count(), " ms; connection dropped");
  // Closing the socket completes the pending write with an error, which finishes the session.
  CloseSocket();
}

void WsSession::OnWrite(beast::error_code ec, std::size_t) {
  // The deadline of this write is dropped lazily: OnDeadline finds no write in flight.
  writing_ = false;
  if (ec) return Fail(ec, "write");
  std::uint64_t messages = 0;
  const std::int64_t now = NowMs();
  const std::int64_t now_ns = StageHistograms::NowNs();
  for (std::size_t i = 0; i < writing_frames_; ++i) {
    const OutFrame& sent = queue_.front();
    if (sent.is_message) {
      ++messages;
      state_->metrics.delivery_latency.ObserveMicros((now - sent.message_timestamp) * 1000);
      if (sent.handed_ns != 0) {
        state_->metrics.message_stages.Observe(StageHistograms::kFanoutToWritten, now_ns - sent.handed_ns);
      }
    }
    queue_.Pop();
  }
  writing_frames_ = 0;
  if (messages != 0) state_->metrics.messages_out.Add(messages);
  if (!queue_.empty()) {
    DoWrite();
  } else {
    // Idle again: do not keep the batch's bookkeeping for a connection that may now sleep for hours.
    ReleaseStorage(write_headers_);
    ReleaseStorage(write_buffers_);
    if (closing_) return DoClose();
  }
  // The peer caught up: resume reading if backpressure paused it.
  DoRead();
}

// ---- Closing ----

void WsSession::StartClose(std::uint16_t code, const char* reason, bool flush) {
  if (closing_ || finished_) return;
  closing_ = true;
  close_code_ = code;
  close_why_ = reason;
  if (!open_) {
    // Still in the upgrade: there is no WebSocket to close politely.
    CloseSocket();
    return;
  }
  if (!flush) queue_.Clear(/*keep=*/writing_ ? writing_frames_ : 0);
  // With a write in flight, OnWrite continues with the queue and then closes.
  if (writing_) return;
  if (queue_.empty()) return DoClose();
  DoWrite();
}

void WsSession::DoClose() {
  if (close_sent_) return;
  close_sent_ = true;
  // Sends the close frame and waits for the peer's (bounded by the handshake timeout); a read in
  // flight completes with websocket::error::closed.
  ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_why_),
                  beast::bind_front_handler(&WsSession::OnClose, this->shared_from_this()));
}

void WsSession::OnClose(beast::error_code ec) {
  if (ec && !IsDisconnect(ec)) state_->log.Debug("ws ", id_, ": close: ", ec.message());
  Finish(close_why_);
}

void WsSession::Fail(beast::error_code ec, const char* what) {
  if (!finished_ && !IsDisconnect(ec)) state_->log.Info("ws ", id_, " from ", remote_, ": ", what, ": ", ec.message());
  // Make sure no operation is left waiting on a broken connection.
  CloseSocket();
  Finish(IsDisconnect(ec) ? "disconnected" : what);
}

void WsSession::Finish(const char* why) {
  if (finished_) return;
  finished_ = true;
  TimerWheel::Cancel(this);
  const auto lived =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - opened_at_).count();
  if (open_) {
    state_->metrics.websockets.Add(-1);
    state_->log.Info("ws ", id_, " from ", remote_, " user ", caller_.user, " device ", caller_.device,
                     " closed after ", lived, " ms: ", why);
  }
  Unregister();
  state_->RemoveSession(id_);
}

void WsSession::Unregister() {
  if (!registered_) return;
  registered_ = false;
  const bool last = state_->router.Remove(caller_.user, this);
  state_->interest.RemoveSession(caller_.user);
  state_->metrics.devices_online.Add(-1);
  state_->presence.DeviceDisconnected(caller_.user, caller_.device, last);
}

}  // namespace chat::detail
