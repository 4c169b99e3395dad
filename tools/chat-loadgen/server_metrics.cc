#include "server_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <fstream>
#include <sstream>

#include "ws_url.h"

namespace chat::loadgen {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Socket inodes of listening TCP sockets on `port`, from /proc/net/tcp{,6}. Lines look like
// "  0: 0100007F:1F90 00000000:0000 0A ... uid timeout inode": local address:port in hex, state 0A LISTEN.
std::vector<std::string> ListeningInodes(std::uint16_t port) {
  std::vector<std::string> inodes;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // Header.
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state, queues, timer, retrans, uid, timeout, inode;
      f >> slot >> local >> remote >> state >> queues >> timer >> retrans >> uid >> timeout >> inode;
      const auto colon = local.rfind(':');
      if (colon == std::string::npos || state != "0A") continue;
      if (std::strtoul(local.c_str() + colon + 1, nullptr, 16) == port) inodes.push_back(inode);
    }
  }
  return inodes;
}

}  // namespace

std::optional<double> MetricsSnapshot::Get(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, double> ParsePrometheusText(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // The name runs to the first space outside the label braces.
    std::size_t end = 0;
    bool in_labels = false;
    for (; end < line.size(); ++end) {
      if (line[end] == '{') in_labels = true;
      if (line[end] == '}') in_labels = false;
      if (line[end] == ' ' && !in_labels) break;
    }
    if (end >= line.size()) continue;
    char* parsed_end = nullptr;
    const double v = std::strtod(line.c_str() + end + 1, &parsed_end);
    if (parsed_end == line.c_str() + end + 1) continue;
    out[line.substr(0, end)] = v;
  }
  return out;
}

double HistogramQuantile(double q, const std::vector<std::pair<double, double>>& cumulative) {
  if (cumulative.empty() || cumulative.back().second <= 0) return 0;
  const double rank = q * cumulative.back().second;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : cumulative) {
    if (count >= rank && count > below) {
      // Beyond the last finite bound: say the bound (the value is at least that).
      if (std::isinf(bound)) return lower;
      return lower + (bound - lower) * (rank - below) / (count - below);
    }
    if (!std::isinf(bound)) lower = bound;
    below = count;
  }
  return lower;
}

std::vector<StageSummary> MessageStages(const MetricsSnapshot& before, const MetricsSnapshot& after) {
  static const char* const kStages[] = {"read_to_worker", "worker_to_queued", "queued_to_durable",
                                        "durable_to_fanout", "fanout_to_written"};
  std::vector<StageSummary> out;
  for (const char* stage : kStages) {
    const std::string prefix = std::string("chat_message_stage_seconds_bucket{stage=\"") + stage + "\",le=\"";
    std::vector<std::pair<double, double>> buckets;
    for (auto it = after.values.lower_bound(prefix); it != after.values.end() && it->first.rfind(prefix, 0) == 0;
         ++it) {
      const std::string le = it->first.substr(prefix.size(), it->first.size() - prefix.size() - 2);  // Drops "}.
      const double bound = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::strtod(le.c_str(), nullptr);
      buckets.emplace_back(bound, it->second - before.Get(it->first).value_or(0));
    }
    if (buckets.empty()) continue;
    std::sort(buckets.begin(), buckets.end());
    const std::string labels = std::string("{stage=\"") + stage + "\"}";
    const double count = buckets.back().second;
    const double sum = after.Get("chat_message_stage_seconds_sum" + labels).value_or(0) -
                       before.Get("chat_message_stage_seconds_sum" + labels).value_or(0);
    StageSummary s;
    s.stage = stage;
    s.count = count > 0 ? static_cast<std::uint64_t>(count) : 0;
    s.mean_ms = count > 0 ? sum / count * 1e3 : 0;
    s.p50_ms = HistogramQuantile(0.5, buckets) * 1e3;
    s.p99_ms = HistogramQuantile(0.99, buckets) * 1e3;
    s.p999_ms = HistogramQuantile(0.999, buckets) * 1e3;
    out.push_back(s);
  }
  return out;
}

MetricsSnapshot ScrapeMetrics(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  MetricsSnapshot snap;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    snap.error = "resolve " + host + ": " + ec.message();
    return snap;
  }
  // Synchronous calls have no deadline of their own: run the async forms under the stream's expiry.
  stream.expires_after(timeout);
  http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::connection, "close");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if (e) {
      ec = e;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code e2, std::size_t) {
      if (e2) {
        ec = e2;
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code e3, std::size_t) { ec = e3; });
    });
  });
  ioc.run();
  if (ec) {
    snap.error = "GET /metrics: " + ec.message();
    return snap;
  }
  if (parser.get().result() != http::status::ok) {
    snap.error = "GET /metrics: HTTP " + std::to_string(parser.get().result_int());
    return snap;
  }
  snap.values = ParsePrometheusText(parser.get().body());
  snap.ok = true;
  return snap;
}

int FindListenerPid(std::uint16_t port) {
  const std::vector<std::string> inodes = ListeningInodes(port);
  if (inodes.empty()) return -1;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return -1;
  int found = -1;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    const std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    while (dirent* f = ::readdir(fds)) {
      char target[64];
      const std::string link = fd_dir + "/" + f->d_name;
      const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      // "socket:[12345]"
      const std::string t(target);
      for (const std::string& inode : inodes) {
        if (t == "socket:[" + inode + "]") found = static_cast<int>(pid);
      }
      if (found >= 0) break;
    }
    ::closedir(fds);
    if (found >= 0) break;
  }
  ::closedir(proc);
  return found;
}

std::int64_t ProcessRssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10) * 1024;  // kB
  }
  return -1;
}

double ProcessCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // "pid (comm) state ppid ...": fields after the parenthesised name, which may hold spaces.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream f(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after "(comm)".
  for (int i = 1; i <= 13 && (f >> field); ++i) {
    if (i == 12) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 13) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  const long ticks = ::sysconf(_SC_CLK_TCK);
  return ticks > 0 ? static_cast<double>(utime + stime) / static_cast<double>(ticks) : -1;
}

RssReading ReadServerRss(const MetricsSnapshot& metrics, const std::string& host, std::uint16_t port) {
  RssReading r;
  // The process is looked up even when the metrics carry the RSS: its CPU time comes from /proc.
  if (IsLoopbackHost(host)) r.pid = FindListenerPid(port);
  for (const auto& [name, value] : metrics.values) {
    const bool rss_like = name == "process_resident_memory_bytes" ||
                          (name.rfind("chat_", 0) == 0 && (name.find("resident") != std::string::npos ||
                                                           name.find("rss") != std::string::npos));
    if (rss_like && name.find('{') == std::string::npos) {
      r.bytes = static_cast<std::int64_t>(value);
      r.source = "metrics:" + name;
      return r;
    }
  }
  if (r.pid < 0) return r;
  r.bytes = ProcessRssBytes(r.pid);
  if (r.bytes >= 0) r.source = "procfs:" + std::to_string(r.pid);
  return r;
}

}  // namespace chat::loadgen
