// Spam scoring through ChatService (ServiceOptions::spam) on the mem store with a ManualClock: a
// spammer is throttled, flagged (stored for admins) and suspended with typed errors; reports feed the
// score (distinct reporters count, one repeating reporter does not escalate); ClearSpam restores
// sending. That flags survive a restart is checked on LevelDB in tests/contract/spam_store_contract_test.cc.
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "libchat/store_wrapper.h"
#include "spam_world.h"

namespace chat::test {
namespace {

constexpr const char* kSpam = "Cheap watches at example dot com, buy now";

TEST_CASE("ordinary use does not trip spam scoring", "[spam][service]") {
  SpamWorld w;
  Session ann = w.OldUser("ann");
  Session bob = w.OldUser("bob");
  std::vector<ChatId> chats;
  for (int i = 0; i < 5; ++i) chats.push_back(w.Group(ann, {bob.user.id}));
  // "ok" everywhere, a link, a different text to each chat, the same text several times in one chat.
  const std::vector<std::string> topics = {"tea", "cake", "bread", "soup", "jam"};
  for (std::size_t i = 0; i < chats.size(); ++i) {
    REQUIRE_OK(w.Send(ann, chats[i], "ok"));
    REQUIRE_OK(w.Send(ann, chats[i], "look: https://example.com/" + topics[i] + ".jpg"));
    REQUIRE_OK(w.Send(ann, chats[i], "shall we talk about " + topics[i] + " tonight?"));
  }
  // One longer text to three chats is still ordinary.
  for (std::size_t i = 0; i < 3; ++i) REQUIRE_OK(w.Send(ann, chats[i], "Happy new year, everybody!"));
  for (int i = 0; i < 20; ++i) REQUIRE_OK(w.Send(ann, chats[0], "see you at the meeting tomorrow"));
  CHECK(w.service->SpamStatus(ann.user.id).score == 0);
  // Sharing one link with all five chats is what a campaign looks like, but once scores below the
  // throttle: the 4th and 5th chat, 4 points each.
  for (ChatId c : chats) REQUIRE_OK(w.Send(ann, c, "look at this: https://example.com/party.jpg"));
  CHECK(w.service->SpamStatus(ann.user.id).score == Approx(8));
  CHECK_FALSE(w.service->SpamStatus(ann.user.id).throttled);
  REQUIRE_OK(w.Send(ann, chats[0], "ok"));
  auto flags = w.fx.store->ListSpamFlags(0, 10);
  REQUIRE_OK(flags);
  CHECK(flags->empty());
}

// A committer quicker than the sending thread: AppendAsync returns only after the append was answered,
// which store.h allows (`done` on a store thread or on the calling thread, at any time).
class AnsweredBeforeReturnStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  void AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit) override {
    auto answered = std::make_shared<std::promise<void>>();
    auto waited = answered->get_future();
    base().AppendAsync(
        std::move(draft), std::move(observer),
        [done = std::move(done), answered](Result<AppendResult> r) {
          done(std::move(r));
          answered->set_value();
        },
        std::move(admit));
    waited.wait();
  }
};

TEST_CASE("a send is answered only once its spam points count, so a quick next send sees them",
          "[spam][service]") {
  SpamWorld w;
  Session spammer = w.OldUser("spammer");
  Session bob = w.OldUser("bob");
  std::vector<ChatId> chats;
  for (int i = 0; i < 5; ++i) chats.push_back(w.Group(bob, {spammer.user.id}));
  w.Start(std::make_shared<AnsweredBeforeReturnStore>(w.fx.store));
  // What a client would see when the answer arrives: the score its next send is admitted on.
  std::vector<bool> sent_ok;
  std::vector<double> score_at_answer;
  for (std::size_t i = 0; i < chats.size(); ++i) {
    SendRequest r = TextMessage(spammer, chats[i], "c" + std::to_string(i), kSpam);
    w.service->SendAsync(r, [&](Result<AppendResult> sent) {
      sent_ok.push_back(sent.ok());
      score_at_answer.push_back(w.service->SpamStatus(spammer.user.id).score);
    });
  }
  REQUIRE(sent_ok == std::vector<bool>(5, true));
  // Chats 1-3 free; the 4th and 5th 4 points each, counted by the time each is answered.
  REQUIRE(score_at_answer.size() == 5);
  CHECK(score_at_answer[2] == Approx(0));
  CHECK(score_at_answer[3] == Approx(4));
  CHECK(score_at_answer[4] == Approx(8));
}

TEST_CASE("a spammer sending the same text to many chats is throttled, flagged and suspended", "[spam][service]") {
  SpamWorld w;
  Session spammer = w.OldUser("spammer");
  Session bob = w.OldUser("bob");
  std::vector<ChatId> chats;
  for (int i = 0; i < 20; ++i) chats.push_back(w.Group(bob, {spammer.user.id}));

  // Chats 1-3 free; 4th, 5th: 4 and 8 points; the 6th reaches 12, over throttle (10).
  for (int i = 0; i < 6; ++i) REQUIRE_OK(w.Send(spammer, chats[static_cast<std::size_t>(i)], kSpam));
  CHECK(w.service->SpamStatus(spammer.user.id).throttled);
  // Throttled: 3 more go through (16, 20 flagged, 24), then resource_exhausted with a retry-after.
  for (int i = 6; i < 9; ++i) REQUIRE_OK(w.Send(spammer, chats[static_cast<std::size_t>(i)], kSpam));
  auto throttled = w.Send(spammer, chats[9], kSpam);
  CHECK_CODE(throttled, StatusCode::kResourceExhausted);
  CHECK(throttled.status().retry_after_ms() == 10'000);
  // A refused send stores nothing.
  auto head = w.fx.store->Head(chats[9]);
  REQUIRE_OK(head);
  CHECK(*head == 1);  // Only the chat's creation entry.

  // Flagged for admins at 20, with reasons, time and score.
  auto flag = w.fx.store->GetSpamFlag(spammer.user.id);
  REQUIRE_OK(flag);
  CHECK(flag->score >= 20);
  CHECK(flag->flagged_at == w.fx.clock.NowMs());
  REQUIRE_FALSE(flag->reasons.empty());
  CHECK(flag->reasons.back().find("duplicate-content: same text sent to") != std::string::npos);
  CHECK(w.service->SpamCountersSinceStart().flagged == 1);

  // Keep going, one every 10 s (what the throttle allows), until suspended at 40.
  std::size_t next = 9;
  Status last;
  for (int guard = 0; guard < 20 && next < chats.size(); ++guard) {
    w.fx.clock.Advance(10'000);
    auto sent = w.Send(spammer, chats[next], kSpam);
    if (!sent.ok()) {
      last = sent.status();
      break;
    }
    ++next;
  }
  CHECK(last.code() == StatusCode::kPermissionDenied);
  CHECK(last.message().find("sending suspended for spam") != std::string::npos);
  CHECK(w.fx.store->GetSpamFlag(spammer.user.id)->suspended);
  // Suspended everywhere, even in a chat and with a text that are fine.
  CHECK_CODE(w.Send(spammer, chats[0], "sorry"), StatusCode::kPermissionDenied);
  // Others are not affected.
  REQUIRE_OK(w.Send(bob, chats[0], kSpam));

  SECTION("an admin clears the account: sending works again and the flag is gone") {
    REQUIRE_OK(w.service->ClearSpam(spammer.user.id));
    CHECK_CODE(w.fx.store->GetSpamFlag(spammer.user.id), StatusCode::kNotFound);
    CHECK(w.service->SpamStatus(spammer.user.id).score == 0);
    REQUIRE_OK(w.Send(spammer, chats[0], "sorry"));
    // Its windows were cleared too: the same text to a new chat scores nothing at once.
    REQUIRE_OK(w.Send(spammer, chats[19], kSpam));
    CHECK(w.service->SpamStatus(spammer.user.id).score == 0);
    CHECK_CODE(w.service->ClearSpam(999), StatusCode::kNotFound);
  }
  SECTION("the suspension lifts by itself once the score decays") {
    w.fx.clock.Advance(SpamOptions{}.half_life_ms * 2);
    REQUIRE_OK(w.Send(spammer, chats[0], "sorry"));
  }
}

TEST_CASE("reportMessage checks what the reporter may see and is idempotent", "[spam][service][reports]") {
  SpamWorld w;
  Session ann = w.OldUser("ann");
  Session bob = w.OldUser("bob");
  Session eve = w.OldUser("eve");
  w.fx.clock.Advance(8 * kMsPerDay);  // bob is an established reporter: his report counts in full.
  ChatId chat = w.Group(ann, {bob.user.id});
  auto sent = w.Send(ann, chat, "buy my stuff");
  REQUIRE_OK(sent);
  const Seq seq = sent->message.seq;

  CHECK_CODE(w.service->ReportMessage(ann.user.id, chat, seq), StatusCode::kInvalidArgument);  // own message
  CHECK_CODE(w.service->ReportMessage(eve.user.id, chat, seq), StatusCode::kPermissionDenied);  // not a member
  CHECK_CODE(w.service->ReportMessage(bob.user.id, chat, 99), StatusCode::kNotFound);
  CHECK_CODE(w.service->ReportMessage(bob.user.id, chat, 1), StatusCode::kInvalidArgument);  // the server's entry
  CHECK_CODE(w.service->ReportMessage(bob.user.id, chat, 0), StatusCode::kInvalidArgument);
  CHECK_CODE(w.service->ReportMessage(bob.user.id, chat, seq, std::string(300, 'x')), StatusCode::kInvalidArgument);
  auto none = w.fx.store->ListSpamReports(0, 0, 10);
  REQUIRE_OK(none);
  CHECK(none->empty());  // Refused reports stored nothing.

  auto first = w.service->ReportMessage(bob.user.id, chat, seq, "advertising");
  REQUIRE_OK(first);
  CHECK_FALSE(first->duplicate);
  CHECK(first->report.sender == ann.user.id);
  CHECK(first->report.reason == "advertising");
  const double after_first = w.service->SpamStatus(ann.user.id).score;
  CHECK(after_first == Approx(8));
  auto again = w.service->ReportMessage(bob.user.id, chat, seq);
  REQUIRE_OK(again);
  CHECK(again->duplicate);
  CHECK(again->report.id == first->report.id);
  CHECK(w.service->SpamStatus(ann.user.id).score == Approx(after_first));
  CHECK(w.service->SpamCountersSinceStart().reports == 1);

  SECTION("eve, added after the message, cannot report it") {
    REQUIRE_OK(w.service->ModifyParticipants(ann.user.id, chat, {{eve.user.id}, {}, {}}));
    CHECK_CODE(w.service->ReportMessage(eve.user.id, chat, seq), StatusCode::kNotFound);
  }
  SECTION("a deleted message cannot be reported") {
    auto other = w.Send(ann, chat, "oops");
    REQUIRE_OK(other);
    REQUIRE_OK(w.service->DeleteMessage(ann.user.id, ann.device.id, chat, other->message.seq));
    CHECK_CODE(w.service->ReportMessage(bob.user.id, chat, other->message.seq), StatusCode::kNotFound);
  }
  SECTION("a message past its chat's retention cannot be reported") {
    auto other = w.Send(ann, chat, "old news");
    REQUIRE_OK(other);
    w.fx.clock.Advance(31 * kMsPerDay);
    CHECK_CODE(w.service->ReportMessage(bob.user.id, chat, other->message.seq), StatusCode::kNotFound);
  }
}

TEST_CASE("spam reports: distinct reporters escalate, one reporter repeating does not", "[spam][service][reports]") {
  SpamWorld w;
  Session spammer = w.OldUser("spammer");
  std::vector<Session> reporters;
  for (int i = 0; i < 5; ++i) reporters.push_back(w.OldUser("reporter" + std::to_string(i)));
  w.fx.clock.Advance(8 * kMsPerDay);  // Established reporters: older than a week.
  std::vector<UserId> ids;
  for (const auto& r : reporters) ids.push_back(r.user.id);
  ChatId chat = w.Group(spammer, ids);
  std::vector<Seq> seqs;
  for (int i = 0; i < 30; ++i) {
    auto sent = w.Send(spammer, chat, "message number " + std::string(static_cast<std::size_t>(i % 26 + 1), 'a'));
    REQUIRE_OK(sent);
    seqs.push_back(sent->message.seq);
  }
  SECTION("one reporter reporting 30 messages stays below the throttle") {
    for (Seq s : seqs) REQUIRE_OK(w.service->ReportMessage(reporters[0].user.id, chat, s));
    const SpamStanding st = w.service->SpamStatus(spammer.user.id);
    CHECK(st.score == Approx(9));
    CHECK_FALSE(st.throttled);
    REQUIRE_OK(w.Send(spammer, chat, "still fine"));
    auto reports = w.fx.store->ListSpamReports(spammer.user.id, 0, 100);
    REQUIRE_OK(reports);
    CHECK(reports->size() == 30);  // Every report is kept for admins, only the points are capped.
  }
  SECTION("five reporters flag and suspend the sender") {
    for (std::size_t i = 0; i < 5; ++i) REQUIRE_OK(w.service->ReportMessage(reporters[i].user.id, chat, seqs[i]));
    const SpamStanding st = w.service->SpamStatus(spammer.user.id);
    CHECK(st.score == Approx(40));
    CHECK(st.suspended);
    auto flag = w.fx.store->GetSpamFlag(spammer.user.id);
    REQUIRE_OK(flag);
    CHECK(flag->reasons.back().find("report: reported by user") != std::string::npos);
    CHECK_CODE(w.Send(spammer, chat, "hello"), StatusCode::kPermissionDenied);
  }
}

TEST_CASE("reports by new accounts weigh a quarter and at most 4 points together, suspects add nothing",
          "[spam][service][reports]") {
  SpamWorld w;
  Session victim = w.OldUser("victim");
  Session established = w.OldUser("established");
  w.fx.clock.Advance(8 * kMsPerDay);
  std::vector<Session> sybils;
  for (int i = 0; i < 20; ++i) sybils.push_back(w.OldUser("sybil" + std::to_string(i)));  // New: made today.
  std::vector<UserId> ids = {established.user.id};
  for (const auto& s : sybils) ids.push_back(s.user.id);
  ChatId chat = w.Group(victim, ids);
  auto hi = w.Send(victim, chat, "hi");
  REQUIRE_OK(hi);
  // One new reporter: a quarter of the 8 points of a first report.
  REQUIRE_OK(w.service->ReportMessage(sybils[0].user.id, chat, hi->message.seq));
  CHECK(w.service->SpamStatus(victim.user.id).score == Approx(2));
  // Twenty of them: 4 points in all, far from the throttle.
  for (const auto& s : sybils) REQUIRE_OK(w.service->ReportMessage(s.user.id, chat, hi->message.seq));
  CHECK(w.service->SpamStatus(victim.user.id).score == Approx(4));
  REQUIRE_OK(w.Send(victim, chat, "still here"));
  // All twenty reports are kept for admins.
  auto reports = w.fx.store->ListSpamReports(victim.user.id, 0, 100);
  REQUIRE_OK(reports);
  CHECK(reports->size() == 20);
  // An established reporter counts in full: with the new ones' 4, not yet throttled (13 would be).
  REQUIRE_OK(w.service->ReportMessage(established.user.id, chat, hi->message.seq));
  CHECK(w.service->SpamStatus(victim.user.id).score == Approx(12));
  CHECK(w.service->SpamStatus(victim.user.id).throttled);
  // The victim, now throttled, reporting someone adds nothing: a suspect cannot retaliate.
  auto theirs = w.Send(established, chat, "a message of the established user");
  REQUIRE_OK(theirs);
  REQUIRE_OK(w.service->ReportMessage(victim.user.id, chat, theirs->message.seq));
  CHECK(w.service->SpamStatus(established.user.id).score == 0);
}

TEST_CASE("a new account messaging many strangers in direct chats is throttled", "[spam][service]") {
  SpamWorld w;
  std::vector<Session> people;
  for (int i = 0; i < 8; ++i) people.push_back(w.OldUser("person" + std::to_string(i)));
  Session friend_ = w.OldUser("friend");
  w.fx.clock.Advance(2 * kMsPerDay);  // Everybody above is old now.
  Session fresh = w.OldUser("fresh");
  // A friend it shares a group with is not a stranger.
  w.Group(fresh, {friend_.user.id});
  auto dm = w.service->CreateDirect(fresh.user.id, friend_.user.id);
  REQUIRE_OK(dm);
  REQUIRE_OK(w.Send(fresh, dm->id, "hi friend"));
  for (std::size_t i = 0; i < 7; ++i) {
    auto c = w.service->CreateDirect(fresh.user.id, people[i].user.id);
    REQUIRE_OK(c);
    REQUIRE_OK(w.Send(fresh, c->id, "hello " + std::to_string(i)));
  }
  // Strangers 6 and 7: 5 points each.
  CHECK(w.service->SpamStatus(fresh.user.id).score == Approx(10));
  CHECK(w.service->SpamStatus(fresh.user.id).throttled);
  // An old account doing the same scores nothing.
  for (std::size_t i = 0; i < 8; ++i) {
    auto c = w.service->CreateDirect(friend_.user.id, people[i].user.id);
    REQUIRE_OK(c);
    REQUIRE_OK(w.Send(friend_, c->id, "hello " + std::to_string(i)));
  }
  CHECK(w.service->SpamStatus(friend_.user.id).score == 0);
}

}  // namespace
}  // namespace chat::test
