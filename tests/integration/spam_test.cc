// Spam scoring on a real chatd (defaults on): a spammer sending the same text to many chats is
// throttled with resource_exhausted and a retry-after, reports from other users suspend it with
// permission_denied, the counters show on /metrics, and the suspension survives a restart.
#include <nlohmann/json.hpp>

#include "test_server.h"

namespace chat::test {
namespace {

constexpr const char* kSpam = "Cheap watches at example dot com, buy now";

Reply Report(Client& c, ChatId chat, Seq seq, const std::string& reason = "") {
  nlohmann::json args = {{"chatId", chat}, {"seq", seq}};
  if (!reason.empty()) args["reason"] = reason;
  return c.Call("reportMessage", args.dump());
}

TEST_CASE("a spammer is throttled, then suspended by reports, with typed errors over the wire",
          "[integration][spam]") {
  // Every account here is minutes old: count their reports in full (by default reports of accounts
  // younger than a week weigh a quarter; abuse_test.cc tests that).
  TestServer s({"--spam-new-reporter-days", "0"});
  RegisterUser(s.chatd(), "spammer");
  std::vector<UserId> others;
  for (int i = 0; i < 5; ++i) others.push_back(RegisterUser(s.chatd(), "user" + std::to_string(i)));
  LiveDevice spammer = LoginDevice(s.chatd(), "spammer", "s");
  std::vector<ChatId> chats;
  for (int i = 0; i < 12; ++i) {
    auto c = spammer.client->CreateGroup("g" + std::to_string(i), others);
    REQUIRE_OK(c);
    chats.push_back(c->id);
  }

  // Chats 1-3 are free; the 6th send crosses the throttle; three more get through the cut rate.
  std::vector<Seq> sent;
  for (std::size_t i = 0; i < 9; ++i) {
    auto m = spammer.client->SendMessage(chats[i], "spam" + std::to_string(i), kSpam);
    REQUIRE_OK(m);
    sent.push_back(m->message.seq);
  }
  auto throttled = spammer.client->Call("sendMessage", nlohmann::json{{"chatId", chats[9]},
                                                                        {"clientId", "spam9"},
                                                                        {"body", kSpam}}.dump());
  REQUIRE_FALSE(throttled.ok);
  CHECK(throttled.code == "resource_exhausted");
  CHECK(throttled.retry_after_ms > 0);
  CHECK(throttled.retry_after_ms <= 10'000);
  CHECK(MetricValue(s.port(), "chat_spam_throttled_total") == 1);
  CHECK(MetricValue(s.port(), "chat_spam_flagged_total") == 1);

  // Reports: one's own message is refused; each of five users reports one message.
  auto own = Report(*spammer.client, chats[0], sent[0]);
  CHECK(own.code == "invalid_argument");
  for (std::size_t i = 0; i < others.size(); ++i) {
    LiveDevice d = LoginDevice(s.chatd(), "user" + std::to_string(i), "d");
    auto r = Report(*d.client, chats[i], sent[i], "advertising");
    INFO(r.raw);
    REQUIRE(r.ok);
    CHECK(nlohmann::json::parse(r.result)["duplicate"] == false);
    if (i == 0) {
      // Reporting again is idempotent.
      auto again = Report(*d.client, chats[i], sent[i]);
      REQUIRE(again.ok);
      CHECK(nlohmann::json::parse(again.result)["duplicate"] == true);
    }
  }
  CHECK(MetricValue(s.port(), "chat_spam_reports_total") == 5);

  // Suspended: refused everywhere, with the reason, and nothing is stored.
  auto refused = spammer.client->Call("sendMessage", nlohmann::json{{"chatId", chats[11]},
                                                                      {"clientId", "sorry"},
                                                                      {"body", "sorry"}}.dump());
  REQUIRE_FALSE(refused.ok);
  CHECK(refused.code == "permission_denied");
  CHECK(refused.message.find("sending suspended for spam") != std::string::npos);
  CHECK(MetricValue(s.port(), "chat_spam_refused_total") == 1);
  auto view = spammer.client->GetChat(chats[11]);
  REQUIRE_OK(view);
  CHECK(view->head == 1);

  // The flag is stored: after a restart the account is still suspended.
  s.Restart();
  LiveDevice again = LoginDevice(s.chatd(), "spammer", "s2");
  CHECK_CODE(again.client->SendMessage(chats[11], "sorry2", "sorry"), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace chat::test
