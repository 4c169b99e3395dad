// The spam tables of the store contract (store.h, "Spam flags and reports"), on mem:// and LevelDB:
// flags are replaced, listed in pages and deleted; a reporter reports a message once; reports list
// by id, all or per sender; everything survives a reopen and goes through export and import; a suspension
// made by the service survives a restart.
#include <sstream>

#include "backends.h"
#include "spam_world.h"

namespace chat::test {
namespace {

SpamFlag Flag(UserId user, double score, TimeMs at, bool suspended = false) {
  SpamFlag f;
  f.user = user;
  f.score = score;
  f.flagged_at = at;
  f.updated_at = at + 5;
  f.suspended = suspended;
  f.reasons = {"duplicate-content: same text sent to 6 chats within 10 min", "report: reported by user 3"};
  return f;
}

SpamReport Report(UserId reporter, UserId sender, ChatId chat, Seq seq, TimeMs at) {
  SpamReport r;
  r.reporter = reporter;
  r.sender = sender;
  r.chat = chat;
  r.seq = seq;
  r.reason = "advertising";
  r.reported_at = at;
  return r;
}

TEST_CASE("spam flags are stored, replaced, listed in user order and deleted", "[contract][spam]") {
  Fixture f(test::StoreBackend());
  Store& s = *f.store;
  CHECK_CODE(s.GetSpamFlag(7), StatusCode::kNotFound);
  REQUIRE_OK(s.PutSpamFlag(Flag(9, 21.5, 1000)));
  REQUIRE_OK(s.PutSpamFlag(Flag(7, 20, 2000)));
  REQUIRE_OK(s.PutSpamFlag(Flag(7, 41, 2000, true)));  // Replaces.
  auto seven = s.GetSpamFlag(7);
  REQUIRE_OK(seven);
  CHECK(seven->score == 41);
  CHECK(seven->suspended);
  CHECK(seven->flagged_at == 2000);
  CHECK(seven->updated_at == 2005);
  CHECK(seven->reasons == Flag(7, 0, 0).reasons);
  auto all = s.ListSpamFlags(0, 10);
  REQUIRE_OK(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].user == 7);
  CHECK((*all)[1].user == 9);
  auto page = s.ListSpamFlags(7, 10);
  REQUIRE_OK(page);
  REQUIRE(page->size() == 1);
  CHECK((*page)[0].user == 9);
  REQUIRE_OK(s.DeleteSpamFlag(7));
  CHECK_CODE(s.DeleteSpamFlag(7), StatusCode::kNotFound);
  CHECK_CODE(s.GetSpamFlag(7), StatusCode::kNotFound);
  CHECK_CODE(s.PutSpamFlag(Flag(0, 1, 1)), StatusCode::kInvalidArgument);
}

TEST_CASE("a reporter reports a message once, reports list by id, all or per sender", "[contract][spam]") {
  Fixture f(test::StoreBackend());
  Store& s = *f.store;
  auto a = s.AddSpamReport(Report(3, 5, 100, 7, 1000));
  REQUIRE_OK(a);
  CHECK_FALSE(a->duplicate);
  CHECK(a->report.id == 1);
  CHECK(a->earlier_by_reporter == 0);
  auto again = s.AddSpamReport(Report(3, 5, 100, 7, 2000));
  REQUIRE_OK(again);
  CHECK(again->duplicate);
  CHECK(again->report.id == 1);
  CHECK(again->report.reported_at == 1000);
  auto b = s.AddSpamReport(Report(3, 5, 100, 8, 3000));  // Same reporter, same sender, another message.
  REQUIRE_OK(b);
  CHECK(b->report.id == 2);
  CHECK(b->earlier_by_reporter == 1);
  auto c = s.AddSpamReport(Report(4, 6, 101, 1, 4000));  // About someone else.
  REQUIRE_OK(c);
  CHECK(c->earlier_by_reporter == 0);
  CHECK_CODE(s.AddSpamReport(Report(0, 6, 101, 1, 1)), StatusCode::kInvalidArgument);

  auto all = s.ListSpamReports(0, 0, 10);
  REQUIRE_OK(all);
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].id == 1);
  CHECK((*all)[2].id == 3);
  CHECK((*all)[0].reason == "advertising");
  auto about5 = s.ListSpamReports(5, 0, 10);
  REQUIRE_OK(about5);
  REQUIRE(about5->size() == 2);
  CHECK((*about5)[1].seq == 8);
  auto next = s.ListSpamReports(5, 1, 1);
  REQUIRE_OK(next);
  REQUIRE(next->size() == 1);
  CHECK((*next)[0].id == 2);
  auto tail = s.ListSpamReports(0, 2, 10);
  REQUIRE_OK(tail);
  REQUIRE(tail->size() == 1);
  CHECK((*tail)[0].sender == 6);

  SECTION("flags and reports survive a reopen, and ids continue") {
    REQUIRE_OK(s.PutSpamFlag(Flag(5, 25, 10)));
    f.Reopen();
    if (!f.durable()) return;  // mem:// starts empty by design.
    auto kept = f.store->ListSpamReports(0, 0, 10);
    REQUIRE_OK(kept);
    CHECK(kept->size() == 3);
    REQUIRE_OK(f.store->GetSpamFlag(5));
    auto d = f.store->AddSpamReport(Report(9, 5, 100, 9, 5000));
    REQUIRE_OK(d);
    CHECK(d->report.id == 4);
    CHECK(f.store->AddSpamReport(Report(3, 5, 100, 7, 1))->duplicate);
  }
}

TEST_CASE("spam flags and reports go through export and import", "[contract][spam][migrate]") {
  Fixture from(test::StoreBackend());
  Session ann = from.NewUser("ann");
  Session bob = from.NewUser("bob");
  auto chat = from.service->CreateGroup(ann.user.id, "g", {bob.user.id});
  REQUIRE_OK(chat);
  REQUIRE_OK(from.store->PutSpamFlag(Flag(ann.user.id, 22, 1000)));
  REQUIRE_OK(from.store->AddSpamReport(Report(bob.user.id, ann.user.id, chat->id, 1, 2000)));
  std::stringstream dump;
  auto exported = ExportDump(*from.store, dump);
  REQUIRE_OK(exported);
  CHECK(exported->spam_flags == 1);
  CHECK(exported->spam_reports == 1);

  Fixture to(from.backend == "mem" ? "leveldb" : "mem");
  // A fresh store: the fixture's own service wrote nothing into it.
  auto imported = ImportDump(dump, *to.store);
  REQUIRE_OK(imported);
  auto flag = to.store->GetSpamFlag(ann.user.id);
  REQUIRE_OK(flag);
  CHECK(flag->score == 22);
  CHECK(flag->reasons.size() == 2);
  auto reports = to.store->ListSpamReports(ann.user.id, 0, 10);
  REQUIRE_OK(reports);
  REQUIRE(reports->size() == 1);
  CHECK(reports->front().reporter == bob.user.id);
  // The imported report still counts against a repeat, and the id counter continues past it.
  CHECK(to.store->AddSpamReport(Report(bob.user.id, ann.user.id, chat->id, 1, 3000))->duplicate);
  auto next = to.store->AddSpamReport(Report(bob.user.id, ann.user.id, chat->id, 2, 3000));
  REQUIRE_OK(next);
  CHECK(next->report.id == 2);
  CHECK(next->earlier_by_reporter == 1);
}

// Through the service: a spammer flagged and suspended stays so after chatd restarts (LevelDB).
TEST_CASE("spam flags survive a restart, with the suspension they carried", "[spam][service]") {
  SpamWorld w("leveldb");
  Session spammer = w.OldUser("spammer");
  std::vector<Session> reporters;
  for (int i = 0; i < 5; ++i) reporters.push_back(w.OldUser("reporter" + std::to_string(i)));
  w.fx.clock.Advance(8 * kMsPerDay);  // Established reporters: older than a week.
  std::vector<UserId> ids;
  for (const auto& r : reporters) ids.push_back(r.user.id);
  ChatId chat = w.Group(spammer, ids);
  auto sent = w.Send(spammer, chat, "buy buy buy");
  REQUIRE_OK(sent);
  for (const auto& r : reporters) REQUIRE_OK(w.service->ReportMessage(r.user.id, chat, sent->message.seq));
  CHECK_CODE(w.Send(spammer, chat, "hello"), StatusCode::kPermissionDenied);

  w.service.reset();
  w.fx.Reopen();
  w.Start();
  CHECK_CODE(w.Send(spammer, chat, "hello"), StatusCode::kPermissionDenied);
  CHECK(w.service->SpamStatus(spammer.user.id).flagged);
  auto reports = w.fx.store->ListSpamReports(0, 0, 100);
  REQUIRE_OK(reports);
  CHECK(reports->size() == 5);
  REQUIRE_OK(w.service->ClearSpam(spammer.user.id));
  REQUIRE_OK(w.Send(spammer, chat, "hello"));
}

}  // namespace
}  // namespace chat::test
