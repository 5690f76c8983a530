#pragma once

#include "modules/balancer/balancer.hpp"

namespace orchestrator {

/// Evens out load in proportion to capacity with the fewest moves: a worker
/// above the ceiling of its share gives its newest streams to workers below
/// the floor of theirs. Workers within one stream of their share never move.
class basic_balancer final : public balancer {
public:
  std::string name() const override {
    return "basic";
  }

  std::vector<stream_move> plan(const std::vector<worker_load>& loads) override;
};

} // namespace orchestrator
