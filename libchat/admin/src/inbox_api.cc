// Inbox statistics: what each device has not yet acknowledged. For a device, pending is the sum over
// the chats of its user of (head - acked), where acked is the device's cursor (never before the user
// joined). One indexed lookup per chat of each user: no scan of messages.

#include "api.h"
#include "views.h"

namespace chat::admin {
namespace {

// Appends one row per device of `user` to `rows`; returns the user's total.
std::uint64_t AddDeviceRows(Store& store, const User& user, Json* rows) {
  std::uint64_t total = 0;
  for (const auto& d : Must(store.ListDevices(user.id))) {
    std::uint64_t pending = 0;
    std::uint64_t chats = 0;
    for (const auto& p : Must(store.PendingChats(user.id, d.id))) {
      if (p.head > p.acked) {
        pending += p.head - p.acked;
        ++chats;
      }
    }
    total += pending;
    rows->push_back({{"userId", user.id},
                     {"username", user.username},
                     {"deviceId", d.id},
                     {"kind", d.kind},
                     {"name", d.name},
                     {"lastSeen", d.last_seen},
                     {"pending", pending},
                     {"chats", chats}});
  }
  return total;
}

}  // namespace

void AddInboxRoutes(Context& ctx, Routes* routes) {
  const std::size_t max_page = ctx.options.max_page;

  // ?user=ID: that user's devices. Otherwise a page of users (after, limit) and all their devices.
  routes->push_back({"GET", "/v1/inbox", [&store = ctx.service.store(), max_page](const httplib::Request& req) {
    Query q(req, {"user", "after", "limit"});
    const auto user = q.OptionalUInt("user", 1, kMaxId);
    if (user && (req.has_param("after") || req.has_param("limit"))) {
      throw Malformed("'user' selects one user: it does not take 'after' or 'limit'");
    }
    std::vector<User> users;
    bool more = false;
    if (user) {
      auto u = store.GetUser(*user);
      if (!u.ok() && u.error().IsNotFound()) throw ApiError(404, "not_found", "no user with id " + std::to_string(*user));
      users.push_back(Must(std::move(u)));
    } else {
      const std::size_t limit = q.UInt("limit", 100, 1, max_page);
      users = Must(store.ListUsers(q.UInt("after", 0, 0, kMaxAfter), limit + 1));
      more = users.size() > limit;
      if (more) users.resize(limit);
    }
    Reply r;
    r.body["devices"] = Json::array();
    std::uint64_t total = 0;
    for (const auto& u : users) total += AddDeviceRows(store, u, &r.body["devices"]);
    r.body["totalPending"] = total;
    r.body["users"] = users.size();
    if (!user) r.body["next"] = NextCursor(more, users.empty() ? 0 : users.back().id);
    return r;
  }});
}

}  // namespace chat::admin
