#include "pg_pool.h"

namespace chat::pg {
namespace {

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr std::int64_t kProbeIntervalMs = 1000;

}  // namespace

Pool::Lease& Pool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    Release();
    pool_ = o.pool_;
    conn_ = std::move(o.conn_);
    discard_ = o.discard_;
    o.pool_ = nullptr;
  }
  return *this;
}

Pool::Lease::~Lease() { Release(); }

void Pool::Lease::Release() {
  if (pool_ != nullptr && conn_) pool_->Return(std::move(conn_), discard_);
  pool_ = nullptr;
}

Pool::Pool(std::string conninfo, std::size_t size, std::function<void(std::string_view)> log)
    : conninfo_(std::move(conninfo)), size_(size == 0 ? 1 : size), log_(std::move(log)) {
  prober_ = std::thread([this] { Probe(); });
}

Pool::~Pool() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  {
    MutexLock lock(&probe_mu_);
  }
  probe_cv_.SignalAll();
  cv_.SignalAll();
  if (prober_.joinable()) prober_.join();
}

Result<Pool::Lease> Pool::Acquire() {
  last_used_ms_.store(SteadyMs(), std::memory_order_relaxed);
  {
    MutexLock lock(&mu_);
    for (;;) {
      if (!idle_.empty()) {
        std::unique_ptr<Conn> c = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(c));
      }
      if (open_ < size_) break;
      cv_.Wait(&mu_);
    }
    ++open_;  // Reserved while connecting, outside the lock.
  }
  auto conn = Conn::Open(conninfo_);
  if (!conn.ok()) {
    {
      MutexLock lock(&mu_);
      --open_;
    }
    cv_.Signal();
    if (conn.error().code() == StatusCode::kUnavailable) SetAvailable(false, conn.error().message());
    return conn.error();
  }
  opened_.fetch_add(1, std::memory_order_relaxed);
  SetAvailable(true, "");
  return Lease(this, std::move(*conn));
}

void Pool::Return(std::unique_ptr<Conn> conn, bool discard) {
  {
    MutexLock lock(&mu_);
    if (discard || conn->broken() || stop_) {
      --open_;
      conn.reset();
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  cv_.Signal();
}

void Pool::Observe(const Status& s, const Conn& conn) {
  if (s.ok() || s.code() != StatusCode::kUnavailable || !conn.broken()) return;
  SetAvailable(false, s.message());
  // The database went away: every idle connection went with it. Dropping them now saves each of
  // the next callers a failed statement.
  std::vector<std::unique_ptr<Conn>> dropped;
  {
    MutexLock lock(&mu_);
    open_ -= idle_.size();
    dropped.swap(idle_);
  }
  cv_.SignalAll();
}

Status Pool::Availability() const {
  if (available_.load(std::memory_order_acquire)) return Status::Ok();
  return Status::Unavailable("postgres: the database is unavailable").WithRetryAfter(kRetryAfterMs);
}

void Pool::SetAvailable(bool available, const std::string& why) {
  const bool was = available_.exchange(available, std::memory_order_acq_rel);
  if (was == available || !log_) return;
  log_(available ? "postgres: the database is available again" : "postgres: the database is unavailable: " + why);
  if (!available) probe_cv_.SignalAll();
}

void Pool::Probe() {
  std::unique_ptr<Conn> conn;  // The prober's own, kept between checks.
  for (;;) {
    {
      MutexLock lock(&probe_mu_);
      probe_cv_.WaitFor(&probe_mu_, available_.load() ? kProbeIntervalMs : kProbeIntervalMs / 4);
    }
    {
      MutexLock lock(&mu_);
      if (stop_) return;
    }
    // While traffic flows, its outcomes tell; an idle store asks the database itself.
    if (available_.load() && SteadyMs() - last_used_ms_.load(std::memory_order_relaxed) < kProbeIntervalMs) continue;
    if (conn && conn->broken()) conn.reset();
    if (!conn) {
      auto opened = Conn::Open(conninfo_);
      if (!opened.ok()) {
        if (opened.error().code() == StatusCode::kUnavailable) SetAvailable(false, opened.error().message());
        continue;
      }
      conn = std::move(*opened);
    }
    auto ping = conn->Exec("SELECT 1");
    if (ping.ok()) {
      SetAvailable(true, "");
    } else {
      conn.reset();
      SetAvailable(false, ping.error().message());
    }
  }
}

}  // namespace chat::pg
