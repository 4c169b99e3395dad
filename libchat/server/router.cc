#include "router.h"

#include <algorithm>
#include <utility>

#include "event_json.h"
#include "protocol.h"

namespace chat::detail {

Router::Router(Metrics& metrics, const Logger& log, std::function<void()> schedule_receipt_flush)
    : metrics_(metrics),
      log_(log),
      receipts_(std::move(schedule_receipt_flush), [this](const CoalescedReceipts& r) { EmitReceipts(r); }) {}

Router::~Router() { Detach(); }

void Router::Attach(Bus& bus) {
  fanout_ = std::thread([this] { FanOut(); });
  subscription_ = bus.Subscribe([this](const std::shared_ptr<const Event>& e) {
    if (e) OnEvent(e);
  });
  if (between_.interest != nullptr) {
    // Events may have been lost (a reconnect, a slow subscriber): check every watched chat against
    // the store now, on the fan-out thread, and once more a moment later.
    loss_subscription_ = bus.OnPossibleLoss([this] {
      Enqueue(Queued{nullptr, [this] {
                       log_.Info("router: the bus may have lost events; checking ", sequencer_.tracked(),
                                 " chats against the store");
                       StartRepairs(sequencer_.CheckAll());
                       recheck_at_ = std::chrono::steady_clock::now() + kLossRecheck;
                     }});
    });
  }
}

void Router::CheckChat(ChatId chat, Seq seq) {
  Enqueue(Queued{nullptr, [this, chat, seq] {
                   if (!between_.interest->Watches(chat)) {
                     sequencer_.Forget(chat);
                     chat_rechecks_.erase(chat);
                     return;
                   }
                   StartRepairs(sequencer_.Check(chat, seq));
                   chat_rechecks_[chat] = std::chrono::steady_clock::now() + kLossRecheck;
                 }});
}

void Router::Repaired(const ChatSequencer::Repair& repair, std::vector<std::shared_ptr<const Event>> entries, bool ok,
                      bool more) {
  auto apply = [this, repair, entries = std::move(entries), ok, more] {
    std::vector<std::shared_ptr<const Event>> out;
    const std::uint64_t skipped = sequencer_.skipped();
    sequencer_.Repaired(repair, entries, ok, more, std::chrono::steady_clock::now(), &out);
    metrics_.bus_entries_repaired.Add(entries.size());
    if (sequencer_.skipped() != skipped) {
      metrics_.bus_seqs_skipped.Add(sequencer_.skipped() - skipped);
      log_.Warn("router: chat ", repair.chat, ": ", sequencer_.skipped() - skipped,
                " seqs before a held entry are not in the store; delivering on without them");
    }
    for (const auto& e : out) Send(*e);
  };
  Enqueue(Queued{nullptr, std::move(apply)});
}

void Router::StartRepairs(std::vector<ChatSequencer::Repair> repairs) {
  for (const auto& r : repairs) {
    if (between_.repair(r)) continue;
    // Could not start (the workers are busy or stopping): the sequencer asks again after a hold.
    std::vector<std::shared_ptr<const Event>> out;
    sequencer_.Repaired(r, {}, false, false, std::chrono::steady_clock::now(), &out);
  }
}

void Router::Route(const std::shared_ptr<const Event>& event) {
  const bool entry = event->message != nullptr &&
                     (event->type == EventType::kMessage || event->type == EventType::kMessageDeleted ||
                      event->type == EventType::kChatUpdate);
  if (between_.interest == nullptr || !entry) return Send(*event);
  if (!between_.interest->Watches(event->chat)) {
    // No session here is in the chat (any more): nothing to order, and what was known of it is
    // stale. Except a kChatUpdate adding a user here (it came by the user's subject): it is the
    // baseline of the chat's order from now on, the node watching it next (CheckChat).
    sequencer_.Forget(event->chat);
    const bool adds_here = event->type == EventType::kChatUpdate &&
                           std::any_of(event->recipients.begin(), event->recipients.end(),
                                       [this](UserId u) { return IsOnline(u); });
    if (!adds_here) return Send(*event);
  }
  std::vector<std::shared_ptr<const Event>> out;
  const std::uint64_t duplicates = sequencer_.duplicates();
  sequencer_.Arrive(event, std::chrono::steady_clock::now(), &out);
  metrics_.bus_duplicates_dropped.Add(sequencer_.duplicates() - duplicates);
  for (const auto& e : out) Send(*e);
}

void Router::Detach() {
  // First the subscription: once Reset returns no handler runs, so nothing is queued after the
  // thread stops. A handler waiting for room meanwhile is let through by the thread, still running.
  subscription_.Reset();
  loss_subscription_.Reset();
  {
    MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  queued_.SignalAll();
  drained_.SignalAll();
  if (fanout_.joinable()) fanout_.join();
}

void Router::OnEvent(std::shared_ptr<const Event> event) {
  if (event->type == EventType::kSessionRevoked) {
    Revoke(event->user, event->only_device != 0 ? event->only_device : event->device, event->keep_token_hash);
    return;
  }
  if (event->type == EventType::kDeviceOnline) {  // For this node, not its sessions.
    if (between_.device_online) between_.device_online(event->user, event->device);
    return;
  }
  const std::int64_t stamp = event->type == EventType::kMessage ? StageHistograms::NowNs() : 0;
  Enqueue(Queued{std::move(event), nullptr, stamp});
}

bool Router::Enqueue(Queued item) {
  bool wake = false;
  {
    MutexLock lock(&queue_mu_);
    while (queue_.size() >= kMaxQueuedEvents && !stopping_) drained_.Wait(&queue_mu_);
    if (stopping_) return false;
    // The thread is asleep only when the queue is empty: one signal per burst, not per event.
    wake = queue_.empty();
    queue_.push_back(std::move(item));
  }
  if (wake) queued_.Signal();
  return true;
}

void Router::AfterQueued(std::function<void()> fn) {
  bool now = false;
  {
    MutexLock lock(&queue_mu_);
    // Nothing ahead of it: the events published before this call are with their sessions already.
    now = stopping_ || (queue_.empty() && !delivering_);
  }
  if (now || !Enqueue(Queued{nullptr, fn})) fn();
}

void Router::FanOut() {
  std::deque<Queued> batch;
  bool stop = false;
  while (!stop) {
    {
      MutexLock lock(&queue_mu_);
      delivering_ = false;
      // The sequencer's next repair (never, with the in-process bus) bounds the wait.
      auto due = std::min(sequencer_.NextDue(), recheck_at_);
      for (const auto& [chat, at] : chat_rechecks_) due = std::min(due, at);
      while (queue_.empty() && !stopping_ && std::chrono::steady_clock::now() < due) {
        if (due == std::chrono::steady_clock::time_point::max()) {
          queued_.Wait(&queue_mu_);
        } else {
          queued_.WaitUntil(&queue_mu_, due);
        }
      }
      batch.swap(queue_);
      stop = stopping_;
      delivering_ = !stop;
    }
    drained_.SignalAll();
    for (const Queued& q : batch) {
      if (q.then) {
        q.then();
      } else if (!stop) {
        routing_queued_ns_ = q.queued_ns;
        Route(q.event);  // Once stopping, events are dropped (their sessions are closing); answers still go.
        routing_queued_ns_ = 0;
      }
    }
    batch.clear();
    if (between_.interest != nullptr && !stop) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= recheck_at_) {
        recheck_at_ = std::chrono::steady_clock::time_point::max();
        StartRepairs(sequencer_.CheckAll());
      }
      for (auto it = chat_rechecks_.begin(); it != chat_rechecks_.end();) {
        if (it->second > now) {
          ++it;
          continue;
        }
        if (between_.interest->Watches(it->first) && sequencer_.Tracks(it->first)) {
          StartRepairs(sequencer_.Check(it->first, 0));
        }
        it = chat_rechecks_.erase(it);
      }
      StartRepairs(sequencer_.Due(now));
    }
  }
}

void Router::Send(const Event& event) {
  // Receipts join the coalescing window here, behind the entries queued before them, so that a
  // receipt never reaches a device ahead of the message it counts.
  if (event.type == EventType::kReceipt) return receipts_.Add(event);
  auto wire = codec::ToWireEvent(event);
  if (!wire) return;
  OutFrame frame;
  frame.text = EncodeEvent(wire->name, wire->data);
  if (event.type == EventType::kMessage) {
    frame.is_message = true;
    frame.message_timestamp = event.message->timestamp;
    // Encoded: from here each recipient's copy is timed to its socket write (fanout_to_written).
    frame.handed_ns = StageHistograms::NowNs();
    if (routing_queued_ns_ != 0) {
      metrics_.message_stages.Observe(StageHistograms::kDurableToFanout, frame.handed_ns - routing_queued_ns_);
    }
  }
  Deliver(event.recipients, event.exclude_device, event.only_device, frame);
  if (event.type == EventType::kChatUpdate && between_.membership) {
    // The node's interest follows the membership of the users it holds sessions of.
    std::vector<UserId> here;
    for (UserId u : event.recipients) {
      if (IsOnline(u)) here.push_back(u);
    }
    if (!here.empty()) between_.membership(event.chat, event.message->seq, std::move(here));
  }
}

bool Router::Add(UserId user, DeviceId device, const std::shared_ptr<Peer>& peer, bool* device_had_session) {
  MutexLock lock(&mu_);
  const bool first = sessions_.find(user) == sessions_.end();
  if (device_had_session != nullptr) {
    auto [begin, end] = sessions_.equal_range(user);
    *device_had_session = std::any_of(begin, end, [device](const auto& e) { return e.second.device == device; });
  }
  sessions_.emplace(user, Entry{device, peer.get(), peer});
  return first;
}

bool Router::Remove(UserId user, const Peer* peer) {
  MutexLock lock(&mu_);
  auto [begin, end] = sessions_.equal_range(user);
  auto e = std::find_if(begin, end, [peer](const auto& x) { return x.second.key == peer; });
  if (e == end) return false;
  sessions_.erase(e);
  return sessions_.find(user) == sessions_.end();
}

bool Router::IsOnline(UserId user) const {
  MutexLock lock(&mu_);
  return sessions_.find(user) != sessions_.end();
}

bool Router::IsDeviceLive(UserId user, DeviceId device) const {
  MutexLock lock(&mu_);
  auto [begin, end] = sessions_.equal_range(user);
  return std::any_of(begin, end, [device](const auto& e) { return e.second.device == device; });
}

std::vector<std::pair<UserId, DeviceId>> Router::LiveDevices() const {
  std::vector<std::pair<UserId, DeviceId>> out;
  MutexLock lock(&mu_);
  out.reserve(sessions_.size());
  for (const auto& [user, e] : sessions_) out.emplace_back(user, e.device);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::size_t Router::SessionCount() const {
  MutexLock lock(&mu_);
  return sessions_.size();
}

void Router::Deliver(std::vector<UserId> users, DeviceId exclude, DeviceId only, const OutFrame& frame) {
  // A user listed twice must still get one copy.
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  std::vector<std::weak_ptr<Peer>> targets;
  {
    // Copy the weak_ptrs under the lock and queue after releasing it: a session's Deliver posts to its
    // lane, which must never happen while other threads wait for this map.
    MutexLock lock(&mu_);
    for (UserId u : users) {
      auto [begin, end] = sessions_.equal_range(u);
      for (auto it = begin; it != end; ++it) {
        const Entry& e = it->second;
        if (exclude != 0 && e.device == exclude) continue;
        if (only != 0 && e.device != only) continue;
        targets.push_back(e.peer);
      }
    }
  }
  // One hand-over per lane (network thread) rather than one post per recipient.
  std::vector<std::pair<DeliveryLane*, std::vector<std::shared_ptr<Peer>>>> lanes;
  std::uint64_t delivered = 0;
  for (auto& w : targets) {
    auto p = w.lock();
    if (!p) continue;
    ++delivered;
    DeliveryLane* lane = p->lane();
    if (lane == nullptr) {
      p->Deliver(frame);
      continue;
    }
    auto it = std::find_if(lanes.begin(), lanes.end(), [lane](const auto& l) { return l.first == lane; });
    if (it == lanes.end()) it = lanes.insert(lanes.end(), {lane, {}});
    it->second.push_back(std::move(p));
  }
  for (auto& [lane, peers] : lanes) lane->Deliver(frame, std::move(peers));
  metrics_.fanout_deliveries.Add(delivered);
}

void Router::Revoke(UserId user, DeviceId device, const std::string& keep_token_hash) {
  std::vector<std::weak_ptr<Peer>> targets;
  {
    MutexLock lock(&mu_);
    auto [begin, end] = sessions_.equal_range(user);
    for (auto it = begin; it != end; ++it) {
      // Device 0: every session of the user (e.g. the account was disabled).
      if (device == 0 || it->second.device == device) targets.push_back(it->second.peer);
    }
  }
  for (auto& w : targets) {
    if (auto p = w.lock()) p->Revoke(keep_token_hash);
  }
}

void Router::EmitReceipts(const CoalescedReceipts& r) {
  const codec::WireEvent wire = codec::ReceiptsWireEvent(r.chat, r.cursors);
  OutFrame frame;
  frame.text = EncodeEvent(wire.name, wire.data);
  metrics_.receipt_events.Add();
  log_.Debug("router: receipt event for chat ", r.chat, " with ", r.cursors.size(), " cursors");
  Deliver(r.recipients, 0, 0, frame);
}

}  // namespace chat::detail
