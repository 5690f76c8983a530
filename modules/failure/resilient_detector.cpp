#include "modules/failure/resilient_detector.hpp"

#include <stdexcept>

namespace orchestrator {

resilient_detector::resilient_detector(std::int64_t timeout_ms,
                                       std::int64_t check_interval_ms,
                                       double max_dead_fraction)
  : timeout_ms_(timeout_ms),
    check_interval_ms_(check_interval_ms),
    max_dead_fraction_(max_dead_fraction) {
  if (timeout_ms_ <= 0 || check_interval_ms_ <= 0)
    throw std::invalid_argument("heartbeat timeout and check interval must be "
                                "positive");
  if (!(max_dead_fraction_ > 0 && max_dead_fraction_ <= 1))
    throw std::invalid_argument("max_dead_fraction must be in (0, 1]");
}

std::vector<liveness>
resilient_detector::verdicts(const std::vector<liveness>& workers,
                             std::int64_t now_steady_ms) {
  auto previous = last_check_ms_;
  last_check_ms_ = now_steady_ms;
  // After a stall, every worker looks silent for as long as we were stuck.
  if (previous >= 0 && now_steady_ms - previous > 2 * check_interval_ms_)
    return {};

  std::vector<liveness> dead;
  for (const auto& w : workers)
    if (now_steady_ms - w.last_seen_steady_ms > timeout_ms_)
      dead.push_back(w);
  if (workers.size() >= 2
      && static_cast<double>(dead.size())
           > max_dead_fraction_ * static_cast<double>(workers.size()))
    return {};
  return dead;
}

} // namespace orchestrator
