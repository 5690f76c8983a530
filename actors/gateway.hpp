#pragma once

#include "actors/peers.hpp"

#include <caf/stateful_actor.hpp>

namespace orchestrator {

struct gateway_state {
  peers handles;
  static inline const char* name = "gateway";
};

using gateway_self = caf::stateful_actor<gateway_state>;

/// The entry point of the HTTP bridge into the actors. It tracks the current
/// handle of every role and runs each request's job, which makes the actual
/// request with a timeout and posts the outcome back to the HTTP thread.
///
/// Protocol:
/// - (route_atom, role, gateway_job)
/// - (update_atom, role, caf::actor): a role was (re)spawned or went down
caf::behavior gateway_actor(gateway_self* self);

} // namespace orchestrator
