// KvStore: device cursors (what a device acknowledged) and receipt cursors (what a user received and
// read), written behind: visible to readers at once, on disk with the next commit group.
#include <algorithm>

#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {

Status KvStore::CheckCursorRaise(const ChatState& state, UserId user, ChatId chat, Seq seq) {
  if (FindMember(state, user) == nullptr) {
    return Status::PermissionDenied("not a member of chat " + std::to_string(chat));
  }
  const Seq head = state.durable_head.load(std::memory_order_acquire);
  if (seq > head) {
    return Status::InvalidArgument("seq " + std::to_string(seq) + " is beyond the head " + std::to_string(head) +
                                   " of chat " + std::to_string(chat));
  }
  return Status::Ok();
}

Result<ReceiptCursor> KvStore::Acknowledge(UserId user, DeviceId device, ChatId chat, Seq seq) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
  ChatState& st = *state;
  // Under the chat's lock, so that a member leaving (which deletes these cursors in its batch) and an
  // ack are ordered: an ack after the leave is refused instead of writing a cursor nobody deletes.
  MutexLock lock(&st.mu);
  LIBCHAT_RETURN_IF_ERROR(CheckCursorRaise(st, user, chat, seq));
  LIBCHAT_RETURN_IF_ERROR(RaiseCursor(keys::DeviceCursor(device, chat), [&](std::string* value) {
    Seq old = value->empty() ? 0 : DecodeU64(*value);
    if (seq <= old) return false;
    *value = EncodeU64(seq);
    return true;
  }));
  return RaiseReceipt(user, chat, seq, 0);
}

Result<ReceiptCursor> KvStore::MarkRead(UserId user, ChatId chat, Seq seq) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
  ChatState& st = *state;
  MutexLock lock(&st.mu);
  LIBCHAT_RETURN_IF_ERROR(CheckCursorRaise(st, user, chat, seq));
  return RaiseReceipt(user, chat, seq, seq);
}

Result<Seq> KvStore::DeviceCursor(DeviceId device, ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(std::string v, ReadCursor(keys::DeviceCursor(device, chat)));
  return v.empty() ? Seq{0} : DecodeU64(v);
}

Result<ReceiptCursor> KvStore::GetReceipt(ChatId chat, UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(std::string v, ReadCursor(keys::Receipt(chat, user)));
  if (v.empty()) return ReceiptCursor{chat, user, 0, 0};
  return DecodeReceipt(v);
}

Result<std::vector<ReceiptCursor>> KvStore::ListReceipts(ChatId chat) {
  // Per member rather than a prefix scan, so that cursors still being written behind are seen.
  LIBCHAT_ASSIGN_OR_RETURN(auto members, ListParticipants(chat));
  std::vector<ReceiptCursor> out;
  for (const auto& p : members) {
    LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor r, GetReceipt(chat, p.user));
    if (r.delivered != 0 || r.read != 0) out.push_back(r);
  }
  return out;
}

Result<std::vector<PendingChat>> KvStore::PendingChats(UserId user, DeviceId device) {
  LIBCHAT_ASSIGN_OR_RETURN(auto chats, ListUserChats(user));
  std::vector<PendingChat> out;
  out.reserve(chats.size());
  for (const auto& p : chats) {
    LIBCHAT_ASSIGN_OR_RETURN(Seq head, Head(p.chat));
    LIBCHAT_ASSIGN_OR_RETURN(Seq acked, DeviceCursor(device, p.chat));
    out.push_back({p.chat, std::max(acked, p.joined_seq), head});
  }
  return out;
}

namespace {

// The receipt cursor after raising `old` (encoded, or "" for none) to delivered/read; nullopt if it
// does not move.
Result<std::optional<ReceiptCursor>> RaisedReceipt(const std::string& old, ChatId chat, UserId user, Seq delivered,
                                                   Seq read, ReceiptCursor* current) {
  ReceiptCursor out{chat, user, 0, 0};
  if (!old.empty()) {
    LIBCHAT_ASSIGN_OR_RETURN(out, DecodeReceipt(old));
  }
  *current = out;
  ReceiptCursor updated = out;
  updated.delivered = std::max({out.delivered, delivered, read});
  updated.read = std::max(out.read, read);
  if (updated.delivered == out.delivered && updated.read == out.read) return std::optional<ReceiptCursor>();
  return std::optional<ReceiptCursor>(updated);
}

}  // namespace

Result<ReceiptCursor> KvStore::RaiseReceipt(UserId user, ChatId chat, Seq delivered, Seq read) {
  ReceiptCursor out{chat, user, 0, 0};
  Status decode;
  LIBCHAT_RETURN_IF_ERROR(RaiseCursor(keys::Receipt(chat, user), [&](std::string* value) {
    auto raised = RaisedReceipt(*value, chat, user, delivered, read, &out);
    if (!raised.ok()) {
      decode = raised.error();
      return false;
    }
    if (!*raised) return false;
    out = **raised;
    *value = EncodeReceipt(out);
    return true;
  }));
  LIBCHAT_RETURN_IF_ERROR(decode);
  return out;
}

Result<std::optional<KvStore::PreparedCursor>> KvStore::PrepareReceipt(UserId user, ChatId chat, Seq delivered,
                                                                       Seq read) {
  LIBCHAT_RETURN_IF_ERROR(commits_.health());
  PreparedCursor prepared{keys::Receipt(chat, user), {}};
  LIBCHAT_ASSIGN_OR_RETURN(std::string old, ReadCursor(prepared.key));
  ReceiptCursor current;
  LIBCHAT_ASSIGN_OR_RETURN(auto raised, RaisedReceipt(old, chat, user, delivered, read, &current));
  if (!raised) return std::optional<PreparedCursor>();
  prepared.value = EncodeReceipt(*raised);
  return std::optional<PreparedCursor>(std::move(prepared));
}

void KvStore::ApplyCursor(const PreparedCursor& cursor, const std::shared_ptr<Ticket>& ticket) {
  CursorShard& shard = CursorShardFor(cursor.key);
  MutexLock lock(&shard.mu);
  PutPending(shard, cursor.key, &cursor.value, ticket.get());
}

void KvStore::PutPending(CursorShard& shard, const std::string& key, const std::string* value, Ticket* ticket) {
  // The pending value (empty: absent) is what readers see until the write is in the engine.
  auto& p = shard.pending[key];
  p.value = value != nullptr ? *value : std::string();
  ++p.writes;
  if (value != nullptr) {
    ticket->batch.Put(key, *value);
  } else {
    ticket->batch.Delete(key);
  }
  ticket->completions.push_back([&shard, key](const Status&) {
    MutexLock l(&shard.mu);
    auto it = shard.pending.find(key);
    if (it != shard.pending.end() && --it->second.writes == 0) shard.pending.erase(it);
  });
}

void KvStore::DeleteCursor(const std::string& key, Ticket* ticket) {
  CursorShard& shard = CursorShardFor(key);
  MutexLock lock(&shard.mu);
  PutPending(shard, key, nullptr, ticket);
}

KvStore::CursorShard& KvStore::CursorShardFor(const std::string& key) {
  return cursor_shards_[std::hash<std::string>()(key) % cursor_shards_.size()];
}

Result<std::string> KvStore::ReadCursor(const std::string& key) {
  CursorShard& shard = CursorShardFor(key);
  MutexLock lock(&shard.mu);
  if (auto it = shard.pending.find(key); it != shard.pending.end()) return it->second.value;
  auto v = engine_->Get(key);
  if (v.ok()) return std::move(*v);
  if (v.error().IsNotFound()) return std::string();
  return v.error();
}

Status KvStore::RaiseCursor(const std::string& key, const std::function<bool(std::string*)>& raise) {
  LIBCHAT_RETURN_IF_ERROR(commits_.health());
  CursorShard& shard = CursorShardFor(key);
  MutexLock lock(&shard.mu);
  std::string value;
  auto it = shard.pending.find(key);
  if (it != shard.pending.end()) {
    value = it->second.value;
  } else {
    auto v = engine_->Get(key);
    if (v.ok()) {
      value = std::move(*v);
    } else if (!v.error().IsNotFound()) {
      return v.error();
    }
  }
  if (!raise(&value)) return Status::Ok();
  auto ticket = std::make_shared<Ticket>();
  ticket->sync = false;
  PutPending(shard, key, &value, ticket.get());
  commits_.Enqueue(std::move(ticket));
  return Status::Ok();
}

}  // namespace chat::detail
