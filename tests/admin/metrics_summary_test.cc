// SummarizeMetrics reads chatd's /metrics text: scalars, histogram quantiles, and junk it must skip.
#include <catch2/catch.hpp>

#include "libchat/admin_metrics.h"

using chat::SummarizeMetrics;

TEST_CASE("SummarizeMetrics reads the key figures and interpolates p99 like histogram_quantile", "[admin][metrics]") {
  const char* text =
      "# HELP chat_connections Open connections.\n"
      "# TYPE chat_connections gauge\n"
      "chat_connections 3\r\n"
      "chat_devices_online 2\n"
      "chat_messages_in_total 1e3\n"
      "chat_fanout_deliveries_total 12345 1700000000000\n"
      "chat_delivery_latency_seconds_bucket{le=\"0.001\"} 0\n"
      "chat_delivery_latency_seconds_bucket{le=\"0.005\"} 50\n"
      "chat_delivery_latency_seconds_bucket{le=\"0.025\"} 100\n"
      "chat_delivery_latency_seconds_bucket{le=\"+Inf\"} 100\n"
      "chat_delivery_latency_seconds_sum 0.4\n"
      "chat_delivery_latency_seconds_count 100\n"
      "chat_store_latency_seconds_bucket{le=\"0.001\"} 0\n"
      "chat_store_latency_seconds_bucket{le=\"+Inf\"} 0\n"
      "garbage line without value\n"
      "chat_send_queue_drops_total{shard=\"1\"} 9\n"
      "chat_messages_out_total notanumber\n";
  auto f = SummarizeMetrics(text);
  CHECK(f.connections == 3);
  CHECK(f.devices_online == 2);
  CHECK(f.messages_in == 1000);
  CHECK(f.deliveries == 12345);
  CHECK_FALSE(f.messages_out.has_value());
  CHECK_FALSE(f.queue_drops.has_value());  // Labelled samples are not the total.
  REQUIRE(f.delivery_p99_seconds.has_value());
  CHECK(*f.delivery_p99_seconds == Approx(0.005 + 0.02 * 49.0 / 50.0));
  CHECK_FALSE(f.store_p99_seconds.has_value());  // Nothing observed.
  CHECK_FALSE(f.rss_bytes.has_value());
}

TEST_CASE("SummarizeMetrics gives the highest finite bound when p99 falls beyond it", "[admin][metrics]") {
  auto f = SummarizeMetrics(
      "chat_store_latency_seconds_bucket{le=\"0.1\"} 1\n"
      "chat_store_latency_seconds_bucket{le=\"1\"} 2\n"
      "chat_store_latency_seconds_bucket{le=\"+Inf\"} 100\n"
      "chat_process_resident_memory_bytes 4096\n");
  CHECK(f.store_p99_seconds == 1.0);
  CHECK(f.rss_bytes == 4096);
  CHECK_FALSE(SummarizeMetrics("").connections.has_value());
}
