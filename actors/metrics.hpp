#pragma once

#include "actors/types.hpp"
#include "modules/metrics/host_metrics.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

namespace orchestrator {

struct metrics_state {
  /// Samples from worker heartbeats, oldest first, per worker.
  std::unordered_map<std::string, std::deque<metrics_sample>> history;
  /// The host metrics source; null in the basic variant.
  std::shared_ptr<host_metrics> source;
  std::chrono::milliseconds interval{10'000};
  /// The latest host sample, valid if `has_host_sample`.
  metrics_sample host_sample;
  bool has_host_sample = false;
  /// True while a sampling tick is scheduled.
  bool ticking = false;
  std::string host_error;
  static inline const char* name = "metrics";
};

using metrics_self = caf::stateful_actor<metrics_state>;

/// Samples kept per worker: a day of heartbeats at one per minute.
inline constexpr std::size_t max_samples_per_worker = 1440;

/// Keeps the system metrics that workers report in heartbeats, a bounded
/// history per worker. With a host metrics source (the system_metrics
/// module) it also samples the orchestrator's own host every `interval`;
/// the basic variant has none.
///
/// Protocol:
/// - (record_atom, std::string server_id, metrics_sample)
/// - (get_atom, history_atom, std::string server_id, std::int64_t since_ms)
///   -> std::vector<metrics_sample>, newest first
/// - (get_atom, latest_atom, std::int64_t since_ms)
///   -> std::vector<worker_sample>: each worker's newest sample, if it is
///   not older than `since_ms`
/// - (get_atom, host_atom) -> metrics_sample, or an error when there is no
///   source or its last sample failed
/// - (update_atom, std::shared_ptr<host_metrics>): switch sources (null:
///   none), keeping the workers' history
caf::behavior metrics_actor(metrics_self* self,
                            std::shared_ptr<host_metrics> source,
                            std::chrono::milliseconds interval);

} // namespace orchestrator

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<orchestrator::host_metrics>)
