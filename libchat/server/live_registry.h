// LiveRegistry: which devices have a live session, and on which node — cluster-wide.
//
// The one place that answers "is this user online", "is this device live" and "where are this
// user's devices" for presence, pushes and calls (docs/scaling.md, "Cluster-wide state"). Two
// implementations:
//  * one node (in-process bus): the router's own sessions are the whole truth; a user comes online
//    with their first session and goes offline with their last, decided by the router at once
//    (NewLocalLiveRegistry). Nothing changes from a server without this registry.
//  * several nodes (a bus between nodes): a SharedKv bucket "live" holds, per user, the (node,
//    device) pairs with a live session anywhere, written with compare-and-set, so that exactly one
//    node sees a user's first device come and last device go, wherever they are; each node mirrors
//    the bucket in memory (queries never wait on the network) and heartbeats into a bucket "nodes"
//    whose keys expire after `node_ttl_ms`: the devices of a node whose heartbeat expired are taken
//    out by the surviving nodes, which announce the users who went offline with them
//    (NewClusterLiveRegistry, live_registry.cc).
//
// Threads: DeviceChanged never blocks (the cluster registry queues the write to one of its threads,
// per user in order); the queries are memory reads under a mutex. The `transition` callback runs on
// a thread of the registry's (or the caller's, one node) and must not block: it queues work.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libchat/shared_kv.h"
#include "libchat/types.h"
#include "logger.h"

namespace chat::detail {

class Router;

class LiveRegistry {
 public:
  // A user came online (their first live device anywhere) or went offline (their last one went, or
  // the node holding it died). For each user, transitions alternate and are seen by one node only.
  using Transition = std::function<void(UserId user, bool online)>;
  // A device came live on another node (a (node, device) pair the mirror did not hold; this node's
  // own sessions are the router's). Runs on the registry's watch thread; must not block.
  using Appeared = std::function<void(UserId user, DeviceId device)>;
  struct DeviceAt {
    DeviceId device = 0;
    std::string node;
  };

  LiveRegistry() = default;
  LiveRegistry(const LiveRegistry&) = delete;
  LiveRegistry& operator=(const LiveRegistry&) = delete;
  virtual ~LiveRegistry() = default;

  // The router's sessions of `device` of `user` changed on this node (one registered or ended;
  // `first_here` / `last_here`: the router's answer for this node). The registry brings its record in
  // line with the router (the device is live here iff the router has a session of it) and calls
  // `transition` if the user came online or went offline cluster-wide. Non-blocking.
  virtual void DeviceChanged(UserId user, DeviceId device, bool first_here, bool last_here) = 0;

  // Blocks until every registry write queued for `user` before this call has been applied (or given
  // up on: an engine failure is left to the next reconcile), at most `timeout`. A session's
  // authentication is answered after it: a device whose login or resume was answered is in the
  // cluster's record, so another of the user's devices going on another node does not take the user
  // offline meanwhile. Unavailable after `timeout`; Ok at once on one node and after Close.
  virtual Status AwaitWritten(UserId user, std::chrono::milliseconds timeout) = 0;

  // Whether `user` has a live device on any node. Non-blocking (the node's mirror: another node's
  // change shows here within a NATS round trip).
  virtual bool IsOnline(UserId user) const = 0;
  // Whether `device` of `user` has a live session on any node. Non-blocking.
  virtual bool IsDeviceLive(UserId user, DeviceId device) const = 0;
  // The user's live devices and their nodes (empty: offline). Non-blocking.
  virtual std::vector<DeviceAt> DevicesOf(UserId user) const = 0;
  // This node's id.
  virtual const std::string& node() const = 0;
  // Writes what is queued (the transitions of the sessions that just closed are still called), takes
  // this node's heartbeat out and stops the registry's threads; DeviceChanged does nothing after.
  // Queries still answer (from the last state). Blocks up to a few seconds. Idempotent.
  virtual void Close() = 0;
};

// The one-node registry: the router is the truth; `transition` is called from DeviceChanged with the
// router's first/last answers. `router` must outlive it.
std::unique_ptr<LiveRegistry> NewLocalLiveRegistry(const Router& router, std::string node, LiveRegistry::Transition transition);

struct ClusterLiveOptions {
  // This node's id (chatd --node-id): letters, digits and . _ : -. Required.
  std::string node;
  // A node whose heartbeat is older than this is dead: its devices are taken out and its users
  // announced offline. Heartbeats go every node_ttl_ms / 4. Fixed by the first node that creates the
  // bucket. Default: 6 s.
  std::int64_t node_ttl_ms = 6000;
  // How often each node brings the bucket's record of its own devices in line with its router
  // (writes that failed while NATS was away, a device written by a previous life of this node id).
  // Default: 5 s.
  std::int64_t reconcile_ms = 5000;
  // Threads writing to the bucket; a user's writes always go to the same one, in order. Default: 4.
  int writers = 4;
  // How long a write the bucket fails (a request timing out) is retried, with backoff, before it is
  // left to the next reconcile. Once one was left so, the next writes are tried once each until one
  // lands again: while the bucket is away, a writer does not spend this long on every op in its
  // queue (sign-ins and sign-outs of other users behind it). Default: 5 s.
  std::int64_t write_retry_ms = 5000;
};

// The cluster registry on `live` (no TTL) and `nodes` (TTL = options.node_ttl_ms) buckets. Starts its
// heartbeat and writer threads; the destructor stops them and takes this node's devices out of the
// bucket (best effort: a crash leaves them to the heartbeat's expiry). `router` must outlive it.
// `appeared` (may be empty) is told of devices that come live on other nodes once the bucket's
// initial values are read (the calls held here ring them: CallManager::DeviceOnline).
Result<std::unique_ptr<LiveRegistry>> NewClusterLiveRegistry(std::shared_ptr<SharedKv> live,
                                                             std::shared_ptr<SharedKv> nodes, const Router& router,
                                                             ClusterLiveOptions options, const Logger& log,
                                                             LiveRegistry::Transition transition,
                                                             LiveRegistry::Appeared appeared = nullptr);

}  // namespace chat::detail
