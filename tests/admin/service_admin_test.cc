// The ChatService operations added for administration: HashPassword, RegisterWithHash, IssueSession,
// PreviewRetention. In memory; no sockets.
#include "test_support.h"

using namespace chat;
using chat::test::Fixture;

TEST_CASE("RegisterWithHash checks everything Register checks but the password", "[admin][service]") {
  Fixture f("mem");
  auto hash = f.service->HashPassword("a-good-password");
  REQUIRE_OK(hash);
  CHECK_CODE(f.service->HashPassword("short"), StatusCode::kInvalidArgument);

  auto u = f.service->RegisterWithHash({"Alice", "", "", "", ""}, *hash);
  REQUIRE_OK(u);
  CHECK(u->username == "alice");
  CHECK(u->password_hash == *hash);
  REQUIRE_OK(f.service->VerifyPassword("alice", "a-good-password"));

  CHECK_CODE(f.service->RegisterWithHash({"alice", "", "", "", ""}, *hash), StatusCode::kAlreadyExists);
  CHECK_CODE(f.service->RegisterWithHash({"x", "", "", "", ""}, *hash), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->RegisterWithHash({"bob", "", "", "not an e-mail", ""}, *hash), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->RegisterWithHash({"bob", "", "", "", ""}, ""), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->RegisterWithHash({"bob", "", "", "", ""}, "plain-text"), StatusCode::kInvalidArgument);
  CHECK(f.service->FindUser("bob").status().IsNotFound());
}

TEST_CASE("IssueSession opens a session without a password, within the device limit", "[admin][service]") {
  Fixture f("mem");
  auto alice = f.NewUser("alice");  // One device already.
  auto s = f.service->IssueSession(alice.user.id, {"loadgen", "bot"});
  REQUIRE_OK(s);
  CHECK_FALSE(s->token.empty());
  CHECK(s->device.kind == "loadgen");
  auto resumed = f.service->Resume(s->token);
  REQUIRE_OK(resumed);
  CHECK(resumed->device.id == s->device.id);

  for (int i = 0; i < 3; ++i) REQUIRE_OK(f.service->IssueSession(alice.user.id, {"loadgen", "bot"}));
  CHECK_CODE(f.service->IssueSession(alice.user.id, {"loadgen", "bot"}), StatusCode::kFailedPrecondition);
  CHECK_CODE(f.service->IssueSession(4242, {"loadgen", "bot"}), StatusCode::kNotFound);
  CHECK_CODE(f.service->IssueSession(alice.user.id, {std::string(33, 'k'), "bot"}), StatusCode::kInvalidArgument);
  REQUIRE_OK(f.service->SetDisabled(alice.user.id, true));
  CHECK_CODE(f.service->IssueSession(alice.user.id, {"loadgen", "bot"}), StatusCode::kPermissionDenied);
}

TEST_CASE("PreviewRetention counts what RunRetention then deletes", "[admin][service]") {
  Fixture f("mem");
  auto alice = f.NewUser("alice");
  auto g = f.service->CreateGroup(alice.user.id, "g", {}, "", 0, kMsPerDay);
  REQUIRE_OK(g);
  for (int i = 0; i < 4; ++i) {
    SendRequest r = test::TextMessage(alice, g->id, "c" + std::to_string(i), "m");
    REQUIRE_OK(f.service->Send(r));
  }
  auto before = f.service->PreviewRetention();
  REQUIRE_OK(before);
  CHECK(before->messages_deleted == 0);
  f.clock.Advance(2 * kMsPerDay);
  auto preview = f.service->PreviewRetention();
  REQUIRE_OK(preview);
  CHECK(preview->messages_deleted == 5);
  auto run = f.service->RunRetention();
  REQUIRE_OK(run);
  CHECK(run->messages_deleted == preview->messages_deleted);
  CHECK(run->cursors_deleted == preview->cursors_deleted);
  CHECK(run->more == preview->more);
}
