// SummarizeMetrics: a reader of the Prometheus text exposition format, just enough for the figures in
// admin_metrics.h: plain samples, and histogram buckets for a quantile.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "libchat/admin_metrics.h"

namespace chat {
namespace {

struct Sample {
  std::string_view name;
  std::string_view labels;  // Between the braces, or empty.
  double value = 0;
};

// "name{labels} value [timestamp]"; false for comments, blank and malformed lines.
bool ParseSample(std::string_view line, Sample* out) {
  if (line.empty() || line[0] == '#') return false;
  std::size_t name_end = line.find_first_of("{ ");
  if (name_end == std::string_view::npos || name_end == 0) return false;
  out->name = line.substr(0, name_end);
  std::size_t rest = name_end;
  out->labels = {};
  if (line[rest] == '{') {
    const std::size_t close = line.find('}', rest);
    if (close == std::string_view::npos) return false;
    out->labels = line.substr(rest + 1, close - rest - 1);
    rest = close + 1;
  }
  while (rest < line.size() && line[rest] == ' ') ++rest;
  const std::size_t value_end = line.find(' ', rest);
  const std::string value(line.substr(rest, value_end == std::string_view::npos ? line.npos : value_end - rest));
  if (value.empty()) return false;
  char* end = nullptr;
  out->value = std::strtod(value.c_str(), &end);  // Also reads +Inf, -Inf and NaN.
  return end == value.c_str() + value.size();
}

// The `le` bound of a bucket's labels: +Inf for "+Inf"; NaN if absent.
double BucketBound(std::string_view labels) {
  const std::size_t at = labels.find("le=\"");
  if (at == std::string_view::npos) return std::nan("");
  const std::size_t start = at + 4;
  const std::size_t end = labels.find('"', start);
  if (end == std::string_view::npos) return std::nan("");
  const std::string bound(labels.substr(start, end - start));
  if (bound == "+Inf") return INFINITY;
  char* stop = nullptr;
  const double v = std::strtod(bound.c_str(), &stop);
  return stop == bound.c_str() + bound.size() ? v : std::nan("");
}

// Prometheus' histogram_quantile over cumulative (bound, count) buckets: linear within the bucket
// that holds the rank; the highest finite bound if the rank falls in +Inf.
std::optional<double> Quantile(double q, std::vector<std::pair<double, double>> buckets) {
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || !std::isinf(buckets.back().first)) return std::nullopt;
  const double total = buckets.back().second;
  if (total <= 0) return std::nullopt;
  const double rank = q * total;
  double lower = 0;
  double below = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const auto [bound, count] = buckets[i];
    if (count >= rank) {
      if (std::isinf(bound)) return i == 0 ? std::nullopt : std::optional<double>(buckets[i - 1].first);
      if (count == below) return bound;
      return lower + (bound - lower) * (rank - below) / (count - below);
    }
    lower = bound;
    below = count;
  }
  return std::nullopt;
}

}  // namespace

ServerFigures SummarizeMetrics(std::string_view text) {
  std::map<std::string, double, std::less<>> scalars;
  std::map<std::string, std::vector<std::pair<double, double>>, std::less<>> histograms;
  constexpr std::string_view kBucket = "_bucket";
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Sample s;
    if (!ParseSample(line, &s)) continue;
    if (s.name.size() > kBucket.size() && s.name.substr(s.name.size() - kBucket.size()) == kBucket) {
      const double bound = BucketBound(s.labels);
      if (!std::isnan(bound)) {
        histograms[std::string(s.name.substr(0, s.name.size() - kBucket.size()))].emplace_back(bound, s.value);
      }
      continue;
    }
    // Only unlabelled samples are wanted; the first one of a name wins.
    if (s.labels.empty()) scalars.emplace(std::string(s.name), s.value);
  }
  auto get = [&](std::string_view name) -> std::optional<double> {
    auto it = scalars.find(name);
    return it == scalars.end() ? std::nullopt : std::optional<double>(it->second);
  };
  auto p99 = [&](std::string_view name) -> std::optional<double> {
    auto it = histograms.find(name);
    return it == histograms.end() ? std::nullopt : Quantile(0.99, it->second);
  };
  ServerFigures f;
  f.connections = get("chat_connections");
  f.devices_online = get("chat_devices_online");
  f.messages_in = get("chat_messages_in_total");
  f.messages_out = get("chat_messages_out_total");
  f.deliveries = get("chat_fanout_deliveries_total");
  f.queue_drops = get("chat_send_queue_drops_total");
  f.worker_rejected = get("chat_worker_rejected_total");
  f.delivery_p99_seconds = p99("chat_delivery_latency_seconds");
  f.store_p99_seconds = p99("chat_store_latency_seconds");
  f.rss_bytes = get("process_resident_memory_bytes");
  if (!f.rss_bytes) f.rss_bytes = get("chat_process_resident_memory_bytes");
  return f;
}

}  // namespace chat
