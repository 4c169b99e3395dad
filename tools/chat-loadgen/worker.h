// Worker: one thread running one io_context with its share of the simulated devices (client i lives
// on worker i mod threads), their measurements, and two timers: the open-loop send schedule and the
// deferred work of its clients (retries, reconnect backoff).
//
// Threading: the coordinator calls the public methods below from its own thread; each of them only
// posts into the io_context. Everything else runs on the worker's thread. Results are read by the
// coordinator through WorkerStats counters or, after the load, through Collect()/Verify(), which run
// on the worker thread and hand their answer back through a future.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <queue>
#include <thread>
#include <vector>

#include "layout.h"
#include "sim_client.h"
#include "stats.h"

namespace chat::loadgen {

struct RunShared;

// The send schedule of a run, the same for every worker: message k (0 <= k < total) is due at
// start_ns + k / rate seconds and is sent by client senders[k mod senders.size()] (--senders rotate)
// or by senders[RandomSenderPosition(seed, k, senders.size())] (--senders all).
struct SendPlan {
  std::int64_t start_ns = 0;
  double rate = 0;
  std::uint64_t total = 0;
  std::vector<std::uint32_t> senders;
  bool random = false;
  std::uint64_t seed = 0;

  std::int64_t DueNs(std::uint64_t k) const {
    return start_ns + static_cast<std::int64_t>(static_cast<double>(k) * 1e9 / rate);
  }
  // The client that sends message k.
  std::uint32_t SenderOf(std::uint64_t k) const {
    return senders[random ? RandomSenderPosition(seed, k, senders.size()) : k % senders.size()];
  }
};

class Worker {
 public:
  Worker(RunShared& shared, unsigned id);
  // Stops the thread if it runs, then destroys the clients before the io_context.
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the worker's clients (every client index with index mod threads == id). Before Start.
  void CreateClients();
  void Start();
  // Aborts every connection, stops the loop and joins the thread. Idempotent.
  void Stop();

  // ---- Coordinator calls (thread-safe: they post) ----
  // Starts setup for the worker's clients that `include` accepts, at most `window` at a time.
  void StartSetup(std::function<bool(std::uint32_t)> include, std::uint32_t window);
  // createChat (or getChat) for group `group`, by its owner client, which must live here.
  void CreateGroup(std::uint32_t owner, std::uint32_t group);
  void FetchHead(std::uint32_t owner, std::uint32_t group);
  // Prepares receipts on every client and starts the share of `plan` this worker's clients send.
  void StartLoad(std::shared_ptr<const SendPlan> plan);
  // reconnect-storm: every connected client drops and reconnects at once.
  void Storm();
  // offline-sync: the clients `include` accepts connect and sync.
  void BringOnline(std::function<bool(std::uint32_t)> include);
  // Disconnects the clients `include` accepts until BringOnline (offline-sync: the offline share,
  // connected only to be provisioned).
  void TakeOffline(std::function<bool(std::uint32_t)> include);
  // Closes every connection (end of the run).
  void CloseAll();
  // Sends not yet acknowledged or given up, over all clients.
  std::future<std::size_t> CountUnresolved();
  // The acknowledged messages so far.
  std::future<std::vector<AckedMessage>> Acked();
  // Lost and unexpected deliveries over all clients, given every acknowledged message by group.
  std::future<SimClient::Verdict> Verify(std::shared_ptr<const std::vector<std::vector<AckedMessage>>> acked);

  // Scheduled messages whose sender lives here and whose due time has passed.
  std::uint64_t scheduled() const { return scheduled_count_.Get(); }

  // After Stop(): safe to read from the coordinator.
  const WorkerStats& stats() const { return stats_; }

  // ---- For SimClient (worker thread) ----
  RunShared& shared() { return shared_; }
  WorkerStats& stats() { return stats_; }
  boost::asio::io_context& ioc() { return ioc_; }
  static std::int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  // Runs `f` on this thread after `delay_ns`.
  void After(std::int64_t delay_ns, std::function<void()> f);
  void SetupFinished(SimClient& client, bool ok);
  void Acked(const AckedMessage& m) { acked_.push_back(m); }

 private:
  struct Deferred {
    std::int64_t due_ns;
    std::uint64_t order;  // FIFO among equal due times.
    std::function<void()> f;
    bool operator>(const Deferred& o) const { return due_ns != o.due_ns ? due_ns > o.due_ns : order > o.order; }
  };

  SimClient* Local(std::uint32_t client) { return clients_[client / threads_].get(); }
  void PumpSetup();
  void ArmDeferred();
  void OnDeferredTimer();
  void OnSendTimer();
  // The next message of the plan this worker sends, as an index into the plan (total: none left).
  std::uint64_t NextOwnMessage();
  // Moves past the message NextOwnMessage returned.
  void AdvanceOwnMessage();

  RunShared& shared_;
  const unsigned id_;
  const unsigned threads_;
  WorkerStats stats_;
  // Declared before the clients: destroyed after them. Pending handlers (which own connections) go
  // with it, and they never call into a client once the thread has stopped.
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer deferred_timer_;
  boost::asio::steady_timer send_timer_;
  std::vector<std::unique_ptr<SimClient>> clients_;  // clients_[i]: client id_ + i * threads_.
  std::thread thread_;
  bool stopped_ = false;

  // Setup.
  std::deque<SimClient*> setup_queue_;
  std::uint32_t setup_window_ = 0;
  std::uint32_t setup_active_ = 0;

  // Deferred work.
  std::priority_queue<Deferred, std::vector<Deferred>, std::greater<>> deferred_;
  std::uint64_t deferred_order_ = 0;
  std::int64_t deferred_armed_ns_ = 0;  // Due time the timer waits for; 0 if idle.

  // Sends.
  std::shared_ptr<const SendPlan> plan_;
  std::vector<std::uint32_t> own_positions_;  // Positions p in plan_->senders whose client lives here.
  std::uint64_t round_ = 0;                   // Message k = round_ * senders + own_positions_[pos_].
  std::size_t pos_ = 0;
  std::uint64_t next_k_ = 0;                  // Random senders: the next message to consider.
  Counter scheduled_count_;

  std::vector<AckedMessage> acked_;
};

}  // namespace chat::loadgen
