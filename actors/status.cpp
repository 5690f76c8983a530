#include "actors/status.hpp"

#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace orchestrator {

caf::behavior status_actor(status_self* self) {
  return {
    [self](caf::update_atom, const role_status& status) {
      self->state.roles[status.role] = status;
    },
    [self](caf::update_atom, const module_status& status) {
      self->state.modules[status.name] = status;
    },
    [self](caf::get_atom, atoms::modules_atom) {
      std::vector<module_status> result;
      for (const auto& entry : self->state.modules)
        result.push_back(entry.second);
      return result;
    },
    [self](caf::get_atom, atoms::roles_atom) {
      std::vector<role_status> result;
      for (const auto& entry : self->state.roles)
        result.push_back(entry.second);
      return result;
    },
  };
}

} // namespace orchestrator
