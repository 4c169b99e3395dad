// The cluster's live-device registry (libchat/server/live_registry.h) on two nodes' routers and an
// in-memory SharedKv whose writes can be held back: what AwaitWritten promises, which a login or
// resume answer relies on (ws_session.cc, VerifyRegistration).
#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "live_registry.h"
#include "router.h"
#include "test_support.h"
#include "write_hold.h"

namespace chat::test {
namespace {

using namespace std::chrono_literals;
using detail::LiveRegistry;
using detail::Router;

// A SharedKv in memory, as the NATS bucket behaves for one process: revisions grow with every write,
// compare-and-set on them, watches called in write order. Hold() makes writes (Put, Swap, Erase)
// wait until Release(), as a slow engine would.
class HeldKv final : public SharedKv {
 public:
  Result<Entry> Get(const std::string& key) override {
    std::lock_guard lock(mu_);
    auto it = values_.find(key);
    if (it == values_.end()) return Status::NotFound(key);
    return it->second;
  }
  Result<std::uint64_t> Put(const std::string& key, std::string_view value) override {
    return Write(key, std::string(value), std::nullopt);
  }
  Result<std::uint64_t> Swap(const std::string& key, std::string_view value, std::uint64_t expected) override {
    return Write(key, std::string(value), expected);
  }
  Status Erase(const std::string& key, std::uint64_t expected) override {
    return Write(key, std::nullopt, expected).status();
  }
  Result<std::vector<std::string>> Keys() override {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [k, v] : values_) out.push_back(k);
    return out;
  }
  Subscription Watch(std::function<void(const Change&)> fn) override {
    std::lock_guard lock(mu_);
    if (fail_watches_ > 0) {
      --fail_watches_;
      return Subscription();  // As a NATS watch that could not be started.
    }
    for (const auto& [k, v] : values_) fn(Change{k, v.value, v.revision});
    fn(Change{});
    const int id = next_watch_++;
    watches_[id] = std::move(fn);
    return Subscription([this, id] {
      std::lock_guard lock(mu_);
      watches_.erase(id);
    });
  }

  void Hold() { hold_.Hold(); }
  void Release() { hold_.Release(); }
  // The next `n` writes fail with Unavailable, as a NATS request that timed out (after `delay`: a
  // silent server's request waits out its timeout).
  void FailWrites(int n, std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    std::lock_guard lock(mu_);
    fail_writes_ = n;
    fail_delay_ = delay;
  }
  // Writes tried so far (failed ones included).
  int writes_tried() {
    std::lock_guard lock(mu_);
    return writes_tried_;
  }
  // The next `n` watches are not started.
  void FailWatches(int n) {
    std::lock_guard lock(mu_);
    fail_watches_ = n;
  }
  int failures_left() {
    std::lock_guard lock(mu_);
    return fail_writes_;
  }
  // Writes that are waiting on Hold.
  int waiting() const { return hold_.waiting(); }

 private:
  // `value` nullopt: erase. `expected` nullopt: unconditional; 0: only if absent.
  Result<std::uint64_t> Write(const std::string& key, std::optional<std::string> value,
                              std::optional<std::uint64_t> expected) {
    hold_.Wait();
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard lock(mu_);
      ++writes_tried_;
      if (fail_writes_ > 0) delay = fail_delay_;
    }
    std::this_thread::sleep_for(delay);
    std::lock_guard lock(mu_);
    if (fail_writes_ > 0) {
      --fail_writes_;
      return Status::Unavailable("nats: timeout (injected)");
    }
    auto it = values_.find(key);
    const std::uint64_t now = it == values_.end() ? 0 : it->second.revision;
    if (expected && *expected != now) return Status::FailedPrecondition(key + " changed");
    const std::uint64_t rev = ++revision_;
    if (value) {
      values_[key] = Entry{*value, rev};
    } else {
      values_.erase(key);
    }
    // Watches in write order: called under the lock (the registry's mirror only takes its own).
    for (auto& [id, fn] : watches_) fn(Change{key, value, rev});
    return rev;
  }

  WriteHold hold_;
  std::mutex mu_;
  std::map<std::string, Entry> values_;
  std::map<int, std::function<void(const Change&)>> watches_;
  int next_watch_ = 0;
  std::uint64_t revision_ = 0;
  int fail_writes_ = 0;
  std::chrono::milliseconds fail_delay_{0};
  int writes_tried_ = 0;
  int fail_watches_ = 0;
};

class NullPeer final : public detail::Peer {
 public:
  void Deliver(detail::OutFrame) override {}
  void Revoke(const std::string&) override {}
};

// One node: its router and its registry on the shared buckets; the transitions it announced.
struct Node {
  Node(const std::string& id, const std::shared_ptr<HeldKv>& live, const std::shared_ptr<HeldKv>& nodes,
       std::int64_t write_retry_ms = 5000)
      : router(metrics, log, [] {}) {
    detail::ClusterLiveOptions options;
    options.node = id;
    options.write_retry_ms = write_retry_ms;
    options.node_ttl_ms = 60000;
    options.reconcile_ms = 600000;
    auto r = detail::NewClusterLiveRegistry(live, nodes, router, options, log, [this](UserId user, bool online) {
      std::lock_guard lock(mu);
      transitions.emplace_back(user, online);
    });
    REQUIRE_OK(r);
    registry = std::move(*r);
  }
  ~Node() { registry->Close(); }

  void Connect(UserId user, DeviceId device) {
    const bool first = router.Add(user, device, peer);
    registry->DeviceChanged(user, device, first, false);
  }
  // Connect, and wait until the registry's write for it is done (landed, or given up on).
  void ConnectWritten(UserId user, DeviceId device) {
    Connect(user, device);
    REQUIRE_OK(registry->AwaitWritten(user, 5s));
  }
  void Disconnect(UserId user, DeviceId device) {
    const bool last = router.Remove(user, peer.get());
    registry->DeviceChanged(user, device, false, last);
  }
  std::vector<std::pair<UserId, bool>> Transitions() {
    std::lock_guard lock(mu);
    return transitions;
  }

  detail::Metrics metrics;
  detail::Logger log{LogLevel::kError, nullptr};
  Router router;
  std::shared_ptr<NullPeer> peer = std::make_shared<NullPeer>();
  std::unique_ptr<LiveRegistry> registry;
  std::mutex mu;
  std::vector<std::pair<UserId, bool>> transitions;
};

// The deployment's two shared buckets (live devices, node heartbeats), in memory.
struct Buckets {
  std::shared_ptr<HeldKv> live = std::make_shared<HeldKv>();
  std::shared_ptr<HeldKv> nodes = std::make_shared<HeldKv>();
};

// Nodes A and B on the same buckets, Bob's phone live on A (written): the start of the stories
// where his laptop signs in on B and the phone then goes.
struct BobOnA : Buckets {
  BobOnA() {
    a.ConnectWritten(kBob, 1);
  }
  // After the laptop's sign-in on B was answered, the phone goes on A: Bob stays online, and nobody
  // says otherwise.
  void PhoneGoesBobStaysOnline() {
    a.Disconnect(kBob, 1);
    REQUIRE_OK(a.registry->AwaitWritten(kBob, 5s));
    CHECK(a.Transitions() == std::vector<std::pair<UserId, bool>>{{kBob, true}});
    CHECK(b.Transitions().empty());
    CHECK(a.registry->IsOnline(kBob));
  }

  static constexpr UserId kBob = 7;
  Node a{"node-a", live, nodes};
  Node b{"node-b", live, nodes};
};

}  // namespace

TEST_CASE("live registry: AwaitWritten returns once the device's write has landed, so the user's last other "
          "device going on another node afterwards does not take them offline",
          "[unit][live_registry]") {
  BobOnA w;
  constexpr UserId kBob = BobOnA::kBob;
  CHECK(w.a.Transitions() == std::vector<std::pair<UserId, bool>>{{kBob, true}});

  // Bob's laptop signs in on B while the bucket is slow: B's answer waits for the write.
  w.live->Hold();
  w.b.Connect(kBob, 2);
  auto written = std::async(std::launch::async, [&] { return w.b.registry->AwaitWritten(kBob, 10s); });
  CHECK(written.wait_for(300ms) == std::future_status::timeout);
  CHECK(w.live->waiting() == 1);
  w.live->Release();
  REQUIRE(written.wait_for(10s) == std::future_status::ready);
  REQUIRE_OK(written.get());
  CHECK(w.b.registry->DevicesOf(kBob).size() == 2);
  w.PhoneGoesBobStaysOnline();

  // The laptop goes too: exactly one node (B, whose write emptied the set) announces him offline.
  w.b.Disconnect(kBob, 2);
  REQUIRE_OK(w.b.registry->AwaitWritten(kBob, 5s));
  CHECK(w.b.Transitions() == std::vector<std::pair<UserId, bool>>{{kBob, false}});
  CHECK_FALSE(w.a.registry->IsOnline(kBob));
}

TEST_CASE("live registry: a write the bucket failed is retried and AwaitWritten waits for it, so the user's "
          "last other device going afterwards does not take them offline",
          "[unit][live_registry]") {
  BobOnA w;
  constexpr UserId kBob = BobOnA::kBob;
  // The laptop's write on B fails twice (the bucket timed out): B's sign-in waits until it landed.
  w.live->FailWrites(2);
  w.b.ConnectWritten(kBob, 2);
  CHECK(w.live->failures_left() == 0);  // Both failures were that write's (tried three times).
  CHECK(w.b.registry->DevicesOf(kBob).size() == 2);
  w.PhoneGoesBobStaysOnline();
}

TEST_CASE("live registry: AwaitWritten gives up after its timeout while the bucket does not answer, and the "
          "write still lands later",
          "[unit][live_registry]") {
  Buckets buckets;
  auto& [live, nodes] = buckets;
  Node a("node-a", live, nodes);
  live->Hold();
  a.Connect(9, 1);
  const auto started = std::chrono::steady_clock::now();
  Status s = a.registry->AwaitWritten(9, 200ms);
  CHECK(s.code() == StatusCode::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - started >= 200ms);
  live->Release();
  REQUIRE_OK(a.registry->AwaitWritten(9, 5s));
  CHECK(a.registry->DevicesOf(9).size() == 1);
}

TEST_CASE("live registry: once a write was given up on, the next ones are tried once each until one lands, so "
          "the ops queued behind do not each wait out the retries while the bucket is away",
          "[unit][live_registry]") {
  Buckets buckets;
  auto& [live, nodes] = buckets;
  Node a("node-a", live, nodes, /*write_retry_ms=*/300);
  constexpr int kMany = 1000000;
  live->FailWrites(kMany);  // The bucket is away.
  a.ConnectWritten(1, 1);  // Retried for 300 ms, then left to the reconcile.
  const int after_first = live->failures_left();
  CHECK(kMany - after_first >= 3);
  // Users 2..5 (every writer thread): one attempt each.
  for (UserId u = 2; u <= 5; ++u) a.ConnectWritten(u, u);
  CHECK(after_first - live->failures_left() == 4);
  // The bucket answers again: the next write lands, and a write failing once is retried again.
  live->FailWrites(0);
  a.ConnectWritten(6, 6);
  CHECK(a.registry->DevicesOf(6).size() == 1);
  live->FailWrites(1);
  a.ConnectWritten(7, 7);
  CHECK(live->failures_left() == 0);
  CHECK(a.registry->DevicesOf(7).size() == 1);
}

TEST_CASE("live registry: a watch the bucket did not start is asked for again, so the node still learns of "
          "other nodes' devices",
          "[unit][live_registry]") {
  Buckets buckets;
  auto& [live, nodes] = buckets;
  live->FailWatches(1);
  Node a("node-a", live, nodes);
  Node b("node-b", live, nodes);
  b.ConnectWritten(7, 2);
  CHECK(Eventually([&] { return a.registry->DevicesOf(7).size() == 1; }, 10s));
  CHECK(a.registry->IsOnline(7));
}

TEST_CASE("live registry: a node closing while the bucket does not answer gives up its last writes after the "
          "first failure, not one request timeout each",
          "[unit][live_registry]") {
  Buckets buckets;
  auto& [live, nodes] = buckets;
  Node a("node-a", live, nodes);
  for (UserId u = 1; u <= 8; ++u) a.ConnectWritten(u, u);  // Two users per writer thread (4).
  const int before = live->writes_tried();
  live->FailWrites(1000000, 200ms);  // The server went silent: each request waits, then fails.
  for (UserId u = 1; u <= 8; ++u) a.Disconnect(u, u);
  a.registry->Close();
  // One attempt per writer at most (the first failure marks the bucket away); before, every op was
  // tried once more (8), each waiting out its timeout.
  CHECK(live->writes_tried() - before <= 4);
}

}  // namespace chat::test
