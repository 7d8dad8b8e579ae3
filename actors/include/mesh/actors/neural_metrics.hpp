#pragma once
// Prometheus metric families of the neural mesh:
//   mesh_neural_agents_active{kind}                   gauge, agents on this node (api, replica, model)
//   mesh_neural_jobs{state}                           gauge, jobs this node coordinates, by state
//   mesh_neural_epochs_total                          counter, epochs completed by the jobs this node coordinates
//   mesh_neural_epochs_per_second                     gauge, epoch rate of the running jobs over their last round
//   mesh_neural_job_mse{job,set}                      gauge, train MSE of running jobs and test MSE of completed ones
//   mesh_neural_inference_seconds                     histogram, time to answer one inference request
//   mesh_neural_inference_requests_total{outcome}     counter, inference requests by outcome
//   mesh_neural_refusals_total{reason}                counter, requests refused by a limit
// Thread-safe: prometheus-cpp metrics are, and the neural manager is the
// only writer. The registry must outlive this object.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace mesh::actors {

struct neural_metrics {
  explicit neural_metrics(prometheus::Registry& registry);

  // Sets the train (`set` = "train") or test MSE of `job`.
  void set_job_mse(const std::string& job, const std::string& set, double mse);
  // Removes the MSE series of `job` for `set`.
  void remove_job_mse(const std::string& job, const std::string& set);

  prometheus::Family<prometheus::Gauge>& agents_active;
  prometheus::Family<prometheus::Gauge>& jobs;
  prometheus::Family<prometheus::Counter>& epochs;
  prometheus::Family<prometheus::Gauge>& epochs_per_second;
  prometheus::Family<prometheus::Gauge>& job_mse;
  prometheus::Family<prometheus::Histogram>& inference_seconds;
  prometheus::Family<prometheus::Counter>& inference_requests;
  prometheus::Family<prometheus::Counter>& refusals;
};

}  // namespace mesh::actors
