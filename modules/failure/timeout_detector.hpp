#pragma once

#include "modules/failure/failure_detector.hpp"

namespace orchestrator {

/// Declares a worker dead once it has been silent for longer than a fixed
/// timeout (HEARTBEAT_TIMEOUT).
class timeout_detector final : public failure_detector {
public:
  /// `check_interval_ms` is HEARTBEAT_CHECK_INTERVAL.
  explicit timeout_detector(std::int64_t timeout_ms,
                            std::int64_t check_interval_ms = 30'000)
    : timeout_ms_(timeout_ms), check_interval_ms_(check_interval_ms) {
  }

  std::string name() const override {
    return "basic";
  }

  detection assess(const std::vector<liveness>& workers,
                   std::int64_t now_steady_ms, std::int64_t now_wall_ms) override;

  detector_status status() const override;

  std::int64_t check_interval_ms() const override {
    return check_interval_ms_;
  }

private:
  std::int64_t timeout_ms_;
  std::int64_t check_interval_ms_;
  detector_status status_;
};

} // namespace orchestrator
