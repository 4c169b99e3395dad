// chat::Client's offline side (ClientOptions::local_store): what is stored as it arrives, the Local*
// readers, the outbox (Post, FlushOutbox), Synchronize and Reconnect.
#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "client_internal.h"

namespace chat {

using namespace client_internal;

namespace {

// 128 random bits in hex: unique per message, the idempotency key it is sent and resent with.
std::string NewClientId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return std::string("c-") + buf;
}

// A refusal that sending again later can change: keep the message queued.
bool KeepQueued(const Status& s) {
  return s.IsRetryable() || s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kInternal;
}

}  // namespace

Status Client::Impl::NeedLocal() const {
  if (!local) return Status::NotSupported("this client has no local store (ClientOptions::local_store)");
  return Status::Ok();
}

void Client::Impl::StoreEntry(const Message& m) {
  if (!local) return;
  Seq last;
  UserId me;
  DeviceId my_device;
  {
    std::lock_guard<std::mutex> lock(mu);
    last = last_seq[m.chat];
    me = user;
    my_device = device;
  }
  if (m.kind == MessageKind::kDeletion) local->Tombstone(m.chat, m.ref_seq).IgnoreError();
  // The cursor goes with the entry, in one batch: never ahead of what is stored.
  local->PutEntries(m.chat, {m}, last).IgnoreError();
  // Our own message, seen live (its sendMessage answer may have been lost with a connection): it is
  // no longer waiting.
  if (me != 0 && m.sender == me && m.sender_device == my_device && !m.client_id.empty()) {
    local->RemoveOutbox(m.client_id).IgnoreError();
  }
}

Status Client::Impl::StoreChatList(const std::vector<ChatSummary>& chats) {
  auto stored = local->Chats();
  if (!stored.ok()) return stored.error();
  std::set<ChatId> now;
  for (const ChatSummary& s : chats) {
    now.insert(s.chat.id);
    LIBCHAT_RETURN_IF_ERROR(local->PutChat(s));
  }
  // Chats the user left or was removed from: their local copy goes too.
  for (const ChatSummary& s : *stored) {
    if (now.count(s.chat.id) == 0) LIBCHAT_RETURN_IF_ERROR(local->RemoveChat(s.chat.id));
  }
  return Status::Ok();
}

Result<Session> Client::LocalSession() {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  return impl_->local->LoadSession();
}

Result<std::vector<ChatSummary>> Client::LocalChats() {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  auto chats = impl_->local->Chats();
  if (!chats.ok()) return chats.error();
  for (ChatSummary& s : *chats) {
    // Entries that arrived after the last listChats are newer than its summary.
    auto newest = impl_->local->Messages(s.chat.id, 1, 0);
    if (!newest.ok()) return newest.error();
    if (!newest->empty() && (!s.last_message || newest->back().seq > s.last_message->seq)) {
      s.last_message = newest->back();
      s.head = std::max(s.head, newest->back().seq);
    }
  }
  return chats;
}

Result<std::vector<Message>> Client::LocalMessages(ChatId chat, std::size_t limit, Seq before) {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  return impl_->local->Messages(chat, limit, before);
}

Result<std::vector<OutboxItem>> Client::LocalOutbox() {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  return impl_->local->Outbox();
}

Result<std::string> Client::Post(ChatId chat, const std::string& body, const SendOptions& more) {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  OutboxItem item;
  item.client_id = NewClientId();
  item.chat = chat;
  item.kind = more.kind;
  item.body = body;
  item.attachments = more.attachments;
  item.reply_to = more.reply_to;
  LIBCHAT_RETURN_IF_ERROR(impl_->local->AddOutbox(item));
  // Queued for good; sending now is a bonus (a failure leaves it for the next flush).
  if (connected() && user() != 0) FlushOutbox().IgnoreError();
  return item.client_id;
}

Status Client::RemoveFromOutbox(const std::string& client_id) {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  return impl_->local->RemoveOutbox(client_id);
}

Status Client::FlushOutbox() {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  // One flush at a time: two would send the same message concurrently (harmless, but wasteful).
  std::lock_guard<std::mutex> flushing(impl_->flush_mu);
  auto items = impl_->local->Outbox();
  if (!items.ok()) return items.error();
  for (const OutboxItem& item : *items) {
    if (!item.error.empty()) continue;
    SendOptions more;
    more.kind = item.kind;
    more.attachments = item.attachments;
    more.reply_to = item.reply_to;
    // The same client id as when it was written: if an earlier try reached the server, this answers
    // duplicate and appends nothing.
    auto sent = SendMessage(item.chat, item.client_id, item.body, more);
    if (sent.ok()) {
      LIBCHAT_RETURN_IF_ERROR(impl_->local->RemoveOutbox(item.client_id));
      continue;
    }
    // Later messages wait behind this one: their order is the order written.
    if (KeepQueued(sent.error())) return sent.error();
    LIBCHAT_RETURN_IF_ERROR(impl_->local->FailOutbox(
        item.client_id, std::string(StatusCodeName(sent.error().code())) + ": " + sent.error().message()));
  }
  return Status::Ok();
}

Status Client::Synchronize() {
  LIBCHAT_RETURN_IF_ERROR(impl_->NeedLocal());
  auto chats = ListChats();  // Stores the summaries, forgets chats we are no longer in.
  if (!chats.ok()) return chats.error();
  std::map<ChatId, Seq> want;
  for (const ChatSummary& s : *chats) want[s.chat.id] = LastSeq(s.chat.id);
  // Pages until every chat is at its head (bounded: a chat has at most retention's worth).
  for (int round = 0; !want.empty() && round < 10000; ++round) {
    auto page = Sync(want);  // Its hook stores the entries and moves LastSeq.
    if (!page.ok()) return page.error();
    std::map<ChatId, Seq> next = want;
    for (const SyncPage& p : page->chats) {
      next.erase(p.chat);
      if (p.has_more && !p.messages.empty()) {
        next[p.chat] = p.messages.back().seq;
      } else if (!p.has_more && p.head > LastSeq(p.chat)) {
        // Everything up to the head was in the page or is gone (retention, joined later).
        impl_->AdvanceTo(p.chat, p.head);
        LIBCHAT_RETURN_IF_ERROR(impl_->local->PutEntries(p.chat, {}, LastSeq(p.chat)));
      }
      // Rule 6: what is stored is acknowledged (delivered receipts, the server's cursor).
      if (const Seq last = LastSeq(p.chat); last > 0) Ack(p.chat, last).status().IgnoreError();
    }
    // Chats left out of a page cut short for size stay in `next` with their cursor.
    if (!page->more) break;
    want = std::move(next);
  }
  return FlushOutbox();
}

Status Client::Reconnect(const std::string& host, std::uint16_t port) {
  {
    // host and port are read by OpenLink and the I/O thread's connect, which runs only after it.
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->open && !impl_->closed) return Status::FailedPrecondition("already connected");
  }
  impl_->host = host;
  impl_->port = port;
  impl_->servers[impl_->current] = {host, port};
  return Reconnect();
}

Status Client::Reconnect() {
  LIBCHAT_RETURN_IF_ERROR(impl_->OpenAnyLink());
  std::string token;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->user = 0;
    impl_->device = 0;
    token = impl_->token;
  }
  if (token.empty()) return Status::Ok();  // Never signed in: hello is all there is.
  auto resumed = Resume(token);
  if (!resumed.ok()) {
    // The session is over for good (device removed, token expired): its copy must not linger.
    if (resumed.error().code() == StatusCode::kUnauthenticated && impl_->local) {
      impl_->local->Clear().IgnoreError();
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->token.clear();
    }
    return resumed.error();
  }
  return impl_->local ? Synchronize() : Status::Ok();
}

}  // namespace chat
