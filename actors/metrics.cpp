#include "actors/metrics.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"
#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace orchestrator {

namespace {

/// Reads the host metrics source once, if there is one.
void sample_host(metrics_self* self) {
  auto& st = self->state;
  if (!st.source)
    return;
  auto sample = st.source->sample();
  if (!sample) {
    // Log the first failure of a run of failures, not every one.
    if (st.host_error.empty())
      logger("actors")->warn("host-metrics-failed source={} error=\"{}\"",
                             st.source->name(), describe(sample.error()));
    st.host_error = describe(sample.error());
    return;
  }
  st.host_error.clear();
  st.host_sample = std::move(*sample);
  st.has_host_sample = true;
}

/// Schedules the next sampling tick unless one is pending or there is no
/// source.
void schedule_tick(metrics_self* self) {
  auto& st = self->state;
  if (st.ticking || !st.source)
    return;
  st.ticking = true;
  self->delayed_send(self, st.interval, caf::tick_atom::value);
}

/// Forgets the workers whose newest sample is older than `forget_after`,
/// at most once per forget_scan_interval.
void forget_silent_workers(metrics_self* self) {
  auto& st = self->state;
  auto now_ms = now_instant().wall_ms;
  if (now_ms < st.next_forget_scan_ms)
    return;
  st.next_forget_scan_ms
    = now_ms + std::chrono::milliseconds{forget_scan_interval}.count();
  auto cutoff = now_ms - st.forget_after.count();
  std::size_t forgotten = 0;
  for (auto i = st.latest.begin(); i != st.latest.end();) {
    if (i->second.recorded_at_ms < cutoff) {
      i = st.latest.erase(i);
      ++forgotten;
    } else {
      ++i;
    }
  }
  if (forgotten > 0)
    logger("actors")->debug("metrics-workers-forgotten count={} kept={}",
                            forgotten, st.latest.size());
}

} // namespace

caf::behavior metrics_actor(metrics_self* self,
                            std::shared_ptr<host_metrics> source,
                            std::chrono::milliseconds interval,
                            std::chrono::milliseconds forget_after) {
  self->set_exception_handler(
    [](caf::scheduled_actor*, std::exception_ptr& failure) {
      return crash_reason(failure);
    });
  self->state.source = std::move(source);
  self->state.interval = interval;
  self->state.forget_after = forget_after;
  sample_host(self);
  schedule_tick(self);
  return {
    [self](atoms::record_atom, const std::string& server_id,
           const metrics_sample& sample) {
      self->state.latest[server_id] = sample;
      forget_silent_workers(self);
    },
    [self](caf::get_atom, atoms::latest_atom, std::int64_t since_ms) {
      std::vector<worker_sample> result;
      for (const auto& [id, sample] : self->state.latest)
        if (sample.recorded_at_ms >= since_ms)
          result.push_back(worker_sample{id, sample});
      return result;
    },
    [self](caf::get_atom, atoms::host_atom) -> caf::result<metrics_sample> {
      auto& st = self->state;
      if (!st.source)
        return make_error(errc::unavailable,
                          "no host metrics: the system_metrics module is not "
                          "running");
      if (!st.has_host_sample || !st.host_error.empty())
        return make_error(errc::unavailable,
                          "host metrics unavailable: " + st.host_error);
      return st.host_sample;
    },
    [self](caf::tick_atom) {
      self->state.ticking = false;
      sample_host(self);
      schedule_tick(self);
    },
    [self](caf::update_atom, std::shared_ptr<host_metrics> source) {
      auto& st = self->state;
      st.source = std::move(source);
      st.has_host_sample = false;
      st.host_error.clear();
      sample_host(self);
      schedule_tick(self);
    },
  };
}

} // namespace orchestrator
