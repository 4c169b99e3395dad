// Heartbeat: this node's row in the deployment's node registry (the PostgreSQL store's `nodes`
// table), written every `interval` and once more, stopped, when chatd shuts down; and the node list
// the admin API shows (GET /v1/nodes, chatctl nodes). With another store (one node) the list is this
// node alone, as it is now. docs/scaling.md, "Nodes and heartbeats".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "libchat/admin.h"
#include "libchat/result.h"
#include "mutex.h"

namespace chat::chatd {

class Heartbeat {
 public:
  struct Self {
    std::string node_id;
    std::string listen;  // HOST:PORT of the clients' port.
    std::string admin;   // HOST:PORT of the admin API, "" without one.
    std::int64_t started_at = 0;
    // Open connections now. Called on the heartbeat's thread.
    std::function<std::uint64_t()> connections;
  };

  // With `store_uri` a postgres:// URI (and the plugin built in), heartbeats into its database;
  // otherwise the node list is this node alone. Unavailable if the database cannot be reached.
  // `log` gets one line when heartbeats start failing and one when they work again.
  static Result<std::unique_ptr<Heartbeat>> Start(const std::string& store_uri, Self self,
                                                  std::chrono::milliseconds interval,
                                                  std::function<void(const std::string&)> log);
  // Writes the stopped row and joins the thread.
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Every node of the deployment (AdminOptions::list_nodes). Thread-safe.
  Result<std::vector<AdminNode>> List();

  struct Registry;  // The PostgreSQL registry, when there is one (heartbeat.cc).

 private:
  Heartbeat(std::unique_ptr<Registry> registry, Self self, std::chrono::milliseconds interval,
            std::function<void(const std::string&)> log);
  void Run() EXCLUDES(mu_);
  Status Beat(bool stopped);

  std::unique_ptr<Registry> registry_;
  const Self self_;
  const std::chrono::milliseconds interval_;
  const std::function<void(const std::string&)> log_;
  detail::Mutex mu_;
  detail::CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool failing_ = false;  // Heartbeat thread only.
  std::thread thread_;
};

}  // namespace chat::chatd
