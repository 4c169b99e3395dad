// ChatService: sending (dedup first, then admission under the chat's lock), reading the log back (sync,
// history: never past retention, never before the reader joined), receipts, deletion, call entries
// and typing.
#include <algorithm>
#include <atomic>
#include <future>
#include <optional>

#include "chat_service_impl.h"
#include "validate.h"

namespace chat::detail {

namespace {

// The answer a resend gets: the original message, whatever changed since.
Result<AppendResult> DuplicateOf(const Message& original, ChatId requested_chat) {
  if (original.chat != requested_chat) {
    return Status::InvalidArgument("client message id '" + original.client_id + "' was already used in chat " +
                                   std::to_string(original.chat));
  }
  return AppendResult{original, true};
}

// A send is answered once it is both durable (the committer's completion) and scored for spam (the
// sending thread, after AppendAsync returns): the second of the two to arrive answers. Answering on
// the commit alone let a quick client send again before its previous send was scored, and that next
// send was admitted on a score short of the previous one's points.
class AnswerWhenScored {
 public:
  explicit AnswerWhenScored(std::function<void(Result<AppendResult>)> done) : done_(std::move(done)) {}

  // The committer's completion: keeps the result (written before the release below).
  void Committed(Result<AppendResult> result) {
    result_.emplace(std::move(result));
    Arrive();
  }
  // The sending thread, after scoring (or when nothing was admitted to score).
  void Scored() { Arrive(); }

 private:
  void Arrive() {
    if (arrivals_.fetch_add(1, std::memory_order_acq_rel) == 1) done_(std::move(*result_));
  }

  std::function<void(Result<AppendResult>)> done_;
  std::optional<Result<AppendResult>> result_;
  std::atomic<int> arrivals_{0};
};

}  // namespace

Result<Message> ChatServiceImpl::PrepareSend(const SendRequest& r) {
  const Limits& l = options_.limits;
  if (r.client_id.empty()) return Status::InvalidArgument("clientId is required (the idempotency key)");
  LIBCHAT_RETURN_IF_ERROR(CheckText("clientId", r.client_id, l.max_client_id_bytes));
  if (!IsUserContent(r.kind)) {
    return Status::InvalidArgument("kind '" + std::string(ToString(r.kind)) + "' is written by the server only");
  }
  LIBCHAT_RETURN_IF_ERROR(CheckText("body", r.body, l.max_body_bytes));
  if (r.body.empty() && r.attachments.empty()) return Status::InvalidArgument("a message needs a body or attachments");
  if (r.attachments.size() > l.max_attachments_per_message) {
    return Status::InvalidArgument(std::to_string(r.attachments.size()) + " attachments; the limit is " +
                                   std::to_string(l.max_attachments_per_message));
  }
  for (const auto& a : r.attachments) LIBCHAT_RETURN_IF_ERROR(CheckText("attachment id", a, 64, true));
  Message draft;
  draft.chat = r.chat;
  draft.sender = r.sender;
  draft.sender_device = r.device;
  draft.client_id = r.client_id;
  draft.kind = r.kind;
  draft.body = r.body;
  draft.attachments = r.attachments;
  draft.reply_to = r.reply_to;
  draft.timestamp = Now();
  return draft;
}

Status ChatServiceImpl::AdmitSend(const SendRequest& r, const AppendContext& ctx) {
  // A sender blocked by the other member of a direct chat is refused; group messages are not filtered.
  if (ctx.chat.kind == ChatKind::kDirect && ctx.members->size() == 2) {
    const UserId other = (*ctx.members)[0] == r.sender ? (*ctx.members)[1] : (*ctx.members)[0];
    LIBCHAT_ASSIGN_OR_RETURN(bool blocked, moderation_.Blocks(other, r.sender));
    if (blocked) {
      return Status::PermissionDenied("user " + std::to_string(other) + " has blocked you: you cannot message them");
    }
  }
  // Spam first: a suspended or throttled sender is refused before any rate-limit token is spent.
  LIBCHAT_RETURN_IF_ERROR(spam_.Admit(r.sender));
  return Charge(RateAction::kSend, r.sender, r.device, 1);
}

Result<AppendResult> ChatServiceImpl::Send(const SendRequest& r) {
  std::promise<Result<AppendResult>> promise;
  auto future = promise.get_future();
  SendAsync(r, [&promise](Result<AppendResult> result) { promise.set_value(std::move(result)); });
  return future.get();
}

void ChatServiceImpl::SendAsync(const SendRequest& r, std::function<void(Result<AppendResult>)> done) {
  auto draft = PrepareSend(r);
  if (!draft.ok()) return done(draft.error());
  // A resend gets its original answer before anything that may have changed since is checked
  // (membership, a block, spam, rate limits). One still in flight is answered by the store, and so is
  // one that RecentSent did not know of (store.h: a store shared by several processes answers from
  // what this process sent lately); a refusal below looks it up again, so that such a resend still
  // gets its original answer rather than the refusal.
  if (auto sent = store_->RecentSent(r.device, r.client_id); sent.ok()) {
    return done(DuplicateOf(*sent, r.chat));
  } else if (!sent.error().IsNotFound()) {
    return done(sent.error());
  }
  auto refuse = [&](const Status& s) {
    if (s.code() != StatusCode::kUnavailable) {
      if (auto sent = store_->FindSent(r.device, r.client_id); sent.ok()) return done(DuplicateOf(*sent, r.chat));
    }
    done(s);
  };
  if (Status s = access_.CheckDevice(r.sender, r.device); !s.ok()) return refuse(s);
  // Early refusal for a non-member (the store checks again, in log order): nothing else is looked at.
  // The members this process last saw are enough to let the send through (the store decides); a
  // refusal is made on the chat's members as the store has them now.
  auto members = store_->RecentMembers(r.chat);
  if (!members.ok() || !std::binary_search((*members)->begin(), (*members)->end(), r.sender)) {
    members = RequireMember(r.chat, r.sender);
  }
  if (!members.ok()) return refuse(members.error());
  if (Status s = attachments_.CheckSend(r.sender, r.kind, r.attachments); !s.ok()) return refuse(s);
  // Warm the block cache outside the chat's lock: admission then answers from memory.
  if (members->get()->size() == 2) {
    const UserId other = (**members)[0] == r.sender ? (**members)[1] : (**members)[0];
    if (auto b = moderation_.Blocks(other, r.sender); !b.ok()) return refuse(b.error());
  }
  // Admission runs on this thread, under the chat's lock, before AppendAsync returns (store.h); what
  // it admitted is scored for spam afterwards, outside the lock (scoring may read and write the store),
  // and the answer waits for that scoring (AnswerWhenScored).
  MemberList admitted_among;
  AppendAdmission admit = [this, &r, &admitted_among](const AppendContext& ctx) -> Status {
    LIBCHAT_RETURN_IF_ERROR(AdmitSend(r, ctx));
    admitted_among = ctx.members;
    return Status::Ok();
  };
  auto answer = std::make_shared<AnswerWhenScored>(std::move(done));
  store_->AppendAsync(
      std::move(*draft), EntryObserver(EventType::kMessage),
      [answer](Result<AppendResult> result) { answer->Committed(std::move(result)); }, std::move(admit));
  if (admitted_among) spam_.Score(r, *admitted_among);
  answer->Scored();
}

Result<SyncPage> ChatServiceImpl::Sync(UserId user, DeviceId device, ChatId chat, std::optional<Seq> after,
                                       std::size_t limit) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckDevice(user, device));
  auto p = store_->GetParticipant(chat, user);
  if (!p.ok()) return p.error().IsNotFound() ? NotMember(chat) : p.error();
  Seq from = 0;
  if (after) {
    from = *after;
  } else {
    LIBCHAT_ASSIGN_OR_RETURN(from, store_->DeviceCursor(device, chat));
  }
  from = std::max(from, p->joined_seq);
  LIBCHAT_ASSIGN_OR_RETURN(Chat c, store_->GetChat(chat));
  SyncPage page;
  page.chat = chat;
  LIBCHAT_ASSIGN_OR_RETURN(page.head, store_->Head(chat));
  limit = std::clamp<std::size_t>(limit, 1, options_.limits.max_page);
  const TimeMs now = Now();
  // Expired entries are the log's oldest (timestamps never decrease): skip past them, page by page,
  // until the first one retention still keeps. The sweep deletes them soon; until then they are not
  // served.
  for (;;) {
    LIBCHAT_ASSIGN_OR_RETURN(page.messages, store_->ReadMessages(chat, from, limit));
    auto kept = std::find_if(page.messages.begin(), page.messages.end(),
                             [&](const Message& m) { return !Expired(m, c, now); });
    if (kept != page.messages.begin() && kept == page.messages.end() && page.messages.size() == limit) {
      from = page.messages.back().seq;
      continue;
    }
    page.messages.erase(page.messages.begin(), kept);
    break;
  }
  page.head = std::max(page.head, page.messages.empty() ? Seq{0} : page.messages.back().seq);
  page.has_more = !page.messages.empty() && page.messages.back().seq < page.head;
  return page;
}

Result<std::vector<PendingChat>> ChatServiceImpl::Pending(UserId user, DeviceId device) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckDevice(user, device));
  LIBCHAT_ASSIGN_OR_RETURN(auto all, store_->PendingChats(user, device));
  std::vector<PendingChat> out;
  for (const auto& p : all) {
    if (p.acked < p.head) out.push_back(p);
  }
  return out;
}

Result<std::vector<Message>> ChatServiceImpl::History(UserId user, ChatId chat, Seq before, std::size_t limit) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  auto p = store_->GetParticipant(chat, user);
  if (!p.ok()) return p.error().IsNotFound() ? NotMember(chat) : p.error();
  LIBCHAT_ASSIGN_OR_RETURN(Chat c, store_->GetChat(chat));
  limit = std::clamp<std::size_t>(limit, 1, options_.limits.max_page);
  LIBCHAT_ASSIGN_OR_RETURN(auto msgs, store_->ReadMessagesBefore(chat, before == 0 ? ~Seq{0} : before, limit));
  const TimeMs now = Now();
  // Nothing from before the user joined, nothing past retention.
  msgs.erase(std::remove_if(msgs.begin(), msgs.end(),
                            [&](const Message& m) { return m.seq <= p->joined_seq || Expired(m, c, now); }),
             msgs.end());
  return msgs;
}

Result<ReceiptCursor> ChatServiceImpl::Ack(UserId user, DeviceId device, ChatId chat, Seq seq) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckDevice(user, device));
  LIBCHAT_ASSIGN_OR_RETURN(auto members, RequireMember(chat, user));
  // Membership and the head are checked again by the store, under the chat's lock.
  return RaiseReceipt(user, chat, members, [&] { return store_->Acknowledge(user, device, chat, seq); });
}

Result<ReceiptCursor> ChatServiceImpl::MarkRead(UserId user, ChatId chat, Seq seq) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  LIBCHAT_ASSIGN_OR_RETURN(auto members, RequireMember(chat, user));
  return RaiseReceipt(user, chat, members, [&] { return store_->MarkRead(user, chat, seq); });
}

Result<ReceiptCursor> ChatServiceImpl::RaiseReceipt(UserId user, ChatId chat, const MemberList& members,
                                                    const std::function<Result<ReceiptCursor>()>& raise) {
  LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor before, store_->GetReceipt(chat, user));
  auto after = raise();
  if (!after.ok()) return after.error().IsNotFound() ? NotMember(chat) : after.error();
  if (after->delivered != before.delivered || after->read != before.read) {
    // The server coalesces these per chat before they reach the wire.
    auto e = std::make_shared<Event>();
    e->type = EventType::kReceipt;
    e->chat = chat;
    e->recipients = *members;
    e->user = user;
    e->delivered = after->delivered;
    e->read = after->read;
    bus_->Publish(std::move(e));
  }
  return after;
}

Result<std::vector<ReceiptCursor>> ChatServiceImpl::Receipts(UserId viewer, ChatId chat) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(viewer));
  LIBCHAT_RETURN_IF_ERROR(RequireMember(chat, viewer).status());
  return store_->ListReceipts(chat);
}

Result<Message> ChatServiceImpl::DeleteMessage(UserId actor, DeviceId device, ChatId chat, Seq seq) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckDevice(actor, device));
  LIBCHAT_RETURN_IF_ERROR(RequireMember(chat, actor).status());
  // Checked by the store under the chat's lock, against the actor's membership there.
  auto authorize = [&](const Message& target, const Participant& me) -> Status {
    if (!IsUserContent(target.kind)) return Status::InvalidArgument("entries written by the server cannot be deleted");
    if (target.seq <= me.joined_seq) return Status::NotFound("message " + std::to_string(seq));
    if (target.sender != actor && me.role == Role::kMember) {
      return Status::PermissionDenied("only the sender or a chat admin may delete message " + std::to_string(seq));
    }
    return Status::Ok();
  };
  return store_->DeleteMessage(chat, seq, actor, device, Now(), authorize, EntryObserver(EventType::kMessageDeleted));
}

Result<Message> ChatServiceImpl::RecordCall(ChatId chat, UserId caller, DeviceId device, const std::string& call_id,
                                            const std::string& body) {
  Message draft;
  draft.chat = chat;
  draft.sender = caller;
  draft.sender_device = device;
  draft.client_id = "call:" + call_id;
  draft.kind = MessageKind::kCall;
  draft.body = body;
  draft.timestamp = Now();
  LIBCHAT_ASSIGN_OR_RETURN(auto appended, store_->Append(std::move(draft), EntryObserver(EventType::kMessage)));
  return appended.message;
}

Status ChatServiceImpl::Typing(UserId user, DeviceId device, ChatId chat, bool typing) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckDevice(user, device));
  LIBCHAT_ASSIGN_OR_RETURN(auto members, RequireMember(chat, user));
  // Coalesced and rate-limited per user (typing_gate.h): a repeat is accepted and not fanned out.
  LIBCHAT_ASSIGN_OR_RETURN(bool publish, typing_gate_.Admit(user, chat, typing));
  if (!publish) return Status::Ok();
  auto e = std::make_shared<Event>();
  e->type = EventType::kTyping;
  e->chat = chat;
  e->recipients = *members;
  e->exclude_device = device;
  e->user = user;
  e->device = device;
  e->typing = typing;
  bus_->Publish(std::move(e));
  return Status::Ok();
}

}  // namespace chat::detail
