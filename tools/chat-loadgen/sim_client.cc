#include "sim_client.h"

#include <algorithm>

#include "body.h"
#include "run_shared.h"
#include "worker.h"

namespace chat::loadgen {
namespace {

// Sends written and not yet answered on one connection. chatd answers a connection's requests one at
// a time, so a deeper pipeline only queues in socket buffers; the rest wait in the outbox (their
// latency still counts from the scheduled time).
constexpr std::uint32_t kMaxPipelinedSends = 8;
// Connection attempts during setup before the device is given up.
constexpr std::uint32_t kMaxSetupAttempts = 8;
// Entries per chat per sync page (chatd's maxPage).
constexpr std::uint32_t kSyncPageLimit = 500;
constexpr std::int64_t kMs = 1'000'000;
// Used when a retryable error carries no retryAfterMs.
constexpr std::int64_t kDefaultRetryMs = 100;

bool IsRetryable(std::string_view code) { return code == "resource_exhausted" || code == "unavailable"; }

}  // namespace

SimClient::SimClient(Worker& worker, std::uint32_t index)
    : worker_(worker),
      shared_(worker.shared()),
      stats_(worker.stats()),
      index_(index),
      target_(static_cast<std::uint32_t>(index % shared_.targets.size())) {}

SimClient::~SimClient() {
  if (conn_) conn_->Detach();
}

template <typename Encode>
void SimClient::Call(Kind kind, std::uint64_t arg, Encode encode) {
  const std::int64_t id = next_id_++;
  conn_->Send(encode(id));
  pending_.push_back(Pending{id, kind, arg});
}

std::int64_t SimClient::BackoffNs() {
  // Exponential from 50 ms to 2 s, with jitter so that a crowd does not come back in step.
  const std::int64_t base = std::min<std::int64_t>(2000, 50LL << std::min<std::uint32_t>(failures_, 5)) * kMs;
  const std::uint64_t r = (index_ + 1) * 0x9E3779B97F4A7C15ULL ^ epoch_ * 0xBF58476D1CE4E5B9ULL;
  return base / 2 + static_cast<std::int64_t>((r >> 11) % static_cast<std::uint64_t>(base / 2 + 1));
}

// ---- Setup ----

void SimClient::StartSetup() {
  in_setup_ = true;
  failures_ = 0;
  Connect();
}

void SimClient::Connect() {
  ++epoch_;
  phase_ = Phase::kConnecting;
  conn_ = std::make_shared<WsConnection>(worker_.ioc(), this);
  const Target& t = shared_.targets[target_];
  conn_->Start(t.endpoint, t.host_header, t.path);
}

void SimClient::OnOpen() {
  stats_.connected.Add();
  phase_ = Phase::kSigningIn;
  for (Membership& m : memberships_) m.receipts.OnNewConnection();
  Call(Kind::kHello, 0, [](std::int64_t id) { return EncodeHello(id); });
  SendAuth();
}

void SimClient::SendAuth() {
  const DeviceIdentity& me = shared_.identities[index_];
  if (me.token.empty()) {
    const std::string user = shared_.Username(index_);
    Call(Kind::kRegister, 0,
         [&](std::int64_t id) { return EncodeRegister(id, user, shared_.password); });
    return;
  }
  Call(Kind::kResume, 0, [&](std::int64_t id) { return EncodeResume(id, me.token); });
}

void SimClient::SendSync() {
  phase_ = Phase::kSyncing;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> cursors;
  for (Membership& m : memberships_) {
    if (!m.sync_more) continue;
    m.receipts.BeginSync(m.sync_after);
    cursors.emplace_back(m.chat, m.sync_after);
  }
  Call(Kind::kSync, 0, [&](std::int64_t id) { return EncodeSync(id, cursors, kSyncPageLimit); });
}

void SimClient::OnSignedIn() {
  failures_ = 0;
  if (in_setup_) {
    in_setup_ = false;
    signed_in_once_ = true;
    phase_ = Phase::kReady;
    stats_.signed_in.Add();
    worker_.SetupFinished(*this, true);
    return;
  }
  if (!resync_on_connect_) {
    phase_ = Phase::kReady;
    return FlushSends();
  }
  // A reconnect during the run: sync every chat from the last seq held without a gap. The session
  // was registered for live events before resume was answered, so whatever the sync does not return
  // arrives live. (The sync is not pipelined behind resume: a resume refused as resource_exhausted
  // would make it fail as unauthenticated.)
  for (Membership& m : memberships_) {
    m.sync_after = m.receipts.contiguous();
    m.sync_more = true;
  }
  SendSync();
}

void SimClient::SetupFailed(const std::string& why) {
  stats_.setup_failed.Add();
  stats_.Error(why);
  in_setup_ = false;
  Close();
  worker_.SetupFinished(*this, false);
}

void SimClient::CreateGroup(std::uint32_t group) {
  if (!conn_ || phase_ != Phase::kReady) {
    shared_.groups[group].failed = true;
    stats_.groups_done.Add();
    return;
  }
  std::vector<std::uint64_t> members;
  const auto& clients = shared_.layout.members[group];
  // members[0] is this client, the owner; the server adds the creator itself.
  for (std::size_t j = 1; j < clients.size(); ++j) members.push_back(shared_.identities[clients[j]].user);
  const std::string name = shared_.prefix + "-g" + std::to_string(group);
  // chatd's default member limit is 100; larger groups ask for more (up to its maximum).
  const std::uint32_t limit = clients.size() > 100 ? static_cast<std::uint32_t>(clients.size()) : 0;
  Call(Kind::kCreateGroup, group, [&](std::int64_t id) { return EncodeCreateGroup(id, name, members, limit); });
}

void SimClient::FetchHead(std::uint32_t group) {
  if (!conn_ || phase_ != Phase::kReady) {
    shared_.groups[group].failed = true;
    stats_.groups_done.Add();
    return;
  }
  const std::uint64_t chat = shared_.groups[group].chat;
  Call(Kind::kGetChat, group, [&](std::int64_t id) { return EncodeGetChat(id, chat); });
}

// ---- Load ----

void SimClient::PrepareRun() {
  resync_on_connect_ = true;
  memberships_.clear();
  for (std::uint32_t g : shared_.layout.groups_of[index_]) {
    const GroupState& gs = shared_.groups[g];
    memberships_.push_back(Membership{g, gs.chat, static_cast<std::uint32_t>(shared_.layout.members[g].size()),
                                      ChatReceipts(gs.head)});
  }
}

void SimClient::Schedule(std::int64_t scheduled_ns) {
  if (memberships_.empty() || phase_ == Phase::kClosed) return;
  const auto m = static_cast<std::uint32_t>(next_membership_++ % memberships_.size());
  outbox_.push_back(OutMessage{scheduled_ns, m});
  const std::uint64_t number = next_number_++;
  ++unresolved_;
  ready_.push_back(number);
  FlushSends();
}

SimClient::OutMessage* SimClient::FindMessage(std::uint64_t number) {
  if (number < outbox_base_ || number - outbox_base_ >= outbox_.size()) return nullptr;
  return &outbox_[number - outbox_base_];
}

void SimClient::FlushSends() {
  if (phase_ != Phase::kReady || !conn_) return;
  while (in_flight_sends_ < kMaxPipelinedSends && !ready_.empty()) {
    const std::uint64_t number = ready_.front();
    ready_.pop_front();
    OutMessage* msg = FindMessage(number);
    if (msg == nullptr || msg->done) continue;
    const Membership& m = memberships_[msg->membership];
    // The clientId is the idempotency key: the same one on every attempt of this message.
    const std::string client_id = shared_.run_nonce + "-" + std::to_string(number);
    const std::string body = EncodeBody(BodyStamp{msg->scheduled_ns, index_, number}, shared_.options.body_bytes);
    Call(Kind::kSend, number, [&](std::int64_t id) { return EncodeSendMessage(id, m.chat, client_id, body); });
    ++in_flight_sends_;
    if (msg->attempts++ == 0) {
      stats_.sent.Add();
      stats_.last_send_ns = worker_.Now();
    }
  }
}

void SimClient::OnSendResult(const ServerFrame& frame, std::uint64_t number) {
  if (in_flight_sends_ > 0) --in_flight_sends_;
  OutMessage* msg = FindMessage(number);
  if (msg == nullptr || msg->done) {
    FlushSends();
    return;
  }
  if (frame.ok) {
    std::uint64_t seq = 0;
    if (!ParseSendResult(frame.result, &seq)) {
      stats_.Error("malformed_send_result");
      seq = 0;
    }
    msg->done = true;
    --unresolved_;
    const std::int64_t now = worker_.Now();
    const Membership& m = memberships_[msg->membership];
    stats_.acked.Add();
    stats_.last_ack_ns = now;
    stats_.send_ack_us.Record((now - msg->scheduled_ns) / 1000);
    if (seq != 0) {
      // Every other member's device, and with --count-own-device this one's own copy too.
      stats_.expected.Add(shared_.options.count_own_device ? m.members : m.members - 1);
      worker_.Acked(AckedMessage{m.chat, seq, index_});
    }
  } else {
    stats_.Error(std::string(frame.error_code));
    if (IsRetryable(frame.error_code)) {
      // An error changes nothing on the server: the same clientId goes again after the hint.
      const std::int64_t delay = (frame.retry_after_ms >= 0 ? frame.retry_after_ms : kDefaultRetryMs) * kMs;
      worker_.After(delay, [this, number] {
        ready_.push_back(number);
        FlushSends();
      });
    } else {
      msg->done = true;
      --unresolved_;
      stats_.send_failed.Add();
    }
  }
  while (!outbox_.empty() && outbox_.front().done) {
    outbox_.pop_front();
    ++outbox_base_;
  }
  FlushSends();
}

void SimClient::Drop() {
  if (phase_ == Phase::kClosed || phase_ == Phase::kOffline || !conn_) return;
  conn_->Abort();
  ResetConnection();
  resync_started_ns_ = worker_.Now();
  Connect();
}

void SimClient::GoOffline() {
  if (phase_ == Phase::kClosed) return;
  if (conn_) conn_->Abort();
  ResetConnection();
  // Invalidates any reconnect still deferred.
  ++epoch_;
  phase_ = Phase::kOffline;
}

void SimClient::ComeOnline() {
  if (phase_ == Phase::kClosed) return;
  resync_started_ns_ = worker_.Now();
  Connect();
}

void SimClient::Close() {
  phase_ = Phase::kClosed;
  if (conn_) {
    conn_->Abort();
    conn_.reset();
  }
  pending_.clear();
}

// ---- Input ----

SimClient::Membership* SimClient::FindMembership(std::uint64_t chat) {
  // Nearly always one or two groups per device: a scan beats a hash.
  for (Membership& m : memberships_) {
    if (m.chat == chat) return &m;
  }
  return nullptr;
}

void SimClient::CountDelivery(const MessageView& message, ChatReceipts::Outcome outcome, bool live) {
  if (outcome != ChatReceipts::Outcome::kFirst) return;
  BodyStamp stamp;
  // Entries that are not ours (membership changes, other clients) are tracked for order only; the
  // sender's own copy counts only with --count-own-device.
  if (!DecodeBody(message.body, &stamp)) return;
  if (stamp.sender == index_ && !shared_.options.count_own_device) return;
  stats_.delivered.Add();
  const std::int64_t now = worker_.Now();
  stats_.last_delivery_ns = now;
  if (live) stats_.latency_us.Record((now - stamp.scheduled_ns) / 1000);
}

void SimClient::OnFrame(std::string_view text) {
  const ServerFrame frame = ParseServerFrame(text);
  switch (frame.type) {
    case ServerFrame::Type::kNewMessage: {
      Membership* m = FindMembership(frame.message.chat);
      if (m == nullptr) return;
      const std::uint64_t reordered = m->receipts.reordered();
      const auto outcome = m->receipts.OnLive(frame.message.seq);
      if (outcome == ChatReceipts::Outcome::kDuplicate) stats_.duplicates.Add();
      if (m->receipts.reordered() != reordered) stats_.reordered.Add();
      CountDelivery(frame.message, outcome, /*live=*/true);
      return;
    }
    case ServerFrame::Type::kResponse:
      return OnResponse(frame);
    case ServerFrame::Type::kOtherEvent:
      return;  // chatUpdate, receipt, presence, typing: not measured.
    case ServerFrame::Type::kMalformed:
      stats_.Error("malformed_frame");
      return;
  }
}

void SimClient::OnSyncedMessage(const MessageView& message) {
  Membership* m = FindMembership(message.chat);
  if (m == nullptr) return;
  const std::uint64_t reordered = m->receipts.reordered();
  const auto outcome = m->receipts.OnSynced(message.seq);
  if (outcome == ChatReceipts::Outcome::kDuplicate) stats_.duplicates.Add();
  if (m->receipts.reordered() != reordered) stats_.reordered.Add();
  CountDelivery(message, outcome, /*live=*/false);
}

void SimClient::OnResponse(const ServerFrame& frame) {
  // chatd answers in request order, so the answer is nearly always the oldest pending request.
  auto it = pending_.begin();
  while (it != pending_.end() && it->id != frame.id) ++it;
  if (it == pending_.end()) {
    stats_.Error("unmatched_response");
    return;
  }
  const Pending p = *it;
  pending_.erase(it);
  if (!frame.ok && p.kind != Kind::kSend) stats_.Error(std::string(frame.error_code));
  switch (p.kind) {
    case Kind::kHello:
      if (!frame.ok) {
        if (in_setup_) return SetupFailed("hello refused");
        Close();
      }
      return;
    case Kind::kRegister:
      if (frame.ok || frame.error_code == "already_exists") {
        // already_exists: an earlier attempt registered it before its connection dropped.
        const std::string user = shared_.Username(index_);
        const std::string device = "loadgen-" + std::to_string(index_);
        Call(Kind::kLogin, 0, [&](std::int64_t id) { return EncodeLogin(id, user, shared_.password, device); });
        return;
      }
      if (!RetryLater(frame, p.kind, p.arg)) SetupFailed("register failed");
      return;
    case Kind::kLogin: {
      LoginResult r;
      if (frame.ok && ParseLoginResult(frame.result, &r)) {
        shared_.identities[index_] = DeviceIdentity{r.user, r.device, r.token};
        return OnSignedIn();
      }
      if (frame.ok || !RetryLater(frame, p.kind, p.arg)) SetupFailed("login failed");
      return;
    }
    case Kind::kResume:
      if (frame.ok) return OnSignedIn();
      if (RetryLater(frame, p.kind, p.arg)) return;
      // Unknown token: the server lost or revoked the session (e.g. its data was wiped).
      if (in_setup_) return SetupFailed("stale_session");
      Close();
      return;
    case Kind::kSync:
      return OnSyncResult(frame);
    case Kind::kSend:
      return OnSendResult(frame, p.arg);
    case Kind::kCreateGroup:
    case Kind::kGetChat:
      return OnGroupResult(frame, p.kind, static_cast<std::uint32_t>(p.arg));
  }
}

bool SimClient::RetryLater(const ServerFrame& frame, Kind kind, std::uint64_t arg) {
  if (frame.ok || !IsRetryable(frame.error_code)) return false;
  const std::int64_t delay = (frame.retry_after_ms >= 0 ? frame.retry_after_ms : kDefaultRetryMs) * kMs;
  const std::uint64_t epoch = epoch_;
  worker_.After(delay, [this, kind, arg, epoch] {
    // A new connection redoes its own sign-in and sync: only this connection's request is retried.
    if (epoch != epoch_ || !conn_ || phase_ == Phase::kClosed) return;
    Resend(kind, arg);
  });
  return true;
}

void SimClient::Resend(Kind kind, std::uint64_t arg) {
  const DeviceIdentity& me = shared_.identities[index_];
  switch (kind) {
    case Kind::kRegister:
    case Kind::kLogin:
      // Register again: already_exists moves on to login.
      Call(Kind::kRegister, 0, [&](std::int64_t id) {
        return EncodeRegister(id, shared_.Username(index_), shared_.password);
      });
      return;
    case Kind::kResume:
      Call(Kind::kResume, 0, [&](std::int64_t id) { return EncodeResume(id, me.token); });
      return;
    case Kind::kSync:
      return SendSync();
    case Kind::kCreateGroup:
      return CreateGroup(static_cast<std::uint32_t>(arg));
    case Kind::kGetChat:
      return FetchHead(static_cast<std::uint32_t>(arg));
    case Kind::kHello:
    case Kind::kSend:
      return;  // Never retried this way.
  }
}

void SimClient::OnSyncResult(const ServerFrame& frame) {
  if (!frame.ok) {
    if (RetryLater(frame, Kind::kSync, 0)) return;
    // Not retryable: what it would have returned is reported lost.
    phase_ = Phase::kReady;
    FlushSends();
    return;
  }
  for (Membership& m : memberships_) m.sync_more = false;
  std::vector<SyncPage> pages;
  if (!ParseSyncResult(frame.result, *this, &pages)) stats_.Error("malformed_sync_result");
  bool more = false;
  for (const SyncPage& page : pages) {
    Membership* m = FindMembership(page.chat);
    if (m == nullptr || !page.has_more) continue;
    if (page.last_seq <= m->sync_after) {
      // hasMore without progress would loop forever.
      stats_.Error("sync_stalled");
      continue;
    }
    m->sync_after = page.last_seq;
    m->sync_more = true;
    more = true;
  }
  if (more) return SendSync();
  phase_ = Phase::kReady;
  if (resync_started_ns_ != 0) {
    stats_.resync_us.Record((worker_.Now() - resync_started_ns_) / 1000);
    stats_.resynced.Add();
    resync_started_ns_ = 0;
  }
  FlushSends();
}

void SimClient::OnGroupResult(const ServerFrame& frame, Kind kind, std::uint32_t group) {
  GroupState& g = shared_.groups[group];
  if (frame.ok) {
    const bool parsed =
        kind == Kind::kCreateGroup ? ParseCreateChatResult(frame.result, &g.chat) : ParseGetChatResult(frame.result, &g.head);
    if (!parsed) {
      stats_.Error("malformed_chat_result");
      g.failed = true;
    }
  } else {
    if (RetryLater(frame, kind, group)) return;
    g.failed = true;
  }
  stats_.groups_done.Add();
}

// ---- Connection end ----

void SimClient::ResetConnection() {
  if (conn_) {
    conn_->Detach();
    conn_.reset();
  }
  // Unanswered sends go back to the front of the queue, in their order, to be sent again with the
  // same clientId: the server either has them (duplicate: true, with the seq) or appends them now.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->kind == Kind::kSend) ready_.push_front(it->arg);
    if (it->kind == Kind::kCreateGroup || it->kind == Kind::kGetChat) {
      // Setup calls are not retried across connections: the coordinator reports the group as failed.
      shared_.groups[it->arg].failed = true;
      stats_.groups_done.Add();
    }
  }
  pending_.clear();
  in_flight_sends_ = 0;
  if (phase_ != Phase::kClosed) phase_ = Phase::kOffline;
}

void SimClient::OnClosed(const char* what, error_code ec, int close_code) {
  if (phase_ == Phase::kClosed) return;
  ResetConnection();
  stats_.disconnects.Add();
  stats_.Error(close_code != 0 ? "close_" + std::to_string(close_code) : std::string(what) + ": " + ec.message());
  ++failures_;
  // Failover: the node may be gone; the next attempt goes to the next node of --url (the same one
  // when there is only one). Resume and sync work on any node of a deployment.
  target_ = static_cast<std::uint32_t>((target_ + 1) % shared_.targets.size());
  if (shared_.targets.size() > 1) stats_.failovers.Add();
  if (in_setup_ && failures_ > kMaxSetupAttempts) return SetupFailed("could not connect");
  // The resync of a dropped device is timed from the drop.
  if (resync_on_connect_ && resync_started_ns_ == 0) resync_started_ns_ = worker_.Now();
  const std::uint64_t epoch = epoch_;
  worker_.After(BackoffNs(), [this, epoch] {
    if (phase_ == Phase::kOffline && epoch == epoch_) Connect();
  });
}

// ---- Verification ----

SimClient::Verdict SimClient::Verify(const std::vector<std::vector<AckedMessage>>& acked) const {
  Verdict v;
  for (const Membership& m : memberships_) {
    std::uint64_t matched = 0;
    for (const AckedMessage& a : acked[m.group]) {
      if (m.receipts.Received(a.seq)) {
        ++matched;
      } else if (a.sender != index_ || shared_.options.count_own_device) {
        ++v.lost;
        if (v.lost_sample.size() < Verdict::kLostSample) v.lost_sample.push_back(LostDelivery{a, index_, target_});
      }
    }
    v.unexpected += m.receipts.distinct() - std::min(matched, m.receipts.distinct());
  }
  return v;
}

}  // namespace chat::loadgen
