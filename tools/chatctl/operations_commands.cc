// inbox stats, retention run, stats, nodes, backup, restore
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "libchat/admin_metrics.h"
#include "libchat/registry.h"
#include "output.h"
#include "paging.h"
#include "restore.h"

namespace chat::ctl {
namespace {

std::string Num(const Json& j) { return std::to_string(j.get<std::uint64_t>()); }

Status InboxStats(Invocation& inv) {
  Json r;
  if (inv.Has("user")) {
    LIBCHAT_ASSIGN_OR_RETURN(std::string id, UserIdOf(inv, inv.Get<std::string>("user")));
    LIBCHAT_ASSIGN_OR_RETURN(r, inv.admin().Get("/v1/inbox?user=" + id));
  } else {
    LIBCHAT_ASSIGN_OR_RETURN(r, FetchPages(inv, "/v1/inbox", "devices"));
    if (inv.Has("all")) {
      // The pages' totals were per page: sum them again over everything fetched.
      std::uint64_t total = 0;
      for (const auto& d : r["devices"]) total += d["pending"].get<std::uint64_t>();
      r["totalPending"] = total;
      r.erase("users");
    }
  }
  if (inv.json()) return inv.PrintJson(r);
  Table t({"USER", "USERNAME", "DEVICE", "KIND", "NAME", "PENDING", "CHATS", "LAST SEEN"});
  for (const auto& d : r["devices"]) {
    t.Row({Num(d["userId"]), d["username"], Num(d["deviceId"]), d["kind"], d["name"], Num(d["pending"]),
           Num(d["chats"]), FormatTime(d["lastSeen"])});
  }
  t.Print(inv.out());
  inv.out() << "total pending: " << Num(r["totalPending"]) << '\n';
  PrintMoreHint(inv, r);
  return Status::Ok();
}

Status Nodes(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Get("/v1/nodes"));
  if (inv.json()) return inv.PrintJson(r);
  Table t({"NODE", "STATE", "CONNECTIONS", "LAST HEARTBEAT", "AGO", "LISTEN", "ADMIN", "STARTED", "VERSION"});
  const std::string self = r.value("self", "");
  for (const auto& n : r["nodes"]) {
    const std::string id = n["nodeId"];
    const double age_s = static_cast<double>(n["heartbeatAgeMs"].get<std::int64_t>()) / 1000.0;
    char ago[32];
    std::snprintf(ago, sizeof ago, "%.1f s", age_s);
    t.Row({id == self ? id + " *" : id, n["state"], Num(n["connections"]), FormatTime(n["lastHeartbeat"]), ago,
           n["listen"], n["admin"].get<std::string>().empty() ? "-" : n["admin"].get<std::string>(),
           FormatTime(n["startedAt"]), n["version"]});
  }
  t.Print(inv.out());
  inv.out() << "* the node answering. Per-node metrics: http://LISTEN/metrics (Prometheus text), or chatctl stats "
               "--metrics-url http://LISTEN/metrics\n";
  return Status::Ok();
}

Status Retention(Invocation& inv) {
  const bool dry = inv.Has("dry-run");
  LIBCHAT_ASSIGN_OR_RETURN(
      Json r, inv.admin().Post("/v1/retention/run",
                               {{"dryRun", dry}, {"maxDeletes", inv.Get<std::uint64_t>("max-deletes")}}));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << (dry ? "would delete " : "deleted ") << Num(r["messages"]) << " messages and " << Num(r["cursors"])
            << " cursors of devices not seen for the cursor TTL";
  if (r["more"].get<bool>()) inv.out() << (dry ? "; more would remain after that batch" : "; more remain: run again");
  inv.out() << '\n';
  return Status::Ok();
}

std::string Figure(const std::optional<double>& v, const std::function<std::string(double)>& format) {
  return v ? format(*v) : "n/a";
}

Status Stats(Invocation& inv) {
  const std::string url = inv.Get<std::string>("metrics-url");
  LIBCHAT_ASSIGN_OR_RETURN(std::string text, FetchText(url, inv.Get<int>("timeout")));
  const ServerFigures f = SummarizeMetrics(text);
  if (!f.connections && !f.messages_in && !f.devices_online) {
    return Status::NotFound(url + " serves no chat_ metrics (is it chatd's /metrics?)");
  }
  auto opt = [](const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); };
  if (inv.json()) {
    return inv.PrintJson({{"connections", opt(f.connections)},
                          {"devicesOnline", opt(f.devices_online)},
                          {"messagesIn", opt(f.messages_in)},
                          {"messagesOut", opt(f.messages_out)},
                          {"deliveries", opt(f.deliveries)},
                          {"queueDrops", opt(f.queue_drops)},
                          {"workerRejected", opt(f.worker_rejected)},
                          {"deliveryP99Seconds", opt(f.delivery_p99_seconds)},
                          {"storeP99Seconds", opt(f.store_p99_seconds)},
                          {"rssBytes", opt(f.rss_bytes)}});
  }
  auto count = [](double v) { return std::to_string(static_cast<std::uint64_t>(std::llround(v))); };
  auto ms = [](double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f ms", s * 1000);
    return std::string(b);
  };
  PrintFields(inv.out(), {{"connections", Figure(f.connections, count)},
                          {"devices online", Figure(f.devices_online, count)},
                          {"messages in", Figure(f.messages_in, count)},
                          {"messages out", Figure(f.messages_out, count)},
                          {"deliveries", Figure(f.deliveries, count)},
                          {"queue drops", Figure(f.queue_drops, count)},
                          {"commands rejected", Figure(f.worker_rejected, count)},
                          {"delivery p99", Figure(f.delivery_p99_seconds, ms)},
                          {"store p99", Figure(f.store_p99_seconds, ms)},
                          {"rss", Figure(f.rss_bytes, FormatBytes)}});
  return Status::Ok();
}

Status Backup(Invocation& inv) {
  // The API writes on the server's machine; a relative path means one relative to where chatctl runs,
  // which is the same machine when the admin API is on loopback (the default).
  std::error_code ec;
  const auto dir = std::filesystem::absolute(inv.Get<std::string>("to"), ec).lexically_normal();
  if (ec) throw UsageError("--to: " + ec.message());
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Post("/v1/backup", {{"dir", dir.string()}}));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << "backup of " << r["store"].get<std::string>() << " and "
            << r.value("attachmentFiles", std::uint64_t{0}) << " attachment files written to "
            << r["dir"].get<std::string>() << " in " << r["ms"].get<std::int64_t>() << " ms\n";
  return Status::Ok();
}

Status RunRestore(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(RestoreReport r, Restore(Registry::Default(), inv.Get<std::string>("from"),
                                                    inv.Get<std::string>("store"), inv.Has("force"),
                                                    inv.Has("blobs") ? inv.Get<std::string>("blobs") : ""));
  if (inv.json()) {
    return inv.PrintJson({{"store", r.store},
                          {"from", r.from},
                          {"previous", r.previous.empty() ? Json(nullptr) : Json(r.previous)},
                          {"users", r.users},
                          {"chats", r.chats},
                          {"messages", r.messages},
                          {"blobs", r.blobs.empty() ? Json(nullptr) : Json(r.blobs)},
                          {"attachmentFiles", r.attachment_files},
                          {"previousBlobs", r.previous_blobs.empty() ? Json(nullptr) : Json(r.previous_blobs)}});
  }
  inv.out() << "restored " << r.store << " from " << r.from << " (" << r.users << " users, " << r.chats
            << " chats, " << r.messages << " messages)\n";
  if (!r.previous.empty()) inv.out() << "the store it replaced was kept at " << r.previous << '\n';
  if (!r.blobs.empty()) inv.out() << "restored " << r.attachment_files << " attachment files to " << r.blobs << '\n';
  if (!r.previous_blobs.empty()) inv.out() << "the attachment folder it replaced was kept at " << r.previous_blobs << '\n';
  return Status::Ok();
}

}  // namespace

void AddOperationCommands(std::vector<Command>* commands) {
  commands->push_back(
      {"inbox", "stats", "", 0, "what each device has not acknowledged yet (pending per device)",
       "For each device: the sum over its user's chats of (head - acknowledged). Without --user, a page of users\n"
       "(--after, --limit, --all) with all their devices.",
       [](po::options_description& o) {
         AddPageOptions(o);
         o.add_options()("user", po::value<std::string>()->value_name("USER"), "one user (id or username)");
       },
       InboxStats});
  commands->push_back({"retention", "run", "", 0, "delete what retention no longer keeps (--dry-run: only count it)",
                       "Deletes messages past their chat's retention and the cursors of devices not seen for the\n"
                       "cursor TTL, at most --max-deletes per run. --dry-run counts exactly what a run would delete\n"
                       "now, and deletes nothing.",
                       [](po::options_description& o) {
                         o.add_options()
                             ("dry-run", "count only")
                             ("max-deletes", po::value<std::uint64_t>()->value_name("N")->default_value(10000),
                              "most items one run deletes");
                       },
                       Retention});
  commands->push_back({"stats", "", "", 0, "key figures from chatd's /metrics",
                       "Connections, devices online, messages in and out, deliveries, p99 latencies, queue drops and\n"
                       "memory, read from chatd's Prometheus endpoint (no admin token needed).",
                       [](po::options_description& o) {
                         o.add_options()("metrics-url",
                                         po::value<std::string>()->value_name("URL")->default_value(
                                             "http://127.0.0.1:8080/metrics"),
                                         "chatd's metrics endpoint");
                       },
                       Stats});
  commands->push_back({"nodes", "", "", 0, "every node of the deployment: state, connections, last heartbeat",
                       "Asks the node at --admin-url; with a PostgreSQL store it lists every node that heartbeats into\n"
                       "it (each node writes its row every 5 s, and once more when it stops): up, silent (no heartbeat\n"
                       "for 15 s: killed, hung or cut off from the database) or stopped. With another store, the node\n"
                       "alone. Each node's metrics are at http://LISTEN/metrics.",
                       [](po::options_description&) {}, Nodes});
  commands->push_back({"backup", "", "", 0, "write a consistent snapshot of the store to a new directory, while chatd runs",
                       "DIR must be absent or empty and on chatd's machine (its parent must exist). The backup holds\n"
                       "DIR/store, a LevelDB database of every record as of one moment, DIR/blobs, the attachment\n"
                       "files that snapshot names, and DIR/backup.json; `chatctl restore` puts both back.",
                       [](po::options_description& o) {
                         o.add_options()("to", po::value<std::string>()->value_name("DIR")->required(),
                                         "the new backup directory");
                       },
                       Backup});
  commands->push_back(
      {"restore", "", "", 0, "replace a store with a backup (run it with chatd stopped)",
       "Copies the backup beside the target, opens the copy and reads every record to check it, then renames it\n"
       "into place. Refuses if the target store is in use (chatd running) or holds records, unless --force: the\n"
       "store it replaces is then kept beside it as NAME.before-restore-TIME. The backup is left untouched.\n"
       "Works on the files directly: needs no admin token.",
       [](po::options_description& o) {
         o.add_options()
             ("from", po::value<std::string>()->value_name("DIR")->required(), "a directory written by `chatctl backup`")
             ("store", po::value<std::string>()->value_name("URI")->required(),
              "the store to restore, e.g. leveldb:///var/lib/chatd/data/store")
             ("blobs", po::value<std::string>()->value_name("DIR"),
              "where the backup's attachment files go (default: blobs/ beside the store, as chatd --data-dir has it)")
             ("force", "replace a store that holds records");
       },
       RunRestore});
}

}  // namespace chat::ctl
