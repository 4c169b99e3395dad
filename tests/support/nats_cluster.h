// NatsCluster: throw-away NATS servers for tests, started by this code and stopped by their PIDs:
// N nats-server processes (Debian's nats-server 2.9) joined by routes into one cluster, each on free
// ports of 127.0.0.1 (client, route, monitoring), with their configuration and logs in a private
// temporary folder. JetStream is on (in memory, bounded), for the key-value buckets that chatd nodes
// share (Bus::OpenSharedKv).
//
// The test suite shares one cluster among the tests of a ctest run (a CTest fixture starts it with
// `nats_cluster_ctl start STATE` and stops it at the end; SharedNatsCluster() finds it through
// LIBCHAT_TEST_NATS_STATE). A test that stops or restarts a server starts a private one instead.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "libchat/result.h"

namespace chat::test {

class NatsCluster {
 public:
  // Starts `servers` servers and waits until every one has a route to every other (the cluster
  // has formed; about 0.5 s for 3). Unavailable if nats-server is missing or does not start.
  // `advertise` false: the servers do not tell their clients of the others (no_advertise), so a
  // client given one server stays cut off while that server is down.
  static Result<std::unique_ptr<NatsCluster>> Start(int servers = 3, bool advertise = true);
  // Adopts a cluster started by another process (nats_cluster_ctl), described by its state file.
  static Result<std::unique_ptr<NatsCluster>> Attach(const std::string& state_file);

  // Stops the servers (if this object started them) and removes the folder.
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  // nats://127.0.0.1:P1,127.0.0.1:P2,... — every server, for a client that may use any.
  std::string Url() const;
  // nats://127.0.0.1:Pi — server i alone.
  std::string Url(int i) const;
  int client_port(int i) const { return nodes_[static_cast<std::size_t>(i)].client_port; }
  pid_t pid(int i) const { return nodes_[static_cast<std::size_t>(i)].pid; }
  const std::string& dir() const { return dir_; }

  // Stops server i (SIGTERM, then SIGKILL if it lingers; after checking /proc/PID/comm) and waits for
  // it to go. Its clients see the connection drop. Idempotent.
  void Stop(int i);
  // SIGKILL of server i (after checking /proc/PID/comm), as a crash would; waits for it to go.
  void Kill9(int i);
  // SIGSTOP of server i (after checking /proc/PID/comm): it reads nothing more, so what its clients
  // write stays unread in its sockets (and dies with it on a Kill9). Its clients notice nothing until
  // their pings go unanswered. Returns once every thread of the server has stopped (true), or false
  // if it did not within 10 s or is not running.
  [[nodiscard]] bool Freeze(int i);
  // Whether every thread of server i is stopped now.
  bool Frozen(int i) const;
  // Starts server i again on the same ports and waits until its routes are back.
  Status Restart(int i);

  // Writes the state file that Attach reads.
  Status WriteState(const std::string& state_file) const;
  // Whether destroying this object stops the servers and removes the folder (true for Start; false
  // for Attach, and for a cluster a fixture hands on to later processes).
  void set_owned(bool owned) { owned_ = owned; }

 private:
  struct Node {
    int client_port = 0;
    int route_port = 0;
    int http_port = 0;
    pid_t pid = -1;
  };
  NatsCluster() = default;
  // One attempt of Start; the object's destructor stops what it started if it fails.
  static Result<std::unique_ptr<NatsCluster>> StartOnce(int servers, bool advertise);
  Status WriteConfig(int i) const;
  Status StartNode(int i);
  // Waits until server i's monitoring endpoint reports a route to every other server.
  Status WaitRouted(int i) const;

  std::string dir_;
  std::vector<Node> nodes_;
  bool advertise_ = true;
  bool owned_ = true;
};

// The NATS cluster shared by this test process: the ctest fixture's (found through
// LIBCHAT_TEST_NATS_STATE), else one started on first use and stopped at exit.
Result<NatsCluster*> SharedNatsCluster();

}  // namespace chat::test
