// ServerState: what every connection of one Server shares. Held by shared_ptr from each session, so
// the router, metrics and workers outlive the last session. Members are declared so that destruction
// joins the workers first, while everything their jobs use still exists.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "address_slots.h"
#include "client_address.h"
#include "commands.h"
#include "live_registry.h"
#include "libchat/server/server.h"
#include "libchat/service.h"
#include "log_limiter.h"
#include "logger.h"
#include "metrics.h"
#include "presence.h"
#include "registration_guard.h"
#include "router.h"
#include "token_buckets.h"
#include "tls_reload.h"
#include "worker_pool.h"

// No Asio or Beast here: this header is in every command's file. The I/O types are only named.
namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace chat::detail {

class IoLane;
class StaticSite;
class WsSession;

// Counts asynchronous commands whose outcome has not reached their session yet (they complete on a
// store thread, after the worker that started them returned). Stop() waits for none to be left.
class InFlight {
 public:
  void Begin() {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
  }
  void End() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t count_ = 0;
};

struct ServerState {
  // `schedule_receipt_flush` must call router.FlushReceipts() one receipt window from now.
  ServerState(ServerOptions opts, ChatService& svc, std::function<void()> schedule_receipt_flush)
      : options(std::move(opts)),
        service(svc),
        log(options.log_level, options.log_sink),
        interest(service.bus(), service.store(), log),
        router(metrics, log, std::move(schedule_receipt_flush)),
        presence(service, workers, router, log),
        registration(service.options().limits.register_per_address, service.options().limits.register_global,
                     service.options().enforce_rate_limits, service.options().clock),
        resumes(service.options().clock),
        refusal_log(LogLimiterOptions{}, service.options().clock),
        hash_workers(options.hash_workers, options.hash_queue,
                     [this](std::size_t depth) { metrics.hash_queue_depth.Set(static_cast<std::int64_t>(depth)); }),
        workers(options.workers, options.worker_queue,
                [this](std::size_t depth) { metrics.worker_queue_depth.Set(static_cast<std::int64_t>(depth)); }) {}

  // The registry's threads call into presence and the workers: stopped before those go.
  ~ServerState() {
    if (live) live->Close();
  }

  // REQUIRES: StartCalls() succeeded (true from Start until Stop has joined the workers).
  CommandContext Context() {
    return CommandContext{service, presence, options, log, metrics, *calls, registration, resumes, refusal_log};
  }

  // Creates the push dispatcher (when options.push_senders is set; its LiveCheck asks the router)
  // and the call manager, and hooks their metrics into /metrics. Called once by Start before serving.
  // InvalidArgument for bad options. Defined in call_wiring.cc.
  Status StartCalls();
  // Destroys both (joining their threads). Called by Stop once no command runs and before the
  // router detaches, since their events still go through it.
  void StopCalls();
  // Rings `device` for the calls held on this node that still ring its user
  // (CallManager::DeviceOnline), if the calls are running. Takes calls_mu; never blocks for long.
  // Defined in call_wiring.cc.
  void RingLate(UserId user, DeviceId device);
  // A session of `device` just signed in: the calls ringing its user ring it. Those held here at
  // once; those held by other nodes ring a device new to this node on seeing it in the live
  // registry, but a second session of a device (`device_had_session`: a reconnect overlapping the
  // old connection) changes nothing there, so every node is told (kDeviceOnline, this one too).
  void RingOnSignIn(UserId user, DeviceId device, bool device_had_session);
  // Creates `live`: on a bus between nodes the cluster registry on the bus's shared buckets (an
  // error if the bus cannot hold them: the node must not serve with presence of its own), else the
  // router's. Called by StartCalls first. Defined in call_wiring.cc.
  Status StartLive();

  // On a bus between nodes: turns the router's sequencing on, with the repairs and membership
  // updates below. Called once by Start before the router attaches. Defined in between_nodes.cc.
  void EnableBetweenNodes();
  // Reads the entries of `r` from the store and hands them to the router (a worker's job).
  void RepairFromStore(const ChatSequencer::Repair& r);

  // WebSocket sessions, so that Stop() can close them with "going away".
  void AddSession(std::uint64_t id, std::weak_ptr<WsSession> s) {
    std::lock_guard<std::mutex> lock(sessions_mu);
    sessions.emplace(id, std::move(s));
  }
  void RemoveSession(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(sessions_mu);
    sessions.erase(id);
    if (sessions.empty()) sessions_cv.notify_all();
  }

  const ServerOptions options;
  ChatService& service;
  // Open connections per source address (options.max_connections_per_address).
  const std::shared_ptr<AddressSlots> address_slots =
      std::make_shared<AddressSlots>(options.max_connections_per_address);
  // One per network thread; filled by Server::Start before the first connection. Sessions hold
  // raw pointers: the lanes live as long as this state, which every session keeps alive.
  // (shared_ptr: destroyed wherever the state is, without io_lane.h.)
  std::vector<std::shared_ptr<IoLane>> lanes;
  Logger log;
  Metrics metrics;
  // The chats and users this node watches on a bus between nodes; before the router, which uses it.
  Interest interest;
  Router router;
  Presence presence;
  // Which devices are live where (live_registry.h); set by StartLive before serving, closed by Stop
  // before the workers finish (its last transitions are announced by them) and destroyed with the
  // state. Presence, the push dispatcher's LiveCheck (and calls) ask it.
  std::unique_ptr<LiveRegistry> live;
  // Set by StartCalls, reset by StopCalls; declared after the router, which the dispatcher's
  // LiveCheck uses, and destroyed before it. Commands use `calls` without the lock: it exists
  // whenever a command can run. /metrics reads both under the lock (Server::MetricsText may race
  // with Stop).
  std::mutex calls_mu;
  std::unique_ptr<PushDispatcher> push;  // GUARDED_BY(calls_mu) for readers other than commands.
  std::unique_ptr<CallManager> calls;    // GUARDED_BY(calls_mu) for readers other than commands.
  // Reverse proxies whose X-Forwarded-For is believed (ServerOptions::trusted_proxies, checked by
  // Server::Create).
  const TrustedProxies proxies = [this] {
    auto parsed = TrustedProxies::Parse(options.trusted_proxies);
    return parsed.ok() ? std::move(*parsed) : TrustedProxies();
  }();
  // The certificate and key the TLS context presents (tls_reload.h), replaceable while serving;
  // declared before the context, which calls into it on every handshake. Null: plain.
  std::shared_ptr<TlsReloader> tls_reloader;
  // The TLS context (ServerOptions::tls), set by Start before the first connection; null: plain.
  std::shared_ptr<boost::asio::ssl::context> tls;
  // The web app served at "/" (ServerOptions::web_root), set by Start; null: none (404).
  std::shared_ptr<const StaticSite> site;
  std::atomic<bool> ready{false};     // /readyz: listening and not draining.
  std::atomic<bool> draining{false};  // Stop() began: new WebSockets are closed at once.
  std::atomic<std::uint64_t> next_session_id{1};
  InFlight async_commands;
  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::unordered_map<std::uint64_t, std::weak_ptr<WsSession>> sessions;  // GUARDED_BY(sessions_mu)
  // Registrations per source address and overall (Limits::register_*), charged before the hash.
  RegistrationGuard registration;
  // Resumes per user (Limits::resume_per_user): each connect announces presence to every partner.
  TokenBuckets resumes;
  // Repeated refusal lines, per source address (docs/security.md, "Logs").
  LogLimiter refusal_log;
  // Commands that hash a password (HashesPassword in commands.h) run here, never on `workers`: at
  // most options.hash_workers Argon2id hashes at once, and everything else is served meanwhile.
  WorkerPool hash_workers;
  // Last: destroyed (joined) first.
  WorkerPool workers;
};

}  // namespace chat::detail
