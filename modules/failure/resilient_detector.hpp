#pragma once

#include "modules/failure/failure_detector.hpp"

namespace orchestrator {

/// The resilient failure handler's policy: the heartbeat timeout, guarded
/// against the orchestrator's own faults. No worker is condemned in a round
/// that follows a stall of the orchestrator itself, when its checks ran
/// late. Nor is any condemned while more than a fraction of the workers look
/// dead at once, because that points at the orchestrator's own network.
class resilient_detector final : public failure_detector {
public:
  /// `max_dead_fraction` is in (0, 1]; a stall is a gap between two checks
  /// longer than twice `check_interval_ms`.
  resilient_detector(std::int64_t timeout_ms, std::int64_t check_interval_ms,
                     double max_dead_fraction);

  std::string name() const override {
    return "resilient_failure_handler";
  }

  std::vector<liveness> verdicts(const std::vector<liveness>& workers,
                                 std::int64_t now_steady_ms) override;

private:
  std::int64_t timeout_ms_;
  std::int64_t check_interval_ms_;
  double max_dead_fraction_;
  std::int64_t last_check_ms_ = -1;
};

} // namespace orchestrator
