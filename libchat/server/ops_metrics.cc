#include "ops_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "libchat/version.h"

namespace chat::detail {
namespace {

// "ok", every StatusCodeName and the protocol's own codes (protocol.h); the last is "other".
constexpr std::array<std::string_view, 17> kCodes = {
    "ok",          "not_found",          "invalid_argument",    "already_exists", "permission_denied",
    "unauthenticated", "unavailable",    "resource_exhausted",  "failed_precondition", "corruption",
    "internal",    "not_supported",      "bad_request",         "unknown_command", "frame_too_large",
    "unsupported_version", "other"};

void AppendValue(std::string* out, const char* name, const char* type, const char* help, double v) {
  char line[320];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
  out->append(line);
}

// Prometheus label values escape backslash, double quote and newline.
std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// The process's start, in seconds since the Unix epoch: its start in clock ticks after boot
// (/proc/self/stat, field 22) plus the boot time (/proc/stat, btime). 0 if unknown.
double ProcessStartSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line)) return 0;
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  unsigned long long start_ticks = 0;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) start_ticks = std::strtoull(field.c_str(), nullptr, 10);
  }
  std::ifstream proc_stat("/proc/stat");
  unsigned long long boot = 0;
  while (std::getline(proc_stat, line)) {
    if (line.rfind("btime ", 0) == 0) boot = std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  if (boot == 0 || ticks <= 0) return 0;
  return static_cast<double>(boot) + static_cast<double>(start_ticks) / static_cast<double>(ticks);
}

// Computed once: a process starts only once.
double StartSeconds() {
  static const double start = ProcessStartSeconds();
  return start;
}

}  // namespace

void LatencySeries::ObserveMicros(std::int64_t us) {
  if (us < 0) us = 0;
  const double s = static_cast<double>(us) / 1e6;
  std::size_t i = 0;
  while (i < kBoundsSeconds.size() && s > kBoundsSeconds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void LatencySeries::Render(const char* name, std::string_view labels, std::string* out) const {
  const std::string sep = labels.empty() ? "" : std::string(labels) + ",";
  const std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  char number[64];
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBoundsSeconds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBoundsSeconds.size()) {
      std::snprintf(number, sizeof number, "%g", kBoundsSeconds[i]);
    } else {
      std::snprintf(number, sizeof number, "+Inf");
    }
    out->append(name).append("_bucket{").append(sep).append("le=\"").append(number).append("\"} ");
    out->append(std::to_string(cumulative)).append("\n");
  }
  std::snprintf(number, sizeof number, "%.6f", static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
  out->append(name).append("_sum").append(braces).append(" ").append(number).append("\n");
  out->append(name).append("_count").append(braces).append(" ").append(std::to_string(cumulative)).append("\n");
}

CommandMetrics::CommandMetrics(const std::vector<std::string>& commands) : commands_(commands) {
  commands_.emplace_back("other");
  for (std::size_t i = 0; i + 1 < commands_.size(); ++i) index_.emplace(commands_[i], i);
  series_ = std::make_unique<LatencySeries[]>(commands_.size() * kCodes.size());
}

std::size_t CommandMetrics::CommandIndex(std::string_view command) const {
  auto it = index_.find(command);
  return it == index_.end() ? commands_.size() - 1 : it->second;
}

std::size_t CommandMetrics::CodeIndex(std::string_view code) {
  for (std::size_t i = 0; i + 1 < kCodes.size(); ++i) {
    if (kCodes[i] == code) return i;
  }
  return kCodes.size() - 1;
}

void CommandMetrics::Observe(std::string_view command, std::string_view code, std::int64_t micros) {
  series_[CommandIndex(command) * kCodes.size() + CodeIndex(code)].ObserveMicros(micros);
}

void CommandMetrics::Render(std::string* out) const {
  out->append(
      "# HELP chat_command_requests_total Protocol commands answered, by command and result code (ok or the "
      "error code).\n# TYPE chat_command_requests_total counter\n");
  std::string latency;
  for (std::size_t c = 0; c < commands_.size(); ++c) {
    for (std::size_t k = 0; k < kCodes.size(); ++k) {
      const LatencySeries& s = series_[c * kCodes.size() + k];
      const std::uint64_t n = s.count();
      if (n == 0) continue;
      const std::string labels =
          "command=\"" + LabelValue(commands_[c]) + "\",code=\"" + std::string(kCodes[k]) + "\"";
      out->append("chat_command_requests_total{").append(labels).append("} ").append(std::to_string(n)).append("\n");
      s.Render("chat_command_latency_seconds", labels, &latency);
    }
  }
  out->append(
      "# HELP chat_command_latency_seconds Time from a worker starting a command to its outcome, by command "
      "and result code.\n# TYPE chat_command_latency_seconds histogram\n");
  out->append(latency);
}

void RenderProcessMetrics(std::string* out) {
  const long page = sysconf(_SC_PAGESIZE);
  std::ifstream statm("/proc/self/statm");
  unsigned long long virtual_pages = 0;
  unsigned long long resident_pages = 0;
  if (page > 0 && statm >> virtual_pages >> resident_pages) {
    AppendValue(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                static_cast<double>(virtual_pages) * static_cast<double>(page));
    AppendValue(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                static_cast<double>(resident_pages) * static_cast<double>(page));
  }
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    AppendValue(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu);
  }
  if (DIR* fds = opendir("/proc/self/fd")) {
    std::size_t open = 0;
    while (const dirent* e = readdir(fds)) {
      if (e->d_name[0] != '.') ++open;
    }
    closedir(fds);
    // The directory stream itself held one while it was counted.
    AppendValue(out, "process_open_fds", "gauge", "Number of open file descriptors.",
                static_cast<double>(open > 0 ? open - 1 : 0));
  }
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    AppendValue(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                static_cast<double>(files.rlim_cur));
  }
  if (const double start = StartSeconds(); start > 0) {
    AppendValue(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                start);
  }
#if defined(__clang__)
  const std::string compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  const std::string compiler = "gcc " __VERSION__;
#else
  const std::string compiler = "unknown";
#endif
  out->append(
      "# HELP chat_build_info The version of libchat this chatd was built from, and its compiler (always 1).\n"
      "# TYPE chat_build_info gauge\n");
  out->append("chat_build_info{version=\"" LIBCHAT_VERSION_STRING "\",compiler=\"" + LabelValue(compiler) + "\"} 1\n");
}

}  // namespace chat::detail
