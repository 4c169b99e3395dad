// Several chatd processes on one database, and a database that fails over: the guarantees that make
// a shared store worth having. Real processes (fork) and real servers (tests/support/pg_cluster.h).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "pg_cluster.h"
#include "test_support.h"

using namespace chat;
using namespace std::chrono_literals;
using chat::test::PgCluster;

namespace {

ServiceOptions Options() {
  ServiceOptions opts;
  opts.password_cost = PasswordCost::kMinimum;
  opts.enforce_rate_limits = false;
  opts.spam.enabled = false;
  return opts;
}

// A send retried, with its client id, for as long as the failure is retryable (the database or the
// chat changed under it) and `give_up` is not reached: what a client does.
Result<AppendResult> SendRetrying(ChatService& svc, const SendRequest& r,
                                  std::chrono::steady_clock::time_point give_up) {
  for (;;) {
    auto res = svc.Send(r);
    if (res.ok() || !res.status().IsRetryable() || std::chrono::steady_clock::now() > give_up) return res;
    std::this_thread::sleep_for(20ms);
  }
}

struct Ack {
  ChatId chat = 0;
  Seq seq = 0;
  std::string id;
  std::string client_id;
};

// Runs in a forked child: sends through a ChatService of its own on `uri`, from `threads` threads,
// the shared client ids "m<k>" (both processes send them: each must be stored once) and ids of its
// own; process 0 also adds and removes bob in the first chat meanwhile, which makes the other
// process's batches renumber against new members. One line per acknowledgement on `out_fd`.
[[noreturn]] void SendFromProcess(const std::string& uri, int process, const Session& alice, UserId bob,
                                  const std::vector<ChatId>& chats, int per_thread, int out_fd) {
  auto store = Registry::Default().MakeStore(uri);
  if (!store.ok()) _exit(10);
  auto made = ChatService::Create(Options(), std::shared_ptr<Store>(std::move(*store)), NewInProcBus());
  if (!made.ok()) _exit(11);
  ChatService& svc = **made;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  std::atomic<bool> failed{false};
  std::mutex out_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread && !failed; ++i) {
        const int k = t * per_thread + i;
        SendRequest r;
        r.sender = alice.user.id;
        r.device = alice.device.id;
        r.chat = chats[static_cast<std::size_t>(k) % chats.size()];
        r.client_id = (k % 2 == 0) ? "m" + std::to_string(k) : "p" + std::to_string(process) + "-" + std::to_string(k);
        r.body = "body " + r.client_id;
        auto res = SendRetrying(svc, r, give_up);
        if (!res.ok()) {
          std::fprintf(stderr, "process %d: %s\n", process, res.status().ToString().c_str());
          failed = true;
          return;
        }
        std::ostringstream line;
        line << "ack " << res->message.chat << " " << res->message.seq << " " << res->message.id << " " << r.client_id
             << "\n";
        std::lock_guard lock(out_mu);
        const std::string s = line.str();
        if (write(out_fd, s.data(), s.size()) < 0) failed = true;
      }
    });
  }
  if (process == 0) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20 && !failed; ++i) {
        ParticipantChange change;
        (i % 2 == 0 ? change.add : change.remove).push_back(bob);
        for (;;) {
          auto res = svc.ModifyParticipants(alice.user.id, chats[0], change);
          if (res.ok()) break;
          if (!res.status().IsRetryable() || std::chrono::steady_clock::now() > give_up) {
            std::fprintf(stderr, "membership: %s\n", res.status().ToString().c_str());
            failed = true;
            break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(failed ? 20 : 0);
}

std::vector<Ack> ReadAcks(int fd) {
  std::vector<Ack> out;
  FILE* in = fdopen(fd, "r");
  char buf[512];
  while (in != nullptr && std::fgets(buf, sizeof buf, in) != nullptr) {
    std::istringstream line(buf);
    std::string word;
    Ack a;
    if (line >> word >> a.chat >> a.seq >> a.id >> a.client_id && word == "ack") out.push_back(a);
  }
  if (in != nullptr) std::fclose(in);
  return out;
}

// Every entry of the chat, in order, checked gapless from 1.
std::map<Seq, Message> LogOf(Store& store, ChatId chat) {
  std::map<Seq, Message> out;
  for (Seq after = 0;;) {
    auto page = store.ReadMessages(chat, after, 500);
    REQUIRE_OK(page);
    if (page->empty()) break;
    for (auto& m : *page) {
      after = m.seq;
      out.emplace(m.seq, std::move(m));
    }
  }
  Seq expect = 1;
  for (const auto& [seq, m] : out) CHECK(seq == expect++);
  auto head = store.Head(chat);
  REQUIRE_OK(head);
  CHECK(out.size() == *head);
  return out;
}

}  // namespace

TEST_CASE("two processes sending to the same chats of one database keep seqs gapless and each client id once",
          "[postgres][processes]") {
  auto& cluster = test::SharedPgCluster();
  auto db = cluster.NewDatabase();
  REQUIRE_OK(db);
  const std::string uri = cluster.Uri(*db) + "?pool=4";
  Session alice;
  UserId bob = 0;
  std::vector<ChatId> chats;
  {
    // Set up, then closed: no thread of this process runs across the forks below.
    auto store = Registry::Default().MakeStore(uri);
    REQUIRE_OK(store);
    auto svc = ChatService::Create(Options(), std::shared_ptr<Store>(std::move(*store)), NewInProcBus());
    REQUIRE_OK(svc);
    REQUIRE_OK((*svc)->Register({"alice", "password-alice", "", "", ""}));
    auto bob_user = (*svc)->Register({"bob", "password-bob", "", "", ""});
    REQUIRE_OK(bob_user);
    bob = bob_user->id;
    auto login = (*svc)->Login("alice", "password-alice", {"phone", "p"});
    REQUIRE_OK(login);
    alice = *login;
    for (int i = 0; i < 3; ++i) {
      auto chat = (*svc)->CreateGroup(alice.user.id, "g" + std::to_string(i), {});
      REQUIRE_OK(chat);
      chats.push_back(chat->id);
    }
  }
  constexpr int kPerThread = 60;
  std::vector<pid_t> pids;
  std::vector<int> fds;
  for (int process = 0; process < 2; ++process) {
    int p[2];
    REQUIRE(pipe(p) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(p[0]);
      SendFromProcess(uri, process, alice, bob, chats, kPerThread, p[1]);
    }
    close(p[1]);
    pids.push_back(pid);
    fds.push_back(p[0]);
  }
  std::vector<std::vector<Ack>> acks;
  for (int fd : fds) acks.push_back(ReadAcks(fd));
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  REQUIRE(acks[0].size() == 4 * kPerThread);
  REQUIRE(acks[1].size() == 4 * kPerThread);

  auto store = Registry::Default().MakeStore(uri);
  REQUIRE_OK(store);
  std::map<std::string, const Message*> by_client_id;
  std::map<ChatId, std::map<Seq, Message>> logs;
  for (ChatId chat : chats) {
    logs[chat] = LogOf(**store, chat);
    for (const auto& [seq, m] : logs[chat]) {
      if (m.client_id.empty()) continue;
      // Each client id once in the whole database.
      CHECK(by_client_id.emplace(m.client_id, &m).second);
    }
  }
  // Shared ids (2 x 120) and each process's own (2 x 120): 360 messages.
  CHECK(by_client_id.size() == 360);
  for (const auto& process : acks) {
    for (const Ack& a : process) {
      auto it = by_client_id.find(a.client_id);
      REQUIRE(it != by_client_id.end());
      // Both processes were told the same place and id for a shared client id.
      CHECK(it->second->chat == a.chat);
      CHECK(it->second->seq == a.seq);
      CHECK(it->second->id == a.id);
    }
  }
  store->reset();
  cluster.DropDatabase(*db).IgnoreError();
}

TEST_CASE("kill -9 of the primary under load: after promoting its synchronous standby every acknowledged message is there",
          "[postgres][failover]") {
  // Durable servers: fsync on, and commits wait for the standby's flush (synchronous_commit=on).
  PgCluster::Options durable;
  durable.durable = true;
  auto primary = PgCluster::Start(durable);
  REQUIRE_OK(primary);
  auto standby = PgCluster::StartStandby(**primary, "standby1", durable);
  REQUIRE_OK(standby);
  REQUIRE_OK((*primary)->Sql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'"));
  REQUIRE_OK((*primary)->Sql("SELECT pg_reload_conf()"));
  bool sync = false;
  for (int i = 0; i < 200 && !sync; ++i) {
    auto state = (*primary)->Sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'");
    sync = state.ok() && *state == "sync";
    if (!sync) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(sync);
  auto db = (*primary)->NewDatabase();
  REQUIRE_OK(db);
  // Both servers in the URI: libpq connects to whichever accepts writes.
  const std::string uri = "postgres://postgres@127.0.0.1:" + std::to_string((*primary)->port()) + ",127.0.0.1:" +
                          std::to_string((*standby)->port()) + "/" + *db +
                          "?target_session_attrs=read-write&connect_timeout=2&pool=4";
  auto opened = Registry::Default().MakeStore(uri);
  REQUIRE_OK(opened);
  std::shared_ptr<Store> store = std::move(*opened);
  auto made = ChatService::Create(Options(), store, NewInProcBus());
  REQUIRE_OK(made);
  ChatService& svc = **made;
  REQUIRE_OK(svc.Register({"alice", "password-alice", "", "", ""}));
  auto alice = svc.Login("alice", "password-alice", {"phone", "p"});
  REQUIRE_OK(alice);
  std::vector<ChatId> chats;
  for (int i = 0; i < 2; ++i) {
    auto chat = svc.CreateGroup(alice->user.id, "g" + std::to_string(i), {});
    REQUIRE_OK(chat);
    chats.push_back(chat->id);
  }

  std::mutex mu;
  std::vector<Ack> acks;
  std::atomic<bool> stop{false};
  std::atomic<int> hard_failures{0};
  std::atomic<std::int64_t> first_ack_after_promote_ms{-1};
  std::atomic<bool> promoted{false};
  const auto give_up = std::chrono::steady_clock::now() + 90s;
  std::chrono::steady_clock::time_point promoted_at;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        SendRequest r;
        r.sender = alice->user.id;
        r.device = alice->device.id;
        r.chat = chats[static_cast<std::size_t>(t) % chats.size()];
        r.client_id = "t" + std::to_string(t) + "-" + std::to_string(i);
        r.body = "body " + r.client_id;
        auto res = SendRetrying(svc, r, give_up);
        if (!res.ok()) {
          ++hard_failures;
          return;
        }
        std::lock_guard lock(mu);
        acks.push_back({res->message.chat, res->message.seq, res->message.id, r.client_id});
        if (promoted && first_ack_after_promote_ms < 0) {
          first_ack_after_promote_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - promoted_at)
                                           .count();
        }
      }
    });
  }
  auto acked = [&] {
    std::lock_guard lock(mu);
    return acks.size();
  };
  while (acked() < 300 && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(10ms);
  const std::size_t before_kill = acked();
  (*primary)->Kill9();
  const auto killed_at = std::chrono::steady_clock::now();
  REQUIRE_OK((*standby)->Promote());
  {
    std::lock_guard lock(mu);
    promoted_at = std::chrono::steady_clock::now();
  }
  promoted = true;
  const auto promote_ms = std::chrono::duration_cast<std::chrono::milliseconds>(promoted_at - killed_at).count();
  while (acked() < before_kill + 300 && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(10ms);
  stop = true;
  for (auto& th : threads) th.join();
  WARN("failover: promoted " << promote_ms << " ms after kill -9; first acknowledged send "
                             << first_ack_after_promote_ms.load() << " ms after promotion; " << acks.size()
                             << " sends acknowledged (" << before_kill << " before the kill)");
  CHECK(hard_failures == 0);
  CHECK(acked() >= before_kill + 300);

  // Read back from the new primary alone.
  made->reset();
  store.reset();
  auto reopened = Registry::Default().MakeStore((*standby)->Uri(*db));
  REQUIRE_OK(reopened);
  std::map<std::string, Message> by_client_id;
  for (ChatId chat : chats) {
    for (auto& [seq, m] : LogOf(**reopened, chat)) {
      if (!m.client_id.empty()) CHECK(by_client_id.emplace(m.client_id, m).second);
    }
  }
  for (const Ack& a : acks) {
    auto it = by_client_id.find(a.client_id);
    REQUIRE(it != by_client_id.end());
    CHECK(it->second.chat == a.chat);
    CHECK(it->second.seq == a.seq);
    CHECK(it->second.id == a.id);
  }
}
