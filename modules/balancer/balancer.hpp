#pragma once

#include "actors/types.hpp"

#include <cstdint>
#include <string>

namespace orchestrator {

/// Weights of the load score computed from a worker's system metrics. A
/// metric the worker does not report drops out, and the score is divided by
/// the weights that remain.
struct score_weights {
  double cpu = 0.3;
  double memory = 0.3;
  double load = 0.2;
  /// Failures and response time are part of the Python server's score; no
  /// worker reports them yet, so they only take part once one does.
  double failures = 0.1;
  double response_time = 0.1;
};

/// Tuning of the balancing policies; the basic policy reads only the
/// instance minimum.
struct balancer_settings {
  /// Maximum moves in one round, as a count...
  std::uint64_t max_moves = 10;
  /// ...and as a fraction of all assigned streams; the smaller wins, and a
  /// round may always move one stream.
  double max_move_fraction = 0.1;
  /// A round starts only if load relative to fair share differs by more
  /// than this between two workers...
  double imbalance_threshold = 0.2;
  /// ...and their streams minus fair share differ by more than this.
  double max_stream_difference = 2;
  /// A worker whose load score exceeds this is overloaded: its share is
  /// halved until the score drops again.
  double max_load_factor = 0.9;
  /// Fewer workers than this that may receive streams: no imbalance
  /// rounds.
  std::uint64_t min_instances = 2;
  /// No automatic round this long after a worker joins, dies, leaves or
  /// drains, in milliseconds.
  std::int64_t cooldown_ms = 30'000;
  /// The 1-minute load average that counts as fully loaded.
  double load_average_full = 4;
  score_weights weights;
};

/// A rebalancing policy: turns the current loads into moves. It is plain
/// synchronous code without state, so a dry run costs nothing. The balancer
/// actor owns one and sends its plans to the coordinator, which applies only
/// the moves that are still valid.
class balancer {
public:
  virtual ~balancer() = default;

  /// Returns the policy's name as shown in reports, such as "basic".
  virtual std::string name() const = 0;

  /// Plans one round for the active workers in `input`.
  virtual balance_plan plan(const balance_input& input) const = 0;
};

} // namespace orchestrator
