#pragma once

// Atoms and handle types of every actor, grouped by the actor that receives
// them. The typed handles document each actor's protocol.

#include "actors/types.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <functional>
#include <string>
#include <vector>

namespace orchestrator {

/// The roles the supervisor keeps running.
enum class role : std::uint8_t {
  store,
  coordinator,
  balancer,
  failure_handler,
  metrics,
  status,
  /// The supervisor itself, addressed for module operations.
  supervisor,
};

inline constexpr role all_roles[] = {
  role::store,   role::coordinator, role::balancer, role::failure_handler,
  role::metrics, role::status,      role::supervisor};

/// Returns the role's name as used in logs and /modules/status, such as
/// "failure_handler".
const char* to_string(role r);

/// Catalogue changes made by one request.
struct catalog_result {
  std::uint64_t created = 0;
  std::uint64_t updated = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_result& x) {
  return f(caf::meta::type_name("catalog_result"), x.created, x.updated);
}

namespace atoms {

// CAF's predefined get_atom, put_atom, delete_atom, update_atom and tick_atom
// are used where they fit; these are the project's own.

// Sent to the store actor.
using load_atom = caf::atom_constant<caf::atom("load")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using samples_atom = caf::atom_constant<caf::atom("samples")>;
using prune_atom = caf::atom_constant<caf::atom("prune")>;

// Sent to the coordinator.
using register_atom = caf::atom_constant<caf::atom("register")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using assign_atom = caf::atom_constant<caf::atom("assign")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using deregister_atom = caf::atom_constant<caf::atom("deregister")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using liveness_atom = caf::atom_constant<caf::atom("liveness")>;
using loads_atom = caf::atom_constant<caf::atom("loads")>;
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using workers_atom = caf::atom_constant<caf::atom("workers")>;
using worker_atom = caf::atom_constant<caf::atom("worker")>;
using leases_atom = caf::atom_constant<caf::atom("leases")>;
using assignments_atom = caf::atom_constant<caf::atom("assignmnts")>;
using streams_atom = caf::atom_constant<caf::atom("streams")>;
using summary_atom = caf::atom_constant<caf::atom("summary")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using handoff_atom = caf::atom_constant<caf::atom("handoff")>;
using quarantine_atom = caf::atom_constant<caf::atom("quarantin")>;
using evacuate_atom = caf::atom_constant<caf::atom("evacuate")>;

// Sent to the supervisor.
using reload_atom = caf::atom_constant<caf::atom("reload")>;
using disable_atom = caf::atom_constant<caf::atom("disable")>;

// Sent to the failure handler.
using resilience_atom = caf::atom_constant<caf::atom("resilience")>;
using recover_atom = caf::atom_constant<caf::atom("recover")>;
using unfreeze_atom = caf::atom_constant<caf::atom("unfreeze")>;

// Sent to the balancer.
using rebalance_atom = caf::atom_constant<caf::atom("rebalance")>;
using plan_atom = caf::atom_constant<caf::atom("plan")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
// Also sent to the store actor, for the stored rebalance history.
using history_atom = caf::atom_constant<caf::atom("history")>;

// Sent to the metrics actor, and record_atom also to the store actor.
using record_atom = caf::atom_constant<caf::atom("record")>;
using latest_atom = caf::atom_constant<caf::atom("latest")>;

// Sent to the status actor.
using roles_atom = caf::atom_constant<caf::atom("roles")>;
using modules_atom = caf::atom_constant<caf::atom("modules")>;

// Sent to the metrics actor.
using host_atom = caf::atom_constant<caf::atom("host")>;

// Sent to several actors.
using route_atom = caf::atom_constant<caf::atom("route")>;

} // namespace atoms

/// Work the gateway runs on behalf of an HTTP request: it receives the
/// gateway itself (to make requests with timeouts) and the current handle of
/// the addressed role, which is invalid while that role is down.
using gateway_job
  = std::function<void(caf::event_based_actor* self, const caf::actor& target)>;

} // namespace orchestrator

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(orchestrator::gateway_job)
