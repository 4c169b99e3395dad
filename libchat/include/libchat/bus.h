// Bus: carries events to the sessions that are live for their recipients. In one process the
// built-in inproc:// bus calls every subscriber directly; a multi-node bus carries the same events
// between nodes, so that session code never knows where a recipient is connected.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/call_types.h"
#include "libchat/ice.h"
#include "libchat/result.h"
#include "libchat/shared_kv.h"
#include "libchat/types.h"

namespace chat {

enum class EventType : std::uint8_t {
  kMessage = 0,         // message: a new entry in the chat (kMembership entries included).
  kMessageDeleted = 1,  // message: the kDeletion entry (its ref_seq names the deleted one).
  kChatUpdate = 2,      // message: the kMembership entry; the chat's name, roles or members changed.
  kReceipt = 3,         // user, delivered, read.
  kPresence = 4,        // user, online, last_seen.
  kTyping = 5,          // user, device (the typist), typing.
  kSignal = 6,          // signal: call signalling.
  kSessionRevoked = 7,  // user, device (0: all of the user's): those live sessions must close, except
                        // any authenticated with keep_token_hash (the device's new token).
  kDeviceOnline = 8,    // user, device: a new session of a device that already had one on the
                        // publishing node (a reconnect overlapping its old connection). For the nodes,
                        // not the clients: each rings it for the calls it holds that ring the user. A
                        // device new to a node shows in the live registry instead.
};

// What call signalling tells a device (CallManager, calls.h). The server sends each as its protocol
// event (docs/protocol.md, "Calls"): callRing, callAccepted, callRejected, callIce, callEnded.
enum class CallSignalType : std::uint8_t { kRing = 0, kAccepted = 1, kRejected = 2, kIce = 3, kEnded = 4 };

struct CallSignal {
  CallSignalType type = CallSignalType::kRing;
  std::string call_id;
  // kRing: the caller. kAccepted: who answered. kRejected: who declined. kIce: who sent the candidate.
  UserId user = 0;
  DeviceId device = 0;
  CallMedia media = CallMedia::kAudio;  // kRing.
  std::string sdp;                      // kRing: the offer. kAccepted: the answer.
  TimeMs ring_until = 0;                // kRing.
  std::vector<IceServer> ice_servers;   // kRing: for the callee (TURN credentials of their own).
  // kRejected: "declined" or "busy". kEnded: "hangup", "canceled", "timeout", "rejected", "busy",
  // "max_duration", or "answered_elsewhere" / "rejected_elsewhere" for a device that stops ringing.
  std::string reason;
  // kEnded, when the call itself ended (not for a device that stops ringing): its outcome.
  std::optional<CallEnd> end;
  std::string candidate;                // kIce: the RTCIceCandidateInit as JSON text, relayed as is.
};

// One event for the live sessions of its recipients. Plain data: the server encodes it to the
// protocol (only the server knows the wire format), and a multi-node bus carries it between nodes
// in its own form (SerializeEvent below). Which fields an event uses depends on its type (EventType).
struct Event {
  EventType type = EventType::kMessage;
  ChatId chat = 0;
  // Users whose live devices receive the event.
  std::vector<UserId> recipients;
  // Not delivered to this device (e.g. typing is not echoed to the typist). 0: none.
  DeviceId exclude_device = 0;
  // Delivered only to this device, if set (e.g. a revoked session).
  DeviceId only_device = 0;
  std::shared_ptr<const Message> message;
  UserId user = 0;
  DeviceId device = 0;
  // kReceipt: the user's cursors.
  Seq delivered = 0;
  Seq read = 0;
  // kPresence: whether the user has a live session now; when not, since when (last seen).
  bool online = false;
  TimeMs last_seen = 0;
  // kTyping: started (true) or stopped.
  bool typing = false;
  // kSignal.
  std::shared_ptr<const CallSignal> signal;
  // kSessionRevoked: sessions of the device authenticated with this token hash stay open.
  std::string keep_token_hash;
};

// The form in which events travel between nodes (docs/architecture.md, "Events between nodes"): a
// format byte, then varints and length-prefixed strings, the message in the store's record form.
// Independent of the client protocol, so that either can change alone. ParseEvent(SerializeEvent(e))
// gives back e field for field; ParseEvent returns Corruption for bytes SerializeEvent did not write
// (truncated, an unknown format or type, trailing bytes). Thread-safe.
std::string SerializeEvent(const Event& event);
Result<Event> ParseEvent(std::string_view bytes);

// Cancels a subscription when destroyed. Movable.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(Subscription&& o) noexcept : cancel_(std::move(o.cancel_)) { o.cancel_ = nullptr; }
  Subscription& operator=(Subscription&& o) noexcept {
    if (this != &o) { Reset(); cancel_ = std::move(o.cancel_); o.cancel_ = nullptr; }
    return *this;
  }
  ~Subscription() { Reset(); }
  void Reset() { if (cancel_) { auto c = std::move(cancel_); cancel_ = nullptr; c(); } }
  // Whether there is something to cancel: false for an empty Subscription (a watch that could not be
  // started, e.g. SharedKv::Watch while the engine does not answer) and after Reset.
  bool active() const { return static_cast<bool>(cancel_); }

 private:
  std::function<void()> cancel_;
};

class Bus {
 public:
  using Handler = std::function<void(const std::shared_ptr<const Event>&)>;
  Bus() = default;
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;
  virtual ~Bus() = default;
  // Delivers `event` to every subscriber (on every node). Events published from one thread reach each
  // subscriber in the order published. Never blocks on a subscriber. Thread-safe.
  virtual void Publish(std::shared_ptr<const Event> event) = 0;
  // Handler runs on the publisher's or the bus's thread; it must not block (post work elsewhere).
  // After the Subscription is destroyed, the handler is no longer called and no call is in progress.
  virtual Subscription Subscribe(Handler handler) = 0;
  // As Subscribe, but only the events published through this Bus object (this node's), not those of
  // other nodes: each event reaches the local subscribers of exactly one node, its publisher's. For
  // work done once per event cluster-wide (push notifications). Default: Subscribe (one node).
  virtual Subscription SubscribeLocal(Handler handler) { return Subscribe(std::move(handler)); }

  // ---- Between nodes (the in-process bus has one node: every event reaches every subscriber, and
  // the defaults below say so).
  //
  // True for a bus that carries events between nodes. Its subscribers receive events of other nodes
  // only where they declared interest (WatchChat, WatchUser), and those may arrive late, out of order
  // between publishing nodes, or not at all (a broken connection, a slow subscriber): a subscriber
  // that must see every entry of a chat once and in order tracks the entries' seqs and repairs a gap
  // from the Store, which is the truth (the server's router does; docs/scaling.md).
  virtual bool BetweenNodes() const { return false; }
  // Declares this node's interest in the events of `chat` (Event::chat) until the returned
  // Subscription is destroyed: they reach this node's Subscribe handlers. Non-blocking; the interest
  // is in force once FlushInterest returns. Each call is one interest: watch a chat once per node.
  virtual Subscription WatchChat(ChatId /*chat*/) { return {}; }
  // As WatchChat, for the events addressed to `user` that belong to no chat or change its
  // membership (presence; a kChatUpdate, which also reaches its recipients' nodes this way, so that a
  // node learns of a chat its user was just added to).
  virtual Subscription WatchUser(UserId /*user*/) { return {}; }
  // Blocks until the interest declared before the call is in force at the bus's server (other
  // servers of a cluster learn it a route round trip later), or `timeout_ms` passed (Unavailable).
  virtual Status FlushInterest(int /*timeout_ms*/) { return Status::Ok(); }
  // Calls `fn` (on the bus's thread; it must not block) whenever this node may have missed events:
  // its connection broke and is back, or its subscriber fell behind and the bus dropped events.
  // Subscribers then look for gaps in what they watch. Until the Subscription is destroyed.
  virtual Subscription OnPossibleLoss(std::function<void()> /*fn*/) { return {}; }
  // Whether the bus can carry events now (connected to a server). "" when it can, else why not.
  virtual std::string Unready() const { return ""; }

  // ---- Requests between nodes: one node serves an address, any node asks it (call signalling sent
  // to the node that holds the call, docs/scaling.md "Calls"). The in-process bus serves nothing.
  //
  // Sends the answer of a request; callable once, from any thread, also after the handler returned.
  using Reply = std::function<void(std::string)>;
  using RequestHandler = std::function<void(std::string request, Reply reply)>;
  // Serves the requests sent to `address` (letters, digits, '-' and '_') on this node until the
  // Subscription is destroyed; after that the handler is no longer called and no call is in progress.
  // The handler runs on the bus's thread and must not block: it queues the work and replies later (never from within the handler).
  // Non-blocking; in force at the bus's server once FlushInterest returns.
  virtual Subscription Serve(const std::string& /*address*/, RequestHandler /*handler*/) { return {}; }
  // Sends `request` to the node serving `address` and waits up to `timeout_ms` for the reply.
  // NotFound when no node serves the address (no such node: it never was, or it is gone);
  // Unavailable when no reply came in time or the bus is not connected. Thread-safe; blocks.
  virtual Result<std::string> Request(const std::string& address, const std::string& /*request*/,
                                      int /*timeout_ms*/) {
    return Status::NotFound("no node serves " + address);
  }

  // Opens (creating it if needed) the bucket `options.name` that every node of the deployment
  // shares (shared_kv.h): cluster-wide state beside the events. NotSupported on a bus with one node
  // (the in-process bus: there is nothing to share, callers keep their state in memory);
  // InvalidArgument for a bad name; Unavailable if the engine cannot hold it (for NATS: JetStream
  // off). Blocks; call at startup. Every SharedKv must be destroyed before the bus.
  virtual Result<std::shared_ptr<SharedKv>> OpenSharedKv(const SharedKvOptions& /*options*/) {
    return Status::NotSupported("this bus has no shared state (one node)");
  }
};

// The in-process bus (inproc://): Publish calls each handler before returning.
std::unique_ptr<Bus> NewInProcBus();

}  // namespace chat
