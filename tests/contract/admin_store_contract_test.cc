// What only an administrator does, in the store contract, on every backend (mem://, LevelDB,
// PostgreSQL): invitations (store.h CreateInvite ... CreateUserWithInvite; ChatService
// CreateInvite/RegisterWithInvite), erasing a message as the server (EraseMessage), resetting a
// password, deleting a user and deleting a chat with everything that hangs off them.
#include <algorithm>
#include <string>

#include "backends.h"
#include "crypto.h"

using namespace chat;
using chat::test::Fixture;

namespace {

std::vector<Message> Log(Fixture& f, const Session& s, ChatId chat) {
  auto page = f.service->Sync(s.user.id, s.device.id, chat, Seq{0}, 500);
  REQUIRE_OK(page);
  return page->messages;
}

NewAccount Account(const std::string& name) { return NewAccount{name, "password-" + name, "", "", ""}; }

// A small PNG-looking upload by `s`, complete.
Attachment Upload(Fixture& f, const Session& s) {
  std::string data("\x89PNG\r\n\x1a\n", 8);
  data.resize(600, 'p');
  auto ticket = f.service->CreateAttachment(s.user.id, NewAttachment{AttachmentKind::kImage, "image/png", data.size(),
                                                                     detail::Sha256Hex(data)});
  REQUIRE_OK(ticket);
  auto up = f.service->BeginUpload(s.user.id, ticket->attachment.id);
  REQUIRE_OK(up);
  REQUIRE_OK((*up)->Write(data));
  auto done = (*up)->Finish();
  REQUIRE_OK(done);
  return *done;
}

}  // namespace

TEST_CASE("an invitation registers as many accounts as it has uses and then its code is refused",
          "[contract][admin][invites]") {
  Fixture f(test::StoreBackend());
  auto made = f.service->CreateInvite(2, 0, "for the team");
  REQUIRE_OK(made);
  CHECK(made->code.size() == 24);
  CHECK(made->invite.id == made->code.substr(0, 8));
  // The store holds a digest, never the code.
  auto stored = f.store->GetInvite(made->invite.id);
  REQUIRE_OK(stored);
  CHECK(stored->code_hash != made->code);
  CHECK(stored->note == "for the team");
  CHECK(stored->uses == 0);

  REQUIRE_OK(f.service->RegisterWithInvite(Account("ann"), made->code));
  // A taken username uses nothing up.
  CHECK_CODE(f.service->RegisterWithInvite(Account("ann"), made->code), StatusCode::kAlreadyExists);
  REQUIRE_OK(f.service->RegisterWithInvite(Account("ben"), made->code));
  CHECK_CODE(f.service->RegisterWithInvite(Account("cy"), made->code), StatusCode::kPermissionDenied);
  auto used = f.store->GetInvite(made->invite.id);
  REQUIRE_OK(used);
  CHECK(used->uses == 2);
  REQUIRE_OK(f.service->Login("ben", "password-ben", {"phone", "test"}));

  // A wrong code with a right id, a code of another shape, an unknown id: one answer for all.
  std::string wrong = made->code;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  auto other = f.service->CreateInvite(1, 0, "");
  REQUIRE_OK(other);
  std::string forged = other->code;
  forged.back() = forged.back() == '0' ? '1' : '0';
  CHECK_CODE(f.service->RegisterWithInvite(Account("dee"), forged), StatusCode::kPermissionDenied);
  CHECK_CODE(f.service->RegisterWithInvite(Account("dee"), "not-a-code"), StatusCode::kPermissionDenied);
  CHECK_CODE(f.service->RegisterWithInvite(Account("dee"), "ffffffffffffffffffffffff"), StatusCode::kPermissionDenied);
  CHECK_CODE(f.store->GetInvite("ffffffff"), StatusCode::kPermissionDenied);
  CHECK_CODE(f.service->CreateInvite(0, 0, ""), StatusCode::kInvalidArgument);
}

TEST_CASE("an expired or revoked invitation is refused and invitations are listed by id and exported",
          "[contract][admin][invites]") {
  Fixture f(test::StoreBackend());
  auto expiring = f.service->CreateInvite(5, 60'000, "");
  auto revoked = f.service->CreateInvite(5, 0, "");
  REQUIRE_OK(expiring);
  REQUIRE_OK(revoked);
  REQUIRE_OK(f.service->RevokeInvite(revoked->invite.id));
  CHECK_CODE(f.service->RevokeInvite(revoked->invite.id), StatusCode::kNotFound);
  CHECK_CODE(f.service->RegisterWithInvite(Account("ann"), revoked->code), StatusCode::kPermissionDenied);
  f.clock.Advance(60'000);
  CHECK_CODE(f.service->RegisterWithInvite(Account("ann"), expiring->code), StatusCode::kPermissionDenied);
  CHECK_CODE(f.store->CreateInvite(expiring->invite), StatusCode::kAlreadyExists);

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto made = f.service->CreateInvite(1, 0, "n" + std::to_string(i));
    REQUIRE_OK(made);
    ids.push_back(made->invite.id);
  }
  ids.push_back(expiring->invite.id);
  std::sort(ids.begin(), ids.end());
  auto first = f.service->ListInvites("", 2);
  REQUIRE_OK(first);
  REQUIRE(first->size() == 2);
  auto rest = f.service->ListInvites(first->back().id, 10);
  REQUIRE_OK(rest);
  std::vector<std::string> listed;
  for (const auto& v : *first) listed.push_back(v.id);
  for (const auto& v : *rest) listed.push_back(v.id);
  CHECK(listed == ids);

  Fixture g(test::StoreBackend());
  std::size_t invites = 0;
  REQUIRE_OK(f.store->Export([&](const StoreRecord& r) {
    if (std::holds_alternative<Invite>(r.entity)) ++invites;
    return g.store->Import(r);
  }));
  CHECK(invites == 4);
  auto copied = g.store->GetInvite(expiring->invite.id);
  REQUIRE_OK(copied);
  CHECK(copied->code_hash == f.store->GetInvite(expiring->invite.id)->code_hash);
  CHECK(copied->expires_at == expiring->invite.expires_at);
}

TEST_CASE("erasing a message as the server tombstones it with a deletion entry from no one",
          "[contract][admin]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  auto sent = f.service->Send(test::TextMessage(alice, chat->id, "c1", "secret words"));
  REQUIRE_OK(sent);
  auto erased = f.store->EraseMessage(chat->id, sent->message.seq, f.clock.NowMs(), {});
  REQUIRE_OK(erased);
  CHECK(erased->kind == MessageKind::kDeletion);
  CHECK(erased->sender == 0);
  CHECK(erased->ref_seq == sent->message.seq);
  CHECK_CODE(f.store->EraseMessage(chat->id, sent->message.seq, f.clock.NowMs(), {}), StatusCode::kNotFound);
  CHECK_CODE(f.store->EraseMessage(chat->id, 99, f.clock.NowMs(), {}), StatusCode::kNotFound);
  auto log = Log(f, alice, chat->id);
  REQUIRE(log.size() == 3);
  CHECK(log[1].deleted);
  CHECK(log[1].body.empty());
  CHECK(log[2].kind == MessageKind::kDeletion);
}

TEST_CASE("a password reset ends every session and only the new password logs in", "[contract][admin]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice");
  auto phone = f.NewDevice("alice");
  auto removed = f.service->ResetPassword(alice.user.id, "a-brand-new-password");
  REQUIRE_OK(removed);
  CHECK(removed->size() == 2);
  CHECK_CODE(f.service->Resume(alice.token), StatusCode::kUnauthenticated);
  CHECK_CODE(f.service->Resume(phone.token), StatusCode::kUnauthenticated);
  CHECK_CODE(f.service->Login("alice", "password-alice", {"phone", "x"}), StatusCode::kUnauthenticated);
  REQUIRE_OK(f.service->Login("alice", "a-brand-new-password", {"phone", "x"}));
  CHECK_CODE(f.service->ResetPassword(9999, "a-brand-new-password"), StatusCode::kNotFound);
}

TEST_CASE("deleting a user tombstones their messages and erases their devices and memberships and blocks and uploads",
          "[contract][admin]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice"), bob = f.NewUser("bob"), carol = f.NewUser("carol");
  auto group = f.service->CreateGroup(alice.user.id, "g", {bob.user.id, carol.user.id});
  REQUIRE_OK(group);
  auto direct = f.service->CreateDirect(bob.user.id, carol.user.id);
  REQUIRE_OK(direct);
  const Attachment photo = Upload(f, bob);
  SendRequest with_photo = test::TextMessage(bob, group->id, "p", "");
  with_photo.kind = MessageKind::kImage;
  with_photo.attachments = {photo.id};
  REQUIRE_OK(f.service->Send(with_photo));
  REQUIRE_OK(f.service->Send(test::TextMessage(bob, group->id, "b1", "from bob")));
  REQUIRE_OK(f.service->Send(test::TextMessage(bob, direct->id, "b2", "to carol")));
  REQUIRE_OK(f.service->Send(test::TextMessage(alice, group->id, "a1", "from alice")));
  REQUIRE_OK(f.service->BlockUser(bob.user.id, alice.user.id));
  REQUIRE_OK(f.service->BlockUser(carol.user.id, bob.user.id));

  auto deleted = f.service->DeleteUser(bob.user.id);
  REQUIRE_OK(deleted);
  CHECK(deleted->messages == 3);
  CHECK(deleted->chats == 2);
  CHECK(deleted->devices == 1);
  CHECK(deleted->blocks == 2);
  CHECK(deleted->attachments == 1);

  CHECK_CODE(f.store->GetUser(bob.user.id), StatusCode::kNotFound);
  CHECK_CODE(f.store->FindUserByName("bob"), StatusCode::kNotFound);
  CHECK_CODE(f.service->Resume(bob.token), StatusCode::kUnauthenticated);
  auto devices = f.store->ListDevices(bob.user.id);
  REQUIRE_OK(devices);
  CHECK(devices->empty());
  auto chats = f.store->ListUserChats(bob.user.id);
  REQUIRE_OK(chats);
  CHECK(chats->empty());
  CHECK_CODE(f.store->GetAttachment(photo.id), StatusCode::kNotFound);
  auto blocked = f.store->ListBlocked(carol.user.id);
  REQUIRE_OK(blocked);
  CHECK(blocked->empty());
  // Bob's messages are tombstones everywhere; alice's stays.
  for (const Message& m : Log(f, alice, group->id)) {
    if (m.sender == bob.user.id && IsUserContent(m.kind)) {
      CHECK(m.deleted);
      CHECK(m.body.empty());
      CHECK(m.attachments.empty());
    }
    if (m.sender == alice.user.id && m.kind == MessageKind::kText) CHECK(m.body == "from alice");
  }
  for (const Message& m : Log(f, carol, direct->id)) {
    if (m.sender == bob.user.id && IsUserContent(m.kind)) CHECK(m.deleted);
  }
  // The name is free again, under a new id.
  auto again = f.service->Register(Account("bob"));
  REQUIRE_OK(again);
  CHECK(again->id != bob.user.id);
  CHECK_CODE(f.service->DeleteUser(bob.user.id), StatusCode::kNotFound);
}

TEST_CASE("deleting a chat removes it with its log and memberships and the pair may start a new direct chat",
          "[contract][admin]") {
  Fixture f(test::StoreBackend());
  auto alice = f.NewUser("alice"), bob = f.NewUser("bob");
  auto direct = f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(direct);
  auto group = f.service->CreateGroup(alice.user.id, "kept", {bob.user.id});
  REQUIRE_OK(group);
  for (int i = 0; i < 5; ++i) {
    REQUIRE_OK(f.service->Send(test::TextMessage(alice, direct->id, "d" + std::to_string(i), "x")));
  }
  REQUIRE_OK(f.service->Send(test::TextMessage(bob, group->id, "g", "still here")));
  REQUIRE_OK(f.service->MarkRead(bob.user.id, direct->id, Seq{3}));

  auto members = f.service->DeleteChat(direct->id);
  REQUIRE_OK(members);
  CHECK(*members == 2);
  CHECK_CODE(f.store->GetChat(direct->id), StatusCode::kNotFound);
  auto log = f.store->ReadMessages(direct->id, 0, 10);
  REQUIRE_OK(log);
  CHECK(log->empty());
  CHECK_CODE(f.service->DeleteChat(direct->id), StatusCode::kNotFound);
  for (const Session* s : {&alice, &bob}) {
    auto chats = f.store->ListUserChats(s->user.id);
    REQUIRE_OK(chats);
    REQUIRE(chats->size() == 1);
    CHECK(chats->front().chat == group->id);
  }
  auto fresh = f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(fresh);
  CHECK(fresh->id != direct->id);
  REQUIRE_OK(f.service->Send(test::TextMessage(alice, fresh->id, "n", "again")));
  CHECK(Log(f, bob, group->id).back().body == "still here");
}
