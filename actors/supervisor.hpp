#pragma once

#include "actors/config.hpp"
#include "actors/peers.hpp"
#include "actors/store_actor.hpp"

#include <caf/stateful_actor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace orchestrator {

/// How to start one role. `spawn` receives the supervisor, to spawn from,
/// and the handles of the roles started before it.
struct child_spec {
  role name;
  /// The variant `spawn` starts, such as "basic".
  std::string variant;
  std::function<caf::actor(caf::local_actor* supervisor, const peers& handles)>
    spawn;
  /// True if the child handles (update_atom, role, caf::actor) and so
  /// learns when another role gets a new handle.
  bool tracks_peers = true;
};

/// Restart limits: a role that stops abnormally more than `max_restarts`
/// times within `restart_window` is given up and reported failed.
struct restart_policy {
  int max_restarts = 3;
  std::chrono::milliseconds restart_window{5000};
};

/// Returns the children of a server that runs every role's basic variant,
/// in start order.
std::vector<child_spec> basic_children(const settings& config,
                                       store_factory open_store);

struct supervised_role {
  child_spec spec;
  caf::actor handle;
  role_status status;
  /// Steady-clock times of recent restarts, oldest first.
  std::deque<std::chrono::steady_clock::time_point> restarts;
};

struct supervisor_state {
  std::vector<supervised_role> roles;
  restart_policy policy;
  /// Receives every handle change, besides the children themselves.
  caf::actor gateway;
  bool stopping = false;
  static inline const char* name = "supervisor";
};

using supervisor_self = caf::stateful_actor<supervisor_state>;

/// Starts every role, monitors it and restarts it when it stops abnormally,
/// within the restart policy. Each start, restart and failure is reported to
/// the status actor and announced to every child and the gateway as
/// (update_atom, role, caf::actor). An exit message stops all children.
caf::behavior supervisor_actor(supervisor_self* self,
                               std::vector<child_spec> children,
                               restart_policy policy, caf::actor gateway);

} // namespace orchestrator
