// Presence: online/offline and last seen.
//
// A user is online while at least one of their devices has an authenticated session: on this node
// (the router knows), or, on a bus between nodes, on any node (the LiveRegistry knows, and decides
// when a user comes online or goes offline: UseRegistry). Coming online and going offline are announced to the user's chat partners as
// `presence` events through the Bus, unless the user hides their last seen from everybody ("nobody").
// Last seen is the device activity the store records (connect, disconnect, heartbeats), which the
// ChatService filters per viewer (everyone / chat_partners / nobody).
//
// Thread-safe. Methods called from network threads only schedule worker jobs; Query blocks (call it
// from a worker).
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "libchat/service.h"
#include "libchat/types.h"
#include "live_registry.h"
#include "logger.h"
#include "mutex.h"
#include "router.h"
#include "worker_pool.h"

namespace chat::detail {

struct PresenceView {
  UserId user = 0;
  // False when the user's privacy setting hides their presence from the viewer; online and last_seen
  // then say nothing.
  bool visible = false;
  bool online = false;
  std::optional<TimeMs> last_seen;
};

class Presence {
 public:
  Presence(ChatService& service, WorkerPool& workers, Router& router, const Logger& log)
      : service_(service), workers_(workers), router_(router), log_(log) {}

  // A device session authenticated (came_online: the user's first session). Records the activity and,
  // on one node, announces the user if they came online (with the cluster registry, Register does).
  // Non-blocking.
  void DeviceConnected(UserId user, DeviceId device, bool came_online);
  // A device session ended (went_offline: it was the user's last). Records last seen and announces
  // the user if they went offline. Non-blocking.
  void DeviceDisconnected(UserId user, DeviceId device, bool went_offline);
  // After DeviceConnected, once this node watches the user's chats: writes the device into the
  // cluster registry and blocks until that write (and what DeviceDisconnected of `user` queued before
  // it) has landed, up to `timeout` (then Unavailable, and the registry's writer or reconcile writes
  // it later). Ok at once on one node. Called before a session's authentication is answered
  // (LiveRegistry::AwaitWritten). Written only then because the other nodes act on the write: the
  // calls they hold ring the device on the chat's subject, which this node must already receive.
  Status Register(UserId user, DeviceId device, std::chrono::milliseconds timeout);
  // A heartbeat: records the activity. Non-blocking; callers throttle.
  void DeviceActive(DeviceId device);

  // From now on the cluster registry `live` decides online and offline (the came_online and
  // went_offline answers of the router are ignored): DeviceConnected/Disconnected tell it, and it
  // calls Transition. Call once, before serving. `live` must outlive this.
  void UseRegistry(LiveRegistry* live) { live_ = live; }
  // The registry's transition: announces `user` online or offline (last seen: now). Non-blocking.
  void Transition(UserId user, bool online);

  // What `viewer` may know of `users`. PermissionDenied (naming the user) if the viewer shares no chat
  // with one of them: presence is only for chat partners. Blocks on the store.
  Result<std::vector<PresenceView>> Query(UserId viewer, const std::vector<UserId>& users);

 private:
  // Worker side of DeviceConnected/Disconnected.
  void Touch(DeviceId device);
  // `online`: the state to announce; nullopt: the router's (one node).
  void Announce(UserId user, std::optional<bool> online);

  ChatService& service_;
  WorkerPool& workers_;
  Router& router_;
  const Logger& log_;
  LiveRegistry* live_ = nullptr;  // Set before serving, then read-only.
  // Serialises "read online state + publish" so that the last event published for a user carries
  // their latest state even when two announcements race on different workers.
  Mutex publish_mu_;
};

}  // namespace chat::detail
