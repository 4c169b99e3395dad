// chatd: the chat daemon. A thin main(): the whole configuration is loaded and checked first
// (config.h: flags, CHATD_* environment, --config file; the files, certificate and ports it names),
// then URIs -> Registry -> ChatService -> admin API and Server; then signals (signals.h): SIGTERM,
// SIGINT or SIGQUIT stop it in order, SIGHUP reloads (reload.h), the rest are logged and ignored.
// Every option is documented by --help and in docs/operations.md.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "config.h"
#include "data_dir.h"
#include "heartbeat.h"
#include "libchat/admin.h"
#include "libchat/libchat.h"
#include "libchat/server/server.h"
#include "reload.h"
#include "signals.h"

extern char** environ;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// True if `host` (numeric, as --listen takes it) is a loopback address.
bool IsLoopback(const std::string& host) {
  return host == "::1" || host.rfind("127.", 0) == 0 || host == "localhost";
}

// The web app's folder when --web-root is not given: next to an installed chatd
// (<prefix>/bin/chatd -> <prefix>/share/libchat/web), else the source tree's web/ for a chatd run from
// its build folder. Empty if neither has an index.html.
std::string DefaultWebRoot() {
  std::vector<std::filesystem::path> candidates;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path() / CHATD_WEB_ROOT_FROM_BINDIR);
  candidates.emplace_back(CHATD_WEB_ROOT_SOURCE);
  for (const auto& dir : candidates) {
    if (std::filesystem::is_regular_file(dir / "index.html", ec)) return dir.lexically_normal().string();
  }
  return {};
}

int Usage(const std::string& error) {
  std::cerr << "chatd: " << error << " (see chatd --help)\n";
  return kExitUsage;
}

// Raises the soft limit on open files to the hard one: each connection is a descriptor, and the
// usual soft limit (1024) would cap chatd far below --max-connections. Returns the limit now in force.
rlim_t RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return RLIM_INFINITY;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
  }
  return lim.rlim_cur;
}

std::vector<std::string> Environment() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto config = chat::chatd::LoadConfig(args, Environment());
  if (!config.ok()) return Usage(config.error().message());
  if (config->help) {
    std::cout << "chatd " LIBCHAT_VERSION_STRING " - the libchat chat server\n\n"
                 "Usage: chatd [options]\n\n"
                 "Serves HTTP and WebSocket (protocol v1 at /ws; /healthz, /readyz, /metrics, the web app at /) on\n"
                 "one port and prints 'chatd listening on HOST:PORT' on stdout once it serves. Options come from the\n"
                 "command line, the environment (CHATD_NAME for --name, e.g. CHATD_DATA_DIR) and --config FILE, in\n"
                 "that order of precedence. SIGHUP reloads the TLS certificate, the log level and the admin token;\n"
                 "SIGTERM or SIGINT: stop accepting, close WebSockets with 'going away', finish queued work, close\n"
                 "the store, exit 0. Exit codes: 0 ok, 1 runtime failure, 2 usage error. See docs/operations.md.\n\n"
              << config->help_text << "\n";
    return kExitOk;
  }
  if (config->version) {
    std::cout << "chatd " << LIBCHAT_VERSION_STRING << "\n";
    return kExitOk;
  }
  if (config->print_config) {
    std::cout << chat::chatd::FormatEffective(*config);
    return kExitOk;
  }
  chat::chatd::Settings& s = config->settings;

  // ---- Logging: main()'s own lines honour --log-level like the server's; SIGHUP may change it.
  const chat::LogSink sink = chat::StderrLogSink(s.log_format);
  std::atomic<chat::LogLevel> min_level{s.server.log_level};
  auto log = [&sink, &min_level](chat::LogLevel level, const std::string& line) {
    if (level >= min_level.load()) sink(level, line);
  };
  auto fatal = [&log](const std::string& what) {
    log(chat::LogLevel::kError, what);
    return kExitFailure;
  };
  s.server.log_sink = sink;

  // ---- What the configuration names, before anything is created, opened or bound.
  if (chat::Status ready = chat::chatd::CheckResources(&s, [&log](const std::string& w) { log(chat::LogLevel::kWarning, w); });
      !ready.ok()) {
    return fatal(ready.message());
  }
  if (config->check_config) {
    std::cout << "chatd: configuration OK" << (config->config_file.empty() ? "" : " (" + config->config_file + ")")
              << "\n";
    return kExitOk;
  }

  // Protections turned off start loudly, one line each: a test setting left in production otherwise
  // goes unnoticed.
  if (s.service.password_cost == chat::PasswordCost::kMinimum) {
    log(chat::LogLevel::kWarning, "--password-cost minimum: passwords are hashed at the lowest cost; for tests "
                                  "and load generation only, never with real accounts");
  }
  if (!s.service.login_throttle.enabled) {
    log(chat::LogLevel::kWarning, "--login-throttle off: password guessing is not slowed down");
  }
  if (!s.service.enforce_rate_limits) {
    log(chat::LogLevel::kWarning, "--rate-limits off: no rate limit on sends, chats, uploads, registrations, "
                                  "typing, calls or resumes");
  }
  if (!s.service.spam.enabled) {
    log(chat::LogLevel::kWarning, "--spam off: sends are not scored; spam is neither throttled nor flagged");
  } else if (s.service.spam.reports.new_reporter_ms == 0) {
    log(chat::LogLevel::kWarning, "--spam-new-reporter-days 0: reports by accounts made today count in full; a "
                                  "few new accounts can suspend anyone");
  }
  if (!s.admin_token_file.empty() && !IsLoopback(s.admin.address)) {
    log(chat::LogLevel::kWarning, "--admin-listen " + s.admin_listen + " is not a loopback address: the admin "
                                  "API speaks plain HTTP, so its token and answers (session tokens included) "
                                  "cross the network in clear; keep it on 127.0.0.1 and tunnel to it");
  }

  // What chatd creates is its user's alone, whatever umask it was started with: the store and blob
  // store make theirs private anyway, and so do backups and anything else written later.
  ::umask(077);
  // Descriptors beyond the connections: the store's files, the admin API, logs (a generous margin).
  constexpr std::size_t kSpareFiles = 200;
  const rlim_t files = RaiseFileLimit();
  if (files != RLIM_INFINITY && s.server.max_connections + kSpareFiles > files) {
    log(chat::LogLevel::kWarning, "--max-connections " + std::to_string(s.server.max_connections) +
                                      " is above what the open-file limit allows (" + std::to_string(files) +
                                      " descriptors); connections beyond it will fail at accept. Raise "
                                      "'ulimit -n' (LimitNOFILE= under systemd).");
  }
  // Before any thread starts, so that every thread inherits the mask and the main thread alone
  // receives the signals (signals.h).
  chat::chatd::BlockSignals();

  // ---- Store, bus, blobs ----
  std::string store_uri = s.store_uri;
  std::string blob_uri = s.blob_uri;
  std::string blob_dir;
  if (store_uri.empty() || blob_uri.empty()) {
    std::error_code ec;
    if (chat::Status made = chat::tools::MakePrivateDataDir(s.data_dir); !made.ok()) return fatal(made.message());
    const auto abs = std::filesystem::absolute(s.data_dir, ec).lexically_normal();
    if (ec) return fatal("data dir " + s.data_dir + ": " + ec.message());
    if (store_uri.empty()) store_uri = "leveldb://" + (abs / "store").string();
    if (blob_uri.empty()) {
      blob_dir = (abs / "blobs").string();
      blob_uri = "file://" + blob_dir;
    }
  }
  if (blob_dir.empty() && blob_uri.rfind("file://", 0) == 0) blob_dir = blob_uri.substr(7);

  auto& registry = chat::Registry::Default();
  auto store = registry.MakeStore(store_uri);
  if (!store.ok()) return fatal("cannot open the store: " + store.error().ToString());
  // A bus between nodes names its connection after this node (the NATS server's monitoring shows it).
  std::string bus_uri = s.bus_uri;
  if (bus_uri.rfind("nats://", 0) == 0 && bus_uri.find("name=") == std::string::npos) {
    bus_uri += (bus_uri.find('?') == std::string::npos ? "?name=" : "&name=") + s.node_id;
  }
  auto bus = registry.MakeBus(bus_uri);
  if (!bus.ok()) return fatal("cannot open the bus: " + bus.error().ToString());
  std::shared_ptr<chat::Store> shared_store = std::move(*store);
  std::shared_ptr<chat::Bus> shared_bus = std::move(*bus);
  auto blobs = registry.MakeBlob(blob_uri);
  if (!blobs.ok()) return fatal("cannot open the blob store: " + blobs.error().ToString());
  std::shared_ptr<chat::BlobStore> shared_blobs = std::move(*blobs);
  // The bus URI without credentials (user:password@ before the hosts).
  std::string bus_shown = s.bus_uri;
  if (auto scheme = bus_shown.find("://"); scheme != std::string::npos) {
    const auto end = bus_shown.find_first_of("/?", scheme + 3);
    const auto at = bus_shown.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at != std::string::npos && at > scheme) bus_shown.erase(scheme + 3, at + 1 - (scheme + 3));
  }
  log(chat::LogLevel::kInfo, "node " + s.node_id + ": store " + shared_store->Describe() + ", bus " + bus_shown +
                                 ", blobs " + blob_uri);

  auto service = chat::ChatService::Create(s.service, shared_store, shared_bus, shared_blobs);
  if (!service.ok()) return fatal("service: " + service.error().ToString());

  // ---- Pushes: keys are read now, so a bad file fails the start ----
  if (!s.push.empty()) {
    auto senders = chat::MakePushSenders(registry, s.push);
    if (!senders.ok()) return fatal("push: " + senders.error().ToString());
    s.server.push_senders = std::move(*senders);
    log(chat::LogLevel::kInfo, "push: " + std::to_string(s.server.push_senders.size()) + " sender(s)" +
                                   (s.server.push.previews ? ", previews on" : ""));
  }

  // ---- The web app: an explicit --web-root must load (Start fails otherwise); the default may be
  // missing (a chatd installed without it), which leaves / answering 404. ----
  if (s.web_on) {
    s.server.web_root = s.web_root.empty() ? DefaultWebRoot() : s.web_root;
    if (s.server.web_root.empty()) {
      log(chat::LogLevel::kWarning, "no web app found (looked next to chatd and in the source tree); / answers 404. "
                                    "Give --web-root DIR, or --web off to silence this.");
    } else {
      log(chat::LogLevel::kInfo, "web app from " + s.server.web_root);
    }
  }

  // Not ready while the store cannot serve (a database restarting or unreachable): load balancers
  // send clients elsewhere meanwhile. The store outlives the server (shut down first, below).
  // Ready while the store answers and the bus is connected (a node cut off from the bus would serve
  // its clients without the other nodes' live events).
  s.server.ready_check = [store = shared_store.get(), bus = shared_bus.get()] {
    return store->Availability().ok() && bus->Unready().empty();
  };
  auto created = chat::Server::Create(s.server, **service);
  if (!created.ok()) return Usage(created.error().message());
  std::unique_ptr<chat::Server> srv = std::move(*created);

  // ---- The admin API, on its own loopback listener, bound before the chat port announces itself:
  // a taken admin port fails the start before "listening" is printed. ----
  // The node list (GET /v1/nodes): the heartbeat, once it is started below, after the ports are known.
  // Declared before the admin server, which reads it, so that it outlives it.
  std::unique_ptr<chat::chatd::Heartbeat> heartbeat;
  std::atomic<chat::chatd::Heartbeat*> heartbeat_ptr{nullptr};
  std::unique_ptr<chat::AdminServer> admin_server;
  chat::AdminEndpoint admin_endpoint;
  if (!s.admin_token_file.empty()) {
    chat::AdminOptions admin_options = s.admin;
    admin_options.blob_dir = blob_dir;
    admin_options.node_id = s.node_id;
    admin_options.list_nodes = [&heartbeat_ptr]() -> chat::Result<std::vector<chat::AdminNode>> {
      chat::chatd::Heartbeat* hb = heartbeat_ptr.load();
      if (hb == nullptr) return chat::Status::Unavailable("chatd is starting");
      return hb->List();
    };
    // Audit lines go through the log: stamped, levelled, and in --log-format.
    admin_options.audit_log = [&log](const std::string& line) { log(chat::LogLevel::kInfo, line); };
    chat::Server* metrics_source = srv.get();
    auto made = chat::AdminServer::Create(admin_options, **service, [metrics_source] { return metrics_source->MetricsText(); });
    if (!made.ok()) return fatal("admin API: " + made.error().message());
    admin_server = std::move(*made);
    auto bound = admin_server->Start();
    if (!bound.ok()) return fatal("admin listen " + s.admin_listen + ": " + bound.error().ToString());
    admin_endpoint = *bound;
  }

  // ---- Serve ----
  auto endpoint = srv->Start();
  if (!endpoint.ok()) {
    if (admin_server) admin_server->Stop();
    return fatal("listen " + s.server.address + ":" + std::to_string(s.server.port) + ": " + endpoint.error().ToString());
  }
  // Scripts and tests read the bound ports from these lines.
  std::printf("chatd listening on %s:%u\n", endpoint->address.c_str(), static_cast<unsigned>(endpoint->port));
  if (admin_server) {
    std::printf("chatd admin API on %s:%u\n", admin_endpoint.address.c_str(), static_cast<unsigned>(admin_endpoint.port));
  }
  std::fflush(stdout);

  // ---- Heartbeat: this node's row in the store's node registry (chatctl nodes) ----
  {
    chat::chatd::Heartbeat::Self self;
    self.node_id = s.node_id;
    self.listen = endpoint->address + ":" + std::to_string(endpoint->port);
    if (admin_server) self.admin = admin_endpoint.address + ":" + std::to_string(admin_endpoint.port);
    self.started_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    // The clients: open WebSocket sessions (chat_websockets; chat_connections counts HTTP too).
    self.connections = [server = srv.get()]() -> std::uint64_t {
      const std::string text = server->MetricsText();
      const std::size_t at = text.find("\nchat_websockets ");
      if (at == std::string::npos) return 0;
      return std::strtoull(text.c_str() + at + 17, nullptr, 10);
    };
    auto started = chat::chatd::Heartbeat::Start(store_uri, std::move(self), std::chrono::seconds(5),
                                                 [&log](const std::string& line) { log(chat::LogLevel::kWarning, line); });
    if (!started.ok()) {
      log(chat::LogLevel::kWarning, "node heartbeat not started (chatctl nodes will not list this node): " +
                                        started.error().ToString());
    } else {
      heartbeat = std::move(*started);
      heartbeat_ptr.store(heartbeat.get());
    }
  }

  // ---- Retention: what retention no longer keeps is deleted without anyone asking ----
  std::unique_ptr<chat::RetentionScheduler> retention;
  if (s.retention_interval_s != 0) {
    chat::RetentionSchedule schedule;
    schedule.interval = std::chrono::seconds(s.retention_interval_s);
    schedule.on_round = [&log](const chat::Result<chat::RetentionReport>& round) {
      if (!round.ok()) {
        log(chat::LogLevel::kWarning, "retention sweep failed (retried next round): " + round.error().ToString());
        return;
      }
      log(chat::LogLevel::kInfo, "retention: deleted " + std::to_string(round->messages_deleted) + " messages, " +
                                     std::to_string(round->cursors_deleted) + " idle cursors, " +
                                     std::to_string(round->attachments_deleted) + " attachments");
    };
    auto started = chat::RetentionScheduler::Start(**service, schedule);
    if (!started.ok()) return fatal("retention: " + started.error().message());
    retention = std::move(*started);
  }

  // ---- Signals: stop, reload, or log and carry on ----
  chat::chatd::Reloader reloader(args, std::move(*config), *srv, admin_server.get(), min_level, log);
  for (;;) {
    const int sig = chat::chatd::WaitForSignal();
    const chat::chatd::SignalAction action = chat::chatd::ActionOf(sig);
    if (action == chat::chatd::SignalAction::kStop) {
      log(chat::LogLevel::kInfo, "received " + chat::chatd::SignalName(sig) + "; stopping");
      break;
    }
    if (action == chat::chatd::SignalAction::kReload) {
      reloader.OnHangup(Environment());
      continue;
    }
    log(chat::LogLevel::kWarning, "received " + chat::chatd::SignalName(sig) +
                                      "; ignored (SIGHUP reloads, SIGTERM stops; docs/operations.md, Signals)");
  }

  // ---- Shut down in order: connections, network threads, workers; then the service and the store
  // (LevelDB flushes and releases its lock when the last reference goes). ----
  retention.reset();
  if (admin_server) admin_server->Stop();
  admin_server.reset();
  heartbeat_ptr.store(nullptr);
  srv->Stop();
  // The node's last row says it stopped (before the server goes: the heartbeat counts its connections).
  heartbeat.reset();
  srv.reset();
  service->reset();
  shared_bus.reset();
  shared_blobs.reset();
  shared_store.reset();
  log(chat::LogLevel::kInfo, "stopped");
  return kExitOk;
}
