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
#include <condition_variable>
#include <optional>
#include <functional>
#include <limits>
#include <unordered_map>
#include <variant>

#include <set>

#include "blob_id.h"
#include "codec.h"
#include "commit_queue.h"
#include "crypto.h"
#include "keys.h"
#include "libchat/store.h"
#include "spam_tables.h"

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

// Calls fn(key, value) for every entry whose key starts with prefix. Stops at, and returns, the first
// error from fn or from the engine.
Status ForEachPrefix(KvEngine& engine, const std::string& prefix,
                     const std::function<Status(std::string_view, std::string_view)>& fn) {
  auto it = engine.NewIterator();
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    LIBCHAT_RETURN_IF_ERROR(fn(it->key(), it->value()));
  }
  return it->status();
}

class KvStore final : public Store {
 public:
  KvStore(std::unique_ptr<KvEngine> engine, KvStoreOptions options)
      : engine_(std::move(engine)),
        options_(options),
        commits_(engine_.get(), options.sync, options.group_commit, options.max_group) {}

  // Drain the commit queue first: its completions refer to the shards below.
  ~KvStore() override { commits_.Stop(); }

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
      ticket->observer = observer;
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
      ticket->observer = observer;
      commits_.Enqueue(ticket);
    }
    LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
    return *ticket->entry;
  }

  // ---------------------------------------------------------------- messages
  Result<AppendResult> Append(Message draft, const CommitObserver& observer) override {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<AppendResult>> out;
    AppendAsync(std::move(draft), observer, [&](Result<AppendResult> r) {
      std::lock_guard lock(mu);
      out.emplace(std::move(r));
      cv.notify_one();
    });
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return out.has_value(); });
    return std::move(*out);
  }

  void AppendAsync(Message draft, CommitObserver observer, AppendDone done) override {
    if (draft.chat == 0) return done(Status::InvalidArgument("chat id 0"));
    auto state = State(draft.chat);
    if (!state.ok()) return done(state.error());
    const bool dedup = !draft.client_id.empty() && draft.sender_device != 0;
    std::string dedup_key;
    DedupShard* shard = nullptr;
    std::unique_lock<std::mutex> shard_lock;
    if (dedup) {
      dedup_key = keys::Dedup(draft.sender_device, draft.client_id);
      shard = &dedup_shards_[std::hash<std::string>()(dedup_key) % dedup_shards_.size()];
      shard_lock = std::unique_lock(shard->mu);
      // In flight: answer with that append's message once it is durable.
      if (auto it = shard->inflight.find(dedup_key); it != shard->inflight.end()) {
        auto pending = it->second;
        shard_lock.unlock();
        const ChatId requested = draft.chat;
        commits_.OnComplete(pending, [pending, requested, done](const Status& st) {
          if (!st.ok()) return done(st);
          done(Duplicate(*pending->entry, requested));
        });
        return;
      }
      // Already durable.
      auto found = engine_->Get(dedup_key);
      if (found.ok()) {
        shard_lock.unlock();
        detail::Reader r(*found);
        ChatId chat = r.U64();
        Seq seq = r.U64();
        auto original = GetMessage(chat, seq);
        if (!original.ok()) return done(original.error());
        return done(Duplicate(*original, draft.chat));
      }
      if (!found.error().IsNotFound()) return done(found.error());
    }

    auto ticket = std::make_shared<CommitQueue::Ticket>();
    {
      std::lock_guard lock((*state)->mu);
      Status health = commits_.health();
      if (!health.ok()) return done(health);
      draft.id = detail::RandomHex(16);
      draft.deleted = false;
      AddEntry(**state, std::move(draft), ticket.get());
      if (dedup) {
        detail::Writer w;
        w.U64(ticket->entry->chat);
        w.U64(ticket->entry->seq);
        ticket->batch.Put(dedup_key, w.Take());
        // Claimed before the ticket can complete; released by the completion below.
        shard->inflight.emplace(dedup_key, ticket);
      }
      ticket->observer = std::move(observer);
      std::weak_ptr<CommitQueue::Ticket> weak = ticket;
      ticket->completions.push_back([this, shard, dedup_key, weak, done = std::move(done)](const Status& st) {
        auto t = weak.lock();
        if (shard != nullptr) {
          std::lock_guard l(shard->mu);
          shard->inflight.erase(dedup_key);
        }
        if (!st.ok() || !t) return done(st.ok() ? Status::Internal("append ticket lost") : st);
        appends_.fetch_add(1, std::memory_order_relaxed);
        done(AppendResult{*t->entry, false});
      });
      commits_.Enqueue(ticket);
    }
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
      // Past its retention the message belongs to the sweeper; a tombstone written now could
      // outlive the sweep.
      if (target.timestamp + state->retention_ms <= now) {
        return Status::NotFound("message " + std::to_string(seq) + " has expired");
      }
      if (target.deleted) return Status::NotFound("message " + std::to_string(seq) + " is already deleted");
      // The tombstone keeps the position (seq, id, sender, time) so that sync never shows a gap.
      std::set<std::string> dropped_refs;
      LIBCHAT_RETURN_IF_ERROR(DropAttachmentRefs(target, now, &ticket->batch, &dropped_refs));
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
      ticket->observer = observer;
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
    LIBCHAT_RETURN_IF_ERROR(RaiseCursor(keys::DeviceCursor(device, chat), [&](std::string* value) {
      Seq old = value->empty() ? 0 : DecodeU64(*value);
      if (seq <= old) return false;
      *value = EncodeU64(seq);
      return true;
    }));
    return RaiseReceipt(user, chat, seq, 0);
  }

  Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) override {
    return RaiseReceipt(user, chat, seq, seq);
  }

  Result<Seq> DeviceCursor(DeviceId device, ChatId chat) override {
    LIBCHAT_ASSIGN_OR_RETURN(std::string v, ReadCursor(keys::DeviceCursor(device, chat)));
    return v.empty() ? Seq{0} : DecodeU64(v);
  }

  Result<ReceiptCursor> GetReceipt(ChatId chat, UserId user) override {
    LIBCHAT_ASSIGN_OR_RETURN(std::string v, ReadCursor(keys::Receipt(chat, user)));
    if (v.empty()) return ReceiptCursor{chat, user, 0, 0};
    return detail::DecodeReceipt(v);
  }

  Result<std::vector<ReceiptCursor>> ListReceipts(ChatId chat) override {
    // Per member rather than a prefix scan, so that cursors still being written behind are seen.
    LIBCHAT_ASSIGN_OR_RETURN(auto members, ListParticipants(chat));
    std::vector<ReceiptCursor> out;
    for (const auto& p : members) {
      LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor r, GetReceipt(chat, p.user));
      if (r.delivered != 0 || r.read != 0) out.push_back(r);
    }
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
    // Through the commit queue (not fsynced on its own) so that device writes stay in order.
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->sync = false;
    PutDevice(updated, &old, &ticket->batch);
    return commits_.Commit(ticket);
  }

  // Waits until every write queued so far (cursors and device updates are written behind) is in the
  // engine: scans of the engine then see them. The queue is FIFO, so an empty ticket is a barrier.
  Status WaitForQueuedWrites() {
    auto barrier = std::make_shared<CommitQueue::Ticket>();
    barrier->sync = false;
    return commits_.Commit(barrier);
  }

  Result<RetentionReport> SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override {
    // Acknowledged cursors still queued would escape the scan (and be written after it).
    LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
    KvBatch b;
    LIBCHAT_ASSIGN_OR_RETURN(RetentionReport report, ScanExpired(now, cursor_ttl_ms, max_deletes, &b));
    if (!b.empty()) {
      auto ticket = std::make_shared<CommitQueue::Ticket>();
      ticket->batch = std::move(b);
      LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
    }
    return report;
  }

  // The admin API's retention dry run: the same scan as SweepExpired, deleting nothing, so the counts
  // are what a real run would delete now.
  Result<RetentionReport> CountExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override {
    LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
    return ScanExpired(now, cursor_ttl_ms, max_deletes, nullptr);
  }

  // Finds what retention deletes now, at most max_deletes items: messages past their expiry and the
  // cursors of devices not seen for cursor_ttl_ms. With `deletes`, adds every deletion to it (the
  // messages with their dedup records, index entries and attachment references); without, counts.
  Result<RetentionReport> ScanExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes, KvBatch* deletes) {
    RetentionReport report;
    std::set<std::string> dropped_refs;
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
        // An index entry whose message is already gone is dropped but deletes nothing.
        auto m = GetMessage(chat, seq);
        if (m.ok()) {
          if (deletes != nullptr) {
            if (!m->client_id.empty() && m->sender_device != 0) {
              deletes->Delete(keys::Dedup(m->sender_device, m->client_id));
            }
            LIBCHAT_RETURN_IF_ERROR(DropAttachmentRefs(*m, now, deletes, &dropped_refs));
            deletes->Delete(keys::Message(chat, seq));
          }
          ++report.messages_deleted;
        } else if (!m.error().IsNotFound()) {
          return m.error();
        }
        if (deletes != nullptr) deletes->Delete(std::string(k));
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
          if (deletes != nullptr) deletes->Delete(std::string(ck));
          ++report.cursors_deleted;
          return true;
        }));
        if (deletes != nullptr) deletes->Delete(std::string(k));
      }
      LIBCHAT_RETURN_IF_ERROR(it->status());
    }
    return report;
  }

  // ---------------------------------------------------------------- attachments
  Status CreateAttachment(const Attachment& a, std::uint64_t bytes_per_day) override {
    if (!detail::IsValidBlobId(a.id)) return Status::InvalidArgument("invalid attachment id '" + a.id + "'");
    // The quota is a read-modify-write of the uploader's counter: serialise per user.
    std::lock_guard lock(StripeFor(a.uploader));
    LIBCHAT_ASSIGN_OR_RETURN(bool exists, Exists(keys::Attachment(a.id)));
    if (exists) return Status::AlreadyExists("attachment " + a.id);
    const std::string quota_key = keys::AttachmentQuota(DayOf(a.created_at), a.uploader);
    std::uint64_t used = 0;
    if (auto v = engine_->Get(quota_key); v.ok()) {
      used = DecodeU64(*v);
    } else if (!v.error().IsNotFound()) {
      return v.error();
    }
    if (a.size > bytes_per_day || used > bytes_per_day - a.size) {
      return Status::ResourceExhausted("daily upload quota: user " + std::to_string(a.uploader) + " has announced " +
                                       std::to_string(used) + " of " + std::to_string(bytes_per_day) +
                                       " bytes today; " + std::to_string(a.size) + " more do not fit");
    }
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Put(keys::Attachment(a.id), detail::EncodeAttachment(a));
    ticket->batch.Put(keys::AttachmentOrphan(a.id), EncodeU64(static_cast<std::uint64_t>(a.created_at)));
    ticket->batch.Put(quota_key, EncodeU64(used + a.size));
    return commits_.Commit(ticket);
  }

  Result<Attachment> GetAttachment(std::string_view id) override {
    auto v = engine_->Get(keys::Attachment(id));
    if (!v.ok()) return NotFoundOr(v.error(), "attachment " + std::string(id));
    return detail::DecodeAttachment(*v);
  }

  Status CompleteAttachment(std::string_view id, TimeMs at) override {
    std::lock_guard lock(StripeFor(std::hash<std::string_view>()(id)));
    LIBCHAT_ASSIGN_OR_RETURN(Attachment a, GetAttachment(id));
    if (a.state == AttachmentState::kComplete) {
      return Status::FailedPrecondition("attachment " + a.id + " is already uploaded");
    }
    a.state = AttachmentState::kComplete;
    a.completed_at = at;
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Put(keys::Attachment(a.id), detail::EncodeAttachment(a));
    return commits_.Commit(ticket);
  }

  Result<std::vector<AttachmentRef>> ListAttachmentRefs(std::string_view id) override {
    std::vector<AttachmentRef> out;
    const std::string prefix = keys::AttachmentRefPrefix(id);
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, prefix, [&](std::string_view k, std::string_view) {
      out.push_back({keys::ReadBE(k, prefix.size()), keys::ReadBE(k, prefix.size() + 8)});
      return true;
    }));
    return out;
  }

  Result<std::vector<std::string>> CollectAttachments(TimeMs now, TimeMs grace_ms, std::size_t max_deletes) override {
    KvBatch b;
    std::size_t collected = 0;
    // The orphan index holds only unreferenced attachments (uploads in flight, or never or no longer
    // sent), so a full scan costs what is pending, not what is stored.
    const std::string prefix = keys::AttachmentOrphanPrefix();
    auto it = engine_->NewIterator();
    for (it->Seek(prefix); it->Valid() && collected < max_deletes; it->Next()) {
      std::string_view k = it->key();
      if (k.substr(0, prefix.size()) != prefix) break;
      const std::string id(k.substr(prefix.size()));
      const TimeMs since = static_cast<TimeMs>(DecodeU64(it->value()));
      if (since + grace_ms > now) continue;
      bool referenced = false;
      LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::AttachmentRefPrefix(id), [&](std::string_view, std::string_view) {
        referenced = true;
        return false;
      }));
      b.Delete(std::string(k));
      if (referenced) continue;  // A message references it again: a stale index entry.
      b.Delete(keys::Attachment(id));
      b.Put(keys::AttachmentGarbage(id), "");
      ++collected;
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
    // Quota counters of days before yesterday no longer limit anything.
    const std::string quota = keys::AttachmentQuotaPrefix();
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, quota, [&](std::string_view k, std::string_view) {
      if (static_cast<TimeMs>(keys::ReadBE(k, quota.size())) >= DayOf(now) - kMsPerDay) return false;
      b.Delete(std::string(k));
      return true;
    }));
    if (!b.empty()) {
      auto ticket = std::make_shared<CommitQueue::Ticket>();
      ticket->batch = std::move(b);
      LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
    }
    std::vector<std::string> out;
    const std::string garbage = keys::AttachmentGarbagePrefix();
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, garbage, [&](std::string_view k, std::string_view) {
      out.emplace_back(k.substr(garbage.size()));
      return out.size() < std::max<std::size_t>(max_deletes, 1);
    }));
    return out;
  }

  Status ReleaseAttachments(const std::vector<std::string>& ids) override {
    if (ids.empty()) return Status::Ok();
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    for (const auto& id : ids) ticket->batch.Delete(keys::AttachmentGarbage(id));
    return commits_.Commit(ticket);
  }

  // ---------------------------------------------------------------- blocks and bans
  Status Block(const UserBlock& block, std::size_t max_blocked) override {
    std::lock_guard lock(moderation_mu_);
    LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(keys::Block(block.user, block.blocked)));
    if (found) return Status::Ok();  // Blocking again keeps the first record.
    std::size_t count = 0;
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::BlockPrefix(block.user), [&](std::string_view, std::string_view) {
      return ++count < max_blocked;
    }));
    if (count >= max_blocked) {
      return Status::FailedPrecondition("you already block " + std::to_string(count) + " users, the most allowed; " +
                                        "unblock one first");
    }
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Put(keys::Block(block.user, block.blocked), EncodeU64(static_cast<std::uint64_t>(block.since)));
    return commits_.Commit(ticket);
  }

  Status Unblock(UserId user, UserId blocked) override {
    std::lock_guard lock(moderation_mu_);
    LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(keys::Block(user, blocked)));
    if (!found) return Status::Ok();
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Delete(keys::Block(user, blocked));
    return commits_.Commit(ticket);
  }

  Result<std::vector<UserBlock>> ListBlocked(UserId user) override {
    std::vector<UserBlock> out;
    const std::string prefix = keys::BlockPrefix(user);
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, prefix, [&](std::string_view k, std::string_view v) -> Status {
      if (k.size() != prefix.size() + 8) return Status::Corruption(Describe() + ": malformed block key");
      out.push_back({user, keys::ReadBE(k, prefix.size()), static_cast<TimeMs>(DecodeU64(v))});
      return Status::Ok();
    }));
    return out;
  }

  Status Ban(const UserBan& ban) override {
    std::lock_guard lock(moderation_mu_);
    LIBCHAT_ASSIGN_OR_RETURN(User user, GetUser(ban.user));
    user.disabled = true;
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Put(keys::User(user.id), detail::EncodeUser(user));
    ticket->batch.Put(keys::Ban(user.id), detail::EncodeBan(ban));
    return commits_.Commit(ticket);
  }

  Status Unban(UserId user_id) override {
    std::lock_guard lock(moderation_mu_);
    LIBCHAT_ASSIGN_OR_RETURN(bool banned, Exists(keys::Ban(user_id)));
    if (!banned) return Status::NotFound("user " + std::to_string(user_id) + " is not banned");
    LIBCHAT_ASSIGN_OR_RETURN(User user, GetUser(user_id));
    user.disabled = false;
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->batch.Put(keys::User(user.id), detail::EncodeUser(user));
    ticket->batch.Delete(keys::Ban(user.id));
    return commits_.Commit(ticket);
  }

  Result<UserBan> GetBan(UserId user) override {
    auto v = engine_->Get(keys::Ban(user));
    if (!v.ok()) return NotFoundOr(v.error(), "ban of user " + std::to_string(user));
    return detail::DecodeBan(*v);
  }

  Result<std::vector<UserBan>> ListBans(UserId after, std::size_t limit) override {
    std::vector<UserBan> out;
    const std::string prefix = keys::BanPrefix();
    auto it = engine_->NewIterator();
    for (it->Seek(keys::Ban(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
      if (it->key().substr(0, prefix.size()) != prefix) break;
      LIBCHAT_ASSIGN_OR_RETURN(UserBan b, detail::DecodeBan(it->value()));
      out.push_back(std::move(b));
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
    return out;
  }

  // ---------------------------------------------------------------- spam flags and reports
  Status PutSpamFlag(const SpamFlag& flag) override { return spam_.PutFlag(flag); }
  Result<SpamFlag> GetSpamFlag(UserId user) override { return spam_.GetFlag(user); }
  Status DeleteSpamFlag(UserId user) override { return spam_.DeleteFlag(user); }
  Result<std::vector<SpamFlag>> ListSpamFlags(UserId after, std::size_t limit) override {
    return spam_.ListFlags(after, limit);
  }
  Result<SpamReportAdded> AddSpamReport(SpamReport report) override { return spam_.AddReport(std::move(report)); }
  Result<std::vector<SpamReport>> ListSpamReports(UserId sender, std::uint64_t after, std::size_t limit) override {
    return spam_.ListReports(sender, after, limit);
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

  // ---------------------------------------------------------------- export / import
  // Export walks the primary records with iterators and hands each to the sink as it is decoded, so
  // memory stays flat however large the store. Derived indexes are skipped: Import rebuilds them.
  Status Export(const RecordSink& sink) override {
    // Cursors are written behind: the scans below must find every cursor that exists.
    LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
    IdCounters counters;
    {
      std::lock_guard lock(id_mu_);
      counters = {next_user_, next_device_, next_chat_};
    }
    LIBCHAT_RETURN_IF_ERROR(sink(StoreRecord{counters}));
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::UserPrefix(), [&](std::string_view, std::string_view v) {
      return ExportUser(v, sink);
    }));
    // After every user: a block may name a user with a higher id.
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::BanPrefix(), [&](std::string_view, std::string_view v) {
      return SinkDecoded(detail::DecodeBan(v), sink);
    }));
    const std::string blocks = keys::BlocksPrefix();
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, blocks, [&](std::string_view k, std::string_view v) -> Status {
      if (k.size() != blocks.size() + 16) return Status::Corruption(Describe() + ": malformed block key");
      return sink(StoreRecord{UserBlock{keys::ReadBE(k, blocks.size()), keys::ReadBE(k, blocks.size() + 8),
                                        static_cast<TimeMs>(DecodeU64(v))}});
    }));
    // Before the chats, so that an import sees each attachment before the messages that reference it.
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::AttachmentPrefix(), [&](std::string_view, std::string_view v) {
      return SinkDecoded(detail::DecodeAttachment(v), sink);
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
    return spam_.Export(sink);
  }

  Status Import(const StoreRecord& record) override {
    return std::visit([this](const auto& entity) { return ImportEntity(entity); }, record.entity);
  }

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
    // The message now references its attachments: they are no longer candidates for collection.
    for (const auto& id : entry.attachments) {
      b.Put(keys::AttachmentRef(id, entry.chat, entry.seq), "");
      b.Delete(keys::AttachmentOrphan(id));
    }
    ticket->entry = std::make_shared<const Message>(std::move(entry));
    // Readers see the new head once it is durable. Only the committer thread writes it, in queue
    // order, so heads only rise. Chat states live as long as the store once loaded.
    auto* s = &state;
    Seq seq = ticket->entry->seq;
    ticket->on_durable = [s, seq] { s->durable_head.store(seq, std::memory_order_release); };
  }

  // Forgets, in `b`, that `m` (expiring or being deleted) references its attachments; one left with
  // no reference becomes unreferenced from `now`, so that CollectAttachments removes it after its
  // grace period. `dropped` holds the reference keys already deleted in `b`, which the engine still has.
  Status DropAttachmentRefs(const Message& m, TimeMs now, KvBatch* b, std::set<std::string>* dropped) {
    for (const auto& id : m.attachments) {
      std::string ref = keys::AttachmentRef(id, m.chat, m.seq);
      b->Delete(ref);
      dropped->insert(std::move(ref));
      bool referenced = false;
      LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::AttachmentRefPrefix(id), [&](std::string_view k, std::string_view) {
        referenced = dropped->count(std::string(k)) == 0;
        return !referenced;
      }));
      if (!referenced) b->Put(keys::AttachmentOrphan(id), EncodeU64(static_cast<std::uint64_t>(std::max<TimeMs>(now, 0))));
    }
    return Status::Ok();
  }

  static Result<AppendResult> Duplicate(const Message& original, ChatId requested_chat) {
    if (original.chat != requested_chat) {
      return Status::InvalidArgument("client message id '" + original.client_id + "' was already used in chat " +
                                     std::to_string(original.chat));
    }
    return AppendResult{original, true};
  }

  Result<ReceiptCursor> RaiseReceipt(UserId user, ChatId chat, Seq delivered, Seq read) {
    ReceiptCursor out{chat, user, 0, 0};
    Status decode;
    LIBCHAT_RETURN_IF_ERROR(RaiseCursor(keys::Receipt(chat, user), [&](std::string* value) {
      if (!value->empty()) {
        auto r = detail::DecodeReceipt(*value);
        if (!r.ok()) {
          decode = r.error();
          return false;
        }
        out = *r;
      }
      ReceiptCursor updated = out;
      updated.delivered = std::max({out.delivered, delivered, read});
      updated.read = std::max(out.read, read);
      bool changed = updated.delivered != out.delivered || updated.read != out.read;
      out = updated;
      if (changed) *value = detail::EncodeReceipt(updated);
      return changed;
    }));
    LIBCHAT_RETURN_IF_ERROR(decode);
    return out;
  }

  // Cursor values written behind (see store.h): the newest value of each key whose write is still
  // queued, so that readers never see an older one from the engine. An entry lives only while its
  // writes are in flight, which bounds this map by the write rate, not by the number of cursors.
  struct CursorShard {
    std::mutex mu;
    struct Pending {
      std::string value;
      int writes = 0;
    };
    std::unordered_map<std::string, Pending> pending;
  };

  CursorShard& CursorShardFor(const std::string& key) {
    return cursor_shards_[std::hash<std::string>()(key) % cursor_shards_.size()];
  }

  // The cursor's current value ("" if none).
  Result<std::string> ReadCursor(const std::string& key) {
    CursorShard& shard = CursorShardFor(key);
    std::lock_guard lock(shard.mu);
    if (auto it = shard.pending.find(key); it != shard.pending.end()) return it->second.value;
    auto v = engine_->Get(key);
    if (v.ok()) return std::move(*v);
    if (v.error().IsNotFound()) return std::string();
    return v.error();
  }

  // Read-modify-write of one cursor: `raise` edits the value and says whether it changed; a change
  // is queued for the next commit group without waiting for it. Writes of one key are queued under
  // its shard lock, so they reach the disk in the order they were made.
  Status RaiseCursor(const std::string& key, const std::function<bool(std::string*)>& raise) {
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    CursorShard& shard = CursorShardFor(key);
    std::lock_guard lock(shard.mu);
    std::string value;
    auto it = shard.pending.find(key);
    if (it != shard.pending.end()) {
      value = it->second.value;
    } else {
      auto v = engine_->Get(key);
      if (v.ok()) value = std::move(*v);
      else if (!v.error().IsNotFound()) return v.error();
    }
    if (!raise(&value)) return Status::Ok();
    auto& p = shard.pending[key];
    p.value = value;
    ++p.writes;
    auto ticket = std::make_shared<CommitQueue::Ticket>();
    ticket->sync = false;
    ticket->batch.Put(key, value);
    ticket->completions.push_back([&shard, key](const Status&) {
      std::lock_guard l(shard.mu);
      auto it = shard.pending.find(key);
      if (it != shard.pending.end() && --it->second.writes == 0) shard.pending.erase(it);
    });
    commits_.Enqueue(std::move(ticket));
    return Status::Ok();
  }

  // ---- export helpers
  Status ExportUser(std::string_view value, const RecordSink& sink) {
    auto user = detail::DecodeUser(value);
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

  Status ExportChat(std::string_view value, const RecordSink& sink) {
    ChatRecord record;
    auto chat = detail::DecodeChat(value);
    if (!chat.ok()) return chat.error().WithContext(Describe());
    record.chat = std::move(*chat);
    auto head = engine_->Get(keys::ChatHead(record.chat.id));
    if (head.ok()) {
      detail::Reader r(*head);
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
      return SinkDecoded(detail::DecodeParticipant(v), sink);
    }));
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::MessagePrefix(id), [&](auto, std::string_view v) {
      return SinkDecoded(detail::DecodeMessage(v), sink);
    }));
    return ForEachPrefix(*engine_, keys::ReceiptPrefix(id), [&](std::string_view k, std::string_view) -> Status {
      LIBCHAT_ASSIGN_OR_RETURN(std::string v, ReadCursor(std::string(k)));  // As for device cursors.
      if (v.empty()) return Status::Ok();  // Removed with its member since the scan began.
      return SinkDecoded(detail::DecodeReceipt(v), sink);
    });
  }

  template <typename T>
  Status SinkDecoded(Result<T> decoded, const RecordSink& sink) {
    if (!decoded.ok()) return decoded.error().WithContext(Describe());
    return sink(StoreRecord{std::move(*decoded)});
  }

  // ---- import helpers: each writes one record with the index entries derived from it, in one batch.
  Result<bool> Exists(std::string_view key) {
    auto v = engine_->Get(key);
    if (v.ok()) return true;
    if (v.error().IsNotFound()) return false;
    return v.error();
  }

  static Status Missing(const std::string& what, const std::string& referrer) {
    return Status::InvalidArgument(referrer + " refers to " + what +
                                   ", which is missing (an export lists it before what refers to it)");
  }

  // Fails unless the entity a record refers to was imported before it.
  Status RequireImported(std::string_view key, const std::string& what, const std::string& referrer) {
    LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(key));
    return found ? Status::Ok() : Missing(what, referrer);
  }

  Status RequireAbsent(std::string_view key, const std::string& what) {
    LIBCHAT_ASSIGN_OR_RETURN(bool found, Exists(key));
    if (found) return Status::AlreadyExists(what + " is already in the store (import needs a fresh store)");
    return Status::Ok();
  }

  // Raises a counter so that it never hands out an imported id again, in the record's batch.
  void RaiseCounter(std::uint64_t* counter, std::string_view key, std::uint64_t at_least, KvBatch* b) {
    std::lock_guard lock(id_mu_);
    if (*counter >= at_least) return;
    *counter = at_least;
    b->Put(std::string(key), EncodeU64(at_least));
  }

  Status ImportEntity(const IdCounters& c) {
    KvBatch b;
    RaiseCounter(&next_user_, keys::kNextUser, c.next_user, &b);
    RaiseCounter(&next_device_, keys::kNextDevice, c.next_device, &b);
    RaiseCounter(&next_chat_, keys::kNextChat, c.next_chat, &b);
    return b.empty() ? Status::Ok() : engine_->Write(b, false);
  }

  Status ImportEntity(const User& u) {
    if (u.id == 0 || u.username.empty()) return Status::InvalidArgument("a user record needs an id and a username");
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::User(u.id), "user " + std::to_string(u.id)));
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::UserName(u.username), "username '" + u.username + "'"));
    KvBatch b;
    b.Put(keys::User(u.id), detail::EncodeUser(u));
    std::string id_value;
    keys::AppendBE(&id_value, u.id);
    b.Put(keys::UserName(u.username), id_value);
    RaiseCounter(&next_user_, keys::kNextUser, u.id + 1, &b);
    return engine_->Write(b, false);
  }

  Status ImportEntity(const Device& d) {
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

  Status ImportEntity(const ChatRecord& r) {
    const ChatId id = r.chat.id;
    if (id == 0) return Status::InvalidArgument("a chat record needs an id");
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Chat(id), "chat " + std::to_string(id)));
    KvBatch b;
    b.Put(keys::Chat(id), detail::EncodeChat(r.chat));
    if (r.head != 0 || r.last_timestamp != 0) {
      detail::Writer head;
      head.U64(r.head);
      head.I64(r.last_timestamp);
      b.Put(keys::ChatHead(id), head.Take());
    }
    RaiseCounter(&next_chat_, keys::kNextChat, id + 1, &b);
    LIBCHAT_RETURN_IF_ERROR(engine_->Write(b, false));
    // A state loaded before the chat existed would hold a stale head.
    std::lock_guard lock(chats_mu_);
    chats_.erase(id);
    return Status::Ok();
  }

  Status ImportEntity(const Participant& p) {
    const std::string what = "participant " + std::to_string(p.user) + " of chat " + std::to_string(p.chat);
    if (p.chat == 0 || p.user == 0) return Status::InvalidArgument("a participant record needs a chat and a user");
    auto chat = GetChat(p.chat);
    if (!chat.ok()) {
      return chat.error().IsNotFound() ? Missing("chat " + std::to_string(p.chat), what) : chat.error();
    }
    LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(p.user), "user " + std::to_string(p.user), what));
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Participant(p.chat, p.user), what));
    KvBatch b;
    std::string v = detail::EncodeParticipant(p);
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
    return engine_->Write(b, false);
  }

  Status ImportEntity(const Message& m) {
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
    b.Put(keys::Message(m.chat, m.seq), detail::EncodeMessage(m));
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
      detail::Writer w;
      w.U64(m.chat);
      w.U64(m.seq);
      b.Put(dedup_key, w.Take());
    }
    return engine_->Write(b, false);
  }

  Status ImportEntity(const SpamFlag& f) {
    return spam_.Import(f, [this](UserId u) { return Exists(keys::User(u)); });
  }

  Status ImportEntity(const SpamReport& r) {
    return spam_.Import(r, [this](UserId u) { return Exists(keys::User(u)); });
  }

  Status ImportEntity(const Attachment& a) {
    const std::string what = "attachment " + a.id;
    if (!detail::IsValidBlobId(a.id) || a.uploader == 0) {
      return Status::InvalidArgument("an attachment record needs a valid id and an uploader");
    }
    LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(a.uploader), "user " + std::to_string(a.uploader), what));
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Attachment(a.id), what));
    KvBatch b;
    b.Put(keys::Attachment(a.id), detail::EncodeAttachment(a));
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

  Status ImportEntity(const UserBan& ban) {
    const std::string what = "the ban of user " + std::to_string(ban.user);
    if (ban.user == 0) return Status::InvalidArgument("a ban record needs a user");
    LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::User(ban.user), "user " + std::to_string(ban.user), what));
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Ban(ban.user), what));
    KvBatch b;
    b.Put(keys::Ban(ban.user), detail::EncodeBan(ban));
    return engine_->Write(b, false);
  }

  Status ImportEntity(const UserBlock& block) {
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

  Status ImportEntity(const DeviceCursorRecord& c) {
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

  Status ImportEntity(const ReceiptCursor& r) {
    const std::string what =
        "the receipt cursor of user " + std::to_string(r.user) + " in chat " + std::to_string(r.chat);
    if (r.chat == 0 || r.user == 0) return Status::InvalidArgument("a receipt record needs a chat and a user");
    LIBCHAT_RETURN_IF_ERROR(RequireImported(keys::Chat(r.chat), "chat " + std::to_string(r.chat), what));
    LIBCHAT_RETURN_IF_ERROR(RequireAbsent(keys::Receipt(r.chat, r.user), what));
    KvBatch b;
    b.Put(keys::Receipt(r.chat, r.user), detail::EncodeReceipt(r));
    return engine_->Write(b, false);
  }

  std::unique_ptr<KvEngine> engine_;
  KvStoreOptions options_;
  CommitQueue commits_;
  // Spam flags and reports (spam_tables.cc); writes through commits_.
  detail::SpamTables spam_{engine_.get(), &commits_};

  std::mutex id_mu_;
  std::mutex moderation_mu_;  // Block and Ban: their read-check-write steps.
  std::uint64_t next_user_ = 1;
  std::uint64_t next_chat_ = 1;
  std::uint64_t next_device_ = 1;

  std::mutex chats_mu_;
  std::unordered_map<ChatId, std::shared_ptr<ChatState>> chats_;
  std::mutex direct_mu_;
  std::array<DedupShard, 64> dedup_shards_;
  std::array<std::mutex, 256> stripes_;
  std::array<CursorShard, 64> cursor_shards_;
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
