#include "push_recovery.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace chat::detail {

bool IsNotifiable(const Message& m) {
  if (m.deleted) return false;
  switch (m.kind) {
    case MessageKind::kText:
    case MessageKind::kImage:
    case MessageKind::kAudio:
    case MessageKind::kVideo:
    case MessageKind::kDocument:
      return true;
    case MessageKind::kCall: {
      // The call's own push rang the devices while it rang; afterwards only a missed call is worth
      // an alert ("missed call from ..."), not a call that was answered, rejected or busy.
      const auto record = nlohmann::json::parse(m.body, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object()) return false;
      const auto outcome = record.find("outcome");
      return outcome != record.end() && *outcome == "missed";
    }
    case MessageKind::kMembership:
    case MessageKind::kDeletion:
      return false;
  }
  return false;
}

namespace {

constexpr std::size_t kUserPage = 256;

// The recent unacknowledged notifiable messages of one chat for one device, ascending.
Result<std::vector<Message>> RecentBacklog(Store& store, const PushOptions& options, const User& user,
                                           DeviceId device, const PendingChat& pc, TimeMs cutoff) {
  LIBCHAT_ASSIGN_OR_RETURN(Participant p, store.GetParticipant(pc.chat, user.id));
  // A device that never acknowledged anything has cursor 0; what came before the user joined is
  // not theirs to be notified of.
  Seq from = std::max(pc.acked, p.joined_seq);
  if (pc.head <= from) return std::vector<Message>{};
  // Read backwards from the head: a device offline for a month must not cost a month of reading.
  LIBCHAT_ASSIGN_OR_RETURN(auto newest_first,
                           store.ReadMessagesBefore(pc.chat, pc.head + 1, options.recover_max_messages));
  std::vector<Message> out;
  for (Message& m : newest_first) {
    if (m.seq <= from || m.timestamp < cutoff) break;
    if (!IsNotifiable(m) || m.sender_device == device) continue;
    if (!options.notify_sender_devices && m.sender != 0 && m.sender == user.id) continue;
    out.push_back(std::move(m));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

RecoveryReport RecoverBacklogs(Store& store, const PushOptions& options, TimeMs now,
                               const std::atomic<bool>& stop, const std::function<void(Backlog)>& found) {
  RecoveryReport report;
  const TimeMs cutoff = now - options.recover_window_ms;
  UserId after = 0;
  while (!stop.load()) {
    auto users = store.ListUsers(after, kUserPage);
    if (!users.ok()) {
      // Without the user list nothing further can be found; what was found stands.
      ++report.store_errors;
      return report;
    }
    if (users->empty()) break;
    after = users->back().id;
    for (const User& user : *users) {
      if (stop.load()) return report;
      auto devices = store.ListDevices(user.id);
      if (!devices.ok()) {
        ++report.store_errors;
        continue;
      }
      for (const Device& d : *devices) {
        if (d.push_token.empty()) continue;
        auto pending = store.PendingChats(user.id, d.id);
        if (!pending.ok()) {
          ++report.store_errors;
          continue;
        }
        for (const PendingChat& pc : *pending) {
          if (pc.head <= pc.acked) continue;
          auto messages = RecentBacklog(store, options, user, d.id, pc, cutoff);
          if (!messages.ok()) {
            // NotFound: the user left the chat meanwhile; nothing to notify.
            if (!messages.error().IsNotFound()) ++report.store_errors;
            continue;
          }
          if (messages->empty()) continue;
          ++report.backlogs;
          found(Backlog{user.id, d.id, pc.chat, std::move(*messages)});
        }
      }
    }
    if (users->size() < kUserPage) break;
  }
  return report;
}

}  // namespace chat::detail
