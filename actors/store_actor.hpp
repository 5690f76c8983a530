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

struct store_state {
  std::unique_ptr<store> backend;
  /// Workers' metrics samples waiting for the next flush.
  std::vector<worker_sample> samples;
  std::uint64_t dropped_samples = 0;
  /// The last check's error, so that only changes are logged.
  std::string check_error;
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
/// - (get_atom, check_atom) -> ok_atom when the store would take writes;
///   an error when it would not or cannot tell
caf::behavior store_actor(caf::stateful_actor<store_state>* self,
                          store_factory factory);

} // namespace orchestrator
