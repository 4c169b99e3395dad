// nats_cluster_ctl: a throw-away NATS cluster from the command line, by the tests' own code
// (nats_cluster.h). The CTest fixture that shares one cluster among the tests of a run uses it.
//
//   nats_cluster_ctl start [--servers N] STATE   start N servers (default 3) joined by routes;
//                                                record their ports, PIDs and folder
//   nats_cluster_ctl stop STATE                  stop exactly those PIDs and remove the folder
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "nats_cluster.h"

namespace {

int Fail(const chat::Status& s) {
  std::fprintf(stderr, "nats_cluster_ctl: %s\n", s.ToString().c_str());
  return 1;
}

// A cluster left by an interrupted run is stopped first: its PIDs are in the old state file.
void StopLeftover(const std::string& state) {
  if (!std::filesystem::exists(state)) return;
  auto old = chat::test::NatsCluster::Attach(state);
  if (old.ok()) (*old)->set_owned(true);
  std::filesystem::remove(state);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int servers = 3;
  if (args.size() >= 3 && args[1] == "--servers") {
    servers = std::atoi(args[2].c_str());
    args.erase(args.begin() + 1, args.begin() + 3);
  }
  const std::string command = args.empty() ? "" : args[0];
  if (command == "start" && args.size() == 2 && servers >= 1 && servers <= 16) {
    StopLeftover(args[1]);
    auto cluster = chat::test::NatsCluster::Start(servers);
    if (!cluster.ok()) return Fail(cluster.error());
    if (auto s = (*cluster)->WriteState(args[1]); !s.ok()) return Fail(s);
    (*cluster)->set_owned(false);
    std::printf("NATS cluster %s in %s\n", (*cluster)->Url().c_str(), (*cluster)->dir().c_str());
    return 0;
  }
  if (command == "stop" && args.size() == 2) {
    StopLeftover(args[1]);
    return 0;
  }
  std::fprintf(stderr, "usage: nats_cluster_ctl start [--servers N] STATE | stop STATE\n");
  return 2;
}
