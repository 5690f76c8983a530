#pragma once

#include "modules/store/store.hpp"

#include <caf/stateful_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace orchestrator {

/// Opens the store backend; called again whenever the store actor restarts.
using store_factory = std::function<caf::expected<std::unique_ptr<store>>()>;

/// Samples buffered for the metrics table at most; older ones are dropped
/// while the store cannot take them.
inline constexpr std::size_t max_buffered_samples = 10'000;

/// Time between the store's connection checks and metrics flushes.
inline constexpr std::chrono::seconds store_check_interval{1};

/// Minimum time from the start of one metrics retention run to the next.
inline constexpr std::chrono::seconds retention_interval{60};

/// Rows of the metrics table that one retention step reads and may delete.
/// Commits queued meanwhile run between two steps, so this bounds how long
/// a commit waits behind the retention.
inline constexpr std::size_t retention_batch = 1000;

struct store_state {
  std::unique_ptr<store> backend;
  /// Workers' metrics samples waiting for the next flush.
  std::vector<worker_sample> samples;
  std::uint64_t dropped_samples = 0;
  /// The last check's error, so that only changes are logged.
  std::string check_error;
  /// Age after which metrics samples are deleted. Zero keeps them for ever.
  std::chrono::milliseconds metrics_retention{0};
  /// Earliest start of the next retention run.
  std::chrono::steady_clock::time_point next_retention{};
  /// True while a retention run deletes batch after batch.
  bool retaining = false;
  /// Samples recorded before this wall-clock time (ms) expire in the
  /// current run.
  std::int64_t retention_cutoff_ms = 0;
  /// Samples the current run has deleted so far.
  std::uint64_t retention_deleted = 0;
  static inline const char* name = "store";
};

/// The only actor that touches the database. Spawn it detached, because
/// every call blocks on disk or network I/O.
///
/// Protocol:
/// - (load_atom) -> store_snapshot
/// - (commit_atom, std::vector<change>) -> ok_atom, after the transaction
///   is durable; an error means nothing of it was written.
/// - (record_atom, rebalance_report) -> ok_atom: appends to the history
/// - (get_atom, history_atom, std::uint64_t limit) -> rebalance_history
/// - (record_atom, std::string server_id, metrics_sample): buffers a
///   worker's sample for the metrics table, written once a second
/// - (get_atom, samples_atom, std::string server_id, std::int64_t since_ms,
///   std::uint64_t limit) -> std::vector<metrics_sample>: the worker's
///   newest samples, newest first, buffered ones included, because the
///   buffer is written first
/// - (get_atom, check_atom) -> ok_atom when the store would take writes;
///   an error when it would not or cannot tell
///
/// With a non-zero `metrics_retention`, it deletes samples older than that
/// from the metrics table, at most once per retention_interval, in steps of
/// retention_batch rows.
caf::behavior store_actor(caf::stateful_actor<store_state>* self,
                          store_factory factory,
                          std::chrono::milliseconds metrics_retention);

} // namespace orchestrator
