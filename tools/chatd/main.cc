// chatd: the chat daemon. A thin main(): flags and config file -> URIs -> Registry -> ChatService ->
// Server, then wait for SIGTERM/SIGINT and shut down in order. Every option is documented by --help
// and in docs/operations.md.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "data_dir.h"
#include "libchat/libchat.h"
#include "libchat/admin.h"
#include "libchat/server/server.h"

namespace po = boost::program_options;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr unsigned kHelpWidth = 100;

struct Config {
  std::string listen;
  std::string data_dir;
  std::string store;
  std::string bus;
  std::string blob_store;
  std::uint64_t max_audio_bytes = 0;
  std::uint64_t max_image_bytes = 0;
  std::uint64_t max_video_bytes = 0;
  std::uint64_t max_document_bytes = 0;
  std::uint64_t attachment_bytes_per_day = 0;
  std::size_t max_attachments = 0;
  unsigned attachment_orphan_minutes = 0;
  std::string password_cost;
  std::string rate_limits;
  std::string login_throttle;
  std::string spam;
  unsigned spam_new_reporter_days = 0;
  std::string log_level;
  std::string data_permissions;
  unsigned max_devices = 0;
  std::size_t max_body_bytes = 0;
  unsigned retention_days = 0;
  unsigned retention_interval_s = 0;
  unsigned idle_timeout_ms = 0;
  unsigned handshake_timeout_ms = 0;
  unsigned write_timeout_ms = 0;
  unsigned shutdown_grace_ms = 0;
  unsigned receipt_interval_ms = 0;
  std::string admin_listen;
  std::string admin_token_file;
  std::vector<std::string> push;
  bool push_previews = false;
  double call_ring_timeout_s = 0;
  std::vector<std::string> stun_urls;
  std::vector<std::string> turn_urls;
  std::string turn_secret_file;
  unsigned turn_ttl_s = 0;
  std::string web;
  std::string web_root;
};

// True if `host` (numeric, as --listen takes it) is a loopback address.
bool IsLoopback(const std::string& host) {
  return host == "::1" || host.rfind("127.", 0) == 0 || host == "localhost";
}

// "HOST:PORT" or "[V6]:PORT" -> address and port. False if malformed.
bool ParseListen(const std::string& text, std::string* host, std::uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  unsigned long p = 0;
  try {
    std::size_t used = 0;
    p = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || p > 65535) return false;
  } catch (const std::exception&) {
    return false;
  }
  *host = h;
  *port = static_cast<std::uint16_t>(p);
  return true;
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

}  // namespace

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

int main(int argc, char** argv) {
  chat::ServerOptions server;
  Config cfg;
  std::string config_file;

  po::options_description general("General", kHelpWidth, kHelpWidth / 2);
  general.add_options()
      ("help,h", "Print this help and exit.")
      ("version", "Print the version and exit.")
      ("config", po::value<std::string>(&config_file),
       "Read options from FILE (INI style: one 'name = value' per line, names as the long flags without "
       "'--'; '#' starts a comment). Flags on the command line win over the file.");

  po::options_description storage("Storage and routing", kHelpWidth, kHelpWidth / 2);
  storage.add_options()
      ("data-dir", po::value<std::string>(&cfg.data_dir)->default_value("./data"),
       "Folder for chatd's data; created if missing. The embedded LevelDB store lives in DIR/store.")
      ("store", po::value<std::string>(&cfg.store)->default_value(""),
       "Store URI, overriding the default leveldb://<absolute data-dir>/store. E.g. mem:// (nothing kept), "
       "leveldb:///var/lib/chatd/store?sync=1&cache_mb=64.")
      ("bus", po::value<std::string>(&cfg.bus)->default_value("inproc://"),
       "Bus URI carrying live events to sessions. inproc:// for a single node.")
      ("blob-store", po::value<std::string>(&cfg.blob_store)->default_value(""),
       "Blob store URI for attachment bytes, overriding the default file://<absolute data-dir>/blobs. "
       "mem:// keeps them in memory (tests only).")
      ("data-permissions", po::value<std::string>(&cfg.data_permissions)->default_value("strict"),
       "strict|warn: at start, the data dir, its store/ (folders and files) and the folders of its blobs/ "
       "must grant nothing to group or others. strict refuses to start otherwise (fix: chmod -R go-rwx "
       "DIR); warn only logs a warning per path. What chatd creates is 0700/0600 either way.");

  po::options_description network("Network", kHelpWidth, kHelpWidth / 2);
  network.add_options()
      ("listen", po::value<std::string>(&cfg.listen)->default_value("127.0.0.1:8080"),
       "HOST:PORT to serve HTTP and WebSocket (/ws) on. Port 0 picks a free port. Use 0.0.0.0:PORT to serve "
       "other machines (put TLS in front).")
      ("tls-cert", po::value<std::string>(&server.tls.cert_file)->default_value(""),
       "PEM certificate chain: serve https:// and wss:// (TLS only) on the --listen port. Needs --tls-key. "
       "Default: plain HTTP and ws:// (loopback and development; docs/security.md).")
      ("tls-key", po::value<std::string>(&server.tls.key_file)->default_value(""),
       "PEM private key of --tls-cert.")
      ("io-threads", po::value<unsigned>(&server.io_threads)->default_value(0),
       "Network threads; 0 means one per CPU core.")
      ("workers", po::value<unsigned>(&server.workers)->default_value(server.workers),
       "Threads running store work (LevelDB calls never run on network threads).")
      ("hash-workers", po::value<unsigned>(&server.hash_workers)->default_value(server.hash_workers),
       "Threads running the commands that hash a password (register, login, changePassword, removeDevice "
       "with a password): at most this many Argon2id hashes (64 MiB each) at once, apart from --workers.")
      ("worker-queue", po::value<std::size_t>(&server.worker_queue)->default_value(server.worker_queue),
       "Commands that may wait for a worker; beyond it commands fail with resource_exhausted.")
      ("max-connections", po::value<std::size_t>(&server.max_connections)->default_value(server.max_connections),
       "Open connections beyond which new ones are refused.")
      ("max-connections-per-address",
       po::value<std::size_t>(&server.max_connections_per_address)->default_value(server.max_connections_per_address),
       "Open connections from one source IP address beyond which its new ones are refused. 0: no limit "
       "(behind a reverse proxy, where every connection comes from the proxy, and for load generators).")
      ("max-frame-bytes", po::value<std::size_t>(&server.max_frame_bytes)->default_value(server.max_frame_bytes),
       "Largest request frame; larger ones get frame_too_large, above 4x the connection is closed (1009).")
      ("send-queue-messages",
       po::value<std::size_t>(&server.send_queue_messages)->default_value(server.send_queue_messages),
       "Frames queued for one connection before it is closed as a slow consumer (1008).")
      ("send-queue-bytes", po::value<std::size_t>(&server.send_queue_bytes)->default_value(server.send_queue_bytes),
       "Bytes queued for one connection before it is closed as a slow consumer (1008).")
      ("max-response-bytes",
       po::value<std::size_t>(&server.max_response_bytes)->default_value(server.max_response_bytes),
       "Size at which sync/history responses are cut short (hasMore); at most send-queue-bytes.")
      ("idle-timeout-ms", po::value<unsigned>(&cfg.idle_timeout_ms)->default_value(60000),
       "Close a WebSocket that sends nothing (not even a pong) for this long; pinged at half of it.")
      ("handshake-timeout-ms", po::value<unsigned>(&cfg.handshake_timeout_ms)->default_value(10000),
       "Time for an HTTP request, the WebSocket upgrade, and the close handshake.")
      ("write-timeout-ms", po::value<unsigned>(&cfg.write_timeout_ms)->default_value(30000),
       "Drop a connection whose single frame write takes longer (the peer stopped reading).")
      ("receipt-interval-ms", po::value<unsigned>(&cfg.receipt_interval_ms)->default_value(50),
       "Window over which receipts of one chat are coalesced into one receipt event.")
      ("shutdown-grace-ms", po::value<unsigned>(&cfg.shutdown_grace_ms)->default_value(3000),
       "On SIGTERM/SIGINT, time given to clients to answer the 'going away' close.")
      ("web", po::value<std::string>(&cfg.web)->default_value("on"),
       "on|off: serve the web app at / (GET and HEAD; the folder is read once, at start).")
      ("web-root", po::value<std::string>(&cfg.web_root)->default_value(""),
       "Folder of the web app to serve at / (must hold index.html). Default: the one installed with chatd "
       "(<prefix>/share/libchat/web), or the source tree's web/ for a chatd run from its build folder.");

  po::options_description policy("Accounts and messages", kHelpWidth, kHelpWidth / 2);
  policy.add_options()
      ("rate-limits", po::value<std::string>(&cfg.rate_limits)->default_value("on"),
       "on|off: per-device and per-user token buckets on sends, chat creation, participant additions "
       "and uploads (docs/security.md). off is for load generators.")
      ("spam", po::value<std::string>(&cfg.spam)->default_value("on"),
       "on|off: spam scoring of sends (throttle, flag, suspend; docs/security.md). off is for load "
       "generators, whose traffic looks like spam (the same text to many chats).")
      ("spam-new-reporter-days", po::value<unsigned>(&cfg.spam_new_reporter_days)->default_value(7),
       "Spam reports by accounts younger than this many days weigh a quarter, and at most 4 points together "
       "about one sender, so that accounts made for the purpose cannot silence anyone. 0: every report counts "
       "in full (e.g. on a brand-new server where every account is new).")
      ("login-throttle", po::value<std::string>(&cfg.login_throttle)->default_value("on"),
       "on|off: exponential backoff of logins after 5 failures, per account and per source address.")
      ("password-cost", po::value<std::string>(&cfg.password_cost)->default_value("interactive"),
       "Argon2id cost: interactive (recommended), moderate (slower, stronger), minimum (tests and load "
       "generation only).")
      ("max-devices", po::value<unsigned>(&cfg.max_devices)->default_value(5),
       "Devices one user may have; a login beyond it is refused with failed_precondition.")
      ("max-body-bytes", po::value<std::size_t>(&cfg.max_body_bytes)->default_value(64 * 1024),
       "Largest message body in bytes (UTF-8).")
      ("retention-days", po::value<unsigned>(&cfg.retention_days)->default_value(30),
       "Retention of new chats: messages older than this are deleted.")
      ("retention-interval-s", po::value<unsigned>(&cfg.retention_interval_s)->default_value(600),
       "Seconds between retention sweeps (expired messages, idle cursors, orphaned attachments, in "
       "batches of 10000). 0: no sweeps (run them through the admin API).")
      ("max-audio-bytes", po::value<std::uint64_t>(&cfg.max_audio_bytes)->default_value(16ULL << 20),
       "Largest audio attachment, in bytes.")
      ("max-image-bytes", po::value<std::uint64_t>(&cfg.max_image_bytes)->default_value(16ULL << 20),
       "Largest image attachment, in bytes.")
      ("max-video-bytes", po::value<std::uint64_t>(&cfg.max_video_bytes)->default_value(100ULL << 20),
       "Largest video attachment, in bytes.")
      ("max-document-bytes", po::value<std::uint64_t>(&cfg.max_document_bytes)->default_value(100ULL << 20),
       "Largest document attachment, in bytes.")
      ("attachment-bytes-per-day", po::value<std::uint64_t>(&cfg.attachment_bytes_per_day)->default_value(1ULL << 30),
       "Bytes of attachments one user may announce per UTC day.")
      ("max-attachments-per-message", po::value<std::size_t>(&cfg.max_attachments)->default_value(10),
       "Attachments one message may reference.")
      ("attachment-orphan-minutes", po::value<unsigned>(&cfg.attachment_orphan_minutes)->default_value(24 * 60),
       "An attachment no message references (upload abandoned, never sent, or its messages expired) is "
       "deleted by the retention sweep after this long; also the lifetime of an upload ticket.")
      ("log-level", po::value<std::string>(&cfg.log_level)->default_value("info"),
       "debug, info, warning or error. Logs go to stderr, one line per event; never message bodies or tokens.");

  po::options_description admin("Admin API (docs/admin.md; chatctl talks to it)", kHelpWidth, kHelpWidth / 2);
  admin.add_options()
      ("admin-listen", po::value<std::string>(&cfg.admin_listen)->default_value("127.0.0.1:8081"),
       "HOST:PORT of the admin HTTP API (keep it on loopback). Served only when --admin-token-file is given.")
      ("admin-token-file", po::value<std::string>(&cfg.admin_token_file)->default_value(""),
       "File holding the admin bearer token (at least 16 bytes; the first line is used). Empty: no admin API.");

  po::options_description push("Push notifications (docs/push.md)", kHelpWidth, kHelpWidth / 2);
  push.add_options()
      ("push", po::value<std::vector<std::string>>(&cfg.push)->composing(),
       "Push sender, [PROVIDER=]URI, repeatable: e.g. 'webhook+https://gw.internal/push?secret=S', "
       "'fcm=fcm://PROJECT?credentials=FILE', 'apns=apns://?key_file=F&key_id=K&team_id=T&topic=B'. A URI "
       "without PROVIDER serves every provider. None: no pushes.")
      ("push-previews", po::bool_switch(&cfg.push_previews),
       "Put message text in notifications (it then passes through the push provider). Off by default.");

  po::options_description calls("Calls (docs/protocol.md, Calls)", kHelpWidth, kHelpWidth / 2);
  calls.add_options()
      ("call-ring-timeout", po::value<double>(&cfg.call_ring_timeout_s)->default_value(45),
       "Seconds an unanswered call rings before it ends as missed (fractions allowed).")
      ("stun-url", po::value<std::vector<std::string>>(&cfg.stun_urls)->composing(),
       "STUN server URL handed to calling clients, repeatable (e.g. stun:stun.example.org:3478).")
      ("turn-url", po::value<std::vector<std::string>>(&cfg.turn_urls)->composing(),
       "TURN server URL handed to calling clients with time-limited credentials, repeatable (e.g. "
       "turn:turn.example.org:3478?transport=udp). Needs --turn-secret-file.")
      ("turn-secret-file", po::value<std::string>(&cfg.turn_secret_file)->default_value(""),
       "File holding the secret shared with the TURN server (coturn: static-auth-secret); first line used.")
      ("turn-ttl", po::value<unsigned>(&cfg.turn_ttl_s)->default_value(86400),
       "Seconds TURN credentials stay valid from the start of a call.");

  po::options_description all("Options", kHelpWidth, kHelpWidth / 2);
  all.add(general).add(storage).add(network).add(policy).add(push).add(calls).add(admin);

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("config")) {
      const std::string file = vm["config"].as<std::string>();
      std::ifstream in(file);
      if (!in) return Usage("cannot read config file '" + file + "'");
      // Stored after the command line: values already set there take precedence.
      po::store(po::parse_config_file(in, all), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage(e.what());
  }
  if (vm.count("help")) {
    std::cout << "chatd " LIBCHAT_VERSION_STRING " - the libchat chat server\n\n"
                 "Usage: chatd [options]\n\n"
                 "Serves HTTP and WebSocket (protocol v1 at /ws; /healthz, /readyz, /metrics) on one port and\n"
                 "prints 'chatd listening on HOST:PORT' on stdout once it serves. SIGTERM or SIGINT: stop\n"
                 "accepting, close WebSockets with 'going away', finish queued work, close the store, exit 0.\n"
                 "Exit codes: 0 ok, 1 runtime failure, 2 usage error. See docs/operations.md.\n\n"
              << all << "\n";
    return kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "chatd " << LIBCHAT_VERSION_STRING << "\n";
    return kExitOk;
  }

  // ---- Options -> structs ----
  if (!ParseListen(cfg.listen, &server.address, &server.port)) {
    return Usage("--listen wants HOST:PORT, got '" + cfg.listen + "'");
  }
  if (!chat::ParseLogLevel(cfg.log_level, &server.log_level)) return Usage("unknown --log-level '" + cfg.log_level + "'");
  chat::ServiceOptions service_options;
  if (cfg.password_cost == "interactive") {
    service_options.password_cost = chat::PasswordCost::kInteractive;
  } else if (cfg.password_cost == "moderate") {
    service_options.password_cost = chat::PasswordCost::kModerate;
  } else if (cfg.password_cost == "minimum") {
    service_options.password_cost = chat::PasswordCost::kMinimum;
  } else {
    return Usage("--password-cost must be interactive, moderate or minimum");
  }
  if (server.tls.cert_file.empty() != server.tls.key_file.empty()) {
    return Usage("--tls-cert and --tls-key go together");
  }
  if (cfg.rate_limits != "on" && cfg.rate_limits != "off") return Usage("--rate-limits must be on or off");
  service_options.enforce_rate_limits = cfg.rate_limits == "on";
  if (cfg.spam != "on" && cfg.spam != "off") return Usage("--spam must be on or off");
  service_options.spam.enabled = cfg.spam == "on";
  service_options.spam.reports.new_reporter_ms = static_cast<chat::TimeMs>(cfg.spam_new_reporter_days) * chat::kMsPerDay;
  if (cfg.login_throttle != "on" && cfg.login_throttle != "off") return Usage("--login-throttle must be on or off");
  service_options.login_throttle.enabled = cfg.login_throttle == "on";
  if (cfg.data_permissions != "strict" && cfg.data_permissions != "warn") {
    return Usage("--data-permissions must be strict or warn");
  }
  if (cfg.max_devices == 0) return Usage("--max-devices must be at least 1");
  service_options.limits.max_devices_per_user = cfg.max_devices;
  service_options.limits.max_body_bytes = cfg.max_body_bytes;
  if (cfg.retention_days == 0) return Usage("--retention-days must be at least 1");
  service_options.default_retention_ms = static_cast<chat::TimeMs>(cfg.retention_days) * chat::kMsPerDay;
  if (service_options.default_retention_ms > service_options.max_retention_ms) {
    service_options.max_retention_ms = service_options.default_retention_ms;
  }
  service_options.limits.max_audio_bytes = cfg.max_audio_bytes;
  service_options.limits.max_image_bytes = cfg.max_image_bytes;
  service_options.limits.max_video_bytes = cfg.max_video_bytes;
  service_options.limits.max_document_bytes = cfg.max_document_bytes;
  service_options.limits.attachment_bytes_per_day = cfg.attachment_bytes_per_day;
  service_options.limits.max_attachments_per_message = cfg.max_attachments;
  if (cfg.attachment_orphan_minutes == 0) return Usage("--attachment-orphan-minutes must be at least 1");
  service_options.attachment_orphan_ttl_ms = static_cast<chat::TimeMs>(cfg.attachment_orphan_minutes) * 60 * 1000;
  server.idle_timeout = std::chrono::milliseconds(cfg.idle_timeout_ms);
  server.handshake_timeout = std::chrono::milliseconds(cfg.handshake_timeout_ms);
  server.write_timeout = std::chrono::milliseconds(cfg.write_timeout_ms);
  server.receipt_interval = std::chrono::milliseconds(cfg.receipt_interval_ms);
  server.shutdown_grace = std::chrono::milliseconds(cfg.shutdown_grace_ms);
  if (!(cfg.call_ring_timeout_s > 0) || cfg.call_ring_timeout_s > 3600) {
    return Usage("--call-ring-timeout must be more than 0 and at most 3600 seconds");
  }
  server.calls.ring_timeout_ms = static_cast<chat::TimeMs>(cfg.call_ring_timeout_s * 1000);
  if (server.calls.ring_timeout_ms == 0) server.calls.ring_timeout_ms = 1;
  server.calls.ice.stun_urls = cfg.stun_urls;
  server.calls.ice.turn_urls = cfg.turn_urls;
  if (cfg.turn_ttl_s == 0) return Usage("--turn-ttl must be at least 1 second");
  server.calls.ice.turn_ttl_ms = static_cast<chat::TimeMs>(cfg.turn_ttl_s) * 1000;
  if (!cfg.turn_urls.empty() && cfg.turn_secret_file.empty()) return Usage("--turn-url needs --turn-secret-file");
  if (cfg.turn_urls.empty() && !cfg.turn_secret_file.empty()) return Usage("--turn-secret-file needs --turn-url");
  server.push.previews = cfg.push_previews;
  if (cfg.web != "on" && cfg.web != "off") return Usage("--web must be on or off");
  if (cfg.web == "off" && !cfg.web_root.empty()) return Usage("--web off and --web-root exclude each other");

  const chat::LogSink sink = chat::StderrLogSink();
  server.log_sink = sink;
  // main()'s own lines honour --log-level like the server's.
  const chat::LogLevel min_level = server.log_level;
  auto log = [&sink, min_level](chat::LogLevel level, const std::string& line) {
    if (level >= min_level) sink(level, line);
  };
  auto fatal = [&log](const std::string& what) {
    log(chat::LogLevel::kError, what);
    return kExitFailure;
  };

  // Protections turned off start loudly, one line each: a test setting left in production otherwise
  // goes unnoticed.
  if (service_options.password_cost == chat::PasswordCost::kMinimum) {
    log(chat::LogLevel::kWarning, "--password-cost minimum: passwords are hashed at the lowest cost; for tests "
                                  "and load generation only, never with real accounts");
  }
  if (!service_options.login_throttle.enabled) {
    log(chat::LogLevel::kWarning, "--login-throttle off: password guessing is not slowed down");
  }
  if (!service_options.enforce_rate_limits) {
    log(chat::LogLevel::kWarning, "--rate-limits off: no rate limit on sends, chats, uploads, registrations, "
                                  "typing, calls or resumes");
  }
  if (!service_options.spam.enabled) {
    log(chat::LogLevel::kWarning, "--spam off: sends are not scored; spam is neither throttled nor flagged");
  } else if (cfg.spam_new_reporter_days == 0) {
    log(chat::LogLevel::kWarning, "--spam-new-reporter-days 0: reports by accounts made today count in full; a "
                                  "few new accounts can suspend anyone");
  }

  // What chatd creates is its user's alone, whatever umask it was started with: the store and blob
  // store make theirs private anyway, and so do backups and anything else written later.
  ::umask(077);
  // Descriptors beyond the connections: the store's files, the admin API, logs (a generous margin).
  constexpr std::size_t kSpareFiles = 200;
  const rlim_t files = RaiseFileLimit();
  if (files != RLIM_INFINITY && server.max_connections + kSpareFiles > files) {
    log(chat::LogLevel::kWarning, "--max-connections " + std::to_string(server.max_connections) +
                                      " is above what the open-file limit allows (" + std::to_string(files) +
                                      " descriptors); connections beyond it will fail at accept. Raise "
                                      "'ulimit -n' (LimitNOFILE= under systemd).");
  }

  // ---- Store and bus ----
  std::string store_uri = cfg.store;
  std::string blob_uri = cfg.blob_store;
  if (store_uri.empty() || blob_uri.empty()) {
    std::error_code ec;
    if (chat::Status made = chat::tools::MakePrivateDataDir(cfg.data_dir); !made.ok()) return fatal(made.message());
    const auto abs = std::filesystem::absolute(cfg.data_dir, ec);
    if (ec) return fatal("data dir " + cfg.data_dir + ": " + ec.message());
    // Before anything is opened: a folder others can read exposes every message and attachment.
    const std::vector<std::string> loose = chat::tools::LooseDataPermissions(abs);
    if (!loose.empty()) {
      const bool strict = cfg.data_permissions == "strict";
      constexpr std::size_t kShown = 10;
      for (std::size_t i = 0; i < loose.size() && i < kShown; ++i) {
        log(strict ? chat::LogLevel::kError : chat::LogLevel::kWarning,
            "data dir: " + loose[i] + ": group or others may access it");
      }
      if (loose.size() > kShown) {
        log(chat::LogLevel::kWarning, "data dir: " + std::to_string(loose.size() - kShown) + " more such paths");
      }
      const std::string fix = "chmod -R go-rwx " + abs.string();
      if (strict) {
        return fatal("data dir " + abs.string() + " is open to other users; fix it with '" + fix +
                     "', or start with --data-permissions warn");
      }
      log(chat::LogLevel::kWarning, "data dir " + abs.string() + " is open to other users (--data-permissions warn); "
                                    "fix it with '" + fix + "'");
    }
    if (store_uri.empty()) store_uri = "leveldb://" + (abs.lexically_normal() / "store").string();
    if (blob_uri.empty()) blob_uri = "file://" + (abs.lexically_normal() / "blobs").string();
  }
  // Block the stop signals before any thread starts, so that every thread inherits the mask and the
  // main thread alone receives them through sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that vanishes mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  auto& registry = chat::Registry::Default();
  auto store = registry.MakeStore(store_uri);
  if (!store.ok()) return fatal("cannot open the store: " + store.error().ToString());
  auto bus = registry.MakeBus(cfg.bus);
  if (!bus.ok()) return fatal("cannot open the bus: " + bus.error().ToString());
  std::shared_ptr<chat::Store> shared_store = std::move(*store);
  std::shared_ptr<chat::Bus> shared_bus = std::move(*bus);
  auto blobs = registry.MakeBlob(blob_uri);
  if (!blobs.ok()) return fatal("cannot open the blob store: " + blobs.error().ToString());
  std::shared_ptr<chat::BlobStore> shared_blobs = std::move(*blobs);
  log(chat::LogLevel::kInfo, "store " + shared_store->Describe() + ", bus " + cfg.bus + ", blobs " + blob_uri);

  auto service = chat::ChatService::Create(service_options, shared_store, shared_bus, shared_blobs);
  if (!service.ok()) return fatal("service: " + service.error().ToString());

  // ---- Calls and pushes: secrets and keys are read now, so a bad file fails the start ----
  if (!cfg.turn_secret_file.empty()) {
    std::ifstream secret_in(cfg.turn_secret_file);
    if (!secret_in || !std::getline(secret_in, server.calls.ice.turn_secret) || server.calls.ice.turn_secret.empty()) {
      return fatal("cannot read the TURN secret from " + cfg.turn_secret_file);
    }
  }
  if (!cfg.push.empty()) {
    auto senders = chat::MakePushSenders(registry, cfg.push);
    if (!senders.ok()) return fatal("push: " + senders.error().ToString());
    server.push_senders = std::move(*senders);
    log(chat::LogLevel::kInfo, "push: " + std::to_string(server.push_senders.size()) + " sender(s)" +
                                   (cfg.push_previews ? ", previews on" : ""));
  }

  // ---- The web app: an explicit --web-root must load (Start fails otherwise); the default may be
  // missing (a chatd installed without it), which leaves / answering 404. ----
  if (cfg.web == "on") {
    server.web_root = cfg.web_root.empty() ? DefaultWebRoot() : cfg.web_root;
    if (server.web_root.empty()) {
      log(chat::LogLevel::kWarning, "no web app found (looked next to chatd and in the source tree); / answers 404. "
                                    "Give --web-root DIR, or --web off to silence this.");
    } else {
      log(chat::LogLevel::kInfo, "web app from " + server.web_root);
    }
  }

  // ---- Serve ----
  // Not ready while the store cannot serve (a database restarting or unreachable): load balancers
  // send clients elsewhere meanwhile. The store outlives the server (shut down first, below).
  server.ready_check = [store = shared_store.get()] { return store->Availability().ok(); };
  auto created = chat::Server::Create(server, **service);
  if (!created.ok()) return Usage(created.error().message());
  std::unique_ptr<chat::Server> srv = std::move(*created);
  auto endpoint = srv->Start();
  if (!endpoint.ok()) return fatal("listen " + cfg.listen + ": " + endpoint.error().ToString());
  // Scripts and tests read the bound port from this line.
  std::printf("chatd listening on %s:%u\n", endpoint->address.c_str(), static_cast<unsigned>(endpoint->port));
  std::fflush(stdout);

  // ---- The admin API, on its own loopback listener, when configured ----
  std::unique_ptr<chat::AdminServer> admin_server;
  if (!cfg.admin_token_file.empty()) {
    chat::AdminOptions admin_options;
    if (!ParseListen(cfg.admin_listen, &admin_options.address, &admin_options.port)) {
      return Usage("--admin-listen wants HOST:PORT, got '" + cfg.admin_listen + "'");
    }
    if (!IsLoopback(admin_options.address)) {
      log(chat::LogLevel::kWarning, "--admin-listen " + cfg.admin_listen + " is not a loopback address: the admin "
                                    "API speaks plain HTTP, so its token and answers (session tokens included) "
                                    "cross the network in clear; keep it on 127.0.0.1 and tunnel to it");
    }
    std::ifstream token_in(cfg.admin_token_file);
    if (!token_in || !std::getline(token_in, admin_options.token)) {
      return fatal("cannot read the admin token from " + cfg.admin_token_file);
    }
    chat::Server* metrics_source = srv.get();
    auto made = chat::AdminServer::Create(admin_options, **service, [metrics_source] { return metrics_source->MetricsText(); });
    if (!made.ok()) return Usage("admin API: " + made.error().message());
    admin_server = std::move(*made);
    auto admin_endpoint = admin_server->Start();
    if (!admin_endpoint.ok()) return fatal("admin listen " + cfg.admin_listen + ": " + admin_endpoint.error().ToString());
    std::printf("chatd admin API on %s:%u\n", admin_endpoint->address.c_str(), static_cast<unsigned>(admin_endpoint->port));
    std::fflush(stdout);
  }

  // ---- Retention: what retention no longer keeps is deleted without anyone asking ----
  std::unique_ptr<chat::RetentionScheduler> retention;
  if (cfg.retention_interval_s != 0) {
    chat::RetentionSchedule schedule;
    schedule.interval = std::chrono::seconds(cfg.retention_interval_s);
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
    if (!started.ok()) return Usage("retention: " + started.error().message());
    retention = std::move(*started);
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log(chat::LogLevel::kInfo, std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + "; stopping");

  // ---- Shut down in order: connections, network threads, workers; then the service and the store
  // (LevelDB flushes and releases its lock when the last reference goes). ----
  retention.reset();
  if (admin_server) admin_server->Stop();
  admin_server.reset();
  srv->Stop();
  srv.reset();
  service->reset();
  shared_bus.reset();
  shared_blobs.reset();
  shared_store.reset();
  log(chat::LogLevel::kInfo, "stopped");
  return kExitOk;
}
