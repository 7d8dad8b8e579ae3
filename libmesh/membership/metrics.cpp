// Membership metric families; see metrics.hpp.
#include "mesh/membership/metrics.hpp"

#include <string>

namespace mesh::membership {

namespace {

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry, const std::string& name,
                                                 const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

void add_growth(prometheus::Counter& target, std::uint64_t current, std::uint64_t& observed) {
  if (current > observed) {
    target.Increment(static_cast<double>(current - observed));
  }
  observed = current;
}

}  // namespace

membership_metrics::membership_metrics(prometheus::Registry& registry)
    : members(prometheus::BuildGauge()
                  .Name("mesh_membership_members")
                  .Help("Members this node knows, by state (alive, suspect, dead, left), self included")
                  .Register(registry)),
      probes(counter(registry, "mesh_membership_probes_total", "Direct probes (pings) sent")),
      probes_failed(counter(registry, "mesh_membership_probes_failed_total",
                            "Probes that got no direct or indirect ack within the probe interval")),
      indirect_probes(counter(registry, "mesh_membership_indirect_probes_total",
                              "Ping requests sent to helpers after a direct probe timed out")),
      suspicions(counter(registry, "mesh_membership_suspicions_total",
                         "Members this node suspected after a failed probe")),
      refutations(counter(registry, "mesh_membership_refutations_total",
                          "Suspicions or death declarations about this node that it refuted")),
      push_pulls(counter(registry, "mesh_membership_push_pulls_total",
                         "Push-pull state exchanges started or answered")),
      gossip_dropped(counter(registry, "mesh_membership_gossip_dropped_total",
                             "Queued gossip updates dropped by the queue bound before their last send")),
      join_attempts(counter(registry, "mesh_membership_join_attempts_total",
                            "Join attempts with at least one seed address")),
      nacks_sent(counter(registry, "mesh_membership_nacks_sent_total",
                         "Nacks sent to the requester of an indirect probe whose target did not ack in time")),
      nacks_missed(counter(registry, "mesh_membership_nacks_missed_total",
                           "Nacks this node expected from helpers of its indirect probes and did not receive")),
      local_health(prometheus::BuildGauge()
                       .Name("mesh_membership_local_health")
                       .Help("Lifeguard local health multiplier; probe interval and timeout are scaled by it + 1, 0 is healthy")
                       .Register(registry)),
      probes_total_(probes.Add({})),
      probes_failed_total_(probes_failed.Add({})),
      indirect_probes_total_(indirect_probes.Add({})),
      suspicions_total_(suspicions.Add({})),
      refutations_total_(refutations.Add({})),
      push_pulls_total_(push_pulls.Add({})),
      gossip_dropped_total_(gossip_dropped.Add({})),
      join_attempts_total_(join_attempts.Add({})),
      nacks_sent_total_(nacks_sent.Add({})),
      nacks_missed_total_(nacks_missed.Add({})),
      local_health_value_(local_health.Add({})) {
  for (auto state : {member_state::alive, member_state::suspect, member_state::dead, member_state::left}) {
    members_by_state_[static_cast<std::size_t>(state)] =
        &members.Add({{"state", std::string(to_string(state))}});
  }
}

void membership_metrics::observe(const swim& machine) {
  for (auto state : {member_state::alive, member_state::suspect, member_state::dead, member_state::left}) {
    members_by_state_[static_cast<std::size_t>(state)]->Set(static_cast<double>(machine.count(state)));
  }

  const auto& current = machine.stats();
  add_growth(probes_total_, current.probes_sent, observed_.probes_sent);
  add_growth(probes_failed_total_, current.probes_failed, observed_.probes_failed);
  add_growth(indirect_probes_total_, current.indirect_probes_sent, observed_.indirect_probes_sent);
  add_growth(suspicions_total_, current.suspicions_raised, observed_.suspicions_raised);
  add_growth(refutations_total_, current.refutations, observed_.refutations);
  add_growth(push_pulls_total_, current.push_pulls, observed_.push_pulls);
  add_growth(gossip_dropped_total_, current.gossip_dropped, observed_.gossip_dropped);
  add_growth(join_attempts_total_, current.join_attempts, observed_.join_attempts);
  add_growth(nacks_sent_total_, current.nacks_sent, observed_.nacks_sent);
  add_growth(nacks_missed_total_, current.nacks_missed, observed_.nacks_missed);
  local_health_value_.Set(static_cast<double>(current.local_health));
}

}  // namespace mesh::membership
