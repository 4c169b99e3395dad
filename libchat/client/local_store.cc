#include "local_store.h"

#include <cstdio>

#include "client_internal.h"
#include "libchat/registry.h"

namespace chat::client_internal {
namespace {

constexpr std::string_view kSession = "session";
constexpr std::string_view kChat = "chat/";
constexpr std::string_view kCursor = "cursor/";
constexpr std::string_view kMessage = "msg/";
constexpr std::string_view kOutbox = "out/";

// 16 lower-case hex digits: byte-wise order is numeric order.
std::string Hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return std::string(buf, 16);
}

std::uint64_t FromHex(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) v = v * 16 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return v;
}

std::string MessageKey(ChatId chat, Seq seq) { return std::string(kMessage) + Hex(chat) + "/" + Hex(seq); }

// Parses a stored JSON value; Corruption (naming the key) if it does not parse.
template <typename T, typename F>
Result<T> Decode(std::string_view key, std::string_view value, F f) {
  try {
    return f(Json::parse(value));
  } catch (const Json::exception& e) {
    return Status::Corruption("local store: " + std::string(key) + ": " + e.what());
  }
}

}  // namespace

LocalStore::LocalStore(std::unique_ptr<KvEngine> engine) : engine_(std::move(engine)) {}

Result<std::unique_ptr<LocalStore>> LocalStore::Open(const std::string& uri) {
  auto engine = Registry::Default().MakeKvEngine(uri);
  if (!engine.ok()) return engine.error().WithContext("local store " + uri);
  std::unique_ptr<LocalStore> store(new LocalStore(std::move(*engine)));
  // Outbox order continues after the last item kept.
  auto it = store->engine_->NewIterator();
  std::string end = std::string(kOutbox) + "g";  // Past every hex key under out/.
  it->Seek(end);
  if (it->Valid()) it->Prev(); else it->SeekToLast();
  if (it->Valid() && it->key().substr(0, kOutbox.size()) == kOutbox) {
    store->next_order_ = FromHex(it->key().substr(kOutbox.size())) + 1;
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return store;
}

Result<Session> LocalStore::LoadSession() {
  auto v = engine_->Get(kSession);
  if (!v.ok()) return v.error();
  return Decode<Session>(kSession, *v, [](const Json& j) { return SessionFrom(j); });
}

Status LocalStore::SaveSession(const Session& s) {
  auto old = LoadSession();
  if (old.ok() && old->user.id != s.user.id) LIBCHAT_RETURN_IF_ERROR(Clear());
  KvBatch b;
  b.Put(std::string(kSession), Dump(SessionJson(s)));
  return engine_->Write(b, /*sync=*/true);
}

Status LocalStore::ClearPrefix(const std::string& prefix, KvBatch* batch) {
  auto it = engine_->NewIterator();
  for (it->Seek(prefix); it->Valid() && it->key().substr(0, prefix.size()) == prefix; it->Next()) {
    batch->Delete(std::string(it->key()));
  }
  return it->status();
}

Status LocalStore::Clear() {
  KvBatch b;
  b.Delete(std::string(kSession));
  for (auto prefix : {kChat, kCursor, kMessage, kOutbox}) LIBCHAT_RETURN_IF_ERROR(ClearPrefix(std::string(prefix), &b));
  return engine_->Write(b, /*sync=*/true);
}

Status LocalStore::PutChat(const ChatSummary& s) {
  KvBatch b;
  b.Put(std::string(kChat) + Hex(s.chat.id), Dump(SummaryJson(s)));
  return engine_->Write(b, /*sync=*/false);
}

Status LocalStore::RemoveChat(ChatId chat) {
  KvBatch b;
  b.Delete(std::string(kChat) + Hex(chat));
  b.Delete(std::string(kCursor) + Hex(chat));
  LIBCHAT_RETURN_IF_ERROR(ClearPrefix(std::string(kMessage) + Hex(chat) + "/", &b));
  return engine_->Write(b, /*sync=*/false);
}

Result<std::vector<ChatSummary>> LocalStore::Chats() {
  std::vector<ChatSummary> out;
  auto it = engine_->NewIterator();
  for (it->Seek(kChat); it->Valid() && it->key().substr(0, kChat.size()) == kChat; it->Next()) {
    auto s = Decode<ChatSummary>(it->key(), it->value(), [](const Json& j) { return SummaryFrom(j); });
    if (!s.ok()) return s.error();
    out.push_back(std::move(*s));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Status LocalStore::PutEntries(ChatId chat, const std::vector<Message>& entries, Seq cursor) {
  KvBatch b;
  for (const Message& m : entries) {
    const std::string key = MessageKey(chat, m.seq);
    // A tombstone stays one: a copy of the message from before its deletion must not revive it.
    if (!m.deleted) {
      auto had = engine_->Get(key);
      if (had.ok()) {
        auto old = Decode<Message>(key, *had, [](const Json& j) { return MessageFrom(j); });
        if (old.ok() && old->deleted) continue;
      }
    }
    b.Put(key, Dump(MessageJson(m)));
  }
  if (cursor > 0) b.Put(std::string(kCursor) + Hex(chat), std::to_string(cursor));
  if (b.empty()) return Status::Ok();
  return engine_->Write(b, /*sync=*/false);
}

Status LocalStore::Tombstone(ChatId chat, Seq seq) {
  const std::string key = MessageKey(chat, seq);
  auto had = engine_->Get(key);
  if (!had.ok()) return had.error().IsNotFound() ? Status::Ok() : had.error();
  auto m = Decode<Message>(key, *had, [](const Json& j) { return MessageFrom(j); });
  if (!m.ok()) return m.error();
  m->deleted = true;
  m->body.clear();
  m->attachments.clear();
  KvBatch b;
  b.Put(key, Dump(MessageJson(*m)));
  return engine_->Write(b, /*sync=*/false);
}

Result<std::vector<Message>> LocalStore::Messages(ChatId chat, std::size_t limit, Seq before) {
  std::vector<Message> out;
  const std::string prefix = std::string(kMessage) + Hex(chat) + "/";
  auto it = engine_->NewIterator();
  // Newest first from `before`, then reversed.
  it->Seek(before == 0 ? prefix + "g" : MessageKey(chat, before));
  if (it->Valid()) it->Prev(); else it->SeekToLast();
  for (; it->Valid() && out.size() < limit && it->key().substr(0, prefix.size()) == prefix; it->Prev()) {
    auto m = Decode<Message>(it->key(), it->value(), [](const Json& j) { return MessageFrom(j); });
    if (!m.ok()) return m.error();
    out.push_back(std::move(*m));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return std::vector<Message>(out.rbegin(), out.rend());
}

Result<std::map<ChatId, Seq>> LocalStore::Cursors() {
  std::map<ChatId, Seq> out;
  auto it = engine_->NewIterator();
  for (it->Seek(kCursor); it->Valid() && it->key().substr(0, kCursor.size()) == kCursor; it->Next()) {
    out[FromHex(it->key().substr(kCursor.size()))] = std::stoull(std::string(it->value()));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Status LocalStore::AddOutbox(const OutboxItem& item) {
  std::lock_guard<std::mutex> lock(mu_);
  KvBatch b;
  b.Put(std::string(kOutbox) + Hex(next_order_), Dump(OutboxJson(item)));
  // Synced: once Post returns, the message survives a crash of this program and of the machine.
  LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, /*sync=*/true));
  ++next_order_;
  return Status::Ok();
}

Result<std::vector<OutboxItem>> LocalStore::Outbox() {
  std::vector<OutboxItem> out;
  auto it = engine_->NewIterator();
  for (it->Seek(kOutbox); it->Valid() && it->key().substr(0, kOutbox.size()) == kOutbox; it->Next()) {
    auto o = Decode<OutboxItem>(it->key(), it->value(), [](const Json& j) { return OutboxFrom(j); });
    if (!o.ok()) return o.error();
    out.push_back(std::move(*o));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Result<std::string> LocalStore::OutboxKey(const std::string& client_id) {
  auto it = engine_->NewIterator();
  for (it->Seek(kOutbox); it->Valid() && it->key().substr(0, kOutbox.size()) == kOutbox; it->Next()) {
    auto o = Decode<OutboxItem>(it->key(), it->value(), [](const Json& j) { return OutboxFrom(j); });
    if (o.ok() && o->client_id == client_id) return std::string(it->key());
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return Status::NotFound("outbox has no message " + client_id);
}

Status LocalStore::RemoveOutbox(const std::string& client_id) {
  auto key = OutboxKey(client_id);
  if (!key.ok()) return key.error().IsNotFound() ? Status::Ok() : key.error();
  KvBatch b;
  b.Delete(*key);
  return engine_->Write(b, /*sync=*/true);
}

Status LocalStore::FailOutbox(const std::string& client_id, const std::string& error) {
  auto key = OutboxKey(client_id);
  if (!key.ok()) return key.error();
  auto v = engine_->Get(*key);
  if (!v.ok()) return v.error();
  auto item = Decode<OutboxItem>(*key, *v, [](const Json& j) { return OutboxFrom(j); });
  if (!item.ok()) return item.error();
  item->error = error;
  KvBatch b;
  b.Put(*key, Dump(OutboxJson(*item)));
  return engine_->Write(b, /*sync=*/true);
}

}  // namespace chat::client_internal
