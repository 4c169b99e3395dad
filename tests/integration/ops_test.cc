// Running chatd as a service (issue 16): the command line of every tool (stray arguments, values out
// of range, --version), chatd's whole configuration checked first (--check-config, --print-config),
// signals (SIGHUP reloads a renewed certificate while clients stay connected; no signal kills it
// silently), registration closed and by invitation, X-Forwarded-For from trusted proxies only, the
// operations metrics, JSON logs, audit lines, and docs/operations.md documenting every flag.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <cstring>

#include <nlohmann/json.hpp>

#include "chatd_process.h"
#include "test_keys.h"

namespace chat::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `tool` with `args` (already quoted), run in `cwd` with `env` assignments before it.
CommandRun Tool(const std::string& tool, const std::string& args, const std::string& cwd, const std::string& env = "") {
  const std::string cmd = "cd " + ShellQuote(cwd) + " && env " + env + " " + ShellQuote(tool) + " " + args;
  CommandRun r = RunCommand(cmd, cwd);
  INFO(cmd << "\nexit " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

// Waits until chatd's log holds `text` (up to kWait).
bool WaitForLog(const ChatdProcess& chatd, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (chatd.Log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

// A port something is listening on, held until the object goes.
struct TakenPort {
  TakenPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~TakenPort() { ::close(fd); }
  int fd = -1;
  std::uint16_t port = 0;
};

void CopyCert(const CertFiles& from, const std::string& cert, const std::string& key) {
  fs::copy_file(from.cert_file, cert, fs::copy_options::overwrite_existing);
  fs::copy_file(from.key_file, key, fs::copy_options::overwrite_existing);
}

ClientOptions Trusting(const std::string& ca_file) {
  ClientOptions o;
  o.tls = true;
  o.tls_ca_file = ca_file;
  return o;
}

// A plain HTTP/1.1 request on its own connection, with an X-Forwarded-For header, left open
// (keep-alive). What the server answered within `wait`.
struct ProxiedRequest {
  ProxiedRequest(std::uint16_t port, const std::string& forwarded_for) : tcp(port) {
    tcp.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: " + forwarded_for + "\r\n\r\n");
  }
  std::string Answer(std::chrono::milliseconds wait = 1500ms) { return tcp.ReadAll(wait); }
  RawTcp tcp;
};

std::string AdminToken(const std::string& dir) {
  const std::string path = dir + "/admin.token";
  std::ofstream(path) << "ops-test-admin-token-0123456789\n";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  return path;
}

}  // namespace

TEST_CASE("every tool refuses a stray argument or a value out of range with exit 2 before touching anything",
          "[integration][cli]") {
  TempDir dir;
  const std::string cwd = dir.str();
  // A forgotten --config: refused, with the hint, and no ./data made in the working directory.
  auto stray = Tool(CHATD_PATH, "/etc/chatd/chatd.conf", cwd);
  CHECK(stray.code == 2);
  CHECK(stray.err.find("did you mean --config /etc/chatd/chatd.conf") != std::string::npos);
  for (const char* args : {"--workers -1", "--workers 0", "--workers 5000", "--max-frame-bytes 10",
                           "--listen nonsense", "--listen 127.0.0.1:70000", "--registration maybe",
                           "--trusted-proxy 10.0.0.1/8", "--trusted-proxy nowhere", "--log-format xml",
                           "--log-level loud", "--call-ring-timeout -5", "--retention-days 0", "--bogus"}) {
    auto r = Tool(CHATD_PATH, args, cwd);
    INFO(args);
    CHECK(r.code == 2);
    CHECK(r.err.rfind("chatd: ", 0) == 0);
  }
  CHECK(Tool(CHATD_PATH, "", cwd, "CHATD_WORKRS=3").code == 2);   // A misspelt variable.
  CHECK(Tool(CHATD_PATH, "", cwd, "CHATD_WORKERS=0").code == 2);  // Out of range from the environment.
  std::ofstream(cwd + "/bad.conf") << "workers = 3\nfrobnicate = 1\n";
  CHECK(Tool(CHATD_PATH, "--config bad.conf", cwd).code == 2);
  CHECK(Tool(CHATD_PATH, "--config missing.conf", cwd).code == 2);
  CHECK_FALSE(fs::exists(cwd + "/data"));

#ifdef CHATCTL_PATH
  CHECK(Tool(CHATCTL_PATH, "stats extra", cwd).code == 2);
  CHECK(Tool(CHATCTL_PATH, "users list --timeout 0", cwd, "CHATCTL_ADMIN_TOKEN=x").code == 2);
  CHECK(Tool(CHATCTL_PATH, "--version", cwd).code == 0);
#endif
#ifdef LOADGEN_PATH
  auto loadgen = Tool(LOADGEN_PATH, "extra", cwd);
  CHECK(loadgen.code == 2);
  CHECK(loadgen.err.find("unexpected argument 'extra'") != std::string::npos);
  CHECK(Tool(LOADGEN_PATH, "--clients -1", cwd).code == 2);
  CHECK(Tool(LOADGEN_PATH, "--clients 0", cwd).code == 2);
  CHECK(Tool(LOADGEN_PATH, "--version", cwd).out.find("libchat") != std::string::npos);
#endif
#ifdef MIGRATE_PATH
  CHECK(Tool(MIGRATE_PATH, "status --store leveldb:///nowhere extra", cwd).code == 2);
  CHECK(Tool(MIGRATE_PATH, "--version", cwd).code == 0);
#endif
#ifdef CLIENT_PATH
  CHECK(Tool(CLIENT_PATH, "--server 127.0.0.1:99999 alice", cwd).code == 2);
  CHECK(Tool(CLIENT_PATH, "alice bob", cwd).code == 2);
  CHECK(Tool(CLIENT_PATH, "--version", cwd).code == 0);
#endif
  auto version = Tool(CHATD_PATH, "--version", cwd);
  CHECK(version.code == 0);
  CHECK(version.out.rfind("chatd ", 0) == 0);
  CHECK_FALSE(fs::exists(cwd + "/data"));
}

TEST_CASE("chatd check-config checks files and ports without opening the store and print-config names sources",
          "[integration][cli]") {
  TempDir dir;
  const std::string data = dir.str() + "/data";
  std::ofstream(dir.str() + "/chatd.conf") << "# a comment\nworkers = 3\nlisten = 127.0.0.1:0\ndata-dir = " << data
                                           << "\ntrusted-proxy = 10.0.0.0/8\ntrusted-proxy = 192.0.2.7\n";
  const std::string conf = "--config " + ShellQuote(dir.str() + "/chatd.conf");
  auto ok = Tool(CHATD_PATH, conf + " --check-config", dir.str());
  CHECK(ok.code == 0);
  CHECK(ok.out.find("configuration OK") != std::string::npos);
  CHECK_FALSE(fs::exists(data));  // Nothing made.

  auto printed = Tool(CHATD_PATH, conf + " --print-config --hash-workers 4", dir.str(), "CHATD_IO_THREADS=2");
  REQUIRE(printed.code == 0);
  auto line_of = [&](const std::string& name) {
    std::istringstream in(printed.out);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(name + " = ", 0) == 0) return line;
    }
    return std::string();
  };
  CHECK(line_of("workers").find("# file " + dir.str() + "/chatd.conf") != std::string::npos);
  CHECK(line_of("workers").rfind("workers = 3 ", 0) == 0);
  CHECK(line_of("io-threads").find("# environment CHATD_IO_THREADS") != std::string::npos);
  CHECK(line_of("hash-workers").find("# command line") != std::string::npos);
  CHECK(line_of("max-connections").find("# default") != std::string::npos);
  CHECK(printed.out.find("trusted-proxy = 192.0.2.7") != std::string::npos);
  // Its output is a config file that loads to the same values.
  std::ofstream(dir.str() + "/printed.conf") << printed.out;
  CHECK(Tool(CHATD_PATH, "--config printed.conf --check-config", dir.str()).code == 0);

  // What the configuration names is checked too: a taken port, a token too short, a missing
  // certificate. None of them leaves a store behind.
  TakenPort taken;
  auto busy = Tool(CHATD_PATH, "--check-config --data-dir data --listen 127.0.0.1:" + std::to_string(taken.port), dir.str());
  CHECK(busy.code == 1);
  CHECK(busy.err.find("cannot bind") != std::string::npos);
  std::ofstream(dir.str() + "/short.token") << "short\n";
  CHECK(Tool(CHATD_PATH, "--check-config --data-dir data --listen 127.0.0.1:0 --admin-token-file short.token",
             dir.str()).code != 0);
  CHECK(Tool(CHATD_PATH, "--data-dir data --listen 127.0.0.1:0 --tls-cert missing.pem --tls-key missing.key",
             dir.str()).code == 1);
  CHECK_FALSE(fs::exists(data));
}

TEST_CASE("SIGHUP reloads a renewed TLS certificate while connected clients stay connected", "[integration][tls][sighup]") {
  TempDir dir;
  fs::create_directory(dir.str() + "/first");
  fs::create_directory(dir.str() + "/second");
  const CertFiles first = WriteLoopbackCert(dir.str() + "/first");
  const CertFiles second = WriteLoopbackCert(dir.str() + "/second");
  const std::string cert = dir.str() + "/cert.pem", key = dir.str() + "/key.pem";
  CopyCert(first, cert, key);
  ChatdProcess chatd(dir.str(), {"--tls-cert", cert, "--tls-key", key});

  auto ada = Client::Connect("127.0.0.1", chatd.port(), Trusting(first.cert_file));
  auto bob = Client::Connect("127.0.0.1", chatd.port(), Trusting(first.cert_file));
  REQUIRE_OK(ada);
  REQUIRE_OK(bob);
  REQUIRE_OK((*ada)->Register("ada", PasswordOf("ada")));
  auto bob_user = (*bob)->Register("bob", PasswordOf("bob"));
  REQUIRE_OK(bob_user);
  REQUIRE_OK((*ada)->Login("ada", PasswordOf("ada"), "laptop", "t"));
  REQUIRE_OK((*bob)->Login("bob", PasswordOf("bob"), "phone", "t"));
  auto chat = (*ada)->CreateGroup("renewal", {bob_user->id});
  REQUIRE_OK(chat);

  // The renewal: new files at the same paths, then SIGHUP.
  CopyCert(second, cert, key);
  REQUIRE(::kill(chatd.pid(), SIGHUP) == 0);
  REQUIRE(WaitForLog(chatd, "TLS certificate reloaded"));
  // New connections get the new certificate; a client trusting only the old one no longer connects.
  REQUIRE_OK(Client::Connect("127.0.0.1", chatd.port(), Trusting(second.cert_file)));
  CHECK_FALSE(Client::Connect("127.0.0.1", chatd.port(), Trusting(first.cert_file)).ok());
  // The connections made before are still there and still deliver.
  auto sent = (*ada)->SendMessage(chat->id, "after", "after the renewal");
  REQUIRE_OK(sent);
  auto ev = WaitForMessage(**bob, chat->id, sent->message.seq);
  REQUIRE(ev.has_value());
  CHECK(ev->entry->body == "after the renewal");

  // A broken renewal changes nothing and says why.
  std::ofstream(cert, std::ios::trunc) << "not a certificate\n";
  REQUIRE(::kill(chatd.pid(), SIGHUP) == 0);
  REQUIRE(WaitForLog(chatd, "TLS certificate not reloaded"));
  REQUIRE_OK(Client::Connect("127.0.0.1", chatd.port(), Trusting(second.cert_file)));
  CHECK(chatd.SignalAndWait(SIGTERM) == 0);
}

TEST_CASE("SIGHUP names what needs a restart and other signals are logged and never fatal",
          "[integration][signals]") {
  TempDir dir;
  const std::string conf = dir.str() + "/chatd.conf";
  std::ofstream(conf) << "log-level = info\nworkers = 2\n";
  ChatdProcess chatd(dir.str(), {"--config", conf, "--log-level", "info"});
  // The command line wins over the file: the level stays info...
  std::ofstream(conf, std::ios::trunc) << "log-level = debug\nworkers = 3\n";
  REQUIRE(::kill(chatd.pid(), SIGHUP) == 0);
  REQUIRE(WaitForLog(chatd, "SIGHUP: reload done"));
  CHECK(chatd.Log().find("--workers changed in the configuration; it takes effect at the next restart") !=
        std::string::npos);
  CHECK(chatd.Log().find("log level info -> debug") == std::string::npos);

  for (int sig : {SIGUSR1, SIGUSR2, SIGALRM, SIGRTMIN + 1}) {
    REQUIRE(::kill(chatd.pid(), sig) == 0);
  }
  REQUIRE(WaitForLog(chatd, "received SIGUSR1; ignored"));
  REQUIRE(WaitForLog(chatd, "received SIGUSR2; ignored"));
  REQUIRE(WaitForLog(chatd, "received SIGALRM; ignored"));
  REQUIRE(WaitForLog(chatd, "received SIGRTMIN+1; ignored"));
  CHECK(HttpGet(chatd.port(), "/healthz") == "200\nok\n");
  CHECK(chatd.SignalAndWait(SIGTERM) == 0);
  CHECK(chatd.Log().find("received SIGTERM; stopping") != std::string::npos);
}

TEST_CASE("SIGHUP applies a new log level from the config file", "[integration][signals]") {
  TempDir dir;
  const std::string conf = dir.str() + "/chatd.conf";
  std::ofstream(conf) << "log-level = info\npassword-cost = minimum\n";
  // Without ChatdProcess's --log-level on the command line, which would win over the file.
  Subprocess chatd({CHATD_PATH, "--listen", "127.0.0.1:0", "--data-dir", dir.str() + "/data", "--config", conf},
                   dir.str() + "/chatd.log");
  REQUIRE_FALSE(chatd.WaitForLine("chatd listening on ", 15s).empty());
  std::ofstream(conf, std::ios::trunc) << "log-level = debug\npassword-cost = minimum\n";
  REQUIRE(::kill(chatd.pid(), SIGHUP) == 0);
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (Slurp(dir.str() + "/chatd.log").find("SIGHUP: reload done") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  const std::string log = Slurp(dir.str() + "/chatd.log");
  INFO(log);
  CHECK(log.find("SIGHUP: log level info -> debug") != std::string::npos);
  CHECK(log.find("takes effect at the next restart") == std::string::npos);
  CHECK(chatd.SignalAndWait(SIGTERM, 15s) == 0);
}

TEST_CASE("SIGHUP re-reads the admin token file and refuses a weak one", "[integration][signals][admin]") {
  TempDir dir;
  const std::string token = AdminToken(dir.str());
  ChatdProcess chatd(dir.str(), {"--admin-listen", "127.0.0.1:0", "--admin-token-file", token});
  const std::string url = "http://127.0.0.1:" + std::to_string(chatd.AdminPort());
  auto stats_with = [&](const std::string& t) {
    return RunCommand("curl -s -o /dev/null -w '%{http_code}' -H " + ShellQuote("Authorization: Bearer " + t) + " " +
                          ShellQuote(url + "/v1/stats"),
                      dir.str())
        .out;
  };
  if (std::system("command -v curl > /dev/null 2>&1") != 0) {
    WARN("no curl: the admin token reload is not checked");
    return;
  }
  CHECK(stats_with("ops-test-admin-token-0123456789") == "200");
  // A rotated token: the new one works from the SIGHUP on, the old one no more.
  std::ofstream(token, std::ios::trunc) << "rotated-admin-token-9876543210zyx\n";
  REQUIRE(::kill(chatd.pid(), SIGHUP) == 0);
  REQUIRE(WaitForLog(chatd, "SIGHUP: admin token re-read"));
  CHECK(stats_with("rotated-admin-token-9876543210zyx") == "200");
  CHECK(stats_with("ops-test-admin-token-0123456789") == "401");
  // A weak token is refused and the current one stays.
  std::ofstream(token, std::ios::trunc) << "aaaaaaaaaaaaaaaaaaaa\n";
  REQUIRE(::kill(chatd.pid(), SIGHUP) == 0);
  REQUIRE(WaitForLog(chatd, "refused, the current one stays"));
  CHECK(stats_with("rotated-admin-token-9876543210zyx") == "200");
}

TEST_CASE("registration closed refuses sign-ups and invite accepts a code from chatctl invites create once",
          "[integration][registration]") {
  TempDir dir;
  const std::string token = AdminToken(dir.str());
  SECTION("closed") {
    ChatdProcess chatd(dir.str(), {"--registration", "closed"});
    auto c = chatd.Connect();
    Reply r = c->Call("register", Json{{"username", "eve"}, {"password", "password-eve"}}.dump());
    CHECK_FALSE(r.ok);
    CHECK(r.code == "permission_denied");
    CHECK(r.message.find("registration is closed") != std::string::npos);
  }
  SECTION("invite") {
    ChatdProcess chatd(dir.str(), {"--registration", "invite", "--admin-listen", "127.0.0.1:0", "--admin-token-file",
                                   token});
    const std::string admin = "--admin-url http://127.0.0.1:" + std::to_string(chatd.AdminPort()) +
                              " --admin-token-file " + ShellQuote(token);
    auto c = chatd.Connect();
    Reply none = c->Call("register", Json{{"username", "ann"}, {"password", "password-ann"}}.dump());
    CHECK(none.code == "permission_denied");
#ifdef CHATCTL_PATH
    auto made = Tool(CHATCTL_PATH, "invites create --uses 1 " + admin, dir.str());
    REQUIRE(made.code == 0);
    std::string code = made.out.substr(0, made.out.find('\n'));
    Reply ok = c->Call("register", Json{{"username", "ann"}, {"password", "password-ann"}, {"invite", code}}.dump());
    CHECK(ok.ok);
    Reply used = c->Call("register", Json{{"username", "ben"}, {"password", "password-ben"}, {"invite", code}}.dump());
    CHECK(used.code == "permission_denied");
    Reply forged = c->Call("register",
                           Json{{"username", "ben"}, {"password", "password-ben"}, {"invite", "0123456789abcdef01234567"}}
                               .dump());
    CHECK(forged.code == "permission_denied");
    // The audit line of the invitation is in chatd's log, with a time and a level.
    REQUIRE(WaitForLog(chatd, "admin: invitation"));
    std::istringstream log(chatd.Log());
    bool stamped = false;
    for (std::string line; std::getline(log, line);) {
      if (line.find("admin: invitation") != std::string::npos) {
        stamped = std::regex_search(line, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO admin: invitation)"));
      }
    }
    CHECK(stamped);
#endif
  }
}

TEST_CASE("X-Forwarded-For names the client only on connections from a trusted proxy", "[integration][proxy]") {
  TempDir dir;
  SECTION("no trusted proxy: the header is ignored, every connection is the peer's") {
    ChatdProcess chatd(dir.str(), {"--max-connections-per-address", "1"});
    ProxiedRequest first(chatd.port(), "10.0.0.1");
    CHECK(first.Answer().find("200 OK") != std::string::npos);
    // Another "client" on the same peer address: refused at accept, whatever the header says.
    ProxiedRequest second(chatd.port(), "10.0.0.2");
    CHECK(second.Answer().find("200 OK") == std::string::npos);
  }
  SECTION("127.0.0.1 trusted: each forwarded client counts apart") {
    ChatdProcess chatd(dir.str(), {"--max-connections-per-address", "1", "--trusted-proxy", "127.0.0.1"});
    ProxiedRequest first(chatd.port(), "10.0.0.1");
    CHECK(first.Answer().find("200 OK") != std::string::npos);
    ProxiedRequest second(chatd.port(), "203.0.113.9, 10.0.0.2");
    CHECK(second.Answer().find("200 OK") != std::string::npos);
    // The same forwarded client twice: its limit holds.
    ProxiedRequest third(chatd.port(), "10.0.0.1");
    CHECK(third.Answer().find("429") != std::string::npos);
  }
}

TEST_CASE("metrics serve process and build and per-command and send-to-fan-out figures and log-format json logs",
          "[integration][metrics]") {
  TempDir dir;
  ChatdProcess chatd(dir.str(), {"--log-format", "json"});
  RegisterUser(chatd, "ada");
  RegisterUser(chatd, "bob");
  auto a = LoginDevice(chatd, "ada", "laptop");
  auto b = LoginDevice(chatd, "bob", "phone");
  auto chat = a.client->CreateGroup("g", {b.user()});
  REQUIRE_OK(chat);
  auto sent = a.client->SendMessage(chat->id, "m1", "hello");
  REQUIRE_OK(sent);
  REQUIRE(WaitForMessage(*b.client, chat->id, sent->message.seq).has_value());
  CHECK_FALSE(a.client->Call("login", Json{{"username", "ada"}, {"password", "wrong-password"}, {"deviceKind", "x"},
                                           {"deviceName", "y"}}.dump()).ok);
  const std::string metrics = HttpGet(chatd.port(), "/metrics");
  for (const char* name : {"process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds ",
                           "process_max_fds ", "process_start_time_seconds ", "chat_build_info{",
                           "chat_command_requests_total{command=\"sendMessage\",code=\"ok\"} 1",
                           "chat_command_latency_seconds_bucket{command=\"sendMessage\",code=\"ok\"",
                           "chat_send_fanout_latency_seconds_bucket"}) {
    INFO(name);
    CHECK(metrics.find(name) != std::string::npos);
  }
  CHECK(std::regex_search(metrics, std::regex(R"(chat_command_requests_total\{command="login",code="[a-z_]+"\} 1)")));
  CHECK(MetricValue(chatd.port(), "process_resident_memory_bytes") > 0);
  CHECK(MetricValue(chatd.port(), "chat_send_fanout_latency_seconds_count") >= 1);
  // The message's path, stage by stage: once each up to its fan-out, then once per device it was
  // written to (bob's, and ada's own copy). The last stages are recorded as the writes complete,
  // which may be a moment after the clients read them.
  auto stage_count = [&chatd](const char* stage) {
    return MetricValue(chatd.port(), std::string("chat_message_stage_seconds_count{stage=\"") + stage + "\"}");
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((stage_count("fanout_to_written") < 2 || stage_count("worker_to_queued") < 1) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const char* stage : {"read_to_worker", "worker_to_queued", "queued_to_durable", "durable_to_fanout"}) {
    INFO(stage);
    CHECK(stage_count(stage) == 1);
  }
  CHECK(stage_count("fanout_to_written") == 2);
  CHECK(metrics.find("chat_message_stage_seconds_bucket{stage=\"queued_to_durable\",le=\"1e-05\"}") !=
        std::string::npos);
#ifdef CHATCTL_PATH
  // chatctl stats reads the process metrics: the resident memory is a figure, not "n/a".
  auto stats = Tool(CHATCTL_PATH, "stats --metrics-url http://127.0.0.1:" + std::to_string(chatd.port()) + "/metrics",
                    dir.str());
  REQUIRE(stats.code == 0);
  const auto rss = stats.out.find("rss:");
  REQUIRE(rss != std::string::npos);
  CHECK(stats.out.substr(rss, stats.out.find('\n', rss) - rss).find("n/a") == std::string::npos);
#endif
  // Every log line is one JSON object with a time, a level and the message.
  std::istringstream log(chatd.Log());
  int lines = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.empty()) continue;
    const Json j = Json::parse(line, nullptr, false);
    INFO(line);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j.contains("time"));
    CHECK(j.contains("level"));
    CHECK(j.contains("msg"));
    ++lines;
  }
  CHECK(lines > 2);
}

TEST_CASE("the Prometheus rules pass promtool and every metric the rules and the dashboard name is served",
          "[integration][monitoring]") {
  TempDir dir;
  const std::string rules_dir = LIBCHAT_SOURCE_DIR "/packaging/prometheus";
  if (std::system("command -v promtool > /dev/null 2>&1") == 0) {
    auto check = Tool("promtool", "check rules chatd-alerts.yml", rules_dir);
    CHECK(check.code == 0);
    auto unit = Tool("promtool", "test rules chatd-alerts.test.yml", rules_dir);
    CHECK(unit.code == 0);
  } else {
    WARN("promtool is not installed (Debian: prometheus): the rules are not checked");
  }
  const Json dashboard = Json::parse(Slurp(LIBCHAT_SOURCE_DIR "/packaging/grafana/chatd-dashboard.json"), nullptr, false);
  REQUIRE_FALSE(dashboard.is_discarded());
  REQUIRE(dashboard.at("panels").size() > 5);
  std::string exprs = Slurp(rules_dir + "/chatd-alerts.yml");
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.value("targets", Json::array())) exprs += "\n" + target.at("expr").get<std::string>();
  }

  // A chatd with some traffic: the metrics that only appear once used are there.
  ChatdProcess chatd(dir.str());
  RegisterUser(chatd, "ada");
  auto ada = LoginDevice(chatd, "ada", "laptop");
  auto chat = ada.client->CreateGroup("g", {});
  REQUIRE_OK(chat);
  REQUIRE_OK(ada.client->SendMessage(chat->id, "m", "hi"));
  const std::string metrics = HttpGet(chatd.port(), "/metrics");
  std::set<std::string> names;
  const std::regex metric(R"(\b((?:chat|process)_[a-z_]+))");
  for (auto it = std::sregex_iterator(exprs.begin(), exprs.end(), metric); it != std::sregex_iterator(); ++it) {
    std::string name = (*it)[1];
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      if (name.size() > std::strlen(suffix) && name.compare(name.size() - std::strlen(suffix), std::string::npos, suffix) == 0) {
        name.resize(name.size() - std::strlen(suffix));
      }
    }
    names.insert(name);
  }
  REQUIRE(names.size() > 10);
  for (const std::string& name : names) {
    INFO(name << " is used by packaging/ but chatd does not serve it");
    CHECK(metrics.find("\n" + name) != std::string::npos);
  }
}

TEST_CASE("docs/operations.md documents every option chatd --help prints", "[integration][docs]") {
  TempDir dir;
  auto help = Tool(CHATD_PATH, "--help", dir.str());
  REQUIRE(help.code == 0);
  std::set<std::string> flags;
  const std::regex option(R"(^\s+(?:-[a-z] \[ )?--([a-z0-9-]+))");
  std::istringstream in(help.out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, option)) flags.insert(m[1]);
  }
  REQUIRE(flags.size() > 40);
  const std::string docs = Slurp(LIBCHAT_SOURCE_DIR "/docs/operations.md");
  REQUIRE_FALSE(docs.empty());
  for (const std::string& f : flags) {
    INFO("--" << f << " is printed by chatd --help but not documented in docs/operations.md");
    CHECK(docs.find("--" + f) != std::string::npos);
  }
}

}  // namespace chat::test
