// The attachment contract of store.h and service.h, on every backend (mem://, and LevelDB with a
// file:// blob store in a temp dir): announce, upload, send, download, limits, retention, export.
#include <string>

#include "crypto.h"
#include "backends.h"

using namespace chat;
using chat::test::Fixture;

namespace {

using detail::Sha256Hex;

// A tiny but well-signed PNG-looking file: the signature, then filler.
std::string Png(std::size_t size = 1000) {
  std::string data("\x89PNG\r\n\x1a\n", 8);
  data.resize(size, 'p');
  return data;
}

NewAttachment Announce(AttachmentKind kind, const std::string& mime, const std::string& data) {
  return NewAttachment{kind, mime, data.size(), Sha256Hex(data)};
}

// Announces and uploads `data` (in two writes) as `user`; returns the complete attachment.
Attachment Upload(Fixture& f, const Session& s, const std::string& data, AttachmentKind kind = AttachmentKind::kImage,
                  const std::string& mime = "image/png") {
  auto ticket = f.service->CreateAttachment(s.user.id, Announce(kind, mime, data));
  REQUIRE_OK(ticket);
  auto up = f.service->BeginUpload(s.user.id, ticket->attachment.id);
  REQUIRE_OK(up);
  REQUIRE_OK((*up)->Write(std::string_view(data).substr(0, data.size() / 2)));
  REQUIRE_OK((*up)->Write(std::string_view(data).substr(data.size() / 2)));
  auto done = (*up)->Finish();
  REQUIRE_OK(done);
  return *done;
}

SendRequest WithAttachments(const Session& s, ChatId chat, const std::string& client_id, std::vector<std::string> ids) {
  SendRequest r = test::TextMessage(s, chat, client_id, "");
  r.kind = MessageKind::kImage;
  r.attachments = std::move(ids);
  return r;
}

std::string ReadAll(BlobReader& reader) {
  std::string out;
  for (;;) {
    auto chunk = reader.ReadAt(out.size(), 4096);
    REQUIRE_OK(chunk);
    if (chunk->empty()) return out;
    out += *chunk;
  }
}

}  // namespace

TEST_CASE("an attachment is announced, uploaded, sent and read back by chat members only", "[contract][attachments]") {
  Fixture f(test::StoreBackend());
  Session alice = f.NewUser("alice");
  Session bob = f.NewUser("bob");
  Session eve = f.NewUser("eve");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {bob.user.id});
  REQUIRE_OK(chat);

  const std::string data = Png(5000);
  auto ticket = f.service->CreateAttachment(alice.user.id, Announce(AttachmentKind::kImage, "image/png", data));
  REQUIRE_OK(ticket);
  CHECK(ticket->upload_path == "/v1/attachments/" + ticket->attachment.id);
  CHECK(ticket->attachment.state == AttachmentState::kPending);
  CHECK(ticket->expires_at == f.clock.NowMs() + ServiceOptions{}.attachment_orphan_ttl_ms);
  const std::string id = ticket->attachment.id;

  // Pending: nobody can send it or read it yet; only its uploader may upload it.
  CHECK_CODE(f.service->Send(WithAttachments(alice, chat->id, "m0", {id})), StatusCode::kFailedPrecondition);
  CHECK_CODE(f.service->OpenAttachment(alice.user.id, id), StatusCode::kFailedPrecondition);
  CHECK_CODE(f.service->OpenAttachment(bob.user.id, id), StatusCode::kNotFound);
  CHECK_CODE(f.service->BeginUpload(eve.user.id, id), StatusCode::kPermissionDenied);

  auto up = f.service->BeginUpload(alice.user.id, id);
  REQUIRE_OK(up);
  REQUIRE_OK((*up)->Write(data));
  auto complete = (*up)->Finish();
  REQUIRE_OK(complete);
  CHECK(complete->state == AttachmentState::kComplete);
  CHECK_CODE(f.service->BeginUpload(alice.user.id, id), StatusCode::kFailedPrecondition);

  // Before it is sent, only the uploader may read it.
  CHECK_CODE(f.service->OpenAttachment(bob.user.id, id), StatusCode::kPermissionDenied);
  auto sent = f.service->Send(WithAttachments(alice, chat->id, "m1", {id}));
  REQUIRE_OK(sent);
  CHECK(sent->message.attachments == std::vector<std::string>{id});

  auto refs = f.store->ListAttachmentRefs(id);
  REQUIRE_OK(refs);
  REQUIRE(refs->size() == 1);
  CHECK((*refs)[0].chat == chat->id);
  CHECK((*refs)[0].seq == sent->message.seq);

  for (const Session* reader : {&alice, &bob}) {
    auto dl = f.service->OpenAttachment(reader->user.id, id);
    REQUIRE_OK(dl);
    CHECK(dl->attachment.sha256 == Sha256Hex(data));
    CHECK(dl->reader->size() == data.size());
    CHECK(ReadAll(*dl->reader) == data);
  }
  // A stranger may neither read it nor forward it.
  CHECK_CODE(f.service->OpenAttachment(eve.user.id, id), StatusCode::kPermissionDenied);
  auto eves = f.service->CreateGroup(eve.user.id, "e", {});
  REQUIRE_OK(eves);
  CHECK_CODE(f.service->Send(WithAttachments(eve, eves->id, "fwd", {id})), StatusCode::kPermissionDenied);
  // A member may forward it to another chat, whose members may then read it.
  auto bob_eve = f.service->CreateDirect(bob.user.id, eve.user.id);
  REQUIRE_OK(bob_eve);
  REQUIRE_OK(f.service->Send(WithAttachments(bob, bob_eve->id, "fwd", {id})));
  REQUIRE_OK(f.service->OpenAttachment(eve.user.id, id));
}

TEST_CASE("attachment limits and bad input are refused with typed errors and change nothing", "[contract][attachments][limits]") {
  Fixture f(test::StoreBackend());
  ServiceOptions opts;
  opts.clock = &f.clock;
  opts.password_cost = PasswordCost::kMinimum;
  opts.limits.max_image_bytes = 2000;
  opts.limits.attachment_bytes_per_day = 5000;
  opts.limits.max_attachments_per_message = 2;
  auto made = ChatService::Create(opts, f.store, f.bus, f.blobs);
  REQUIRE_OK(made);
  f.service = std::move(*made);
  Session alice = f.NewUser("alice");
  const UserId a = alice.user.id;
  const std::string png = Png(1500);
  const std::string sum = Sha256Hex(png);

  // Per-kind size, MIME types and fields.
  CHECK_CODE(f.service->CreateAttachment(a, {AttachmentKind::kImage, "image/png", 2001, sum}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->CreateAttachment(a, {AttachmentKind::kImage, "image/png", 0, sum}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->CreateAttachment(a, {AttachmentKind::kImage, "image/tiff", 100, sum}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->CreateAttachment(a, {AttachmentKind::kImage, "video/mp4", 100, sum}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->CreateAttachment(a, {AttachmentKind::kDocument, "image/png", 100, sum}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->CreateAttachment(a, {AttachmentKind::kDocument, "Text/Plain", 100, sum}), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->CreateAttachment(a, {AttachmentKind::kImage, "image/png", 100, "abc"}), StatusCode::kInvalidArgument);
  REQUIRE_OK(f.service->CreateAttachment(a, {AttachmentKind::kDocument, "text/plain", 100, sum}));

  // The daily quota counts announced bytes: 100 + 3 x 1500 = 4600 of 5000; 1500 more do not fit.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(Upload(f, alice, png).id);
  CHECK_CODE(f.service->CreateAttachment(a, Announce(AttachmentKind::kImage, "image/png", png)),
             StatusCode::kResourceExhausted);
  // The next UTC day has a fresh quota.
  f.clock.Advance(kMsPerDay);
  REQUIRE_OK(f.service->CreateAttachment(a, Announce(AttachmentKind::kImage, "image/png", png)));

  // Per-message count, duplicates, unknown ids.
  auto chat = f.service->CreateGroup(a, "g", {});
  REQUIRE_OK(chat);
  CHECK_CODE(f.service->Send(WithAttachments(alice, chat->id, "c1", ids)), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Send(WithAttachments(alice, chat->id, "c2", {ids[0], ids[0]})), StatusCode::kInvalidArgument);
  CHECK_CODE(f.service->Send(WithAttachments(alice, chat->id, "c3", {"0123456789abcdef0123456789abcdef"})),
             StatusCode::kNotFound);
  auto head = f.store->Head(chat->id);
  REQUIRE_OK(head);
  CHECK(*head == 1);  // Nothing was appended.
  REQUIRE_OK(f.service->Send(WithAttachments(alice, chat->id, "c4", {ids[0], ids[1]})));
}

TEST_CASE("an upload must match the declared size, checksum and type, or it leaves nothing", "[contract][attachments][upload]") {
  Fixture f(test::StoreBackend());
  Session alice = f.NewUser("alice");
  const UserId a = alice.user.id;
  const std::string png = Png(3000);

  SECTION("checksum mismatch") {
    NewAttachment n = Announce(AttachmentKind::kImage, "image/png", png);
    n.sha256 = Sha256Hex(png + "x");
    auto t = f.service->CreateAttachment(a, n);
    REQUIRE_OK(t);
    auto up = f.service->BeginUpload(a, t->attachment.id);
    REQUIRE_OK(up);
    REQUIRE_OK((*up)->Write(png));
    CHECK_CODE((*up)->Finish(), StatusCode::kInvalidArgument);
    auto stored = f.store->GetAttachment(t->attachment.id);
    REQUIRE_OK(stored);
    CHECK(stored->state == AttachmentState::kPending);
    CHECK_CODE(f.blobs->Open(t->attachment.id), StatusCode::kNotFound);
    // A correct upload may follow.
    CHECK_CODE(f.service->BeginUpload(a, t->attachment.id), StatusCode::kOk);
  }
  SECTION("magic bytes that say another type") {
    std::string jpeg = png;
    jpeg.replace(0, 8, "\xff\xd8\xff\xe0\x00\x10JF", 8);
    auto t = f.service->CreateAttachment(a, Announce(AttachmentKind::kImage, "image/png", jpeg));
    REQUIRE_OK(t);
    auto up = f.service->BeginUpload(a, t->attachment.id);
    REQUIRE_OK(up);
    CHECK_CODE((*up)->Write(jpeg.substr(0, 5)), StatusCode::kOk);  // Not enough bytes to tell yet.
    CHECK_CODE((*up)->Write(jpeg.substr(5)), StatusCode::kInvalidArgument);
    CHECK_CODE((*up)->Finish(), StatusCode::kInvalidArgument);
    CHECK_CODE(f.blobs->Open(t->attachment.id), StatusCode::kNotFound);
  }
  SECTION("more or fewer bytes than declared") {
    auto t = f.service->CreateAttachment(a, Announce(AttachmentKind::kImage, "image/png", png));
    REQUIRE_OK(t);
    auto up = f.service->BeginUpload(a, t->attachment.id);
    REQUIRE_OK(up);
    REQUIRE_OK((*up)->Write(png.substr(0, 100)));
    CHECK_CODE((*up)->Finish(), StatusCode::kInvalidArgument);
    auto again = f.service->BeginUpload(a, t->attachment.id);
    REQUIRE_OK(again);
    CHECK_CODE((*again)->Write(png + "extra"), StatusCode::kInvalidArgument);
    CHECK_CODE(f.blobs->Open(t->attachment.id), StatusCode::kNotFound);
  }
  SECTION("documents of a type without a signature are not checked") {
    const std::string text = "just some text";
    Attachment doc = Upload(f, alice, text, AttachmentKind::kDocument, "text/plain");
    CHECK(doc.state == AttachmentState::kComplete);
  }
}

TEST_CASE("retention deletes abandoned uploads and attachments no kept message references, bytes included", "[contract][attachments][retention]") {
  Fixture f(test::StoreBackend());
  Session alice = f.NewUser("alice");
  const TimeMs ttl = ServiceOptions{}.attachment_orphan_ttl_ms;
  auto chat = f.service->CreateGroup(alice.user.id, "g", {}, {}, 0, 2 * kMsPerDay);
  REQUIRE_OK(chat);

  // Abandoned: announced, half uploaded, never finished.
  auto abandoned = f.service->CreateAttachment(alice.user.id, Announce(AttachmentKind::kImage, "image/png", Png()));
  REQUIRE_OK(abandoned);
  {
    auto up = f.service->BeginUpload(alice.user.id, abandoned->attachment.id);
    REQUIRE_OK(up);
    REQUIRE_OK((*up)->Write(Png().substr(0, 10)));
  }
  Attachment unsent = Upload(f, alice, Png(2000));
  Attachment sent = Upload(f, alice, Png(3000));
  REQUIRE_OK(f.service->Send(WithAttachments(alice, chat->id, "m", {sent.id})));

  // Within the grace period nothing goes.
  f.clock.Advance(ttl - 1);
  auto early = f.service->RunRetention();
  REQUIRE_OK(early);
  CHECK(early->attachments_deleted == 0);

  f.clock.Advance(1);
  auto swept = f.service->RunRetention();
  REQUIRE_OK(swept);
  CHECK(swept->attachments_deleted == 2);
  CHECK_CODE(f.store->GetAttachment(abandoned->attachment.id), StatusCode::kNotFound);
  CHECK_CODE(f.store->GetAttachment(unsent.id), StatusCode::kNotFound);
  CHECK_CODE(f.blobs->Open(unsent.id), StatusCode::kNotFound);
  REQUIRE_OK(f.service->OpenAttachment(alice.user.id, sent.id));

  // The message expires after 2 days: the attachment is unreferenced from then, and goes one grace
  // period later.
  f.clock.Advance(2 * kMsPerDay);
  auto expired = f.service->RunRetention();
  REQUIRE_OK(expired);
  CHECK(expired->messages_deleted >= 1);
  CHECK(expired->attachments_deleted == 0);
  auto refs = f.store->ListAttachmentRefs(sent.id);
  REQUIRE_OK(refs);
  CHECK(refs->empty());
  f.clock.Advance(ttl);
  auto last = f.service->RunRetention();
  REQUIRE_OK(last);
  CHECK(last->attachments_deleted == 1);
  CHECK_CODE(f.store->GetAttachment(sent.id), StatusCode::kNotFound);
  CHECK_CODE(f.blobs->Open(sent.id), StatusCode::kNotFound);
}

TEST_CASE("deleting the only message that references an attachment lets retention collect it", "[contract][attachments][retention]") {
  Fixture f(test::StoreBackend());
  Session alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  Attachment a = Upload(f, alice, Png());
  auto sent = f.service->Send(WithAttachments(alice, chat->id, "m", {a.id}));
  REQUIRE_OK(sent);
  REQUIRE_OK(f.service->DeleteMessage(alice.user.id, alice.device.id, chat->id, sent->message.seq));
  auto refs = f.store->ListAttachmentRefs(a.id);
  REQUIRE_OK(refs);
  CHECK(refs->empty());
  f.clock.Advance(ServiceOptions{}.attachment_orphan_ttl_ms);
  auto swept = f.service->RunRetention();
  REQUIRE_OK(swept);
  CHECK(swept->attachments_deleted == 1);
}

TEST_CASE("export and import keep attachments, their state and their references", "[contract][attachments][export]") {
  Fixture f(test::StoreBackend());
  Session alice = f.NewUser("alice");
  auto chat = f.service->CreateGroup(alice.user.id, "g", {});
  REQUIRE_OK(chat);
  Attachment a = Upload(f, alice, Png());
  auto pending = f.service->CreateAttachment(alice.user.id, Announce(AttachmentKind::kImage, "image/png", Png(10)));
  REQUIRE_OK(pending);
  auto sent = f.service->Send(WithAttachments(alice, chat->id, "m", {a.id}));
  REQUIRE_OK(sent);

  auto copy = test::OpenStore("mem", "");
  REQUIRE_OK(f.store->Export([&](const StoreRecord& r) { return copy->Import(r); }));
  auto got = copy->GetAttachment(a.id);
  REQUIRE_OK(got);
  CHECK(got->state == AttachmentState::kComplete);
  CHECK(got->sha256 == a.sha256);
  CHECK(got->completed_at == a.completed_at);
  auto still_pending = copy->GetAttachment(pending->attachment.id);
  REQUIRE_OK(still_pending);
  CHECK(still_pending->state == AttachmentState::kPending);
  auto refs = copy->ListAttachmentRefs(a.id);
  REQUIRE_OK(refs);
  REQUIRE(refs->size() == 1);
  CHECK((*refs)[0].seq == sent->message.seq);
}
