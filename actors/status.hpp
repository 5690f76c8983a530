#pragma once

#include "actors/types.hpp"

#include <caf/stateful_actor.hpp>

#include <map>
#include <string>

namespace orchestrator {

struct status_state {
  std::map<std::string, role_status> roles;
  std::map<std::string, module_status> modules;
  static inline const char* name = "status";
};

using status_self = caf::stateful_actor<status_state>;

/// Aggregates which variant each role runs and whether it is healthy, for
/// /modules/status and /health. The supervisor feeds it.
///
/// Protocol:
/// - (update_atom, role_status)
/// - (update_atom, module_status)
/// - (get_atom, roles_atom) -> std::vector<role_status>
/// - (get_atom, modules_atom) -> std::vector<module_status>
caf::behavior status_actor(status_self* self);

} // namespace orchestrator
