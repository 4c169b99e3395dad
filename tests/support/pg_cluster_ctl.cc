// pg_cluster_ctl start|stop STATE_FILE: the CTest fixture that shares one throw-away PostgreSQL server
// among the tests of a run. `start` starts it and records its port, PID and folder in STATE_FILE (the
// tests attach through LIBCHAT_TEST_PG_STATE); `stop` stops exactly that PID and removes the folder.
#include <cstdio>
#include <filesystem>
#include <string>

#include "pg_cluster.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pg_cluster_ctl start|stop STATE_FILE\n");
    return 2;
  }
  const std::string command = argv[1];
  const std::string state = argv[2];
  if (command == "start") {
    // A server left by an interrupted run is stopped first: its PID is in the old state file.
    if (std::filesystem::exists(state)) {
      auto old = chat::test::PgCluster::Attach(state);
      if (old.ok()) (*old)->set_owned(true);
      std::filesystem::remove(state);
    }
    auto cluster = chat::test::PgCluster::Start({});
    if (!cluster.ok()) {
      std::fprintf(stderr, "pg_cluster_ctl: %s\n", cluster.error().ToString().c_str());
      return 1;
    }
    if (auto s = (*cluster)->WriteState(state); !s.ok()) {
      std::fprintf(stderr, "pg_cluster_ctl: %s\n", s.ToString().c_str());
      return 1;
    }
    (*cluster)->set_owned(false);  // Outlives this process, until `stop`.
    std::printf("PostgreSQL on 127.0.0.1:%d, pid %d, in %s\n", (*cluster)->port(), static_cast<int>((*cluster)->pid()),
                (*cluster)->dir().c_str());
    return 0;
  }
  if (command == "stop") {
    auto cluster = chat::test::PgCluster::Attach(state);
    if (!cluster.ok()) return 0;  // Nothing was started.
    (*cluster)->set_owned(true);  // Destroying it stops that PID and removes its folder.
    cluster->reset();
    std::filesystem::remove(state);
    return 0;
  }
  std::fprintf(stderr, "pg_cluster_ctl: unknown command '%s'\n", command.c_str());
  return 2;
}
