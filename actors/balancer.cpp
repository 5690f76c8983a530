#include "actors/balancer.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"
#include "modules/balancer/basic_balancer.hpp"

#include <caf/all.hpp>

#include <chrono>

namespace orchestrator {

namespace {

using report_callback = std::function<void(caf::expected<rebalance_report>)>;

/// Runs one round: loads, plan, apply. `done` receives the report. With
/// `basic`, the round uses the basic policy whatever module runs.
void run_round(balancer_self* self, std::string reason, report_callback done,
               bool basic = false) {
  auto& st = self->state;
  const auto& coordinator = st.handles.get(role::coordinator);
  if (!coordinator) {
    done(make_error(errc::unavailable, "the coordinator is not running"));
    return;
  }
  auto started = std::chrono::steady_clock::now();
  auto timeout = st.config.request_timeout;
  self->request(coordinator, timeout, atoms::loads_atom::value)
    .then(
      [self, coordinator, timeout, started, reason, done,
       basic](std::vector<worker_load>& loads) {
        basic_balancer fallback;
        balancer& policy = basic ? static_cast<balancer&>(fallback)
                                 : *self->state.policy;
        auto moves = policy.plan(loads);
        auto method = policy.name();
        auto finish = [=](rebalance_report report) {
          report.method = method;
          report.reason = reason;
          report.planned = moves.size();
          report.duration_ms = std::chrono::duration<double, std::milli>(
                                 std::chrono::steady_clock::now() - started)
                                 .count();
          done(std::move(report));
        };
        if (moves.empty()) {
          finish(rebalance_report{});
          return;
        }
        self->request(coordinator, timeout, atoms::apply_atom::value, moves)
          .then([finish](rebalance_report& report) { finish(std::move(report)); },
                [done](caf::error& err) { done(err); });
      },
      [done](caf::error& err) { done(err); });
}

void on_tick(balancer_self* self) {
  auto& st = self->state;
  self->delayed_send(self, st.config.rebalance_interval, caf::tick_atom::value);
  if (st.round_running)
    return;
  st.round_running = true;
  run_round(self, "load_imbalance", [self](caf::expected<rebalance_report> report) {
    self->state.round_running = false;
    if (!report) {
      logger("actors")->warn("rebalance-failed reason=load_imbalance error=\"{}\"",
                             describe(report.error()));
      return;
    }
    if (report->moved > 0)
      logger("actors")->info("rebalance-completed method={} reason={} moved={} "
                             "workers={} duration_ms={:.1f}",
                             report->method, report->reason, report->moved,
                             report->workers_affected.size(),
                             report->duration_ms);
  });
}

} // namespace

caf::behavior balancer_actor(balancer_self* self, settings config,
                             peers handles, std::shared_ptr<balancer> policy) {
  self->set_exception_handler(
    [](caf::scheduled_actor*, std::exception_ptr& failure) {
      return crash_reason(failure);
    });
  self->state.config = std::move(config);
  self->state.handles = std::move(handles);
  self->state.policy = std::move(policy);
  if (self->state.config.rebalance_interval.count() > 0)
    self->delayed_send(self, self->state.config.rebalance_interval,
                       caf::tick_atom::value);
  return {
    [self](atoms::rebalance_atom, std::string& reason,
           bool basic) -> caf::result<rebalance_report> {
      auto promise = self->make_response_promise<rebalance_report>();
      run_round(self, reason, [promise, reason](
                                caf::expected<rebalance_report> report) mutable {
        if (!report) {
          promise.deliver(report.error());
          return;
        }
        logger("actors")->info("rebalance-completed method={} reason={} "
                               "moved={} workers={} duration_ms={:.1f}",
                               report->method, reason, report->moved,
                               report->workers_affected.size(),
                               report->duration_ms);
        promise.deliver(std::move(*report));
      }, basic);
      return promise;
    },
    [self](caf::update_atom, role r, caf::actor handle) {
      self->state.handles.set(r, std::move(handle));
    },
    [self](caf::update_atom, std::shared_ptr<balancer> policy) {
      logger("actors")->info("balancer-policy-changed from={} to={}",
                             self->state.policy->name(), policy->name());
      self->state.policy = std::move(policy);
    },
    [self](caf::tick_atom) { on_tick(self); },
  };
}

} // namespace orchestrator
