#include "actors/failure_handler.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"

#include <caf/all.hpp>

namespace orchestrator {

namespace {

void on_tick(failure_handler_self* self) {
  auto& st = self->state;
  self->delayed_send(self, st.config.heartbeat_check_interval,
                     caf::tick_atom::value);
  const auto& coordinator = st.handles.get(role::coordinator);
  if (st.check_running || !coordinator)
    return;

  st.check_running = true;
  auto timeout = st.config.request_timeout;
  auto failed = [self](caf::error& err) {
    self->state.check_running = false;
    logger("actors")->warn("liveness-check-failed error=\"{}\"", describe(err));
  };
  self->request(coordinator, timeout, atoms::liveness_atom::value)
    .then(
      [self, coordinator, timeout, failed](std::vector<liveness>& workers) {
        auto now = now_instant();
        auto verdicts = self->state.detector->verdicts(workers, now.steady_ms);
        if (verdicts.empty()) {
          self->state.check_running = false;
          return;
        }
        self->request(coordinator, timeout, atoms::expire_atom::value,
                      std::move(verdicts))
          .then([self](failure_report&) { self->state.check_running = false; },
                failed);
      },
      failed);
}

} // namespace

caf::behavior failure_handler_actor(failure_handler_self* self,
                                    settings config, peers handles,
                                    std::shared_ptr<failure_detector> detector) {
  self->set_exception_handler(
    [](caf::scheduled_actor*, std::exception_ptr& failure) {
      return crash_reason(failure);
    });
  self->state.config = std::move(config);
  self->state.handles = std::move(handles);
  self->state.detector = std::move(detector);
  self->delayed_send(self, self->state.config.heartbeat_check_interval,
                     caf::tick_atom::value);
  return {
    [self](atoms::fail_atom,
           const std::string& server_id) -> caf::result<failure_report> {
      auto& st = self->state;
      const auto& coordinator = st.handles.get(role::coordinator);
      if (!coordinator)
        return make_error(errc::unavailable, "the coordinator is not running");
      auto promise = self->make_response_promise<failure_report>();
      auto method = st.detector->name();
      self->request(coordinator, st.config.request_timeout,
                    atoms::fail_atom::value, server_id)
        .then(
          [promise, method](failure_report& report) mutable {
            report.method = method;
            promise.deliver(std::move(report));
          },
          [promise](caf::error& err) mutable { promise.deliver(err); });
      return promise;
    },
    [self](caf::update_atom, role r, caf::actor handle) {
      self->state.handles.set(r, std::move(handle));
    },
    [self](caf::update_atom, std::shared_ptr<failure_detector> detector) {
      logger("actors")->info("failure-detector-changed from={} to={}",
                             self->state.detector->name(), detector->name());
      self->state.detector = std::move(detector);
    },
    [self](caf::tick_atom) { on_tick(self); },
  };
}

} // namespace orchestrator
