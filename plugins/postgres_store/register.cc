// The postgres:// scheme: URI to libpq connection string, opening the store, and its schema tool.
#include <cstdlib>

#include "libchat/plugins/postgres_store.h"
#include "pg_conn.h"
#include "pg_schema.h"
#include "pg_store.h"

namespace chat {
namespace pg {
// pg_blobs.cc
Result<std::unique_ptr<BlobStore>> OpenPostgresBlobStore(const std::string& conninfo, std::size_t pool_size,
                                                          bool create, const std::string& description);
}  // namespace pg
namespace {

// A value for a libpq keyword=value connection string: quoted, with quotes and backslashes escaped.
std::string Quoted(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

Result<std::size_t> SizeOption(const Uri& uri, const std::string& key, std::size_t fallback, std::size_t lo,
                               std::size_t hi) {
  const std::string v = uri.Get(key);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n < lo || n > hi) {
    return Status::InvalidArgument(key + "=" + v + ": expected a whole number from " + std::to_string(lo) + " to " +
                                   std::to_string(hi));
  }
  return static_cast<std::size_t>(n);
}

// "postgres://USER@HOST:PORT/DB" without the password or query: what logs and errors show.
std::string Describe(const Uri& uri) {
  std::string host = uri.host;
  if (std::size_t at = host.rfind('@'); at != std::string::npos) {
    if (std::size_t colon = host.find(':'); colon < at) host.erase(colon, at - colon);
  }
  return "postgres://" + host + uri.path;
}

Result<SchemaTool> MakeTool(const std::string& conninfo) {
  SchemaTool tool;
  tool.steps = PostgresSchemaSteps();
  tool.latest = kPostgresSchemaVersion;
  tool.status = [conninfo](int target) { return PostgresSchemaStatus(conninfo, target); };
  tool.migrate = [conninfo](int target, const std::function<void(const MigrationStep&)>& on_step) {
    return PostgresMigrate(conninfo, target, on_step);
  };
  return tool;
}

}  // namespace

Result<std::string> PostgresConninfo(const Uri& uri, PostgresStoreOptions* options) {
  Uri u = uri;
  LIBCHAT_ASSIGN_OR_RETURN(options->pool_size, SizeOption(u, "pool", options->pool_size, 1, 1024));
  LIBCHAT_ASSIGN_OR_RETURN(options->max_batch, SizeOption(u, "batch", options->max_batch, 1, 100000));
  LIBCHAT_ASSIGN_OR_RETURN(options->committers, SizeOption(u, "committers", options->committers, 0, 1024));
  LIBCHAT_ASSIGN_OR_RETURN(std::size_t create, SizeOption(u, "create", 1, 0, 1));
  options->create = create == 1;
  LIBCHAT_ASSIGN_OR_RETURN(std::size_t erase, SizeOption(u, "erase_delay_ms", static_cast<std::size_t>(options->erase_delay_ms),
                                                         0, 7 * 24 * 3600 * 1000ull));
  options->erase_delay_ms = static_cast<TimeMs>(erase);
  LIBCHAT_ASSIGN_OR_RETURN(options->drop_partition_rows,
                           SizeOption(u, "drop_rows", options->drop_partition_rows, 1, 1ull << 40));
  for (const char* own : {"pool", "batch", "committers", "create", "erase_delay_ms", "drop_rows"}) u.query.erase(own);

  // postgres://[user[:password]@]host[:port][,host2[:port2]...][/db]: keyword=value pairs, so that
  // nothing the URI decoded ('@', '/', '%') has to be escaped again.
  std::string conninfo;
  auto add = [&](const std::string& key, std::string_view value) {
    if (value.empty()) return;
    conninfo += (conninfo.empty() ? "" : " ") + key + "=" + Quoted(value);
  };
  std::string hostlist = u.host;
  if (std::size_t at = hostlist.rfind('@'); at != std::string::npos) {
    const std::string userinfo = hostlist.substr(0, at);
    hostlist = hostlist.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    add("user", userinfo.substr(0, colon));
    if (colon != std::string::npos) add("password", userinfo.substr(colon + 1));
  }
  std::string hosts, ports;
  bool any_port = false;
  std::size_t start = 0;
  while (!hostlist.empty() && start <= hostlist.size()) {
    const std::size_t comma = std::min(hostlist.find(',', start), hostlist.size());
    std::string one = hostlist.substr(start, comma - start);
    std::string port;
    // [v6]:port, host:port, or host alone.
    if (!one.empty() && one[0] == '[') {
      const std::size_t close = one.find(']');
      if (close == std::string::npos) return Status::InvalidArgument(uri.ToString() + ": unterminated [ in host");
      if (close + 1 < one.size() && one[close + 1] == ':') port = one.substr(close + 2);
      one = one.substr(1, close - 1);
    } else if (std::size_t colon = one.rfind(':'); colon != std::string::npos) {
      port = one.substr(colon + 1);
      one = one.substr(0, colon);
    }
    if (start != 0) {
      hosts += ",";
      ports += ",";
    }
    hosts += one;
    ports += port;
    any_port = any_port || !port.empty();
    start = comma + 1;
  }
  add("host", hosts);
  if (any_port) add("port", ports);
  if (uri.path.size() > 1) add("dbname", uri.path.substr(1));
  for (const auto& [k, v] : u.query) add(k, v);
  // A dead host must not hold a connection attempt for long: the store answers Unavailable instead.
  if (u.query.count("connect_timeout") == 0) add("connect_timeout", "5");
  if (u.query.count("application_name") == 0) add("application_name", "chatd");
  return conninfo;
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo, PostgresStoreOptions options) {
  auto store = std::make_unique<pg::PgStore>(conninfo, "postgres (" + std::to_string(options.pool_size) + " connections)",
                                             std::move(options));
  LIBCHAT_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

std::vector<MigrationStep> PostgresSchemaSteps() {
  std::vector<MigrationStep> out;
  for (const auto& s : pg::SchemaSteps()) out.push_back({s.to - 1, s.to, s.description});
  return out;
}

Result<SchemaStatus> PostgresSchemaStatus(const std::string& conninfo, int target) {
  LIBCHAT_ASSIGN_OR_RETURN(auto conn, pg::Conn::Open(conninfo));
  SchemaStatus s;
  LIBCHAT_ASSIGN_OR_RETURN(s.current, pg::CurrentVersion(*conn));
  s.target = target;
  if (s.current > pg::LatestVersion()) return s;
  const auto steps = PostgresSchemaSteps();
  if (target > s.current) {
    for (int v = s.current; v < target && v < static_cast<int>(steps.size()); ++v) s.pending.push_back(steps[v]);
  } else {
    for (int v = s.current; v > target; --v) {
      const auto& st = steps[static_cast<std::size_t>(v - 1)];
      s.pending.push_back({st.to, st.from, st.description});
    }
  }
  return s;
}

Result<MigrateReport> PostgresMigrate(const std::string& conninfo, int target,
                                      const std::function<void(const MigrationStep&)>& on_step) {
  LIBCHAT_ASSIGN_OR_RETURN(auto conn, pg::Conn::Open(conninfo));
  return pg::Migrate(*conn, target, on_step);
}

void RegisterPostgresStore(Registry& registry) {
  for (const char* scheme : {"postgres", "postgresql"}) {
    registry.RegisterStore(scheme, [](const Uri& uri) -> Result<std::unique_ptr<Store>> {
      PostgresStoreOptions options;
      LIBCHAT_ASSIGN_OR_RETURN(std::string conninfo, PostgresConninfo(uri, &options));
      auto store = std::make_unique<pg::PgStore>(conninfo, Describe(uri), std::move(options));
      LIBCHAT_RETURN_IF_ERROR(store->Open());
      return std::unique_ptr<Store>(std::move(store));
    });
    registry.RegisterBlob(scheme, [](const Uri& uri) -> Result<std::unique_ptr<BlobStore>> {
      // A handful of connections: a transfer holds one per chunk (256 KiB), not for its whole length.
      PostgresStoreOptions options;
      options.pool_size = 4;
      LIBCHAT_ASSIGN_OR_RETURN(std::string conninfo, PostgresConninfo(uri, &options));
      return pg::OpenPostgresBlobStore(conninfo, options.pool_size, options.create, "blobs " + Describe(uri));
    });
    registry.RegisterSchemaTool(scheme, [](const Uri& uri) -> Result<SchemaTool> {
      PostgresStoreOptions options;
      LIBCHAT_ASSIGN_OR_RETURN(std::string conninfo, PostgresConninfo(uri, &options));
      return MakeTool(conninfo);
    });
  }
}

}  // namespace chat
