// The server's call manager and push dispatcher: created from ServerOptions on start, their counters
// rendered into /metrics, destroyed in the shutdown sequence.
#include <memory>
#include <random>

#include "server_state.h"

namespace chat::detail {
namespace {

void RenderPush(const PushStats& s, std::string* out) {
  auto d = [](auto v) { return static_cast<double>(v); };
  AppendScalar(out, "chat_push_sent_total", "counter", "Push notifications accepted by the provider.", d(s.sent));
  AppendScalar(out, "chat_push_failed_total", "counter", "Push notifications given up (refused, invalid token, out of attempts).",
               d(s.failed));
  AppendScalar(out, "chat_push_retried_total", "counter", "Push retries scheduled after a retryable failure.", d(s.retried));
  AppendScalar(out, "chat_push_tokens_removed_total", "counter", "Push tokens the provider reported invalid, cleared.",
               d(s.tokens_removed));
  AppendScalar(out, "chat_push_dropped_total", "counter", "Message events and call pushes dropped: push queue full.",
               d(s.dropped + s.dropped_pending));
  AppendScalar(out, "chat_push_calls_total", "counter", "Call push notifications created.", d(s.calls));
  AppendScalar(out, "chat_push_queue_depth", "gauge", "Message events waiting for a push worker.", d(s.queue_depth));
  AppendScalar(out, "chat_push_pending", "gauge", "Push notifications scheduled or waiting for a retry.", d(s.pending));
  AppendScalar(out, "chat_push_in_flight", "gauge", "Push notifications with a sender now.", d(s.in_flight));
}

void RenderCalls(const CallStats& s, std::string* out) {
  auto d = [](auto v) { return static_cast<double>(v); };
  AppendScalar(out, "chat_calls_invited_total", "counter", "Calls started (callInvite accepted).", d(s.invited));
  AppendScalar(out, "chat_calls_answered_total", "counter", "Calls answered by a device.", d(s.answered));
  AppendScalar(out, "chat_calls_missed_total", "counter", "Calls ended unanswered (ring timeout or caller hang-up).",
               d(s.missed));
  AppendScalar(out, "chat_calls_rejected_total", "counter", "Calls declined (busy included).", d(s.rejected));
  AppendScalar(out, "chat_calls_completed_total", "counter", "Calls ended after an answer.", d(s.completed));
  AppendScalar(out, "chat_calls_refused_total", "counter", "Call signalling commands refused.", d(s.refused));
  AppendScalar(out, "chat_calls_ice_relayed_total", "counter", "ICE candidates relayed.", d(s.ice_relayed));
  AppendScalar(out, "chat_calls_rung_late_total", "counter",
               "Rings sent to a device that signed in while its call rang.", d(s.rung_late));
  AppendScalar(out, "chat_calls_forwarded_total", "counter", "Call commands sent to the node holding the call.",
               d(s.forwarded));
  AppendScalar(out, "chat_calls_owner_lost_total", "counter",
               "Calls ended because the node holding them stopped answering.", d(s.owner_lost));
  AppendScalar(out, "chat_calls_ringing", "gauge", "Calls ringing now.", d(s.ringing));
  AppendScalar(out, "chat_calls_active", "gauge", "Calls connected now.", d(s.active));
}

}  // namespace

Status ServerState::StartLive() {
  std::string node = options.node_id;
  if (node.empty()) {
    std::random_device rd;
    node = "node-" + std::to_string(rd()) + std::to_string(rd());
  }
  // Presence transitions are announced by a worker (Presence::Transition).
  auto transition = [this](UserId user, bool online) { presence.Transition(user, online); };
  if (!service.bus().BetweenNodes()) {
    live = NewLocalLiveRegistry(router, node, nullptr);
    return Status::Ok();
  }
  // Two buckets every node of the deployment shares (docs/scaling.md, "Presence").
  auto devices = service.bus().OpenSharedKv(SharedKvOptions{"live", 0});
  if (!devices.ok()) return devices.error().WithContext("live devices");
  auto nodes = service.bus().OpenSharedKv(SharedKvOptions{"nodes", options.node_ttl.count()});
  if (!nodes.ok()) return nodes.error().WithContext("node heartbeats");
  ClusterLiveOptions o;
  o.node = node;
  o.node_ttl_ms = options.node_ttl.count();
  // A device signing in on another node is rung for the calls held here (this node's own sessions
  // ring themselves: WsSession::VerifyRegistration).
  auto appeared = [this](UserId user, DeviceId device) { RingLate(user, device); };
  auto made = NewClusterLiveRegistry(std::move(*devices), std::move(*nodes), router, o, log, transition, appeared);
  if (!made.ok()) return made.error();
  live = std::move(*made);
  presence.UseRegistry(live.get());
  log.Info("live registry: node ", node, " on the bus's shared buckets (node heartbeat TTL ", o.node_ttl_ms, " ms)");
  return Status::Ok();
}

Status ServerState::StartCalls() {
  if (Status s = StartLive(); !s.ok()) return s;
  if (!options.push_senders.empty()) {
    // The dispatcher wants shared ownership; the service owns the store and bus and outlives the
    // server (Server::Create's contract), so non-owning aliases are safe here.
    std::shared_ptr<Store> store(std::shared_ptr<Store>(), &service.store());
    std::shared_ptr<Bus> bus(std::shared_ptr<Bus>(), &service.bus());
    auto made = PushDispatcher::Create(options.push, store, bus, options.push_senders,
                                       [this](UserId user, DeviceId device) { return live->IsDeviceLive(user, device); });
    if (!made.ok()) return made.error().WithContext("push");
    std::lock_guard<std::mutex> lock(calls_mu);
    push = std::move(*made);
  }
  auto made = CallManager::Create(options.calls, service, push.get());
  if (!made.ok()) {
    StopCalls();
    return made.error().WithContext("calls");
  }
  {
    std::lock_guard<std::mutex> lock(calls_mu);
    calls = std::move(*made);
  }
  metrics.render_more = [this](std::string* out) {
    std::lock_guard<std::mutex> lock(calls_mu);
    if (push) RenderPush(push->Stats(), out);
    if (calls) RenderCalls(calls->Stats(), out);
  };
  return Status::Ok();
}

void ServerState::RingLate(UserId user, DeviceId device) {
  std::lock_guard<std::mutex> lock(calls_mu);
  if (calls) calls->DeviceOnline(CallDevice{user, device});
}

void ServerState::RingOnSignIn(UserId user, DeviceId device, bool device_had_session) {
  if (!device_had_session || !interest.active()) return RingLate(user, device);
  auto e = std::make_shared<Event>();
  e->type = EventType::kDeviceOnline;
  e->user = user;
  e->device = device;
  service.bus().Publish(std::move(e));
}

void ServerState::StopCalls() {
  std::unique_ptr<CallManager> c;
  std::unique_ptr<PushDispatcher> p;
  {
    std::lock_guard<std::mutex> lock(calls_mu);
    c = std::move(calls);
    p = std::move(push);
  }
  // Outside the lock: joining their threads must not hold up a scrape. The calls go first, as they
  // ring through the dispatcher.
  c.reset();
  p.reset();
}

}  // namespace chat::detail
