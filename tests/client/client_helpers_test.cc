// chat::Client's typed helpers against a real chatd: attachments uploaded and downloaded over HTTP with
// progress callbacks, sent as messages of their kind; and the call signalling commands.
#include <catch2/catch.hpp>

#include "libchat/client.h"
#include "test_server.h"

using namespace chat;
using namespace chat::test;

TEST_CASE("attachments go up and come down intact, with progress, and travel in messages of their kind",
          "[client][attachments][integration]") {
  TestServer server;
  RegisterUser(server.chatd(), "alice");
  const UserId bob_id = RegisterUser(server.chatd(), "bob");
  LiveDevice alice = LoginDevice(server.chatd(), "alice", "a");
  LiveDevice bob = LoginDevice(server.chatd(), "bob", "b");
  auto chat = alice.client->CreateDirect(bob_id);
  REQUIRE_OK(chat);

  std::string pdf = "%PDF-1.7\n";
  for (int i = 0; pdf.size() < 3 * 1024 * 1024; ++i) pdf += static_cast<char>('a' + i % 26);
  std::vector<std::uint64_t> up;
  auto a = alice.client->UploadAttachment(AttachmentKind::kDocument, "application/pdf", pdf,
                                          [&up](std::uint64_t done, std::uint64_t total) {
                                            CHECK(total == 3 * 1024 * 1024);
                                            up.push_back(done);
                                          });
  REQUIRE_OK(a);
  CHECK(a->state == AttachmentState::kComplete);
  CHECK(a->size == pdf.size());
  REQUIRE(up.size() > 10);  // In chunks, growing to the whole.
  CHECK(std::is_sorted(up.begin(), up.end()));
  CHECK(up.back() == pdf.size());

  SendOptions as_document;
  as_document.kind = MessageKind::kDocument;
  as_document.attachments = {a->id};
  REQUIRE_OK(alice.client->SendMessage(chat->id, "doc-1", "report.pdf", as_document));
  // The kind must be the attachments': a document is no image, and an image needs an attachment.
  SendOptions wrong = as_document;
  wrong.kind = MessageKind::kImage;
  CHECK_CODE(alice.client->SendMessage(chat->id, "doc-2", "report.pdf", wrong), StatusCode::kInvalidArgument);
  wrong.attachments.clear();
  CHECK_CODE(alice.client->SendMessage(chat->id, "doc-3", "", wrong), StatusCode::kInvalidArgument);

  auto seen = WaitForMessage(*bob.client, chat->id, 2);
  REQUIRE(seen);
  REQUIRE(seen->entry->attachments == std::vector<std::string>{a->id});
  std::uint64_t last_down = 0;
  auto bytes = bob.client->DownloadAttachment(a->id, [&last_down](std::uint64_t done, std::uint64_t) { last_down = done; });
  REQUIRE_OK(bytes);
  CHECK(*bytes == pdf);
  CHECK(last_down == pdf.size());
  // Errors in words: not an id, not there.
  CHECK_CODE(bob.client->DownloadAttachment("../../etc/passwd"), StatusCode::kInvalidArgument);
  CHECK_CODE(bob.client->DownloadAttachment(std::string(32, '0')), StatusCode::kNotFound);
  // A file whose bytes are not what was announced.
  CHECK_CODE(alice.client->UploadAttachment(AttachmentKind::kImage, "image/png", "not a png at all"),
             StatusCode::kInvalidArgument);
}

TEST_CASE("call signalling through the typed helpers", "[client][calls][integration]") {
  TestServer server;
  RegisterUser(server.chatd(), "alice");
  const UserId bob_id = RegisterUser(server.chatd(), "bob");
  LiveDevice alice = LoginDevice(server.chatd(), "alice", "a");
  LiveDevice bob = LoginDevice(server.chatd(), "bob", "b");
  auto chat = alice.client->CreateDirect(bob_id);
  REQUIRE_OK(chat);

  auto invite = alice.client->CallInvite(chat->id, "audio", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n");
  REQUIRE_OK(invite);
  CHECK(invite->callees == std::vector<UserId>{bob_id});
  CHECK(invite->ice_servers == "[]");
  REQUIRE_OK(alice.client->CallIce(invite->call_id, R"({"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0"})"));
  CHECK_CODE(alice.client->CallIce(invite->call_id, "not json"), StatusCode::kInvalidArgument);
  auto ring = bob.client->WaitForEvent([](const ClientEvent& e) { return e.name == "callRing"; }, kWait);
  REQUIRE(ring);
  REQUIRE_OK(bob.client->CallAccept(invite->call_id, "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\n"));
  // The candidate held while it rang reaches bob right after he accepted.
  CHECK(bob.client->WaitForEvent([](const ClientEvent& e) { return e.name == "callIce"; }, kWait));
  CHECK(alice.client->WaitForEvent([](const ClientEvent& e) { return e.name == "callAccepted"; }, kWait));
  auto ended = alice.client->CallHangup(invite->call_id);
  REQUIRE_OK(ended);
  CHECK(ended->outcome == "completed");
  CHECK_CODE(bob.client->CallReject(invite->call_id), StatusCode::kNotFound);
}
