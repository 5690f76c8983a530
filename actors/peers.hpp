#pragma once

#include "actors/messages.hpp"

#include <caf/actor.hpp>

#include <array>

namespace orchestrator {

/// The current handle of every supervised role. The supervisor sends
/// (update_atom, role, actor) whenever a role is respawned; each actor keeps
/// its own copy.
struct peers {
  std::array<caf::actor, std::size(all_roles)> handles;

  const caf::actor& get(role r) const {
    return handles[static_cast<std::size_t>(r)];
  }

  void set(role r, caf::actor handle) {
    handles[static_cast<std::size_t>(r)] = std::move(handle);
  }
};

} // namespace orchestrator
