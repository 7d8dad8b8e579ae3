#include "mesh/telemetry/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <mutex>
#include <sstream>

namespace mesh::telemetry {

std::string serialize_text(const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& weak : collectables) {
    const auto collectable = weak.lock();
    if (!collectable) {
      continue;
    }
    auto collected = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(collected.begin()),
                    std::make_move_iterator(collected.end()));
  }

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

prometheus::Histogram::BucketBoundaries handler_time_buckets() {
  prometheus::Histogram::BucketBoundaries bounds;
  for (double decade = 1e-6; decade < 1.0; decade *= 10.0) {
    bounds.push_back(decade);
    bounds.push_back(decade * 2.5);
    bounds.push_back(decade * 5.0);
  }
  bounds.push_back(1.0);
  return bounds;
}

actor_metrics::actor_metrics(prometheus::Registry& registry)
    : messages_(prometheus::BuildCounter()
                    .Name("mesh_actor_messages_total")
                    .Help("Messages handled, by actor type.")
                    .Register(registry)),
      handler_seconds_(prometheus::BuildHistogram()
                           .Name("mesh_actor_handler_seconds")
                           .Help("Time spent in the message handler, in seconds, by actor type.")
                           .Register(registry)),
      mailbox_depth_(prometheus::BuildGauge()
                         .Name("mesh_actor_mailbox_depth")
                         .Help("Messages waiting in the mailbox, by actor type.")
                         .Register(registry)) {}

actor_metrics::series& actor_metrics::series_for(std::string_view actor_type) {
  {
    std::shared_lock read_lock(mutex_);
    if (const auto found = by_type_.find(actor_type); found != by_type_.end()) {
      return found->second;
    }
  }

  std::unique_lock write_lock(mutex_);
  if (const auto found = by_type_.find(actor_type); found != by_type_.end()) {
    return found->second;
  }
  const prometheus::Labels labels{{"actor_type", std::string(actor_type)}};
  series added{&messages_.Add(labels), &handler_seconds_.Add(labels, handler_time_buckets()),
               &mailbox_depth_.Add(labels)};
  // std::map never moves its nodes, so the reference stays valid after the lock.
  return by_type_.emplace(std::string(actor_type), added).first->second;
}

void actor_metrics::record_message(std::string_view actor_type,
                                   std::chrono::nanoseconds handler_time) {
  auto& found = series_for(actor_type);
  found.messages->Increment();
  found.handler_seconds->Observe(std::chrono::duration<double>(handler_time).count());
}

void actor_metrics::set_mailbox_depth(std::string_view actor_type, std::size_t depth) {
  series_for(actor_type).mailbox_depth->Set(static_cast<double>(depth));
}

void register_build_info(prometheus::Registry& registry, std::string_view version) {
  prometheus::BuildGauge()
      .Name("mesh_build_info")
      .Help("Always 1; the version label names the libmesh build.")
      .Register(registry)
      .Add({{"version", std::string(version)}})
      .Set(1.0);
}

}  // namespace mesh::telemetry
