#include "actors/gateway.hpp"

#include "actors/logging.hpp"

#include <caf/all.hpp>

namespace orchestrator {

caf::behavior gateway_actor(gateway_self* self) {
  return {
    [self](atoms::route_atom, role r, const gateway_job& job) {
      // A job that throws must not take the gateway down with it: the HTTP
      // request that sent it times out instead.
      try {
        job(self, self->state.handles.get(r));
      } catch (const std::exception& e) {
        logger("actors")->error("gateway-job-failed role={} error=\"{}\"",
                                to_string(r), e.what());
      }
    },
    [self](caf::update_atom, role r, caf::actor handle) {
      self->state.handles.set(r, std::move(handle));
    },
  };
}

} // namespace orchestrator
