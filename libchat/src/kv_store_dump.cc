// KvStore: export (a stream of records, memory flat however large the store) and import.
#include <algorithm>

#include "blob_id.h"
#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {
// ---------------------------------------------------------------- export / import
// Export walks the primary records with iterators and hands each to the sink as it is decoded, so
// memory stays flat however large the store. Derived indexes are skipped: Import rebuilds them.
Status KvStore::Export(const RecordSink& sink) {
  // Cursors are written behind: the scans below must find every cursor that exists.
  LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
  IdCounters counters;
  {
    MutexLock lock(&id_mu_);
    counters = {next_user_, next_device_, next_chat_};
  }
  LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{counters}));
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::UserPrefix(), [&](std::string_view, std::string_view v) {
    return ExportUser(v, sink);
  }));
  // After every user: a block may name a user with a higher id.
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::BanPrefix(), [&](std::string_view, std::string_view v) {
    return SinkDecoded(DecodeBan(v), sink);
  }));
  const std::string blocks = keys::BlocksPrefix();
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, blocks, [&](std::string_view k, std::string_view v) -> Status {
    if (k.size() != blocks.size() + 16) return Status::Corruption(Describe() + ": malformed block key");
    return sink(StoreRecord{UserBlock{keys::ReadBE(k, blocks.size()), keys::ReadBE(k, blocks.size() + 8),
                                      static_cast<TimeMs>(DecodeU64(v))}});
  }));
  // Before the chats, so that an import sees each attachment before the messages that reference it.
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::AttachmentPrefix(), [&](std::string_view, std::string_view v) {
    return SinkDecoded(DecodeAttachment(v), sink);
  }));
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::ChatPrefix(), [&](std::string_view, std::string_view v) {
    return ExportChat(v, sink);
  }));
  const std::string prefix = keys::DeviceCursorsPrefix();
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, prefix, [&](std::string_view k, std::string_view) -> Status {
    if (k.size() != prefix.size() + 16) return Status::Corruption(Describe() + ": malformed device cursor key");
    // Through ReadCursor: a value raised since the barrier may still be queued.
    LIBCHAT_ASSIGN_OR_RETURN(std::string v, ReadCursor(std::string(k)));
    if (v.empty()) return Status::Ok();  // Removed with its device since the scan began.
    return sink(StoreRecord{DeviceCursorRecord{keys::ReadBE(k, prefix.size()), keys::ReadBE(k, prefix.size() + 8),
                                               DecodeU64(v)}});
  }));
  LIBCHAT_RETURN_IF_ERROR(spam_.Export(sink));
  return ForEachPrefix(*engine_, keys::InvitePrefix(), [&](std::string_view, std::string_view v) {
    return SinkDecoded(DecodeInvite(v), sink);
  });
}

Status KvStore::Import(const StoreRecord& record) {
  return std::visit([this](const auto& entity) { return ImportEntity(entity); }, record.entity);
}

// ---- export helpers
Status KvStore::ExportUser(std::string_view value, const RecordSink& sink) {
  auto user = DecodeUser(value);
  if (!user.ok()) return user.error().WithContext(Describe());
  LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{*user}));
  const std::string devices = keys::UserDevicePrefix(user->id);
  return ForEachPrefix(*engine_, devices, [&](std::string_view k, std::string_view) -> Status {
    auto device = GetDevice(keys::ReadBE(k, k.size() - 8));
    // An index entry without its device is skipped, as ListDevices does.
    if (!device.ok()) return device.error().IsNotFound() ? Status::Ok() : device.error();
    return sink(StoreRecord{*device});
  });
}

Status KvStore::ExportChat(std::string_view value, const RecordSink& sink) {
  ChatRecord record;
  auto chat = DecodeChat(value);
  if (!chat.ok()) return chat.error().WithContext(Describe());
  record.chat = std::move(*chat);
  auto head = engine_->Get(keys::ChatHead(record.chat.id));
  if (head.ok()) {
    Reader r(*head);
    record.head = r.U64();
    record.last_timestamp = r.I64();
    if (r.failed()) {
      return Status::Corruption(Describe() + ": undecodable head of chat " + std::to_string(record.chat.id));
    }
  } else if (!head.error().IsNotFound()) {
    return head.error();
  }
  const ChatId id = record.chat.id;
  LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{std::move(record)}));
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::ParticipantPrefix(id), [&](auto, std::string_view v) {
    return SinkDecoded(DecodeParticipant(v), sink);
  }));
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::MessagePrefix(id), [&](auto, std::string_view v) {
    return SinkDecoded(DecodeMessage(v), sink);
  }));
  return ForEachPrefix(*engine_, keys::ReceiptPrefix(id), [&](std::string_view k, std::string_view) -> Status {
    LIBCHAT_ASSIGN_OR_RETURN(std::string v, ReadCursor(std::string(k)));  // As for device cursors.
    if (v.empty()) return Status::Ok();  // Removed with its member since the scan began.
    return SinkDecoded(DecodeReceipt(v), sink);
  });
}

template <typename T>
Status KvStore::SinkDecoded(Result<T> decoded, const RecordSink& sink) {
  if (!decoded.ok()) return decoded.error().WithContext(Describe());
  return sink(StoreRecord{std::move(*decoded)});
}

// ---- import helpers: each writes one record with the index entries derived from it, in one batch.
Result<bool> KvStore::Exists(std::string_view key) {
  auto v = engine_->Get(key);
  if (v.ok()) return true;
  if (v.error().IsNotFound()) return false;
  return v.error();
}

Status KvStore::Missing(const std::string& what, const std::string& referrer) {
  return Status::InvalidArgument(referrer + " refers to " + what +
                                 ", which is missing (an export lists it before what refers to it)");
}

// Fails unless the entity a record refers to was imported before it.
Status KvStore::RequireImported(std::string_view key, const std::string& what, const std::string& referrer) {
  LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(key));
  return found ? Status::Ok() : Missing(what, referrer);
}

Status KvStore::RequireAbsent(std::string_view key, const std::string& what) {
  LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(key));
  if (found) return Status::AlreadyExists(what + " is already in the store (import needs a fresh store)");
  return Status::Ok();
}

// Raises a counter so that it never hands out an imported id again, in the record's batch.
void KvStore::RaiseCounter(std::uint64_t* counter, std::string_view key, std::uint64_t at_least, KvBatch* b) {
  MutexLock lock(&id_mu_);
  if (*counter >= at_least) return;
  *counter = at_least;
  b->Put(std::string(key), EncodeU64(at_least));
}

Status KvStore::ImportEntity(const IdCounters& c) {
  KvBatch b;
  RaiseCounter(&next_user_, keys::kNextUser, c.next_user, &b);
  RaiseCounter(&next_device_, keys::kNextDevice, c.next_device, &b);
  RaiseCounter(&next_chat_, keys::kNextChat, c.next_chat, &b);
  return b.empty() ? Status::Ok() : engine_->Write(b, false);
}

Status KvStore::ImportEntity(const User& u) {
  if (u.id == 0 || u.username.empty()) return Status::InvalidArgument("a user record needs an id and a username");
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::User(u.id), "user " + std::to_string(u.id)));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::UserName(u.username), "username '" + u.username + "'"));
  KvBatch b;
  b.Put(keys::User(u.id), EncodeUser(u));
  std::string id_value;
  keys::AppendBE(&id_value, u.id);
  b.Put(keys::UserName(u.username), id_value);
  RaiseCounter(&next_user_, keys::kNextUser, u.id + 1, &b);
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const Device& d) {
  const std::string what = "device " + std::to_string(d.id);
  if (d.id == 0 || d.user == 0) return Status::InvalidArgument("a device record needs an id and a user");
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(d.user), "user " + std::to_string(d.user), what));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Device(d.id), what));
  if (!d.token_hash.empty()) {
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::DeviceToken(d.token_hash), "the session token of " + what));
  }
  KvBatch b;
  PutDevice(d, nullptr, &b);  // The device, the user's device list, the token and activity indexes.
  RaiseCounter(&next_device_, keys::kNextDevice, d.id + 1, &b);
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const ChatRecord& r) {
  const ChatId id = r.chat.id;
  if (id == 0) return Status::InvalidArgument("a chat record needs an id");
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Chat(id), "chat " + std::to_string(id)));
  KvBatch b;
  b.Put(keys::Chat(id), EncodeChat(r.chat));
  if (r.head != 0 || r.last_timestamp != 0) {
    Writer head;
    head.U64(r.head);
    head.I64(r.last_timestamp);
    b.Put(keys::ChatHead(id), head.Take());
  }
  RaiseCounter(&next_chat_, keys::kNextChat, id + 1, &b);
  LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, false));
  // A state loaded before the chat existed would hold a stale head.
  ForgetState(id);
  return Status::Ok();
}

Status KvStore::ImportEntity(const Participant& p) {
  const std::string what = "participant " + std::to_string(p.user) + " of chat " + std::to_string(p.chat);
  if (p.chat == 0 || p.user == 0) return Status::InvalidArgument("a participant record needs a chat and a user");
  auto chat = GetChat(p.chat);
  if (!chat.ok()) {
    return chat.error().IsNotFound() ? Missing("chat " + std::to_string(p.chat), what) : chat.error();
  }
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(p.user), "user " + std::to_string(p.user), what));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Participant(p.chat, p.user), what));
  KvBatch b;
  std::string v = EncodeParticipant(p);
  b.Put(keys::Participant(p.chat, p.user), v);
  b.Put(keys::UserChat(p.user, p.chat), v);
  if (chat->kind == ChatKind::kDirect) {
    // The pair index is complete once the second member arrives.
    std::vector<UserId> others;
    const std::string members = keys::ParticipantPrefix(p.chat);
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, members, [&](std::string_view k, std::string_view) {
      others.push_back(keys::ReadBE(k, k.size() - 8));
      return Status::Ok();
    }));
    if (others.size() > 1) {
      return Status::InvalidArgument("direct chat " + std::to_string(p.chat) +
                                     " would have more than two participants");
    }
    if (others.size() == 1) {
      LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Direct(others[0], p.user), "a direct chat of users " +
                                                                                 std::to_string(others[0]) + " and " +
                                                                                 std::to_string(p.user)));
      std::string cid;
      keys::AppendBE(&cid, p.chat);
      b.Put(keys::Direct(others[0], p.user), cid);
    }
  }
  LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, false));
  ForgetState(p.chat);  // Its members changed.
  return Status::Ok();
}

Status KvStore::ImportEntity(const Message& m) {
  const std::string what = "message " + std::to_string(m.seq) + " of chat " + std::to_string(m.chat);
  if (m.chat == 0 || m.seq == 0) return Status::InvalidArgument("a message record needs a chat and a seq");
  auto chat = GetChat(m.chat);
  if (!chat.ok()) {
    return chat.error().IsNotFound() ? Missing("chat " + std::to_string(m.chat), what) : chat.error();
  }
  // An entry past the head would be overwritten by the chat's next append.
  Seq head = 0;
  if (auto h = engine_->Get(keys::ChatHead(m.chat)); h.ok()) {
    head = DecodeU64(*h);
  } else if (!h.error().IsNotFound()) {
    return h.error();
  }
  if (m.seq > head) {
    return Status::InvalidArgument(what + " is past the chat's head (" + std::to_string(head) + ")");
  }
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Message(m.chat, m.seq), what));
  KvBatch b;
  b.Put(keys::Message(m.chat, m.seq), EncodeMessage(m));
  for (const auto& id : m.attachments) {
    b.Put(keys::AttachmentRef(id, m.chat, m.seq), "");
    b.Delete(keys::AttachmentOrphan(id));
  }
  // Expiry under the chat's current retention (the original entry used the retention of its day).
  b.Put(keys::Expiry(m.timestamp + chat->retention_ms, m.chat, m.seq), "");
  if (!m.client_id.empty() && m.sender_device != 0) {
    const std::string dedup_key = keys::Dedup(m.sender_device, m.client_id);
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(dedup_key, "client message id '" + m.client_id + "' of device " +
                                                         std::to_string(m.sender_device)));
    Writer w;
    w.U64(m.chat);
    w.U64(m.seq);
    b.Put(dedup_key, w.Take());
  }
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const SpamFlag& f) {
  return spam_.Import(f, [this](UserId u) { return Exists(keys::User(u)); });
}

Status KvStore::ImportEntity(const SpamReport& r) {
  return spam_.Import(r, [this](UserId u) { return Exists(keys::User(u)); });
}

Status KvStore::ImportEntity(const Attachment& a) {
  const std::string what = "attachment " + a.id;
  if (!IsValidBlobId(a.id) || a.uploader == 0) {
    return Status::InvalidArgument("an attachment record needs a valid id and an uploader");
  }
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(a.uploader), "user " + std::to_string(a.uploader), what));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Attachment(a.id), what));
  KvBatch b;
  b.Put(keys::Attachment(a.id), EncodeAttachment(a));
  // Unreferenced until an imported message references it (messages come after attachments).
  b.Put(keys::AttachmentOrphan(a.id), EncodeU64(static_cast<std::uint64_t>(std::max<TimeMs>(a.created_at, 0))));
  // The day's quota counter is derived: the sum of what the uploader announced that day.
  const std::string quota_key = keys::AttachmentQuota(DayOf(a.created_at), a.uploader);
  std::uint64_t used = 0;
  if (auto v = engine_->Get(quota_key); v.ok()) {
    used = DecodeU64(*v);
  } else if (!v.error().IsNotFound()) {
    return v.error();
  }
  b.Put(quota_key, EncodeU64(used + a.size));
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const UserBan& ban) {
  const std::string what = "the ban of user " + std::to_string(ban.user);
  if (ban.user == 0) return Status::InvalidArgument("a ban record needs a user");
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(ban.user), "user " + std::to_string(ban.user), what));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Ban(ban.user), what));
  KvBatch b;
  b.Put(keys::Ban(ban.user), EncodeBan(ban));
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const Invite& i) {
  const std::string what = "invitation " + i.id;
  if (i.id.empty() || i.code_hash.empty() || i.max_uses == 0) {
    return Status::InvalidArgument("an invitation record needs an id, a code hash and at least one use");
  }
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Invite(i.id), what));
  KvBatch b;
  b.Put(keys::Invite(i.id), EncodeInvite(i));
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const UserBlock& block) {
  const std::string what = "the block of user " + std::to_string(block.blocked) + " by user " +
                           std::to_string(block.user);
  if (block.user == 0 || block.blocked == 0 || block.user == block.blocked) {
    return Status::InvalidArgument("a block record needs two different users");
  }
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(block.user), "user " + std::to_string(block.user), what));
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(block.blocked), "user " + std::to_string(block.blocked), what));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Block(block.user, block.blocked), what));
  KvBatch b;
  b.Put(keys::Block(block.user, block.blocked), EncodeU64(static_cast<std::uint64_t>(block.since)));
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const DeviceCursorRecord& c) {
  const std::string what = "the cursor of device " + std::to_string(c.device) + " in chat " + std::to_string(c.chat);
  if (c.device == 0 || c.chat == 0) {
    return Status::InvalidArgument("a device cursor record needs a device and a chat");
  }
  // The device itself may be gone (a cursor can outlive a removed device); the chat never is.
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::Chat(c.chat), "chat " + std::to_string(c.chat), what));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::DeviceCursor(c.device, c.chat), what));
  KvBatch b;
  b.Put(keys::DeviceCursor(c.device, c.chat), EncodeU64(c.seq));
  return engine_->Write(b, false);
}

Status KvStore::ImportEntity(const ReceiptCursor& r) {
  const std::string what =
      "the receipt cursor of user " + std::to_string(r.user) + " in chat " + std::to_string(r.chat);
  if (r.chat == 0 || r.user == 0) return Status::InvalidArgument("a receipt record needs a chat and a user");
  LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::Chat(r.chat), "chat " + std::to_string(r.chat), what));
  LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Receipt(r.chat, r.user), what));
  KvBatch b;
  b.Put(keys::Receipt(r.chat, r.user), EncodeReceipt(r));
  return engine_->Write(b, false);
}

}  // namespace chat::detail
