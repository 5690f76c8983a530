#include "modules/balancer/smart_balancer.hpp"

#include "modules/balancer/fair_share.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace orchestrator {

namespace {

void require(bool valid, const std::string& what) {
  if (!valid)
    throw std::invalid_argument(what);
}

/// A worker without metrics ranks between idle and busy ones.
constexpr double unknown_score = 0.5;

} // namespace

smart_balancer::smart_balancer(balancer_settings config)
  : config_(std::move(config)) {
  require(config_.max_moves >= 1, "max_moves must be at least 1");
  require(config_.max_move_fraction > 0 && config_.max_move_fraction <= 1,
          "max_move_fraction must be in (0, 1]");
  require(config_.imbalance_threshold >= 0,
          "imbalance_threshold must not be negative");
  require(config_.max_stream_difference >= 0,
          "max_stream_difference must not be negative");
  require(config_.max_load_factor > 0 && config_.max_load_factor <= 1,
          "max_load_factor must be in (0, 1]");
  require(config_.cooldown_ms >= 0, "cooldown must not be negative");
  require(config_.load_average_full > 0,
          "load_average_full must be positive");
  const auto& w = config_.weights;
  for (double weight : {w.cpu, w.memory, w.load, w.failures, w.response_time})
    require(weight >= 0 && std::isfinite(weight),
            "score weights must be finite and not negative");
  require(w.cpu + w.memory + w.load > 0,
          "the cpu, memory and load score weights must not all be zero");
}

double smart_balancer::score(const worker_load& load) const {
  if (!load.has_metrics)
    return -1;
  const auto& w = config_.weights;
  double sum = w.cpu * load.cpu_percent / 100 + w.memory * load.memory_percent / 100;
  double weights = w.cpu + w.memory;
  if (load.load_average_1m >= 0) {
    sum += w.load * std::min(load.load_average_1m / config_.load_average_full, 1.0);
    weights += w.load;
  }
  return weights > 0 ? std::clamp(sum / weights, 0.0, 1.0) : -1;
}

balance_plan smart_balancer::plan(const balance_input& input) const {
  const auto& loads = input.workers;
  auto n = loads.size();
  std::vector<share_input> shares(n);
  std::vector<double> scores(n);
  std::vector<bool> overloaded(n);
  std::uint64_t total = 0;
  std::uint64_t receivers = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& load = loads[i];
    scores[i] = score(load);
    overloaded[i] = scores[i] > config_.max_load_factor;
    double claim = load.draining ? 0.0
                                 : load.weight * load.max_streams
                                     * (overloaded[i] ? 0.5 : 1.0);
    shares[i] = share_input{load.load(), load.max_streams, claim,
                            scores[i] >= 0 ? scores[i] : unknown_score};
    total += load.load();
    receivers += claim > 0 ? 1 : 0;
  }
  auto fair = fair_targets(shares);

  balance_plan result;
  result.minimum_moves = fair.minimum_moves;
  bool mandatory = false;
  double dev_min = std::numeric_limits<double>::max();
  double dev_max = std::numeric_limits<double>::lowest();
  double ratio_min = dev_min;
  double ratio_max = dev_max;
  for (std::size_t i = 0; i < n; ++i) {
    result.targets.push_back(worker_target{loads[i].server_id,
                                           shares[i].current, fair.shares[i],
                                           fair.targets[i], scores[i],
                                           overloaded[i]});
    bool surplus = shares[i].current > fair.targets[i];
    mandatory = mandatory || (surplus && (loads[i].draining || overloaded[i]));
    if (shares[i].claim <= 0 || fair.shares[i] <= 0)
      continue;
    double dev = shares[i].current - fair.shares[i];
    double ratio = shares[i].current / fair.shares[i];
    dev_min = std::min(dev_min, dev);
    dev_max = std::max(dev_max, dev);
    ratio_min = std::min(ratio_min, ratio);
    ratio_max = std::max(ratio_max, ratio);
  }
  if (dev_max >= dev_min) {
    result.spread_streams = dev_max - dev_min;
    result.spread_ratio = ratio_max - ratio_min;
  }
  bool imbalanced = receivers >= config_.min_instances
                    && result.spread_streams > config_.max_stream_difference
                    && result.spread_ratio > config_.imbalance_threshold;
  result.needs_rebalancing
    = fair.minimum_moves > 0 && (mandatory || imbalanced || input.converging);

  auto cap = static_cast<std::uint64_t>(
    std::floor(config_.max_move_fraction * static_cast<double>(total)));
  result.budget = std::max<std::uint64_t>(1, std::min(config_.max_moves, cap));

  // The reason names what made the moves necessary.
  bool joined = input.last_membership_change == "join";
  for (std::size_t i = 0; i < n && !joined; ++i)
    joined = shares[i].claim > 0 && shares[i].current == 0
             && fair.targets[i] > 0;
  bool degraded = false;
  for (std::size_t i = 0; i < n; ++i)
    degraded = degraded || (overloaded[i] && shares[i].current > fair.targets[i]);
  if (input.manual)
    result.reason = "manual";
  else if (degraded)
    result.reason = "performance_degradation";
  else if (joined)
    result.reason = "new_instance";
  else if (input.last_membership_change == "death")
    result.reason = "instance_failure";
  else
    result.reason = "load_imbalance";

  if (fair.minimum_moves == 0 || (!result.needs_rebalancing && !input.manual))
    return result;

  if (input.handoffs_in_flight > 0) {
    result.deferred = std::to_string(input.handoffs_in_flight)
                      + " streams are still being handed off";
    return result;
  }
  for (const auto& load : loads)
    if (load.suspect) {
      result.deferred = "worker " + load.server_id
                        + " is suspected of failing (no heartbeat for "
                        + std::to_string(load.heartbeat_age_ms / 1000) + " s)";
      return result;
    }
  if (!input.manual && input.since_membership_change_ms >= 0
      && input.since_membership_change_ms < config_.cooldown_ms) {
    auto left = (config_.cooldown_ms - input.since_membership_change_ms + 999) / 1000;
    result.deferred = "cool-down after a worker " + input.last_membership_change
                      + " (" + std::to_string(left) + " s left)";
    return result;
  }

  std::vector<int> urgency(n, 0);
  std::vector<double> preference(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Draining workers empty first, then overloaded ones shed.
    if (loads[i].draining)
      urgency[i] = 2;
    else if (overloaded[i])
      urgency[i] = 1;
    preference[i] = shares[i].preference;
  }
  result.moves = pick_moves(loads, fair.targets, urgency, preference,
                            result.budget);
  return result;
}

} // namespace orchestrator
