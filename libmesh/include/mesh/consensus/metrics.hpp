#pragma once
// Prometheus metric families of QuDAG:
//   mesh_dag_vertices{state}                   gauge, stored vertices by state (undecided, final, rejected)
//   mesh_dag_vertices_received_total{result}   counter, vertices offered to the engine, by validation result
//   mesh_dag_waiting_vertices                  gauge, vertices waiting for parents
//   mesh_dag_waiting_expired_total             counter, waiting vertices dropped because their ancestry never arrived
//   mesh_dag_polls_total{outcome}              counter, polls started, completed (every vote) or timed_out
//   mesh_dag_votes_total                       counter, votes received for this node's polls
//   mesh_dag_poll_requests_answered_total      counter, peers' polls this node answered
//   mesh_dag_conflict_sets_open                gauge, conflict sets with rivals and no final vertex
//   mesh_dag_equivocations_total               counter, equivocations detected
//   mesh_dag_fetches_total{direction}          counter, vertex fetch requests sent and answered
//   mesh_dag_finality_seconds                  histogram, submit-to-final time of this node's vertices
//   mesh_dag_store_commit_seconds              histogram, time of one durable store commit
// Not thread-safe by itself: the DAG actor records into it. Scrapes from the
// HTTP thread are safe because prometheus-cpp metrics are. The registry must
// outlive this object.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstdint>

#include "mesh/consensus/engine.hpp"
#include "mesh/dag/validation.hpp"

namespace mesh::consensus {

struct dag_metrics {
  explicit dag_metrics(prometheus::Registry& registry);

  dag_metrics(const dag_metrics&) = delete;
  dag_metrics& operator=(const dag_metrics&) = delete;

  // Sets the gauges from `machine` and adds to each counter the growth of the
  // matching engine statistic since the previous call.
  void observe(const engine& machine, std::uint64_t undecided, std::uint64_t final,
               std::uint64_t rejected);

  void record_finality(std::chrono::nanoseconds latency);
  void record_commit(std::chrono::nanoseconds duration);
  void count_poll_answered();
  void count_fetch_sent(std::uint64_t requests);
  void count_fetch_answered();

 private:
  prometheus::Family<prometheus::Gauge>& vertices_;
  prometheus::Family<prometheus::Counter>& received_;
  prometheus::Family<prometheus::Counter>& polls_;
  prometheus::Family<prometheus::Counter>& fetches_;
  std::array<prometheus::Gauge*, 3> by_state_{};
  std::array<prometheus::Counter*, dag::validation_result_count> by_result_{};
  prometheus::Gauge& waiting_;
  prometheus::Counter& waiting_expired_;
  prometheus::Counter& polls_started_;
  prometheus::Counter& polls_completed_;
  prometheus::Counter& polls_timed_out_;
  prometheus::Counter& votes_;
  prometheus::Counter& poll_requests_answered_;
  prometheus::Gauge& conflict_sets_open_;
  prometheus::Counter& equivocations_;
  prometheus::Counter& fetches_sent_;
  prometheus::Counter& fetches_answered_;
  prometheus::Histogram& finality_;
  prometheus::Histogram& commit_;
  engine_stats observed_{};
};

}  // namespace mesh::consensus
