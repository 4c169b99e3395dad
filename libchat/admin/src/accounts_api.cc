// An administrator's care of accounts and chats: password resets, deleting a user or a chat with
// what hangs off them, and invitations (chatd --registration invite). Each writes an audit line of
// its own naming the administrator's address.
#include "api.h"
#include "views.h"

namespace chat::admin {
namespace {

// An invitation id: the code's first 8 lower-case hex digits.
bool IsInviteId(const std::string& id) {
  return id.size() == 8 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

constexpr std::uint64_t kMaxInviteHours = 24 * 365;

}  // namespace

void AddAccountRoutes(Context& ctx, Routes* routes) {
  const std::size_t max_page = ctx.options.max_page;

  // {"password": "..."}: a new password, and every session of the user ends (their devices are
  // removed, live connections closed): Store::ChangeCredentials, one atomic write.
  routes->push_back({"POST", R"(/v1/users/(\d+)/password)", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    const std::string password = b.RequiredString("password");
    b.Finish();
    const UserId id = PathId(req, 1, "user");
    const User u = GetUserOr404(ctx.service, id);
    const std::vector<DeviceId> ended = Must(ctx.service.ResetPassword(id, password));
    ctx.audit("admin: password of user " + std::to_string(id) + " (" + detail::LogEscape(u.username, 32) +
              ") reset by " + req.remote_addr + "; " + std::to_string(ended.size()) + " sessions ended");
    Reply r;
    r.body = {{"userId", id}, {"username", u.username}, {"sessionsEnded", ended}};
    return r;
  }});

  // Deletes the account and what it leaves behind (ChatService::DeleteUser). Not undoable.
  routes->push_back({"DELETE", R"(/v1/users/(\d+))", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    b.Finish();
    const UserId id = PathId(req, 1, "user");
    const User u = GetUserOr404(ctx.service, id);
    const UserDeletion d = Must(ctx.service.DeleteUser(id));
    ctx.audit("admin: user " + std::to_string(id) + " (" + detail::LogEscape(u.username, 32) + ") deleted by " +
              req.remote_addr + ": " + std::to_string(d.messages) + " messages erased, " + std::to_string(d.chats) +
              " chats left, " + std::to_string(d.devices) + " devices, " + std::to_string(d.attachments) +
              " attachments");
    Reply r;
    r.body = UserDeletionJson(id, u.username, d);
    return r;
  }});

  routes->push_back({"DELETE", R"(/v1/chats/(\d+))", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    b.Finish();
    const ChatId id = PathId(req, 1, "chat");
    auto members = ctx.service.DeleteChat(id);
    if (!members.ok() && members.error().IsNotFound()) {
      throw ApiError(404, "not_found", "no chat with id " + std::to_string(id));
    }
    const std::size_t count = Must(std::move(members));
    ctx.audit("admin: chat " + std::to_string(id) + " deleted by " + req.remote_addr + " (" + std::to_string(count) +
              " members)");
    Reply r;
    r.body = {{"chatId", id}, {"members", count}};
    return r;
  }});

  // {"maxUses": N (default 1), "validHours": H (default 168; 0: no expiry), "note": "..."}.
  routes->push_back({"POST", "/v1/invites", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    const std::uint64_t max_uses = b.OptionalUInt("maxUses").value_or(1);
    const std::uint64_t hours = b.OptionalUInt("validHours").value_or(24 * 7);
    const std::string note = b.String("note", "");
    b.Finish();
    if (max_uses < 1 || max_uses > 10'000) throw Malformed("'maxUses' must be from 1 to 10000");
    if (hours > kMaxInviteHours) throw Malformed("'validHours' must be from 0 (no expiry) to 8760");
    const NewInvite made = Must(ctx.service.CreateInvite(static_cast<std::uint32_t>(max_uses),
                                                         static_cast<TimeMs>(hours) * 3600 * 1000, note));
    ctx.audit("admin: invitation " + made.invite.id + " created by " + req.remote_addr + " for " +
              std::to_string(max_uses) + " registrations");
    Reply r;
    r.status = 201;
    r.body = InviteJson(made.invite, made.code);
    return r;
  }});

  routes->push_back({"GET", "/v1/invites", [&service = ctx.service, max_page](const httplib::Request& req) {
    Query q(req, {"after", "limit"});
    const std::size_t limit = q.UInt("limit", 100, 1, max_page);
    std::string after;
    if (req.has_param("after")) {
      after = req.get_param_value("after");
      if (!IsInviteId(after)) throw Malformed("'after' must be an invitation id (8 hex digits)");
    }
    auto invites = Must(service.ListInvites(after, limit + 1));
    const bool more = invites.size() > limit;
    if (more) invites.resize(limit);
    Reply r;
    r.body["invites"] = Json::array();
    for (const auto& i : invites) r.body["invites"].push_back(InviteJson(i));
    r.body["next"] = more ? Json(invites.back().id) : Json(nullptr);
    return r;
  }});

  routes->push_back({"DELETE", R"(/v1/invites/([0-9a-f]{8}))", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    b.Finish();
    const std::string id = req.matches[1].str();
    Status s = ctx.service.RevokeInvite(id);
    if (s.IsNotFound()) throw ApiError(404, "not_found", "no invitation " + id);
    Must(s);
    ctx.audit("admin: invitation " + id + " revoked by " + req.remote_addr);
    Reply r;
    r.body = {{"id", id}, {"revoked", true}};
    return r;
  }});
}

}  // namespace chat::admin
