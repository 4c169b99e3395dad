#include "heartbeat.h"

#include "libchat/version.h"

#ifdef CHATD_WITH_POSTGRES
#include "libchat/plugins/postgres_store.h"
#endif

namespace chat::chatd {

struct Heartbeat::Registry {
#ifdef CHATD_WITH_POSTGRES
  std::unique_ptr<NodeRegistry> nodes;
#endif
};

namespace {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsPostgres(const std::string& uri) {
  return uri.rfind("postgres://", 0) == 0 || uri.rfind("postgresql://", 0) == 0;
}

}  // namespace

Result<std::unique_ptr<Heartbeat>> Heartbeat::Start(const std::string& store_uri, Self self,
                                                    std::chrono::milliseconds interval,
                                                    std::function<void(const std::string&)> log) {
  auto registry = std::make_unique<Registry>();
#ifdef CHATD_WITH_POSTGRES
  if (IsPostgres(store_uri)) {
    LIBCHAT_ASSIGN_OR_RETURN(registry->nodes, OpenNodeRegistry(store_uri));
  }
#else
  (void)IsPostgres;
  (void)store_uri;
#endif
  std::unique_ptr<Heartbeat> hb(new Heartbeat(std::move(registry), std::move(self), interval, std::move(log)));
#ifdef CHATD_WITH_POSTGRES
  if (hb->registry_->nodes) {
    // The first row before the node serves, so that `chatctl nodes` lists it at once.
    LIBCHAT_RETURN_IF_ERROR(hb->Beat(false));
    hb->thread_ = std::thread([h = hb.get()] { h->Run(); });
  }
#endif
  return hb;
}

Heartbeat::Heartbeat(std::unique_ptr<Registry> registry, Self self, std::chrono::milliseconds interval,
                     std::function<void(const std::string&)> log)
    : registry_(std::move(registry)), self_(std::move(self)), interval_(interval), log_(std::move(log)) {}

Heartbeat::~Heartbeat() {
  if (!thread_.joinable()) return;
  {
    detail::MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
  Beat(true).IgnoreError();
}

void Heartbeat::Run() {
  for (;;) {
    {
      detail::MutexLock lock(&mu_);
      const auto deadline = std::chrono::steady_clock::now() + interval_;
      while (!stop_ && cv_.WaitUntil(&mu_, deadline)) {
      }
      if (stop_) return;
    }
    const Status s = Beat(false);
    if (!s.ok() && !failing_) log_("node heartbeat failed (retried every interval): " + s.ToString());
    if (s.ok() && failing_) log_("node heartbeat written again");
    failing_ = !s.ok();
  }
}

Status Heartbeat::Beat(bool stopped) {
#ifdef CHATD_WITH_POSTGRES
  NodeHeartbeat n;
  n.node_id = self_.node_id;
  n.listen = self_.listen;
  n.admin = self_.admin;
  n.version = LIBCHAT_VERSION_STRING;
  n.started_at = self_.started_at;
  n.connections = stopped ? 0 : self_.connections();
  n.stopped = stopped;
  return registry_->nodes->Beat(n);
#else
  (void)stopped;
  return Status::Ok();
#endif
}

Result<std::vector<AdminNode>> Heartbeat::List() {
  std::vector<AdminNode> out;
#ifdef CHATD_WITH_POSTGRES
  if (registry_->nodes) {
    LIBCHAT_ASSIGN_OR_RETURN(auto rows, registry_->nodes->List());
    for (const NodeHeartbeat& n : rows) {
      out.push_back(AdminNode{n.node_id, n.listen, n.admin, n.version, n.started_at, n.heartbeat_at, n.age_ms,
                              n.connections, n.stopped});
    }
    return out;
  }
#endif
  const std::int64_t now = NowMs();
  out.push_back(AdminNode{self_.node_id, self_.listen, self_.admin, LIBCHAT_VERSION_STRING, self_.started_at, now, 0,
                          self_.connections(), false});
  return out;
}

}  // namespace chat::chatd
