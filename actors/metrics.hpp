#pragma once

#include "actors/types.hpp"
#include "modules/metrics/host_metrics.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

namespace orchestrator {

/// Age after which the balancer ignores a worker's newest sample.
inline constexpr std::chrono::minutes balancer_sample_max_age{5};

/// Minimum time between two scans for workers to forget.
inline constexpr std::chrono::seconds forget_scan_interval{60};

struct metrics_state {
  /// The newest sample from each worker's heartbeats. The history lives in
  /// the store.
  std::unordered_map<std::string, metrics_sample> latest;
  /// Age of a worker's newest sample after which the worker is forgotten.
  std::chrono::milliseconds forget_after{86'400'000};
  /// Wall-clock time (ms) of the next scan for workers to forget.
  std::int64_t next_forget_scan_ms = 0;
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

/// Keeps the newest system metrics sample that each worker reported in a
/// heartbeat, for the balancer. The store keeps the history. A worker whose
/// newest sample is older than `forget_after` is forgotten, checked at most
/// once per forget_scan_interval when a sample arrives. With a host metrics
/// source (the system_metrics module) it also samples the orchestrator's
/// own host every `interval`; the basic variant has none.
///
/// Protocol:
/// - (record_atom, std::string server_id, metrics_sample)
/// - (get_atom, latest_atom, std::int64_t since_ms)
///   -> std::vector<worker_sample>: each worker's newest sample, if it is
///   not older than `since_ms`
/// - (get_atom, host_atom) -> metrics_sample, or an error when there is no
///   source or its last sample failed
/// - (update_atom, std::shared_ptr<host_metrics>): switch sources (null:
///   none), keeping the workers' samples
caf::behavior metrics_actor(metrics_self* self,
                            std::shared_ptr<host_metrics> source,
                            std::chrono::milliseconds interval,
                            std::chrono::milliseconds forget_after);

} // namespace orchestrator

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<orchestrator::host_metrics>)
