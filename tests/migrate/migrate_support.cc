#include "migrate_support.h"

#include <sstream>

#include "crypto.h"

namespace chat::test {
namespace {

class CountingIterator final : public KvIterator {
 public:
  CountingIterator(std::unique_ptr<KvIterator> base, std::atomic<long>* steps)
      : base_(std::move(base)), steps_(steps) {}
  void Seek(std::string_view target) override {
    Step();
    base_->Seek(target);
  }
  void SeekToLast() override {
    Step();
    base_->SeekToLast();
  }
  bool Valid() const override { return base_->Valid(); }
  void Next() override {
    Step();
    base_->Next();
  }
  void Prev() override {
    Step();
    base_->Prev();
  }
  std::string_view key() const override { return base_->key(); }
  std::string_view value() const override { return base_->value(); }
  Status status() const override { return base_->status(); }

 private:
  void Step() {
    if (steps_ != nullptr) steps_->fetch_add(1);
  }
  std::unique_ptr<KvIterator> base_;
  std::atomic<long>* steps_;
};

Message Send(Fixture& f, const Session& s, ChatId chat, const std::string& client_id, const std::string& body,
             Seq reply_to = 0, MessageKind kind = MessageKind::kText, std::vector<std::string> attachments = {}) {
  SendRequest r = TextMessage(s, chat, client_id, body);
  r.kind = kind;
  r.attachments = std::move(attachments);
  r.reply_to = reply_to;
  auto sent = f.service->Send(r);
  REQUIRE_OK(sent);
  f.clock.Advance(1000);
  return sent->message;
}

// Announces and uploads a small PNG-signed file as `s`; its attachment id.
std::string UploadPng(Fixture& f, const Session& s, const std::string& filler) {
  const std::string data = std::string("\x89PNG\r\n\x1a\n", 8) + filler;
  auto ticket = f.service->CreateAttachment(
      s.user.id, NewAttachment{AttachmentKind::kImage, "image/png", data.size(), detail::Sha256Hex(data)});
  REQUIRE_OK(ticket);
  auto up = f.service->BeginUpload(s.user.id, ticket->attachment.id);
  REQUIRE_OK(up);
  REQUIRE_OK((*up)->Write(data));
  REQUIRE_OK((*up)->Finish());
  return ticket->attachment.id;
}

}  // namespace

std::unique_ptr<KvIterator> EngineRef::NewIterator() {
  return std::make_unique<CountingIterator>(base_->NewIterator(), steps_);
}

World Populate(Fixture& f) {
  World w;
  ChatService& svc = *f.service;
  w.alice = f.NewUser("alice");
  w.bob = f.NewUser("bob");
  w.carol = f.NewUser("carol");
  w.alice_laptop = f.NewDevice("alice");
  REQUIRE_OK(svc.SetPushToken(w.alice.user.id, w.alice.device.id, "webhook", "https://push.example/alice"));
  REQUIRE_OK(svc.SetLastSeenVisibility(w.bob.user.id, LastSeenVisibility::kNobody));

  auto group = svc.CreateGroup(w.alice.user.id, "team", {w.bob.user.id, w.carol.user.id}, R"({"topic":"ops"})");
  REQUIRE_OK(group);
  w.group = group->id;
  auto direct = svc.CreateDirect(w.alice.user.id, w.bob.user.id);
  REQUIRE_OK(direct);
  w.direct = direct->id;
  f.clock.Advance(1000);

  w.bob_first = Send(f, w.bob, w.group, "b1", "hello team");
  Message a1 = Send(f, w.alice, w.group, "a1", "hi bob", w.bob_first.seq);
  // Two uploaded attachments and one announced but never uploaded: the dump carries all three.
  const std::vector<std::string> photos = {UploadPng(f, w.carol, "first"), UploadPng(f, w.carol, "second")};
  UploadPng(f, w.alice, "unsent");
  REQUIRE_OK(svc.CreateAttachment(w.alice.user.id, NewAttachment{AttachmentKind::kDocument, "text/plain", 5,
                                                                  detail::Sha256Hex("hello")}));
  Send(f, w.carol, w.group, "c1", "a photo", 0, MessageKind::kImage, photos);
  Send(f, w.alice, w.direct, "a2", "psst");
  Send(f, w.bob, w.direct, "b2", "ünïcödé ✓ \"quoted\" \\ back\nslash");
  auto deleted = svc.DeleteMessage(w.alice.user.id, w.alice.device.id, w.group, a1.seq);
  REQUIRE_OK(deleted);
  w.deleted = a1.seq;

  ParticipantChange remove_carol;
  remove_carol.remove = {w.carol.user.id};
  REQUIRE_OK(svc.ModifyParticipants(w.alice.user.id, w.group, remove_carol));
  Send(f, w.alice_laptop, w.group, "l1", "from the laptop");

  REQUIRE_OK(svc.Ack(w.bob.user.id, w.bob.device.id, w.group, 3));
  REQUIRE_OK(svc.Ack(w.alice.user.id, w.alice_laptop.device.id, w.direct, 2));
  REQUIRE_OK(svc.MarkRead(w.alice.user.id, w.group, 2));
  REQUIRE_OK(svc.TouchDevice(w.carol.device.id));
  REQUIRE_OK(svc.TouchDevice(w.alice.device.id));
  return w;
}

std::string ExportString(Store& store) {
  std::ostringstream out;
  auto counts = ExportDump(store, out);
  REQUIRE_OK(counts);
  return out.str();
}

std::string EngineSnapshot(KvEngine& engine) {
  std::string s;
  auto it = engine.NewIterator();
  for (it->Seek(""); it->Valid(); it->Next()) {
    s += std::to_string(it->key().size()) + ":" + std::string(it->key()) + "=" + std::to_string(it->value().size()) +
         ":" + std::string(it->value()) + "\n";
  }
  REQUIRE_OK(it->status());
  return s;
}

}  // namespace chat::test
