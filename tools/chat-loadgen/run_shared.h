// What every worker of one run reads: the options, the target, the layout, the identities and the
// groups. The coordinator fills it in phases; a worker writes only the entries of its own clients
// (identities) or of the groups its clients own (groups), and publishes them through the release
// store of a WorkerStats counter, which the coordinator reads with acquire before using them. During
// the load phase it is read-only.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "layout.h"
#include "options.h"
#include "state_file.h"

namespace chat::loadgen {

struct GroupState {
  std::uint64_t chat = 0;  // Chat id on the server; 0 until created.
  std::uint64_t head = 0;  // The chat's last seq when the load phase began.
  bool failed = false;     // createChat or getChat failed for good.
};

// One node a client may connect to (Options::urls, resolved).
struct Target {
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host_header;
  std::string path;
};

struct RunShared {
  Options options;
  std::vector<Target> targets;  // Per node of Options::urls, in its order; at least one.
  Layout layout;
  std::string prefix;    // Usernames: prefix + "_" + client index.
  std::string password;
  // Distinguishes this run's clientIds from earlier runs' on the same devices: a reused clientId would
  // be answered as a duplicate of an old message (clientIds are idempotency keys).
  std::string run_nonce;
  std::vector<DeviceIdentity> identities;  // Per client.
  std::vector<GroupState> groups;          // Per group.
  std::vector<bool> offline;               // Per client (offline-sync).

  std::string Username(std::uint32_t client) const { return prefix + "_" + std::to_string(client); }
  unsigned WorkerOf(std::uint32_t client) const { return client % options.threads; }
};

}  // namespace chat::loadgen
