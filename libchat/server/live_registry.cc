// The live-device registries (live_registry.h). The cluster one, on two SharedKv buckets:
//
//   live    u.<user>     one line "NODE DEVICE" per live device of the user anywhere; no key: offline.
//                        Written with compare-and-set (Swap/Erase on the revision read), so that of
//                        all the nodes changing one user, exactly one turns the set empty <-> not empty.
//   nodes   n.<hex id>   this node's heartbeat (its wall-clock ms), put every node_ttl_ms / 4; the
//                        bucket's TTL removes the key of a node that stopped.
//
// Each node mirrors `live` in memory through a watch (the queries). Its heartbeat thread also sweeps:
// the devices of nodes that appear in the mirror but have no heartbeat key are taken out (each
// survivor tries; the compare-and-set lets one of them see the user go offline), and every
// reconcile_ms it brings the record of its own devices in line with its router.
#include "live_registry.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "libchat/bus.h"
#include "crypto.h"
#include "libchat/clock.h"
#include "mutex.h"
#include "router.h"

namespace chat::detail {
namespace {

// ---- One node ----

class LocalLiveRegistry final : public LiveRegistry {
 public:
  LocalLiveRegistry(const Router& router, std::string node, Transition transition)
      : router_(router), node_(std::move(node)), transition_(std::move(transition)) {}

  void DeviceChanged(UserId user, DeviceId /*device*/, bool first_here, bool last_here) override {
    if (!transition_) return;
    if (first_here) transition_(user, true);
    if (last_here) transition_(user, false);
  }
  Status AwaitWritten(UserId, std::chrono::milliseconds) override { return Status::Ok(); }
  bool IsOnline(UserId user) const override { return router_.IsOnline(user); }
  bool IsDeviceLive(UserId user, DeviceId device) const override { return router_.IsDeviceLive(user, device); }
  std::vector<DeviceAt> DevicesOf(UserId user) const override {
    std::vector<DeviceAt> out;
    for (const auto& [u, d] : router_.LiveDevices()) {
      if (u == user) out.push_back(DeviceAt{d, node_});
    }
    return out;
  }
  const std::string& node() const override { return node_; }
  void Close() override {}

 private:
  const Router& router_;
  const std::string node_;
  const Transition transition_;
};

// ---- Several nodes ----

std::string UserKey(UserId user) { return "u." + std::to_string(user); }

// "NODE DEVICE\n" lines, sorted; malformed lines are skipped (never written by this code).
using Devices = std::vector<LiveRegistry::DeviceAt>;

Devices Parse(const std::string& value) {
  Devices out;
  std::istringstream in(value);
  std::string node;
  DeviceId device = 0;
  while (in >> node >> device) out.push_back(LiveRegistry::DeviceAt{device, node});
  return out;
}

std::string Encode(const Devices& devices) {
  std::string out;
  for (const auto& d : devices) out += d.node + " " + std::to_string(d.device) + "\n";
  return out;
}

bool Has(const Devices& devices, const std::string& node, DeviceId device) {
  return std::any_of(devices.begin(), devices.end(),
                     [&](const LiveRegistry::DeviceAt& d) { return d.device == device && d.node == node; });
}

class ClusterLiveRegistry final : public LiveRegistry {
 public:
  ClusterLiveRegistry(std::shared_ptr<SharedKv> live, std::shared_ptr<SharedKv> nodes, const Router& router,
                      ClusterLiveOptions options, const Logger& log, Transition transition, Appeared appeared)
      : live_(std::move(live)),
        nodes_(std::move(nodes)),
        router_(router),
        options_(std::move(options)),
        log_(log),
        transition_(std::move(transition)),
        appeared_(std::move(appeared)),
        heartbeat_key_("n." + detail::HexEncode(options_.node)) {}

  ~ClusterLiveRegistry() override { Close(); }

  // The first heartbeat goes before any device is written: the other nodes never see a device of a
  // node without a heartbeat (which they would take for dead).
  // A NATS cluster that has just started may still be electing the bucket's JetStream leader (the
  // put answers "no responders"): the first heartbeat is tried for 10 s, as the bucket's creation is.
  Status Start() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto beat = nodes_->Put(heartbeat_key_, std::to_string(SystemClock()->NowMs()));
    while (!beat.ok() && beat.error().IsRetryable() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      beat = nodes_->Put(heartbeat_key_, std::to_string(SystemClock()->NowMs()));
    }
    if (!beat.ok()) return beat.error();
    heartbeat_rev_ = *beat;
    StartWatch();
    for (int i = 0; i < std::max(1, options_.writers); ++i) {
      writers_.push_back(std::make_unique<Writer>());
      Writer* w = writers_.back().get();
      w->thread = std::thread([this, w] { RunWriter(*w); });
    }
    heart_ = std::thread([this] { RunHeart(); });
    return Status::Ok();
  }

  void DeviceChanged(UserId user, DeviceId device, bool, bool) override { Queue(Op{user, device, {}}); }

  Status AwaitWritten(UserId user, std::chrono::milliseconds timeout) override {
    if (writers_.empty()) return Status::Ok();
    Writer& w = *writers_[user % writers_.size()];
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(&w.mu);
    // The user's ops go to this writer in order: once it has applied as many ops as it had been
    // given when we asked, theirs are among them.
    const std::uint64_t ticket = w.queued;
    while (w.applied < ticket && !w.stop) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return Status::Unavailable("live registry: user " + std::to_string(user) + " not written in time");
      }
      w.applied_cv.WaitUntil(&w.mu, deadline);
    }
    return Status::Ok();
  }

  bool IsOnline(UserId user) const override {
    if (router_.IsOnline(user)) return true;
    MutexLock lock(&mu_);
    auto it = mirror_.find(user);
    return it != mirror_.end() && !it->second.empty();
  }

  bool IsDeviceLive(UserId user, DeviceId device) const override {
    if (router_.IsDeviceLive(user, device)) return true;
    MutexLock lock(&mu_);
    auto it = mirror_.find(user);
    if (it == mirror_.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(), [device](const DeviceAt& d) { return d.device == device; });
  }

  std::vector<DeviceAt> DevicesOf(UserId user) const override {
    MutexLock lock(&mu_);
    auto it = mirror_.find(user);
    return it == mirror_.end() ? std::vector<DeviceAt>{} : it->second;
  }

  const std::string& node() const override { return options_.node; }

  void Close() override {
    Subscription watch;
    {
      MutexLock lock(&heart_mu_);
      if (closed_) return;
      closed_ = true;
      watch = std::move(watch_);
    }
    heart_cv_.SignalAll();
    // Stopping the watch is a request of its own (nats.c deletes the watch's consumer and waits for
    // the answer): beside the heart's and the writers' requests still in flight, not after them. A
    // node stopping beside a silent NATS server waited out each in turn (~10 s, 5 s each).
    std::thread unwatch([&watch] { watch.Reset(); });
    if (heart_.joinable()) heart_.join();
    // The writers finish their queues (the sessions just closed) before they stop.
    for (auto& w : writers_) {
      {
        MutexLock lock(&w->mu);
        w->stop = true;
      }
      w->cv.SignalAll();
    }
    for (auto& w : writers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    unwatch.join();
    // Gone on purpose: the other nodes need not wait for the heartbeat to expire (this node's
    // devices were taken out above, as its sessions closed). Not while the buckets do not answer:
    // then the heartbeat's expiry is what takes this node's devices out.
    if (heartbeat_rev_ != 0 && !bucket_away_.load()) nodes_->Erase(heartbeat_key_, heartbeat_rev_).IgnoreError();
  }

 private:
  // A write to one user's key: bring `device` in line with the router (dead_node empty), or take
  // out every device of `dead_node`.
  struct Op {
    UserId user = 0;
    DeviceId device = 0;
    std::string dead_node;
  };
  struct Writer {
    Mutex mu;
    CondVar cv;
    std::deque<Op> queue GUARDED_BY(mu);
    bool stop GUARDED_BY(mu) = false;
    // Ops ever queued and ever applied (or given up on); AwaitWritten waits on applied_cv.
    std::uint64_t queued GUARDED_BY(mu) = 0;
    std::uint64_t applied GUARDED_BY(mu) = 0;
    CondVar applied_cv;
    std::thread thread;
  };

  void Queue(Op op) {
    if (writers_.empty()) return;
    Writer& w = *writers_[op.user % writers_.size()];
    {
      MutexLock lock(&w.mu);
      if (w.stop) return;
      w.queue.push_back(std::move(op));
      ++w.queued;
    }
    w.cv.Signal();
  }

  void RunWriter(Writer& w) {
    for (;;) {
      Op op;
      {
        MutexLock lock(&w.mu);
        while (w.queue.empty() && !w.stop) w.cv.Wait(&w.mu);
        if (w.queue.empty()) return;
        op = std::move(w.queue.front());
        w.queue.pop_front();
      }
      ApplyRetrying(w, op);
      {
        MutexLock lock(&w.mu);
        ++w.applied;
      }
      w.applied_cv.SignalAll();
    }
  }

  // An engine failure (a NATS request timing out, the server briefly away) is retried for up to
  // options_.write_retry_ms, with backoff, before it is left to the next reconcile: until then the op
  // is not applied, so AwaitWritten does not report a sign-in written that is not. (Counting a failed
  // write as applied let a login be answered before its device was in the record, and the user's
  // last other device going on another node then took them offline and the reconcile online again: a
  // flap; tests/unit/live_registry_test.cc.) Once an op was given up on, the bucket counts as away:
  // the next ops are tried once each (given up on at their first failure, silently) until one lands.
  void ApplyRetrying(Writer& w, const Op& op) {
    // Closing with the bucket away: what is left goes with this node's heartbeat (the other nodes
    // take its devices out when it expires), not one request timeout per op (seen: ~12 s to stop).
    if (bucket_away_.load() && Closing(w)) return;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.write_retry_ms);
    std::int64_t backoff_ms = 20;
    Status failed;
    for (int attempt = 0;; ++attempt) {
      if (Apply(op, &failed)) {
        if (bucket_away_.exchange(false)) log_.Info("live registry: the bucket answers again");
        return;
      }
      if (bucket_away_.load()) return;  // Left to the reconcile, as the ops before it.
      if (attempt == 0) log_.Warn("live registry: user ", op.user, ": ", failed.ToString(), "; retrying");
      const auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(backoff_ms);
      if (next >= give_up) {
        bucket_away_.store(true);
        log_.Warn("live registry: user ", op.user, ": not written for ", options_.write_retry_ms, " ms (",
                  failed.ToString(), "); left to the next reconcile, and later writes are tried once each "
                  "until one lands");
        return;
      }
      MutexLock lock(&w.mu);
      while (!w.stop && std::chrono::steady_clock::now() < next) w.cv.WaitUntil(&w.mu, next);
      if (w.stop) {
        bucket_away_.store(true);  // Given up on: the node is closing.
        return;
      }
      backoff_ms = std::min<std::int64_t>(backoff_ms * 2, 1000);
    }
  }

  static bool Closing(Writer& w) {
    MutexLock lock(&w.mu);
    return w.stop;
  }

  // One compare-and-set loop on the user's key. A lost race re-reads. False: the engine failed, with
  // `failed` (ApplyRetrying tries again).
  bool Apply(const Op& op, Status* failed) {
    const std::string key = UserKey(op.user);
    for (int attempt = 0; attempt < 16; ++attempt) {
      Devices before;
      std::uint64_t rev = 0;
      auto got = live_->Get(key);
      if (got.ok()) {
        before = Parse(got->value);
        rev = got->revision;
      } else if (!got.error().IsNotFound()) {
        *failed = got.error();
        return false;
      }
      Devices after = before;
      if (op.dead_node.empty()) {
        // The router is asked now, not when the op was queued: ops of one device may be queued in
        // any order, and the last one applied always writes the router's present state.
        const bool want = router_.IsDeviceLive(op.user, op.device);
        const bool has = Has(before, options_.node, op.device);
        if (want == has) return true;
        if (want) {
          after.push_back(DeviceAt{op.device, options_.node});
          std::sort(after.begin(), after.end(), [](const DeviceAt& a, const DeviceAt& b) {
            return std::tie(a.node, a.device) < std::tie(b.node, b.device);
          });
        } else {
          after.erase(std::remove_if(after.begin(), after.end(),
                                     [&](const DeviceAt& d) { return d.device == op.device && d.node == options_.node; }),
                      after.end());
        }
      } else {
        after.erase(std::remove_if(after.begin(), after.end(), [&](const DeviceAt& d) { return d.node == op.dead_node; }),
                    after.end());
        if (after.size() == before.size()) return true;
      }
      Status s = after.empty() ? live_->Erase(key, rev) : live_->Swap(key, Encode(after), rev).status();
      if (s.code() == StatusCode::kFailedPrecondition) continue;  // Another node wrote first.
      if (!s.ok()) {
        *failed = s;
        return false;
      }
      // Our write decided it: tell presence of the transition, if any. (The mirror learns of the
      // write through the watch, in the bucket's order; this node's own sessions are the router's.)
      if (!op.dead_node.empty() && after.empty()) {
        log_.Info("live registry: user ", op.user, " went offline with node ", op.dead_node);
      }
      if (transition_ && before.empty() != after.empty()) transition_(op.user, !after.empty());
      return true;
    }
    log_.Warn("live registry: user ", op.user, ": too many concurrent writes; left to the next reconcile");
    return true;
  }

  // The watch's callback: one thread, in the bucket's order.
  void Mirror(const SharedKv::Change& c) {
    if (c.key.empty()) {
      MutexLock lock(&mu_);
      initial_read_ = true;  // The end of the initial values: what changes from now on is news.
      return;
    }
    if (c.key.rfind("u.", 0) != 0) return;  // Not ours.
    UserId user = 0;
    try {
      user = std::stoull(c.key.substr(2));
    } catch (const std::exception&) {
      return;
    }
    std::vector<DeviceId> appeared;
    {
      MutexLock lock(&mu_);
      Devices now = c.value && !c.value->empty() ? Parse(*c.value) : Devices{};
      if (appeared_ && initial_read_) {
        auto old = mirror_.find(user);
        for (const DeviceAt& d : now) {
          if (d.node == options_.node) continue;  // This node's sessions tell the calls themselves.
          if (old == mirror_.end() || !Has(old->second, d.node, d.device)) appeared.push_back(d.device);
        }
      }
      if (now.empty()) {
        mirror_.erase(user);
      } else {
        mirror_[user] = std::move(now);
      }
    }
    for (DeviceId device : appeared) appeared_(user, device);
  }

  // The mirror's watch. Without one (the engine did not answer when it was asked: SharedKv::Watch
  // gives up at once), this node would never learn of other nodes' devices; RunHeart asks again every
  // second until it has one. Called by Start, then only by the heart thread. Asking may wait out a
  // request timeout: not under heart_mu_, which Close takes.
  void StartWatch() {
    Subscription made = live_->Watch([this](const SharedKv::Change& c) { Mirror(c); });
    const bool active = made.active();
    {
      MutexLock lock(&heart_mu_);
      if (closed_) return;  // `made` stops as it goes out of scope, past the lock.
      watch_ = std::move(made);
    }
    if (!active) {
      log_.Warn("live registry: the bucket's watch could not be started; retrying every second");
    } else if (watch_retried_) {
      log_.Info("live registry: the bucket's watch started");
    }
    watch_retried_ = !active;
  }

  void RunHeart() {
    const auto beat_every = std::chrono::milliseconds(std::max<std::int64_t>(50, options_.node_ttl_ms / 4));
    auto next_beat = std::chrono::steady_clock::now() + beat_every;
    auto next_reconcile = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.reconcile_ms);
    for (;;) {
      bool watching = false;
      {
        MutexLock lock(&heart_mu_);
        auto until = next_beat;
        if (!watch_.active()) until = std::min(until, std::chrono::steady_clock::now() + std::chrono::seconds(1));
        while (!closed_ && std::chrono::steady_clock::now() < until) heart_cv_.WaitUntil(&heart_mu_, until);
        if (closed_) return;
        watching = watch_.active();
      }
      if (!watching) StartWatch();
      if (std::chrono::steady_clock::now() < next_beat) continue;
      next_beat = std::chrono::steady_clock::now() + beat_every;
      auto beat = nodes_->Put(heartbeat_key_, std::to_string(SystemClock()->NowMs()));
      // A beat the bucket did not take: the sweep's listing would most likely wait out the same
      // request timeout again (Close joins this thread: a node stopping beside a silent NATS server
      // waited for both, ~10 s). The sweep and the reconcile run after the next beat that lands.
      if (!beat.ok()) continue;
      heartbeat_rev_ = *beat;
      Sweep();
      if (std::chrono::steady_clock::now() >= next_reconcile) {
        next_reconcile = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.reconcile_ms);
        Reconcile();
      }
    }
  }

  // Takes the devices of nodes without a heartbeat out of the bucket.
  void Sweep() {
    auto keys = nodes_->Keys();
    // No answer, or not even our own heartbeat: this node cannot tell dead nodes from its own
    // isolation, so it takes nobody out.
    if (!keys.ok()) return;
    std::set<std::string> alive(keys->begin(), keys->end());
    if (alive.count(heartbeat_key_) == 0) return;
    std::vector<Op> ops;
    {
      MutexLock lock(&mu_);
      for (const auto& [user, devices] : mirror_) {
        std::set<std::string> dead;
        for (const DeviceAt& d : devices) {
          if (d.node != options_.node && alive.count("n." + detail::HexEncode(d.node)) == 0) dead.insert(d.node);
        }
        for (const std::string& n : dead) ops.push_back(Op{user, 0, n});
      }
    }
    for (Op& op : ops) Queue(std::move(op));
  }

  // The bucket's record of this node's devices against the router's sessions, both ways.
  void Reconcile() {
    std::vector<Op> ops;
    const auto here = router_.LiveDevices();
    {
      MutexLock lock(&mu_);
      for (const auto& [user, device] : here) {
        auto it = mirror_.find(user);
        if (it == mirror_.end() || !Has(it->second, options_.node, device)) ops.push_back(Op{user, device, {}});
      }
      for (const auto& [user, devices] : mirror_) {
        for (const DeviceAt& d : devices) {
          if (d.node == options_.node && !std::binary_search(here.begin(), here.end(), std::make_pair(user, d.device))) {
            ops.push_back(Op{user, d.device, {}});
          }
        }
      }
    }
    for (Op& op : ops) Queue(std::move(op));
  }

  const std::shared_ptr<SharedKv> live_;
  const std::shared_ptr<SharedKv> nodes_;
  const Router& router_;
  const ClusterLiveOptions options_;
  // An op was given up on and none has landed since (ApplyRetrying).
  std::atomic<bool> bucket_away_{false};
  const Logger& log_;
  const Transition transition_;
  const Appeared appeared_;
  const std::string heartbeat_key_;
  // Written by Start, then by the heart thread only; Close reads it after joining that thread.
  std::uint64_t heartbeat_rev_ = 0;

  mutable Mutex mu_;
  std::unordered_map<UserId, Devices> mirror_ GUARDED_BY(mu_);
  // Whether the watch has delivered the bucket's initial values: devices in them are not news.
  bool initial_read_ GUARDED_BY(mu_) = false;

  std::vector<std::unique_ptr<Writer>> writers_;  // Fixed by Start.
  Mutex heart_mu_;
  CondVar heart_cv_;
  bool closed_ GUARDED_BY(heart_mu_) = false;
  std::thread heart_;
  // Set by StartWatch (Start's, then the heart thread's); Close takes it.
  Subscription watch_ GUARDED_BY(heart_mu_);
  bool watch_retried_ = false;  // The last StartWatch found no watch. StartWatch's callers only.
};

}  // namespace

std::unique_ptr<LiveRegistry> NewLocalLiveRegistry(const Router& router, std::string node,
                                                   LiveRegistry::Transition transition) {
  return std::make_unique<LocalLiveRegistry>(router, std::move(node), std::move(transition));
}

Result<std::unique_ptr<LiveRegistry>> NewClusterLiveRegistry(std::shared_ptr<SharedKv> live,
                                                             std::shared_ptr<SharedKv> nodes, const Router& router,
                                                             ClusterLiveOptions options, const Logger& log,
                                                             LiveRegistry::Transition transition,
                                                             LiveRegistry::Appeared appeared) {
  if (options.node.empty()) return Status::InvalidArgument("live registry: no node id");
  if (options.node.find_first_of(" \n\t") != std::string::npos) {
    return Status::InvalidArgument("live registry: node id '" + options.node + "' has white space");
  }
  if (options.node_ttl_ms < 200) return Status::InvalidArgument("live registry: node_ttl_ms must be at least 200");
  auto r = std::make_unique<ClusterLiveRegistry>(std::move(live), std::move(nodes), router, std::move(options), log,
                                                 std::move(transition), std::move(appeared));
  if (Status s = r->Start(); !s.ok()) return s.WithContext("live registry");
  return std::unique_ptr<LiveRegistry>(std::move(r));
}

}  // namespace chat::detail
