// Cluster operations on real processes: three chatd nodes on one throw-away PostgreSQL database and a
// NATS cluster. Clients given every node fail over when theirs dies (chat::Client and chat-loadgen,
// which fails on any message lost, duplicated or out of order), a rolling restart of every node under
// load loses nothing, a NATS server killed under load loses nothing, an attachment uploaded through
// one node downloads through another, and `chatctl nodes` on any node lists every node.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include "chatd_process.h"
#include "nats_cluster.h"
#include "pg_cluster.h"

#ifndef LOADGEN_PATH
#error "LOADGEN_PATH must name the chat-loadgen binary"
#endif
#ifndef CHATCTL_BIN
#error "CHATCTL_BIN must name the chatctl binary"
#endif

using namespace chat;
using namespace chat::test;
using Json = nlohmann::json;

namespace {

// A free TCP port of 127.0.0.1 now (bound and released): a node restarted in place keeps it.
std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Waits until `done` holds, polling every 50 ms; false after `timeout`.
template <class Done>
bool WaitFor(Done done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// Three chatd nodes on a database of their own, each on a fixed port of 127.0.0.1 (so that a node
// restarted in place is where its clients look for it) and attached to server i of `nats_url(i)`.
struct Cluster {
  explicit Cluster(std::function<std::string(int)> nats_url, std::vector<std::string> extra = {})
      : nats(std::move(nats_url)), extra_args(std::move(extra)) {
    auto made = SharedPgCluster().NewDatabase();
    REQUIRE_OK(made);
    db = *made;
    store = SharedPgCluster().Uri(db) + "?pool=4";
    prefix = "f" + db;  // A subject prefix of its own: the database's name is unique.
    for (int i = 0; i < 3; ++i) {
      ports[i] = FreePort();
      Start(i);
    }
  }
  ~Cluster() {
    for (auto& n : node) n.reset();
    SharedPgCluster().DropDatabase(db).IgnoreError();
  }

  std::vector<std::string> Args(int i) const {
    static const char* names[] = {"node-a", "node-b", "node-c"};
    std::vector<std::string> args = {"--listen",    "127.0.0.1:" + std::to_string(ports[i]),
                                     "--store",     store,
                                     "--bus",       nats(i) + "?prefix=" + prefix,
                                     "--node-id",   names[i],
                                     "--log-level", "info",
                                     "--spam",      "off"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return args;
  }
  void Start(int i) { node[i] = std::make_unique<ChatdProcess>(dirs[i].str(), Args(i)); }
  // SIGTERM, wait for a clean exit, start again on the same port and data dir.
  void Restart(int i) {
    const int code = node[i]->SignalAndWait(SIGTERM);
    INFO("node " << i << "'s log:\n" << node[i]->Log());
    REQUIRE(code == 0);
    Start(i);
  }
  std::string Urls() const {
    std::string out;
    for (int i = 0; i < 3; ++i) out += (i ? "," : "") + std::string("ws://127.0.0.1:") + std::to_string(ports[i]) + "/ws";
    return out;
  }
  std::vector<std::string> Failover(int except) const {
    std::vector<std::string> out;
    for (int i = 0; i < 3; ++i) {
      if (i != except) out.push_back("127.0.0.1:" + std::to_string(ports[i]));
    }
    return out;
  }

  std::function<std::string(int)> nats;
  std::vector<std::string> extra_args;
  std::string db, store, prefix;
  std::uint16_t ports[3] = {0, 0, 0};
  TempDir dirs[3];
  std::unique_ptr<ChatdProcess> node[3];
};

// Three NATS servers of the test's own (it stops or kills one of them) and a Cluster on them, node i
// attached to server i.
struct OwnNats {
  OwnNats() : nats(Start()), c([this](int i) { return nats->Url(i); }) {}
  static std::unique_ptr<NatsCluster> Start() {
    auto made = NatsCluster::Start(3);
    REQUIRE_OK(made);
    return std::move(*made);
  }
  std::unique_ptr<NatsCluster> nats;  // Declared first: outlives the nodes.
  Cluster c;
};

// Alice signed in on node B with her phone (a device in B's registry, B's bus in use), then node B's
// NATS server frozen: it keeps B's connection open and answers nothing.
struct AliceOnSilentNodeB {
  AliceOnSilentNodeB() {
    RegisterUser(*own.c.node[0], "alice");
    phone.emplace(LoginDevice(*own.c.node[1], "alice", "a-phone"));
    REQUIRE(own.nats->Freeze(1));
  }
  OwnNats own;
  std::optional<LiveDevice> phone;
};

NatsCluster& SharedNats() {
  auto nats = SharedNatsCluster();
  REQUIRE_OK(nats);
  return **nats;
}

// chat-loadgen over every node of `cluster`, running in the background.
struct Loadgen {
  Loadgen(const Cluster& cluster, const TempDir& dir, double duration_s, double rate)
      : process({LOADGEN_PATH, "--url", cluster.Urls(), "--clients", "30", "--group-size", "5", "--rate",
                 std::to_string(rate), "--duration", std::to_string(duration_s), "--timeout", "15", "--threads", "1",
                 "--state", dir.str() + "/loadgen.json", "--json", "--quiet"},
                dir.str() + "/loadgen.err") {}
  // Waits for the end; the report (REQUIREs that it is one).
  Json Report() {
    const int code = process.Wait(std::chrono::seconds(90));
    // The JSON object is the last line of stdout.
    std::string out = process.output();
    while (!out.empty() && out.back() == '\n') out.pop_back();
    const std::size_t nl = out.rfind('\n');
    INFO("chat-loadgen exit " << code << ", output:\n" << process.output());
    const Json j = Json::parse(nl == std::string::npos ? out : out.substr(nl + 1), nullptr, false);
    REQUIRE(j.is_object());
    return j;
  }
  Subprocess process;
};

// The run passed: every acknowledged message reached every other member once and in order.
void RequirePassed(const Json& j) {
  INFO(j.dump(2));
  CHECK(j["ok"] == true);
  CHECK(j["lost"] == 0);
  CHECK(j["duplicates"] == 0);
  CHECK(j["reordered"] == 0);
  CHECK(j["send_failed"] == 0);
  CHECK(j["unresolved"] == 0);
  CHECK(j["delivered"] == j["expected"]);
  CHECK(j["expected"].get<std::uint64_t>() > 0);
}

// What the nodes say of the bus between them (printed when a run fails): their bus metrics and the
// log lines of their routers and buses.
std::string BusReport(const Cluster& c) {
  std::ostringstream out;
  for (int i = 0; i < 3; ++i) {
    if (!c.node[i]) continue;
    out << "node " << i << ":";
    for (const char* m : {"chat_bus_entries_repaired_total", "chat_bus_duplicates_dropped_total",
                          "chat_bus_seqs_skipped_total"}) {
      out << " " << m << "=" << MetricValue(c.node[i]->port(), m);
    }
    out << "\n";
    std::istringstream log(c.node[i]->Log());
    for (std::string line; std::getline(log, line);) {
      if (line.find("router") != std::string::npos || line.find("bus") != std::string::npos) out << "  " << line << "\n";
    }
  }
  return out.str();
}

// Messages the nodes have taken in so far (each node counts its own clients' sends).
double MessagesIn(const Cluster& c) {
  double sum = 0;
  for (const auto& n : c.node) {
    if (n) sum += std::max(0.0, MetricValue(n->port(), "chat_messages_in_total"));
  }
  return sum;
}

}  // namespace

TEST_CASE("chat::Client given every node fails over when its node is killed, resumes there and syncs exactly "
          "what it missed",
          "[nats][postgres][failover]") {
  Cluster c([](int i) { return SharedNats().Url(i); });
  const UserId alice = RegisterUser(*c.node[0], "alice");
  const UserId bob = RegisterUser(*c.node[0], "bob");
  (void)alice;
  LiveDevice sender = LoginDevice(*c.node[0], "alice", "a-phone");
  auto chat = sender.client->CreateGroup("failover", {bob});
  REQUIRE_OK(chat);

  // Bob on node B, with A and C to fall back on.
  ClientOptions options;
  options.failover = c.Failover(1);
  auto bob_client = Client::Connect("127.0.0.1", c.ports[1], options);
  REQUIRE_OK(bob_client);
  Client& b = **bob_client;
  REQUIRE_OK(b.Login("bob", PasswordOf("bob"), "laptop", "b-laptop"));
  auto first = sender.client->SendMessage(chat->id, "m0", "before");
  REQUIRE_OK(first);
  // Bob's cursor is at the chat's head (by sync: an entry published on A in the instant before every
  // NATS server knows B's new interest would come only with the next one, docs/scaling.md).
  REQUIRE_OK(b.Sync({{chat->id, 0}}));
  CHECK(b.LastSeq(chat->id) == first->message.seq);
  CHECK(b.server() == "127.0.0.1:" + std::to_string(c.ports[1]));

  c.node[1]->Kill9();
  REQUIRE(b.WaitForClose(kWait).has_value());
  std::vector<Seq> missed;
  for (int i = 1; i <= 5; ++i) {
    auto sent = sender.client->SendMessage(chat->id, "m" + std::to_string(i), "while away " + std::to_string(i));
    REQUIRE_OK(sent);
    missed.push_back(sent->message.seq);
  }
  // The node is gone: Reconnect goes on to the next one, resumes the session there.
  REQUIRE_OK(b.Reconnect());
  CHECK(b.server() == c.Failover(1)[0]);
  CHECK(b.user() == bob);
  auto synced = b.Sync(b.Cursors());
  REQUIRE_OK(synced);
  std::vector<Seq> got;
  for (const SyncPage& p : synced->chats) {
    if (p.chat != chat->id) continue;
    for (const Message& m : p.messages) got.push_back(m.seq);
  }
  CHECK(got == missed);
  CHECK(b.LastSeq(chat->id) == missed.back());
  // Live again on the new node.
  auto after = sender.client->SendMessage(chat->id, "m6", "back");
  REQUIRE_OK(after);
  auto ev = WaitForMessage(b, chat->id, after->message.seq);
  REQUIRE(ev.has_value());
  CHECK_FALSE(ev->gap);

  // A client whose first address is down starts on the next one.
  ClientOptions spread;
  spread.failover = {"127.0.0.1:" + std::to_string(c.ports[2])};
  auto late = Client::Connect("127.0.0.1", c.ports[1], spread);
  REQUIRE_OK(late);
  CHECK((*late)->server() == "127.0.0.1:" + std::to_string(c.ports[2]));
  ClientOptions bad;
  bad.failover = {"no-port"};
  CHECK_CODE(Client::Connect("127.0.0.1", c.ports[0], bad), StatusCode::kInvalidArgument);
}

TEST_CASE("chat-loadgen across three nodes: one node killed with SIGKILL mid-run, its clients fail over to the "
          "others and resync, nothing lost, duplicated or reordered",
          "[nats][postgres][failover][loadgen]") {
  Cluster c([](int i) { return SharedNats().Url(i); });
  TempDir dir;
  Loadgen run(c, dir, 6, 150);
  // Mid-run: once the load is flowing.
  REQUIRE(WaitFor([&] { return MessagesIn(c) >= 200; }, std::chrono::seconds(30)));
  c.node[1]->Kill9();
  const Json j = run.Report();
  RequirePassed(j);
  // A third of the clients were on node B: they failed over (and resynced from their cursors).
  CHECK(j["failovers"].get<std::uint64_t>() >= 10);
  CHECK(j["disconnects"].get<std::uint64_t>() >= 10);
}

TEST_CASE("chat-loadgen across three nodes: a rolling restart of every node loses nothing, and clients see "
          "nothing but reconnects",
          "[nats][postgres][failover][loadgen]") {
  Cluster c([](int i) { return SharedNats().Url(i); });
  TempDir dir;
  Loadgen run(c, dir, 9, 120);
  REQUIRE(WaitFor([&] { return MessagesIn(c) >= 150; }, std::chrono::seconds(30)));
  for (int i : {1, 2, 0}) {
    c.Restart(i);
    // Back and serving before the next one goes.
    REQUIRE(WaitFor([&] { return HttpGet(c.node[i]->port(), "/readyz") == "200\nready\n"; }, std::chrono::seconds(10)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const Json j = run.Report();
  RequirePassed(j);
  CHECK(j["failovers"].get<std::uint64_t>() >= 30);
  // Every error a client saw was its connection ending (a close code, or a connect/read failure while
  // a node was down), never a refused request.
  for (const auto& [code, n] : j["errors"].items()) {
    INFO("error " << code << " x" << n);
    CHECK((code.rfind("close_", 0) == 0 || code.find(':') != std::string::npos));
  }
}

TEST_CASE("chat-loadgen across three nodes: the NATS server a node is attached to is killed mid-run, the node "
          "moves to another server, repairs its gaps from the store, and nothing is lost",
          "[nats][postgres][failover][loadgen]") {
  // A private NATS cluster: one of its servers is killed.
  OwnNats own;
  NatsCluster& nats = *own.nats;
  Cluster& c = own.c;
  TempDir dir;
  Loadgen run(c, dir, 6, 150);
  REQUIRE(WaitFor([&] { return MessagesIn(c) >= 200; }, std::chrono::seconds(30)));
  nats.Kill9(1);
  const Json j = run.Report();
  INFO(BusReport(c));
  RequirePassed(j);
  // Node B lost its server: it reconnected to another one (its log says so) and checked its chats
  // against the store; its own clients never had to reconnect.
  CHECK(WaitFor([&] { return c.node[1]->Log().find("the bus may have lost events") != std::string::npos; },
                std::chrono::seconds(5)));
  CHECK(j["disconnects"] == 0);
  CHECK(HttpGet(c.node[1]->port(), "/readyz") == "200\nready\n");
}

// Core NATS delivers at most once: a message node B published into its server just before that server
// died is gone from the bus. The other nodes repair such a gap when a later entry of the chat reaches
// them; here it is the chat's last message, so node B publishes its latest entries again once it has
// reconnected, and node A repairs from the store what it shows missing.
TEST_CASE("a chat's last message, acknowledged by a node whose NATS server then died with it, still reaches the "
          "recipients on other nodes",
          "[nats][postgres][failover]") {
  OwnNats own;
  NatsCluster& nats = *own.nats;
  Cluster& c = own.c;
  RegisterUser(*c.node[0], "alice");
  const UserId bob = RegisterUser(*c.node[0], "bob");
  LiveDevice alice = LoginDevice(*c.node[1], "alice", "a-phone");
  LiveDevice bob_a = LoginDevice(*c.node[0], "bob", "b-phone");
  auto chat = alice.client->CreateGroup("tail", {bob});
  REQUIRE_OK(chat);
  auto first = alice.client->SendMessage(chat->id, "t1", "the first");
  REQUIRE_OK(first);
  REQUIRE(WaitForMessage(*bob_a.client, chat->id, first->message.seq, std::chrono::seconds(10)).has_value());
  // Node A reads a chat it started to watch from the store once more a second later (Router::
  // kLossRecheck): past that, only the bus can bring it the next message.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  REQUIRE(nats.Freeze(1));  // Node B's server reads nothing more: what B publishes stays in its socket.
  auto last = alice.client->SendMessage(chat->id, "t2", "the last");
  REQUIRE_OK(last);  // Committed and acknowledged by node B.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  nats.Kill9(1);
  CHECK(WaitForMessage(*bob_a.client, chat->id, last->message.seq, std::chrono::seconds(10)).has_value());
}

// A server that stops answering (here: stopped) keeps its clients' connections open: each request to
// it waits out its timeout until the client's pings notice (two intervals). A sign-in must not queue
// such waits one after the other (the login throttle's shared records, the chats' interest, the live
// registry): it is answered within a few seconds, from what the node knows itself.
TEST_CASE("a sign-in through a node whose NATS server stopped answering is answered within seconds",
          "[nats][postgres][failover]") {
  AliceOnSilentNodeB setup;
  NatsCluster& nats = *setup.own.nats;
  Cluster& c = setup.own.c;
  auto laptop = c.node[1]->Connect();
  const auto begun = std::chrono::steady_clock::now();
  auto signed_in = laptop->Login("alice", PasswordOf("alice"), "laptop", "a-laptop");
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - begun);
  INFO("answered in " << took.count() << " ms; node B's log:\n" << c.node[1]->Log());
  REQUIRE_OK(signed_in);
  CHECK(took < std::chrono::milliseconds(8000));  // Measured: ~5 s (one 1 s bucket request, 4 s for the rest).
  // And the node goes on serving the session: its chats come from the store.
  auto chats = laptop->ListChats();
  CHECK(chats.ok());
  nats.Kill9(1);  // Node B's connection closes: it moves to another server and stops without waiting on it.
}

// The stop of a node whose NATS server went silent: each request already sent waits out its timeout
// (5 s), so at most one such wait may hold the stop (the registry's writers and its heartbeat thread
// wait side by side), not one after the other.
TEST_CASE("a node whose NATS server stopped answering stops on SIGTERM within one request timeout",
          "[nats][postgres][failover]") {
  AliceOnSilentNodeB setup;
  NatsCluster& nats = *setup.own.nats;
  Cluster& c = setup.own.c;
  setup.phone.reset();  // Its session closes: a registry write goes to the silent server.
  // Past a heartbeat period (chatd's default TTL, 6 s: a beat every 1.5 s), so that the heartbeat
  // thread is waiting on the silent server too.
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  const auto begun = std::chrono::steady_clock::now();
  const int code = c.node[1]->SignalAndWait(SIGTERM);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - begun);
  INFO("stopped in " << took.count() << " ms; node B's log:\n" << c.node[1]->Log());
  CHECK(code == 0);
  CHECK(took < std::chrono::milliseconds(7500));  // Measured: 5.5 s (9.9 s before). One 5 s request timeout, and room.
  c.node[1].reset();
  nats.Kill9(1);
}

TEST_CASE("an attachment uploaded through one node downloads through another (blob store in PostgreSQL)",
          "[nats][postgres][attachments]") {
  // The nodes' --blob-store: a database of its own on the shared server.
  auto made_db = SharedPgCluster().NewDatabase();
  REQUIRE_OK(made_db);
  const std::string blobs = SharedPgCluster().Uri(*made_db);
  Cluster c([](int i) { return SharedNats().Url(i); }, {"--blob-store", blobs});
  RegisterUser(*c.node[0], "alice");
  const UserId bob = RegisterUser(*c.node[0], "bob");
  LiveDevice alice = LoginDevice(*c.node[0], "alice", "a-phone");
  LiveDevice bob_b = LoginDevice(*c.node[1], "bob", "b-phone");
  auto chat = alice.client->CreateGroup("files", {bob});
  REQUIRE_OK(chat);
  std::string bytes(600 * 1024, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 % 251);
  bytes.replace(0, 9, "%PDF-1.4\n");  // What the server checks a declared PDF starts with.
  auto uploaded = alice.client->UploadAttachment(AttachmentKind::kDocument, "application/pdf", bytes);
  REQUIRE_OK(uploaded);
  SendOptions more;
  more.kind = MessageKind::kDocument;
  more.attachments = {uploaded->id};
  REQUIRE_OK(alice.client->SendMessage(chat->id, "f1", "the file", more));
  auto down = bob_b.client->DownloadAttachment(uploaded->id);
  REQUIRE_OK(down);
  CHECK(*down == bytes);
  // Not in any node's folder: node A's data dir holds no blob.
  std::error_code ec;
  CHECK_FALSE(std::filesystem::exists(c.dirs[0].path() / "blobs", ec));
  CHECK(SharedPgCluster().Sql("SELECT count(*) FROM blobs", *made_db).value() == "1");
  SharedPgCluster().DropDatabase(*made_db).IgnoreError();
}

TEST_CASE("chatctl nodes on any node lists every node with its connections and last heartbeat, a killed node "
          "stops beating and a stopped one says so",
          "[nats][postgres][nodes]") {
  TempDir token_dir;
  const std::string token_file = (token_dir.path() / "token").string();
  WriteFile(token_dir.path() / "token", "0123456789abcdef0123456789abcdef\n");
  ::chmod(token_file.c_str(), 0600);
  Cluster c([](int i) { return SharedNats().Url(i); },
            {"--admin-token-file", token_file, "--admin-listen", "127.0.0.1:0"});
  // Two connections on node C.
  auto c1 = c.node[2]->Connect();
  auto c2 = c.node[2]->Connect();
  auto nodes = [&](int via) {
    const std::string cmd = std::string(CHATCTL_BIN) + " nodes --json --admin-url http://127.0.0.1:" +
                            std::to_string(c.node[via]->AdminPort()) + " --admin-token-file " + ShellQuote(token_file);
    CommandRun r = RunCommand(cmd, token_dir.str());
    INFO(r.err);
    REQUIRE(r.code == 0);
    return Json::parse(r.out);
  };
  // Heartbeats every 5 s: node C's row counts its two connections by its next one.
  Json j;
  REQUIRE(WaitFor(
      [&] {
        j = nodes(0);
        return j["nodes"].size() == 3 && j["nodes"][2]["connections"] == 2;
      },
      std::chrono::seconds(12)));
  CHECK(j["self"] == "node-a");
  for (int i = 0; i < 3; ++i) {
    const Json& n = j["nodes"][i];
    CHECK(n["nodeId"] == std::string("node-") + static_cast<char>('a' + i));
    CHECK(n["state"] == "up");
    CHECK(n["listen"] == "127.0.0.1:" + std::to_string(c.ports[i]));
    CHECK(n["metrics"] == "http://127.0.0.1:" + std::to_string(c.ports[i]) + "/metrics");
    CHECK(n["heartbeatAgeMs"].get<std::int64_t>() < 10000);
  }
  // The same list from node B; and per-node metrics where it says.
  CHECK(nodes(1)["nodes"].size() == 3);
  CHECK(MetricValue(c.ports[2], "chat_websockets") == 2);

  // Node B stops cleanly: "stopped". Node C is killed: its row ages, and turns silent after 15 s;
  // its age is what matters here (no waiting 15 s): it no longer moves.
  c.node[1]->SignalAndWait(SIGTERM);
  c.node[2]->Kill9();
  j = nodes(0);
  CHECK(j["nodes"][1]["state"] == "stopped");
  CHECK(j["nodes"][1]["connections"] == 0);
  const std::int64_t last = j["nodes"][2]["lastHeartbeat"];
  // Longer than a heartbeat interval: node A has beaten again since, node C has not.
  CHECK(WaitFor(
      [&] {
        j = nodes(0);
        return j["nodes"][2]["heartbeatAgeMs"].get<std::int64_t>() >= 6000;
      },
      std::chrono::seconds(10)));
  CHECK(j["nodes"][2]["lastHeartbeat"] == last);
  CHECK(j["nodes"][2]["state"] == "up");  // Silent only after 15 s.
  CHECK(j["nodes"][0]["heartbeatAgeMs"].get<std::int64_t>() < 6000);

  // The table for people.
  const std::string cmd = std::string(CHATCTL_BIN) + " nodes --admin-url http://127.0.0.1:" +
                          std::to_string(c.node[0]->AdminPort()) + " --admin-token-file " + ShellQuote(token_file);
  CommandRun table = RunCommand(cmd, token_dir.str());
  CHECK(table.code == 0);
  CHECK(table.out.find("node-b") != std::string::npos);
  CHECK(table.out.find("stopped") != std::string::npos);
  CHECK(table.out.find("/metrics") != std::string::npos);
}

TEST_CASE("scripts/run-cluster.sh starts NATS x3, PostgreSQL with a standby and three chatd nodes, a client "
          "chats through two of them, and on SIGTERM it stops exactly the processes it started",
          "[nats][postgres][script]") {
  // The binaries of this build (chatd refuses CHATD_* variables it does not know: other names).
  ::setenv("RUN_CLUSTER_CHATD", CHATD_PATH, 1);
  ::setenv("RUN_CLUSTER_CHATCTL", CHATCTL_BIN, 1);
  TempDir dir;
  // Argon2id at its lowest cost: the test signs two users in, and their hashes are not what it checks.
  Subprocess script({"/bin/bash", std::string(SCRIPTS_DIR) + "/run-cluster.sh", "--no-deps", "--", "--password-cost", "minimum"},
                    dir.str() + "/run-cluster.err");
  const std::string pids_line = script.WaitForLine("run-cluster: pids ", std::chrono::seconds(60));
  INFO("run-cluster output:\n" << script.output() << "\nstderr:\n" << ReadFile(dir.str() + "/run-cluster.err"));
  REQUIRE(!pids_line.empty());
  // "... chatd node-0 127.0.0.1:P0, node-1 127.0.0.1:P1, ..." and the pids line.
  const std::string& out = script.output();
  auto port_of = [&](const std::string& node) {
    const std::size_t at = out.find(node + " 127.0.0.1:");
    REQUIRE(at != std::string::npos);
    return static_cast<std::uint16_t>(std::stoul(out.substr(at + node.size() + 11)));
  };
  const std::uint16_t p0 = port_of("node-0"), p2 = port_of("node-2");
  std::vector<pid_t> pids;
  {
    std::istringstream in(pids_line.substr(pids_line.find("pids ") + 5));
    std::string field;
    while (in >> field) {
      if (const std::size_t eq = field.find('='); eq != std::string::npos) field = field.substr(eq + 1);
      pids.push_back(static_cast<pid_t>(std::stol(field)));
    }
  }
  REQUIRE(pids.size() == 3 + 3 + 2);
  for (pid_t p : pids) CHECK(::kill(p, 0) == 0);

  auto alice = Client::Connect("127.0.0.1", p0);
  REQUIRE_OK(alice);
  auto bob = Client::Connect("127.0.0.1", p2);
  REQUIRE_OK(bob);
  REQUIRE_OK((*alice)->Register("alice", "password-alice"));
  const auto bob_user = (*bob)->Register("bob", "password-bob");
  REQUIRE_OK(bob_user);
  REQUIRE_OK((*alice)->Login("alice", "password-alice", "laptop"));
  REQUIRE_OK((*bob)->Login("bob", "password-bob", "phone"));
  auto chat = (*alice)->CreateDirect(bob_user->id);
  REQUIRE_OK(chat);
  auto sent = (*alice)->SendMessage(chat->id, "hi-1", "hello across nodes");
  REQUIRE_OK(sent);
  CHECK(WaitForMessage(**bob, chat->id, sent->message.seq, std::chrono::seconds(10)).has_value());
  alice->reset();
  bob->reset();

  CHECK(script.SignalAndWait(SIGTERM, std::chrono::seconds(60)) != -1);
  CHECK(script.output().find("run-cluster: stopped") != std::string::npos);
  // Every process it started is gone (a zombie of an exited shell is reaped by init).
  for (pid_t p : pids) {
    INFO("pid " << p);
    CHECK(WaitFor([&] { return ::kill(p, 0) != 0 || std::filesystem::exists("/proc/" + std::to_string(p)) == false; },
                  std::chrono::seconds(10)));
  }
}
