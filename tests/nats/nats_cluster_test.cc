// The tests' NATS cluster (support/nats_cluster.h): it forms, and it stops exactly its own PIDs.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "nats_cluster.h"
#include "test_support.h"

using namespace chat;

namespace {
std::string Comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}
}  // namespace

TEST_CASE("nats cluster: three routed servers start on loopback and stop by their own pids", "[nats]") {
  auto cluster = test::NatsCluster::Start(3);
  REQUIRE_OK(cluster);
  std::vector<pid_t> pids;
  for (int i = 0; i < 3; ++i) {
    pids.push_back((*cluster)->pid(i));
    CHECK(Comm(pids.back()) == "nats-server");
  }
  const std::string dir = (*cluster)->dir();
  CHECK((*cluster)->Url().find("nats://127.0.0.1:") == 0);
  // Stop and restart one: the others stay; it comes back on its ports with its routes.
  const int port = (*cluster)->client_port(1);
  (*cluster)->Stop(1);
  CHECK(Comm(pids[1]).empty());
  CHECK(Comm(pids[0]) == "nats-server");
  REQUIRE_OK((*cluster)->Restart(1));
  CHECK((*cluster)->client_port(1) == port);
  pids[1] = (*cluster)->pid(1);
  cluster->reset();
  for (pid_t pid : pids) CHECK(Comm(pid).empty());
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("nats cluster: the run's shared cluster is found through the fixture's state", "[nats]") {
  auto shared = test::SharedNatsCluster();
  REQUIRE_OK(shared);
  CHECK((*shared)->size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(Comm((*shared)->pid(i)) == "nats-server");
}
