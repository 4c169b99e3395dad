// Pool: a bounded set of connections to one database, shared by every thread of a PostgresStore, and
// the store's view of whether the database is there at all (Store::Availability, chatd's /readyz).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mutex.h"
#include "pg_conn.h"

namespace chat::pg {

using detail::CondVar;
using detail::Mutex;
using detail::MutexLock;

class Pool {
 public:
  // `size` connections at most, opened on demand. `log` receives one line per change of availability.
  Pool(std::string conninfo, std::size_t size, std::function<void(std::string_view)> log);
  // Joins the prober. REQUIRES: no lease is outstanding.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A connection held by one caller; returned to the pool when destroyed (discarded if it broke, or
  // if it is destroyed inside a transaction it never finished).
  class Lease {
   public:
    Lease() = default;
    Lease(Pool* pool, std::unique_ptr<Conn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept = default;
    Lease& operator=(Lease&& o) noexcept;
    ~Lease();
    Conn* operator->() const { return conn_.get(); }
    Conn& operator*() const { return *conn_; }
    // Marks the connection as unusable: it is closed instead of returned (e.g. the outcome of a
    // commit is unknown, or a transaction was left open).
    void Discard() { discard_ = true; }

   private:
    void Release();
    Pool* pool_ = nullptr;
    std::unique_ptr<Conn> conn_;
    bool discard_ = false;
  };

  // A connection: an idle one, or a new one while fewer than `size` exist; otherwise waits for one
  // to be returned. Unavailable (with a retry hint) if the database cannot be reached.
  Result<Lease> Acquire() EXCLUDES(mu_);

  // OK while the database answers; Unavailable (with a retry hint) from the first failure to reach
  // it until a connection succeeds again. Never blocks. A prober thread checks every second, so the
  // state changes without traffic too.
  Status Availability() const;

  // Called with the outcome of work done on a lease: an Unavailable status on a broken connection
  // marks the database as away and drops the idle connections (they broke with it).
  void Observe(const Status& s, const Conn& conn) EXCLUDES(mu_);

  // Connections opened so far (for tests and stats).
  std::uint64_t opened() const { return opened_.load(); }

 private:
  void Return(std::unique_ptr<Conn> conn, bool discard) EXCLUDES(mu_);
  void SetAvailable(bool available, const std::string& why);
  void Probe() EXCLUDES(mu_);

  const std::string conninfo_;
  const std::size_t size_;
  const std::function<void(std::string_view)> log_;

  mutable Mutex mu_;
  CondVar cv_;
  std::vector<std::unique_ptr<Conn>> idle_ GUARDED_BY(mu_);
  std::size_t open_ GUARDED_BY(mu_) = 0;  // Idle plus leased.
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<bool> available_{true};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<std::int64_t> last_used_ms_{0};  // Steady clock; the prober pings only when idle.
  Mutex probe_mu_;
  CondVar probe_cv_;
  std::thread prober_;
};

}  // namespace chat::pg
