#pragma once
// Prometheus metric families of the membership protocol:
//   mesh_membership_members{state}            gauge, known members by state (self included)
//   mesh_membership_probes_total              counter, direct probes sent
//   mesh_membership_probes_failed_total       counter, probes that got no ack in time
//   mesh_membership_indirect_probes_total     counter, ping requests sent to helpers
//   mesh_membership_suspicions_total          counter, suspicions raised after failed probes
//   mesh_membership_refutations_total         counter, suspicions of this node it refuted
//   mesh_membership_push_pulls_total          counter, push-pull exchanges started or answered
//   mesh_membership_gossip_dropped_total      counter, queued updates dropped by the queue bound
//   mesh_membership_join_attempts_total       counter, join attempts with at least one seed
//   mesh_membership_nacks_sent_total          counter, nacks sent as helper of an indirect probe
//   mesh_membership_nacks_missed_total        counter, nacks this node expected and did not get
//   mesh_membership_local_health              gauge, Lifeguard local health multiplier (0 = healthy)
// Not thread-safe by itself: the owner of the swim calls observe(). Scrapes
// from the exposer threads are safe because prometheus-cpp metrics are.
// The registry must outlive this object.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>

#include "mesh/membership/swim.hpp"

namespace mesh::membership {

struct membership_metrics {
  explicit membership_metrics(prometheus::Registry& registry);

  // Sets the gauges from the member counts of `machine` and adds to each
  // counter the growth of the matching statistic since the previous call.
  void observe(const swim& machine);

  prometheus::Family<prometheus::Gauge>& members;
  prometheus::Family<prometheus::Counter>& probes;
  prometheus::Family<prometheus::Counter>& probes_failed;
  prometheus::Family<prometheus::Counter>& indirect_probes;
  prometheus::Family<prometheus::Counter>& suspicions;
  prometheus::Family<prometheus::Counter>& refutations;
  prometheus::Family<prometheus::Counter>& push_pulls;
  prometheus::Family<prometheus::Counter>& gossip_dropped;
  prometheus::Family<prometheus::Counter>& join_attempts;
  prometheus::Family<prometheus::Counter>& nacks_sent;
  prometheus::Family<prometheus::Counter>& nacks_missed;
  prometheus::Family<prometheus::Gauge>& local_health;

 private:
  std::array<prometheus::Gauge*, 4> members_by_state_{};
  prometheus::Counter& probes_total_;
  prometheus::Counter& probes_failed_total_;
  prometheus::Counter& indirect_probes_total_;
  prometheus::Counter& suspicions_total_;
  prometheus::Counter& refutations_total_;
  prometheus::Counter& push_pulls_total_;
  prometheus::Counter& gossip_dropped_total_;
  prometheus::Counter& join_attempts_total_;
  prometheus::Counter& nacks_sent_total_;
  prometheus::Counter& nacks_missed_total_;
  prometheus::Gauge& local_health_value_;
  statistics observed_{};
};

}  // namespace mesh::membership
