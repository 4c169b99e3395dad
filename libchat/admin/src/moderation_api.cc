// Bans: ban and unban an account, list the banned. A ban disables the account with a reason and a
// time, and closes its live connections at once (ChatService::BanUser; docs/security.md "Blocking
// and bans"). Who banned is the admin request's audit line, which here also carries the reason.
#include "api.h"
#include "views.h"

namespace chat::admin {

void AddModerationRoutes(Context& ctx, Routes* routes) {
  const std::size_t max_page = ctx.options.max_page;

  routes->push_back({"POST", R"(/v1/users/(\d+)/ban)", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    const std::string reason = b.RequiredString("reason");
    b.Finish();
    const UserId id = PathId(req, 1, "user");
    const User user = GetUserOr404(ctx.service, id);
    Must(ctx.service.BanUser(id, reason).status());
    ctx.audit("admin: " + req.remote_addr + " banned user " + std::to_string(id) + " (" +
              detail::LogEscape(user.username) + "): " + detail::LogEscape(reason, 256));
    Reply r;
    r.body = UserView(ctx.service, GetUserOr404(ctx.service, id));
    return r;
  }});

  routes->push_back({"POST", R"(/v1/users/(\d+)/unban)", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    b.Finish();
    const UserId id = PathId(req, 1, "user");
    const User user = GetUserOr404(ctx.service, id);
    const bool was_banned = Must(ctx.service.GetBan(id)).has_value();
    Must(ctx.service.UnbanUser(id));
    if (was_banned) {
      ctx.audit("admin: " + req.remote_addr + " unbanned user " + std::to_string(id) + " (" +
                detail::LogEscape(user.username) + ")");
    }
    Reply r;
    r.body = UserView(ctx.service, GetUserOr404(ctx.service, id));
    return r;
  }});

  routes->push_back({"GET", "/v1/bans", [&service = ctx.service, max_page](const httplib::Request& req) {
    Query q(req, {"after", "limit"});
    const UserId after = q.UInt("after", 0, 0, kMaxAfter);
    const std::size_t limit = q.UInt("limit", 100, 1, max_page);
    auto bans = Must(service.ListBans(after, limit + 1));
    const bool more = bans.size() > limit;
    if (more) bans.resize(limit);
    Reply r;
    r.body["bans"] = Json::array();
    for (const UserBan& ban : bans) {
      auto user = service.GetUser(ban.user);
      Json row = AdminJson(ban);
      row["username"] = user.ok() ? Json(user->username) : Json(nullptr);
      r.body["bans"].push_back(std::move(row));
    }
    r.body["next"] = NextCursor(more, bans.empty() ? 0 : bans.back().user);
    return r;
  }});
}

}  // namespace chat::admin
