#include "report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace chat::loadgen {
namespace {

using Json = nlohmann::json;

double Ms(std::int64_t us) { return std::round(static_cast<double>(us)) / 1000.0; }

Json Percentiles(const LatencyHistogram& h) {
  return Json{{"p50", Ms(h.ValueAtPercentile(50))},   {"p90", Ms(h.ValueAtPercentile(90))},
              {"p99", Ms(h.ValueAtPercentile(99))},   {"p999", Ms(h.ValueAtPercentile(99.9))},
              {"max", Ms(h.max())},                   {"mean", std::round(h.mean()) / 1000.0},
              {"count", h.count()}};
}

// Counter increase between the two scrapes, or -1 if either lacks it.
double Delta(const MetricsSnapshot& before, const MetricsSnapshot& after, const std::string& name) {
  auto a = before.Get(name);
  auto b = after.Get(name);
  if (!a || !b) return -1;
  return *b - *a;
}

// Rounds to `digits` decimals, dividing (not multiplying by 0.1) so that the JSON shows 199.6, not
// 199.60000000000002.
double Round(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string LatencyLine(const LatencyHistogram& h) {
  if (h.count() == 0) return "none";
  return "p50 " + Fixed(Ms(h.ValueAtPercentile(50)), 2) + "  p90 " + Fixed(Ms(h.ValueAtPercentile(90)), 2) +
         "  p99 " + Fixed(Ms(h.ValueAtPercentile(99)), 2) + "  p99.9 " + Fixed(Ms(h.ValueAtPercentile(99.9)), 2) +
         "  max " + Fixed(Ms(h.max()), 2) + " ms  (" + std::to_string(h.count()) + ")";
}

bool Resyncs(Mode m) { return m == Mode::kReconnectStorm || m == Mode::kOfflineSync; }

}  // namespace

bool Report::Passed() const { return FailureSummary().empty(); }

std::string Report::FailureSummary() const {
  if (!fatal.empty()) return fatal;
  std::string why;
  auto add = [&why](std::uint64_t n, const char* what) {
    if (n == 0) return;
    if (!why.empty()) why += ", ";
    why += std::to_string(n) + " " + what;
  };
  add(lost, "lost");
  add(duplicates, "duplicated");
  add(reordered, "out of order");
  add(send_failed, "sends refused");
  add(unresolved, "sends unacknowledged");
  if (Resyncs(options.mode) && resynced < resync_expected) add(resync_expected - resynced, "devices not resynced");
  return why;
}

std::string Report::ToJson() const {
  Json j;
  j["mode"] = ModeName(options.mode);
  j["ok"] = Passed();
  if (!Passed()) j["failure"] = FailureSummary();
  j["url"] = options.url.ToString();
  if (options.urls.size() > 1) {
    Json urls = Json::array();
    for (const WsUrl& u : options.urls) urls.push_back(u.ToString());
    j["urls"] = urls;
  }
  j["clients"] = options.clients;
  j["group_size"] = options.group_size;
  j["groups"] = groups;
  j["rate"] = options.rate;
  j["duration_s"] = options.duration_s;
  j["threads"] = options.threads;
  j["senders"] = SendersName(options.senders);
  if (options.senders == Senders::kAll) j["senders_seed"] = senders_seed;
  j["count_own_device"] = options.count_own_device;
  j["body_bytes"] = options.body_bytes;
  Json machine{{"loadavg_1m_before", Round(loadavg_before, 2)}, {"loadavg_1m_after", Round(loadavg_after, 2)}};
  if (!options.background_load.empty()) {
    machine["background_load"] = options.background_load;
    machine["background_pid"] = background_pid;
    machine["background_cpu_s"] = Round(background_cpu_s, 2);
    machine["background_ending"] = background_ending;
  }
  j["machine"] = machine;
  j["setup"] = Json{{"seconds", Round(setup_s, 3)}, {"sessions_reused", sessions_reused}, {"signed_in", signed_in}};
  j["scheduled"] = scheduled;
  j["sent"] = sent;
  j["acked"] = acked;
  j["send_failed"] = send_failed;
  j["unresolved"] = unresolved;
  j["expected"] = expected;
  j["delivered"] = delivered;
  j["lost"] = lost;
  if (!lost_sample.empty()) {
    Json sample = Json::array();
    for (const LostDelivery& l : lost_sample) {
      sample.push_back(Json{{"chat", l.message.chat}, {"seq", l.message.seq}, {"sender", l.message.sender},
                            {"recipient", l.client}, {"recipient_url", l.node}});
    }
    j["lost_sample"] = std::move(sample);
  }
  j["duplicates"] = duplicates;
  j["reordered"] = reordered;
  j["unexpected"] = unexpected;
  j["disconnects"] = disconnects;
  j["failovers"] = failovers;
  j["sends_per_s"] = Round(sends_per_s, 1);
  j["acks_per_s"] = Round(acks_per_s, 1);
  j["deliveries_per_s"] = Round(deliveries_per_s, 1);
  j["latency_ms"] = Percentiles(latency_us);
  j["send_ack_ms"] = Percentiles(send_ack_us);
  j["errors"] = errors;
  if (Resyncs(options.mode)) {
    Json r = Percentiles(resync_us);
    r["devices"] = resynced;
    r["expected_devices"] = resync_expected;
    r["all_s"] = Round(resync_all_s, 3);
    j[options.mode == Mode::kReconnectStorm ? "resync" : "sync"] = r;
  }
  Json server;
  server["metrics"] = metrics_before.ok && metrics_after.ok;
  if (!metrics_before.ok) server["metrics_error"] = metrics_before.error;
  server["rss_bytes_before"] = rss_before.bytes;
  server["rss_bytes_after"] = rss_after.bytes;
  server["rss_source"] = rss_after.source.empty() ? "unavailable" : rss_after.source;
  if (metrics_before.ok && metrics_after.ok) {
    const std::pair<const char*, const char*> counters[] = {
        {"send_queue_drops", "chat_send_queue_drops_total"}, {"worker_rejected", "chat_worker_rejected_total"},
        {"messages_in", "chat_messages_in_total"},           {"messages_out", "chat_messages_out_total"},
        {"fanout_deliveries", "chat_fanout_deliveries_total"}, {"request_errors", "chat_request_errors_total"},
        {"connections_refused", "chat_connections_refused_total"}};
    for (const auto& [key, name] : counters) {
      const double d = Delta(metrics_before, metrics_after, name);
      if (d >= 0) server[key] = d;
    }
    if (auto v = metrics_after.Get("chat_websockets")) server["websockets_after"] = *v;
    Json stages = Json::object();
    for (const StageSummary& st : MessageStages(metrics_before, metrics_after)) {
      stages[st.stage] = Json{{"count", st.count},           {"mean", Round(st.mean_ms, 3)},
                              {"p50", Round(st.p50_ms, 3)},   {"p99", Round(st.p99_ms, 3)},
                              {"p999", Round(st.p999_ms, 3)}};
    }
    server["stages_ms"] = stages;
  }
  if (server_cpu_s >= 0) {
    server["cpu_s"] = Round(server_cpu_s, 3);
    server["processes"] = server_processes;
    if (delivered > 0) server["cpu_us_per_delivery"] = Round(server_cpu_s * 1e6 / static_cast<double>(delivered), 2);
  }
  if (options.mode == Mode::kIdle) {
    server["idle_connections"] = idle_connections;
    if (rss_before.bytes >= 0 && rss_after.bytes >= 0 && idle_connections > 0) {
      server["rss_bytes_per_connection"] =
          Round(static_cast<double>(rss_after.bytes - rss_before.bytes) / static_cast<double>(idle_connections), 0);
    }
  }
  j["server"] = server;
  Json self{{"cpu_s", Round(loadgen_cpu_s, 3)}, {"wall_s", Round(load_wall_s, 3)}};
  if (delivered > 0) self["cpu_us_per_delivery"] = Round(loadgen_cpu_s * 1e6 / static_cast<double>(delivered), 2);
  j["loadgen"] = self;
  return j.dump();
}

std::string Report::ToText() const {
  std::ostringstream o;
  o << "chat-loadgen " << ModeName(options.mode) << " against " << options.url.ToString()
    << (options.urls.size() > 1 ? " and " + std::to_string(options.urls.size() - 1) + " more nodes" : std::string()) << ": "
    << options.clients << " clients, " << groups << " groups of " << options.group_size;
  if (options.mode != Mode::kIdle) {
    o << ", " << options.rate << " msgs/s, senders " << SendersName(options.senders) << ", " << options.body_bytes
      << "-byte bodies" << (options.count_own_device ? ", own device counted" : "");
  }
  o << "\n";
  if (!fatal.empty()) {
    o << "  FAILED: " << fatal << "\n";
    return o.str();
  }
  o << "  setup      " << Fixed(setup_s, 2) << " s, " << signed_in << " devices signed in"
    << (sessions_reused ? " (sessions resumed from the state file)" : " (provisioned)") << "\n";
  if (options.mode == Mode::kIdle) {
    o << "  held       " << idle_connections << " connections for " << options.duration_s << " s\n";
    if (rss_before.bytes >= 0 && rss_after.bytes >= 0 && idle_connections > 0) {
      const double per = static_cast<double>(rss_after.bytes - rss_before.bytes) / static_cast<double>(idle_connections);
      o << "  server RSS " << rss_before.bytes / 1024 << " KiB -> " << rss_after.bytes / 1024 << " KiB: "
        << Fixed(per / 1024.0, 2) << " KiB per connection (" << rss_after.source << ")\n";
    } else {
      o << "  server RSS unavailable\n";
    }
  } else {
    o << "  sends      " << sent << " sent (" << Fixed(sends_per_s, 1) << "/s), " << acked << " acknowledged ("
      << Fixed(acks_per_s, 1) << "/s)";
    if (send_failed + unresolved > 0) o << " (" << send_failed << " refused, " << unresolved << " unanswered)";
    o << "\n";
    o << "  deliveries " << delivered << " of " << expected << " expected, " << Fixed(deliveries_per_s, 1) << "/s\n";
    o << "  lost " << lost << ", duplicated " << duplicates << ", out of order " << reordered;
    if (unexpected > 0) o << ", unacknowledged but delivered " << unexpected;
    o << "\n";
    o << "  latency    " << LatencyLine(latency_us) << "\n";
    o << "  send-ack   " << LatencyLine(send_ack_us) << "\n";
    if (Resyncs(options.mode)) {
      o << "  " << (options.mode == Mode::kReconnectStorm ? "resync" : "sync  ") << "     " << resynced << " of "
        << resync_expected << " devices in " << Fixed(resync_all_s, 2) << " s; per device " << LatencyLine(resync_us)
        << "\n";
    }
    if (rss_before.bytes >= 0 && rss_after.bytes >= 0) {
      o << "  server RSS " << rss_before.bytes / 1024 << " KiB -> " << rss_after.bytes / 1024 << " KiB ("
        << rss_after.source << ")\n";
    }
  }
  if (options.mode != Mode::kIdle && metrics_before.ok && metrics_after.ok) {
    const std::vector<StageSummary> stages = MessageStages(metrics_before, metrics_after);
    if (!stages.empty()) o << "  stages     (server, ms: p50 / p99 / p99.9, count)\n";
    for (const StageSummary& st : stages) {
      char line[160];
      std::snprintf(line, sizeof line, "    %-18s %8.3f / %8.3f / %8.3f  (%llu)\n", st.stage.c_str(), st.p50_ms,
                    st.p99_ms, st.p999_ms, static_cast<unsigned long long>(st.count));
      o << line;
    }
  }
  if (options.mode != Mode::kIdle) {
    o << "  machine    load average " << Fixed(loadavg_before, 2) << " -> " << Fixed(loadavg_after, 2);
    if (!options.background_load.empty()) {
      o << "; background load " << options.background_load << " (pid " << background_pid << ", "
        << Fixed(background_cpu_s, 1) << " CPU s, " << background_ending << ")";
    }
    o << "\n";
  }
  if (metrics_before.ok && metrics_after.ok) {
    o << "  server     send-queue drops " << Delta(metrics_before, metrics_after, "chat_send_queue_drops_total")
      << ", worker rejections " << Delta(metrics_before, metrics_after, "chat_worker_rejected_total") << "\n";
  } else {
    o << "  server     /metrics unavailable: " << (metrics_before.ok ? metrics_after.error : metrics_before.error)
      << "\n";
  }
  if (disconnects > 0) o << "  disconnects " << disconnects << " (" << failovers << " failed over to another node)\n";
  if (!errors.empty()) {
    o << "  errors    ";
    for (const auto& [code, n] : errors) o << " " << code << "=" << n;
    o << "\n";
  }
  if (delivered > 0) {
    if (server_cpu_s >= 0) {
      o << "  server CPU " << Fixed(server_cpu_s, 2) << " s, "
        << Fixed(server_cpu_s * 1e6 / static_cast<double>(delivered), 2) << " us per delivery\n";
    }
    o << "  loadgen    " << Fixed(loadgen_cpu_s, 2) << " CPU s, "
      << Fixed(loadgen_cpu_s * 1e6 / static_cast<double>(delivered), 2) << " us per delivery\n";
  }
  o << (Passed() ? "  PASS\n" : "  FAIL: " + FailureSummary() + "\n");
  return o.str();
}

}  // namespace chat::loadgen
