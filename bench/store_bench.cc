// Durable sends per second through ChatService on the LevelDB store, fsync on every commit, for 1
// and 100 chats, 1 and 8 concurrent senders, with and without group commit. A sender either waits
// for each send (window 1: a closed loop, at most one fsync's worth of sends per sender) or keeps up
// to `window` sends in flight, as a client that does not wait for each acknowledgement does.
// With --store URI the same runs go to that store instead (e.g. postgres://user@host:port/db), which
// keeps what it is given: each run registers its own user and chats in it. Its "writes" are its
// commit groups (Store::Stats), for PostgreSQL its append transactions.
// Usage: store_bench [--seconds N] [--dir DIR | --store URI] [--only CHATS:SENDERS:WINDOW] [--json]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "libchat/libchat.h"
#include "libchat/plugins/leveldb_store.h"

using namespace chat;

namespace {

struct Config {
  int chats;
  int senders;
  int window;
  bool group_commit;
};

struct Outcome {
  double sends_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::uint64_t groups = 0;
  std::uint64_t sends = 0;
};

int Fail(const Status& s) {
  std::fprintf(stderr, "store_bench: %s\n", s.ToString().c_str());
  return 1;
}

Result<std::shared_ptr<Store>> OpenBenchStore(const Config& c, const std::string& dir, const std::string& uri) {
  if (!uri.empty()) {
    LIBCHAT_ASSIGN_OR_RETURN(auto store, Registry::Default().MakeStore(uri));
    return std::shared_ptr<Store>(std::move(store));
  }
  std::filesystem::remove_all(dir);
  LIBCHAT_ASSIGN_OR_RETURN(auto engine, OpenLevelDbEngine(dir));
  KvStoreOptions so;
  so.sync = true;
  so.group_commit = c.group_commit;
  LIBCHAT_ASSIGN_OR_RETURN(auto store, MakeKvStore(std::move(engine), so));
  return std::shared_ptr<Store>(std::move(store));
}

Result<Outcome> Run(const Config& c, const std::string& dir, const std::string& uri, int run, double seconds) {
  LIBCHAT_ASSIGN_OR_RETURN(std::shared_ptr<Store> store, OpenBenchStore(c, dir, uri));
  ServiceOptions opts;
  opts.password_cost = PasswordCost::kMinimum;
  // Sends as fast as the store takes them: no rate limits.
  opts.enforce_rate_limits = false;
  // The same text to a hundred chats is what the duplicate-content rule throttles.
  opts.spam.enabled = false;
  LIBCHAT_ASSIGN_OR_RETURN(auto service, ChatService::Create(opts, store, NewInProcBus()));
  // A name of its own in a store that keeps what earlier runs wrote.
  const std::string name = "bench-" + std::to_string(getpid()) + "-" + std::to_string(run);
  LIBCHAT_ASSIGN_OR_RETURN(User u, service->Register({name, "bench-password", "", "", ""}));
  LIBCHAT_ASSIGN_OR_RETURN(Session s, service->Login(name, "bench-password", {"bench", "b"}));
  std::vector<ChatId> chats;
  for (int i = 0; i < c.chats; ++i) {
    LIBCHAT_ASSIGN_OR_RETURN(Chat chat, service->CreateGroup(u.id, "c" + std::to_string(i), {}));
    chats.push_back(chat.id);
  }
  const auto groups_before = store->Stats().commit_groups;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::mutex error_mu;
  Status first_error;
  std::vector<std::vector<double>> latencies(c.senders);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < c.senders; ++t) {
    threads.emplace_back([&, t] {
      SendRequest r;
      r.sender = u.id;
      r.device = s.device.id;
      r.body = std::string(100, 'x');  // A typical short message.
      std::mutex mu;
      std::condition_variable cv;
      int inflight = 0;
      for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return inflight < c.window; });
          ++inflight;
        }
        r.chat = chats[(t + i * c.senders) % chats.size()];
        r.client_id = std::to_string(t) + "-" + std::to_string(i);
        auto t0 = std::chrono::steady_clock::now();
        service->SendAsync(r, [&, t0](Result<AppendResult> res) {
          auto t1 = std::chrono::steady_clock::now();
          std::lock_guard lock(mu);
          if (!res.ok() && errors++ == 0) {
            std::lock_guard elock(error_mu);
            first_error = res.error();
          }
          latencies[t].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
          --inflight;
          cv.notify_one();
        });
      }
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return inflight == 0; });
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (errors > 0) return Status::Internal(std::to_string(errors.load()) + " sends failed, the first: " + first_error.ToString());
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Outcome o;
  o.sends = all.size();
  o.sends_per_s = static_cast<double>(all.size()) / elapsed;
  if (!all.empty()) {
    o.p50_us = all[all.size() / 2];
    o.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  o.groups = store->Stats().commit_groups - groups_before;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  bool json = false;
  std::string uri;
  std::string only;  // "CHATS:SENDERS:WINDOW": that row alone (group commit on).
  std::string dir = (std::filesystem::temp_directory_path() / ("libchat-bench-" + std::to_string(getpid()))).string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--store" && i + 1 < argc) {
      uri = argv[++i];
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: store_bench [--seconds N] [--dir DIR | --store URI] [--only CHATS:SENDERS:WINDOW] [--json]\n");
      return 2;
    }
  }
  const std::vector<Config> configs = {
      {1, 1, 1, true},   {100, 1, 1, true},   {1, 8, 1, true},   {100, 8, 1, true},
      {1, 8, 32, true},  {100, 8, 32, true},  {1, 8, 1, false},  {100, 8, 32, false},
  };
  if (!json) {
    std::printf("%-6s %-8s %-7s %-13s %12s %10s %10s %12s\n", "chats", "senders", "window", "group commit",
                "sends/s", "p50 us", "p99 us", "sends/write");
  }
  std::string out = "[";
  int run = 0;
  for (const auto& c : configs) {
    // Group commit is how the KvStore writes; a store given by URI batches in its own way.
    if (!uri.empty() && !c.group_commit) continue;
    if (!only.empty() && (!c.group_commit || only != std::to_string(c.chats) + ":" + std::to_string(c.senders) + ":" +
                                                         std::to_string(c.window))) {
      continue;
    }
    auto r = Run(c, dir, uri, run++, seconds);
    if (!r.ok()) return Fail(r.error());
    double per_group = r->groups ? static_cast<double>(r->sends) / static_cast<double>(r->groups) : 0;
    if (json) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "%s{\"chats\":%d,\"senders\":%d,\"window\":%d,\"group_commit\":%s,\"sends_per_s\":%.0f,"
                    "\"p50_us\":%.0f,\"p99_us\":%.0f,\"sends_per_write\":%.2f}",
                    out.size() > 1 ? "," : "", c.chats, c.senders, c.window, c.group_commit ? "true" : "false",
                    r->sends_per_s,
                    r->p50_us, r->p99_us, per_group);
      out += buf;
    } else {
      std::printf("%-6d %-8d %-7d %-13s %12.0f %10.0f %10.0f %12.2f\n", c.chats, c.senders, c.window,
                  c.group_commit ? "on" : "off",
                  r->sends_per_s, r->p50_us, r->p99_us, per_group);
      std::fflush(stdout);
    }
  }
  std::filesystem::remove_all(dir);
  if (json) std::printf("%s]\n", out.c_str());
  return 0;
}
