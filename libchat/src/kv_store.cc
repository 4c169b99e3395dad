// KvStore: the chat domain on an ordered key-value engine (layout in keys.h and docs/storage.md).
//
// Concurrency:
//  - Each chat has a ChatState whose mutex orders its appends: under it a sequence number is
//    assigned from the in-memory head and the batch is queued for group commit, so batches reach the
//    disk (and observers) in sequence order. The caller then waits for the commit without the lock,
//    which is what lets many sends share one fsync.
//  - Dedup of (device, client id) is checked and claimed under a shard lock taken before the chat
//    lock; an append still in flight is found in the shard's in-flight map.
//  - Account operations (usernames, device limits) take a striped lock; they are rare and short.
//  - Cursor updates are read-modify-write under a striped lock, written without fsync: losing the
//    newest ack in a power cut only means a message is delivered again, which clients drop by seq.
#include <array>
#include <atomic>
#include <functional>
#include <limits>
#include <unordered_map>

#include "codec.h"
#include "commit_queue.h"
#include "crypto.h"
#include "keys.h"
#include "libchat/store.h"

namespace chat {
namespace {

using detail::CommitQueue;
namespace keys = detail::keys;

std::string EncodeU64(std::uint64_t v) {
  detail::Writer w;
  w.U64(v);
  return w.Take();
}

std::uint64_t DecodeU64(std::string_view s) {
  detail::Reader r(s);
  return r.U64();
}

TimeMs DayOf(TimeMs t) { return t - (t % kMsPerDay); }

// Calls fn(key, value) for every entry whose key starts with prefix, until fn returns false.
Status ScanPrefix(KvEngine& engine, const std::string& prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn) {
  auto it = engine.NewIterator();
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    if (!fn(it->key(), it->value())) break;
  }
  return it->status();
}

class KvStore final : public Store {
 public:
  KvStore(std::unique_ptr<KvEngine> engine, KvStoreOptions options)
      : engine_(std::move(engine)),
        options_(options),
        commits_(engine_.get(), options.sync, options.group_commit, options.max_group) {}

  Status Open() {
    auto schema = engine_->Get(keys::kSchema);
    if (schema.ok()) {
      int version = std::atoi(schema->c_str());
      if (version > kSchemaVersion) {
        return Status::FailedPrecondition(engine_->Describe() + ": store schema version " +
                                          std::to_string(version) + " is newer than this build's (" +
                                          std::to_string(kSchemaVersion) + "); upgrade libchat");
      }
      if (version < kSchemaVersion) {
        return Status::FailedPrecondition(engine_->Describe() + ": store schema version " +
                                          std::to_string(version) + " is older than this build's (" +
                                          std::to_string(kSchemaVersion) + "); run `chat-migrate up`");
      }
    } else if (schema.error().IsNotFound()) {
      KvBatch b;
      b.Put(std::string(keys::kSchema), std::to_string(kSchemaVersion));
      LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, true));
    } else {
      return schema.error();
    }
    LIBCHAT_ASSIGN_OR_RETURN(next_user_, LoadCounter(keys::kNextUser));
    LIBCHAT_ASSIGN_OR_RETURN(next_chat_, LoadCounter(keys::kNextChat));
    LIBCHAT_ASSIGN_OR_RETURN(next_device_, LoadCounter(keys::kNextDevice));
    return Status::Ok();
  }

  // ---------------------------------------------------------------- users
  Result<User> CreateUser(User user) override {
    std::lock_guard lock(StripeFor(std::hash<std::string>()(user.username)));
    auto existing = engine_->Get(keys::UserName(user.username));
    if (existing.ok()) return Status::AlreadyExists("username '" + user.username + "' is taken");
    if (!existing.error().IsNotFound()) return existing.error();
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    user.id = NextId(&next_user_, keys::kNextUser, &ticket->batch);
    ticket->batch.Put(keys::User(user.id), detail::EncodeUser(user));
    std::string id_value;
    keys::AppendBE(&id_value, user.id);
    ticket->batch.Put(keys::UserName(user.username), id_value);
    LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
    return user;
  }

  Result<User> GetUser(UserId id) override {
    auto v = engine_->Get(keys::User(id));
    if (!v.ok()) return NotFoundOr(v.error(), "user " + std::to_string(id));
    return detail::DecodeUser(*v);
  }

  Result<User> FindUserByName(std::string_view username) override {
    auto v = engine_->Get(keys::UserName(username));
    if (!v.ok()) return NotFoundOr(v.error(), "user '" + std::string(username) + "'");
    return GetUser(keys::ReadBE(*v, 0));
  }

  Status UpdateUser(const User& user) override {
    LIBCHAT_ASSIGN_OR_RETURN(User old, GetUser(user.id));
    if (old.username != user.username) return Status::InvalidArgument("a username cannot change");
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Put(keys::User(user.id), detail::EncodeUser(user));
    return commits_.Commit(ticket);
  }

  Result<std::vector<User>> ListUsers(UserId after, std::size_t limit) override {
    std::vector<User> out;
    Status decode_error;
    const std::string prefix = keys::UserPrefix();
    auto it = engine_->NewIterator();
    for (it->Seek(keys::User(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
      if (it->key().substr(0, prefix.size()) != prefix) break;
      auto u = detail::DecodeUser(it->value());
      if (!u.ok()) return u.error();
      out.push_back(std::move(*u));
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
    return out;
  }

  // ---------------------------------------------------------------- devices
  Result<Device> AddDevice(Device device, std::size_t max_devices) override {
    std::lock_guard lock(StripeFor(device.user));
    LIBCHAT_ASSIGN_OR_RETURN(User user, GetUser(device.user));
    (void)user;
    std::size_t count = 0;
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::UserDevicePrefix(device.user),
                                       [&](std::string_view, std::string_view) { return ++count, true; }));
    if (count >= max_devices) {
      return Status::FailedPrecondition("device limit reached: user " + std::to_string(device.user) +
                                        " already has " + std::to_string(count) + " of " +
                                        std::to_string(max_devices) + " devices");
    }
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    device.id = NextId(&next_device_, keys::kNextDevice, &ticket->batch);
    PutDevice(device, nullptr, &ticket->batch);
    LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
    return device;
  }

  Result<Device> GetDevice(DeviceId id) override {
    auto v = engine_->Get(keys::Device(id));
    if (!v.ok()) return NotFoundOr(v.error(), "device " + std::to_string(id));
    return detail::DecodeDevice(*v);
  }

  Result<std::vector<Device>> ListDevices(UserId user) override {
    std::vector<DeviceId> ids;
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::UserDevicePrefix(user), [&](std::string_view k, std::string_view) {
      ids.push_back(keys::ReadBE(k, k.size() - 8));
      return true;
    }));
    std::vector<Device> out;
    for (DeviceId id : ids) {
      auto d = GetDevice(id);
      if (d.ok()) out.push_back(std::move(*d));
      else if (!d.error().IsNotFound()) return d.error();
    }
    return out;
  }

  Status UpdateDevice(const Device& device) override {
    std::lock_guard lock(StripeFor(device.user));
    LIBCHAT_ASSIGN_OR_RETURN(Device old, GetDevice(device.id));
    if (old.user != device.user) return Status::InvalidArgument("a device cannot change its user");
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    PutDevice(device, &old, &ticket->batch);
    return commits_.Commit(ticket);
  }

  Result<Device> FindDeviceByTokenHash(std::string_view token_hash) override {
    if (token_hash.empty()) return Status::NotFound("empty token");
    auto v = engine_->Get(keys::DeviceToken(token_hash));
    if (!v.ok()) return NotFoundOr(v.error(), "token");
    return GetDevice(keys::ReadBE(*v, 0));
  }

  Status RemoveDevice(DeviceId id) override {
    LIBCHAT_ASSIGN_OR_RETURN(Device d, GetDevice(id));
    std::lock_guard lock(StripeFor(d.user));
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Delete(keys::Device(id));
    ticket->batch.Delete(keys::UserDevice(d.user, id));
    if (!d.token_hash.empty()) ticket->batch.Delete(keys::DeviceToken(d.token_hash));
    if (d.last_seen != 0) ticket->batch.Delete(keys::DeviceSeen(DayOf(d.last_seen), id));
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::DeviceCursorPrefix(id), [&](std::string_view k, std::string_view) {
      ticket->batch.Delete(std::string(k));
      return true;
    }));
    return commits_.Commit(ticket);
  }

  // ---------------------------------------------------------------- chats
  Result<Chat> CreateChat(Chat chat, std::vector<Participant> members, UserId creator, std::string announcement,
                          const CommitObserver& observer) override {
    // Direct chats are unique per pair: hold the lock across check and commit.
    std::unique_lock<std::mutex> direct_lock;
    if (chat.kind == ChatKind::kDirect) {
      if (members.size() != 2) return Status::InvalidArgument("a direct chat has exactly two members");
      direct_lock = std::unique_lock(direct_mu_);
      auto found = FindDirectChat(members[0].user, members[1].user);
      if (found.ok()) return Status::AlreadyExists("direct chat " + std::to_string(*found) + " exists");
      if (!found.error().IsNotFound()) return found.error();
    }
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    KvBatch& b = ticket->batch;
    chat.id = NextId(&next_chat_, keys::kNextChat, &b);
    b.Put(keys::Chat(chat.id), detail::EncodeChat(chat));
    for (auto& p : members) {
      p.chat = chat.id;
      p.joined_at = chat.created_at;
      p.joined_seq = 0;
      std::string v = detail::EncodeParticipant(p);
      b.Put(keys::Participant(chat.id, p.user), v);
      b.Put(keys::UserChat(p.user, chat.id), v);
    }
    if (chat.kind == ChatKind::kDirect) {
      std::string v;
      keys::AppendBE(&v, chat.id);
      b.Put(keys::Direct(members[0].user, members[1].user), v);
    }
    auto state = std::make_shared<ChatState>();
    {
      std::lock_guard chat_lock(state->mu);
      state->loaded = true;
      state->retention_ms = chat.retention_ms;
      Message entry;
      entry.chat = chat.id;
      entry.sender = creator;
      entry.kind = MessageKind::kMembership;
      entry.body = std::move(announcement);
      entry.timestamp = chat.created_at;
      AddEntry(*state, std::move(entry), ticket.get());
      ticket->observer = &observer;
      {
        std::lock_guard lock(chats_mu_);
        chats_[chat.id] = state;
      }
      commits_.Enqueue(ticket);
    }
    LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
    return chat;
  }

  Result<Chat> GetChat(ChatId id) override {
    auto v = engine_->Get(keys::Chat(id));
    if (!v.ok()) return NotFoundOr(v.error(), "chat " + std::to_string(id));
    return detail::DecodeChat(*v);
  }

  Status UpdateChat(const Chat& chat) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat.id));
    std::lock_guard lock(state->mu);
    LIBCHAT_ASSIGN_OR_RETURN(Chat old, GetChat(chat.id));
    if (old.kind != chat.kind) return Status::InvalidArgument("a chat cannot change its kind");
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Put(keys::Chat(chat.id), detail::EncodeChat(chat));
    LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
    state->retention_ms = chat.retention_ms;
    return Status::Ok();
  }

  Result<ChatId> FindDirectChat(UserId a, UserId b) override {
    auto v = engine_->Get(keys::Direct(a, b));
    if (!v.ok()) return NotFoundOr(v.error(), "direct chat");
    return keys::ReadBE(*v, 0);
  }

  Result<std::vector<Chat>> ListChats(ChatId after, std::size_t limit) override {
    std::vector<Chat> out;
    const std::string prefix = keys::ChatPrefix();
    auto it = engine_->NewIterator();
    for (it->Seek(keys::Chat(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
      if (it->key().substr(0, prefix.size()) != prefix) break;
      auto c = detail::DecodeChat(it->value());
      if (!c.ok()) return c.error();
      out.push_back(std::move(*c));
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
    return out;
  }

  Result<std::vector<Participant>> ListParticipants(ChatId chat) override {
    return ScanParticipants(keys::ParticipantPrefix(chat));
  }

  Result<Participant> GetParticipant(ChatId chat, UserId user) override {
    auto v = engine_->Get(keys::Participant(chat, user));
    if (!v.ok()) {
      return NotFoundOr(v.error(), "user " + std::to_string(user) + " is not a member of chat " + std::to_string(chat));
    }
    return detail::DecodeParticipant(*v);
  }

  Result<std::vector<Participant>> ListUserChats(UserId user) override {
    return ScanParticipants(keys::UserChatPrefix(user));
  }

  Result<Message> UpdateMembership(ChatId chat_id, UserId actor, const MembershipPlanner& planner,
                                   const CommitObserver& observer) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat_id));
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    {
      std::lock_guard lock(state->mu);
      LIBCHAT_RETURN_IF_ERROR(commits_.health());
      LIBCHAT_ASSIGN_OR_RETURN(Chat chat, GetChat(chat_id));
      LIBCHAT_ASSIGN_OR_RETURN(auto current, ListParticipants(chat_id));
      LIBCHAT_ASSIGN_OR_RETURN(MembershipPlan plan, planner(chat, current));
      KvBatch& b = ticket->batch;
      if (plan.chat_update) {
        if (plan.chat_update->id != chat_id || plan.chat_update->kind != chat.kind) {
          return Status::InvalidArgument("a membership plan cannot change the chat's id or kind");
        }
        b.Put(keys::Chat(chat_id), detail::EncodeChat(*plan.chat_update));
        state->retention_ms = plan.chat_update->retention_ms;
      }
      const Seq entry_seq = state->head + 1;
      for (Participant p : plan.upserts) {
        p.chat = chat_id;
        bool existed = false;
        for (const auto& c : current) {
          if (c.user == p.user) {
            // A role change keeps the original join.
            p.joined_at = c.joined_at;
            p.joined_seq = c.joined_seq;
            existed = true;
          }
        }
        if (!existed) {
          // The new member sees the entry announcing the join, and nothing before it.
          p.joined_at = plan.at;
          p.joined_seq = entry_seq - 1;
        }
        std::string v = detail::EncodeParticipant(p);
        b.Put(keys::Participant(chat_id, p.user), v);
        b.Put(keys::UserChat(p.user, chat_id), v);
      }
      for (UserId u : plan.removals) {
        b.Delete(keys::Participant(chat_id, u));
        b.Delete(keys::UserChat(u, chat_id));
        b.Delete(keys::Receipt(chat_id, u));
      }
      Message entry;
      entry.chat = chat_id;
      entry.sender = actor;
      entry.kind = MessageKind::kMembership;
      entry.body = std::move(plan.announcement);
      entry.timestamp = plan.at;
      AddEntry(*state, std::move(entry), ticket.get());
      ticket->observer = &observer;
      commits_.Enqueue(ticket);
    }
    LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
    return *ticket->entry;
  }

  // ---------------------------------------------------------------- messages
  Result<AppendResult> Append(Message draft, const CommitObserver& observer) override {
    if (draft.chat == 0) return Status::InvalidArgument("chat id 0");
    LIBCHAT_ASSIGN_OR_RETURN(auto state, State(draft.chat));
    const bool dedup = !draft.client_id.empty() && draft.sender_device != 0;
    std::string dedup_key;
    DedupShard* shard = nullptr;
    std::unique_lock<std::mutex> shard_lock;
    if (dedup) {
      dedup_key = keys::Dedup(draft.sender_device, draft.client_id);
      shard = &dedup_shards_[std::hash<std::string>()(dedup_key) % dedup_shards_.size()];
      shard_lock = std::unique_lock(shard->mu);
      // In flight: wait for that append and answer with its message.
      if (auto it = shard->inflight.find(dedup_key); it != shard->inflight.end()) {
        auto pending = it->second;
        shard_lock.unlock();
        LIBCHAT_RETURN_IF_ERROR(commits_.Wait(pending));
        return Duplicate(*pending->entry, draft.chat);
      }
      // Already durable.
      auto found = engine_->Get(dedup_key);
      if (found.ok()) {
        detail::Reader r(*found);
        ChatId chat = r.U64();
        Seq seq = r.U64();
        LIBCHAT_ASSIGN_OR_RETURN(Message original, GetMessage(chat, seq));
        return Duplicate(original, draft.chat);
      }
      if (!found.error().IsNotFound()) return found.error();
    }

    auto ticket = std::make_shared<CommitQueue::Ticket>();
    {
      std::lock_guard lock(state->mu);
      LIBCHAT_RETURN_IF_ERROR(commits_.health());
      draft.id = detail::RandomHex(16);
      draft.deleted = false;
      AddEntry(*state, std::move(draft), ticket.get());
      if (dedup) {
        detail::Writer w;
        w.U64(ticket->entry->chat);
        w.U64(ticket->entry->seq);
        ticket->batch.Put(dedup_key, w.Take());
      }
      ticket->observer = &observer;
      commits_.Enqueue(ticket);
    }
    if (dedup) {
      shard->inflight.emplace(dedup_key, ticket);
      shard_lock.unlock();
    }
    Status s = commits_.Wait(ticket);
    if (dedup) {
      std::lock_guard lock(shard->mu);
      shard->inflight.erase(dedup_key);
    }
    LIBCHAT_RETURN_IF_ERROR(s);
    appends_.fetch_add(1, std::memory_order_relaxed);
    return AppendResult{*ticket->entry, false};
  }

  Result<Message> DeleteMessage(ChatId chat, Seq seq, UserId actor, DeviceId actor_device, TimeMs now,
                                const std::function<Status(const Message&)>& authorize,
                                const CommitObserver& observer) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    {
      std::lock_guard lock(state->mu);
      LIBCHAT_RETURN_IF_ERROR(commits_.health());
      LIBCHAT_ASSIGN_OR_RETURN(Message target, GetMessage(chat, seq));
      LIBCHAT_RETURN_IF_ERROR(authorize(target));
      if (target.deleted) return Status::NotFound("message " + std::to_string(seq) + " is already deleted");
      // The tombstone keeps the position (seq, id, sender, time) so that sync never shows a gap.
      target.body.clear();
      target.attachments.clear();
      target.deleted = true;
      ticket->batch.Put(keys::Message(chat, seq), detail::EncodeMessage(target));
      Message entry;
      entry.chat = chat;
      entry.sender = actor;
      entry.sender_device = actor_device;
      entry.kind = MessageKind::kDeletion;
      entry.ref_seq = seq;
      entry.timestamp = now;
      AddEntry(*state, std::move(entry), ticket.get());
      ticket->observer = &observer;
      commits_.Enqueue(ticket);
    }
    LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
    return *ticket->entry;
  }

  Result<std::vector<Message>> ReadMessages(ChatId chat, Seq after, std::size_t limit) override {
    std::vector<Message> out;
    if (after == std::numeric_limits<Seq>::max()) return out;
    const std::string prefix = keys::MessagePrefix(chat);
    auto it = engine_->NewIterator();
    for (it->Seek(keys::Message(chat, after + 1)); it->Valid() && out.size() < limit; it->Next()) {
      if (it->key().substr(0, prefix.size()) != prefix) break;
      auto m = detail::DecodeMessage(it->value());
      if (!m.ok()) return m.error();
      out.push_back(std::move(*m));
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
    return out;
  }

  Result<std::vector<Message>> ReadMessagesBefore(ChatId chat, Seq before, std::size_t limit) override {
    std::vector<Message> out;
    const std::string prefix = keys::MessagePrefix(chat);
    auto it = engine_->NewIterator();
    it->Seek(keys::Message(chat, before));
    if (it->Valid()) {
      it->Prev();
    } else {
      it->SeekToLast();
    }
    for (; it->Valid() && out.size() < limit; it->Prev()) {
      if (it->key().substr(0, prefix.size()) != prefix) break;
      auto m = detail::DecodeMessage(it->value());
      if (!m.ok()) return m.error();
      if (m->seq >= before) continue;
      out.push_back(std::move(*m));
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
    return out;
  }

  Result<Message> GetMessage(ChatId chat, Seq seq) override {
    auto v = engine_->Get(keys::Message(chat, seq));
    if (!v.ok()) {
      return NotFoundOr(v.error(), "message " + std::to_string(seq) + " of chat " + std::to_string(chat));
    }
    return detail::DecodeMessage(*v);
  }

  Result<Seq> Head(ChatId chat) override {
    LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
    return state->durable_head.load(std::memory_order_acquire);
  }

  // ---------------------------------------------------------------- cursors
  Result<ReceiptCursor> Acknowledge(UserId user, DeviceId device, ChatId chat, Seq seq) override {
    KvBatch b;
    {
      std::lock_guard lock(StripeFor(device * 31 + chat));
      auto cur = engine_->Get(keys::DeviceCursor(device, chat));
      if (!cur.ok() && !cur.error().IsNotFound()) return cur.error();
      Seq old = cur.ok() ? DecodeU64(*cur) : 0;
      if (seq > old) {
        KvBatch db;
        db.Put(keys::DeviceCursor(device, chat), EncodeU64(seq));
        LIBCHAT_RETURN_IF_ERROR(engine_->Write(db, false));
      }
    }
    return RaiseReceipt(user, chat, seq, 0);
  }

  Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) override {
    return RaiseReceipt(user, chat, seq, seq);
  }

  Result<Seq> DeviceCursor(DeviceId device, ChatId chat) override {
    auto v = engine_->Get(keys::DeviceCursor(device, chat));
    if (!v.ok()) {
      if (v.error().IsNotFound()) return Seq{0};
      return v.error();
    }
    return DecodeU64(*v);
  }

  Result<ReceiptCursor> GetReceipt(ChatId chat, UserId user) override {
    auto v = engine_->Get(keys::Receipt(chat, user));
    if (!v.ok()) {
      if (v.error().IsNotFound()) return ReceiptCursor{chat, user, 0, 0};
      return v.error();
    }
    return detail::DecodeReceipt(*v);
  }

  Result<std::vector<ReceiptCursor>> ListReceipts(ChatId chat) override {
    std::vector<ReceiptCursor> out;
    Status decode;
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::ReceiptPrefix(chat), [&](std::string_view, std::string_view v) {
      auto r = detail::DecodeReceipt(v);
      if (!r.ok()) {
        decode = r.error();
        return false;
      }
      out.push_back(*r);
      return true;
    }));
    LIBCHAT_RETURN_IF_ERROR(decode);
    return out;
  }

  Result<std::vector<PendingChat>> PendingChats(UserId user, DeviceId device) override {
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

  // ---------------------------------------------------------------- retention
  Status TouchDevice(DeviceId id, TimeMs when) override {
    LIBCHAT_ASSIGN_OR_RETURN(Device d, GetDevice(id));
    std::lock_guard lock(StripeFor(d.user));
    LIBCHAT_ASSIGN_OR_RETURN(Device old, GetDevice(id));  // Re-read under the lock.
    if (when <= old.last_seen) return Status::Ok();
    Device updated = old;
    updated.last_seen = when;
    KvBatch b;
    PutDevice(updated, &old, &b);
    return engine_->Write(b, false);
  }

  Result<RetentionReport> SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override {
    RetentionReport report;
    KvBatch b;
    // Messages: the expiry index is ordered by time, so the sweep reads only what it deletes.
    {
      const std::string prefix = keys::ExpiryPrefix();
      auto it = engine_->NewIterator();
      for (it->Seek(prefix); it->Valid(); it->Next()) {
        std::string_view k = it->key();
        if (k.substr(0, prefix.size()) != prefix) break;
        TimeMs expiry = static_cast<TimeMs>(keys::ReadBE(k, prefix.size()));
        if (expiry > now) break;
        if (report.messages_deleted >= max_deletes) {
          report.more = true;
          break;
        }
        ChatId chat = keys::ReadBE(k, prefix.size() + 8);
        Seq seq = keys::ReadBE(k, prefix.size() + 16);
        auto m = GetMessage(chat, seq);
        if (m.ok()) {
          if (!m->client_id.empty() && m->sender_device != 0) b.Delete(keys::Dedup(m->sender_device, m->client_id));
          b.Delete(keys::Message(chat, seq));
          ++report.messages_deleted;
        } else if (!m.error().IsNotFound()) {
          return m.error();
        }
        b.Delete(std::string(k));
      }
      LIBCHAT_RETURN_IF_ERROR(it->status());
    }
    // Cursors of devices that have not been seen for cursor_ttl_ms: what a device that never comes
    // back leaves behind.
    {
      const std::string prefix = keys::DeviceSeenPrefix();
      auto it = engine_->NewIterator();
      for (it->Seek(prefix); it->Valid(); it->Next()) {
        std::string_view k = it->key();
        if (k.substr(0, prefix.size()) != prefix) break;
        TimeMs day = static_cast<TimeMs>(keys::ReadBE(k, prefix.size()));
        if (day + kMsPerDay + cursor_ttl_ms > now) break;
        if (report.messages_deleted + report.cursors_deleted >= max_deletes) {
          report.more = true;
          break;
        }
        DeviceId device = keys::ReadBE(k, prefix.size() + 8);
        LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::DeviceCursorPrefix(device), [&](std::string_view ck, std::string_view) {
          b.Delete(std::string(ck));
          ++report.cursors_deleted;
          return true;
        }));
        b.Delete(std::string(k));
      }
      LIBCHAT_RETURN_IF_ERROR(it->status());
    }
    if (!b.empty()) LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, options_.sync));
    return report;
  }

  StoreStats Stats() override {
    StoreStats s;
    {
      std::lock_guard lock(id_mu_);
      s.users = next_user_ - 1;
      s.chats = next_chat_ - 1;
    }
    s.appends = appends_.load(std::memory_order_relaxed);
    s.commit_groups = commits_.groups();
    return s;
  }

  std::string Describe() const override { return engine_->Describe(); }

  Status Backup(const std::string& dir) override { return engine_->Backup(dir); }

 private:
  struct ChatState {
    std::mutex mu;
    bool loaded = false;
    Seq head = 0;          // Last assigned (may not be durable yet).
    std::atomic<Seq> durable_head{0};  // Last committed: what readers may rely on.
    TimeMs last_ts = 0;
    TimeMs retention_ms = 0;
  };

  struct DedupShard {
    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<CommitQueue::Ticket>> inflight;
  };

  static Status NotFoundOr(const Status& s, const std::string& what) {
    if (s.IsNotFound()) return Status::NotFound(what);
    return s;
  }

  std::mutex& StripeFor(std::uint64_t h) { return stripes_[h % stripes_.size()]; }

  Result<std::uint64_t> LoadCounter(std::string_view key) {
    auto v = engine_->Get(key);
    if (v.ok()) return DecodeU64(*v);
    if (v.error().IsNotFound()) return std::uint64_t{1};
    return v.error();
  }

  // Allocates the next id of a counter and persists the counter in the same batch.
  std::uint64_t NextId(std::uint64_t* counter, std::string_view key, KvBatch* b) {
    std::lock_guard lock(id_mu_);
    std::uint64_t id = (*counter)++;
    b->Put(std::string(key), EncodeU64(*counter));
    return id;
  }

  void PutDevice(const Device& d, const Device* old, KvBatch* b) {
    b->Put(keys::Device(d.id), detail::EncodeDevice(d));
    b->Put(keys::UserDevice(d.user, d.id), "");
    if (old != nullptr && old->token_hash != d.token_hash && !old->token_hash.empty()) {
      b->Delete(keys::DeviceToken(old->token_hash));
    }
    if (!d.token_hash.empty()) {
      std::string v;
      keys::AppendBE(&v, d.id);
      b->Put(keys::DeviceToken(d.token_hash), v);
    }
    const TimeMs old_day = old != nullptr && old->last_seen != 0 ? DayOf(old->last_seen) : -1;
    const TimeMs new_day = d.last_seen != 0 ? DayOf(d.last_seen) : -1;
    if (old_day != new_day) {
      if (old_day >= 0) b->Delete(keys::DeviceSeen(old_day, d.id));
      if (new_day >= 0) b->Put(keys::DeviceSeen(new_day, d.id), "");
    }
  }

  Result<std::vector<Participant>> ScanParticipants(const std::string& prefix) {
    std::vector<Participant> out;
    Status decode;
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, prefix, [&](std::string_view, std::string_view v) {
      auto p = detail::DecodeParticipant(v);
      if (!p.ok()) {
        decode = p.error();
        return false;
      }
      out.push_back(*p);
      return true;
    }));
    LIBCHAT_RETURN_IF_ERROR(decode);
    return out;
  }

  // The chat's in-memory state, loaded from the engine on first use. NotFound if no such chat.
  Result<std::shared_ptr<ChatState>> State(ChatId chat) {
    std::shared_ptr<ChatState> state;
    {
      std::lock_guard lock(chats_mu_);
      auto& slot = chats_[chat];
      if (!slot) slot = std::make_shared<ChatState>();
      state = slot;
    }
    std::lock_guard lock(state->mu);
    if (!state->loaded) {
      auto c = GetChat(chat);
      if (!c.ok()) {
        std::lock_guard map_lock(chats_mu_);
        chats_.erase(chat);
        return c.error();
      }
      auto h = engine_->Get(keys::ChatHead(chat));
      if (h.ok()) {
        detail::Reader r(*h);
        state->head = r.U64();
        state->last_ts = r.I64();
      } else if (!h.error().IsNotFound()) {
        return h.error();
      }
      state->durable_head.store(state->head, std::memory_order_release);
      state->retention_ms = c->retention_ms;
      state->loaded = true;
    }
    return state;
  }

  // Assigns the chat's next seq to `entry` and puts it, the head and the expiry index into the
  // ticket. REQUIRES: state.mu held; the caller enqueues the ticket before releasing it.
  void AddEntry(ChatState& state, Message entry, CommitQueue::Ticket* ticket) {
    entry.seq = ++state.head;
    entry.timestamp = std::max(entry.timestamp, state.last_ts);
    state.last_ts = entry.timestamp;
    if (entry.id.empty()) entry.id = detail::RandomHex(16);
    KvBatch& b = ticket->batch;
    b.Put(keys::Message(entry.chat, entry.seq), detail::EncodeMessage(entry));
    detail::Writer head;
    head.U64(entry.seq);
    head.I64(entry.timestamp);
    b.Put(keys::ChatHead(entry.chat), head.Take());
    b.Put(keys::Expiry(entry.timestamp + state.retention_ms, entry.chat, entry.seq), "");
    ticket->entry = std::make_shared<const Message>(std::move(entry));
    // Readers see the new head once it is durable. Only the committer thread writes it, in queue
    // order, so heads only rise. Chat states live as long as the store once loaded.
    auto* s = &state;
    Seq seq = ticket->entry->seq;
    ticket->on_durable = [s, seq] { s->durable_head.store(seq, std::memory_order_release); };
  }

  static Result<AppendResult> Duplicate(const Message& original, ChatId requested_chat) {
    if (original.chat != requested_chat) {
      return Status::InvalidArgument("client message id '" + original.client_id + "' was already used in chat " +
                                     std::to_string(original.chat));
    }
    return AppendResult{original, true};
  }

  Result<ReceiptCursor> RaiseReceipt(UserId user, ChatId chat, Seq delivered, Seq read) {
    std::lock_guard lock(StripeFor(chat * 131 + user));
    LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor r, GetReceipt(chat, user));
    ReceiptCursor updated = r;
    updated.delivered = std::max({r.delivered, delivered, read});
    updated.read = std::max(r.read, read);
    if (updated.delivered != r.delivered || updated.read != r.read) {
      KvBatch b;
      b.Put(keys::Receipt(chat, user), detail::EncodeReceipt(updated));
      LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, false));
    }
    return updated;
  }

  std::unique_ptr<KvEngine> engine_;
  KvStoreOptions options_;
  CommitQueue commits_;

  std::mutex id_mu_;
  std::uint64_t next_user_ = 1;
  std::uint64_t next_chat_ = 1;
  std::uint64_t next_device_ = 1;

  std::mutex chats_mu_;
  std::unordered_map<ChatId, std::shared_ptr<ChatState>> chats_;
  std::mutex direct_mu_;
  std::array<DedupShard, 64> dedup_shards_;
  std::array<std::mutex, 256> stripes_;
  std::atomic<std::uint64_t> appends_{0};
};

}  // namespace

Result<std::unique_ptr<Store>> MakeKvStore(std::unique_ptr<KvEngine> engine, KvStoreOptions options) {
  if (!engine) return Status::InvalidArgument("MakeKvStore: null engine");
  auto store = std::make_unique<KvStore>(std::move(engine), options);
  LIBCHAT_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace chat
