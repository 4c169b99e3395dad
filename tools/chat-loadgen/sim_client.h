// SimClient: one simulated device. It owns at most one WsConnection at a time and drives protocol v1
// through it: setup (hello, then register + login or resume), group calls for the coordinator, the
// messages the schedule assigns it, and what it receives, which it checks against its ChatReceipts.
// It reconnects, resumes and resyncs by itself whenever its connection ends without being asked to
// (e.g. 1008 "slow consumer"), as the protocol tells clients to.
//
// Threading: everything runs on the thread of its Worker; the Worker is the only caller.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "delivery_tracker.h"
#include "frames.h"
#include "stats.h"
#include "ws_connection.h"

namespace chat::loadgen {

class Worker;
struct RunShared;

class SimClient final : public WsConnection::Handler, private SyncVisitor {
 public:
  SimClient(Worker& worker, std::uint32_t index);
  ~SimClient() override;
  SimClient(const SimClient&) = delete;
  SimClient& operator=(const SimClient&) = delete;

  std::uint32_t index() const { return index_; }

  // ---- Setup ----
  // Connects and signs in: register + login when it has no session token yet, resume otherwise.
  // Tells the Worker (SetupFinished) when signed in or failed for good.
  void StartSetup();
  // Coordinator calls, once signed in. Each ends in Worker::GroupCallDone.
  void CreateGroup(std::uint32_t group);
  void FetchHead(std::uint32_t group);

  // ---- Load ----
  // Sets up the receipts of every group it is in, from the heads in RunShared.
  void PrepareRun();
  // One message whose time has come (scheduled at `scheduled_ns`, steady clock): queued and written
  // as soon as the connection allows.
  void Schedule(std::int64_t scheduled_ns);
  // reconnect-storm: drops the connection as a network failure would, reconnects at once, resumes
  // and resyncs.
  void Drop();
  // offline-sync: disconnects until ComeOnline.
  void GoOffline();
  // offline-sync: connects, resumes and syncs.
  void ComeOnline();
  // Ends the connection for good; nothing is reported after it.
  void Close();

  // Sends neither acknowledged nor given up.
  std::size_t unresolved_sends() const { return unresolved_; }

  // ---- Verification ----
  struct Verdict {
    static constexpr std::size_t kLostSample = 20;
    std::uint64_t lost = 0;        // Acknowledged messages of others never received.
    std::uint64_t unexpected = 0;  // Entries received that no sender had acknowledged.
    std::vector<LostDelivery> lost_sample;  // The first kLostSample of them.

    void Add(const Verdict& other) {
      lost += other.lost;
      unexpected += other.unexpected;
      for (const LostDelivery& l : other.lost_sample) {
        if (lost_sample.size() < kLostSample) lost_sample.push_back(l);
      }
    }
  };
  // `acked[g]`: the acknowledged messages of group g's chat, sorted by seq.
  Verdict Verify(const std::vector<std::vector<AckedMessage>>& acked) const;

 private:
  enum class Phase { kOffline, kConnecting, kSigningIn, kSyncing, kReady, kClosed };
  enum class Kind : std::uint8_t { kHello, kRegister, kLogin, kResume, kCreateGroup, kGetChat, kSync, kSend };
  struct Pending {
    std::int64_t id;
    Kind kind;
    std::uint64_t arg;  // Group index (group calls) or message number (sends).
  };
  struct Membership {
    std::uint32_t group;
    std::uint64_t chat;
    std::uint32_t members;
    ChatReceipts receipts;
    std::uint64_t sync_after = 0;  // Cursor of the sync in progress.
    bool sync_more = false;        // The last page of the sync in progress said hasMore.
  };
  struct OutMessage {
    std::int64_t scheduled_ns;
    std::uint32_t membership;  // Index into memberships_.
    std::uint32_t attempts = 0;
    bool done = false;
  };

  // WsConnection::Handler
  void OnOpen() override;
  void OnFrame(std::string_view text) override;
  void OnClosed(const char* what, error_code ec, int close_code) override;
  // SyncVisitor
  void OnSyncedMessage(const MessageView& message) override;

  void Connect();
  // Forgets the connection's requests; unanswered sends go back to the front of the queue.
  void ResetConnection();
  // Sends the frame `encode(id)` builds for a fresh request id, and remembers it.
  template <typename Encode>
  void Call(Kind kind, std::uint64_t arg, Encode encode);
  // Sends `kind` again (after a retryable error).
  void Resend(Kind kind, std::uint64_t arg);
  std::int64_t BackoffNs();
  void SendAuth();
  void SendSync();
  void FlushSends();
  void OnResponse(const ServerFrame& frame);
  void OnSignedIn();
  void OnSyncResult(const ServerFrame& frame);
  void OnSendResult(const ServerFrame& frame, std::uint64_t number);
  void OnGroupResult(const ServerFrame& frame, Kind kind, std::uint32_t group);
  void SetupFailed(const std::string& why);
  // Retries `kind` later for a retryable error; false if the error is not retryable.
  bool RetryLater(const ServerFrame& frame, Kind kind, std::uint64_t arg);
  // Counts a first receipt of another client's message; live ones also give a latency sample.
  void CountDelivery(const MessageView& message, ChatReceipts::Outcome outcome, bool live);
  Membership* FindMembership(std::uint64_t chat);
  OutMessage* FindMessage(std::uint64_t number);

  Worker& worker_;
  RunShared& shared_;
  WorkerStats& stats_;
  const std::uint32_t index_;
  std::uint32_t target_;  // Index into RunShared::targets of the node it connects to.

  std::shared_ptr<WsConnection> conn_;
  Phase phase_ = Phase::kOffline;
  bool signed_in_once_ = false;  // Setup finished (reported to the worker).
  bool in_setup_ = false;
  bool resync_on_connect_ = false;  // Set by PrepareRun: from then on every connect resumes and syncs.
  std::uint64_t epoch_ = 0;         // Connections made; stale deferred work checks it.
  std::uint32_t failures_ = 0;    // Consecutive connection failures, for the backoff.
  std::int64_t next_id_ = 1;
  std::deque<Pending> pending_;   // Requests on the current connection, in the order sent.
  std::int64_t resync_started_ns_ = 0;  // 0: no resync being timed.

  std::vector<Membership> memberships_;
  std::uint32_t next_membership_ = 0;  // Round-robin over the groups for sends.

  // Messages not yet acknowledged, by number: outbox_[i] is number outbox_base_ + i.
  std::deque<OutMessage> outbox_;
  std::uint64_t outbox_base_ = 0;
  std::uint64_t next_number_ = 0;
  std::deque<std::uint64_t> ready_;  // Numbers waiting to be written, in order.
  std::uint32_t in_flight_sends_ = 0;
  std::size_t unresolved_ = 0;       // Messages in outbox_ not yet done.
};

}  // namespace chat::loadgen
