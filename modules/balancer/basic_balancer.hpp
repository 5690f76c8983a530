#pragma once

#include "modules/balancer/balancer.hpp"

namespace orchestrator {

/// Evens out load in proportion to weight × capacity with the fewest moves,
/// all in one round: a worker above its target gives its newest streams to
/// workers below theirs, and a draining worker gives everything others have
/// room for. Workers within one stream of their share never move. No
/// thresholds, budget or system metrics: those are the smart balancer's.
class basic_balancer final : public balancer {
public:
  std::string name() const override {
    return "basic";
  }

  balance_plan plan(const balance_input& input) const override;
};

} // namespace orchestrator
