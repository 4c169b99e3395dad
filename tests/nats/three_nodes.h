// Three chatd nodes as one service for the tests of tests/nats: real chatd processes on a throw-away
// PostgreSQL database of their own and the run's NATS cluster (node i attached to server i), with a
// subject prefix of their own so that tests sharing the cluster do not hear each other.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chatd_process.h"
#include "cluster_fixture.h"
#include "nats_cluster.h"
#include "pg_cluster.h"

namespace chat::test {

// The chatd arguments of one node on the shared database and the bus at `nats_url`.
inline std::vector<std::string> NodeArgs(const std::string& store, const std::string& nats_url,
                                         const std::string& prefix, const std::string& id,
                                         const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"--store", store, "--bus", nats_url + "?prefix=" + prefix, "--node-id", id};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// One chatd node on the shared database and the bus at `nats_url`.
inline std::unique_ptr<ChatdProcess> Node(const TempDir& dir, const std::string& store, const std::string& nats_url,
                                          const std::string& prefix, const std::string& id) {
  return std::make_unique<ChatdProcess>(dir.str(), NodeArgs(store, nats_url, prefix, id));
}

// Three chatd nodes on one database and the run's NATS cluster, node i attached to server i, each
// started with `extra` arguments too.
struct ThreeNodes {
  explicit ThreeNodes(std::vector<std::string> extra_args = {}) : extra(std::move(extra_args)) {
    auto nats = SharedNatsCluster();
    REQUIRE_OK(nats);
    cluster = *nats;
    for (int i = 0; i < 3; ++i) Start(i);
  }
  // Starts node i (again, after a kill: same data folder, same node id).
  void Start(int i) {
    static const char* const kNames[] = {"node-a", "node-b", "node-c"};
    chatd[i] = std::make_unique<ChatdProcess>(dirs[i].str(), NodeArgs(db.uri, cluster->Url(i), prefix, kNames[i], extra));
  }
  Database db;
  NatsCluster* cluster = nullptr;
  const std::string prefix = UniquePrefix();
  const std::vector<std::string> extra;
  TempDir dirs[3];
  std::unique_ptr<ChatdProcess> chatd[3];
};

}  // namespace chat::test
