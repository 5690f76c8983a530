#include "modules/balancer/basic_balancer.hpp"

#include "modules/balancer/fair_share.hpp"

#include <limits>

namespace orchestrator {

balance_plan basic_balancer::plan(const balance_input& input) const {
  const auto& loads = input.workers;
  std::vector<share_input> shares;
  shares.reserve(loads.size());
  std::size_t receivers = 0;
  bool draining_holds = false;
  for (const auto& load : loads) {
    double claim = load.draining ? 0.0 : load.weight * load.max_streams;
    shares.push_back(share_input{load.load(), load.max_streams, claim, 0});
    receivers += claim > 0 ? 1 : 0;
    draining_holds = draining_holds || (load.draining && load.load() > 0);
  }
  auto fair = fair_targets(shares);

  balance_plan result;
  result.reason = input.manual ? "manual" : "load_imbalance";
  result.minimum_moves = fair.minimum_moves;
  result.needs_rebalancing = fair.minimum_moves > 0;
  result.budget = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t i = 0; i < loads.size(); ++i)
    result.targets.push_back(worker_target{loads[i].server_id, shares[i].current,
                                           fair.shares[i], fair.targets[i],
                                           -1, false});
  if (fair.minimum_moves == 0 || (receivers < 2 && !draining_holds))
    return result;
  if (input.handoffs_in_flight > 0) {
    result.deferred = std::to_string(input.handoffs_in_flight)
                      + " streams are still being handed off";
    return result;
  }
  std::vector<int> urgency(loads.size(), 0);
  for (std::size_t i = 0; i < loads.size(); ++i)
    urgency[i] = loads[i].draining ? 1 : 0;
  result.moves = pick_moves(loads, fair.targets, urgency,
                            std::vector<double>(loads.size(), 0.0),
                            result.budget);
  return result;
}

} // namespace orchestrator
