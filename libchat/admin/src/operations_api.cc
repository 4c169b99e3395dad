// Operations: retention (with a dry run), backup, store and server figures, the raw /metrics text.
#include <chrono>
#include <filesystem>
#include <fstream>

#include "api.h"
#include "blob_backup.h"
#include "libchat/admin_metrics.h"
#include "libchat/version.h"

namespace chat::admin {
namespace {

Json Figure(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

Json FiguresJson(const ServerFigures& f) {
  return {{"connections", Figure(f.connections)},
          {"devicesOnline", Figure(f.devices_online)},
          {"messagesIn", Figure(f.messages_in)},
          {"messagesOut", Figure(f.messages_out)},
          {"deliveries", Figure(f.deliveries)},
          {"queueDrops", Figure(f.queue_drops)},
          {"workerRejected", Figure(f.worker_rejected)},
          {"deliveryP99Seconds", Figure(f.delivery_p99_seconds)},
          {"storeP99Seconds", Figure(f.store_p99_seconds)},
          {"rssBytes", Figure(f.rss_bytes)}};
}

}  // namespace

void AddOperationRoutes(Context& ctx, Routes* routes) {

  // {"dryRun": bool, "maxDeletes": N}. A dry run counts what a run would delete now, from the same
  // time-ordered indexes the sweep reads, and deletes nothing.
  routes->push_back({"POST", "/v1/retention/run", [&service = ctx.service](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    const bool dry_run = b.Bool("dryRun", false);
    const auto max_deletes = b.OptionalUInt("maxDeletes").value_or(10'000);
    b.Finish();
    if (max_deletes < 1 || max_deletes > 10'000'000) throw Malformed("'maxDeletes' must be from 1 to 10000000");
    const RetentionReport report =
        Must(dry_run ? service.PreviewRetention(max_deletes) : service.RunRetention(max_deletes));
    Reply r;
    r.body = {{"dryRun", dry_run},
              {"messages", report.messages_deleted},
              {"cursors", report.cursors_deleted},
              {"more", report.more}};
    return r;
  }});

  // {"dir": "/absolute/path"}: a consistent copy of the store as of one moment, taken while chatd
  // serves (LevelDB: every entry of one snapshot, into a new database, DIR/store), then the
  // attachment bytes (DIR/blobs, when AdminOptions::blob_dir is set) and a manifest
  // (DIR/backup.json). The bytes are copied after the snapshot: every attachment the snapshot names
  // as complete has its bytes in the copy (a blob is never changed, only removed once no message
  // references it: one collected meanwhile is left out, as retention would after a restore), and
  // `chatctl restore` takes back only the bytes the snapshot names. The directory is on the
  // server's machine; it must be absent or empty, and its parent must exist.
  routes->push_back({"POST", "/v1/backup", [&service = ctx.service, &ctx](const httplib::Request& req) {
    namespace fs = std::filesystem;
    Query q(req, {});
    Body b(req);
    const std::string dir = b.RequiredString("dir");
    b.Finish();
    const fs::path path(dir);
    if (dir.empty() || !path.is_absolute() || dir.find('\0') != std::string::npos) {
      throw Malformed("'dir' must be an absolute path on the server's machine");
    }
    std::error_code ec;
    const fs::path parent = path.lexically_normal().parent_path();
    if (!fs::is_directory(parent, ec)) {
      Throw(Status::InvalidArgument("the parent directory " + parent.string() + " of the backup does not exist"));
    }
    if (fs::exists(path, ec) && !(fs::is_directory(path, ec) && fs::is_empty(path, ec))) {
      Throw(Status::AlreadyExists("backup target " + dir + " exists and is not empty"));
    }
    const auto start = std::chrono::steady_clock::now();
    fs::create_directory(path, ec);
    if (ec) Throw(Status::Unavailable("mkdir " + dir + ": " + ec.message()));
    fs::permissions(path, fs::perms::owner_all, ec);
    Must(service.store().Backup((path / "store").string()));
    std::uint64_t files = 0;
    if (!ctx.options.blob_dir.empty()) files = Must(CopyBlobFolder(ctx.options.blob_dir, path / "blobs"));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    const Json manifest = {{"format", "libchat-backup"},
                           {"version", 1},
                           {"libchat", LIBCHAT_VERSION_STRING},
                           {"store", service.store().Describe()},
                           {"createdAt", std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()},
                           {"attachmentFiles", files},
                           {"blobs", !ctx.options.blob_dir.empty()}};
    {
      std::ofstream out(path / "backup.json");
      out << manifest.dump(2) << '\n';
      if (!out.flush()) Throw(Status::Unavailable("cannot write " + (path / "backup.json").string()));
    }
    fs::permissions(path / "backup.json", fs::perms::owner_read | fs::perms::owner_write, ec);
    ctx.audit("admin: backup of " + service.store().Describe() + " and " + std::to_string(files) +
              " attachment files written to " + detail::LogEscape(dir, 512) + " by " + req.remote_addr);
    Reply r;
    r.body = {{"dir", dir}, {"store", service.store().Describe()}, {"attachmentFiles", files}, {"ms", ms.count()}};
    return r;
  }});

  routes->push_back({"GET", "/v1/stats", [&service = ctx.service, &ctx](const httplib::Request& req) {
    Query q(req, {});
    const StoreStats s = service.store().Stats();
    Reply r;
    r.body["store"] = {{"describe", service.store().Describe()},
                       {"users", s.users},
                       {"chats", s.chats},
                       {"appends", s.appends},
                       {"commitGroups", s.commit_groups}};
    r.body["server"] = ctx.metrics_text ? FiguresJson(SummarizeMetrics(ctx.metrics_text())) : Json(nullptr);
    return r;
  }});

  routes->push_back({"GET", "/v1/nodes", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    if (!ctx.options.list_nodes) Throw(Status::NotSupported("this admin API was started without a node list"));
    const std::vector<AdminNode> nodes = Must(ctx.options.list_nodes());
    Reply r;
    r.body["self"] = ctx.options.node_id;
    Json list = Json::array();
    for (const AdminNode& n : nodes) {
      const char* state = n.stopped ? "stopped" : n.age_ms > ctx.options.node_silent_after.count() ? "silent" : "up";
      list.push_back({{"nodeId", n.node_id},
                      {"state", state},
                      {"listen", n.listen},
                      {"admin", n.admin},
                      {"metrics", n.listen.empty() ? Json(nullptr) : Json("http://" + n.listen + "/metrics")},
                      {"version", n.version},
                      {"connections", n.connections},
                      {"startedAt", n.started_at},
                      {"lastHeartbeat", n.heartbeat_at},
                      {"heartbeatAgeMs", n.age_ms}});
    }
    r.body["nodes"] = list;
    return r;
  }});

  routes->push_back({"GET", "/v1/metrics", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    if (!ctx.metrics_text) Throw(Status::NotSupported("this admin API was started without a metrics source"));
    Reply r;
    r.text = ctx.metrics_text();
    r.content_type = "text/plain; version=0.0.4";
    return r;
  }});
}

}  // namespace chat::admin
