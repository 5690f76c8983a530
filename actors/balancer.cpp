#include "actors/balancer.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"
#include "actors/metrics.hpp"
#include "actors/telemetry.hpp"
#include "modules/balancer/basic_balancer.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <unordered_map>

namespace orchestrator {

namespace {

using input_callback = std::function<void(caf::expected<balance_input>)>;
using report_callback = std::function<void(caf::expected<rebalance_report>)>;

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(
           std::chrono::steady_clock::now() - since)
    .count();
}

void add_metrics(balancer_self* self, const caf::actor& metrics,
                 std::int64_t since, caf::timespan timeout,
                 std::shared_ptr<balance_input> shared, input_callback done);

/// Gathers what a plan needs: the coordinator's balance state, the failure
/// detector's suspects, then the workers' latest metrics. Missing metrics
/// only make the plan plainer.
void gather(balancer_self* self, input_callback done) {
  auto& st = self->state;
  const auto& coordinator = st.handles.get(role::coordinator);
  if (!coordinator) {
    done(make_error(errc::unavailable, "the coordinator is not running"));
    return;
  }
  auto timeout = st.config.request_timeout;
  self->request(coordinator, timeout, atoms::loads_atom::value)
    .then(
      [self, timeout, done](balance_input& input) {
        auto& st = self->state;
        for (auto& load : input.workers)
          load.suspect = load.heartbeat_age_ms > st.config.suspect_after.count();
        input.converging = st.converging;
        auto shared = std::make_shared<balance_input>(std::move(input));
        // The failure detector's suspects count too; without its reply,
        // only the silence rule above applies.
        auto with_metrics = [self, shared, timeout, done] {
          const auto& metrics = self->state.handles.get(role::metrics);
          if (!metrics) {
            done(std::move(*shared));
            return;
          }
          // Older samples do not steer placement.
          auto since = now_instant().wall_ms
                       - std::chrono::milliseconds{balancer_sample_max_age}.count();
          add_metrics(self, metrics, since, timeout, shared, done);
        };
        const auto& detector = st.handles.get(role::failure_handler);
        if (!detector) {
          with_metrics();
          return;
        }
        self->request(detector, timeout, caf::get_atom::value,
                      atoms::resilience_atom::value)
          .then(
            [shared, with_metrics](detector_status& status) {
              std::unordered_map<std::string, bool> suspect;
              for (const auto& w : status.workers)
                suspect[w.server_id] = w.state == "suspect";
              for (auto& load : shared->workers)
                if (auto i = suspect.find(load.server_id);
                    i != suspect.end() && i->second)
                  load.suspect = true;
              with_metrics();
            },
            [with_metrics](caf::error&) { with_metrics(); });
      },
      [done](caf::error& err) { done(err); });
}

/// Adds each worker's latest metrics sample to `shared`, then calls `done`.
void add_metrics(balancer_self* self, const caf::actor& metrics,
                 std::int64_t since, caf::timespan timeout,
                 std::shared_ptr<balance_input> shared, input_callback done) {
  self->request(metrics, timeout, caf::get_atom::value,
                atoms::latest_atom::value, since)
          .then(
            [shared, done](std::vector<worker_sample>& samples) {
              std::unordered_map<std::string, const metrics_sample*> latest;
              for (const auto& s : samples)
                latest.emplace(s.server_id, &s.sample);
              for (auto& load : shared->workers) {
                auto i = latest.find(load.server_id);
                if (i == latest.end())
                  continue;
                load.has_metrics = true;
                load.cpu_percent = i->second->cpu_percent;
                load.memory_percent = i->second->memory_percent;
                if (!i->second->load_average.empty())
                  load.load_average_1m = i->second->load_average.front();
              }
              done(std::move(*shared));
            },
            [shared, done](caf::error&) { done(std::move(*shared)); });
}

/// Reads the stored history once at start, so statistics and history
/// survive restarts. Rounds recorded meanwhile are kept after it.
void load_history(balancer_self* self) {
  auto& st = self->state;
  const auto& store = st.handles.get(role::store);
  if (st.history_loaded || !store)
    return;
  self->request(store, st.config.request_timeout, caf::get_atom::value,
                atoms::history_atom::value,
                static_cast<std::uint64_t>(max_rebalance_history))
    .then(
      [self](rebalance_history& stored) {
        auto& st = self->state;
        if (st.history_loaded)
          return;
        st.history_loaded = true;
        auto& totals = st.totals;
        totals.total += stored.totals.total;
        totals.successful += stored.totals.successful;
        totals.streams_moved += stored.totals.streams_moved;
        totals.total_duration_ms += stored.totals.total_duration_ms;
        for (const auto& [reason, moved] : stored.totals.moved_by_reason)
          totals.moved_by_reason[reason] += moved;
        if (totals.last.empty())
          totals.last = stored.totals.last;
        for (const auto& report : stored.recent) {
          st.history.push_front(report);
          st.next_id = std::max(st.next_id, report.id + 1);
        }
        while (st.history.size() > max_rebalance_history)
          st.history.pop_front();
      },
      [](caf::error& err) {
        logger("actors")->warn("rebalance-history-load-failed error=\"{}\"",
                               describe(err));
      });
}

void record(balancer_self* self, rebalance_report& report) {
  auto& st = self->state;
  report.id = st.next_id++;
  if (const auto& store = st.handles.get(role::store))
    self->request(store, st.config.request_timeout, atoms::record_atom::value,
                  report)
      .then([](caf::ok_atom) {},
            [](caf::error& err) {
              logger("actors")->warn("rebalance-record-failed error=\"{}\"",
                                     describe(err));
            });
  auto& totals = st.totals;
  ++totals.total;
  if (report.status == "completed")
    ++totals.successful;
  totals.streams_moved += report.moved;
  totals.total_duration_ms += report.duration_ms;
  totals.moved_by_reason[report.reason] += report.moved;
  totals.last = {report};
  st.history.push_back(report);
  telemetry::global().rebalance_recorded(report);
  while (st.history.size() > max_rebalance_history)
    st.history.pop_front();
}

/// Runs one round: gather, plan, apply. `done` receives the report. With
/// `basic`, the round uses the basic policy whatever module runs.
void run_round(balancer_self* self, std::string reason, bool manual,
               bool basic, report_callback done) {
  auto started = std::chrono::steady_clock::now();
  auto started_at = now_instant().wall_ms;
  gather(self, [=](caf::expected<balance_input> input) {
    auto& st = self->state;
    if (!input) {
      done(input.error());
      return;
    }
    input->manual = manual;
    basic_balancer fallback;
    const balancer& policy = basic ? static_cast<const balancer&>(fallback)
                                   : *st.policy;
    auto plan = policy.plan(*input);

    rebalance_report report;
    report.method = policy.name();
    report.reason = manual ? reason : plan.reason;
    report.started_at_ms = started_at;
    report.planned = plan.moves.size();
    report.remaining = plan.minimum_moves;
    if (plan.moves.empty()) {
      if (plan.minimum_moves == 0)
        st.converging = false;
      if (!plan.deferred.empty()) {
        report.status = "deferred";
        report.message = plan.deferred;
      } else if (plan.minimum_moves == 0) {
        report.message = "the cluster is balanced";
      } else {
        report.message = "the imbalance is within the thresholds";
      }
      report.duration_ms = elapsed_ms(started);
      done(std::move(report));
      return;
    }
    const auto& coordinator = st.handles.get(role::coordinator);
    if (!coordinator) {
      done(make_error(errc::unavailable, "the coordinator is not running"));
      return;
    }
    self->request(coordinator, st.config.request_timeout,
                  atoms::apply_atom::value, plan.moves)
      .then(
        [self, report, done, started, plan](rebalance_report& applied) mutable {
          report.moved = applied.moved;
          report.moves = std::move(applied.moves);
          report.workers_affected = std::move(applied.workers_affected);
          report.remaining = plan.minimum_moves > report.moved
                               ? plan.minimum_moves - report.moved
                               : 0;
          self->state.converging = report.remaining > 0;
          report.message = "started " + std::to_string(report.moved)
                           + " handoffs; "
                           + std::to_string(report.remaining)
                           + " more moves reach balance";
          report.duration_ms = elapsed_ms(started);
          done(std::move(report));
        },
        [done](caf::error& err) { done(err); });
  });
}

void log_round(const rebalance_report& report) {
  logger("actors")->info("rebalance-{} id={} method={} reason={} moved={} "
                         "workers={} remaining={} duration_ms={:.1f}{}{}",
                         report.status, report.id, report.method,
                         report.reason, report.moved,
                         report.workers_affected.size(), report.remaining,
                         report.duration_ms,
                         report.message.empty() ? "" : " message=",
                         report.message.empty() ? ""
                                                : "\"" + report.message + "\"");
}

void on_tick(balancer_self* self) {
  auto& st = self->state;
  self->delayed_send(self, st.config.rebalance_interval, caf::tick_atom::value);
  if (st.round_running)
    return;
  st.round_running = true;
  run_round(self, {}, false, false,
            [self](caf::expected<rebalance_report> report) {
              auto& st = self->state;
              st.round_running = false;
              if (!report) {
                logger("actors")->warn("rebalance-failed error=\"{}\"",
                                       describe(report.error()));
                return;
              }
              if (report->moved > 0) {
                record(self, *report);
                log_round(*report);
                st.last_deferral.clear();
              } else if (report->status == "deferred"
                         && report->message != st.last_deferral) {
                st.last_deferral = report->message;
                logger("actors")->info("rebalance-deferred reason={} "
                                       "message=\"{}\"",
                                       report->reason, report->message);
              }
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
  load_history(self);
  return {
    [self](atoms::rebalance_atom, std::string& reason,
           bool basic) -> caf::result<rebalance_report> {
      auto promise = self->make_response_promise<rebalance_report>();
      run_round(self, reason, true, basic,
                [self, promise](caf::expected<rebalance_report> report) mutable {
                  if (!report) {
                    promise.deliver(report.error());
                    return;
                  }
                  record(self, *report);
                  log_round(*report);
                  promise.deliver(std::move(*report));
                });
      return promise;
    },
    [self](atoms::plan_atom) -> caf::result<balance_plan> {
      auto promise = self->make_response_promise<balance_plan>();
      gather(self, [self, promise](caf::expected<balance_input> input) mutable {
        if (!input) {
          promise.deliver(input.error());
          return;
        }
        input->manual = true;
        promise.deliver(self->state.policy->plan(*input));
      });
      return promise;
    },
    [self](caf::get_atom, atoms::stats_atom) { return self->state.totals; },
    [self](caf::get_atom, atoms::history_atom, std::uint64_t limit) {
      const auto& history = self->state.history;
      std::vector<rebalance_report> result;
      for (auto i = history.rbegin(); i != history.rend() && result.size() < limit;
           ++i)
        result.push_back(*i);
      return result;
    },
    [self](caf::update_atom, role r, caf::actor handle) {
      self->state.handles.set(r, std::move(handle));
      if (r == role::store)
        load_history(self);
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
