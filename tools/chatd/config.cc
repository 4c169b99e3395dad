#include "config.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <boost/program_options.hpp>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "data_dir.h"

namespace chat::chatd {
namespace {

namespace po = boost::program_options;
constexpr unsigned kHelpWidth = 100;

// Values read as text and turned into Settings by Convert.
struct Raw {
  std::string listen;
  std::string password_cost;
  std::string rate_limits;
  std::string login_throttle;
  std::string spam;
  std::string log_level;
  std::string log_format;
  std::string data_permissions;
  std::string registration;
  std::string web;
  std::vector<std::string> trusted_proxies;
  std::vector<std::string> stun_urls;
  std::vector<std::string> turn_urls;
  unsigned spam_new_reporter_days = 7;
  unsigned max_devices = 5;
  std::size_t max_body_bytes = 64 * 1024;
  unsigned retention_days = 30;
  std::uint64_t max_audio_bytes = 0;
  std::uint64_t max_image_bytes = 0;
  std::uint64_t max_video_bytes = 0;
  std::uint64_t max_document_bytes = 0;
  std::uint64_t attachment_bytes_per_day = 0;
  std::size_t max_attachments = 10;
  unsigned attachment_orphan_minutes = 24 * 60;
  unsigned idle_timeout_ms = 60000;
  unsigned handshake_timeout_ms = 10000;
  unsigned write_timeout_ms = 30000;
  unsigned receipt_interval_ms = 50;
  unsigned shutdown_grace_ms = 3000;
  unsigned node_ttl_ms = 6000;
  double call_ring_timeout_s = 45;
  unsigned turn_ttl_s = 86400;
  bool push_previews = false;
};

// The inclusive range of each numeric option: out of it is a usage error, before anything starts
// (a negative or huge --workers once made chatd abort allocating threads).
struct Range {
  const char* name;
  std::uint64_t min;
  std::uint64_t max;
};
constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;
constexpr Range kRanges[] = {
    {"io-threads", 0, 1024},
    {"workers", 1, 1024},
    {"hash-workers", 1, 64},
    {"worker-queue", 1, 1'000'000},
    {"max-connections", 1, 10'000'000},
    {"max-connections-per-address", 0, 10'000'000},
    {"max-frame-bytes", kKiB, 64 * kMiB},
    {"send-queue-messages", 2, 1'000'000},
    {"send-queue-bytes", 64 * kKiB, kGiB},
    {"max-response-bytes", 16 * kKiB, kGiB},
    {"idle-timeout-ms", 100, 86'400'000},
    {"handshake-timeout-ms", 100, 600'000},
    {"write-timeout-ms", 100, 3'600'000},
    {"receipt-interval-ms", 1, 60'000},
    {"shutdown-grace-ms", 0, 600'000},
    {"spam-new-reporter-days", 0, 3650},
    {"max-devices", 1, 1000},
    {"max-body-bytes", 1, 16 * kMiB},
    {"retention-days", 1, 3650},
    {"retention-interval-s", 0, 7 * 86400},
    {"max-audio-bytes", 1, 64 * kGiB},
    {"max-image-bytes", 1, 64 * kGiB},
    {"max-video-bytes", 1, 64 * kGiB},
    {"max-document-bytes", 1, 64 * kGiB},
    {"attachment-bytes-per-day", 1, 1024 * kGiB},
    {"max-attachments-per-message", 1, 100},
    {"attachment-orphan-minutes", 1, 525'600},
    {"turn-ttl", 1, 30 * 86400},
};

// Every configurable option, bound to `s` and `raw`, in --help's groups.
std::vector<po::options_description> ConfigurableGroups(Settings& s, Raw& raw) {
  ServerOptions& server = s.server;
  std::vector<po::options_description> groups;

  po::options_description storage("Storage and routing", kHelpWidth, kHelpWidth / 2);
  storage.add_options()
      ("data-dir", po::value<std::string>(&s.data_dir)->default_value("./data"),
       "Folder for chatd's data; created if missing. The embedded LevelDB store lives in DIR/store, attachment "
       "bytes in DIR/blobs.")
      ("store", po::value<std::string>(&s.store_uri)->default_value(""),
       "Store URI, overriding the default leveldb://<absolute data-dir>/store. E.g. mem:// (nothing kept), "
       "leveldb:///var/lib/chatd/store?sync=1&cache_mb=64.")
      ("bus", po::value<std::string>(&s.bus_uri)->default_value("inproc://"),
       "Bus URI carrying live events to sessions. inproc:// for a single node; nats://H1:4222,H2:4222 between "
       "the nodes sharing a store (docs/scaling.md).")
      ("node-id", po::value<std::string>(&s.node_id)->default_value(""),
       "This node's name among the nodes sharing a store and a bus (logs; the bus connection's name): "
       "letters, digits and . _ : - (at most 64). Default: the host name and the --listen port, HOST:PORT.")
      ("node-ttl-ms", po::value<unsigned>(&raw.node_ttl_ms)->default_value(raw.node_ttl_ms),
       "With --bus between nodes: a node whose heartbeat is older than this is taken for dead and its users "
       "announced offline (heartbeats every quarter of it). The first node of a deployment fixes it. At least 200.")
      ("blob-store", po::value<std::string>(&s.blob_uri)->default_value(""),
       "Blob store URI for attachment bytes, overriding the default file://<absolute data-dir>/blobs. "
       "mem:// keeps them in memory (tests only); postgres://... in a PostgreSQL database, shared by every node.")
      ("data-permissions", po::value<std::string>(&raw.data_permissions)->default_value("strict"),
       "strict|warn: at start, the data dir, its store/ (folders and files) and the folders of its blobs/ "
       "must grant nothing to group or others. strict refuses to start otherwise (fix: chmod -R go-rwx "
       "DIR); warn only logs a warning per path. What chatd creates is 0700/0600 either way.");
  groups.push_back(storage);

  po::options_description network("Network", kHelpWidth, kHelpWidth / 2);
  network.add_options()
      ("listen", po::value<std::string>(&raw.listen)->default_value("127.0.0.1:8080"),
       "HOST:PORT to serve HTTP and WebSocket (/ws) on. Port 0 picks a free port. Use 0.0.0.0:PORT to serve "
       "other machines (with TLS, or behind a TLS proxy).")
      ("tls-cert", po::value<std::string>(&server.tls.cert_file)->default_value(""),
       "PEM certificate chain: serve https:// and wss:// (TLS only) on the --listen port. Needs --tls-key. "
       "Re-read on SIGHUP. Default: plain HTTP and ws:// (loopback and development; docs/security.md).")
      ("tls-key", po::value<std::string>(&server.tls.key_file)->default_value(""),
       "PEM private key of --tls-cert. Re-read on SIGHUP.")
      ("trusted-proxy", po::value<std::vector<std::string>>(&server.trusted_proxies)->composing()->multitoken(),
       "A reverse proxy (CIDR, e.g. 10.0.0.0/8, or one address) whose X-Forwarded-For names the client; "
       "repeatable. From anyone else the header is ignored. Default: none (the peer is the client).")
      ("io-threads", po::value<unsigned>(&server.io_threads)->default_value(0),
       "Network threads; 0 means one per CPU core (0 to 1024).")
      ("workers", po::value<unsigned>(&server.workers)->default_value(server.workers),
       "Threads running store work (LevelDB calls never run on network threads); 1 to 1024.")
      ("hash-workers", po::value<unsigned>(&server.hash_workers)->default_value(server.hash_workers),
       "Threads running the commands that hash a password (register, login, changePassword, removeDevice "
       "with a password): at most this many Argon2id hashes (64 MiB each) at once, apart from --workers "
       "(1 to 64).")
      ("worker-queue", po::value<std::size_t>(&server.worker_queue)->default_value(server.worker_queue),
       "Commands that may wait for a worker; beyond it commands fail with resource_exhausted.")
      ("max-connections", po::value<std::size_t>(&server.max_connections)->default_value(server.max_connections),
       "Open connections beyond which new ones are refused.")
      ("max-connections-per-address",
       po::value<std::size_t>(&server.max_connections_per_address)->default_value(server.max_connections_per_address),
       "Open connections from one client address beyond which its new ones are refused. 0: no limit (load "
       "generators). Behind a proxy, give --trusted-proxy so that clients count apart.")
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
      ("idle-timeout-ms", po::value<unsigned>(&raw.idle_timeout_ms)->default_value(raw.idle_timeout_ms),
       "Close a WebSocket that sends nothing (not even a pong) for this long; pinged at half of it.")
      ("handshake-timeout-ms", po::value<unsigned>(&raw.handshake_timeout_ms)->default_value(raw.handshake_timeout_ms),
       "Time for an HTTP request, the WebSocket upgrade, and the close handshake.")
      ("write-timeout-ms", po::value<unsigned>(&raw.write_timeout_ms)->default_value(raw.write_timeout_ms),
       "Drop a connection whose single frame write takes longer (the peer stopped reading).")
      ("receipt-interval-ms", po::value<unsigned>(&raw.receipt_interval_ms)->default_value(raw.receipt_interval_ms),
       "Window over which receipts of one chat are coalesced into one receipt event.")
      ("shutdown-grace-ms", po::value<unsigned>(&raw.shutdown_grace_ms)->default_value(raw.shutdown_grace_ms),
       "On SIGTERM/SIGINT, time given to clients to answer the 'going away' close.")
      ("web", po::value<std::string>(&raw.web)->default_value("on"),
       "on|off: serve the web app at / (GET and HEAD; the folder is read once, at start).")
      ("web-root", po::value<std::string>(&s.web_root)->default_value(""),
       "Folder of the web app to serve at / (must hold index.html). Default: the one installed with chatd "
       "(<prefix>/share/libchat/web), or the source tree's web/ for a chatd run from its build folder.");
  groups.push_back(network);

  po::options_description policy("Accounts and messages", kHelpWidth, kHelpWidth / 2);
  policy.add_options()
      ("registration", po::value<std::string>(&raw.registration)->default_value("open"),
       "open|closed|invite: who may create an account through the protocol. closed: nobody (accounts come "
       "from the admin API); invite: only with a code from `chatctl invites create`.")
      ("rate-limits", po::value<std::string>(&raw.rate_limits)->default_value("on"),
       "on|off: per-device and per-user token buckets on sends, chat creation, participant additions "
       "and uploads (docs/security.md). off is for load generators.")
      ("spam", po::value<std::string>(&raw.spam)->default_value("on"),
       "on|off: spam scoring of sends (throttle, flag, suspend; docs/security.md). off is for load "
       "generators, whose traffic looks like spam (the same text to many chats).")
      ("spam-new-reporter-days", po::value<unsigned>(&raw.spam_new_reporter_days)->default_value(7),
       "Spam reports by accounts younger than this many days weigh a quarter, and at most 4 points together "
       "about one sender, so that accounts made for the purpose cannot silence anyone. 0: every report counts "
       "in full (e.g. on a brand-new server where every account is new).")
      ("login-throttle", po::value<std::string>(&raw.login_throttle)->default_value("on"),
       "on|off: exponential backoff of logins after 5 failures, per account and per client address.")
      ("password-cost", po::value<std::string>(&raw.password_cost)->default_value("interactive"),
       "Argon2id cost: interactive (recommended), moderate (slower, stronger), minimum (tests and load "
       "generation only).")
      ("max-devices", po::value<unsigned>(&raw.max_devices)->default_value(5),
       "Devices one user may have; a login beyond it is refused with failed_precondition.")
      ("max-body-bytes", po::value<std::size_t>(&raw.max_body_bytes)->default_value(64 * 1024),
       "Largest message body in bytes (UTF-8); at most max-frame-bytes.")
      ("retention-days", po::value<unsigned>(&raw.retention_days)->default_value(30),
       "Retention of new chats: messages older than this are deleted.")
      ("retention-interval-s", po::value<unsigned>(&s.retention_interval_s)->default_value(600),
       "Seconds between retention sweeps (expired messages, idle cursors, orphaned attachments, in "
       "batches of 10000). 0: no sweeps (run them through the admin API).")
      ("max-audio-bytes", po::value<std::uint64_t>(&raw.max_audio_bytes)->default_value(16ULL << 20),
       "Largest audio attachment, in bytes.")
      ("max-image-bytes", po::value<std::uint64_t>(&raw.max_image_bytes)->default_value(16ULL << 20),
       "Largest image attachment, in bytes.")
      ("max-video-bytes", po::value<std::uint64_t>(&raw.max_video_bytes)->default_value(100ULL << 20),
       "Largest video attachment, in bytes.")
      ("max-document-bytes", po::value<std::uint64_t>(&raw.max_document_bytes)->default_value(100ULL << 20),
       "Largest document attachment, in bytes.")
      ("attachment-bytes-per-day",
       po::value<std::uint64_t>(&raw.attachment_bytes_per_day)->default_value(1ULL << 30),
       "Bytes of attachments one user may announce per UTC day.")
      ("max-attachments-per-message", po::value<std::size_t>(&raw.max_attachments)->default_value(10),
       "Attachments one message may reference.")
      ("attachment-orphan-minutes", po::value<unsigned>(&raw.attachment_orphan_minutes)->default_value(24 * 60),
       "An attachment no message references (upload abandoned, never sent, or its messages expired) is "
       "deleted by the retention sweep after this long; also the lifetime of an upload ticket.");
  groups.push_back(policy);

  po::options_description logging("Logging", kHelpWidth, kHelpWidth / 2);
  logging.add_options()
      ("log-level", po::value<std::string>(&raw.log_level)->default_value("info"),
       "debug, info, warning or error. Logs go to stderr, one line per event; never message bodies or "
       "tokens. Re-read on SIGHUP.")
      ("log-format", po::value<std::string>(&raw.log_format)->default_value("text"),
       "text|json: 'TIME LEVEL message' lines, or one JSON object per line ({\"time\",\"level\",\"msg\"}) for "
       "log collectors.");
  groups.push_back(logging);

  po::options_description push("Push notifications (docs/push.md)", kHelpWidth, kHelpWidth / 2);
  push.add_options()
      ("push", po::value<std::vector<std::string>>(&s.push)->composing(),
       "Push sender, [PROVIDER=]URI, repeatable: e.g. 'webhook+https://gw.internal/push?secret=S', "
       "'fcm=fcm://PROJECT?credentials=FILE', 'apns=apns://?key_file=F&key_id=K&team_id=T&topic=B'. A URI "
       "without PROVIDER serves every provider. None: no pushes.")
      ("push-previews", po::bool_switch(&raw.push_previews),
       "Put message text in notifications (it then passes through the push provider). Off by default.");
  groups.push_back(push);

  po::options_description calls("Calls (docs/protocol.md, Calls)", kHelpWidth, kHelpWidth / 2);
  calls.add_options()
      ("call-ring-timeout", po::value<double>(&raw.call_ring_timeout_s)->default_value(45),
       "Seconds an unanswered call rings before it ends as missed (fractions allowed; more than 0, at most "
       "3600).")
      ("stun-url", po::value<std::vector<std::string>>(&raw.stun_urls)->composing(),
       "STUN server URL handed to calling clients, repeatable (e.g. stun:stun.example.org:3478).")
      ("turn-url", po::value<std::vector<std::string>>(&raw.turn_urls)->composing(),
       "TURN server URL handed to calling clients with time-limited credentials, repeatable (e.g. "
       "turn:turn.example.org:3478?transport=udp). Needs --turn-secret-file.")
      ("turn-secret-file", po::value<std::string>(&s.turn_secret_file)->default_value(""),
       "File holding the secret shared with the TURN server (coturn: static-auth-secret); first line used.")
      ("turn-ttl", po::value<unsigned>(&raw.turn_ttl_s)->default_value(86400),
       "Seconds TURN credentials stay valid from the start of a call.");
  groups.push_back(calls);

  po::options_description admin("Admin API (docs/admin.md; chatctl talks to it)", kHelpWidth, kHelpWidth / 2);
  admin.add_options()
      ("admin-listen", po::value<std::string>(&s.admin_listen)->default_value("127.0.0.1:8081"),
       "HOST:PORT of the admin HTTP API (keep it on loopback). Served only when --admin-token-file is given.")
      ("admin-token-file", po::value<std::string>(&s.admin_token_file)->default_value(""),
       "File holding the admin bearer token (at least 16 bytes, random; the first line is used). Re-read on "
       "SIGHUP. Empty: no admin API.");
  groups.push_back(admin);
  return groups;
}

po::options_description GeneralGroup(std::string* config_file) {
  po::options_description general("General", kHelpWidth, kHelpWidth / 2);
  general.add_options()
      ("help,h", "Print this help and exit.")
      ("version", "Print the version and exit.")
      ("config", po::value<std::string>(config_file),
       "Read options from FILE (INI style: one 'name = value' per line, names as the long options without "
       "'--'; '#' starts a comment). The environment (CHATD_NAME) and the command line win over it.")
      ("check-config", "Check the whole configuration (and the files, certificate and ports it names) "
                       "without starting; exit 0 if chatd would start, 1 or 2 otherwise.")
      ("print-config", "Print every option's effective value and where it came from, then exit.");
  return general;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

// "--workers" for messages.
std::string Flag(const std::string& name) { return "--" + name; }

// The CHATD_* variable of an option: CHATD_MAX_BODY_BYTES for max-body-bytes.
std::string EnvName(const std::string& option) {
  std::string out = "CHATD_";
  for (char c : option) out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

// Unsigned options parse "-1" as 2^32-1 (boost::lexical_cast): accept digits only.
bool IsUnsignedOption(const po::option_description& d) {
  const auto* s = d.semantic().get();
  return dynamic_cast<const po::typed_value<unsigned>*>(s) != nullptr ||
         dynamic_cast<const po::typed_value<unsigned long>*>(s) != nullptr ||
         dynamic_cast<const po::typed_value<unsigned long long>*>(s) != nullptr;
}

Status CheckTokens(const po::parsed_options& parsed, const po::options_description& desc,
                   const std::function<std::string(const std::string&)>& source) {
  for (const po::option& o : parsed.options) {
    if (o.unregistered || o.string_key.empty()) continue;
    const po::option_description* d = desc.find_nothrow(o.string_key, false);
    if (d == nullptr) continue;
    for (const std::string& token : o.value) {
      if (IsUnsignedOption(*d) && (token.empty() || token.find_first_not_of("0123456789") != std::string::npos)) {
        return Status::InvalidArgument(Flag(o.string_key) + " wants a whole number, got '" + token + "' (" +
                                       source(o.string_key) + ")");
      }
      if (dynamic_cast<const po::typed_value<double>*>(d->semantic().get()) != nullptr) {
        char* end = nullptr;
        const double v = std::strtod(token.c_str(), &end);
        if (token.empty() || *end != '\0' || !std::isfinite(v)) {
          return Status::InvalidArgument(Flag(o.string_key) + " wants a number, got '" + token + "' (" +
                                         source(o.string_key) + ")");
        }
      }
    }
  }
  return Status::Ok();
}

std::uint64_t AsU64(const boost::any& v) {
  if (const auto* u = boost::any_cast<unsigned>(&v)) return *u;
  if (const auto* ul = boost::any_cast<unsigned long>(&v)) return *ul;
  if (const auto* ull = boost::any_cast<unsigned long long>(&v)) return *ull;
  return 0;
}

// A value as a config file would write it. Secrets in push URIs are redacted.
std::vector<std::string> ValueText(const boost::any& v) {
  if (const auto* s = boost::any_cast<std::string>(&v)) return {*s};
  if (const auto* b = boost::any_cast<bool>(&v)) return {*b ? "true" : "false"};
  if (const auto* d = boost::any_cast<double>(&v)) {
    std::ostringstream os;
    os << *d;
    return {os.str()};
  }
  if (const auto* list = boost::any_cast<std::vector<std::string>>(&v)) return *list;
  if (v.empty()) return {};
  return {std::to_string(AsU64(v))};
}

std::string Redact(std::string value) {
  for (const char* key : {"secret=", "password=", "token="}) {
    for (std::size_t at = value.find(key); at != std::string::npos; at = value.find(key, at + 1)) {
      const std::size_t start = at + std::strlen(key);
      const std::size_t end = value.find('&', start);
      value.replace(start, end == std::string::npos ? std::string::npos : end - start, "REDACTED");
    }
  }
  return value;
}

bool ParseListen(const std::string& text, std::string* host, std::uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = text.substr(colon + 1);
  if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  const unsigned long n = std::stoul(p);
  if (n > 65535) return false;
  boost::system::error_code ec;
  boost::asio::ip::make_address(h, ec);
  if (ec) return false;
  *host = h;
  *port = static_cast<std::uint16_t>(n);
  return true;
}

bool OnOff(const std::string& name, const std::string& value, bool* out, Status* error) {
  if (value == "on" || value == "off") {
    *out = value == "on";
    return true;
  }
  *error = Status::InvalidArgument(Flag(name) + " must be on or off, got '" + value + "'");
  return false;
}

// Raw values -> Settings, with every cross-check. InvalidArgument naming the option.
Status Convert(const Raw& raw, Settings& s) {
  ServerOptions& server = s.server;
  ServiceOptions& service = s.service;
  if (!ParseListen(raw.listen, &server.address, &server.port)) {
    return Status::InvalidArgument("--listen wants HOST:PORT with a numeric address (IPv6 as [::1]:8080), got '" +
                                   raw.listen + "'");
  }
  if (s.node_id.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "chatd");
    // A host name is letters, digits, '-' and '.', at most 253: kept within what --node-id takes.
    std::string name = std::string(host).substr(0, 56);
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '-';
    }
    s.node_id = name + ":" + std::to_string(server.port);
  }
  if (s.node_id.size() > 64 || s.node_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789._:-") != std::string::npos) {
    return Status::InvalidArgument("--node-id takes letters, digits and . _ : - (at most 64), got '" +
                                   s.node_id + "'");
  }
  server.node_id = s.node_id;
  if (!ParseLogLevel(raw.log_level, &server.log_level)) {
    return Status::InvalidArgument("--log-level must be debug, info, warning or error, got '" + raw.log_level + "'");
  }
  if (!ParseLogFormat(raw.log_format, &s.log_format)) {
    return Status::InvalidArgument("--log-format must be text or json, got '" + raw.log_format + "'");
  }
  if (raw.password_cost == "interactive") {
    service.password_cost = PasswordCost::kInteractive;
  } else if (raw.password_cost == "moderate") {
    service.password_cost = PasswordCost::kModerate;
  } else if (raw.password_cost == "minimum") {
    service.password_cost = PasswordCost::kMinimum;
  } else {
    return Status::InvalidArgument("--password-cost must be interactive, moderate or minimum, got '" +
                                   raw.password_cost + "'");
  }
  if (raw.registration == "open") {
    server.registration = RegistrationMode::kOpen;
  } else if (raw.registration == "closed") {
    server.registration = RegistrationMode::kClosed;
  } else if (raw.registration == "invite") {
    server.registration = RegistrationMode::kInvite;
  } else {
    return Status::InvalidArgument("--registration must be open, closed or invite, got '" + raw.registration + "'");
  }
  if (server.tls.cert_file.empty() != server.tls.key_file.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together");
  }
  Status bad;
  if (!OnOff("rate-limits", raw.rate_limits, &service.enforce_rate_limits, &bad)) return bad;
  if (!OnOff("spam", raw.spam, &service.spam.enabled, &bad)) return bad;
  if (!OnOff("login-throttle", raw.login_throttle, &service.login_throttle.enabled, &bad)) return bad;
  if (!OnOff("web", raw.web, &s.web_on, &bad)) return bad;
  if (raw.data_permissions != "strict" && raw.data_permissions != "warn") {
    return Status::InvalidArgument("--data-permissions must be strict or warn, got '" + raw.data_permissions + "'");
  }
  s.strict_permissions = raw.data_permissions == "strict";
  if (!s.web_on && !s.web_root.empty()) return Status::InvalidArgument("--web off and --web-root exclude each other");
  if (s.data_dir.empty()) return Status::InvalidArgument("--data-dir must not be empty");
  if (Status proxies = CheckTrustedProxies(server.trusted_proxies); !proxies.ok()) {
    return Status::InvalidArgument("--trusted-proxy: " + proxies.message());
  }
  service.spam.reports.new_reporter_ms = static_cast<TimeMs>(raw.spam_new_reporter_days) * kMsPerDay;
  service.limits.max_devices_per_user = raw.max_devices;
  service.limits.max_body_bytes = raw.max_body_bytes;
  if (raw.max_body_bytes > server.max_frame_bytes) {
    return Status::InvalidArgument("--max-body-bytes (" + std::to_string(raw.max_body_bytes) +
                                   ") must not exceed --max-frame-bytes (" + std::to_string(server.max_frame_bytes) +
                                   ")");
  }
  if (server.max_response_bytes > server.send_queue_bytes) {
    return Status::InvalidArgument("--max-response-bytes (" + std::to_string(server.max_response_bytes) +
                                   ") must not exceed --send-queue-bytes (" + std::to_string(server.send_queue_bytes) +
                                   ")");
  }
  service.default_retention_ms = static_cast<TimeMs>(raw.retention_days) * kMsPerDay;
  if (service.default_retention_ms > service.max_retention_ms) service.max_retention_ms = service.default_retention_ms;
  service.limits.max_audio_bytes = raw.max_audio_bytes;
  service.limits.max_image_bytes = raw.max_image_bytes;
  service.limits.max_video_bytes = raw.max_video_bytes;
  service.limits.max_document_bytes = raw.max_document_bytes;
  service.limits.attachment_bytes_per_day = raw.attachment_bytes_per_day;
  service.limits.max_attachments_per_message = raw.max_attachments;
  service.attachment_orphan_ttl_ms = static_cast<TimeMs>(raw.attachment_orphan_minutes) * 60 * 1000;
  server.idle_timeout = std::chrono::milliseconds(raw.idle_timeout_ms);
  server.handshake_timeout = std::chrono::milliseconds(raw.handshake_timeout_ms);
  server.write_timeout = std::chrono::milliseconds(raw.write_timeout_ms);
  server.receipt_interval = std::chrono::milliseconds(raw.receipt_interval_ms);
  server.shutdown_grace = std::chrono::milliseconds(raw.shutdown_grace_ms);
  if (raw.node_ttl_ms < 200) return Status::InvalidArgument("--node-ttl-ms must be at least 200");
  server.node_ttl = std::chrono::milliseconds(raw.node_ttl_ms);
  if (!(raw.call_ring_timeout_s > 0) || raw.call_ring_timeout_s > 3600) {
    return Status::InvalidArgument("--call-ring-timeout must be more than 0 and at most 3600 seconds");
  }
  server.calls.ring_timeout_ms = std::max<TimeMs>(1, static_cast<TimeMs>(raw.call_ring_timeout_s * 1000));
  server.calls.ice.stun_urls = raw.stun_urls;
  server.calls.ice.turn_urls = raw.turn_urls;
  server.calls.ice.turn_ttl_ms = static_cast<TimeMs>(raw.turn_ttl_s) * 1000;
  if (!raw.turn_urls.empty() && s.turn_secret_file.empty()) {
    return Status::InvalidArgument("--turn-url needs --turn-secret-file");
  }
  if (raw.turn_urls.empty() && !s.turn_secret_file.empty()) {
    return Status::InvalidArgument("--turn-secret-file needs --turn-url");
  }
  server.push.previews = raw.push_previews;
  if (!s.admin_token_file.empty() && !ParseListen(s.admin_listen, &s.admin.address, &s.admin.port)) {
    return Status::InvalidArgument("--admin-listen wants HOST:PORT with a numeric address, got '" + s.admin_listen +
                                   "'");
  }
  for (const std::string& p : s.push) {
    if (p.empty()) return Status::InvalidArgument("--push must not be empty");
  }
  return Status::Ok();
}

// Binds (and closes) a TCP socket on the address, to find a taken port before the store is opened.
Status CheckBindable(const std::string& what, const std::string& host, std::uint16_t port) {
  if (port == 0) return Status::Ok();
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument(what + " " + host + ": " + ec.message());
  const int fd = ::socket(address.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable(what + ": socket: " + std::strerror(errno));
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  int rc = 0;
  if (address.is_v6()) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    const auto bytes = address.to_v6().to_bytes();
    std::memcpy(&sa.sin6_addr, bytes.data(), bytes.size());
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    const auto bytes = address.to_v4().to_bytes();
    std::memcpy(&sa.sin_addr, bytes.data(), bytes.size());
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return Status::Unavailable(what + " " + host + ":" + std::to_string(port) + ": cannot bind: " + std::strerror(err) +
                               (err == EADDRINUSE ? " (is another chatd running?)" : ""));
  }
  return Status::Ok();
}

// The first line of a file, without its line end. Unavailable naming the file if it cannot be read.
Result<std::string> FirstLine(const std::string& what, const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return Status::Unavailable("cannot read the " + what + " from " + path);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

Result<Loaded> LoadConfig(const std::vector<std::string>& args, const std::vector<std::string>& environment) {
  Loaded loaded;
  Settings& s = loaded.settings;
  Raw raw;
  std::string config_from_flags;
  const std::vector<po::options_description> groups = ConfigurableGroups(s, raw);
  po::options_description configurable("Options", kHelpWidth, kHelpWidth / 2);
  for (const auto& g : groups) configurable.add(g);
  const po::options_description general = GeneralGroup(&config_from_flags);
  po::options_description help("Options", kHelpWidth, kHelpWidth / 2);
  help.add(general);
  for (const auto& g : groups) help.add(g);
  std::ostringstream help_text;
  help_text << help;
  loaded.help_text = help_text.str();

  // ---- The command line: options only; a stray word is a mistake (a forgotten --config).
  po::options_description cmd_desc;
  cmd_desc.add(help).add_options()("stray", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("stray", -1);
  po::variables_map cmd;
  po::variables_map env;
  po::variables_map file;
  try {
    const po::parsed_options parsed = po::command_line_parser(args).options(cmd_desc).positional(positional).run();
    LIBCHAT_RETURN_IF_ERROR(CheckTokens(parsed, help, [](const std::string&) { return std::string("command line"); }));
    po::store(parsed, cmd);
  } catch (const po::error& e) {
    return Status::InvalidArgument(e.what());
  }
  if (cmd.count("stray")) {
    const std::string word = cmd["stray"].as<std::vector<std::string>>().front();
    const bool looks_like_file = word.find('/') != std::string::npos || word.find(".conf") != std::string::npos;
    return Status::InvalidArgument("unexpected argument '" + word + "'" +
                                   (looks_like_file ? " (did you mean --config " + word + "?)" : "") +
                                   ": chatd takes options only");
  }
  loaded.help = cmd.count("help") > 0;
  loaded.version = cmd.count("version") > 0;
  loaded.check_config = cmd.count("check-config") > 0;
  loaded.print_config = cmd.count("print-config") > 0;
  if (loaded.help || loaded.version) return loaded;

  // ---- The environment: CHATD_NAME for --name; an unknown CHATD_ variable is a typo, refused.
  std::map<std::string, std::string> env_var_of;  // option -> variable
  std::vector<std::string> env_args;
  po::options_description env_desc;
  env_desc.add(configurable).add_options()("config", po::value<std::string>());
  for (const std::string& entry : environment) {
    if (entry.rfind("CHATD_", 0) != 0) continue;
    const auto eq = entry.find('=');
    const std::string var = entry.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : entry.substr(eq + 1);
    std::string option;
    for (char c : var.substr(6)) option.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    const po::option_description* d = env_desc.find_nothrow(option, false);
    if (d == nullptr || option.empty() || EnvName(option) != var) {
      return Status::InvalidArgument("unknown environment variable " + var + " (chatd reads CHATD_NAME for --name)");
    }
    env_var_of[option] = var;
    if (option == "push-previews") {
      if (value == "1" || value == "true" || value == "on" || value == "yes") {
        env_args.push_back("--push-previews");
      } else if (!(value == "0" || value == "false" || value == "off" || value == "no")) {
        return Status::InvalidArgument(var + " must be on or off, got '" + value + "'");
      }
      continue;
    }
    const bool list = d->semantic()->max_tokens() > 1 || option == "push" || option == "stun-url" ||
                      option == "turn-url" || option == "trusted-proxy";
    if (list) {
      // Several values separated by commas (CHATD_TRUSTED_PROXY=10.0.0.0/8,fd00::/8).
      std::stringstream parts(value);
      for (std::string part; std::getline(parts, part, ',');) {
        env_args.push_back("--" + option);
        env_args.push_back(Trim(part));
      }
    } else {
      env_args.push_back("--" + option);
      env_args.push_back(value);
    }
  }
  try {
    const po::parsed_options parsed = po::command_line_parser(env_args).options(env_desc).run();
    LIBCHAT_RETURN_IF_ERROR(CheckTokens(parsed, env_desc, [&](const std::string& o) { return "environment " + env_var_of[o]; }));
    po::store(parsed, env);
  } catch (const po::error& e) {
    return Status::InvalidArgument(std::string(e.what()) + " (from the environment)");
  }

  // ---- The config file, from --config or CHATD_CONFIG.
  if (cmd.count("config")) {
    loaded.config_file = cmd["config"].as<std::string>();
  } else if (env.count("config")) {
    loaded.config_file = env["config"].as<std::string>();
  }
  if (!loaded.config_file.empty()) {
    std::ifstream in(loaded.config_file);
    if (!in) return Status::InvalidArgument("cannot read config file '" + loaded.config_file + "'");
    try {
      const po::parsed_options parsed = po::parse_config_file(in, configurable);
      LIBCHAT_RETURN_IF_ERROR(CheckTokens(parsed, configurable, [&](const std::string&) { return "file " + loaded.config_file; }));
      po::store(parsed, file);
    } catch (const po::error& e) {
      return Status::InvalidArgument(std::string(e.what()) + " in " + loaded.config_file);
    }
  } else {
    po::store(po::parsed_options(&configurable), file);  // The defaults alone.
  }

  // ---- Merge: command line, then environment, then file, then default.
  po::variables_map merged;
  std::map<std::string, std::string> source;
  for (const auto& d : configurable.options()) {
    const std::string& name = d->long_name();
    auto present = [&name](const po::variables_map& vm) { return vm.count(name) && !vm[name].defaulted(); };
    if (present(cmd)) {
      merged.insert({name, cmd[name]});
      source[name] = "command line";
    } else if (present(env)) {
      merged.insert({name, env[name]});
      source[name] = "environment " + env_var_of[name];
    } else if (present(file)) {
      merged.insert({name, file[name]});
      source[name] = "file " + loaded.config_file;
    } else if (file.count(name)) {
      merged.insert({name, file[name]});
      source[name] = "default";
    } else {
      source[name] = "default";
    }
  }
  try {
    po::notify(merged);
  } catch (const po::error& e) {
    return Status::InvalidArgument(e.what());
  }
  for (const Range& r : kRanges) {
    if (!merged.count(r.name)) continue;
    const std::uint64_t v = AsU64(merged[r.name].value());
    if (v < r.min || v > r.max) {
      return Status::InvalidArgument(Flag(r.name) + " must be from " + std::to_string(r.min) + " to " +
                                     std::to_string(r.max) + ", got " + std::to_string(v) + " (" + source[r.name] + ")");
    }
  }
  LIBCHAT_RETURN_IF_ERROR(Convert(raw, s));

  for (const auto& d : configurable.options()) {
    const std::string& name = d->long_name();
    EffectiveValue e;
    e.name = name;
    e.source = source[name];
    if (merged.count(name)) {
      for (std::string v : ValueText(merged[name].value())) e.values.push_back(name == "push" ? Redact(v) : v);
    }
    loaded.effective.push_back(std::move(e));
  }
  return loaded;
}

std::string FormatEffective(const Loaded& loaded) {
  std::ostringstream out;
  out << "# chatd " LIBCHAT_VERSION_STRING " effective configuration";
  if (!loaded.config_file.empty()) out << " (config file " << loaded.config_file << ")";
  out << "\n# Precedence: command line, environment (CHATD_NAME), config file, default.\n";
  for (const EffectiveValue& e : loaded.effective) {
    auto line = [&](const std::string& text) {
      out << text << std::string(text.size() < 48 ? 48 - text.size() : 1, ' ') << "# " << e.source << '\n';
    };
    if (e.values.empty()) {
      line("# " + e.name + " =");
      continue;
    }
    for (const std::string& v : e.values) line(e.name + " = " + v);
  }
  return out.str();
}

Status CheckResources(Settings* s, const std::function<void(const std::string&)>& warn) {
  // The admin token: read and judged now, not after the store is open and chatd announced itself.
  if (!s->admin_token_file.empty()) {
    LIBCHAT_ASSIGN_OR_RETURN(s->admin.token, FirstLine("admin token", s->admin_token_file));
    if (Status ok = AdminServer::CheckToken(s->admin.token); !ok.ok()) {
      return Status::InvalidArgument("admin token in " + s->admin_token_file + ": " + ok.message());
    }
  }
  LIBCHAT_RETURN_IF_ERROR(CheckTlsOptions(s->server.tls));
  if (!s->turn_secret_file.empty()) {
    LIBCHAT_ASSIGN_OR_RETURN(s->server.calls.ice.turn_secret, FirstLine("TURN secret", s->turn_secret_file));
    if (s->server.calls.ice.turn_secret.empty()) return Status::InvalidArgument("the TURN secret in " + s->turn_secret_file + " is empty");
  }
  std::error_code ec;
  if (s->web_on && !s->web_root.empty() && !std::filesystem::is_regular_file(std::filesystem::path(s->web_root) / "index.html", ec)) {
    return Status::InvalidArgument("--web-root " + s->web_root + " holds no index.html");
  }
  // The data folder: checked if it exists (it is created at start otherwise).
  if ((s->store_uri.empty() || s->blob_uri.empty()) && std::filesystem::exists(s->data_dir, ec)) {
    const auto abs = std::filesystem::absolute(s->data_dir, ec);
    const std::vector<std::string> loose = tools::LooseDataPermissions(abs);
    if (!loose.empty()) {
      constexpr std::size_t kShown = 10;
      for (std::size_t i = 0; i < loose.size() && i < kShown; ++i) warn("data dir: " + loose[i] + ": group or others may access it");
      if (loose.size() > kShown) warn("data dir: " + std::to_string(loose.size() - kShown) + " more such paths");
      const std::string fix = "chmod -R go-rwx " + abs.string();
      if (s->strict_permissions) {
        return Status::FailedPrecondition("data dir " + abs.string() + " is open to other users; fix it with '" + fix +
                                          "', or start with --data-permissions warn");
      }
      warn("data dir " + abs.string() + " is open to other users (--data-permissions warn); fix it with '" + fix + "'");
    }
  }
  LIBCHAT_RETURN_IF_ERROR(CheckBindable("listen", s->server.address, s->server.port));
  if (!s->admin_token_file.empty()) {
    if (s->admin.address == s->server.address && s->admin.port == s->server.port && s->admin.port != 0) {
      return Status::InvalidArgument("--admin-listen and --listen name the same address");
    }
    LIBCHAT_RETURN_IF_ERROR(CheckBindable("admin listen", s->admin.address, s->admin.port));
  }
  return Status::Ok();
}

}  // namespace chat::chatd
