#pragma once

#include "actors/types.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace orchestrator {

/// The outcome of one liveness check.
struct detection {
  /// Workers to declare dead now.
  std::vector<liveness> dead;
  /// Workers that look about to fail but keep their streams for now.
  std::vector<std::string> suspect;
  /// True if the check skipped every verdict because it ran late itself.
  bool stalled = false;
};

/// A policy that decides which workers are dead from their heartbeats. Plain
/// synchronous code with the time passed in; the failure handler actor owns
/// one.
class failure_detector {
public:
  virtual ~failure_detector() = default;

  /// Returns the policy's name as shown in reports, such as "basic".
  virtual std::string name() const = 0;

  /// Judges `workers` at `now_steady_ms` (`now_wall_ms` for reports).
  virtual detection assess(const std::vector<liveness>& workers,
                           std::int64_t now_steady_ms,
                           std::int64_t now_wall_ms)
    = 0;

  /// Records that a worker was declared dead and returns how long it stays
  /// quarantined after it comes back, in milliseconds; 0 for none.
  virtual std::int64_t record_death(const std::string& server_id,
                                    std::int64_t now_wall_ms) {
    (void) server_id;
    (void) now_wall_ms;
    return 0;
  }

  /// Forgets a worker's failure history, on an operator's request.
  virtual void forgive(const std::string& server_id) {
    (void) server_id;
  }

  /// Lifts a freeze until the situation that caused it clears; returns
  /// false if nothing was frozen.
  virtual bool lift_freeze() {
    return false;
  }

  virtual detector_status status() const = 0;

  /// Returns the interval the detector needs between checks, in
  /// milliseconds; the failure handler checks at least this often.
  virtual std::int64_t check_interval_ms() const = 0;

  /// Returns the reason its verdicts are logged and counted under, such as
  /// "heartbeat_timeout".
  virtual std::string verdict_reason() const {
    return "heartbeat_timeout";
  }
};

} // namespace orchestrator
