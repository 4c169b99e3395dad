// CallManager: the state machine of calls (ringing -> connected -> ended) behind one mutex, emitting
// signalling as kSignal bus events carrying a typed CallSignal (the server encodes them). How a call flows: libchat/include/libchat/calls.h;
// the events' shapes: docs/protocol.md ("Calls").
#include "libchat/calls.h"

#include <algorithm>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "crypto.h"
#include "mutex.h"
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

class CallManagerImpl final : public CallManager {
 public:
  CallManagerImpl(CallOptions options, ChatService& service, PushDispatcher* push)
      : options_(std::move(options)), service_(service), push_(push) {
    if (options_.timer_thread) timer_ = std::thread([this] { TimerLoop(); });
  }

  ~CallManagerImpl() override {
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
      if (Status s = invites_.Take({{{0, caller.user}, &options_.invite_per_user}}, 1, "call invitations");
          !s.ok()) {
        return Refuse(s);
      }
    }
    const TimeMs now = Now();
    Call call;
    call.id = detail::RandomHex(16);
    call.chat = chat;
    call.media = media;
    call.caller = caller;
    call.callees = callees;
    call.ringing = callees;
    call.ring_until = now + options_.ring_timeout_ms;

    // One callRing per callee: each carries TURN credentials of its own user.
    for (UserId u : callees) {
      CallSignal ring = Signal(CallSignalType::kRing, call.id, caller.user, caller.device);
      ring.media = media;
      ring.sdp = sdp_offer;
      ring.ring_until = call.ring_until;
      ring.ice_servers = MakeIceServers(options_.ice, u, now);
      Emit({u}, 0, caller.device, chat, std::move(ring));
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
    call.ringing.clear();
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
    return MakeIceServers(options_.ice, callee.user, now);
  }

  Status Reject(const CallDevice& callee, const std::string& call_id, bool busy) override {
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

  Status Ice(const CallDevice& from, const std::string& call_id, const std::string& candidate_json) override {
    if (candidate_json.size() > options_.max_candidate_bytes) {
      return Refuse(Status::InvalidArgument("candidate is " + std::to_string(candidate_json.size()) +
                                            " bytes; the limit is " + std::to_string(options_.max_candidate_bytes)));
    }
    const json parsed = json::parse(candidate_json, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) return Refuse(Status::InvalidArgument("candidate must be a JSON object (RTCIceCandidateInit)"));

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

  Result<CallEnd> Hangup(const CallDevice& from, const std::string& call_id) override {
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

  CallStats Stats() const override {
    MutexLock lock(&mu_);
    CallStats s = stats_;
    {
      MutexLock counts(&stats_mu_);
      s.refused = refused_;
      s.log_errors = log_errors_;
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
        const TimeMs wait = std::max<TimeMs>(0, next - Now());
        if (wait > 0) cv_.WaitFor(&mu_, wait);
        if (stop_) return;
      }
      RunDue();
    }
  }

  const CallOptions options_;
  ChatService& service_;
  PushDispatcher* const push_;
  mutable Mutex mu_;
  CondVar cv_;
  CallMap calls_ GUARDED_BY(mu_);
  std::unordered_map<DeviceId, std::string> busy_devices_ GUARDED_BY(mu_);   // Device -> its call.
  std::unordered_map<UserId, std::size_t> calls_by_caller_ GUARDED_BY(mu_);  // Calls each user started.
  detail::TokenBuckets invites_{options_.clock};                              // CallOptions::invite_per_user.
  CallStats stats_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  // Refusals and write errors happen outside mu_ too; counted under a lock of their own.
  mutable Mutex stats_mu_;
  std::uint64_t refused_ GUARDED_BY(stats_mu_) = 0;
  std::uint64_t log_errors_ GUARDED_BY(stats_mu_) = 0;
  std::thread timer_;  // Last: started once everything above exists.
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
  if (options.clock == nullptr) options.clock = SystemClock();
  return std::unique_ptr<CallManager>(std::make_unique<CallManagerImpl>(std::move(options), service, push));
}

}  // namespace chat
