#pragma once

#include "modules/balancer/balancer.hpp"

namespace orchestrator {

/// The smart balancer's policy. It places streams in proportion to weight ×
/// capacity, prefers workers whose system metrics show less load, and halves
/// the share of an overloaded worker. A stream moves only to fix an
/// imbalance, and then as few as possible:
/// - a round starts only past the hysteresis thresholds, and later rounds
///   continue until balance is reached;
/// - nothing moves while a worker is suspect, while handoffs are in flight,
///   or during the cool-down after a membership change (except on an
///   operator's request);
/// - each round moves at most the budget.
class smart_balancer final : public balancer {
public:
  /// Throws std::invalid_argument if a setting is out of range.
  explicit smart_balancer(balancer_settings config);

  std::string name() const override {
    return "smart_balancer";
  }

  balance_plan plan(const balance_input& input) const override;

  /// Returns the load score in [0, 1] of a worker's metrics, or -1 if it
  /// reports none.
  double score(const worker_load& load) const;

  const balancer_settings& config() const {
    return config_;
  }

private:
  balancer_settings config_;
};

} // namespace orchestrator
