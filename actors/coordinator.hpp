#pragma once

#include "actors/config.hpp"
#include "actors/peers.hpp"
#include "actors/registry.hpp"
#include "modules/failure/circuit_breaker.hpp"

#include <caf/error.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <random>
#include <functional>
#include <memory>
#include <vector>

namespace orchestrator {

/// Changes waiting for one store commit, and the replies that wait for it.
struct commit_batch {
  journal changes;
  /// Each waiter receives the commit's outcome and delivers its reply.
  std::vector<std::function<void(const caf::error&)>> waiters;

  bool empty() const {
    return changes.empty() && waiters.empty();
  }
};

struct coordinator_state {
  registry state;
  settings config;
  peers handles;
  bool loaded = false;
  int load_attempts = 0;
  /// Changes applied in memory that the next commit will write.
  commit_batch pending;
  /// The batch the store is writing now, if `committing`.
  commit_batch inflight;
  bool committing = false;
  bool store_available = true;
  std::string store_error;
  /// A check of the store is scheduled while it is unavailable.
  bool probing = false;
  /// Start of the commit in flight, for its duration metric.
  std::chrono::steady_clock::time_point commit_started;
  /// The changes of the commit in flight, kept for retries.
  std::vector<change> inflight_redo;
  /// Retries made of the commit in flight.
  std::uint32_t commit_retries = 0;
  circuit_breaker breaker{breaker_settings{}};
  retry_budget retries{0.1, 10};
  std::mt19937_64 random{std::random_device{}()};
  /// Steady-clock time the handoff timer fires at; -1 when none is set.
  std::int64_t handoff_timer_ms = -1;
  /// Shared with the HTTP threads; null when heartbeats always come here.
  std::shared_ptr<heartbeat_board> board;
  static inline const char* name = "coordinator";
};

using coordinator_self = caf::stateful_actor<coordinator_state>;

/// The single owner of workers, streams and assignments. Every change goes
/// through its mailbox, so requests never race. A change is applied in
/// memory at once, so later requests see it. The store actor writes it in a
/// group commit, and the reply goes out only after that commit. A failed
/// commit rolls the memory back and fails the waiting requests.
///
/// Protocol (each request may also fail with an errc error):
/// - (register_atom, registration) -> register_reply
/// - (heartbeat_atom, heartbeat) -> heartbeat_reply
/// - (assign_atom, assign_request) -> assign_reply
/// - (release_atom, release_request) -> release_reply
/// - (deregister_atom, std::string) -> deregister_reply
/// - (expire_atom, std::vector<liveness>, std::string reason)
///   -> failure_report
/// - (fail_atom, std::string) -> failure_report
/// - (apply_atom, std::vector<stream_move>) -> rebalance_report: starts a
///   handoff for each move that is still valid
/// - (drain_atom, std::string, bool draining) -> worker_view
/// - (quarantine_atom, std::string, std::int64_t until_wall_ms)
///   -> worker_view; 0 lifts the quarantine
/// - (evacuate_atom, std::string) -> failure_report: takes every stream
///   from the worker at once and marks it draining
/// - (put_atom, std::vector<stream_row>) -> catalog_result
/// - (delete_atom, std::int64_t) -> std::string (the former owner)
/// - (get_atom, workers_atom) -> std::vector<worker_view>
/// - (get_atom, worker_atom, std::string) -> worker_view
/// - (get_atom, assignments_atom) -> std::vector<assignment_row>
/// - (get_atom, streams_atom, std::uint64_t offset, std::uint64_t limit)
///   -> stream_page
/// - (get_atom, streams_atom, std::vector<std::int64_t>) -> catalogue rows
///   of those ids
/// - (get_atom, summary_atom) -> cluster_summary
/// - (liveness_atom) -> std::vector<liveness>
/// - (loads_atom) -> balance_input
/// - (update_atom, role, caf::actor): a peer was respawned
///
/// With a `board`, the coordinator opens a worker's slot after each
/// acknowledged heartbeat, and HTTP threads reply from it to the worker's
/// next heartbeats that change nothing (see heartbeat_board).
caf::behavior coordinator_actor(coordinator_self* self, settings config,
                                peers handles,
                                std::shared_ptr<heartbeat_board> board);

} // namespace orchestrator
