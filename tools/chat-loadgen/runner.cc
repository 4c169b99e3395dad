#include "runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>
#include <unordered_map>

#include "background_load.h"
#include "run_shared.h"
#include "state_file.h"
#include "worker.h"

namespace chat::loadgen {
namespace {

using namespace std::chrono_literals;
constexpr auto kPoll = 50ms;
// Setup is given up when nothing has progressed for this long.
constexpr auto kSetupStall = 60s;
// A server busy with a backlog can be slow to answer; the figures are worth the wait.
constexpr auto kMetricsTimeout = 15s;

std::string RandomHex(std::size_t n) {
  std::random_device rd;
  std::string s;
  static const char* kHex = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) s.push_back(kHex[rd() % 16]);
  return s;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::string Rate(double n, double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f/s", seconds > 0 ? n / seconds : 0.0);
  return buf;
}

// At most 3 decimals, trailing zeros dropped: 50, 2.5, 0.286.
std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Counter sums over all workers.
struct Totals {
  std::uint64_t connected = 0, signed_in = 0, setup_failed = 0, sent = 0, acked = 0, send_failed = 0,
                delivered = 0, duplicates = 0, reordered = 0, disconnects = 0, resynced = 0, expected = 0,
                groups_done = 0, scheduled = 0;
};

class Runner {
 public:
  Runner(const Options& options, Progress& progress) : progress_(progress) {
    shared_.options = options;
    report_.options = options;
    report_.groups = options.EffectiveGroups();
  }

  Report Run();

 private:
  bool Resolve();
  void StartWorkers();
  void StopWorkers();
  Totals Sum() const;
  // Signs in every client `include` accepts and waits. False if any failed; *stale is set when the
  // failures say the server does not know the stored sessions.
  bool SignIn(const std::function<bool(std::uint32_t)>& include, const char* what, bool* stale);
  // createChat (create) or getChat for every group; waits. False if any failed.
  bool GroupCalls(bool create);
  bool Setup();
  void HoldIdle();
  void Load();
  // Lost/unexpected over every device, from the acknowledged messages so far.
  SimClient::Verdict Verify();
  void Collect();
  bool Online(std::uint32_t c) const { return shared_.offline.empty() || !shared_.offline[c]; }

  Progress& progress_;
  RunShared shared_;
  Report report_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::int64_t load_start_ns_ = 0;
};

bool Runner::Resolve() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  if (shared_.options.urls.empty()) shared_.options.urls = {shared_.options.url};
  shared_.targets.clear();
  for (const WsUrl& url : shared_.options.urls) {
    boost::system::error_code ec;
    auto results = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec || results.empty()) {
      report_.fatal = "cannot resolve " + url.host + ": " + ec.message();
      return false;
    }
    shared_.targets.push_back(Target{results.begin()->endpoint(), url.HostHeader(), url.path});
  }
  return true;
}

void Runner::StartWorkers() {
  workers_.clear();
  for (unsigned i = 0; i < shared_.options.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(shared_, i));
    workers_.back()->CreateClients();
    workers_.back()->Start();
  }
}

void Runner::StopWorkers() {
  for (auto& w : workers_) w->Stop();
}

Totals Runner::Sum() const {
  Totals t;
  for (const auto& w : workers_) {
    const WorkerStats& s = static_cast<const Worker&>(*w).stats();
    t.connected += s.connected.Get();
    t.signed_in += s.signed_in.Get();
    t.setup_failed += s.setup_failed.Get();
    t.sent += s.sent.Get();
    t.acked += s.acked.Get();
    t.send_failed += s.send_failed.Get();
    t.delivered += s.delivered.Get();
    t.duplicates += s.duplicates.Get();
    t.reordered += s.reordered.Get();
    t.disconnects += s.disconnects.Get();
    t.resynced += s.resynced.Get();
    t.expected += s.expected.Get();
    t.groups_done += s.groups_done.Get();
    t.scheduled += w->scheduled();
  }
  return t;
}

bool Runner::SignIn(const std::function<bool(std::uint32_t)>& include, const char* what, bool* stale) {
  std::uint64_t want = 0;
  for (std::uint32_t c = 0; c < shared_.options.clients; ++c) want += include(c) ? 1 : 0;
  const Totals base = Sum();
  const std::uint32_t window = std::max<std::uint32_t>(1, shared_.options.setup_concurrency / shared_.options.threads);
  for (auto& w : workers_) w->StartSetup(include, window);
  const auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  std::uint64_t last_done = 0;
  for (;;) {
    const Totals t = Sum();
    const std::uint64_t ok = t.signed_in - base.signed_in;
    const std::uint64_t failed = t.setup_failed - base.setup_failed;
    const std::uint64_t done = ok + failed;
    const auto now = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(now - start).count();
    if (done != last_done) {
      last_done = done;
      last_progress = now;
    }
    progress_.Update(want ? static_cast<double>(done) / static_cast<double>(want) : 1.0,
                     std::string(what) + ": " + std::to_string(ok) + "/" + std::to_string(want) + " signed in (" +
                         Rate(static_cast<double>(ok), secs) + "), " + std::to_string(failed) + " failed, " +
                         std::to_string(t.disconnects) + " disconnects");
    if (done >= want) break;
    if (now - last_progress > kSetupStall) {
      report_.fatal = std::string(what) + " stalled: " + std::to_string(want - done) + " devices made no progress in " +
                      std::to_string(kSetupStall.count()) + " s";
      return false;
    }
    std::this_thread::sleep_for(kPoll);
  }
  report_.signed_in = Sum().signed_in;
  const std::uint64_t failed = Sum().setup_failed - base.setup_failed;
  if (failed == 0) return true;
  // Which errors: read after the workers stopped (their error maps are theirs until then).
  StopWorkers();
  std::map<std::string, std::uint64_t> errors;
  for (const auto& w : workers_) {
    for (const auto& [code, n] : static_cast<const Worker&>(*w).stats().errors) errors[code] += n;
  }
  *stale = errors.count("stale_session") != 0;
  std::string list;
  for (const auto& [code, n] : errors) list += " " + code + "=" + std::to_string(n);
  report_.fatal = std::string(what) + ": " + std::to_string(failed) + " of " + std::to_string(want) +
                  " devices failed;" + list;
  report_.errors = errors;
  return false;
}

bool Runner::GroupCalls(bool create) {
  const std::uint32_t groups = report_.groups;
  // A call whose connection ended before its answer (a node going away, a session closed as a slow
  // consumer by the presence burst of a mass resume) is marked failed: it is asked again, of the same
  // member once it is back, a few times. createChat is not repeated (it is not idempotent).
  constexpr int kAttempts = 5;
  std::vector<std::uint32_t> todo(groups);
  for (std::uint32_t g = 0; g < groups; ++g) todo[g] = g;
  for (int attempt = 0; attempt < kAttempts && !todo.empty(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
    const std::uint64_t base = Sum().groups_done;
    for (std::uint32_t g : todo) {
      shared_.groups[g].failed = false;
      // Any online member can read the head; the owner creates (everyone is online during provisioning).
      std::uint32_t caller = shared_.layout.members[g][0];
      if (!create) {
        for (std::uint32_t c : shared_.layout.members[g]) {
          if (Online(c)) {
            caller = c;
            break;
          }
        }
      }
      Worker& w = *workers_[shared_.WorkerOf(caller)];
      if (create) {
        w.CreateGroup(caller, g);
      } else {
        w.FetchHead(caller, g);
      }
    }
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t want = todo.size();
    while (Sum().groups_done - base < want) {
      if (std::chrono::steady_clock::now() - start > kSetupStall) {
        report_.fatal = std::string(create ? "createChat" : "getChat") + " did not complete";
        return false;
      }
      progress_.Update(static_cast<double>(Sum().groups_done - base) / static_cast<double>(want),
                       std::string(create ? "creating groups: " : "reading chat heads: ") +
                           std::to_string(Sum().groups_done - base) + "/" + std::to_string(want));
      std::this_thread::sleep_for(kPoll / 5);
    }
    std::vector<std::uint32_t> failed;
    for (std::uint32_t g : todo) {
      if (shared_.groups[g].failed) failed.push_back(g);
    }
    todo = std::move(failed);
    if (create) break;
  }
  if (!todo.empty()) {
    report_.fatal = std::to_string(todo.size()) + " of " + std::to_string(groups) + " groups could not be " +
                    (create ? "created" : "read (getChat)") + "; see the server log";
    return false;
  }
  return true;
}

bool Runner::Setup() {
  const Options& o = shared_.options;
  const std::uint32_t groups = report_.groups;
  shared_.layout = MakeLayout(o.clients, o.group_size, groups);
  shared_.groups.assign(groups, GroupState{});
  shared_.offline.assign(o.clients, false);
  if (o.mode == Mode::kOfflineSync) {
    for (std::uint32_t c = 0; c < o.clients; ++c) shared_.offline[c] = IsOffline(c, o.offline_share);
  }
  shared_.run_nonce = RandomHex(8);
  const std::string key = RunKey(o.url.ToString(), o.clients, o.group_size, groups);
  std::string warning;
  std::optional<StoredRun> stored = LoadRun(o.state_file, key, &warning);
  if (!warning.empty()) progress_.Line(warning);
  const auto start = std::chrono::steady_clock::now();

  if (stored && stored->devices.size() == o.clients && stored->chats.size() == groups) {
    shared_.prefix = stored->prefix;
    shared_.password = stored->password;
    shared_.identities = stored->devices;
    for (std::uint32_t g = 0; g < groups; ++g) shared_.groups[g].chat = stored->chats[g];
    progress_.Line("resuming " + std::to_string(o.clients) + " stored sessions from " + o.state_file);
    StartWorkers();
    bool stale = false;
    // offline-sync: the offline share stays disconnected until after the load.
    if (SignIn([this](std::uint32_t c) { return Online(c); }, "resume", &stale)) {
      report_.sessions_reused = true;
      report_.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return o.mode == Mode::kIdle || GroupCalls(/*create=*/false);
    }
    if (!stale) return false;
    progress_.Line("the server does not know the stored sessions (was its data reset?); provisioning new users");
    ForgetRun(o.state_file, key);
    StopWorkers();
    workers_.clear();
    report_.fatal.clear();
    report_.errors.clear();
  }

  // Provision: new users (a fresh prefix, so earlier runs' users never collide), one device each.
  shared_.prefix = "lg" + RandomHex(6);
  shared_.password = RandomHex(20);
  shared_.identities.assign(o.clients, DeviceIdentity{});
  for (auto& g : shared_.groups) g = GroupState{};
  progress_.Line("provisioning " + std::to_string(o.clients) + " users (register + login; Argon2id on the server)");
  StartWorkers();
  bool stale = false;
  if (!SignIn([](std::uint32_t) { return true; }, "provisioning", &stale)) return false;
  if (!GroupCalls(/*create=*/true)) return false;
  StoredRun run{shared_.prefix, shared_.password, shared_.identities, {}};
  for (const GroupState& g : shared_.groups) run.chats.push_back(g.chat);
  std::string error;
  if (!SaveRun(o.state_file, key, run, &error)) progress_.Line("could not save the state file: " + error);
  if (o.mode == Mode::kOfflineSync) {
    for (auto& w : workers_) w->TakeOffline([this](std::uint32_t c) { return !Online(c); });
  }
  report_.setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return o.mode == Mode::kIdle || GroupCalls(/*create=*/false);
}

void Runner::HoldIdle() {
  const Options& o = shared_.options;
  progress_.Line("holding " + std::to_string(report_.signed_in) + " connections for " + Number(o.duration_s) + " s");
  const auto start = std::chrono::steady_clock::now();
  const auto hold = std::chrono::duration<double>(o.duration_s);
  for (;;) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (elapsed >= hold) break;
    const Totals t = Sum();
    progress_.Update(std::chrono::duration<double>(elapsed) / hold,
                     "idle: " + std::to_string(t.signed_in) + " connections, " + std::to_string(t.disconnects) +
                         " disconnects");
    std::this_thread::sleep_for(kPoll * 2);
  }
  const Totals t = Sum();
  report_.idle_connections = t.signed_in > t.disconnects ? t.signed_in - t.disconnects : 0;
}

SimClient::Verdict Runner::Verify() {
  // Every acknowledged message by group, sorted by seq: the expected deliveries.
  std::unordered_map<std::uint64_t, std::uint32_t> group_of_chat;
  for (std::uint32_t g = 0; g < shared_.groups.size(); ++g) group_of_chat[shared_.groups[g].chat] = g;
  auto acked = std::make_shared<std::vector<std::vector<AckedMessage>>>(shared_.groups.size());
  for (auto& w : workers_) {
    for (const AckedMessage& m : w->Acked().get()) {
      auto it = group_of_chat.find(m.chat);
      if (it != group_of_chat.end()) (*acked)[it->second].push_back(m);
    }
  }
  for (auto& list : *acked) {
    std::sort(list.begin(), list.end(), [](const AckedMessage& a, const AckedMessage& b) { return a.seq < b.seq; });
  }
  std::shared_ptr<const std::vector<std::vector<AckedMessage>>> shared_acked = acked;
  std::vector<std::future<SimClient::Verdict>> parts;
  for (auto& w : workers_) parts.push_back(w->Verify(shared_acked));
  SimClient::Verdict total;
  for (auto& p : parts) total.Add(p.get());
  return total;
}

void Runner::Load() {
  const Options& o = shared_.options;
  const bool storm = o.mode == Mode::kReconnectStorm;
  const bool offline = o.mode == Mode::kOfflineSync;
  auto plan = std::make_shared<SendPlan>();
  plan->rate = o.rate;
  plan->total = o.TotalMessages();
  plan->random = o.senders == Senders::kAll;
  if (plan->random) {
    std::random_device rd;
    plan->seed = (std::uint64_t{rd()} << 32) | rd();
    report_.senders_seed = plan->seed;
  }
  for (std::uint32_t c = 0; c < o.clients; ++c) {
    if (Online(c) && !shared_.layout.groups_of[c].empty()) plan->senders.push_back(c);
  }
  std::uint64_t online = 0;
  for (std::uint32_t c = 0; c < o.clients; ++c) online += Online(c) ? 1 : 0;
  if (plan->senders.empty()) {
    report_.fatal = "no client is both online and in a group: nothing to send";
    return;
  }
  // A little ahead, so that every worker has the plan before the first message is due.
  plan->start_ns = Worker::Now() + 200'000'000;
  load_start_ns_ = plan->start_ns;
  const double schedule_s = static_cast<double>(plan->total) / o.rate;
  progress_.Line("sending " + std::to_string(plan->total) + " messages at " + Number(o.rate) + "/s from " +
                 std::to_string(plan->senders.size()) + " senders over " + Number(schedule_s) + " s" +
                 (offline ? " (" + std::to_string(o.clients - online) + " devices offline)" : ""));
  const double cpu0 = CpuSeconds();
  // The server's CPU: every node's process that runs on this machine (one per --url).
  std::vector<int> server_pids;
  if (report_.rss_before.pid > 0) server_pids.push_back(report_.rss_before.pid);
  for (std::size_t i = 1; i < o.urls.size(); ++i) {
    if (!IsLoopbackHost(o.urls[i].host)) continue;
    const int pid = FindListenerPid(o.urls[i].port);
    if (pid > 0 && std::find(server_pids.begin(), server_pids.end(), pid) == server_pids.end()) server_pids.push_back(pid);
  }
  auto server_cpu = [&server_pids] {
    double sum = 0;
    for (int pid : server_pids) {
      const double s = ProcessCpuSeconds(pid);
      if (s < 0) return -1.0;  // A node went away (or restarted): the figure would be wrong.
      sum += s;
    }
    return server_pids.empty() ? -1.0 : sum;
  };
  const double server_cpu0 = server_cpu();
  for (auto& w : workers_) w->StartLoad(plan);

  // ---- The schedule ----
  const std::int64_t storm_at = plan->start_ns + static_cast<std::int64_t>(schedule_s / 2 * 1e9);
  const std::int64_t schedule_end = plan->DueNs(plan->total > 0 ? plan->total - 1 : 0);
  bool stormed = false;
  Totals prev = Sum();
  std::int64_t prev_ns = Worker::Now();
  double send_rate = 0, delivery_rate = 0;
  for (;;) {
    const std::int64_t now = Worker::Now();
    const Totals t = Sum();
    if (now >= schedule_end && t.scheduled >= plan->total) break;
    if (storm && !stormed && now >= storm_at) {
      progress_.Line("reconnect storm: every client drops its connection and reconnects now");
      for (auto& w : workers_) w->Storm();
      stormed = true;
    }
    if (now - prev_ns >= 1'000'000'000) {
      const double dt = static_cast<double>(now - prev_ns) / 1e9;
      send_rate = static_cast<double>(t.sent - prev.sent) / dt;
      delivery_rate = static_cast<double>(t.delivered - prev.delivered) / dt;
      prev = t;
      prev_ns = now;
    }
    const double elapsed = static_cast<double>(now - plan->start_ns) / 1e9;
    progress_.Update(std::clamp(elapsed / schedule_s, 0.0, 1.0),
                     std::to_string(static_cast<int>(std::max(0.0, elapsed))) + "/" +
                         std::to_string(static_cast<int>(schedule_s)) + " s  sent " + std::to_string(t.sent) + " (" +
                         std::to_string(static_cast<long>(send_rate)) + "/s)  delivered " + std::to_string(t.delivered) +
                         " (" + std::to_string(static_cast<long>(delivery_rate)) + "/s)  dup " +
                         std::to_string(t.duplicates) + "  reordered " + std::to_string(t.reordered) + "  disconnects " +
                         std::to_string(t.disconnects));
    std::this_thread::sleep_for(kPoll);
  }

  // ---- Outstanding answers ----
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s);
  auto unresolved = [this] {
    std::size_t n = 0;
    for (auto& w : workers_) n += w->CountUnresolved().get();
    return n;
  };
  std::size_t pending = unresolved();
  while (pending > 0 && std::chrono::steady_clock::now() < deadline) {
    progress_.Update(-1, "waiting for " + std::to_string(pending) + " sendMessage answers");
    std::this_thread::sleep_for(kPoll * 2);
    pending = unresolved();
  }

  // ---- offline-sync: the offline devices come online and sync ----
  if (offline) {
    report_.resync_expected = o.clients - online;
    progress_.Line("bringing " + std::to_string(report_.resync_expected) + " offline devices online to sync");
    const std::uint64_t base = Sum().resynced;
    for (auto& w : workers_) w->BringOnline([this](std::uint32_t c) { return !Online(c); });
    deadline = std::max(deadline, std::chrono::steady_clock::now() + std::chrono::duration<double>(o.timeout_s));
    while (Sum().resynced - base < report_.resync_expected && std::chrono::steady_clock::now() < deadline) {
      progress_.Update(static_cast<double>(Sum().resynced - base) / static_cast<double>(report_.resync_expected),
                       "syncing: " + std::to_string(Sum().resynced - base) + "/" +
                           std::to_string(report_.resync_expected) + " devices");
      std::this_thread::sleep_for(kPoll);
    }
  }
  if (storm) {
    report_.resync_expected = online;
    while (Sum().resynced < online && std::chrono::steady_clock::now() < deadline) {
      progress_.Update(static_cast<double>(Sum().resynced) / static_cast<double>(online),
                       "resyncing: " + std::to_string(Sum().resynced) + "/" + std::to_string(online) + " devices");
      std::this_thread::sleep_for(kPoll);
    }
  }

  // ---- Outstanding deliveries ----
  SimClient::Verdict verdict;
  bool verified = false;
  for (;;) {
    const Totals t = Sum();
    const bool past = std::chrono::steady_clock::now() >= deadline;
    // Counting first: a full verification walks every expected delivery.
    if (t.delivered >= t.expected || past) {
      verdict = Verify();
      verified = true;
      if (verdict.lost == 0 || past) break;
    }
    progress_.Update(-1, "waiting for deliveries: " + std::to_string(t.delivered) + " of " + std::to_string(t.expected) +
                             (verified ? " (" + std::to_string(verdict.lost) + " missing)" : ""));
    std::this_thread::sleep_for(verified ? kPoll * 4 : kPoll);
  }
  report_.lost = verdict.lost;
  report_.lost_sample = verdict.lost_sample;
  report_.unexpected = verdict.unexpected;
  report_.loadgen_cpu_s = CpuSeconds() - cpu0;
  if (server_cpu0 >= 0) {
    const double server_cpu1 = server_cpu();
    if (server_cpu1 >= 0) report_.server_cpu_s = server_cpu1 - server_cpu0;
  }
  report_.server_processes = server_pids.size();
  report_.load_wall_s = static_cast<double>(Worker::Now() - plan->start_ns) / 1e9;
  report_.unresolved = unresolved();
}

void Runner::Collect() {
  // Called after the workers stopped: their stats are no longer written.
  std::int64_t last_send = 0, last_ack = 0, last_delivery = 0;
  for (const auto& w : workers_) {
    const WorkerStats& s = static_cast<const Worker&>(*w).stats();
    report_.sent += s.sent.Get();
    report_.acked += s.acked.Get();
    report_.send_failed += s.send_failed.Get();
    report_.expected += s.expected.Get();
    report_.delivered += s.delivered.Get();
    report_.duplicates += s.duplicates.Get();
    report_.reordered += s.reordered.Get();
    report_.disconnects += s.disconnects.Get();
    report_.failovers += s.failovers.Get();
    report_.resynced += s.resynced.Get();
    report_.scheduled += w->scheduled();
    report_.latency_us.Merge(s.latency_us);
    report_.send_ack_us.Merge(s.send_ack_us);
    report_.resync_us.Merge(s.resync_us);
    for (const auto& [code, n] : s.errors) report_.errors[code] += n;
    last_send = std::max(last_send, s.last_send_ns);
    last_ack = std::max(last_ack, s.last_ack_ns);
    last_delivery = std::max(last_delivery, s.last_delivery_ns);
  }
  if (report_.options.mode == Mode::kReconnectStorm && report_.resynced > report_.resync_expected) {
    // Devices that also reconnected on their own (e.g. closed as slow consumers) resynced twice.
    report_.resynced = report_.resync_expected;
  }
  report_.resync_all_s = static_cast<double>(report_.resync_us.max()) / 1e6;
  if (load_start_ns_ != 0 && report_.options.rate > 0) {
    // Message k is due k / rate after the start: a run on schedule spans total / rate seconds.
    const double interval = 1.0 / report_.options.rate;
    report_.send_window_s = last_send > load_start_ns_ ? static_cast<double>(last_send - load_start_ns_) / 1e9 + interval : 0;
    report_.delivery_window_s =
        last_delivery > load_start_ns_ ? static_cast<double>(last_delivery - load_start_ns_) / 1e9 + interval : 0;
    if (report_.send_window_s > 0) report_.sends_per_s = static_cast<double>(report_.sent) / report_.send_window_s;
    if (last_ack > load_start_ns_) {
      report_.acks_per_s =
          static_cast<double>(report_.acked) / (static_cast<double>(last_ack - load_start_ns_) / 1e9 + interval);
    }
    if (report_.delivery_window_s > 0) {
      report_.deliveries_per_s = static_cast<double>(report_.delivered) / report_.delivery_window_s;
    }
  }
}

Report Runner::Run() {
  const Options& o = shared_.options;
  if (!Resolve()) return report_;
  // Before setup: the server's memory without our connections.
  report_.metrics_before = ScrapeMetrics(o.url.host, o.url.port, kMetricsTimeout);
  report_.rss_before = ReadServerRss(report_.metrics_before, o.url.host, o.url.port);
  if (!report_.metrics_before.ok) progress_.Line("server metrics unavailable: " + report_.metrics_before.error);

  const bool ready = Setup();
  if (ready) {
    progress_.Line("setup done in " + Number(report_.setup_s) + " s: " +
                   std::to_string(report_.signed_in) + " devices signed in");
    if (o.mode == Mode::kIdle) {
      HoldIdle();
    } else {
      // The box loaded on purpose, for the load phase only (setup is not measured).
      BackgroundLoad background;
      std::string error;
      if (!o.background_load.empty()) {
        if (background.Start(o.background_load, &error)) {
          report_.background_pid = background.pid();
          progress_.Line("background load: " + o.background_load + " (pid " + std::to_string(background.pid()) + ")");
        } else {
          report_.fatal = error;
        }
      }
      report_.loadavg_before = LoadAverage1m();
      if (report_.fatal.empty()) Load();
      report_.loadavg_after = LoadAverage1m();
      background.Stop();
      report_.background_cpu_s = background.cpu_s();
      report_.background_ending = background.ending();
    }
    // After the run, while the connections are still open (idle: that is the point).
    report_.metrics_after = ScrapeMetrics(o.url.host, o.url.port, kMetricsTimeout);
    report_.rss_after = ReadServerRss(report_.metrics_after, o.url.host, o.url.port);
  }
  progress_.Clear();
  StopWorkers();
  if (ready) Collect();
  workers_.clear();
  return report_;
}

}  // namespace

Report RunLoad(const Options& options, Progress& progress) {
  Runner runner(options, progress);
  return runner.Run();
}

}  // namespace chat::loadgen
