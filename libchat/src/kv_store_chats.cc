// KvStore: chat states, chats and membership. A chat's members live in its ChatState at the end of its
// log, so every check (a send, an ack, a deletion, the next membership change) sees the changes
// queued before it in sequence order, not the disk's older view.
#include <algorithm>

#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {

KvStore::StatePtr KvStore::Slot(ChatId chat) {
  MutexLock lock(&chats_mu_);
  auto it = chats_.find(chat);
  if (it != chats_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.state;
  }
  lru_.push_front(chat);
  auto state = std::make_shared<ChatState>();
  chats_.emplace(chat, Slotted{state, lru_.begin()});
  // Drop idle states from the cold end. A state nobody else holds (no caller, no queued ticket: each
  // holds a reference) has nothing in flight, so the engine holds all of it and it can be read again.
  std::size_t looked = 0;
  for (auto victim = std::prev(lru_.end()); chats_.size() > options_.max_cached_chats && looked < 16; ++looked) {
    const ChatId id = *victim;
    auto slot = chats_.find(id);
    const bool idle = slot->second.state.use_count() == 1;
    const bool last = victim == lru_.begin();
    auto next = last ? victim : std::prev(victim);
    if (idle && id != chat) {
      lru_.erase(victim);
      chats_.erase(slot);
    }
    if (last) break;
    victim = next;
  }
  return state;
}

void KvStore::ForgetState(ChatId chat) {
  MutexLock lock(&chats_mu_);
  auto it = chats_.find(chat);
  if (it == chats_.end()) return;
  lru_.erase(it->second.lru);
  chats_.erase(it);
}

Status KvStore::LoadLocked(ChatId id, ChatState& state) {
  if (state.loaded) return Status::Ok();
  auto c = GetChat(id);
  if (!c.ok()) {
    if (!c.error().IsNotFound()) return c.error();
    // Remembered as absent: a probe of a chat id that does not exist costs one read, once. Creation
    // goes through this same state (CreateChat), so the answer cannot go stale in this process.
    state.loaded = true;
    state.exists = false;
    return Status::Ok();
  }
  auto h = engine_->Get(keys::ChatHead(id));
  Seq head = 0;
  TimeMs last_ts = 0;
  if (h.ok()) {
    Reader r(*h);
    head = r.U64();
    last_ts = r.I64();
  } else if (!h.error().IsNotFound()) {
    return h.error();
  }
  LIBCHAT_ASSIGN_OR_RETURN(auto members, ScanParticipants(keys::ParticipantPrefix(id)));
  state.chat = std::move(*c);
  state.head = head;
  state.last_ts = last_ts;
  state.durable_head.store(head, std::memory_order_release);
  SetMembers(state, std::move(members));
  state.exists = true;
  state.loaded = true;
  return Status::Ok();
}

Result<KvStore::StatePtr> KvStore::State(ChatId chat) {
  if (chat == 0) return Status::NotFound("chat 0");
  StatePtr state = Slot(chat);
  ChatState& st = *state;
  MutexLock lock(&st.mu);
  LIBCHAT_RETURN_IF_ERROR(LoadLocked(chat, st));
  if (!st.exists) return Status::NotFound("chat " + std::to_string(chat));
  return state;
}

void KvStore::SetMembers(ChatState& state, std::vector<Participant> members) {
  std::sort(members.begin(), members.end(), [](const Participant& a, const Participant& b) { return a.user < b.user; });
  auto ids = std::make_shared<std::vector<UserId>>();
  ids->reserve(members.size());
  for (const auto& p : members) ids->push_back(p.user);
  state.members = std::move(members);
  state.member_ids = std::move(ids);
}

const Participant* KvStore::FindMember(const ChatState& state, UserId user) {
  auto it = std::lower_bound(state.members.begin(), state.members.end(), user,
                             [](const Participant& p, UserId u) { return p.user < u; });
  if (it == state.members.end() || it->user != user) return nullptr;
  return &*it;
}

Result<std::vector<Participant>> KvStore::ScanParticipants(const std::string& prefix) {
  std::vector<Participant> out;
  Status decode;
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, prefix, [&](std::string_view, std::string_view v) {
    auto p = DecodeParticipant(v);
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

Result<Chat> KvStore::CreateChat(Chat chat, std::vector<Participant> members, UserId creator,
                                 std::string announcement, const CommitObserver& observer) {
  // Direct chats are unique per pair: hold the lock across check and enqueue (the pair index is in
  // the same batch, and a later check reads the engine only after this batch is durable: we wait
  // for it below before releasing).
  std::unique_lock<Mutex> direct_lock(direct_mu_, std::defer_lock);
  if (chat.kind == ChatKind::kDirect) {
    if (members.size() != 2) return Status::InvalidArgument("a direct chat has exactly two members");
    direct_lock.lock();
    auto found = FindDirectChat(members[0].user, members[1].user);
    if (found.ok()) return Status::AlreadyExists("direct chat " + std::to_string(*found) + " exists");
    if (!found.error().IsNotFound()) return found.error();
  }
  auto ticket = std::make_shared<Ticket>();
  KvBatch& b = ticket->batch;
  chat.id = NextId(&next_chat_, keys::kNextChat, ticket.get());
  b.Put(keys::Chat(chat.id), EncodeChat(chat));
  for (auto& p : members) {
    p.chat = chat.id;
    p.joined_at = chat.created_at;
    p.joined_seq = 0;
    std::string v = EncodeParticipant(p);
    b.Put(keys::Participant(chat.id, p.user), v);
    b.Put(keys::UserChat(p.user, chat.id), v);
  }
  if (chat.kind == ChatKind::kDirect) {
    std::string v;
    keys::AppendBE(&v, chat.id);
    b.Put(keys::Direct(members[0].user, members[1].user), v);
  }
  // The state is the map's slot for the new id: a probe that got there first left it marked absent,
  // and this turns it into the chat, so there is never a second state for one chat.
  StatePtr state = Slot(chat.id);
  {
    ChatState& st = *state;
    MutexLock lock(&st.mu);
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    st.chat = chat;
    st.head = 0;
    st.last_ts = 0;
    st.durable_head.store(0, std::memory_order_release);
    st.deleting.clear();
    st.exists = true;
    st.loaded = true;
    SetMembers(st, members);
    Message entry;
    entry.chat = chat.id;
    entry.sender = creator;
    entry.kind = MessageKind::kMembership;
    entry.body = std::move(announcement);
    entry.timestamp = chat.created_at;
    AddEntry(st, state, std::move(entry), chat.created_at, ticket.get());
    ticket->previous_members = std::make_shared<const std::vector<UserId>>();
    ticket->observer = observer;
    commits_.Enqueue(ticket);
  }
  LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
  return chat;
}

Result<Chat> KvStore::GetChat(ChatId id) {
  auto v = engine_->Get(keys::Chat(id));
  if (!v.ok()) return NotFoundOr(v.error(), "chat " + std::to_string(id));
  return DecodeChat(*v);
}

Status KvStore::UpdateChat(const Chat& chat) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat.id));
  auto ticket = std::make_shared<Ticket>();
  {
    ChatState& st = *state;
    MutexLock lock(&st.mu);
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    if (st.chat.kind != chat.kind) return Status::InvalidArgument("a chat cannot change its kind");
    ticket->batch.Put(keys::Chat(chat.id), EncodeChat(chat));
    st.chat = chat;
    // Holds the state until durable: it cannot be dropped and re-read before the engine has this.
    ticket->on_durable = [state] { (void)state; };
    commits_.Enqueue(ticket);
  }
  // Waited for without the chat's lock: the committer may need locks a sender holds while it waits
  // for this one (this used to deadlock under concurrent sends).
  return commits_.Wait(ticket);
}

Result<ChatId> KvStore::FindDirectChat(UserId a, UserId b) {
  auto v = engine_->Get(keys::Direct(a, b));
  if (!v.ok()) return NotFoundOr(v.error(), "direct chat");
  return keys::ReadBE(*v, 0);
}

Result<std::vector<Chat>> KvStore::ListChats(ChatId after, std::size_t limit) {
  std::vector<Chat> out;
  const std::string prefix = keys::ChatPrefix();
  auto it = engine_->NewIterator();
  for (it->Seek(keys::Chat(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    auto c = DecodeChat(it->value());
    if (!c.ok()) return c.error();
    out.push_back(std::move(*c));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Result<std::vector<Participant>> KvStore::ListParticipants(ChatId chat) {
  return ScanParticipants(keys::ParticipantPrefix(chat));
}

Result<Participant> KvStore::GetParticipant(ChatId chat, UserId user) {
  auto v = engine_->Get(keys::Participant(chat, user));
  if (!v.ok()) {
    return NotFoundOr(v.error(), "user " + std::to_string(user) + " is not a member of chat " + std::to_string(chat));
  }
  return DecodeParticipant(*v);
}

Result<std::vector<Participant>> KvStore::ListUserChats(UserId user) {
  return ScanParticipants(keys::UserChatPrefix(user));
}

Result<MemberList> KvStore::Members(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
  ChatState& st = *state;
  MutexLock lock(&st.mu);
  return st.member_ids;
}

Result<Message> KvStore::UpdateMembership(ChatId chat_id, UserId actor, const MembershipPlanner& planner,
                                          const CommitObserver& observer) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat_id));
  auto ticket = std::make_shared<Ticket>();
  {
    ChatState& st = *state;
    MutexLock lock(&st.mu);
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    // Planned against the end of the log: a change queued before this one is already in `members`.
    LIBCHAT_ASSIGN_OR_RETURN(MembershipPlan plan, planner(st.chat, st.members));
    KvBatch& b = ticket->batch;
    Chat chat = st.chat;
    if (plan.chat_update) {
      if (plan.chat_update->id != chat_id || plan.chat_update->kind != chat.kind) {
        return Status::InvalidArgument("a membership plan cannot change the chat's id or kind");
      }
      chat = *plan.chat_update;
      b.Put(keys::Chat(chat_id), EncodeChat(chat));
    }
    const Seq entry_seq = st.head + 1;
    std::vector<Participant> members = st.members;
    for (Participant p : plan.upserts) {
      p.chat = chat_id;
      auto it = std::find_if(members.begin(), members.end(), [&](const Participant& m) { return m.user == p.user; });
      if (it != members.end()) {
        // A role change keeps the original join.
        p.joined_at = it->joined_at;
        p.joined_seq = it->joined_seq;
        *it = p;
      } else {
        // The new member sees the entry announcing the join, and nothing before it.
        p.joined_at = plan.at;
        p.joined_seq = entry_seq - 1;
        members.push_back(p);
      }
      std::string v = EncodeParticipant(p);
      b.Put(keys::Participant(chat_id, p.user), v);
      b.Put(keys::UserChat(p.user, chat_id), v);
    }
    for (UserId u : plan.removals) {
      members.erase(std::remove_if(members.begin(), members.end(), [u](const Participant& m) { return m.user == u; }),
                    members.end());
      b.Delete(keys::Participant(chat_id, u));
      b.Delete(keys::UserChat(u, chat_id));
      // A member who leaves takes their receipt and their devices' cursors of the chat with them.
      // Cursor writes queued before this batch reach the engine first (FIFO), so these deletes win,
      // and readers stop seeing the queued values at once; later writes are refused (Acknowledge
      // checks membership under this lock).
      DeleteCursor(keys::Receipt(chat_id, u), ticket.get());
      LIBCHAT_ASSIGN_OR_RETURN(auto devices, ListDevicesUnlocked(u));
      for (const auto& d : devices) DeleteCursor(keys::DeviceCursor(d.id, chat_id), ticket.get());
    }
    ticket->previous_members = st.member_ids;
    st.chat = chat;
    SetMembers(st, std::move(members));
    Message entry;
    entry.chat = chat_id;
    entry.sender = actor;
    entry.kind = MessageKind::kMembership;
    entry.body = std::move(plan.announcement);
    entry.timestamp = plan.at;
    AddEntry(st, state, std::move(entry), plan.at, ticket.get());
    ticket->observer = observer;
    commits_.Enqueue(ticket);
  }
  LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
  return *ticket->entry;
}

std::size_t KvStore::TEST_CachedChats() {
  MutexLock lock(&chats_mu_);
  return chats_.size();
}

}  // namespace chat::detail
