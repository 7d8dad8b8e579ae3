#include "mesh/consensus/params.hpp"

#include <algorithm>
#include <string>

namespace mesh::consensus {

avalanche_params avalanche_params::fast() {
  avalanche_params params;
  params.k = 10;
  params.alpha = 7;
  params.beta1 = 8;
  params.beta2 = 12;
  return params;
}

avalanche_params avalanche_params::secure() {
  avalanche_params params;
  params.k = 20;
  params.alpha = 16;
  params.beta1 = 30;
  params.beta2 = 150;
  return params;
}

result<avalanche_params> avalanche_preset(std::string_view name) {
  if (name == "default") {
    return avalanche_params{};
  }
  if (name == "fast") {
    return avalanche_params::fast();
  }
  if (name == "secure") {
    return avalanche_params::secure();
  }
  return fail(errc::invalid_config, "unknown Avalanche preset \"" + std::string(name) +
                                        "\"; accepted: default, fast, secure");
}

result<void> validate(const avalanche_params& params) {
  if (params.k == 0) {
    return fail(errc::invalid_config, "avalanche k is 0; it must be at least 1");
  }
  if (params.alpha * 2 <= params.k || params.alpha > params.k) {
    return fail(errc::invalid_config, "avalanche alpha " + std::to_string(params.alpha) +
                                          " must be more than k/2 and at most k (k = " +
                                          std::to_string(params.k) + ")");
  }
  if (params.beta1 == 0) {
    return fail(errc::invalid_config, "avalanche beta1 is 0; it must be at least 1");
  }
  if (params.beta2 < params.beta1) {
    return fail(errc::invalid_config, "avalanche beta2 " + std::to_string(params.beta2) +
                                          " must be at least beta1 " +
                                          std::to_string(params.beta1));
  }
  return {};
}

poll_quorum effective_quorum(const avalanche_params& params, std::size_t voting_peers) noexcept {
  poll_quorum quorum;
  if (voting_peers == 0 || params.k == 0) {
    return quorum;
  }
  quorum.k = std::min(params.k, voting_peers);
  quorum.alpha_preference = quorum.k / 2 + 1;
  const std::size_t scaled = (params.alpha * quorum.k + params.k - 1) / params.k;
  quorum.alpha_confidence = std::min(quorum.k, std::max(scaled, quorum.alpha_preference));
  return quorum;
}

}  // namespace mesh::consensus
