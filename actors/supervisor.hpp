#pragma once

#include "actors/config.hpp"
#include "actors/heartbeat_board.hpp"
#include "actors/peers.hpp"
#include "actors/store_actor.hpp"
#include "modules/module_loader.hpp"

#include <caf/stateful_actor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orchestrator {

/// A role's strategy object from a module, typed as the role's interface
/// (balancer, failure_detector or host_metrics) behind a void pointer.
using strategy_ptr = std::shared_ptr<void>;

/// Spawns a role's actor from the supervisor, given the handles of the
/// roles started before it and the enhanced strategy (null: run the basic
/// variant).
using spawn_function = std::function<caf::actor(
  caf::local_actor* supervisor, const peers& handles, const strategy_ptr& enhanced)>;

/// How to start one role.
struct child_spec {
  role name = role::status;
  spawn_function spawn;
  /// True if the child handles (update_atom, role, caf::actor) and so
  /// learns when another role gets a new handle.
  bool tracks_peers = true;
  /// The optional module that can enhance this role; empty if none.
  std::string module;
  /// Creates the enhanced strategy from a loaded module; it fails if the
  /// module's factory fails or its self-check does.
  std::function<caf::expected<strategy_ptr>(const module_library&)> make_enhanced;
  /// Builds the message that makes the running actor switch to `enhanced`
  /// (null: back to basic) without restarting, keeping its state.
  std::function<caf::message(const strategy_ptr& enhanced)> swap_message;
};

/// Returns a child_spec for `name` with `spawn` and no module.
child_spec make_child(role name, spawn_function spawn);

/// Restart limits: a role that stops abnormally more than `max_restarts`
/// times within `restart_window` is given up. An enhanced role falls back to
/// its basic variant instead; a basic role is reported failed.
struct restart_policy {
  int max_restarts = 3;
  std::chrono::milliseconds restart_window{5000};
};

/// A module found (or not) at start-up, handed to the supervisor.
struct module_candidate {
  module_status status;
  /// Set if the library loaded.
  std::optional<module_library> library;
};

/// Returns the children of a server, in start order. Each role starts with
/// its basic variant unless a loaded module enhances it. Every coordinator
/// shares `board`, if set, with the HTTP threads.
std::vector<child_spec>
standard_children(const settings& config, store_factory open_store,
                  std::shared_ptr<heartbeat_board> board = nullptr);

/// Returns the settings handed to every module's factory, as a JSON object.
std::string module_settings_json(const settings& config);

struct supervised_role {
  child_spec spec;
  caf::actor handle;
  role_status status;
  /// The strategy of the module running for this role; null if basic.
  strategy_ptr enhanced;
  /// Steady-clock times of recent restarts, oldest first.
  std::deque<std::chrono::steady_clock::time_point> restarts;
};

struct supervisor_state {
  std::vector<supervised_role> roles;
  /// Every known module by name, with its library while it is loaded.
  std::map<std::string, module_candidate> modules;
  restart_policy policy;
  /// Receives every handle change, besides the children themselves.
  caf::actor gateway;
  bool stopping = false;
  static inline const char* name = "supervisor";
};

using supervisor_self = caf::stateful_actor<supervisor_state>;

/// Starts every role, monitors it and restarts it when it stops abnormally,
/// within the restart policy. A role whose module loaded runs the module's
/// strategy. If that fails to initialise or keeps crashing, the role falls
/// back to its basic variant and the module's error is recorded. Each
/// change is reported to the status actor and every handle change is
/// announced to every child and the gateway as (update_atom, role,
/// caf::actor). An exit message stops all children.
///
/// Protocol:
/// - (get_atom, roles_atom) -> std::vector<role_status>
/// - (get_atom, modules_atom) -> std::vector<module_status>
/// - (reload_atom, std::string module) -> module_status: loads the module's
///   file again and swaps the running role to it, keeping its state
/// - (disable_atom, std::string module) -> module_status: switches the role
///   to its basic variant and unloads the module
caf::behavior supervisor_actor(supervisor_self* self,
                               std::vector<child_spec> children,
                               std::vector<module_candidate> modules,
                               restart_policy policy, caf::actor gateway);

} // namespace orchestrator
