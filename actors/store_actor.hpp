#pragma once

#include "modules/store/store.hpp"

#include <caf/stateful_actor.hpp>

#include <functional>
#include <memory>

namespace orchestrator {

/// Opens the store backend; called again whenever the store actor restarts.
using store_factory = std::function<caf::expected<std::unique_ptr<store>>()>;

struct store_state {
  std::unique_ptr<store> backend;
  static inline const char* name = "store";
};

/// The only actor that touches the database. Spawn it detached, because
/// every call blocks on disk I/O.
///
/// Protocol:
/// - (load_atom) -> store_snapshot
/// - (commit_atom, std::vector<change>) -> ok_atom, after the transaction
///   is durable; an error means nothing of it was written.
/// - (record_atom, rebalance_report) -> ok_atom: appends to the history
/// - (get_atom, history_atom, std::uint64_t limit) -> rebalance_history
caf::behavior store_actor(caf::stateful_actor<store_state>* self,
                          store_factory factory);

} // namespace orchestrator
