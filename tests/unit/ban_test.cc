// Bans in the service, on the mem store with a ManualClock: a ban disables the account with its
// reason and time, tells every live session to close, refuses login, resume and sends; unban lets
// the user log in afresh (the sessions the ban ended stay ended). Bad input changes nothing.
#include <algorithm>
#include <mutex>

#include "test_support.h"

namespace chat::test {
namespace {

// The kSessionRevoked events published on a bus, as (user, device); device 0 revokes every session of
// the user.
class Revocations {
 public:
  explicit Revocations(Bus& bus)
      : sub_(bus.Subscribe([this](const std::shared_ptr<const Event>& e) {
          if (e->type != EventType::kSessionRevoked) return;
          std::lock_guard lock(mu_);
          revoked_.emplace_back(e->user, e->device);
        })) {}
  // True if the sessions of `device` (of `user`) were told to close, by name or with all of the user's.
  bool Covers(UserId user, DeviceId device) const {
    std::lock_guard lock(mu_);
    return std::any_of(revoked_.begin(), revoked_.end(), [&](const auto& r) {
      return r.first == user && (r.second == device || r.second == 0);
    });
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<UserId, DeviceId>> revoked_;
  Subscription sub_;
};

TEST_CASE("a ban closes every session, refuses login, resume and sends, and unban lets the user log in again", "[ban]") {
  Fixture f("mem");
  Revocations revoked(*f.bus);
  auto alice = f.NewUser("alice");
  auto laptop = f.service->Login("alice", "password-alice", {"laptop", "l"});
  REQUIRE_OK(laptop);
  auto bob = f.NewUser("bob");
  auto dm = f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(dm);
  const Seq head = *f.store->Head(dm->id);

  const TimeMs at = f.clock.NowMs();
  auto ban = f.service->BanUser(alice.user.id, "spam links");
  REQUIRE_OK(ban);
  CHECK(ban->at == at);
  auto stored = f.service->GetBan(alice.user.id);
  REQUIRE_OK(stored);
  REQUIRE(stored->has_value());
  CHECK((*stored)->reason == "spam links");
  CHECK(f.service->GetUser(alice.user.id)->disabled);
  CHECK(revoked.Covers(alice.user.id, alice.device.id));
  CHECK(revoked.Covers(alice.user.id, laptop->device.id));
  CHECK_FALSE(revoked.Covers(bob.user.id, bob.device.id));

  auto login = f.service->Login("alice", "password-alice", {"phone", "p"});
  CHECK_CODE(login, StatusCode::kPermissionDenied);
  CHECK(login.status().message().find("banned") != std::string::npos);
  auto resume = f.service->Resume(alice.token);
  CHECK_CODE(resume, StatusCode::kPermissionDenied);
  CHECK(resume.status().message().find("banned") != std::string::npos);
  CHECK_CODE(f.service->IssueSession(alice.user.id, {"bot", "b"}), StatusCode::kPermissionDenied);
  SendRequest r = test::TextMessage(alice, dm->id, "c1", "buy now");
  CHECK_CODE(f.service->Send(r), StatusCode::kPermissionDenied);
  CHECK(*f.store->Head(dm->id) == head);
  // Enabling does not lift a ban: only unban does.
  CHECK_CODE(f.service->SetDisabled(alice.user.id, false), StatusCode::kFailedPrecondition);
  auto bans = f.service->ListBans(0, 10);
  REQUIRE_OK(bans);
  REQUIRE(bans->size() == 1);
  CHECK(bans->at(0).user == alice.user.id);

  REQUIRE_OK(f.service->UnbanUser(alice.user.id));
  CHECK_FALSE(f.service->GetUser(alice.user.id)->disabled);
  CHECK_FALSE(f.service->GetBan(alice.user.id)->has_value());
  CHECK(f.service->ListBans(0, 10)->empty());
  // The sessions the ban ended stay ended; a new login works.
  CHECK_CODE(f.service->Resume(alice.token), StatusCode::kUnauthenticated);
  auto again = f.service->Login("alice", "password-alice", {"phone", "p"});
  REQUIRE_OK(again);
  r.device = again->device.id;
  REQUIRE_OK(f.service->Send(r));
}

TEST_CASE("ban input errors are typed and change nothing, and unban of a user not banned changes nothing", "[ban]") {
  Fixture f("mem");
  auto alice = f.NewUser("alice");
  CHECK_CODE(f.service->BanUser(alice.user.id, ""), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->BanUser(alice.user.id, std::string(1001, 'x')), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->BanUser(4242, "spam"), StatusCode::kNotFound);
  CHECK_CODE(f.service->UnbanUser(4242), StatusCode::kNotFound);
  CHECK_FALSE(f.service->GetUser(alice.user.id)->disabled);
  REQUIRE_OK(f.service->Resume(alice.token));

  // A disabled (not banned) account stays disabled through an unban.
  REQUIRE_OK(f.service->SetDisabled(alice.user.id, true));
  REQUIRE_OK(f.service->UnbanUser(alice.user.id));
  CHECK(f.service->GetUser(alice.user.id)->disabled);
  auto login = f.service->Login("alice", "password-alice", {"phone", "p"});
  CHECK_CODE(login, StatusCode::kPermissionDenied);
  CHECK(login.status().message().find("disabled") != std::string::npos);
}

TEST_CASE("a ban made by one service is seen by a service opened later on the same store", "[ban]") {
  Fixture f("mem");
  auto alice = f.NewUser("alice");
  REQUIRE_OK(f.service->BanUser(alice.user.id, "abuse"));
  auto other = ChatService::Create(f.service->options(), f.store, f.bus);
  REQUIRE_OK(other);
  auto login = (*other)->Login("alice", "password-alice", {"phone", "p"});
  CHECK_CODE(login, StatusCode::kPermissionDenied);
  CHECK(login.status().message().find("banned") != std::string::npos);
}

}  // namespace
}  // namespace chat::test
