// NodeRegistry: the nodes' heartbeats in table `nodes` (schema version 3, pg_blobs.cc). Each chatd
// node on a PostgreSQL store upserts its row every few seconds (chatd: every 5 s, and once with
// stopped = true when it shuts down); `chatctl nodes` (GET /v1/nodes on any node) lists the rows with
// their age by the database's clock, so that the nodes' own clocks never matter.
#include "libchat/plugins/postgres_store.h"
#include "pg_pool.h"
#include "pg_schema.h"

namespace chat {
namespace {

using pg::Params;
using pg::Pool;
using pg::Rows;

constexpr const char* kNow = "(extract(epoch FROM clock_timestamp()) * 1000)::int8";

class PgNodeRegistry final : public NodeRegistry {
 public:
  explicit PgNodeRegistry(const std::string& conninfo) : pool_(conninfo, 1, [](std::string_view) {}) {}

  Status Open(const std::string& description) {
    LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
    return pg::EnsureSchema(*lease, /*create=*/true, description);
  }

  Status Beat(const NodeHeartbeat& n) override {
    return Exec(std::string("INSERT INTO nodes (node_id, listen, admin, version, started_at, heartbeat_at, connections, "
                            "stopped) VALUES ($1, $2, $3, $4, $5, ") +
                    kNow + ", $6, $7) ON CONFLICT (node_id) DO UPDATE SET listen = EXCLUDED.listen, "
                           "admin = EXCLUDED.admin, version = EXCLUDED.version, started_at = EXCLUDED.started_at, "
                           "heartbeat_at = EXCLUDED.heartbeat_at, connections = EXCLUDED.connections, "
                           "stopped = EXCLUDED.stopped",
                Params()
                    .Text(n.node_id)
                    .Text(n.listen)
                    .Text(n.admin)
                    .Text(n.version)
                    .Int(n.started_at)
                    .Uint(n.connections)
                    .Bool(n.stopped))
        .status();
  }

  Result<std::vector<NodeHeartbeat>> List() override {
    LIBCHAT_ASSIGN_OR_RETURN(
        Rows rows, Exec(std::string("SELECT node_id, listen, admin, version, started_at, heartbeat_at, connections, "
                                    "stopped, ") +
                            kNow + " - heartbeat_at FROM nodes ORDER BY node_id",
                        Params()));
    std::vector<NodeHeartbeat> out;
    for (int r = 0; r < rows.size(); ++r) {
      NodeHeartbeat n;
      n.node_id = rows.Str(r, 0);
      n.listen = rows.Str(r, 1);
      n.admin = rows.Str(r, 2);
      n.version = rows.Str(r, 3);
      n.started_at = rows.Int(r, 4);
      n.heartbeat_at = rows.Int(r, 5);
      n.connections = rows.Uint(r, 6);
      n.stopped = rows.Bool(r, 7);
      n.age_ms = std::max<std::int64_t>(0, rows.Int(r, 8));
      out.push_back(std::move(n));
    }
    return out;
  }

  Result<std::uint64_t> Forget(TimeMs age_ms) override {
    LIBCHAT_ASSIGN_OR_RETURN(
        Rows rows, Exec(std::string("DELETE FROM nodes WHERE heartbeat_at < ") + kNow + " - $1", Params().Int(age_ms)));
    return rows.affected();
  }

 private:
  Result<Rows> Exec(const std::string& sql, const Params& params) {
    LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
    Result<Rows> rows = lease->Exec(sql, params);
    pool_.Observe(rows.status(), *lease);
    return rows;
  }

  Pool pool_;
};

}  // namespace

Result<std::unique_ptr<NodeRegistry>> OpenNodeRegistry(const std::string& postgres_uri) {
  auto uri = Uri::Parse(postgres_uri);
  if (!uri.ok()) return uri.error();
  PostgresStoreOptions options;
  LIBCHAT_ASSIGN_OR_RETURN(std::string conninfo, PostgresConninfo(*uri, &options));
  auto registry = std::make_unique<PgNodeRegistry>(conninfo);
  LIBCHAT_RETURN_IF_ERROR(registry->Open("node registry"));
  return std::unique_ptr<NodeRegistry>(std::move(registry));
}

}  // namespace chat
