#include "nats_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "throwaway_server.h"

namespace chat::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string ServerBinary() {
  const char* env = std::getenv("LIBCHAT_TEST_NATS_SERVER");
  return env != nullptr ? env : "/usr/sbin/nats-server";
}

bool IsNatsServer(pid_t pid) { return ProcessName(pid).rfind("nats-server", 0) == 0; }

// GET `path` from 127.0.0.1:port; the whole answer, or "" if nothing answers.
std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}


}  // namespace

Result<std::unique_ptr<NatsCluster>> NatsCluster::Start(int servers, bool advertise) {
  if (!fs::exists(ServerBinary())) return Status::Unavailable(ServerBinary() + " is not installed (scripts/deps.sh)");
  // On a loaded machine a cluster once stayed one route short for 15 s (two servers dialled each
  // other at once; nats-server closed one connection as a duplicate and the pair never re-formed):
  // such a start is stopped and made again from scratch, on fresh ports.
  Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto c = StartOnce(servers, advertise);
    if (c.ok()) return c;
    last = c.error();
  }
  return last;
}

Result<std::unique_ptr<NatsCluster>> NatsCluster::StartOnce(int servers, bool advertise) {
  std::unique_ptr<NatsCluster> c(new NatsCluster());
  std::string templ = (fs::temp_directory_path() / "libchat-nats-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) return Status::Unavailable("mkdtemp");
  c->dir_ = templ;
  c->advertise_ = advertise;
  c->nodes_.resize(static_cast<std::size_t>(servers));
  // Every server's ports before the first starts: each configuration lists the routes to all the
  // others (a JetStream cluster refuses to start without configured routes).
  for (Node& n : c->nodes_) {
    n.client_port = FreeLoopbackPort();
    n.route_port = FreeLoopbackPort();
    n.http_port = FreeLoopbackPort();
  }
  for (int i = 0; i < servers; ++i) LIBCHAT_RETURN_IF_ERROR(c->StartNode(i));
  for (int i = 0; i < servers; ++i) LIBCHAT_RETURN_IF_ERROR(c->WaitRouted(i));
  return c;
}

Status NatsCluster::WriteConfig(int i) const {
  const Node& n = nodes_[static_cast<std::size_t>(i)];
  std::ofstream out(dir_ + "/n" + std::to_string(i) + ".conf", std::ios::trunc);
  out << "server_name: n" << i << "\n"
      << "listen: 127.0.0.1:" << n.client_port << "\n"
      << "http: 127.0.0.1:" << n.http_port << "\n"
      // JetStream for the buckets chatd shares between nodes (presence, heartbeats): in memory,
      // bounded; the file store's folder is the cluster's private one.
      << "jetstream {\n  store_dir: \"" << dir_ << "/js" << i << "\"\n  max_memory_store: 128MB\n  max_file_store: 16MB\n}\n"
      << "cluster {\n  name: libchat-test\n  listen: 127.0.0.1:" << n.route_port << "\n"
      << (advertise_ ? "" : "  no_advertise: true\n") << "  routes: [";
  bool first = true;
  for (std::size_t j = 0; j < nodes_.size(); ++j) {
    // A route to a server whose port is not chosen yet is added when that server starts (it
    // solicits this one: routes need only be configured on one side).
    if (static_cast<int>(j) == i || nodes_[j].route_port == 0) continue;
    out << (first ? "" : ", ") << "nats-route://127.0.0.1:" << nodes_[j].route_port;
    first = false;
  }
  out << "]\n}\n";
  out.close();
  if (!out) return Status::Unavailable("cannot write the configuration in " + dir_);
  return Status::Ok();
}

Status NatsCluster::StartNode(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  const std::string log = dir_ + "/n" + std::to_string(i) + ".log";
  const bool fresh = n.client_port == 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (fresh || attempt > 0) {
      n.client_port = FreeLoopbackPort();
      n.route_port = FreeLoopbackPort();
      n.http_port = FreeLoopbackPort();
    }
    LIBCHAT_RETURN_IF_ERROR(WriteConfig(i));
    const std::string conf = dir_ + "/n" + std::to_string(i) + ".conf";
    const pid_t child = ::fork();
    if (child == 0) {
      // A session of its own: the server outlives a fixture process that started it, and signals
      // sent to the test's process group do not reach it.
      ::setsid();
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      const int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) ::dup2(null, 0);
      const std::string bin = ServerBinary();
      ::execl(bin.c_str(), bin.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (child < 0) return Status::Unavailable("fork");
    n.pid = child;
    // Ready when its monitoring endpoint answers; a port taken meanwhile makes it exit at once.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline && !ProcessGone(n.pid)) {
      if (!HttpGet(n.http_port, "/varz").empty()) return Status::Ok();
      std::this_thread::sleep_for(10ms);
    }
    Stop(i);
  }
  return Status::Unavailable("nats-server " + std::to_string(i) + " did not start: " + FileTail(log));
}

Status NatsCluster::WaitRouted(int i) const {
  const Node& n = nodes_[static_cast<std::size_t>(i)];
  const std::string want = "\"num_routes\": " + std::to_string(nodes_.size() - 1);
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (HttpGet(n.http_port, "/routez").find(want) != std::string::npos) return Status::Ok();
    std::this_thread::sleep_for(10ms);
  }
  return Status::Unavailable("nats-server " + std::to_string(i) + " did not join the cluster: " +
                             FileTail(dir_ + "/n" + std::to_string(i) + ".log"));
}

void NatsCluster::Stop(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (n.pid <= 0) return;
  if (!ProcessGone(n.pid) && IsNatsServer(n.pid)) {
    ::kill(n.pid, SIGTERM);
    if (!WaitProcessGone(n.pid, 10s) && IsNatsServer(n.pid)) {
      ::kill(n.pid, SIGKILL);
      WaitProcessGone(n.pid, 10s);
    }
  }
  n.pid = -1;
}

void NatsCluster::Kill9(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (n.pid <= 0) return;
  if (!ProcessGone(n.pid) && IsNatsServer(n.pid)) {
    ::kill(n.pid, SIGKILL);
    WaitProcessGone(n.pid, 10s);
  }
  n.pid = -1;
}

bool NatsCluster::Freeze(int i) {
  Node& n = nodes_[static_cast<std::size_t>(i)];
  if (n.pid <= 0 || ProcessGone(n.pid) || !IsNatsServer(n.pid)) return false;
  ::kill(n.pid, SIGSTOP);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!AllThreadsStopped(n.pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

bool NatsCluster::Frozen(int i) const {
  const Node& n = nodes_[static_cast<std::size_t>(i)];
  return n.pid > 0 && AllThreadsStopped(n.pid);
}

Status NatsCluster::Restart(int i) {
  Stop(i);
  // Same ports: its routes were configured by them, and its clients reconnect to them.
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (StartNode(i).ok()) break;
    std::this_thread::sleep_for(100ms);  // A port in TIME_WAIT or still held: try the same again.
  }
  if (nodes_[static_cast<std::size_t>(i)].pid <= 0) return Status::Unavailable("nats-server did not restart");
  return WaitRouted(i);
}

std::string NatsCluster::Url() const {
  std::string out = "nats://";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    out += (i == 0 ? "" : ",") + std::string("127.0.0.1:") + std::to_string(nodes_[i].client_port);
  }
  return out;
}

std::string NatsCluster::Url(int i) const { return "nats://127.0.0.1:" + std::to_string(client_port(i)); }

Result<std::unique_ptr<NatsCluster>> NatsCluster::Attach(const std::string& state_file) {
  std::ifstream in(state_file);
  std::unique_ptr<NatsCluster> c(new NatsCluster());
  c->owned_ = false;
  std::size_t count = 0;
  if (!(in >> c->dir_ >> count) || count == 0 || count > 16) return Status::NotFound("no NATS state in " + state_file);
  c->nodes_.resize(count);
  for (Node& n : c->nodes_) {
    if (!(in >> n.client_port >> n.route_port >> n.http_port >> n.pid)) {
      return Status::NotFound("truncated NATS state in " + state_file);
    }
  }
  return c;
}

Status NatsCluster::WriteState(const std::string& state_file) const {
  std::ofstream out(state_file + ".tmp", std::ios::trunc);
  out << dir_ << " " << nodes_.size() << "\n";
  for (const Node& n : nodes_) out << n.client_port << " " << n.route_port << " " << n.http_port << " " << n.pid << "\n";
  out.close();
  if (!out) return Status::Unavailable("cannot write " + state_file);
  fs::rename(state_file + ".tmp", state_file);
  return Status::Ok();
}

NatsCluster::~NatsCluster() {
  if (!owned_) return;
  for (int i = 0; i < size(); ++i) Stop(i);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

Result<NatsCluster*> SharedNatsCluster() {
  static std::mutex mu;
  static std::unique_ptr<NatsCluster> cluster;
  std::lock_guard lock(mu);
  if (!cluster) {
    const char* state = std::getenv("LIBCHAT_TEST_NATS_STATE");
    auto made = state != nullptr && fs::exists(state) ? NatsCluster::Attach(state) : NatsCluster::Start(3);
    if (!made.ok()) return made.error();
    cluster = std::move(*made);
  }
  return cluster.get();
}

}  // namespace chat::test
