// KvStore: what only an administrator does. Invitations to register (iv/), and erasing a user or a
// chat with everything that hangs off them (docs/storage.md, "Deleting users and chats").
#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {
namespace {

// One message to every reason a code is refused, so that a guesser learns nothing from the answer.
Status BadInvite() { return Status::PermissionDenied("invalid, expired or used invitation code"); }

}  // namespace

// ---------------------------------------------------------------- invitations

Status KvStore::CreateInvite(const Invite& invite) {
  if (invite.id.empty()) return Status::InvalidArgument("an invitation needs an id");
  MutexLock lock(&invites_mu_);
  auto existing = engine_->Get(keys::Invite(invite.id));
  if (existing.ok()) return Status::AlreadyExists("invitation " + invite.id + " exists");
  if (!existing.error().IsNotFound()) return existing.error();
  auto ticket = std::make_shared<Ticket>();
  ticket->batch.Put(keys::Invite(invite.id), EncodeInvite(invite));
  return commits_.Commit(ticket);
}

Result<Invite> KvStore::GetInvite(std::string_view id) {
  auto stored = engine_->Get(keys::Invite(id));
  if (!stored.ok()) return stored.error().IsNotFound() ? BadInvite() : stored.error();
  return DecodeInvite(*stored);
}

Result<std::vector<Invite>> KvStore::ListInvites(std::string_view after, std::size_t limit) {
  std::vector<Invite> out;
  const std::string prefix = keys::InvitePrefix();
  auto it = engine_->NewIterator();
  for (it->Seek(keys::Invite(after)); it->Valid() && out.size() < limit; it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    if (it->key().substr(prefix.size()) == after) continue;
    auto invite = DecodeInvite(it->value());
    if (!invite.ok()) return invite.error();
    out.push_back(std::move(*invite));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Status KvStore::DeleteInvite(std::string_view id) {
  MutexLock lock(&invites_mu_);
  auto existing = engine_->Get(keys::Invite(id));
  if (!existing.ok()) return NotFoundOr(existing.error(), "invitation " + std::string(id));
  auto ticket = std::make_shared<Ticket>();
  ticket->batch.Delete(keys::Invite(id));
  return commits_.Commit(ticket);
}

Result<User> KvStore::CreateUserWithInvite(User user, std::string_view invite_id, std::string_view code_hash,
                                           TimeMs now) {
  // The invitation's lock, then the username's stripe (CreateUser's): the use and the account are
  // checked and written together.
  MutexLock invites(&invites_mu_);
  auto stored = engine_->Get(keys::Invite(invite_id));
  if (!stored.ok()) return stored.error().IsNotFound() ? BadInvite() : stored.error();
  LIBCHAT_ASSIGN_OR_RETURN(Invite invite, DecodeInvite(*stored));
  if (invite.code_hash != code_hash || invite.uses >= invite.max_uses ||
      (invite.expires_at != 0 && invite.expires_at <= now)) {
    return BadInvite();
  }
  MutexLock lock(&StripeFor(std::hash<std::string>()(user.username)));
  auto existing = engine_->Get(keys::UserName(user.username));
  if (existing.ok()) return Status::AlreadyExists("username '" + user.username + "' is taken");
  if (!existing.error().IsNotFound()) return existing.error();
  auto ticket = std::make_shared<Ticket>();
  user.id = NextId(&next_user_, keys::kNextUser, ticket.get());
  ticket->batch.Put(keys::User(user.id), EncodeUser(user));
  std::string id_value;
  keys::AppendBE(&id_value, user.id);
  ticket->batch.Put(keys::UserName(user.username), id_value);
  ++invite.uses;
  ticket->batch.Put(keys::Invite(invite.id), EncodeInvite(invite));
  LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
  return user;
}

// ---------------------------------------------------------------- erasure

Result<Message> KvStore::EraseMessage(ChatId chat, Seq seq, TimeMs now, const CommitObserver& observer) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
  auto ticket = std::make_shared<Ticket>();
  {
    ChatState& st = *state;
    MutexLock lock(&st.mu);
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    if (!st.exists) return Status::NotFound("chat " + std::to_string(chat));
    // The server's entry: no sender, no device.
    LIBCHAT_RETURN_IF_ERROR(TombstoneInto(st, state, chat, seq, 0, 0, now, {}, ticket.get()));
    ticket->observer = observer;
    commits_.Enqueue(ticket);
  }
  LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
  ScheduleErase(chat, seq, seq + 1);
  return *ticket->entry;
}

Result<UserErasure> KvStore::DeleteUser(UserId user, TimeMs now) {
  MutexLock lock(&StripeFor(user));
  MutexLock moderation(&moderation_mu_);
  LIBCHAT_ASSIGN_OR_RETURN(User u, GetUser(user));
  UserErasure erased;
  auto ticket = std::make_shared<Ticket>();
  KvBatch& b = ticket->batch;
  b.Delete(keys::User(user));
  b.Delete(keys::UserName(u.username));
  LIBCHAT_ASSIGN_OR_RETURN(auto devices, ListDevicesUnlocked(user));
  for (const Device& d : devices) {
    LIBCHAT_RETURN_IF_ERROR(RemoveDeviceInto(d, now, &b));
    ++erased.devices;
  }
  // Blocks by the user are one prefix; blocks of the user by others have no index of their own:
  // the whole table is read (a deletion is rare, and the table holds at most
  // max_blocked_users per user).
  const std::string blocks = keys::BlocksPrefix();
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, blocks, [&](std::string_view k, std::string_view) {
    if (k.size() == blocks.size() + 16 &&
        (keys::ReadBE(k, blocks.size()) == user || keys::ReadBE(k, blocks.size() + 8) == user)) {
      b.Delete(std::string(k));
      ++erased.blocks;
    }
    return true;
  }));
  b.Delete(keys::Ban(user));
  b.Delete(keys::SpamFlag(user));
  // The user's uploads: their metadata goes now, their bytes are the caller's (ag/ until released).
  std::vector<std::string> refs;
  LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::AttachmentPrefix(), [&](std::string_view, std::string_view v) {
    LIBCHAT_ASSIGN_OR_RETURN(Attachment a, DecodeAttachment(v));
    if (a.uploader != user) return Status::Ok();
    b.Delete(keys::Attachment(a.id));
    b.Delete(keys::AttachmentOrphan(a.id));
    b.Put(keys::AttachmentGarbage(a.id), "");
    erased.attachments.push_back(a.id);
    return Status::Ok();
  }));
  for (const std::string& id : erased.attachments) {
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::AttachmentRefPrefix(id), [&](std::string_view k, std::string_view) {
      b.Delete(std::string(k));
      return true;
    }));
  }
  LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
  return erased;
}

Status KvStore::DeleteChat(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(auto state, State(chat));
  auto ticket = std::make_shared<Ticket>();
  Seq head = 0;
  {
    ChatState& st = *state;
    MutexLock lock(&st.mu);
    LIBCHAT_RETURN_IF_ERROR(commits_.health());
    if (!st.exists) return Status::NotFound("chat " + std::to_string(chat));
    // The scans below must see everything written to the chat: wait, under the chat's lock (so that
    // nothing new is queued for it), for what is queued already. Unlike the log's writers, this
    // waits for a commit with a lock held: nothing the committer does takes a chat's lock, and
    // deleting a chat is a rare administrator's call.
    LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
    head = st.head;
    const TimeMs now = options_.clock->NowMs();
    KvBatch& b = ticket->batch;
    std::set<std::string> dropped_refs;
    LIBCHAT_RETURN_IF_ERROR(ForEachPrefix(*engine_, keys::MessagePrefix(chat), [&](std::string_view k, std::string_view v) {
      LIBCHAT_ASSIGN_OR_RETURN(Message m, DecodeMessage(v));
      if (!m.client_id.empty() && m.sender_device != 0) b.Delete(keys::Dedup(m.sender_device, m.client_id));
      LIBCHAT_RETURN_IF_ERROR(DropAttachmentRefs(m, now, &b, &dropped_refs));
      b.Delete(std::string(k));
      return Status::Ok();
    }));
    LIBCHAT_ASSIGN_OR_RETURN(auto participants, ScanParticipants(keys::ParticipantPrefix(chat)));
    for (const Participant& p : participants) {
      b.Delete(keys::Participant(chat, p.user));
      b.Delete(keys::UserChat(p.user, chat));
      LIBCHAT_ASSIGN_OR_RETURN(auto devices, ListDevicesUnlocked(p.user));
      for (const Device& d : devices) b.Delete(keys::DeviceCursor(d.id, chat));
    }
    if (st.chat.kind == ChatKind::kDirect) {
      // The pair's entry. ChatService::DeleteChat has taken the members out already, so the pair is
      // not known from the participants: the direct-chat index is read for the entry naming this chat
      // (one entry per pair of users; deleting a chat is a rare administrator's call).
      const std::string direct = "dm/";
      LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, direct, [&](std::string_view k, std::string_view v) {
        if (v.size() == 8 && keys::ReadBE(v, 0) == chat) b.Delete(std::string(k));
        return true;
      }));
    }
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::ReceiptPrefix(chat), [&](std::string_view k, std::string_view) {
      b.Delete(std::string(k));
      return true;
    }));
    b.Delete(keys::ChatHead(chat));
    b.Delete(keys::Chat(chat));
    // The expiry index entries (t/) of the messages stay: the sweep drops entries whose message is
    // gone.
    if (head > 0) b.Put(keys::EraseMarker(chat, 1, head + 1), "");
    // From now on the chat does not exist for anyone holding its state.
    st.exists = false;
    SetMembers(st, {});
    st.deleting.clear();
    commits_.Enqueue(ticket);
  }
  LIBCHAT_RETURN_IF_ERROR(commits_.Wait(ticket));
  if (head > 0) ScheduleErase(chat, 1, head + 1);
  return Status::Ok();
}

}  // namespace chat::detail
