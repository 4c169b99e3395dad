// Who may do what: the device limit, chat membership, presence and its privacy setting.
#include "test_server.h"

namespace chat::test {
namespace {

TEST_CASE("a sixth device is refused with an error naming the limit and how to free a slot", "[integration][access]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  std::vector<LiveDevice> devices;
  for (int i = 0; i < 5; ++i) devices.push_back(LoginDevice(s.chatd(), "alice", "d" + std::to_string(i)));

  auto sixth = s.chatd().Connect();
  auto refused = sixth->Login("alice", PasswordOf("alice"), "phone", "d5");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code() == StatusCode::kFailedPrecondition);
  INFO(refused.error().message());
  CHECK(refused.error().message().find("5 devices") != std::string::npos);
  CHECK(refused.error().message().find("removeDevice") != std::string::npos);

  // Not signed in, with the password: free a slot. The removed device's live connection is closed.
  REQUIRE_OK(sixth->RemoveDevice("alice", PasswordOf("alice"), devices[0].id()));
  auto closed = devices[0].client->WaitForClose(kWait);
  REQUIRE(closed);
  CHECK(closed->code == 4001);
  CHECK(closed->reason == "session revoked");
  // Its token is dead too.
  auto stale = s.chatd().Connect();
  CHECK(stale->Resume(devices[0].session.token).status().code() == StatusCode::kUnauthenticated);

  // Now the sixth login fits.
  REQUIRE_OK(sixth->Login("alice", PasswordOf("alice"), "phone", "d5"));
  auto listed = sixth->ListDevices();
  REQUIRE_OK(listed);
  CHECK(listed->size() == 5);
}

TEST_CASE("non-members cannot send, read, sync or see presence", "[integration][access]") {
  TestServer s;
  const UserId alice = RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  RegisterUser(s.chatd(), "carol");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  LiveDevice c = LoginDevice(s.chatd(), "carol", "c");
  auto chat = a.client->CreateGroup("private", {bob});
  REQUIRE_OK(chat);
  auto first = a.client->SendMessage(chat->id, "m1", "members only");
  REQUIRE_OK(first);

  Client& carol = *c.client;
  CHECK_CODE(carol.SendMessage(chat->id, "intrude", "hi"), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.History(chat->id), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.Sync({{chat->id, 0}}), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.GetChat(chat->id), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.Ack(chat->id, first->message.seq), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.MarkRead(chat->id, first->message.seq), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.Typing(chat->id, true), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.DeleteMessage(chat->id, first->message.seq), StatusCode::kPermissionDenied);
  CHECK_CODE(carol.GetPresence({alice}), StatusCode::kPermissionDenied);
  // A chat that does not exist looks the same as one you are not in.
  CHECK_CODE(carol.SendMessage(chat->id + 1000, "x", "hi"), StatusCode::kPermissionDenied);

  // Nothing changed, and nothing of the chat reached carol.
  auto view = b.client->GetChat(chat->id);
  REQUIRE_OK(view);
  CHECK(view->head == first->message.seq);
  auto second = a.client->SendMessage(chat->id, "m2", "still members only");
  REQUIRE_OK(second);
  REQUIRE(WaitForMessage(*b.client, chat->id, second->message.seq));
  for (const auto& e : carol.TakeEvents()) CHECK(e.chat != chat->id);
  // Carol's own chats do not include it.
  auto chats = carol.ListChats();
  REQUIRE_OK(chats);
  CHECK(chats->empty());
}

TEST_CASE("presence follows connections and honours the last-seen privacy setting", "[integration][presence]") {
  TestServer s;
  const UserId alice = RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  RegisterUser(s.chatd(), "carol");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  LiveDevice c = LoginDevice(s.chatd(), "carol", "c");
  auto is_presence_of = [](UserId u, bool online) {
    return [u, online](const ClientEvent& e) {
      return e.name == "presence" && e.user == u && e.data.find(online ? "\"online\":true" : "\"online\":false") !=
                                                        std::string::npos;
    };
  };
  {
    LiveDevice setup = LoginDevice(s.chatd(), "alice", "setup");
    REQUIRE_OK(setup.client->CreateDirect(bob));
    REQUIRE_OK(setup.client->Logout());
    // The logout is announced; start from a clean slate after it.
    REQUIRE(b.client->WaitForEvent(is_presence_of(alice, false), kWait));
    b.client->TakeEvents();
  }

  // Alice comes online: her chat partner bob is told; carol, who shares no chat, is not.
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  REQUIRE(b.client->WaitForEvent(is_presence_of(alice, true), kWait));
  auto seen = b.client->GetPresence({alice});
  REQUIRE_OK(seen);
  REQUIRE(seen->size() == 1);
  CHECK((*seen)[0].visible);
  CHECK((*seen)[0].online);
  CHECK((*seen)[0].last_seen.has_value());
  CHECK_CODE(c.client->GetPresence({alice}), StatusCode::kPermissionDenied);

  // chat_partners: bob still sees her.
  REQUIRE_OK(a.client->SetPrivacy(LastSeenVisibility::kChatPartners));
  seen = b.client->GetPresence({alice});
  REQUIRE_OK(seen);
  CHECK((*seen)[0].visible);

  // Going offline is announced with the last seen time.
  const Session a_session = a.session;
  a.client.reset();
  auto offline = b.client->WaitForEvent(is_presence_of(alice, false), kWait);
  REQUIRE(offline);
  CHECK(offline->data.find("\"lastSeen\":null") == std::string::npos);
  seen = b.client->GetPresence({alice});
  REQUIRE_OK(seen);
  CHECK((*seen)[0].visible);
  CHECK_FALSE((*seen)[0].online);

  // nobody: neither online state nor last seen, and no events.
  LiveDevice a2 = ResumeDevice(s.chatd(), a_session);
  REQUIRE(b.client->WaitForEvent(is_presence_of(alice, true), kWait));
  REQUIRE_OK(a2.client->SetPrivacy(LastSeenVisibility::kNobody));
  seen = b.client->GetPresence({alice});
  REQUIRE_OK(seen);
  CHECK_FALSE((*seen)[0].visible);
  CHECK_FALSE((*seen)[0].online);
  CHECK_FALSE((*seen)[0].last_seen.has_value());
  a2.client.reset();
  // A negative check needs a bounded wait: announcements take milliseconds.
  CHECK_FALSE(b.client->WaitForEvent(is_presence_of(alice, false), 300ms));
  // Alice still sees herself.
  LiveDevice a3 = ResumeDevice(s.chatd(), a_session);
  auto self = a3.client->GetPresence({alice});
  REQUIRE_OK(self);
  CHECK((*self)[0].visible);
  CHECK((*self)[0].online);
}

TEST_CASE("a password change ends every other session and keeps the changing device signed in",
          "[integration][access]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  LiveDevice phone = LoginDevice(s.chatd(), "alice", "phone");
  LiveDevice laptop = LoginDevice(s.chatd(), "alice", "laptop");
  const std::string old_password = PasswordOf("alice");
  const std::string new_password = "a brand new password";

  // A wrong old password or a too-short new one changes nothing.
  CHECK_CODE(phone.client->ChangePassword("not the password", new_password), StatusCode::kUnauthenticated);
  CHECK_CODE(phone.client->ChangePassword(old_password, "short"), StatusCode::kInvalidArgument);
  CHECK(laptop.client->connected());
  REQUIRE_OK(laptop.client->ListDevices());

  auto token = phone.client->ChangePassword(old_password, new_password);
  REQUIRE_OK(token);
  CHECK(*token != phone.session.token);

  // The other device's live connection is closed as revoked, and its token is dead.
  auto closed = laptop.client->WaitForClose(kWait);
  REQUIRE(closed);
  CHECK(closed->code == 4001);
  CHECK_CODE(s.chatd().Connect()->Resume(laptop.session.token), StatusCode::kUnauthenticated);
  // The changing device goes on on its connection; its old token is void, its new one resumes.
  REQUIRE_OK(phone.client->ListDevices());
  CHECK_CODE(s.chatd().Connect()->Resume(phone.session.token), StatusCode::kUnauthenticated);
  REQUIRE_OK(s.chatd().Connect()->Resume(*token));
  // Only the new password logs in.
  CHECK_CODE(s.chatd().Connect()->Login("alice", old_password, "phone", "again"), StatusCode::kUnauthenticated);
  REQUIRE_OK(s.chatd().Connect()->Login("alice", new_password, "phone", "again"));
  // The signed-out device no longer holds a device slot.
  auto devices = phone.client->ListDevices();
  REQUIRE_OK(devices);
  CHECK(devices->size() == 2);
}

}  // namespace
}  // namespace chat::test
