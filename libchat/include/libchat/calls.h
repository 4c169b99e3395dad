// CallManager: audio/video call signalling. libchat relays WebRTC session descriptions and ICE
// candidates between the devices of a call; the media itself flows peer to peer (or through a TURN
// relay, see ice.h), never through libchat.
//
// A call rings every device of every other member of a chat (a direct chat or a group) and connects
// the caller's device with the first device that accepts: one peer connection, as one SDP offer
// allows. The callee's other devices, and the other members of a group, then stop ringing with
// "answered_elsewhere". An unanswered call ends after the ring timeout. Every call leaves exactly one
// kCall entry in the chat's log (missed, rejected, busy or completed with its duration), written
// through ChatService::RecordCall so that every device syncs it in order.
//
// Signalling reaches devices as kSignal bus events carrying a typed CallSignal (bus.h), which the
// server encodes to the protocol's callRing, callAccepted, ... (docs/protocol.md), so a multi-node
// bus carries them like any other event. Devices without a live session are rung by push
// (PushDispatcher::NotifyCall).
//
// Call state lives in memory, on the node that started the call (its "owner"). On a bus between
// nodes (Bus::BetweenNodes) the call id begins with the owner's incarnation and the commands of
// devices connected to other nodes are forwarded to it (Bus::Request), where they run as on one node;
// the node of a device that answered keeps a "leg" of the call (that device is busy) and ends it with
// callEnded "node_failed" if the owner stops answering (docs/scaling.md, "Calls"). Calls in progress do
// not survive a restart of their owner (their devices see the connection drop; no call entry is
// written for them unless a device that answered sits on another node).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libchat/call_types.h"
#include "libchat/clock.h"
#include "libchat/ice.h"
#include "libchat/push_dispatcher.h"
#include "libchat/result.h"
#include "libchat/service.h"
#include "libchat/types.h"

namespace chat {

struct CallOptions {
  // An unanswered call ends (missed) this long after the invite. Default: 45 s.
  TimeMs ring_timeout_ms = 45'000;
  // A call still connected after this long is ended (completed) by the server, in case both ends
  // vanished without hanging up. Default: 12 hours.
  TimeMs max_duration_ms = 12LL * 3600 * 1000;
  // Largest SDP offer or answer, in bytes. Default: 64 KiB.
  std::size_t max_sdp_bytes = 64 * 1024;
  // Largest ICE candidate (its JSON text), in bytes. Default: 2 KiB.
  std::size_t max_candidate_bytes = 2048;
  // Candidates the caller may send before anyone accepts; they are held and handed to the device
  // that accepts. Default: 64.
  std::size_t max_early_candidates = 64;
  // Calls ringing or connected at once; beyond it callInvite fails with ResourceExhausted.
  // Default: 10000.
  std::size_t max_calls = 10'000;
  // Calls one user may have started and not ended (from all their devices); beyond it callInvite
  // fails with ResourceExhausted. Default: 3.
  std::size_t max_calls_per_user = 3;
  // Invitations per user: each rings every device of every other member and pushes to their phones.
  // Beyond it callInvite fails with ResourceExhausted and a retry-after. Not enforced when the
  // service's enforce_rate_limits is off. On a bus between nodes it is the cluster's: each node's
  // admissions are charged to the user on the others within ~100 ms (shared_rates.h). Default: 5 at
  // once, then 10 a minute.
  RateLimit invite_per_user{5, 10};
  // STUN/TURN servers handed to both ends when a call starts.
  IceOptions ice;
  // Between nodes: how often a node asks the owners of the calls its devices answered elsewhere
  // which have ended; an owner that does not answer 3 times in a row is taken for gone and those
  // calls end ("node_failed"). Default: 2 s.
  TimeMs owner_check_ms = 2000;
  // Run a thread of its own that ends calls when their timeouts pass. false: the owner calls
  // RunDue() (tests, with a ManualClock). Default: true.
  bool timer_thread = true;
  // Not owned; must outlive the manager. Default: the system clock.
  Clock* clock = SystemClock();
};

struct CallStats {
  std::uint64_t invited = 0;     // Calls started.
  std::uint64_t answered = 0;    // Calls accepted by a device.
  std::uint64_t missed = 0;      // Ended unanswered (timeout or caller hang-up).
  std::uint64_t rejected = 0;    // Ended declined (busy included).
  std::uint64_t completed = 0;   // Ended after an answer.
  std::uint64_t timeouts = 0;    // Of the missed, those ended by the ring timeout.
  std::uint64_t ice_relayed = 0; // ICE candidates relayed (or held for the accepting device).
  std::uint64_t rung_late = 0;   // callRing sent to a device that signed in while the call rang (DeviceOnline).
  std::uint64_t refused = 0;     // Signalling commands refused (not a member, unknown call, too large, ...).
  std::uint64_t log_errors = 0;  // Call entries that could not be written to the chat.
  std::uint64_t forwarded = 0;   // Commands sent to the node holding the call (between nodes).
  std::uint64_t owner_lost = 0;  // Calls ended here because the node holding them stopped answering.
  std::size_t ringing = 0;       // Calls ringing now.
  std::size_t active = 0;        // Calls connected now.
};

// A device taking part in signalling: who sends the command.
struct CallDevice {
  UserId user = 0;
  DeviceId device = 0;
};

struct CallStart {
  std::string call_id;                  // 32 hex digits, random.
  std::vector<UserId> callees;          // Members rung (every member but the caller).
  std::vector<IceServer> ice_servers;   // For the caller.
  TimeMs ring_until = 0;                // Wall-clock time at which an unanswered call ends.
};

// Thread-safe. Every method may block on the store (membership reads, the call entry) and, between
// nodes, on a request to the call's owner (up to 3 s; Unavailable when it does not answer in time):
// call them from worker threads, not network threads. Every refusal leaves the calls and the store unchanged.
class CallManager {
 public:
  // `service` must outlive the manager; so must `push` (null: no call pushes). InvalidArgument for
  // inconsistent options.
  static Result<std::unique_ptr<CallManager>> Create(CallOptions options, ChatService& service,
                                                     PushDispatcher* push);

  CallManager() = default;
  CallManager(const CallManager&) = delete;
  CallManager& operator=(const CallManager&) = delete;
  // Joins the timer thread. Calls still in progress are dropped without a call entry.
  virtual ~CallManager() = default;

  // Starts a call from `caller` in `chat` with the SDP offer: callRing to every device of every other
  // member (each user with ICE servers of their own), a call push for their offline devices.
  // PermissionDenied if the caller is not a member; InvalidArgument for an empty or oversized SDP;
  // FailedPrecondition if the chat has no other member or the caller's device is already in a call;
  // ResourceExhausted at max_calls or max_calls_per_user, or (with retry_after_ms()) beyond
  // invite_per_user.
  virtual Result<CallStart> Invite(const CallDevice& caller, ChatId chat, CallMedia media,
                                   const std::string& sdp_offer) = 0;

  // `callee` answers with its SDP answer: the caller's device gets callAccepted, every other rung
  // device callEnded "answered_elsewhere", and candidates the caller sent early go to `callee`.
  // Returns the ICE servers for the callee. NotFound for an unknown (or already ended) call;
  // PermissionDenied unless callee is a rung member (still in the chat); FailedPrecondition if the
  // call was already answered or the user declined it; InvalidArgument for an empty or oversized SDP.
  virtual Result<std::vector<IceServer>> Accept(const CallDevice& callee, const std::string& call_id,
                                                const std::string& sdp_answer) = 0;

  // `callee` declines (busy: because they are in another call). Their other devices get callEnded
  // "rejected_elsewhere". When no callee is left ringing the call ends (rejected / busy) and the
  // caller gets callEnded; otherwise the caller gets callRejected. Errors as Accept.
  virtual Status Reject(const CallDevice& callee, const std::string& call_id, bool busy) = 0;

  // Relays an ICE candidate (JSON text of an RTCIceCandidateInit, relayed as is) to the other end:
  // from the caller's device to the device that accepted (held until then, up to
  // max_early_candidates), from that device to the caller's. NotFound for an unknown call;
  // PermissionDenied from any other device; FailedPrecondition from a callee before accepting or
  // when too many are held; InvalidArgument if not a JSON object or oversized.
  virtual Status Ice(const CallDevice& from, const std::string& call_id, const std::string& candidate_json) = 0;

  // Ends the call: from the caller's device (before an answer: missed; after: completed) or from the
  // device that accepted (completed). A rung callee hanging up declines (as Reject). The other end
  // gets callEnded "hangup" (ringing devices "canceled"). NotFound for an unknown call;
  // PermissionDenied from any other device.
  virtual Result<CallEnd> Hangup(const CallDevice& from, const std::string& call_id) = 0;

  // `device` has just signed in (a login or resume on some node, possibly woken by a call push):
  // it gets callRing for every call held here that still rings its user (not declined, not
  // answered, not its own call), as the devices online at the invite did. The server calls it once
  // the session is registered; on a bus between nodes every node calls it for a device that signed
  // in on another one, each ringing the calls it holds. Non-blocking (publishes events).
  virtual void DeviceOnline(const CallDevice& device) = 0;

  // Ends every call whose ring timeout (or max_duration_ms) has passed by the clock. Called by the
  // timer thread, or by the owner when timer_thread is false.
  virtual void RunDue() = 0;

  virtual CallStats Stats() const = 0;
};

}  // namespace chat
