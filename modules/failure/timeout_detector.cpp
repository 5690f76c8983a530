#include "modules/failure/timeout_detector.hpp"

namespace orchestrator {

detection timeout_detector::assess(const std::vector<liveness>& workers,
                                   std::int64_t now_steady_ms,
                                   std::int64_t now_wall_ms) {
  detection result;
  status_.workers.clear();
  for (const auto& w : workers) {
    worker_health health;
    health.server_id = w.server_id;
    health.silence_ms = now_steady_ms - w.last_seen_steady_ms;
    health.interval_mean_ms = w.interval_mean_ms;
    health.intervals = w.intervals;
    status_.workers.push_back(health);
    if (health.silence_ms > timeout_ms_)
      result.dead.push_back(w);
  }
  ++status_.rounds;
  status_.deaths += result.dead.size();
  status_.last_check_ms = now_wall_ms;
  return result;
}

detector_status timeout_detector::status() const {
  auto result = status_;
  result.method = name();
  result.settings = {"heartbeat_timeout_ms=" + std::to_string(timeout_ms_)};
  return result;
}

} // namespace orchestrator
