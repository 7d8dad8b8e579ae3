#pragma once
// Prometheus metric families shared by every node: per-actor-type message
// counts, handler times and mailbox depths, the build info gauge, and the
// text exposition (format 0.0.4) that the node's own HTTP server returns on
// /metrics next to /health.

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::telemetry {

// Content-Type of the Prometheus text exposition format 0.0.4.
inline constexpr std::string_view prometheus_text_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

// Collects every live collectable (expired ones are skipped) and renders the
// families in the Prometheus text format 0.0.4. Thread-safe as far as the
// collectables are (prometheus::Registry is).
[[nodiscard]] std::string serialize_text(
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

// Upper bounds, in seconds, of the mesh_actor_handler_seconds buckets:
// 1, 2.5 and 5 per decade from 1 microsecond to 1 second.
[[nodiscard]] prometheus::Histogram::BucketBoundaries handler_time_buckets();

// The per-actor-type families:
//   mesh_actor_messages_total{actor_type}   counter, messages handled
//   mesh_actor_handler_seconds{actor_type}  histogram, time in the handler
//   mesh_actor_mailbox_depth{actor_type}    gauge, messages waiting
// Thread-safe: any actor may record from any scheduler thread. The registry
// must outlive this object; the families stay registered in it.
class actor_metrics {
 public:
  explicit actor_metrics(prometheus::Registry& registry);

  actor_metrics(const actor_metrics&) = delete;
  actor_metrics& operator=(const actor_metrics&) = delete;

  // Counts one handled message and observes its handler time.
  void record_message(std::string_view actor_type, std::chrono::nanoseconds handler_time);

  // Sets the number of messages waiting in the mailbox of `actor_type`.
  void set_mailbox_depth(std::string_view actor_type, std::size_t depth);

 private:
  struct series {
    prometheus::Counter* messages;
    prometheus::Histogram* handler_seconds;
    prometheus::Gauge* mailbox_depth;
  };

  // Returns the series of `actor_type`, adding them on first use.
  series& series_for(std::string_view actor_type);

  prometheus::Family<prometheus::Counter>& messages_;
  prometheus::Family<prometheus::Histogram>& handler_seconds_;
  prometheus::Family<prometheus::Gauge>& mailbox_depth_;
  std::shared_mutex mutex_;
  std::map<std::string, series, std::less<>> by_type_;
};

// Adds mesh_build_info{version="<version>"} = 1 to `registry`, so dashboards
// can show which build each node runs. Call once per registry.
void register_build_info(prometheus::Registry& registry, std::string_view version);

}  // namespace mesh::telemetry
