#pragma once

#include "actors/config.hpp"
#include "actors/peers.hpp"
#include "modules/balancer/balancer.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>

#include <memory>

namespace orchestrator {

struct balancer_state {
  std::shared_ptr<balancer> policy;
  settings config;
  peers handles;
  /// True while an automatic round runs, so rounds never overlap.
  bool round_running = false;
  static inline const char* name = "balancer";
};

using balancer_self = caf::stateful_actor<balancer_state>;

/// Runs rebalance rounds. Each round requests the current loads from the
/// coordinator, lets its policy plan moves and sends the plan back, and the
/// coordinator applies only the moves that are still valid. Rounds run on request and
/// every rebalance_interval.
///
/// Protocol:
/// - (rebalance_atom, std::string reason, bool basic) -> rebalance_report;
///   `basic` forces the basic policy for this round
/// - (update_atom, std::shared_ptr<balancer>): switch to another policy
/// - (update_atom, role, caf::actor): a peer was respawned
caf::behavior balancer_actor(balancer_self* self, settings config,
                             peers handles,
                             std::shared_ptr<balancer> policy);

} // namespace orchestrator

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<orchestrator::balancer>)
