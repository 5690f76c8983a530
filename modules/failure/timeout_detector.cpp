#include "modules/failure/timeout_detector.hpp"

namespace orchestrator {

std::vector<liveness>
timeout_detector::verdicts(const std::vector<liveness>& workers,
                           std::int64_t now_steady_ms) {
  std::vector<liveness> result;
  for (const auto& w : workers)
    if (now_steady_ms - w.last_seen_steady_ms > timeout_ms_)
      result.push_back(w);
  return result;
}

} // namespace orchestrator
