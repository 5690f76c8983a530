#include "modules/failure/resilient_detector.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace orchestrator {

double phi_of(double silence_ms, double mean_ms, double stddev_ms) {
  // A logistic approximation of the normal distribution's tail, accurate to
  // about 1e-4 (the one Akka's detector uses), evaluated in logarithms so
  // that long silences give large finite values instead of infinity.
  double y = (silence_ms - mean_ms) / stddev_ms;
  double exponent = y * (1.5976 + 0.070566 * y * y);
  if (y > 0) {
    // p = e / (1 + e) with e = exp(-exponent).
    double log_p = -exponent - std::log1p(std::exp(-exponent));
    return -log_p / std::log(10.0);
  }
  // p = 1 - 1 / (1 + e) = e / (1 + e) with e = exp(-exponent) >= 1.
  double p = 1.0 / (1.0 + std::exp(exponent));
  return -std::log10(p);
}

resilient_detector::resilient_detector(resilient_settings config)
  : config_(config) {
  config_.check_interval_ms = std::min(config_.check_interval_ms,
                                       max_check_interval_ms);
  auto require = [](bool valid, const char* what) {
    if (!valid)
      throw std::invalid_argument(what);
  };
  require(config_.heartbeat_timeout_ms > 0 && config_.check_interval_ms > 0,
          "heartbeat timeout and check interval must be positive");
  require(config_.phi_threshold > 0 && config_.phi_suspect > 0
            && config_.phi_suspect <= config_.phi_threshold,
          "phi thresholds must be positive, the suspect one at most the "
          "death one");
  require(config_.acceptable_pause_ms >= 0 && config_.grace_ms >= 0,
          "acceptable pause and grace period must not be negative");
  require(config_.min_stddev_ms > 0 && config_.min_stddev_fraction >= 0,
          "minimum standard deviation must be positive");
  require(config_.max_suspect_fraction > 0 && config_.max_suspect_fraction <= 1,
          "max_suspect_fraction must be in (0, 1]");
  require(config_.flap_window_ms >= 0 && config_.quarantine_base_ms >= 0
            && config_.quarantine_max_ms >= config_.quarantine_base_ms,
          "quarantine times must not be negative, the maximum at least the "
          "base");
}

detection resilient_detector::assess(const std::vector<liveness>& workers,
                                     std::int64_t now_steady_ms,
                                     std::int64_t now_wall_ms) {
  detection result;
  auto previous = last_check_steady_ms_;
  last_check_steady_ms_ = now_steady_ms;
  ++status_.rounds;
  status_.last_check_ms = now_wall_ms;

  // Judge every worker first, so that status shows them even in a round
  // without verdicts.
  std::set<std::string> present;
  std::vector<const liveness*> candidates;
  status_.workers.clear();
  for (const auto& w : workers) {
    present.insert(w.server_id);
    worker_health health;
    health.server_id = w.server_id;
    health.silence_ms = now_steady_ms - w.last_seen_steady_ms;
    health.interval_mean_ms = w.interval_mean_ms;
    health.intervals = w.intervals;
    bool suspect;
    bool fatal;
    if (w.intervals >= config_.min_intervals) {
      double stddev = std::max({w.interval_stddev_ms, config_.min_stddev_ms,
                                config_.min_stddev_fraction * w.interval_mean_ms});
      health.phi = phi_of(static_cast<double>(health.silence_ms),
                          w.interval_mean_ms + config_.acceptable_pause_ms,
                          stddev);
      suspect = health.phi >= config_.phi_suspect;
      fatal = health.phi >= config_.phi_threshold;
    } else {
      // Too few intervals to learn from: only the hard bound applies.
      suspect = health.silence_ms > config_.heartbeat_timeout_ms / 2;
      fatal = false;
    }
    if (health.silence_ms > config_.heartbeat_timeout_ms) {
      suspect = true;
      fatal = true;
    }
    if (suspect) {
      auto [since, added] = suspect_since_.emplace(w.server_id, now_steady_ms);
      (void) added;
      health.state = "suspect";
      health.suspect_since_ms = since->second;
      result.suspect.push_back(w.server_id);
      bool graced = now_steady_ms - since->second >= config_.grace_ms;
      bool hard = health.silence_ms > config_.heartbeat_timeout_ms;
      if (fatal && (graced || hard))
        candidates.push_back(&w);
    } else {
      suspect_since_.erase(w.server_id);
    }
    if (auto d = deaths_.find(w.server_id); d != deaths_.end())
      health.recent_deaths = static_cast<std::uint32_t>(d->second.size());
    status_.workers.push_back(std::move(health));
  }
  for (auto i = suspect_since_.begin(); i != suspect_since_.end();)
    i = present.count(i->first) == 0 ? suspect_since_.erase(i) : std::next(i);

  // Guard 1: the check itself ran late.
  if (previous >= 0 && now_steady_ms - previous > 2 * config_.check_interval_ms) {
    result.stalled = true;
    ++status_.stalled_rounds;
    return result;
  }

  // Guard 2: too many suspects at once.
  bool mass = workers.size() >= 3
              && static_cast<double>(result.suspect.size())
                   > config_.max_suspect_fraction
                       * static_cast<double>(workers.size());
  if (mass && !status_.frozen) {
    status_.frozen = true;
    status_.frozen_since_ms = now_wall_ms;
    status_.freeze_lifted = false;
  }
  if (status_.frozen) {
    status_.freeze_reason = std::to_string(result.suspect.size()) + " of "
                            + std::to_string(workers.size())
                            + " workers are suspect at once";
    if (!mass) {
      status_.frozen = false;
      status_.freeze_lifted = false;
      status_.frozen_since_ms = 0;
      status_.freeze_reason.clear();
    } else if (!status_.freeze_lifted) {
      return result;
    }
  }

  for (const auto* w : candidates)
    result.dead.push_back(*w);
  status_.deaths += result.dead.size();
  return result;
}

std::int64_t resilient_detector::record_death(const std::string& server_id,
                                              std::int64_t now_wall_ms) {
  suspect_since_.erase(server_id);
  auto& times = deaths_[server_id];
  times.push_back(now_wall_ms);
  while (!times.empty() && now_wall_ms - times.front() > config_.flap_window_ms)
    times.pop_front();
  if (times.size() < 2)
    return 0;
  auto doublings = std::min<std::size_t>(times.size() - 2, 30);
  auto delay = config_.quarantine_base_ms * (std::int64_t{1} << doublings);
  return std::min(delay, config_.quarantine_max_ms);
}

void resilient_detector::forgive(const std::string& server_id) {
  deaths_.erase(server_id);
  suspect_since_.erase(server_id);
}

bool resilient_detector::lift_freeze() {
  if (!status_.frozen)
    return false;
  status_.freeze_lifted = true;
  return true;
}

detector_status resilient_detector::status() const {
  auto result = status_;
  result.method = name();
  const auto& c = config_;
  result.settings = {
    "heartbeat_timeout_ms=" + std::to_string(c.heartbeat_timeout_ms),
    "check_interval_ms=" + std::to_string(c.check_interval_ms),
    "phi_threshold=" + std::to_string(c.phi_threshold),
    "phi_suspect=" + std::to_string(c.phi_suspect),
    "acceptable_pause_ms=" + std::to_string(c.acceptable_pause_ms),
    "grace_ms=" + std::to_string(c.grace_ms),
    "max_suspect_fraction=" + std::to_string(c.max_suspect_fraction),
    "quarantine_base_ms=" + std::to_string(c.quarantine_base_ms),
    "quarantine_max_ms=" + std::to_string(c.quarantine_max_ms)};
  return result;
}

} // namespace orchestrator
