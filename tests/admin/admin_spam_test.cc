// The spam endpoints of the admin API over HTTP: flagged accounts with their reasons, reports (all or
// about one sender, in pages), and unflag restoring a suspended sender's sending.
#include "admin_test_support.h"

namespace chat::test {
namespace {

TEST_CASE("admin sees flagged accounts and reports, and unflag restores sending", "[admin][spam]") {
  AdminHarness h;
  ChatService& svc = h.service();
  const SpamScene scene = NewSpamScene(h);
  const Session& spammer = scene.spammer;
  const std::vector<Session>& reporters = scene.reporters;

  // Nothing flagged yet.
  HttpReply empty = h.Get("/v1/spam/flagged");
  REQUIRE(empty.status == 200);
  CHECK(empty.json["flagged"].empty());
  CHECK(empty.json["next"].is_null());

  for (std::size_t i = 0; i < reporters.size(); ++i) {
    REQUIRE_OK(svc.ReportMessage(reporters[i].user.id, scene.chat, scene.seq, i == 0 ? "advertising" : ""));
  }
  CHECK_CODE(svc.Send(TextMessage(spammer, scene.chat, "m2", "hello")), StatusCode::kPermissionDenied);

  HttpReply flagged = h.Get("/v1/spam/flagged");
  REQUIRE(flagged.status == 200);
  REQUIRE(flagged.json["flagged"].size() == 1);
  const Json& f = flagged.json["flagged"][0];
  CHECK(f["userId"] == spammer.user.id);
  CHECK(f["score"].get<double>() >= 40);
  CHECK(f["suspended"] == true);
  CHECK(f["flaggedAt"] == h.fixture().clock.NowMs());
  CHECK(f["current"]["suspended"] == true);
  REQUIRE(f["reasons"].size() == 5);
  CHECK(f["reasons"][0] == "report: reported by user " + std::to_string(reporters[0].user.id) + " (advertising)");

  HttpReply reports = h.Get("/v1/spam/reports?limit=2");
  REQUIRE(reports.status == 200);
  REQUIRE(reports.json["reports"].size() == 2);
  CHECK(reports.json["reports"][0]["senderId"] == spammer.user.id);
  CHECK(reports.json["reports"][0]["reporterId"] == reporters[0].user.id);
  CHECK(reports.json["reports"][0]["reason"] == "advertising");
  CHECK(reports.json["next"] == 2);
  HttpReply rest = h.Get("/v1/spam/reports?after=2&user=" + std::to_string(spammer.user.id));
  REQUIRE(rest.status == 200);
  CHECK(rest.json["reports"].size() == 3);
  CHECK(rest.json["next"].is_null());
  HttpReply other = h.Get("/v1/spam/reports?user=" + std::to_string(reporters[0].user.id));
  CHECK(other.json["reports"].empty());
  CHECK(h.Get("/v1/spam/reports?bogus=1").status == 400);

  HttpReply unflag = h.Post("/v1/users/" + std::to_string(spammer.user.id) + "/unflag", "");
  REQUIRE(unflag.status == 200);
  CHECK(unflag.json["score"] == 0);
  CHECK(unflag.json["suspended"] == false);
  CHECK(h.Get("/v1/spam/flagged").json["flagged"].empty());
  REQUIRE_OK(svc.Send(TextMessage(spammer, scene.chat, "m3", "sorry")));
  // Reports stay for the record.
  CHECK(h.Get("/v1/spam/reports").json["reports"].size() == 5);
  CHECK(h.Post("/v1/users/999/unflag", "").status == 404);
  CHECK(h.Post("/v1/users/" + std::to_string(spammer.user.id) + "/unflag", R"({"x":1})").status == 400);
}

}  // namespace
}  // namespace chat::test
