#include "actors/failure_handler.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"

#include <caf/all.hpp>

namespace orchestrator {

namespace {

/// Logs freeze transitions once each, with the reason.
void log_freeze(failure_handler_self* self, const detector_status& status) {
  auto& st = self->state;
  if (status.frozen && !st.frozen_logged) {
    logger("actors")->warn("reassignment-frozen reason=\"{}\" action=\"no worker "
                           "is declared dead until fewer are suspect or an "
                           "operator calls DELETE /resilience/freeze\"",
                           status.freeze_reason);
    st.frozen_logged = true;
  } else if (!status.frozen && st.frozen_logged) {
    logger("actors")->info("reassignment-unfrozen");
    st.frozen_logged = false;
  }
}

/// Quarantines each dead worker that the detector finds failing repeatedly.
void quarantine_flappers(failure_handler_self* self, const failure_report& report) {
  auto& st = self->state;
  const auto& coordinator = st.handles.get(role::coordinator);
  auto now = now_instant().wall_ms;
  for (const auto& id : report.dead_workers) {
    auto delay = st.detector->record_death(id, now);
    if (delay <= 0 || !coordinator)
      continue;
    logger("actors")->warn("worker-quarantined worker={} seconds={} "
                           "reason=\"repeated failures\"",
                           id, delay / 1000);
    self->request(coordinator, st.config.request_timeout,
                  atoms::quarantine_atom::value, id, now + delay)
      .then([](worker_view&) {},
            [id](caf::error& err) {
              logger("actors")->warn("worker-quarantine-failed worker={} "
                                     "error=\"{}\"",
                                     id, describe(err));
            });
  }
}

/// Returns the time until the next check: the detector's interval, never
/// longer than HEARTBEAT_CHECK_INTERVAL.
caf::timespan check_interval(failure_handler_self* self) {
  auto& st = self->state;
  auto wanted = std::chrono::milliseconds{st.detector->check_interval_ms()};
  return std::min<caf::timespan>(st.config.heartbeat_check_interval,
                                 std::max<caf::timespan>(wanted,
                                                         std::chrono::milliseconds{10}));
}

void on_tick(failure_handler_self* self) {
  auto& st = self->state;
  self->delayed_send(self, check_interval(self), caf::tick_atom::value);
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
        auto& st = self->state;
        auto now = now_instant();
        auto verdict = st.detector->assess(workers, now.steady_ms, now.wall_ms);
        log_freeze(self, st.detector->status());
        if (verdict.stalled)
          logger("actors")->warn("liveness-check-stalled action=\"no verdicts "
                                 "this round\"");
        if (verdict.dead.empty()) {
          st.check_running = false;
          return;
        }
        self->request(coordinator, timeout, atoms::expire_atom::value,
                      std::move(verdict.dead), st.detector->verdict_reason())
          .then(
            [self](failure_report& report) {
              self->state.check_running = false;
              quarantine_flappers(self, report);
            },
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
  self->delayed_send(self, check_interval(self), caf::tick_atom::value);
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
          [self, promise, method](failure_report& report) mutable {
            report.method = method;
            quarantine_flappers(self, report);
            promise.deliver(std::move(report));
          },
          [promise](caf::error& err) mutable { promise.deliver(err); });
      return promise;
    },
    [self](caf::get_atom, atoms::resilience_atom) {
      return self->state.detector->status();
    },
    [self](atoms::recover_atom, const std::string& server_id) {
      self->state.detector->forgive(server_id);
      logger("actors")->info("worker-forgiven worker={}", server_id);
    },
    [self](atoms::unfreeze_atom) {
      bool lifted = self->state.detector->lift_freeze();
      if (lifted)
        logger("actors")->warn("reassignment-freeze-lifted by=operator");
      return lifted;
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
