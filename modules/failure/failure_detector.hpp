#pragma once

#include "actors/types.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace orchestrator {

/// A policy that decides which workers are dead from their heartbeats. Plain
/// synchronous code with the time passed in; the failure handler actor owns
/// one.
class failure_detector {
public:
  virtual ~failure_detector() = default;

  /// Returns the policy's name as shown in reports, such as "basic".
  virtual std::string name() const = 0;

  /// Returns the workers among `workers` to declare dead at `now_steady_ms`.
  virtual std::vector<liveness> verdicts(const std::vector<liveness>& workers,
                                         std::int64_t now_steady_ms) = 0;
};

} // namespace orchestrator
