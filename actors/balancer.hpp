#pragma once

#include "actors/config.hpp"
#include "actors/peers.hpp"
#include "modules/balancer/balancer.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>

#include <deque>
#include <memory>

namespace orchestrator {

/// Rounds kept for GET /rebalance/history.
inline constexpr std::size_t max_rebalance_history = 1000;

struct balancer_state {
  std::shared_ptr<balancer> policy;
  settings config;
  peers handles;
  /// True while an automatic round runs, so rounds never overlap.
  bool round_running = false;
  /// True while earlier rounds have not reached balance: the next automatic
  /// round goes on even below the hysteresis thresholds.
  bool converging = false;
  /// Recorded rounds, newest last.
  std::deque<rebalance_report> history;
  rebalance_stats totals;
  std::uint64_t next_id = 1;
  /// True once the stored history was read.
  bool history_loaded = false;
  /// The reason the last automatic round moved nothing, to log changes only.
  std::string last_deferral;
  static inline const char* name = "balancer";
};

using balancer_self = caf::stateful_actor<balancer_state>;

/// Runs rebalance rounds. Each round requests the balance state from the
/// coordinator and the workers' latest metrics from the metrics actor, and
/// lets its policy plan. It sends the moves back to the coordinator, which
/// starts a handoff for each move that is still valid. Rounds run on request and
/// every rebalance_interval. Every round that moves a stream or that an
/// operator asked for is appended to the store's history, whose newest
/// rounds and totals the actor reads at start and keeps in memory.
///
/// Protocol:
/// - (rebalance_atom, std::string reason, bool basic) -> rebalance_report;
///   `basic` forces the basic policy for this round
/// - (plan_atom) -> balance_plan: a dry run of an operator's round
/// - (get_atom, stats_atom) -> rebalance_stats
/// - (get_atom, history_atom, std::uint64_t limit)
///   -> std::vector<rebalance_report>, newest first
/// - (update_atom, std::shared_ptr<balancer>): switch to another policy
/// - (update_atom, role, caf::actor): a peer was respawned
caf::behavior balancer_actor(balancer_self* self, settings config,
                             peers handles,
                             std::shared_ptr<balancer> policy);

} // namespace orchestrator

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<orchestrator::balancer>)
