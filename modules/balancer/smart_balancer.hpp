#pragma once

#include "modules/balancer/basic_balancer.hpp"

#include <cstddef>

namespace orchestrator {

/// The smart balancer's policy: the basic policy's fewest-moves plan, cut to
/// a budget of moves per round so that a rebalance never moves many
/// long-lived streams at once.
class smart_balancer final : public balancer {
public:
  /// `max_moves` is the budget per round and must be at least 1.
  explicit smart_balancer(std::size_t max_moves);

  std::string name() const override {
    return "smart_balancer";
  }

  std::vector<stream_move> plan(const std::vector<worker_load>& loads) override;

private:
  basic_balancer basic_;
  std::size_t max_moves_;
};

} // namespace orchestrator
