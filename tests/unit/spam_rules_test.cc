// The built-in spam rules one by one (each fires on its pattern and stays quiet on ordinary use), and
// SpamGuard's thresholds and decay, with a ManualClock.
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "spam_guard.h"
#include "spam_rules.h"
#include "test_support.h"

namespace chat::test {
namespace {

using detail::SpamGuard;

constexpr TimeMs kMinute = 60 * 1000;
constexpr TimeMs kHour = 60 * kMinute;

// A send to chat `chat` with members {sender, others...}.
struct SendBuilder {
  std::vector<UserId> members;
  SpamSend send;
  SendBuilder(UserId sender, ChatId chat, std::string_view text, TimeMs now, ChatKind kind = ChatKind::kGroup,
              std::vector<UserId> others = {}) {
    members = others;
    members.push_back(sender);
    std::sort(members.begin(), members.end());
    send.sender = sender;
    send.account_age_ms = 30 * kMsPerDay;
    send.chat = chat;
    send.chat_kind = kind;
    send.text = text;
    send.now = now;
  }
  const SpamSend& get() {
    send.members = &members;
    return send;
  }
};

double Evaluate(SpamRule& rule, UserId sender, ChatId chat, std::string_view text, TimeMs now) {
  SendBuilder b(sender, chat, text, now);
  return rule.Evaluate(b.get()).score;
}

TEST_CASE("spam text normalisation ignores case, digits, punctuation and whitespace", "[spam][rules]") {
  CHECK(detail::NormalizeForSpam("Buy NOW!!! 50% off") == "buynowoff");
  CHECK(detail::NormalizeForSpam("buy now, 70% OFF") == "buynowoff");
  CHECK(detail::NormalizeForSpam("Grüße") == "gr\xc3\xbc\xc3\x9f" "e");
  // Invisible characters change nothing a reader sees, so they change nothing here either: zero-width
  // space, non-joiner, joiner, word joiner, BOM, soft hyphen, a direction mark, a variation selector,
  // a non-breaking space, a tag character.
  for (const char* hidden : {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\ufe0f",
                             "\u00a0", "\U000E0041"}) {
    INFO(hidden);
    const std::string text = std::string("Buy") + hidden + "N" + hidden + "OW off";
    CHECK(detail::NormalizeForSpam(text) == "buynowoff");
    CHECK(detail::FingerprintText(text).fingerprint == detail::Fingerprint("buynowoff"));
  }
  // A stray byte of broken UTF-8 is kept, not read past.
  CHECK(detail::NormalizeForSpam("ab\xe2") == "ab\xe2");
  const auto one_pass = detail::FingerprintText("Buy NOW!!! 50% off");
  CHECK(one_pass.fingerprint == detail::Fingerprint("buynowoff"));
  CHECK(one_pass.bytes == 9);
  CHECK(detail::CountLinks("see https://a.example/x and www.b.example, http://c") == 3);
  CHECK(detail::CountLinks("https://www.example.com") == 1);
  CHECK(detail::CountLinks("no links here, just www") == 0);
  CHECK(detail::CountMentions("@ann @bob hi @ carol mail me at x@example.com") == 2);
}

TEST_CASE("duplicate-content rule scores the same text sent to many chats, not ordinary repeats",
          "[spam][rules]") {
  detail::DuplicateContentRule rule(DuplicateContentOptions{});  // 3 chats free, then 4 points each
  const TimeMs t = 1'000'000;
  SECTION("a normal user sending 'ok' to two chats, or a longer text to three, scores nothing") {
    CHECK(Evaluate(rule, 1, 10, "ok", t) == 0);
    CHECK(Evaluate(rule, 1, 11, "ok", t) == 0);
    for (ChatId c = 20; c < 23; ++c) CHECK(Evaluate(rule, 1, c, "see you at the meeting tomorrow", t) == 0);
  }
  SECTION("short texts never count, whatever the number of chats") {
    for (ChatId c = 1; c <= 20; ++c) CHECK(Evaluate(rule, 1, c, "ok!", t) == 0);
  }
  SECTION("the same text to a fourth and further chats scores, variants included") {
    CHECK(Evaluate(rule, 1, 1, "Cheap watches at example dot com", t) == 0);
    CHECK(Evaluate(rule, 1, 2, "cheap WATCHES at example dot com!!", t) == 0);
    CHECK(Evaluate(rule, 1, 3, "Cheap watches 4 at example dot com", t) == 0);
    CHECK(Evaluate(rule, 1, 4, "Cheap watches at example dot com", t) == 4);
    CHECK(Evaluate(rule, 1, 5, "cheap watches at example dot com", t) == 4);
    // The same chat again is not a new chat.
    CHECK(Evaluate(rule, 1, 5, "cheap watches at example dot com", t) == 0);
    // Another sender is counted apart.
    CHECK(Evaluate(rule, 2, 6, "cheap watches at example dot com", t) == 0);
  }
  SECTION("sends further apart than the window do not add up") {
    for (ChatId c = 1; c <= 6; ++c) {
      CHECK(Evaluate(rule, 1, c, "Cheap watches at example dot com", t + static_cast<TimeMs>(c) * 11 * kMinute) == 0);
    }
  }
  SECTION("forgetting a sender starts them over") {
    for (ChatId c = 1; c <= 4; ++c) (void)Evaluate(rule, 1, c, "Cheap watches at example dot com", t);
    rule.Forget(1);
    CHECK(Evaluate(rule, 1, 5, "Cheap watches at example dot com", t) == 0);
  }
}

TEST_CASE("flood rule scores many links or mentions, not one link", "[spam][rules]") {
  detail::FloodRule rule(FloodOptions{});
  const TimeMs t = 1'000'000;
  CHECK(Evaluate(rule, 1, 1, "look at https://example.com/photo", t) == 0);
  CHECK(Evaluate(rule, 1, 1, "a https://a.example b https://b.example c https://c.example", t) == 0);
  // Six links: three over the free three, 2 points each.
  CHECK(Evaluate(rule, 2, 1, "http://a http://b http://c http://d http://e http://f", t) == 6);
  // Twelve mentions: two over the free ten.
  CHECK(Evaluate(rule, 3, 1, "@a @b @c @d @e @f @g @h @i @j @k @l hi", t) == 2);
  SECTION("links add up within the window: past 20, each further link scores 1") {
    double total = 0;
    for (int i = 0; i < 10; ++i) total += Evaluate(rule, 4, 1, "https://x.example https://y.example", t + i);
    CHECK(total == 0);  // 20 links: all free.
    CHECK(Evaluate(rule, 4, 1, "https://x.example https://y.example", t + 11) == 2);
    // Past the window, free again.
    CHECK(Evaluate(rule, 4, 1, "https://x.example", t + 11 + 11 * kMinute) == 0);
  }
}

TEST_CASE("new-account rule scores a new account messaging many strangers, not known contacts or old accounts",
          "[spam][rules]") {
  detail::NewAccountRule rule(NewAccountOptions{});  // 5 strangers an hour free, then 5 points each
  const TimeMs t = 1'000'000;
  std::vector<UserId> known = {100, 101, 102, 103, 104, 105, 106, 107};
  auto send_to = [&](UserId sender, UserId other, TimeMs age, bool knows) {
    SendBuilder b(sender, 1000 + other, "hello there", t, ChatKind::kDirect, {other});
    b.send.account_age_ms = age;
    b.send.shares_other_chat = [knows](UserId) { return knows; };
    return rule.Evaluate(b.get()).score;
  };
  SECTION("a new account messaging eight strangers scores from the sixth") {
    std::vector<double> scores;
    for (UserId u = 100; u < 108; ++u) scores.push_back(send_to(1, u, kHour, false));
    CHECK(scores == std::vector<double>{0, 0, 0, 0, 0, 5, 5, 5});
    // Writing to one of them again counts nothing more.
    CHECK(send_to(1, 100, kHour, false) == 0);
  }
  SECTION("a new account writing to people it shares a chat with scores nothing") {
    for (UserId u : known) CHECK(send_to(2, u, kHour, true) == 0);
  }
  SECTION("an account older than a day scores nothing") {
    for (UserId u : known) CHECK(send_to(3, u, 2 * kMsPerDay, false) == 0);
  }
  SECTION("groups of three or more are not this rule's business") {
    for (UserId u : known) {
      SendBuilder b(4, 2000 + u, "hello there", t, ChatKind::kGroup, {u, 999});
      b.send.account_age_ms = kHour;
      b.send.shares_other_chat = [](UserId) { return false; };
      CHECK(rule.Evaluate(b.get()).score == 0);
    }
  }
  SECTION("a group of two is a direct chat by another name: counted the same") {
    std::vector<double> scores;
    for (UserId u : known) {
      SendBuilder b(5, 3000 + u, "hello there", t, ChatKind::kGroup, {u});
      b.send.account_age_ms = kHour;
      b.send.shares_other_chat = [](UserId) { return false; };
      scores.push_back(rule.Evaluate(b.get()).score);
    }
    CHECK(scores == std::vector<double>{0, 0, 0, 0, 0, 5, 5, 5});
  }
}

// A rule of the embedder's that scores every send containing "forbidden".
class KeywordRule final : public SpamRule {
 public:
  std::string_view name() const override { return "keyword"; }
  SpamVerdict Evaluate(const SpamSend& send) override {
    if (send.text.find("forbidden") == std::string_view::npos) return {};
    return {15, "forbidden word"};
  }
};

TEST_CASE("spam guard throttles, flags and suspends at its thresholds, refused calls change nothing",
          "[spam][guard]") {
  ManualClock clock;
  SpamOptions options;
  options.extra_rules.push_back(std::make_shared<KeywordRule>());
  SpamGuard guard(options, &clock);
  auto score = [&](UserId u, std::string_view text) {
    SendBuilder b(u, 1, text, clock.NowMs());
    return guard.Score(b.get());
  };
  REQUIRE_OK(guard.Admit(1));
  CHECK_FALSE(score(1, "an ordinary message").has_value());
  CHECK(guard.Standing(1).score == 0);

  // 15 points: over throttle (10), under flag (20).
  CHECK_FALSE(score(1, "forbidden").has_value());
  CHECK(guard.Standing(1).throttled);
  CHECK_FALSE(guard.Standing(1).flagged);
  // The throttle bucket lets 3 through, then refuses with a retry-after of 10 s (6 a minute).
  for (int i = 0; i < 3; ++i) REQUIRE_OK(guard.Admit(1));
  Status throttled = guard.Admit(1);
  CHECK(throttled.code() == StatusCode::kResourceExhausted);
  CHECK(throttled.retry_after_ms() == 10'000);
  CHECK(guard.counters().throttled == 1);

  // 30 points: flagged, with the reasons and time.
  auto flag = score(1, "forbidden");
  REQUIRE(flag.has_value());
  CHECK(flag->user == 1);
  CHECK(flag->score == Approx(30));
  CHECK(flag->flagged_at == clock.NowMs());
  CHECK_FALSE(flag->suspended);
  REQUIRE(flag->reasons.size() == 2);
  CHECK(flag->reasons[0] == "keyword: forbidden word");
  CHECK(guard.counters().flagged == 1);

  // 45 points: suspended; the flag is stored again, now suspended.
  auto suspended = score(1, "forbidden");
  REQUIRE(suspended.has_value());
  CHECK(suspended->suspended);
  Status refused = guard.Admit(1);
  CHECK(refused.code() == StatusCode::kPermissionDenied);
  CHECK(refused.message().find("sending suspended for spam") != std::string::npos);
  CHECK(refused.retry_after_ms() > 0);
  CHECK(guard.counters().refused == 1);
  // Refusing changed nothing: the score is where it was.
  CHECK(guard.Standing(1).score == Approx(45));

  // Another user is untouched.
  REQUIRE_OK(guard.Admit(2));

  SECTION("the score halves every half-life: sending resumes once it decays below suspend") {
    clock.Advance(options.half_life_ms);  // 22.5: throttled, no longer suspended
    CHECK(guard.Standing(1).score == Approx(22.5));
    CHECK_FALSE(guard.Standing(1).suspended);
    CHECK(guard.Standing(1).throttled);
    REQUIRE_OK(guard.Admit(1));
    clock.Advance(options.half_life_ms);  // 11.25
    clock.Advance(options.half_life_ms);  // 5.6: free again, but still flagged for admins
    CHECK_FALSE(guard.Standing(1).throttled);
    CHECK(guard.Standing(1).flagged);
    for (int i = 0; i < 10; ++i) REQUIRE_OK(guard.Admit(1));
  }
  SECTION("the retry-after of a suspension is when it lifts") {
    clock.Advance(refused.retry_after_ms());
    REQUIRE_OK(guard.Admit(1));
  }
  SECTION("clearing forgets score, flag and suspension") {
    guard.Clear(1);
    CHECK(guard.Standing(1).score == 0);
    CHECK_FALSE(guard.Standing(1).flagged);
    REQUIRE_OK(guard.Admit(1));
  }
  SECTION("a restored flag keeps its score, decaying from when it was stored") {
    SpamGuard restarted(options, &clock);
    restarted.Restore(*suspended);
    CHECK(restarted.Admit(1).code() == StatusCode::kPermissionDenied);
    CHECK(restarted.Standing(1).flagged);
    clock.Advance(options.half_life_ms);
    REQUIRE_OK(restarted.Admit(1));
  }
}

TEST_CASE("spam guard switched off scores and refuses nothing", "[spam][guard]") {
  ManualClock clock;
  SpamOptions options;
  options.enabled = false;
  options.extra_rules.push_back(std::make_shared<KeywordRule>());
  SpamGuard guard(options, &clock);
  for (int i = 0; i < 10; ++i) {
    SendBuilder b(1, 1, "forbidden", clock.NowMs());
    CHECK_FALSE(guard.Score(b.get()).has_value());
    REQUIRE_OK(guard.Admit(1));
  }
  CHECK(guard.Standing(1).score == 0);
}

TEST_CASE("spam guard across nodes: another node's points add up with decay, are never published again, and a "
          "clear stops those added before it",
          "[spam][guard][shared]") {
  ManualClock clock;
  SpamOptions options;
  options.extra_rules.push_back(std::make_shared<KeywordRule>());
  SpamGuard here(options, &clock);
  SpamGuard there(options, &clock);
  here.TrackAdded();
  there.TrackAdded();
  auto score = [&](SpamGuard& guard, UserId u) {
    SendBuilder b(u, 1, "forbidden", clock.NowMs());
    return guard.Score(b.get());
  };
  // Moves what `from` added since last time to `to`, as SharedSpam does.
  auto reconcile = [](SpamGuard& from, SpamGuard& to) {
    for (const SpamGuard::Added& a : from.TakeAdded()) (void)to.ApplyRemote(a.user, a.points, a.at);
  };

  // 15 here, then half a half-life later 15 there: both see 15 x 0.707 + 15, as one node would.
  CHECK_FALSE(score(here, 1).has_value());
  clock.Advance(options.half_life_ms / 2);
  CHECK_FALSE(score(there, 1).has_value());
  const double one_node = 15 * std::exp2(-0.5) + 15;
  reconcile(here, there);
  reconcile(there, here);
  CHECK(here.Standing(1).score == Approx(one_node));
  CHECK(there.Standing(1).score == Approx(one_node));

  SECTION("points applied from another node are not taken again: nothing goes back") {
    CHECK(here.TakeAdded().empty());
    CHECK(there.TakeAdded().empty());
  }
  SECTION("a batch applied late counts decayed from when its points were added") {
    CHECK_FALSE(score(here, 2).has_value());
    auto added = here.TakeAdded();
    REQUIRE(added.size() == 1);
    CHECK(added[0].points == Approx(15));
    clock.Advance(options.half_life_ms);
    (void)there.ApplyRemote(added[0].user, added[0].points, added[0].at);
    CHECK(there.Standing(2).score == Approx(7.5));
  }
  SECTION("remote points that reach a threshold raise the flag there too, with its score") {
    // 25.6 + 15 here = 40.6: suspended; there learns it from the points alone.
    auto flag = score(here, 1);
    REQUIRE(flag.has_value());
    CHECK(flag->suspended);
    std::optional<SpamFlag> remote;
    for (const SpamGuard::Added& a : here.TakeAdded()) remote = there.ApplyRemote(a.user, a.points, a.at);
    REQUIRE(remote.has_value());
    CHECK(remote->suspended);
    CHECK(remote->score == Approx(flag->score));
    CHECK(there.Admit(1).code() == StatusCode::kPermissionDenied);
  }
  SECTION("a clear forgets the points not yet taken, and stops another node's points added before it") {
    (void)score(there, 1);  // Not reconciled yet.
    auto before = there.TakeAdded();
    REQUIRE(before.size() == 1);
    clock.Advance(1);
    (void)score(here, 1);
    here.Clear(1);
    CHECK(here.TakeAdded().empty());
    CHECK_FALSE(here.ApplyRemote(1, before[0].points, before[0].at).has_value());
    CHECK(here.Standing(1).score == 0);
    REQUIRE_OK(here.Admit(1));
    // Points added after the clear count.
    clock.Advance(1);
    (void)here.ApplyRemote(1, 5, clock.NowMs());
    CHECK(here.Standing(1).score == Approx(5));
  }
  SECTION("a clear from another node, as of its time") {
    there.Clear(1, clock.NowMs());
    CHECK(there.Standing(1).score == 0);
    CHECK_FALSE(there.Standing(1).flagged);
    REQUIRE_OK(there.Admit(1));
  }
}

}  // namespace
}  // namespace chat::test

namespace chat::test {
namespace {

// Not run by default ([.]): `spam_unit_test "[.bench]"` prints what the guard costs a send.
TEST_CASE("spam guard cost per ordinary send", "[.bench][spam]") {
  ManualClock clock;
  SpamGuard guard(SpamOptions{}, &clock);
  const std::string body = "lg1 123456789 42 7 " + std::string(100, 'x');
  std::vector<UserId> members = {1, 2, 3, 4, 5, 6, 7, 8};
  constexpr int kSends = 200000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kSends; ++i) {
    const UserId sender = static_cast<UserId>(i % 1000 + 1);
    REQUIRE(guard.Admit(sender).ok());
    SpamSend s;
    s.sender = sender;
    s.account_age_ms = 30 * kMsPerDay;
    s.chat = static_cast<ChatId>(i % 2 + 1);  // Each user writes to two chats: below the rules.
    s.members = &members;
    s.text = body;
    s.now = clock.NowMs();
    (void)guard.Score(s);
    clock.Advance(1);
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  WARN("spam guard: " << ns / kSends << " ns per send (Admit + Score, 120-byte body)");
  CHECK(guard.Standing(1).score == 0);
}

}  // namespace
}  // namespace chat::test
