#include "presence.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <set>
#include <string>

namespace chat::detail {

void Presence::DeviceConnected(UserId user, DeviceId device, bool came_online) {
  // With the cluster registry, Register writes the device and the registry decides whether the user
  // came online anywhere (and calls Transition).
  if (live_ != nullptr) came_online = false;
  if (!workers_.TrySubmit([this, user, device, came_online] {
        Touch(device);
        if (came_online) Announce(user, std::nullopt);
      })) {
    if (workers_.accepting()) log_.Warn("presence: worker queue full; online of user ", user, " not announced");
  }
}

void Presence::DeviceDisconnected(UserId user, DeviceId device, bool went_offline) {
  if (live_ != nullptr) {
    live_->DeviceChanged(user, device, false, went_offline);
    went_offline = false;
  }
  if (!workers_.TrySubmit([this, user, device, went_offline] {
        // Touch first: the offline announcement's last seen must already be stored.
        Touch(device);
        if (went_offline) Announce(user, std::nullopt);
      })) {
    if (workers_.accepting()) {
      log_.Warn("presence: worker queue full; last seen of device ", device, " not recorded");
    }
  }
}

Status Presence::Register(UserId user, DeviceId device, std::chrono::milliseconds timeout) {
  if (live_ == nullptr) return Status::Ok();
  // The registry's write asks the router, so a session that ended meanwhile writes nothing.
  live_->DeviceChanged(user, device, false, false);
  return live_->AwaitWritten(user, std::max(timeout, std::chrono::milliseconds(0)));
}

void Presence::DeviceActive(DeviceId device) {
  // Best effort: a heartbeat that finds the queue full is skipped; the next one records it.
  if (!workers_.TrySubmit([this, device] { Touch(device); })) return;
}

void Presence::Transition(UserId user, bool online) {
  if (!workers_.TrySubmit([this, user, online] { Announce(user, online); })) {
    if (workers_.accepting()) log_.Warn("presence: worker queue full; ", online ? "online" : "offline", " of user ", user, " not announced");
  }
}

void Presence::Touch(DeviceId device) {
  Status s = service_.TouchDevice(device);
  // NotFound: the device was removed meanwhile (logout); nothing to record.
  if (!s.ok() && !s.IsNotFound()) log_.Warn("presence: touch device ", device, ": ", s.ToString());
}

void Presence::Announce(UserId user, std::optional<bool> online) {
  auto u = service_.GetUser(user);
  if (!u.ok()) {
    log_.Warn("presence: user ", user, ": ", u.error().ToString());
    return;
  }
  // "nobody": not even chat partners learn when the user comes and goes.
  if (u->last_seen_visibility == LastSeenVisibility::kNobody) return;
  auto memberships = service_.store().ListUserChats(user);
  if (!memberships.ok()) {
    log_.Warn("presence: chats of user ", user, ": ", memberships.error().ToString());
    return;
  }
  std::set<UserId> partners;
  for (const Participant& p : *memberships) {
    auto members = service_.Members(p.chat);
    if (!members.ok()) continue;  // The chat went away meanwhile.
    partners.insert(members->begin(), members->end());
  }
  partners.erase(user);
  // Those the user blocks do not learn when the user comes and goes (as LastSeen hides it from them).
  for (auto it = partners.begin(); it != partners.end();) {
    auto blocked = service_.Blocks(user, *it);
    it = blocked.ok() && *blocked ? partners.erase(it) : std::next(it);
  }
  if (partners.empty()) return;

  MutexLock lock(&publish_mu_);
  auto e = std::make_shared<Event>();
  e->type = EventType::kPresence;
  e->user = user;
  e->recipients.assign(partners.begin(), partners.end());
  // One node: the router's state now (the latest of two racing announcements wins under the lock).
  // Several: the registry's transition, decided by one compare-and-set on the user's record.
  e->online = online.has_value() ? *online : router_.IsOnline(user);
  if (!e->online) e->last_seen = service_.options().clock->NowMs();
  service_.bus().Publish(std::move(e));
}

Result<std::vector<PresenceView>> Presence::Query(UserId viewer, const std::vector<UserId>& users) {
  std::vector<PresenceView> out;
  out.reserve(users.size());
  for (UserId u : users) {
    PresenceView v;
    v.user = u;
    if (u != viewer) {
      auto shares = service_.SharesChat(viewer, u);
      if (!shares.ok()) return shares.error();
      if (!*shares) return Status::PermissionDenied("user " + std::to_string(u) + " shares no chat with you");
    }
    auto seen = service_.LastSeen(viewer, u);
    if (!seen.ok()) return seen.error();
    // Online is shown exactly when last seen is: the privacy setting covers both (a connected device
    // has always been seen, so a hidden last seen means hidden presence).
    v.visible = seen->has_value();
    if (v.visible) {
      v.online = live_ != nullptr ? live_->IsOnline(u) : router_.IsOnline(u);
      v.last_seen = *seen;
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace chat::detail
