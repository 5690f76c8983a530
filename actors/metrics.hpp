#pragma once

#include "actors/types.hpp"

#include <caf/stateful_actor.hpp>

#include <deque>
#include <string>
#include <unordered_map>

namespace orchestrator {

struct metrics_state {
  /// Samples from worker heartbeats, oldest first, per worker.
  std::unordered_map<std::string, std::deque<metrics_sample>> history;
  static inline const char* name = "metrics";
};

using metrics_self = caf::stateful_actor<metrics_state>;

/// Samples kept per worker: a day of heartbeats at one per minute.
inline constexpr std::size_t max_samples_per_worker = 1440;

/// Keeps the system metrics that workers report in heartbeats, a bounded
/// history per worker. The basic variant collects no host metrics of its own.
///
/// Protocol:
/// - (record_atom, std::string server_id, metrics_sample)
/// - (get_atom, history_atom, std::string server_id, std::int64_t since_ms)
///   -> std::vector<metrics_sample>, newest first
caf::behavior metrics_actor(metrics_self* self);

} // namespace orchestrator
