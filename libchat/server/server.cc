// Server: wires the listener, the per-thread io_contexts, the router, presence and the workers, and
// runs the shutdown sequence.
#include "libchat/server/server.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "beast.h"
#include "client_address.h"
#include "io_lane.h"
#include "listener.h"
#include "server_state.h"
#include "static_files.h"
#include "tls.h"
#include "tls_reload.h"
#include "ws_session.h"

namespace chat {
namespace {

using namespace chat::detail;

class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions options, ChatService& service) : options_(std::move(options)), service_(service) {}
  ~ServerImpl() override { Stop(); }

  Result<Endpoint> Start() override;
  void Stop() override;
  std::string MetricsText() const override { return state_ ? state_->metrics.Render() : std::string(); }
  Result<std::string> ReloadTls(const TlsOptions& tls) override;
  void SetLogLevel(LogLevel level) override;

 private:
  void ScheduleReceiptFlush();

  const ServerOptions options_;
  ChatService& service_;
  std::mutex mu_;  // Start/Stop against each other.
  bool started_ = false;
  bool stopped_ = false;
  // Declared before the contexts: the contexts (and the handlers they still hold, which may own the
  // last sessions) are destroyed first, while the state those sessions reference still exists.
  std::shared_ptr<ServerState> state_;
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  // On the first lane (its thread serialises the timer with the posts that set it).
  std::unique_ptr<net::steady_timer> receipt_timer_;
  std::shared_ptr<Listener> listener_;
  std::vector<std::thread> threads_;
};

void ServerImpl::ScheduleReceiptFlush() {
  // Called from any thread (the router, on a publisher's thread); the timer lives on the first lane.
  net::post(*contexts_[0], [this, state = state_] {
    receipt_timer_->expires_after(options_.receipt_interval);
    receipt_timer_->async_wait([state](beast::error_code ec) {
      if (!ec) state->router.FlushReceipts();
    });
  });
}

Result<Endpoint> ServerImpl::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return Status::FailedPrecondition("server already started");
  beast::error_code ec;
  const auto address = net::ip::make_address(options_.address, ec);
  if (ec) return Status::InvalidArgument("listen address '" + options_.address + "': " + ec.message());
  // Load the certificate before anything starts: a bad one refuses to serve, it does not fail later.
  auto tls = MakeServerTlsContext(options_.tls);
  if (!tls.ok()) return tls.error();
  // The pair the context presents, replaceable while serving (ReloadTls).
  std::shared_ptr<TlsReloader> reloader;
  if (*tls) {
    auto made = TlsReloader::Create(options_.tls);
    if (!made.ok()) return made.error();
    reloader = std::move(*made);
    reloader->Attach(**tls);
  }
  // The web app too: a missing or oversized folder is an error now, not a 404 later.
  std::shared_ptr<const StaticSite> site;
  if (!options_.web_root.empty()) {
    auto loaded = StaticSite::Load(options_.web_root);
    if (!loaded.ok()) return loaded.error();
    site = std::move(*loaded);
  }

  unsigned n = options_.io_threads != 0 ? options_.io_threads : std::thread::hardware_concurrency();
  if (n == 0) n = 1;
  for (unsigned i = 0; i < n; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread (its lane's), so Asio can skip
    // its locking.
    contexts_.push_back(std::make_unique<net::io_context>(1));
    guards_.push_back(net::make_work_guard(*contexts_.back()));
  }
  receipt_timer_ = std::make_unique<net::steady_timer>(contexts_[0]->get_executor());
  state_ = std::make_shared<ServerState>(options_, service_, [this] { ScheduleReceiptFlush(); });
  state_->metrics.render_spam = [&service = service_](std::string* out) { RenderSpam(service.SpamCountersSinceStart(), out); };
  state_->tls_reloader = std::move(reloader);
  state_->tls = std::move(*tls);
  state_->site = std::move(site);
  // The lanes' timer wheels tick at an eighth of the shortest WebSocket deadline (half the idle
  // timeout, the write timeout), between 1 ms and 250 ms: a deadline fires at most that late.
  const auto shortest = std::min(options_.idle_timeout / 2, options_.write_timeout);
  const auto tick = std::clamp<std::chrono::milliseconds>(shortest / 8, std::chrono::milliseconds(1),
                                                          std::chrono::milliseconds(250));
  for (auto& ctx : contexts_) state_->lanes.push_back(std::make_shared<IoLane>(*ctx, tick));
  // Fail at start, not on the first call: bad call or push options refuse to serve.
  if (Status calls = state_->StartCalls(); !calls.ok()) {
    state_.reset();
    receipt_timer_.reset();
    guards_.clear();
    contexts_.clear();
    return calls;
  }

  listener_ = std::make_shared<Listener>(*contexts_[0], state_);
  Status s = listener_->Open(tcp::endpoint(address, options_.port));
  if (!s.ok()) {
    state_->log.Error("cannot listen: ", s.ToString());
    listener_.reset();
    state_->StopCalls();
    state_.reset();
    receipt_timer_.reset();
    guards_.clear();
    contexts_.clear();
    return s;
  }
  const tcp::endpoint bound = listener_->local_endpoint();
  state_->EnableBetweenNodes();
  state_->router.Attach(service_.bus());
  listener_->Run();
  threads_.reserve(n);
  // One thread per lane, and no other thread runs its io_context (the ownership rule, io_lane.h).
  for (auto& lane : state_->lanes) {
    threads_.emplace_back([this, lane = lane.get()] {
      lane->Run([this](const char* what) { state_->log.Error("network thread: unexpected exception: ", what); });
    });
  }
  started_ = true;
  state_->ready.store(true);
  state_->log.Info("listening on ", bound, " with ", n, " network threads and ", options_.workers, " workers");
  return Endpoint{bound.address().to_string(), bound.port()};
}

void ServerImpl::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  ServerState& st = *state_;
  st.log.Info("shutting down: closing connections");
  // 1. Stop accepting; new upgrades still in flight are closed as soon as they complete.
  st.draining.store(true);
  st.ready.store(false);
  listener_->Stop();
  // 2. Close every WebSocket with 1001 "going away".
  std::vector<std::shared_ptr<WsSession>> sessions;
  {
    std::lock_guard<std::mutex> l(st.sessions_mu);
    for (auto& [id, weak] : st.sessions) {
      if (auto s = weak.lock()) sessions.push_back(std::move(s));
    }
  }
  for (auto& s : sessions) s->Shutdown();
  sessions.clear();
  // 3. Give the close handshakes a moment; a client that does not answer is cut at the deadline.
  {
    std::unique_lock<std::mutex> l(st.sessions_mu);
    st.sessions_cv.wait_for(l, options_.shutdown_grace, [&st] { return st.sessions.empty(); });
    if (!st.sessions.empty()) st.log.Warn("shutdown: ", st.sessions.size(), " connections did not close in time");
  }
  // 4. Stop the network threads.
  guards_.clear();
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // 5. Write the closed sessions' devices out of the cluster's live registry (their users' offline
  //    announcements go to the workers), finish the commands already accepted (and the last-seen
  //    updates of closed sessions), then stop listening to the bus: after this no server thread
  //    touches the service.
  if (st.live) st.live->Close();
  st.hash_workers.Shutdown();
  st.workers.Shutdown();
  // Sends the workers started complete when their group commit does: wait for those answers, whose
  // handlers post to the (stopped) network contexts, before the caller may destroy the service.
  st.async_commands.WaitIdle();
  st.StopCalls();
  st.router.Detach();
  // No more events can arrive: drop the deliveries the stopped network threads never drained.
  for (auto& lane : st.lanes) lane->Discard();
  st.log.Info("shut down");
}

Result<std::string> ServerImpl::ReloadTls(const TlsOptions& tls) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!started_ || stopped_) return Status::FailedPrecondition("the server is not running");
  if (!state_->tls_reloader) return Status::FailedPrecondition("the server was started without TLS; restart it to turn TLS on");
  if (!tls.enabled()) return Status::FailedPrecondition("TLS cannot be turned off while serving; restart to do so");
  return state_->tls_reloader->Reload(tls);
}

void ServerImpl::SetLogLevel(LogLevel level) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_) state_->log.SetLevel(level);
}

}  // namespace

Status CheckTlsOptions(const TlsOptions& tls) {
  if (!tls.enabled()) return Status::Ok();
  return CheckTlsPair(tls);
}

Status CheckTrustedProxies(const std::vector<std::string>& cidrs) {
  auto parsed = TrustedProxies::Parse(cidrs);
  return parsed.ok() ? Status::Ok() : parsed.error();
}

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, ChatService& service) {
  if (options.max_frame_bytes < 1024) return Status::InvalidArgument("max_frame_bytes must be at least 1024");
  if (options.send_queue_messages < 2) return Status::InvalidArgument("send_queue_messages must be at least 2");
  if (options.max_response_bytes > options.send_queue_bytes) {
    return Status::InvalidArgument("max_response_bytes (" + std::to_string(options.max_response_bytes) +
                                   ") must not exceed send_queue_bytes (" +
                                   std::to_string(options.send_queue_bytes) + ")");
  }
  if (options.workers == 0) return Status::InvalidArgument("workers must be at least 1");
  if (options.hash_workers == 0) return Status::InvalidArgument("hash_workers must be at least 1");
  if (options.receipt_interval.count() <= 0) return Status::InvalidArgument("receipt_interval must be positive");
  if (auto proxies = TrustedProxies::Parse(options.trusted_proxies); !proxies.ok()) return proxies.error();
  return std::unique_ptr<Server>(new ServerImpl(std::move(options), service));
}

}  // namespace chat
