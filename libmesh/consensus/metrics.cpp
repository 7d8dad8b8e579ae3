// QuDAG metric families; see metrics.hpp.
#include "mesh/consensus/metrics.hpp"

#include <string>

namespace mesh::consensus {

namespace {

prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& registry,
                                                 const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& gauge(prometheus::Registry& registry, const std::string& name,
                                             const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Histogram& histogram(prometheus::Registry& registry, const std::string& name,
                                 const std::string& help,
                                 prometheus::Histogram::BucketBoundaries buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add(
      {}, std::move(buckets));
}

void add_growth(prometheus::Counter& target, std::uint64_t current, std::uint64_t& observed) {
  if (current > observed) {
    target.Increment(static_cast<double>(current - observed));
  }
  observed = current;
}

double seconds(std::chrono::nanoseconds value) {
  return std::chrono::duration<double>(value).count();
}

}  // namespace

dag_metrics::dag_metrics(prometheus::Registry& registry)
    : vertices_(gauge(registry, "mesh_dag_vertices",
                      "Stored vertices by consensus state (undecided, final, rejected)")),
      received_(counter(registry, "mesh_dag_vertices_received_total",
                        "Vertices offered to the consensus engine, by validation result")),
      polls_(counter(registry, "mesh_dag_polls_total",
                     "Avalanche polls this node started, completed with every vote, or timed out")),
      fetches_(counter(registry, "mesh_dag_fetches_total",
                       "Vertex fetch requests this node sent or answered")),
      waiting_(gauge(registry, "mesh_dag_waiting_vertices",
                     "Verified vertices waiting for their parents to arrive")
                   .Add({})),
      waiting_expired_(counter(registry, "mesh_dag_waiting_expired_total",
                               "Waiting vertices dropped because their ancestry did not arrive in time")
                           .Add({})),
      polls_started_(polls_.Add({{"outcome", "started"}})),
      polls_completed_(polls_.Add({{"outcome", "completed"}})),
      polls_timed_out_(polls_.Add({{"outcome", "timed_out"}})),
      votes_(counter(registry, "mesh_dag_votes_total", "Votes received for this node's polls").Add({})),
      poll_requests_answered_(counter(registry, "mesh_dag_poll_requests_answered_total",
                                      "Polls from peers that this node answered")
                                  .Add({})),
      conflict_sets_open_(gauge(registry, "mesh_dag_conflict_sets_open",
                                "Conflict sets with more than one member and no final vertex")
                              .Add({})),
      equivocations_(counter(registry, "mesh_dag_equivocations_total",
                             "Authors seen signing two vertices with one sequence number")
                         .Add({})),
      fetches_sent_(fetches_.Add({{"direction", "sent"}})),
      fetches_answered_(fetches_.Add({{"direction", "answered"}})),
      finality_(histogram(registry, "mesh_dag_finality_seconds",
                          "Time from submission to finality of the vertices this node authored",
                          {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30})),
      commit_(histogram(registry, "mesh_dag_store_commit_seconds",
                        "Time of one durable vertex store commit (one transaction)",
                        {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                         0.25, 1})) {
  const dag::vertex_state states[] = {dag::vertex_state::undecided, dag::vertex_state::final,
                                      dag::vertex_state::rejected};
  for (auto state : states) {
    by_state_[static_cast<std::size_t>(state)] =
        &vertices_.Add({{"state", std::string(dag::to_string(state))}});
  }
  for (std::size_t i = 0; i < dag::validation_result_count; ++i) {
    by_result_[i] = &received_.Add(
        {{"result", std::string(dag::to_string(static_cast<dag::validation_result>(i)))}});
  }
}

void dag_metrics::observe(const engine& machine, std::uint64_t undecided, std::uint64_t final,
                          std::uint64_t rejected) {
  by_state_[static_cast<std::size_t>(dag::vertex_state::undecided)]->Set(static_cast<double>(undecided));
  by_state_[static_cast<std::size_t>(dag::vertex_state::final)]->Set(static_cast<double>(final));
  by_state_[static_cast<std::size_t>(dag::vertex_state::rejected)]->Set(static_cast<double>(rejected));
  waiting_.Set(static_cast<double>(machine.waiting_count()));
  conflict_sets_open_.Set(static_cast<double>(machine.open_conflict_sets()));

  const auto& now = machine.stats();
  for (std::size_t i = 0; i < dag::validation_result_count; ++i) {
    add_growth(*by_result_[i], now.validation.counts[i], observed_.validation.counts[i]);
  }
  add_growth(polls_started_, now.polls_started, observed_.polls_started);
  add_growth(polls_completed_, now.polls_completed, observed_.polls_completed);
  add_growth(polls_timed_out_, now.polls_timed_out, observed_.polls_timed_out);
  add_growth(votes_, now.votes_received, observed_.votes_received);
  add_growth(equivocations_, now.equivocations, observed_.equivocations);
  add_growth(waiting_expired_, now.waiting_expired, observed_.waiting_expired);
}

void dag_metrics::record_finality(std::chrono::nanoseconds latency) {
  finality_.Observe(seconds(latency));
}

void dag_metrics::record_commit(std::chrono::nanoseconds duration) { commit_.Observe(seconds(duration)); }

void dag_metrics::count_poll_answered() { poll_requests_answered_.Increment(); }

void dag_metrics::count_fetch_sent(std::uint64_t requests) {
  fetches_sent_.Increment(static_cast<double>(requests));
}

void dag_metrics::count_fetch_answered() { fetches_answered_.Increment(); }

}  // namespace mesh::consensus
