// pg_cluster_ctl: throw-away PostgreSQL servers from the command line, by the tests' own code
// (pg_cluster.h). The CTest fixture that shares one server among the tests of a run uses `start` and
// `stop`; the benchmarks in docs/benchmarks.md use `--durable` and `standby`.
//
//   pg_cluster_ctl start [--durable] [-c NAME=VALUE]... STATE
//                                                start a server; record its port, PID and folder
//   pg_cluster_ctl standby [--durable] [-c NAME=VALUE]... PRIMARY_STATE STATE
//                                                a synchronous standby of that server (its commits
//                                                then wait for the standby's flush)
//   pg_cluster_ctl stop STATE                    stop exactly that PID and remove its folder
//
// --durable: fsync and full-page writes on (the default is off, for tests that do not test
// durability). -c: a server setting (postgres -c), e.g. -c shared_buffers=1GB.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "pg_cluster.h"

namespace {

int Fail(const chat::Status& s) {
  std::fprintf(stderr, "pg_cluster_ctl: %s\n", s.ToString().c_str());
  return 1;
}

// Makes `cluster` outlive this process (until `stop`) and records it.
int Keep(chat::test::PgCluster& cluster, const std::string& state) {
  if (auto s = cluster.WriteState(state); !s.ok()) return Fail(s);
  cluster.set_owned(false);
  std::printf("PostgreSQL on 127.0.0.1:%d, pid %d, in %s\n", cluster.port(), static_cast<int>(cluster.pid()),
              cluster.dir().c_str());
  return 0;
}

// A server left by an interrupted run is stopped first: its PID is in the old state file.
void StopLeftover(const std::string& state) {
  if (!std::filesystem::exists(state)) return;
  auto old = chat::test::PgCluster::Attach(state);
  if (old.ok()) (*old)->set_owned(true);
  std::filesystem::remove(state);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  chat::test::PgCluster::Options options;
  for (auto it = args.begin(); it != args.end();) {
    if (*it == "--durable") {
      options.durable = true;
      it = args.erase(it);
    } else if (*it == "-c" && it + 1 != args.end()) {
      options.settings.push_back(*(it + 1));
      it = args.erase(it, it + 2);
    } else {
      ++it;
    }
  }
  const std::string command = args.empty() ? "" : args[0];
  if (command == "start" && args.size() == 2) {
    StopLeftover(args[1]);
    auto cluster = chat::test::PgCluster::Start(options);
    if (!cluster.ok()) return Fail(cluster.error());
    return Keep(**cluster, args[1]);
  }
  if (command == "standby" && args.size() == 3) {
    auto primary = chat::test::PgCluster::Attach(args[1]);
    if (!primary.ok()) return Fail(primary.error());
    StopLeftover(args[2]);
    auto standby = chat::test::PgCluster::StartStandby(**primary, "standby1", options);
    if (!standby.ok()) return Fail(standby.error());
    for (const char* sql : {"ALTER SYSTEM SET synchronous_standby_names = 'standby1'", "SELECT pg_reload_conf()"}) {
      if (auto s = (*primary)->Sql(sql); !s.ok()) return Fail(s.error());
    }
    for (int i = 0; i < 200; ++i) {
      auto state = (*primary)->Sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'");
      if (state.ok() && *state == "sync") return Keep(**standby, args[2]);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Fail(chat::Status::Unavailable("the standby did not become synchronous"));
  }
  if (command == "stop" && args.size() == 2) {
    auto cluster = chat::test::PgCluster::Attach(args[1]);
    if (!cluster.ok()) return 0;  // Nothing was started.
    (*cluster)->set_owned(true);  // Destroying it stops that PID and removes its folder.
    cluster->reset();
    std::filesystem::remove(args[1]);
    return 0;
  }
  std::fprintf(stderr,
               "usage: pg_cluster_ctl start [--durable] [-c NAME=VALUE]... STATE | standby [--durable] [-c NAME=VALUE]... "
               "PRIMARY_STATE STATE | stop STATE\n");
  return 2;
}
