// Spam and abuse: flagged accounts, users' spam reports, and clearing an account's flag.
#include "api.h"
#include "views.h"

namespace chat::admin {
namespace {

Json FlagJson(const SpamFlag& f, const SpamStanding& now) {
  Json j = AdminJson(f);
  // Where the account stands now: the score decays, a suspension lifts by itself.
  j["current"] = {{"score", now.score}, {"throttled", now.throttled}, {"suspended", now.suspended}};
  return j;
}

}  // namespace

void AddAbuseRoutes(Context& ctx, Routes* routes) {
  const std::size_t max_page = ctx.options.max_page;

  routes->push_back({"GET", "/v1/spam/flagged", [&service = ctx.service, max_page](const httplib::Request& req) {
    Query q(req, {"after", "limit"});
    const UserId after = q.UInt("after", 0, 0, kMaxAfter);
    const std::size_t limit = q.UInt("limit", 100, 1, max_page);
    // One more than asked, to know whether another page follows.
    auto flags = Must(service.store().ListSpamFlags(after, limit + 1));
    const bool more = flags.size() > limit;
    if (more) flags.resize(limit);
    Reply r;
    r.body["flagged"] = Json::array();
    for (const auto& f : flags) r.body["flagged"].push_back(FlagJson(f, service.SpamStatus(f.user)));
    r.body["next"] = NextCursor(more, flags.empty() ? 0 : flags.back().user);
    return r;
  }});

  routes->push_back({"GET", "/v1/spam/reports", [&service = ctx.service, max_page](const httplib::Request& req) {
    Query q(req, {"after", "limit", "user"});
    const std::uint64_t after = q.UInt("after", 0, 0, kMaxAfter);
    const std::size_t limit = q.UInt("limit", 100, 1, max_page);
    const UserId user = q.UInt("user", 0, 0, kMaxAfter);
    auto reports = Must(service.store().ListSpamReports(user, after, limit + 1));
    const bool more = reports.size() > limit;
    if (more) reports.resize(limit);
    Reply r;
    r.body["reports"] = Json::array();
    for (const auto& rep : reports) r.body["reports"].push_back(AdminJson(rep));
    r.body["next"] = NextCursor(more, reports.empty() ? 0 : reports.back().id);
    return r;
  }});

  routes->push_back({"POST", R"(/v1/users/(\d+)/unflag)", [&service = ctx.service](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    b.Finish();
    const UserId id = PathId(req, 1, "user");
    auto cleared = service.ClearSpam(id);
    if (cleared.IsNotFound()) throw ApiError(404, "not_found", "no user with id " + std::to_string(id));
    Must(cleared);
    const SpamStanding s = service.SpamStatus(id);
    Reply r;
    r.body = {{"userId", id}, {"score", s.score}, {"flagged", s.flagged}, {"suspended", s.suspended}};
    return r;
  }});
}

}  // namespace chat::admin
