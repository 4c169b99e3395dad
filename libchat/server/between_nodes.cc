// The server's side of a bus between nodes (docs/scaling.md): what the router's sequencer reads from
// the store to repair a gap, and how the node's interest follows the membership of its users.
#include <algorithm>
#include <map>

#include "server_state.h"

namespace chat::detail {
namespace {

// The event an entry of the log was published as.
EventType EntryEventType(const Message& m) {
  switch (m.kind) {
    case MessageKind::kDeletion:
      return EventType::kMessageDeleted;
    case MessageKind::kMembership:
      return EventType::kChatUpdate;
    default:
      return EventType::kMessage;
  }
}

// Entries one repair reads at most; a longer gap is read in several (the sequencer asks again).
constexpr std::size_t kRepairPage = 256;

}  // namespace

void ServerState::RepairFromStore(const ChatSequencer::Repair& r) {
  const std::size_t limit = r.Limit(kRepairPage);
  std::vector<std::shared_ptr<const Event>> events;
  if (limit == 0) return router.Repaired(r, std::move(events), true, false);
  auto entries = service.store().ReadMessages(r.chat, r.after, limit);
  if (!entries.ok()) {
    log.Warn("router: repair of chat ", r.chat, " after seq ", r.after, ": ", entries.error().ToString());
    return router.Repaired(r, std::move(events), false, false);
  }
  // The recipients here: the users with a session on this node who are in the chat, each from the
  // entry after the one they joined at (as the publisher's recipients would have been). A user no
  // longer in the chat gets nothing more of it (their client learns it from listChats).
  std::map<UserId, Seq> joined;
  for (UserId u : interest.UsersOf(r.chat)) {
    auto p = service.store().GetParticipant(r.chat, u);
    if (p.ok()) joined.emplace(u, p->joined_seq);
  }
  // A gap longer than a page is read in several (the sequencer asks again while `more`).
  const bool more = r.More(limit, entries->size());
  for (Message& m : *entries) {
    if (r.before != 0 && m.seq >= r.before) break;
    auto e = std::make_shared<Event>();
    e->type = EntryEventType(m);
    e->chat = r.chat;
    for (const auto& [u, seq] : joined) {
      if (seq < m.seq) e->recipients.push_back(u);
    }
    e->message = std::make_shared<const Message>(std::move(m));
    events.push_back(std::move(e));
  }
  router.Repaired(r, std::move(events), true, more);
}

void ServerState::EnableBetweenNodes() {
  if (!interest.active()) return;
  Router::BetweenNodes between;
  between.interest = &interest;
  between.repair = [this](const ChatSequencer::Repair& r) {
    return workers.TrySubmit([this, r] { RepairFromStore(r); });
  };
  between.membership = [this](ChatId chat, Seq seq, std::vector<UserId> users) {
    const bool queued = workers.TrySubmit([this, chat, seq, users = std::move(users)] {
      bool joined = false;
      for (UserId u : users) {
        auto p = service.store().GetParticipant(chat, u);
        if (p.ok()) {
          joined = joined || !interest.Watches(chat);
          interest.Joined(u, chat);
        } else if (p.error().IsNotFound()) {
          interest.Left(u, chat);
        }
      }
      // A chat new to this node: once the server has the interest, read what was published before.
      if (joined) service.bus().FlushInterest(5000).IgnoreError();
      router.CheckChat(chat, seq);
    });
    // Missed: the user's next session (or the next membership change) puts it right.
    if (!queued && workers.accepting()) log.Warn("router: worker queue full; interest in chat ", chat, " not updated");
  };
  // Another node's device (or one of ours: the event reaches its publisher too) opened a second
  // session where it had one: the calls held here that ring its user ring it (PublishDeviceOnline).
  between.device_online = [this](UserId user, DeviceId device) {
    if (!workers.TrySubmit([this, user, device] { RingLate(user, device); }) && workers.accepting()) {
      log.Warn("router: worker queue full; calls not rung on a device's new session");
    }
  };
  router.EnableBetweenNodes(std::move(between));
}

}  // namespace chat::detail
