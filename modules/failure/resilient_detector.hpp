#pragma once

#include "modules/failure/failure_detector.hpp"

#include <deque>
#include <map>

namespace orchestrator {

/// Tuning of the resilient failure detector. Times are in milliseconds.
struct resilient_settings {
  /// Silence after which a worker is dead whatever its phi: HEARTBEAT_TIMEOUT.
  std::int64_t heartbeat_timeout_ms = 300'000;
  /// Interval of the checks, at most max_check_interval_ms; a gap of more
  /// than twice this between two checks means the orchestrator itself
  /// stalled.
  std::int64_t check_interval_ms = 250;
  /// Phi at which a suspect worker is declared dead (Akka's default is 8).
  double phi_threshold = 8;
  /// Phi at which a worker turns suspect.
  double phi_suspect = 1;
  /// Silence a worker may add to its usual interval without suspicion
  /// growing (Akka's default is 3 s).
  std::int64_t acceptable_pause_ms = 3'000;
  /// Floor of the interval's standard deviation, as an absolute value and
  /// as a fraction of the mean interval, so that very regular heartbeats do
  /// not make a short delay look fatal.
  double min_stddev_ms = 100;
  double min_stddev_fraction = 0.1;
  /// Time a worker stays suspect before it may be declared dead.
  std::int64_t grace_ms = 250;
  /// Intervals needed before phi is used; until then only the hard timeout
  /// applies.
  std::uint32_t min_intervals = 3;
  /// More than this fraction of the workers suspect at once (with at least
  /// three workers) freezes every verdict.
  double max_suspect_fraction = 0.5;
  /// Deaths within this window count towards flapping.
  std::int64_t flap_window_ms = 600'000;
  /// Quarantine after the second death within the window, doubled for each
  /// further one, up to the maximum.
  std::int64_t quarantine_base_ms = 30'000;
  std::int64_t quarantine_max_ms = 600'000;
};

/// Computes phi, the suspicion level of a worker that has been silent for
/// `silence_ms`, from its heartbeat interval statistics: -log10 of the
/// probability that a heartbeat still arrives, with the interval taken as
/// normally distributed.
double phi_of(double silence_ms, double mean_ms, double stddev_ms);

/// The resilient failure handler's policy: a phi accrual detector per
/// worker, with a suspect state and a grace period, HEARTBEAT_TIMEOUT as a
/// hard upper bound, and guards against the orchestrator's own faults:
/// - no verdict in a check that ran late, because every worker then looks
///   silent for as long as the orchestrator was stuck;
/// - no verdict while more than a fraction of the workers are suspect at
///   once, which points at the orchestrator's own network (a freeze, which
///   an operator may lift);
/// - a worker that keeps dying is quarantined for a growing time after it
///   comes back.
class resilient_detector final : public failure_detector {
public:
  /// Throws std::invalid_argument if a setting is out of range.
  explicit resilient_detector(resilient_settings config);

  std::string name() const override {
    return "resilient_failure_handler";
  }

  detection assess(const std::vector<liveness>& workers,
                   std::int64_t now_steady_ms, std::int64_t now_wall_ms) override;

  std::int64_t record_death(const std::string& server_id,
                            std::int64_t now_wall_ms) override;

  void forgive(const std::string& server_id) override;

  bool lift_freeze() override;

  detector_status status() const override;

  std::int64_t check_interval_ms() const override {
    return config_.check_interval_ms;
  }

  std::string verdict_reason() const override {
    return "phi_accrual";
  }

  /// Maximum check interval: phi detects a silent worker within seconds,
  /// so checks every HEARTBEAT_CHECK_INTERVAL (30 s by default) would
  /// delay every verdict.
  static constexpr std::int64_t max_check_interval_ms = 250;

private:
  resilient_settings config_;
  std::int64_t last_check_steady_ms_ = -1;
  /// Steady-clock time each suspect worker turned suspect.
  std::map<std::string, std::int64_t> suspect_since_;
  /// Wall-clock times of each worker's recent deaths.
  std::map<std::string, std::deque<std::int64_t>> deaths_;
  detector_status status_;
};

} // namespace orchestrator
