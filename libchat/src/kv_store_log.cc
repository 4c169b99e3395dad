// KvStore: the chat log. Appends (dedup first, then membership and admission under the chat's lock,
// then a sequence number and group commit), deletions, and reading entries back.
#include <algorithm>
#include <limits>
#include <mutex>

#include "codec.h"
#include "crypto.h"
#include "denials.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {

Result<Message> KvStore::DedupTarget(std::string_view dedup_value) {
  Reader r(dedup_value);
  ChatId chat = r.U64();
  Seq seq = r.U64();
  return GetMessage(chat, seq);
}

Result<Message> KvStore::FindSent(DeviceId device, std::string_view client_id) {
  auto found = engine_->Get(keys::Dedup(device, client_id));
  if (!found.ok()) return NotFoundOr(found.error(), "no message with client id '" + std::string(client_id) + "'");
  return DedupTarget(*found);
}

void KvStore::AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit) {
  if (draft.chat == 0) return done(Status::InvalidArgument("chat id 0"));
  const bool dedup = !draft.client_id.empty() && draft.sender_device != 0;
  std::string dedup_key;
  DedupShard* shard = nullptr;
  std::unique_lock<Mutex> shard_lock;
  if (dedup) {
    // 1. A resend gets its original answer, whatever changed since (membership, limits, the chat).
    dedup_key = keys::Dedup(draft.sender_device, draft.client_id);
    shard = &dedup_shards_[std::hash<std::string>()(dedup_key) % dedup_shards_.size()];
    shard_lock = std::unique_lock<Mutex>(shard->mu);
    // In flight: answer with that append's message once it is durable.
    std::shared_ptr<Ticket> pending;
    {
      shard->mu.AssertHeld();
      auto it = shard->inflight.find(dedup_key);
      if (it != shard->inflight.end()) pending = it->second;
    }
    if (pending) {
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
      auto original = DedupTarget(*found);
      if (!original.ok()) return done(original.error());
      return done(Duplicate(*original, draft.chat));
    }
    if (!found.error().IsNotFound()) return done(found.error());
  }

  // 2. The chat must exist.
  auto state = State(draft.chat);
  if (!state.ok()) return done(state.error());
  auto ticket = std::make_shared<Ticket>();
  // Refusals are answered after the locks are released: `done` may call back into the store.
  Status refused = [&]() -> Status {
    // 3. Under the chat's lock, at the entry's place in the log: membership, reply-to, admission.
    const StatePtr& keep = *state;
    ChatState& st = *keep;
    MutexLock lock(&st.mu);
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    if (IsUserContent(draft.kind) && FindMember(st, draft.sender) == nullptr) return NotMember(draft.chat);
    if (draft.reply_to != 0 && draft.reply_to > st.head) {
      return Status::InvalidArgument("replyTo " + std::to_string(draft.reply_to) + " is not in the chat");
    }
    const Seq seq = st.head + 1;
    // The sender has read what they wrote: their read cursor moves in the same write, so an unread
    // count never counts one's own message (and the committer does no store work for it). Prepared
    // here, applied once nothing can fail any more.
    std::optional<PreparedCursor> read_cursor;
    if (IsUserContent(draft.kind) && draft.sender != 0) {
      LIBCHAT_ASSIGN_OR_RETURN(read_cursor, PrepareReceipt(draft.sender, st.chat.id, seq, seq));
    }
    if (admit) LIBCHAT_RETURN_IF_ERROR(admit(AppendContext{st.chat, st.member_ids}));
    // From here on nothing fails: the head must never run ahead of what is queued.
    if (read_cursor) ApplyCursor(*read_cursor, ticket);
    const TimeMs accepted_at = draft.timestamp;
    draft.id = RandomHex(16);
    draft.deleted = false;
    AddEntry(st, keep, std::move(draft), accepted_at, ticket.get());
    if (dedup) {
      Writer w;
      w.U64(ticket->entry->chat);
      w.U64(seq);
      ticket->batch.Put(dedup_key, w.Take());
      // Claimed before the ticket can complete; released by the completion below.
      shard->mu.AssertHeld();
      shard->inflight.emplace(dedup_key, ticket);
    }
    ticket->observer = std::move(observer);
    std::weak_ptr<Ticket> weak = ticket;
    ticket->completions.push_back([this, shard, dedup_key, weak, done](const Status& s) {
      auto t = weak.lock();
      if (shard != nullptr) {
        MutexLock l(&shard->mu);
        shard->inflight.erase(dedup_key);
      }
      if (!s.ok() || !t) return done(s.ok() ? Status::Internal("append ticket lost") : s);
      appends_.fetch_add(1, std::memory_order_relaxed);
      done(AppendResult{*t->entry, false});
    });
    commits_.Enqueue(ticket);
    return Status::Ok();
  }();
  if (!refused.ok()) {
    if (shard_lock.owns_lock()) shard_lock.unlock();
    done(refused);
  }
}

Result<Message> KvStore::DeleteMessage(ChatId chat, Seq seq, UserId actor, DeviceId actor_device, TimeMs now,
                                       const std::function<Status(const Message&, const Participant&)>& authorize,
                                       const CommitObserver& observer) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
  auto ticket = std::make_shared<Ticket>();
  {
    ChatState& st = *state;
    MutexLock lock(&st.mu);
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    // Membership first: a non-member learns nothing about the chat's entries.
    const Participant* me = FindMember(st, actor);
    if (me == nullptr) return NotMember(chat);
    const Participant actor_participant = *me;
    LIBCHAT_RETURN_IF_ERROR(TombstoneInto(
        st, state, chat, seq, actor, actor_device, now,
        [&](const Message& target) { return authorize(target, actor_participant); }, ticket.get()));
    ticket->observer = observer;
    commits_.Enqueue(ticket);
  }
  LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
  // The erased body is still in the engine's older files (and its log) until they are rewritten.
  ScheduleErase(chat, seq, seq + 1);
  return *ticket->entry;
}

Status KvStore::TombstoneInto(ChatState& st, const StatePtr& keep, ChatId chat, Seq seq, UserId actor,
                              DeviceId actor_device, TimeMs now, const std::function<Status(const Message&)>& authorize,
                              Ticket* ticket) {
  // A deletion still being written is as good as stored: the second one finds the message deleted.
  const Seq durable = st.durable_head.load(std::memory_order_acquire);
  for (auto it = st.deleting.begin(); it != st.deleting.end();) {
    it = it->second <= durable ? st.deleting.erase(it) : std::next(it);
  }
  if (seq == 0 || seq > st.head) return Status::NotFound("message " + std::to_string(seq));
  if (st.deleting.count(seq) != 0) {
    return Status::NotFound("message " + std::to_string(seq) + " is already deleted");
  }
  LIBCHAT_ASSIGN_OR_RETURN(Message target, GetMessage(chat, seq));
  if (authorize) LIBCHAT_RETURN_IF_ERROR(authorize(target));
  // Past its retention the message belongs to the sweeper.
  if (target.timestamp + st.chat.retention_ms <= now) {
    return Status::NotFound("message " + std::to_string(seq) + " has expired");
  }
  if (target.deleted) return Status::NotFound("message " + std::to_string(seq) + " is already deleted");
  // The tombstone keeps the position (seq, id, sender, time) so that sync never shows a gap.
  std::set<std::string> dropped_refs;
  LIBCHAT_RETURN_IF_ERROR(DropAttachmentRefs(target, now, &ticket->batch, &dropped_refs));
  target.body.clear();
  target.attachments.clear();
  target.deleted = true;
  ticket->batch.Put(keys::Message(chat, seq), EncodeMessage(target));
  // The tombstone expires like the message did. Written again here because a retention sweep that
  // scanned the message before this write may have deleted its expiry entry already: without it the
  // tombstone would never be swept.
  ticket->batch.Put(keys::Expiry(target.timestamp + st.chat.retention_ms, chat, seq), "");
  ticket->batch.Put(keys::EraseMarker(chat, seq, seq + 1), "");
  Message entry;
  entry.chat = chat;
  entry.sender = actor;
  entry.sender_device = actor_device;
  entry.kind = MessageKind::kDeletion;
  entry.ref_seq = seq;
  entry.timestamp = now;
  AddEntry(st, keep, std::move(entry), now, ticket);
  st.deleting.emplace(seq, ticket->entry->seq);
  return Status::Ok();
}

void KvStore::AddEntry(ChatState& st, const StatePtr& keep, Message entry, TimeMs accepted_at, Ticket* ticket) {
  entry.seq = ++st.head;
  entry.timestamp = std::max(entry.timestamp, st.last_ts);
  st.last_ts = entry.timestamp;
  if (entry.id.empty()) entry.id = RandomHex(16);
  KvBatch& b = ticket->batch;
  b.Put(keys::Message(entry.chat, entry.seq), EncodeMessage(entry));
  Writer head;
  head.U64(entry.seq);
  head.I64(entry.timestamp);
  b.Put(keys::ChatHead(entry.chat), head.Take());
  // Expiry counts from the time the entry was accepted, not from its (never decreasing) timestamp: a
  // clock that jumped forward and back must not keep later entries longer than retention says.
  b.Put(keys::Expiry(std::min(accepted_at, entry.timestamp) + st.chat.retention_ms, entry.chat, entry.seq), "");
  // The message now references its attachments: they are no longer candidates for collection.
  for (const auto& id : entry.attachments) {
    b.Put(keys::AttachmentRef(id, entry.chat, entry.seq), "");
    b.Delete(keys::AttachmentOrphan(id));
  }
  ticket->entry = std::make_shared<const Message>(std::move(entry));
  ticket->members = st.member_ids;
  // Readers see the new head once it is durable. Only the committer thread writes it, in queue order,
  // so heads only rise. The ticket holds the state until then, so it is never dropped from memory
  // while it is ahead of the engine.
  const Seq seq = ticket->entry->seq;
  ticket->on_durable = [keep, seq] { keep->durable_head.store(seq, std::memory_order_release); };
}

Result<std::vector<Message>> KvStore::ReadMessages(ChatId chat, Seq after, std::size_t limit) {
  std::vector<Message> out;
  if (after == std::numeric_limits<Seq>::max()) return out;
  const std::string prefix = keys::MessagePrefix(chat);
  auto it = engine_->NewIterator();
  for (it->Seek(keys::Message(chat, after + 1)); it->Valid() && out.size() < limit; it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    auto m = DecodeMessage(it->value());
    if (!m.ok()) return m.error();
    out.push_back(std::move(*m));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Result<std::vector<Message>> KvStore::ReadMessagesBefore(ChatId chat, Seq before, std::size_t limit) {
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
    auto m = DecodeMessage(it->value());
    if (!m.ok()) return m.error();
    if (m->seq >= before) continue;
    out.push_back(std::move(*m));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Result<Message> KvStore::GetMessage(ChatId chat, Seq seq) {
  auto v = engine_->Get(keys::Message(chat, seq));
  if (!v.ok()) return NotFoundOr(v.error(), "message " + std::to_string(seq) + " of chat " + std::to_string(chat));
  return DecodeMessage(*v);
}

Result<Seq> KvStore::Head(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
  return state->durable_head.load(std::memory_order_acquire);
}

Status KvStore::DropAttachmentRefs(const Message& m, TimeMs now, KvBatch* b, std::set<std::string>* dropped) {
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

Result<AppendResult> KvStore::Duplicate(const Message& original, ChatId requested_chat) {
  if (original.chat != requested_chat) {
    return Status::InvalidArgument("client message id '" + original.client_id + "' was already used in chat " +
                                   std::to_string(original.chat));
  }
  return AppendResult{original, true};
}

}  // namespace chat::detail
