#pragma once

#include "actors/errors.hpp"
#include "actors/messages.hpp"

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace orchestrator {

/// Lets non-actor threads (the HTTP server's) ask the actors without ever
/// blocking: each call hands a job to the gateway actor, which makes the
/// request with a timeout and passes the reply or the error to a callback.
/// The callback runs on an actor thread.
class actor_bridge {
public:
  actor_bridge(caf::actor gateway, std::chrono::milliseconds timeout)
    : gateway_(std::move(gateway)), timeout_(timeout) {
  }

  /// Sends `xs...` to the actor of `target` and calls `done` with its reply
  /// of type `Reply`, or with an error after the timeout or a failure.
  template <class Reply, class... Ts>
  void ask(role target, std::function<void(caf::expected<Reply>)> done,
           Ts... xs) const {
    auto timeout = timeout_;
    gateway_job job = [=](caf::event_based_actor* self,
                          const caf::actor& handle) {
      if (!handle) {
        done(make_error(errc::unavailable,
                        std::string{"the "} + to_string(target)
                          + " is not running; retry later"));
        return;
      }
      self->request(handle, timeout, xs...)
        .then([done](Reply& reply) { done(std::move(reply)); },
              [done](caf::error& err) { done(std::move(err)); });
    };
    caf::anon_send(gateway_, atoms::route_atom::value, target, std::move(job));
  }

  /// Sends `xs...` to the actor of `target` without waiting for a reply.
  template <class... Ts>
  void tell(role target, Ts... xs) const {
    gateway_job job = [=](caf::event_based_actor* self,
                          const caf::actor& handle) {
      if (handle)
        self->send(handle, xs...);
    };
    caf::anon_send(gateway_, atoms::route_atom::value, target, std::move(job));
  }

private:
  caf::actor gateway_;
  std::chrono::milliseconds timeout_;
};

} // namespace orchestrator
