#pragma once

#include "actors/types.hpp"

#include <string>
#include <vector>

namespace orchestrator {

/// A rebalancing policy: turns the current loads into moves. Plain
/// synchronous code; the balancer actor owns one and sends its plans to the
/// coordinator, which applies only the moves that are still valid.
class balancer {
public:
  virtual ~balancer() = default;

  /// Returns the policy's name as shown in reports, such as "basic".
  virtual std::string name() const = 0;

  /// Plans moves for the active workers in `loads`.
  virtual std::vector<stream_move>
  plan(const std::vector<worker_load>& loads) = 0;
};

} // namespace orchestrator
