// CallManager: the state machine of calls (ringing -> connected -> ended) behind one mutex, emitting
// signalling as kSignal bus events carrying a typed CallSignal (the server encodes them). How a call flows: libchat/include/libchat/calls.h;
// the events' shapes: docs/protocol.md ("Calls").
#include "libchat/calls.h"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <utility>

#include "crypto.h"
#include "mutex.h"
#include "shared_rates.h"
#include "token_buckets.h"

namespace chat {

std::string_view ToString(CallMedia media) { return media == CallMedia::kVideo ? "video" : "audio"; }

std::string_view ToString(CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::kMissed: return "missed";
    case CallOutcome::kRejected: return "rejected";
    case CallOutcome::kBusy: return "busy";
    case CallOutcome::kCompleted: return "completed";
  }
  return "missed";
}

bool Parse(std::string_view s, CallMedia* out) {
  if (s == "audio") *out = CallMedia::kAudio;
  else if (s == "video") *out = CallMedia::kVideo;
  else return false;
  return true;
}

namespace {

using detail::CondVar;
using detail::Mutex;
using detail::MutexLock;
using json = nlohmann::json;

enum class CallState { kRinging, kActive };

struct Call {
  std::string id;
  ChatId chat = 0;
  CallMedia media = CallMedia::kAudio;
  CallDevice caller;
  std::vector<UserId> callees;  // Every member rung, sorted.
  std::vector<UserId> ringing;  // Those still ringing (not declined), sorted; empty once answered.
  std::string offer;            // The caller's SDP offer, kept while it rings for devices that sign in late.
  CallState state = CallState::kRinging;
  CallDevice answered;          // The device that accepted (kActive).
  TimeMs ring_until = 0;
  TimeMs answered_at = 0;
  bool last_decline_busy = false;
  std::vector<std::string> early_candidates;  // From the caller before an answer (JSON text).
};

// A call that ended under the lock, whose entry is written after releasing it (a store write).
struct Ended {
  std::string call_id;
  ChatId chat = 0;
  CallDevice caller;
  CallMedia media = CallMedia::kAudio;
  CallEnd end;
};

bool Contains(const std::vector<UserId>& sorted, UserId u) { return std::binary_search(sorted.begin(), sorted.end(), u); }

// A device of this node that answered a call held by another node (docs/scaling.md, "Calls"): what
// this node needs to know it is busy, and to end the call for it if that node goes.
struct Leg {
  std::string owner;  // The owner's incarnation (the call id's first 8 hex digits).
  CallDevice device;  // The device that answered, on this node.
  ChatId chat = 0;
  CallDevice caller;
  CallMedia media = CallMedia::kAudio;
  TimeMs answered_at = 0;
};

// Between nodes: how long a forwarded command waits for the owner's answer.
constexpr int kForwardTimeoutMs = 3000;
// An owner node that fails this many checks in a row (no node serves its address) is gone.
constexpr int kOwnerMissesToEnd = 3;
// Forwarded commands waiting for the owner's worker; beyond it they are dropped (the asker times out).
constexpr std::size_t kMaxQueuedRequests = 10'000;
// Between nodes: how often a node sends the invitations it admitted to the others (shared_rates.h).
constexpr std::int64_t kSharedInvitePeriodMs = 100;
// The limit id of CallOptions::invite_per_user in invites_ (its only limit).
constexpr std::uint32_t kInviteLimit = 0;

// Whether `s` is lower-case hexadecimal.
bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Safe readers of a forwarded request (never throw on a wrong type).
std::uint64_t U64Of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}
std::string StrOf(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json IceJson(const std::vector<IceServer>& servers) {
  json out = json::array();
  for (const IceServer& s : servers) out.push_back({{"urls", s.urls}, {"username", s.username}, {"credential", s.credential}});
  return out;
}

std::vector<IceServer> IceFromJson(const json& j) {
  std::vector<IceServer> out;
  if (!j.is_array()) return out;
  for (const json& s : j) {
    if (!s.is_object()) continue;
    IceServer server;
    if (auto u = s.find("urls"); u != s.end() && u->is_array()) {
      for (const json& url : *u) {
        if (url.is_string()) server.urls.push_back(url.get<std::string>());
      }
    }
    server.username = StrOf(s, "username");
    server.credential = StrOf(s, "credential");
    out.push_back(std::move(server));
  }
  return out;
}

// The answer to a forwarded command: its status, and what the command returns.
json Answer(const Status& s) {
  json a{{"code", static_cast<int>(s.code())}};
  if (!s.ok()) {
    a["message"] = s.message();
    if (s.retry_after_ms() >= 0) a["retryAfter"] = s.retry_after_ms();
  }
  return a;
}

class CallManagerImpl final : public CallManager {
 public:
  CallManagerImpl(CallOptions options, ChatService& service, PushDispatcher* push)
      : options_(std::move(options)), service_(service), push_(push), between_(service_.bus().BetweenNodes()) {
    if (between_) {
      // The calls started here are held here; the other nodes forward their devices' commands to
      // this address (docs/scaling.md, "Calls"). In force before the first call can ring elsewhere.
      remote_ = std::thread([this] { ServeLoop(); });
      serving_ = service_.bus().Serve("call-" + incarnation_, [this](std::string request, Bus::Reply reply) {
        MutexLock lock(&q_mu_);
        if (q_stop_ || queue_.size() >= kMaxQueuedRequests) return;  // The asker times out.
        queue_.emplace_back(std::move(request), std::move(reply));
        q_cv_.Signal();
      });
      service_.bus().FlushInterest(5000).IgnoreError();
    }
    if (options_.timer_thread) timer_ = std::thread([this] { TimerLoop(); });
  }

  ~CallManagerImpl() override {
    // No forwarded command is queued once the address is no longer served.
    serving_.Reset();
    {
      MutexLock lock(&q_mu_);
      q_stop_ = true;
    }
    q_cv_.SignalAll();
    if (remote_.joinable()) remote_.join();
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    if (timer_.joinable()) timer_.join();
  }

  Result<CallStart> Invite(const CallDevice& caller, ChatId chat, CallMedia media,
                           const std::string& sdp_offer) override {
    if (Status s = CheckSdp("sdp offer", sdp_offer); !s.ok()) return Refuse(s);
    // A call this device answered on another node may have ended meanwhile: ask that node.
    VerifyBusyLeg(caller.device);
    // Membership first, outside the lock: it may read the store.
    auto members = service_.Members(chat, caller.user);
    if (!members.ok()) return Refuse(members.error());
    std::vector<UserId> callees;
    bool blocked_out = false;  // Some member blocks the caller: not rung.
    for (UserId u : *members) {
      if (u == caller.user) continue;
      auto blocks = service_.Blocks(u, caller.user);
      if (!blocks.ok()) return Refuse(blocks.error());
      if (*blocks) {
        blocked_out = true;
        continue;
      }
      callees.push_back(u);
    }
    std::sort(callees.begin(), callees.end());
    if (blocked_out) {
      // In a direct chat the block refuses the call; in a group the others are still rung.
      auto c = service_.store().GetChat(chat);
      if (!c.ok()) return Refuse(c.error());
      if (c->kind == ChatKind::kDirect || callees.empty()) {
        return Refuse(Status::PermissionDenied("the user you are calling has blocked you"));
      }
    }
    if (callees.empty()) return Refuse(Status::FailedPrecondition("chat " + std::to_string(chat) + " has no one else to call"));

    MutexLock lock(&mu_);
    if (calls_.size() >= options_.max_calls) {
      return Refuse(Status::ResourceExhausted("too many calls in progress (" + std::to_string(calls_.size()) + ")"));
    }
    if (auto busy = busy_devices_.find(caller.device); busy != busy_devices_.end()) {
      return Refuse(Status::FailedPrecondition("device " + std::to_string(caller.device) + " is already in call " +
                                               busy->second));
    }
    // One user must not hold the server's whole max_calls, from many devices.
    if (auto mine = calls_by_caller_.find(caller.user);
        mine != calls_by_caller_.end() && mine->second >= options_.max_calls_per_user) {
      return Refuse(Status::ResourceExhausted("you have " + std::to_string(mine->second) +
                                              " calls in progress, the most allowed"));
    }
    // Last, so that only an invite that goes out spends a token: each rings every member's devices
    // and pushes to their phones, with an SDP of up to max_sdp_bytes.
    if (service_.options().enforce_rate_limits) {
      if (Status s = invites_.Take({{{kInviteLimit, caller.user}, &options_.invite_per_user}}, 1, "call invitations");
          !s.ok()) {
        return Refuse(s);
      }
    }
    const TimeMs now = Now();
    Call call;
    // 32 hex digits: this manager's incarnation, which tells other nodes where the call is held,
    // then 96 random bits.
    call.id = incarnation_ + detail::RandomHex(12);
    call.chat = chat;
    call.media = media;
    call.caller = caller;
    call.callees = callees;
    call.ringing = callees;
    call.ring_until = now + options_.ring_timeout_ms;

    call.offer = sdp_offer;

    // One callRing per callee: each carries TURN credentials of its own user.
    for (UserId u : callees) {
      Emit({u}, 0, caller.device, chat, RingSignal(call, u, now));
      ringing_users_.emplace(u, call.id);
      if (push_ != nullptr) {
        CallPush p;
        p.callee = u;
        p.chat = chat;
        p.caller = caller.user;
        p.call_id = call.id;
        p.exclude_device = caller.device;
        p.ring_timeout_ms = options_.ring_timeout_ms;
        // A full push queue loses the alert only: live devices ring anyway.
        push_->NotifyCall(p).IgnoreError();
      }
    }
    CallStart start{call.id, callees, MakeIceServers(options_.ice, caller.user, now), call.ring_until};
    busy_devices_[caller.device] = call.id;
    ++calls_by_caller_[caller.user];
    calls_.emplace(call.id, std::move(call));
    ++stats_.invited;
    // The timer may be sleeping towards a later deadline (or none).
    cv_.SignalAll();
    return start;
  }

  Result<std::vector<IceServer>> Accept(const CallDevice& callee, const std::string& call_id,
                                        const std::string& sdp_answer) override {
    if (Status s = CheckSdp("sdp answer", sdp_answer); !s.ok()) return Refuse(s);
    if (std::string owner = OwnerElsewhere(call_id); !owner.empty()) {
      return ForwardAccept(owner, callee, call_id, sdp_answer);
    }
    return AcceptHere(callee, call_id, sdp_answer, nullptr);
  }

  Status Reject(const CallDevice& callee, const std::string& call_id, bool busy) override {
    if (std::string owner = OwnerElsewhere(call_id); !owner.empty()) {
      return Forward(owner, call_id, {{"op", "reject"}, {"busy", busy}}, callee).status();
    }
    return RejectHere(callee, call_id, busy);
  }

  Status Ice(const CallDevice& from, const std::string& call_id, const std::string& candidate_json) override {
    if (std::string owner = OwnerElsewhere(call_id); !owner.empty()) {
      // Checked here too, so that a bad candidate costs no hop.
      if (Status s = CheckCandidate(candidate_json); !s.ok()) return Refuse(s);
      return Forward(owner, call_id, {{"op", "ice"}, {"candidate", candidate_json}}, from).status();
    }
    return IceHere(from, call_id, candidate_json);
  }

  Result<CallEnd> Hangup(const CallDevice& from, const std::string& call_id) override {
    if (std::string owner = OwnerElsewhere(call_id); !owner.empty()) {
      LIBCHAT_ASSIGN_OR_RETURN(json a, Forward(owner, call_id, {{"op", "hangup"}}, from));
      {
        MutexLock lock(&mu_);
        DropLegLocked(call_id);
      }
      CallEnd end;
      end.outcome = static_cast<CallOutcome>(std::min<std::uint64_t>(U64Of(a, "outcome"), 3));
      end.duration_ms = static_cast<TimeMs>(U64Of(a, "durationMs"));
      return end;
    }
    return HangupHere(from, call_id);
  }

  // ---- The commands on the node that holds the call (the one that started it).

  // `leg`, if set, receives what the answering device's node keeps of the call.
  Result<std::vector<IceServer>> AcceptHere(const CallDevice& callee, const std::string& call_id,
                                            const std::string& sdp_answer, Leg* leg) {
    if (Status s = CheckSdp("sdp answer", sdp_answer); !s.ok()) return Refuse(s);
    if (Status s = CheckStillMember(callee, call_id); !s.ok()) return Refuse(s);
    MutexLock lock(&mu_);
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return Refuse(UnknownCall(call_id));
    Call& call = it->second;
    if (Status s = CheckRungAndRinging(call, callee); !s.ok()) return Refuse(s);
    if (auto busy = busy_devices_.find(callee.device); busy != busy_devices_.end()) {
      return Refuse(Status::FailedPrecondition("device " + std::to_string(callee.device) + " is already in call " +
                                               busy->second));
    }
    const TimeMs now = Now();
    call.state = CallState::kActive;
    call.answered = callee;
    call.answered_at = now;
    for (UserId u : call.ringing) UnindexRinging(u, call.id);
    call.ringing.clear();
    call.offer.clear();
    call.offer.shrink_to_fit();
    busy_devices_[callee.device] = call.id;
    ++stats_.answered;

    CallSignal accepted = Signal(CallSignalType::kAccepted, call.id, callee.user, callee.device);
    accepted.sdp = sdp_answer;
    Emit({call.caller.user}, call.caller.device, 0, call.chat, std::move(accepted));
    // Every other device rung (the callee's own others, and other members of a group) stops ringing.
    Emit(call.callees, 0, callee.device, call.chat, EndSignal(call.id, "answered_elsewhere"));
    // Candidates the caller gathered while it rang, in the order sent.
    for (const std::string& c : call.early_candidates) EmitIce(call, call.caller, callee, c);
    call.early_candidates.clear();
    if (push_ != nullptr) push_->CancelCall(call.id);
    if (leg != nullptr) {
      leg->chat = call.chat;
      leg->caller = call.caller;
      leg->media = call.media;
    }
    return MakeIceServers(options_.ice, callee.user, now);
  }

  Status RejectHere(const CallDevice& callee, const std::string& call_id, bool busy) {
    if (Status s = CheckStillMember(callee, call_id); !s.ok()) return Refuse(s);
    std::optional<Ended> ended;
    {
      MutexLock lock(&mu_);
      auto it = calls_.find(call_id);
      if (it == calls_.end()) return Refuse(UnknownCall(call_id));
      if (Status s = CheckRungAndRinging(it->second, callee); !s.ok()) return Refuse(s);
      ended = DeclineLocked(it, callee, busy);
    }
    if (ended) WriteEntry(*ended);
    return Status::Ok();
  }

  Status IceHere(const CallDevice& from, const std::string& call_id, const std::string& candidate_json) {
    if (Status s = CheckCandidate(candidate_json); !s.ok()) return Refuse(s);

    MutexLock lock(&mu_);
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return Refuse(UnknownCall(call_id));
    Call& call = it->second;
    const bool from_caller = Same(from, call.caller);
    const bool active = call.state == CallState::kActive;
    if (from_caller && active) {
      EmitIce(call, from, call.answered, candidate_json);
    } else if (from_caller) {
      if (call.early_candidates.size() >= options_.max_early_candidates) {
        return Refuse(Status::FailedPrecondition("call " + call_id + " already holds " +
                                                 std::to_string(call.early_candidates.size()) +
                                                 " candidates waiting for an answer"));
      }
      call.early_candidates.push_back(candidate_json);
    } else if (active && Same(from, call.answered)) {
      EmitIce(call, from, call.caller, candidate_json);
    } else if (!active && Contains(call.ringing, from.user)) {
      return Refuse(Status::FailedPrecondition("accept call " + call_id + " before sending candidates"));
    } else {
      return Refuse(Status::PermissionDenied("device " + std::to_string(from.device) + " is not in call " + call_id));
    }
    ++stats_.ice_relayed;
    return Status::Ok();
  }

  Result<CallEnd> HangupHere(const CallDevice& from, const std::string& call_id) {
    std::optional<Ended> ended;
    CallEnd result;
    {
      MutexLock lock(&mu_);
      auto it = calls_.find(call_id);
      if (it == calls_.end()) return Refuse(UnknownCall(call_id));
      Call& call = it->second;
      const bool active = call.state == CallState::kActive;
      if (Same(from, call.caller)) {
        ended = active ? EndLocked(it, CallOutcome::kCompleted, "hangup", from.device)
                       : EndLocked(it, CallOutcome::kMissed, "canceled", from.device);
      } else if (active && Same(from, call.answered)) {
        ended = EndLocked(it, CallOutcome::kCompleted, "hangup", from.device);
      } else if (!active && Contains(call.ringing, from.user)) {
        // A ringing device hanging up declines the call.
        ended = DeclineLocked(it, from, /*busy=*/false);
        if (!ended) result.outcome = CallOutcome::kRejected;
      } else {
        return Refuse(Status::PermissionDenied("device " + std::to_string(from.device) + " is not in call " + call_id));
      }
    }
    if (ended) {
      WriteEntry(*ended);
      result = ended->end;
    }
    return result;
  }

  void DeviceOnline(const CallDevice& device) override {
    MutexLock lock(&mu_);
    const TimeMs now = Now();
    auto [first, last] = ringing_users_.equal_range(device.user);
    for (auto r = first; r != last; ++r) {
      auto it = calls_.find(r->second);
      if (it == calls_.end()) continue;
      const Call& call = it->second;
      // Its own call never rings the caller's device; a call past its timeout is about to end.
      if (call.state != CallState::kRinging || call.ring_until <= now || device.device == call.caller.device) continue;
      Emit({device.user}, device.device, 0, call.chat, RingSignal(call, device.user, now));
      ++stats_.rung_late;
    }
  }

  void RunDue() override {
    std::vector<Ended> ended;
    {
      MutexLock lock(&mu_);
      const TimeMs now = Now();
      for (auto it = calls_.begin(); it != calls_.end();) {
        auto next = std::next(it);
        const Call& call = it->second;
        if (call.state == CallState::kRinging && call.ring_until <= now) {
          ++stats_.timeouts;
          ended.push_back(EndLocked(it, CallOutcome::kMissed, "timeout", 0));
        } else if (call.state == CallState::kActive && call.answered_at + options_.max_duration_ms <= now) {
          ended.push_back(EndLocked(it, CallOutcome::kCompleted, "max_duration", 0));
        }
        it = next;
      }
    }
    for (const Ended& e : ended) WriteEntry(e);
  }

  // Between nodes, with rate limits on: the invitations each node admits are charged to the same
  // user's bucket on every other node (SharedRates), so the limit is the cluster's. Called once by
  // Create, before any call.
  Status ShareInviteLimits() {
    if (!between_ || !service_.options().enforce_rate_limits) return Status::Ok();
    auto kv = service_.bus().OpenSharedKv(SharedKvOptions{"call_rates", 60'000});
    if (!kv.ok()) return kv.error().WithContext("call invitation limits");
    invites_.TrackSpent({{kInviteLimit, options_.invite_per_user}});
    shared_invites_ = std::make_unique<detail::SharedRates>(std::move(*kv), invites_, kSharedInvitePeriodMs);
    return Status::Ok();
  }

  CallStats Stats() const override {
    MutexLock lock(&mu_);
    CallStats s = stats_;
    {
      MutexLock counts(&stats_mu_);
      s.refused = refused_;
      s.log_errors = log_errors_;
      s.forwarded = forwarded_;
    }
    for (const auto& [id, call] : calls_) {
      if (call.state == CallState::kRinging) ++s.ringing;
      else ++s.active;
    }
    return s;
  }

 private:
  using CallMap = std::unordered_map<std::string, Call>;

  TimeMs Now() const { return options_.clock->NowMs(); }

  static bool Same(const CallDevice& a, const CallDevice& b) { return a.user == b.user && a.device == b.device; }

  // ---- Between nodes (docs/scaling.md, "Calls"). A call is held by the node that started it; its
  // id begins with that node's incarnation, and the other nodes forward their devices' commands to
  // it (Bus::Request to "call-<incarnation>"), where they run as on one node, under mu_.

  // The incarnation of the node holding `call_id` when that is another node; "" for this node's
  // calls, on one node, and for an id that is not 32 lower-case hex digits (unknown here too).
  std::string OwnerElsewhere(const std::string& call_id) const {
    if (!between_ || call_id.size() != 32 || !IsHex(call_id)) return "";
    std::string owner = call_id.substr(0, incarnation_.size());
    return owner == incarnation_ ? "" : owner;
  }

  // Runs command `request` (op and arguments) of `from` on the node holding `call_id`; its answer.
  // Its refusals come back as they were (counted there); NotFound if no node holds the call's
  // incarnation any more.
  Result<json> Forward(const std::string& owner, const std::string& call_id, json request, const CallDevice& from) {
    request["call"] = call_id;
    request["user"] = from.user;
    request["device"] = from.device;
    {
      MutexLock lock(&stats_mu_);
      ++forwarded_;
    }
    auto answer = service_.bus().Request("call-" + owner, request.dump(), kForwardTimeoutMs);
    if (!answer.ok()) {
      if (answer.error().IsNotFound()) return UnknownCall(call_id);
      return answer.error().WithContext("call " + call_id);
    }
    const json a = json::parse(*answer, nullptr, /*allow_exceptions=*/false);
    const std::uint64_t code = a.is_object() ? U64Of(a, "code") : ~std::uint64_t{0};
    if (code > static_cast<std::uint64_t>(StatusCode::kNotSupported)) {
      return Status::Internal("call " + call_id + ": malformed answer from the node holding it");
    }
    if (code != 0) {
      Status s(static_cast<StatusCode>(code), StrOf(a, "message"));
      if (auto r = a.find("retryAfter"); r != a.end() && r->is_number_integer()) s = s.WithRetryAfter(r->get<std::int64_t>());
      return s;
    }
    return a;
  }

  // callAccept of a device of this node for a call held elsewhere: refused here if the device is in
  // a call (this node knows its devices' calls), else run there; this node then keeps the leg.
  Result<std::vector<IceServer>> ForwardAccept(const std::string& owner, const CallDevice& callee,
                                               const std::string& call_id, const std::string& sdp_answer) {
    VerifyBusyLeg(callee.device);
    {
      MutexLock lock(&mu_);
      if (auto busy = busy_devices_.find(callee.device); busy != busy_devices_.end()) {
        return Refuse(Status::FailedPrecondition("device " + std::to_string(callee.device) + " is already in call " +
                                                 busy->second));
      }
    }
    LIBCHAT_ASSIGN_OR_RETURN(json a, Forward(owner, call_id, {{"op", "accept"}, {"sdp", sdp_answer}}, callee));
    Leg leg;
    leg.owner = owner;
    leg.device = callee;
    leg.chat = U64Of(a, "chat");
    leg.caller = CallDevice{U64Of(a, "callerUser"), U64Of(a, "callerDevice")};
    leg.media = U64Of(a, "media") == 1 ? CallMedia::kVideo : CallMedia::kAudio;
    leg.answered_at = Now();
    std::vector<IceServer> ice;
    if (auto i = a.find("ice"); i != a.end()) ice = IceFromJson(*i);
    MutexLock lock(&mu_);
    busy_devices_[callee.device] = call_id;
    legs_[call_id] = std::move(leg);
    return ice;
  }

  // If `device` is busy with a call held elsewhere, asks that node whether it still is; forgets the
  // leg if not (the call ended, or its node is gone). An unanswered question keeps it busy.
  void VerifyBusyLeg(DeviceId device) {
    if (!between_) return;
    std::string call_id;
    Leg leg;
    {
      MutexLock lock(&mu_);
      auto busy = busy_devices_.find(device);
      if (busy == busy_devices_.end()) return;
      auto it = legs_.find(busy->second);
      if (it == legs_.end()) return;
      call_id = it->first;
      leg = it->second;
    }
    auto answer = Forward(leg.owner, call_id, {{"op", "status"}}, leg.device);
    if (answer.ok() || !answer.error().IsNotFound()) return;
    MutexLock lock(&mu_);
    DropLegLocked(call_id);
  }

  void DropLegLocked(const std::string& call_id) REQUIRES(mu_) {
    auto it = legs_.find(call_id);
    if (it == legs_.end()) return;
    if (auto busy = busy_devices_.find(it->second.device.device); busy != busy_devices_.end() && busy->second == call_id) {
      busy_devices_.erase(busy);
    }
    legs_.erase(it);
  }

  // The owner's side: one forwarded command, on the serving thread. Never throws on bad input.
  json HandleForwarded(const std::string& request) {
    const json r = json::parse(request, nullptr, /*allow_exceptions=*/false);
    if (!r.is_object()) return Answer(Status::InvalidArgument("malformed call request"));
    const std::string op = StrOf(r, "op");
    const std::string call_id = StrOf(r, "call");
    const CallDevice from{U64Of(r, "user"), U64Of(r, "device")};
    if (op == "accept") {
      Leg leg;
      auto ice = AcceptHere(from, call_id, StrOf(r, "sdp"), &leg);
      if (!ice.ok()) return Answer(ice.error());
      json a = Answer(Status::Ok());
      a["ice"] = IceJson(*ice);
      a["chat"] = leg.chat;
      a["callerUser"] = leg.caller.user;
      a["callerDevice"] = leg.caller.device;
      a["media"] = static_cast<int>(leg.media);
      return a;
    }
    if (op == "reject") {
      auto busy = r.find("busy");
      return Answer(RejectHere(from, call_id, busy != r.end() && busy->is_boolean() && busy->get<bool>()));
    }
    if (op == "ice") return Answer(IceHere(from, call_id, StrOf(r, "candidate")));
    if (op == "hangup") {
      auto end = HangupHere(from, call_id);
      if (!end.ok()) return Answer(end.error());
      json a = Answer(Status::Ok());
      a["outcome"] = static_cast<int>(end->outcome);
      a["durationMs"] = end->duration_ms;
      return a;
    }
    MutexLock lock(&mu_);
    if (op == "status") {
      // Whether `from` is the device connected in the call.
      auto it = calls_.find(call_id);
      const bool in_call = it != calls_.end() && it->second.state == CallState::kActive && Same(it->second.answered, from);
      return Answer(in_call ? Status::Ok() : UnknownCall(call_id));
    }
    if (op == "alive") {
      // Which of the calls the asking node keeps legs of have ended here.
      json gone = json::array();
      if (auto calls = r.find("calls"); calls != r.end() && calls->is_array()) {
        for (const json& id : *calls) {
          if (id.is_string() && calls_.count(id.get<std::string>()) == 0) gone.push_back(id);
        }
      }
      json a = Answer(Status::Ok());
      a["gone"] = std::move(gone);
      return a;
    }
    return Answer(Status::InvalidArgument("unknown call request"));
  }

  // Runs the forwarded commands one at a time (they may read the store), answering each.
  void ServeLoop() EXCLUDES(q_mu_) {
    for (;;) {
      std::pair<std::string, Bus::Reply> job;
      {
        MutexLock lock(&q_mu_);
        while (!q_stop_ && queue_.empty()) q_cv_.Wait(&q_mu_);
        if (q_stop_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job.second(HandleForwarded(job.first).dump());
    }
  }

  // Asks each node holding a call that a device of this node answered which of them ended (the
  // callEnded event may have gone to a node the device left), and ends the calls of a node that no
  // longer answers at all (kOwnerMissesToEnd checks in a row): callEnded "node_failed" to the device
  // and the call entry, which nobody else will write. Timer thread.
  void CheckOwners() EXCLUDES(mu_) {
    std::map<std::string, std::vector<std::string>> by_owner;
    {
      MutexLock lock(&mu_);
      for (const auto& [id, leg] : legs_) by_owner[leg.owner].push_back(id);
      for (auto it = owner_misses_.begin(); it != owner_misses_.end();) {
        it = by_owner.count(it->first) != 0 ? std::next(it) : owner_misses_.erase(it);
      }
    }
    for (const auto& [owner, ids] : by_owner) {
      const json request{{"op", "alive"}, {"calls", ids}};
      auto answer = service_.bus().Request("call-" + owner, request.dump(), 1000);
      std::vector<Ended> ended;
      {
        MutexLock lock(&mu_);
        if (answer.ok()) {
          owner_misses_.erase(owner);
          const json a = json::parse(*answer, nullptr, /*allow_exceptions=*/false);
          const json gone = a.is_object() ? a.value("gone", json::array()) : json::array();
          for (const json& id : gone) {
            if (id.is_string()) DropLegLocked(id.get<std::string>());
          }
        } else if (answer.error().IsNotFound() && ++owner_misses_[owner] >= kOwnerMissesToEnd) {
          owner_misses_.erase(owner);
          for (const std::string& id : ids) {
            if (auto it = legs_.find(id); it != legs_.end()) ended.push_back(EndLegLocked(it));
          }
        }
      }
      for (const Ended& e : ended) WriteEntry(e);
    }
  }

  // The node holding the call is gone: the call ends for the device of this node that answered it.
  Ended EndLegLocked(std::unordered_map<std::string, Leg>::iterator it) REQUIRES(mu_) {
    const Leg& leg = it->second;
    Ended e;
    e.call_id = it->first;
    e.chat = leg.chat;
    e.caller = leg.caller;
    e.media = leg.media;
    e.end.outcome = CallOutcome::kCompleted;
    e.end.duration_ms = std::max<TimeMs>(0, Now() - leg.answered_at);
    CallSignal ended = EndSignal(e.call_id, "node_failed");
    ended.end = e.end;
    Emit({leg.device.user}, leg.device.device, 0, leg.chat, std::move(ended));
    ++stats_.owner_lost;
    ++stats_.completed;
    DropLegLocked(e.call_id);
    return e;
  }

  Status CheckCandidate(const std::string& candidate_json) const {
    if (candidate_json.size() > options_.max_candidate_bytes) {
      return Status::InvalidArgument("candidate is " + std::to_string(candidate_json.size()) + " bytes; the limit is " +
                                     std::to_string(options_.max_candidate_bytes));
    }
    const json parsed = json::parse(candidate_json, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) return Status::InvalidArgument("candidate must be a JSON object (RTCIceCandidateInit)");
    return Status::Ok();
  }

  static Status UnknownCall(const std::string& id) { return Status::NotFound("call " + id + " (unknown or ended)"); }

  Status CheckSdp(const char* what, const std::string& sdp) const {
    if (sdp.empty()) return Status::InvalidArgument(std::string(what) + " is empty");
    if (sdp.size() > options_.max_sdp_bytes) {
      return Status::InvalidArgument(std::string(what) + " is " + std::to_string(sdp.size()) + " bytes; the limit is " +
                                     std::to_string(options_.max_sdp_bytes));
    }
    return Status::Ok();
  }

  // Counts a refusal on its way out.
  Status Refuse(Status s) {
    MutexLock lock(&stats_mu_);
    ++refused_;
    return s;
  }

  // The user must still be a member of the call's chat (they may have left since it rang). Reads the
  // store, so the call is looked up, the lock released, and the caller looks it up again.
  Status CheckStillMember(const CallDevice& who, const std::string& call_id) {
    ChatId chat = 0;
    {
      MutexLock lock(&mu_);
      auto it = calls_.find(call_id);
      if (it == calls_.end()) return UnknownCall(call_id);
      chat = it->second.chat;
    }
    return service_.Members(chat, who.user).status();
  }

  static Status CheckRungAndRinging(const Call& call, const CallDevice& callee) {
    if (callee.user == call.caller.user || !Contains(call.callees, callee.user)) {
      return Status::PermissionDenied("user " + std::to_string(callee.user) + " is not rung by call " + call.id);
    }
    if (call.state == CallState::kActive) return Status::FailedPrecondition("call " + call.id + " was already answered");
    if (!Contains(call.ringing, callee.user)) {
      return Status::FailedPrecondition("user " + std::to_string(callee.user) + " already declined call " + call.id);
    }
    return Status::Ok();
  }

  // `callee` declines a ringing call. Ends it when nobody is left ringing.
  std::optional<Ended> DeclineLocked(CallMap::iterator it, const CallDevice& callee, bool busy) REQUIRES(mu_) {
    Call& call = it->second;
    call.ringing.erase(std::remove(call.ringing.begin(), call.ringing.end(), callee.user), call.ringing.end());
    UnindexRinging(callee.user, call.id);
    call.last_decline_busy = busy;
    const char* reason = busy ? "busy" : "rejected";
    Emit({callee.user}, 0, callee.device, call.chat, EndSignal(call.id, "rejected_elsewhere"));
    if (call.ringing.empty()) return EndLocked(it, busy ? CallOutcome::kBusy : CallOutcome::kRejected, reason, callee.device);
    // Others of the group still ring: the caller learns who declined.
    CallSignal rejected = Signal(CallSignalType::kRejected, call.id, callee.user, callee.device);
    rejected.reason = reason;
    Emit({call.caller.user}, call.caller.device, 0, call.chat, std::move(rejected));
    return std::nullopt;
  }

  // Ends the call: callEnded to every device still in it except `by` (whose command answers it
  // instead), the push canceled, the call forgotten. Returns what the entry needs.
  Ended EndLocked(CallMap::iterator it, CallOutcome outcome, const char* reason, DeviceId by) REQUIRES(mu_) {
    Call& call = it->second;
    const bool active = call.state == CallState::kActive;
    Ended e;
    e.call_id = call.id;
    e.chat = call.chat;
    e.caller = call.caller;
    e.media = call.media;
    e.end.outcome = outcome;
    e.end.duration_ms = active ? std::max<TimeMs>(0, Now() - call.answered_at) : 0;
    CallSignal ended = EndSignal(call.id, reason);
    ended.end = e.end;
    if (call.caller.device != by) Emit({call.caller.user}, call.caller.device, 0, call.chat, ended);
    if (active && call.answered.device != by) Emit({call.answered.user}, call.answered.device, 0, call.chat, ended);
    if (!call.ringing.empty()) {
      Emit(call.ringing, 0, by, call.chat, ended);
      if (push_ != nullptr) push_->CancelCall(call.id);
    }
    switch (outcome) {
      case CallOutcome::kMissed: ++stats_.missed; break;
      case CallOutcome::kRejected:
      case CallOutcome::kBusy: ++stats_.rejected; break;
      case CallOutcome::kCompleted: ++stats_.completed; break;
    }
    for (UserId u : call.ringing) UnindexRinging(u, call.id);
    busy_devices_.erase(call.caller.device);
    if (active) busy_devices_.erase(call.answered.device);
    if (auto mine = calls_by_caller_.find(call.caller.user); mine != calls_by_caller_.end() && --mine->second == 0) {
      calls_by_caller_.erase(mine);
    }
    calls_.erase(it);
    return e;
  }

  // The call's one entry in the chat log. Outside the lock: a store write.
  void WriteEntry(const Ended& e) {
    const json body{{"callId", e.call_id},
                    {"media", ToString(e.media)},
                    {"outcome", ToString(e.end.outcome)},
                    {"durationMs", e.end.duration_ms},
                    {"callerId", e.caller.user}};
    auto entry = service_.RecordCall(e.chat, e.caller.user, e.caller.device, e.call_id, body.dump());
    if (!entry.ok()) {
      MutexLock lock(&stats_mu_);
      ++log_errors_;
    }
  }

  void EmitIce(const Call& call, const CallDevice& from, const CallDevice& to, const std::string& candidate_json)
      REQUIRES(mu_) {
    CallSignal ice = Signal(CallSignalType::kIce, call.id, from.user, from.device);
    ice.candidate = candidate_json;
    Emit({to.user}, to.device, 0, call.chat, std::move(ice));
  }

  static CallSignal Signal(CallSignalType type, const std::string& call_id, UserId user, DeviceId device) {
    CallSignal s;
    s.type = type;
    s.call_id = call_id;
    s.user = user;
    s.device = device;
    return s;
  }

  // The callRing of `call` for the devices of `callee`: TURN credentials of that user's own.
  CallSignal RingSignal(const Call& call, UserId callee, TimeMs now) const {
    CallSignal ring = Signal(CallSignalType::kRing, call.id, call.caller.user, call.caller.device);
    ring.media = call.media;
    ring.sdp = call.offer;
    ring.ring_until = call.ring_until;
    ring.ice_servers = MakeIceServers(options_.ice, callee, now);
    return ring;
  }

  // Takes the pair (user, call) out of ringing_users_.
  void UnindexRinging(UserId user, const std::string& call_id) REQUIRES(mu_) {
    auto [first, last] = ringing_users_.equal_range(user);
    for (auto r = first; r != last; ++r) {
      if (r->second == call_id) {
        ringing_users_.erase(r);
        return;
      }
    }
  }

  static CallSignal EndSignal(const std::string& call_id, const char* reason) {
    CallSignal s = Signal(CallSignalType::kEnded, call_id, 0, 0);
    s.reason = reason;
    return s;
  }

  // Publishes one signalling event. Under mu_, so that a call's events leave in the order of its
  // transitions; safe because bus subscribers never call back into the manager.
  void Emit(std::vector<UserId> recipients, DeviceId only, DeviceId exclude, ChatId chat, CallSignal signal)
      REQUIRES(mu_) {
    auto e = std::make_shared<Event>();
    e->type = EventType::kSignal;
    e->chat = chat;
    e->recipients = std::move(recipients);
    e->only_device = only;
    e->exclude_device = exclude;
    e->signal = std::make_shared<const CallSignal>(std::move(signal));
    service_.bus().Publish(std::move(e));
  }

  void TimerLoop() EXCLUDES(mu_) {
    for (;;) {
      {
        MutexLock lock(&mu_);
        if (stop_) return;
        // Sleep until the earliest deadline, at most a second (the clock may be moved by an operator).
        // A new call wakes it early (Invite), which only runs RunDue once more.
        TimeMs next = Now() + 1000;
        for (const auto& [id, call] : calls_) {
          next = std::min(next, call.state == CallState::kRinging ? call.ring_until
                                                                  : call.answered_at + options_.max_duration_ms);
        }
        if (between_ && !legs_.empty()) next = std::min(next, next_owner_check_);
        const TimeMs wait = std::max<TimeMs>(0, next - Now());
        if (wait > 0) cv_.WaitFor(&mu_, wait);
        if (stop_) return;
      }
      RunDue();
      if (between_) {
        bool due = false;
        {
          MutexLock lock(&mu_);
          due = Now() >= next_owner_check_;
          if (due) next_owner_check_ = Now() + options_.owner_check_ms;
        }
        if (due) CheckOwners();
      }
    }
  }

  const CallOptions options_;
  ChatService& service_;
  PushDispatcher* const push_;
  // On a bus between nodes (docs/scaling.md, "Calls"): whether, and this manager's incarnation,
  // random at each start (8 hex digits), the address other nodes send its calls' commands to.
  const bool between_;
  const std::string incarnation_ = detail::RandomHex(4);
  mutable Mutex mu_;
  CondVar cv_;
  CallMap calls_ GUARDED_BY(mu_);
  std::unordered_map<DeviceId, std::string> busy_devices_ GUARDED_BY(mu_);   // Device -> its call.
  std::unordered_map<UserId, std::size_t> calls_by_caller_ GUARDED_BY(mu_);  // Calls each user started.
  // The users each call still rings (Call::ringing), by user: DeviceOnline looks up a user's calls
  // without walking every call.
  std::unordered_multimap<UserId, std::string> ringing_users_ GUARDED_BY(mu_);
  detail::TokenBuckets invites_{options_.clock};                              // CallOptions::invite_per_user.
  // Between nodes: the other nodes' invitations charged to invites_ (ShareInviteLimits); destroyed
  // first, before the buckets it charges.
  std::unique_ptr<detail::SharedRates> shared_invites_;
  CallStats stats_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  // Calls held by other nodes that a device of this node answered, by call id (their devices are
  // in busy_devices_ too), and the owners that failed to answer the last checks.
  std::unordered_map<std::string, Leg> legs_ GUARDED_BY(mu_);
  std::unordered_map<std::string, int> owner_misses_ GUARDED_BY(mu_);
  TimeMs next_owner_check_ GUARDED_BY(mu_) = 0;
  // Commands forwarded by other nodes to this one, waiting for the serving thread.
  Mutex q_mu_;
  CondVar q_cv_;
  std::deque<std::pair<std::string, Bus::Reply>> queue_ GUARDED_BY(q_mu_);
  bool q_stop_ GUARDED_BY(q_mu_) = false;
  // Refusals and write errors happen outside mu_ too; counted under a lock of their own.
  mutable Mutex stats_mu_;
  std::uint64_t refused_ GUARDED_BY(stats_mu_) = 0;
  std::uint64_t log_errors_ GUARDED_BY(stats_mu_) = 0;
  std::uint64_t forwarded_ GUARDED_BY(stats_mu_) = 0;
  std::thread remote_;     // Runs the forwarded commands (between nodes only).
  Subscription serving_;   // This node's address, "call-<incarnation>" (between nodes only).
  std::thread timer_;      // Last: started once everything above exists.
};

}  // namespace

Result<std::unique_ptr<CallManager>> CallManager::Create(CallOptions options, ChatService& service,
                                                         PushDispatcher* push) {
  if (options.ring_timeout_ms <= 0) return Status::InvalidArgument("ring_timeout_ms must be positive");
  if (options.max_duration_ms <= 0) return Status::InvalidArgument("max_duration_ms must be positive");
  if (options.max_sdp_bytes == 0) return Status::InvalidArgument("max_sdp_bytes must be positive");
  if (options.max_candidate_bytes == 0) return Status::InvalidArgument("max_candidate_bytes must be positive");
  if (options.max_calls == 0) return Status::InvalidArgument("max_calls must be positive");
  if (options.max_calls_per_user == 0) return Status::InvalidArgument("max_calls_per_user must be positive");
  if (options.ice.turn_ttl_ms <= 0) return Status::InvalidArgument("ice.turn_ttl_ms must be positive");
  if (options.owner_check_ms <= 0) return Status::InvalidArgument("owner_check_ms must be positive");
  if (options.clock == nullptr) options.clock = SystemClock();
  auto calls = std::make_unique<CallManagerImpl>(std::move(options), service, push);
  if (Status s = calls->ShareInviteLimits(); !s.ok()) return s;
  return std::unique_ptr<CallManager>(std::move(calls));
}

}  // namespace chat
