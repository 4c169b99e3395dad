// Accounts: list, show, create, disable, enable, devices, revoke; bans (moderation_api.cc).
#include "api.h"
#include "views.h"

namespace chat::admin {

// The user with their ban, if any: what every user answer of the admin API shows.
Json UserView(ChatService& service, const User& u) {
  Json j = AdminJson(u);
  auto ban = Must(service.GetBan(u.id));
  j["banned"] = ban.has_value();
  j["bannedAt"] = ban ? Json(ban->at) : Json(nullptr);
  j["banReason"] = ban ? Json(ban->reason) : Json(nullptr);
  return j;
}

User GetUserOr404(ChatService& service, UserId id) {
  auto u = service.GetUser(id);
  if (!u.ok() && u.error().IsNotFound()) throw ApiError(404, "not_found", "no user with id " + std::to_string(id));
  return Must(std::move(u));
}

namespace {

// The user with a count of devices and chats: what `users show` prints.
Json UserDetail(ChatService& service, const User& u) {
  Json j = UserView(service, u);
  j["devices"] = Must(service.ListDevices(u.id)).size();
  j["chats"] = Must(service.store().ListUserChats(u.id)).size();
  return j;
}

}  // namespace

void AddUserRoutes(Context& ctx, Routes* routes) {
  const std::size_t max_page = ctx.options.max_page;

  routes->push_back({"GET", "/v1/users", [&service = ctx.service, max_page](const httplib::Request& req) {
    Query q(req, {"after", "limit"});
    const UserId after = q.UInt("after", 0, 0, kMaxAfter);
    const std::size_t limit = q.UInt("limit", 100, 1, max_page);
    // One more than asked, to know whether another page follows.
    auto users = Must(service.store().ListUsers(after, limit + 1));
    const bool more = users.size() > limit;
    if (more) users.resize(limit);
    Reply r;
    r.body["users"] = Json::array();
    for (const auto& u : users) r.body["users"].push_back(UserView(service, u));
    r.body["next"] = NextCursor(more, users.empty() ? 0 : users.back().id);
    return r;
  }});

  routes->push_back({"POST", "/v1/users", [&service = ctx.service](const httplib::Request& req) {
    Body b(req);
    NewAccount a;
    a.username = b.RequiredString("username");
    a.password = b.RequiredString("password");
    a.display_name = b.String("displayName", "");
    a.email = b.String("email", "");
    a.avatar_url = b.String("avatarUrl", "");
    b.Finish();
    Reply r;
    r.status = 201;
    r.body = UserView(service, Must(service.Register(a)));
    return r;
  }});

  routes->push_back({"GET", R"(/v1/users/(\d+))", [&service = ctx.service](const httplib::Request& req) {
    Query q(req, {});
    Reply r;
    r.body = UserDetail(service, GetUserOr404(service, PathId(req, 1, "user")));
    return r;
  }});

  routes->push_back({"GET", R"(/v1/users/by-name/([^/]+))", [&service = ctx.service](const httplib::Request& req) {
    Query q(req, {});
    const std::string name = req.matches[1].str();
    auto u = service.FindUser(name);
    if (!u.ok() && u.error().IsNotFound()) throw ApiError(404, "not_found", "no user named '" + name + "'");
    Reply r;
    r.body = UserDetail(service, Must(std::move(u)));
    return r;
  }});

  for (const bool disable : {true, false}) {
    const std::string pattern = disable ? R"(/v1/users/(\d+)/disable)" : R"(/v1/users/(\d+)/enable)";
    routes->push_back({"POST", pattern, [&service = ctx.service, disable](const httplib::Request& req) {
      Query q(req, {});
      Body b(req);
      b.Finish();
      const UserId id = PathId(req, 1, "user");
      GetUserOr404(service, id);
      // Disabling also revokes every session of the user (their live connections are closed).
      Must(service.SetDisabled(id, disable));
      Reply r;
      r.body = UserView(service, GetUserOr404(service, id));
      return r;
    }});
  }

  routes->push_back({"GET", R"(/v1/users/(\d+)/devices)", [&service = ctx.service](const httplib::Request& req) {
    Query q(req, {});
    const UserId id = PathId(req, 1, "user");
    GetUserOr404(service, id);
    Reply r;
    r.body["userId"] = id;
    r.body["devices"] = Json::array();
    for (const auto& d : Must(service.ListDevices(id))) r.body["devices"].push_back(DeviceJson(d));
    return r;
  }});

  // Revoking a session removes its device: the token stops working, live connections of the device are
  // closed (sessionRevoked), and the device no longer counts against the user's device limit.
  routes->push_back({"POST", R"(/v1/users/(\d+)/revoke)", [&service = ctx.service](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    const auto device = b.OptionalUInt("deviceId");
    const bool all = b.Bool("all", false);
    b.Finish();
    if (device.has_value() == all) throw Malformed("give exactly one of 'deviceId' and 'all': true");
    const UserId id = PathId(req, 1, "user");
    GetUserOr404(service, id);
    std::vector<DeviceId> targets;
    if (all) {
      for (const auto& d : Must(service.ListDevices(id))) targets.push_back(d.id);
    } else {
      auto d = service.store().GetDevice(*device);
      if (!d.ok() && !d.error().IsNotFound()) Throw(d.error());
      if (!d.ok() || d->user != id) {
        throw ApiError(404, "not_found", "user " + std::to_string(id) + " has no device " + std::to_string(*device));
      }
      targets.push_back(*device);
    }
    Reply r;
    r.body["userId"] = id;
    r.body["revoked"] = Json::array();
    for (DeviceId d : targets) {
      Status s = service.RemoveDevice(id, d);
      // A device removed meanwhile (its own logout) is as good as revoked.
      if (!s.ok() && !s.IsNotFound()) Throw(s);
      if (s.ok()) r.body["revoked"].push_back(d);
    }
    return r;
  }});
}

}  // namespace chat::admin
