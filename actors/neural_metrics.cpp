#include "mesh/actors/neural_metrics.hpp"

namespace mesh::actors {

neural_metrics::neural_metrics(prometheus::Registry& registry)
    : agents_active(prometheus::BuildGauge()
                        .Name("mesh_neural_agents_active")
                        .Help("Neural agents running on this node, by kind (api, replica, model)")
                        .Register(registry)),
      jobs(prometheus::BuildGauge()
               .Name("mesh_neural_jobs")
               .Help("Training jobs coordinated by this node, by state")
               .Register(registry)),
      epochs(prometheus::BuildCounter()
                 .Name("mesh_neural_epochs_total")
                 .Help("Training epochs completed by the jobs this node coordinates")
                 .Register(registry)),
      epochs_per_second(prometheus::BuildGauge()
                            .Name("mesh_neural_epochs_per_second")
                            .Help("Epochs per second of the running jobs, summed, over each job's last round")
                            .Register(registry)),
      job_mse(prometheus::BuildGauge()
                  .Name("mesh_neural_job_mse")
                  .Help("Mean squared error of a job: set=train while it runs, set=test once completed")
                  .Register(registry)),
      inference_seconds(prometheus::BuildHistogram()
                            .Name("mesh_neural_inference_seconds")
                            .Help("Time to answer one inference request, in seconds, model loading included")
                            .Register(registry)),
      inference_requests(prometheus::BuildCounter()
                             .Name("mesh_neural_inference_requests_total")
                             .Help("Inference requests by outcome: ok, invalid, not_found, timed_out, error")
                             .Register(registry)),
      refusals(prometheus::BuildCounter()
                   .Name("mesh_neural_refusals_total")
                   .Help("Requests refused by a neural limit, by reason")
                   .Register(registry)) {}

void neural_metrics::set_job_mse(const std::string& job, const std::string& set, double mse) {
  job_mse.Add({{"job", job}, {"set", set}}).Set(mse);
}

void neural_metrics::remove_job_mse(const std::string& job, const std::string& set) {
  auto& series = job_mse.Add({{"job", job}, {"set", set}});
  job_mse.Remove(&series);
}

}  // namespace mesh::actors
