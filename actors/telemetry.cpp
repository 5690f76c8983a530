#include "actors/telemetry.hpp"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

#include <set>
#include <unordered_map>

namespace orchestrator {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

/// Latency buckets from 100 µs to 10 s.
const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5, 10};
  return buckets;
}

/// Buckets for times measured against heartbeat intervals: 50 ms to 20 min.
const prometheus::Histogram::BucketBoundaries& slow_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets{
    0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200};
  return buckets;
}

} // namespace

telemetry& telemetry::global() {
  static telemetry instance;
  return instance;
}

telemetry::telemetry()
  : registry_(std::make_shared<prometheus::Registry>()),
    started_at_ms_(now_instant().wall_ms) {
  auto& r = *registry_;
  heartbeats_ = &BuildCounter()
                   .Name("orchestrator_heartbeats_received_total")
                   .Help("Heartbeats accepted from registered workers")
                   .Register(r)
                   .Add({});
  requests_ = &BuildCounter()
                 .Name("orchestrator_http_requests_total")
                 .Help("HTTP requests by method, route pattern and status code")
                 .Register(r);
  request_seconds_ = &BuildHistogram()
                        .Name("orchestrator_http_request_duration_seconds")
                        .Help("Time from a routed HTTP request to its response")
                        .Register(r);
  rebalances_ = &BuildCounter()
                   .Name("orchestrator_rebalances_total")
                   .Help("Recorded rebalance rounds by method, reason and status")
                   .Register(r);
  streams_moved_ = &BuildCounter()
                      .Name("orchestrator_rebalance_streams_moved_total")
                      .Help("Streams handed off by rebalance rounds, by reason")
                      .Register(r);
  rebalance_seconds_ = &BuildHistogram()
                          .Name("orchestrator_rebalance_duration_seconds")
                          .Help("Time of one recorded rebalance round")
                          .Register(r)
                          .Add({}, latency_buckets());
  deaths_ = &BuildCounter()
               .Name("orchestrator_worker_deaths_total")
               .Help("Workers declared dead, by reason")
               .Register(r);
  silence_seconds_ = &BuildHistogram()
                        .Name("orchestrator_worker_silence_before_death_seconds")
                        .Help("Time from a worker's last heartbeat to its death "
                              "being declared")
                        .Register(r)
                        .Add({}, slow_buckets());
  reassignment_seconds_
    = &BuildHistogram()
         .Name("orchestrator_death_to_reassignment_seconds")
         .Help("Time from declaring workers dead to the durable "
               "reassignment of their streams")
         .Register(r)
         .Add({}, latency_buckets());
  commit_seconds_ = &BuildHistogram()
                       .Name("orchestrator_store_commit_duration_seconds")
                       .Help("Time of one group commit to the store")
                       .Register(r)
                       .Add({}, latency_buckets());
  commit_failures_ = &BuildCounter()
                        .Name("orchestrator_store_commit_failures_total")
                        .Help("Group commits the store failed to write")
                        .Register(r)
                        .Add({});
  changes_committed_ = &BuildCounter()
                          .Name("orchestrator_store_changes_committed_total")
                          .Help("Row changes written by successful commits")
                          .Register(r)
                          .Add({});
  retries_ = &BuildCounter()
                .Name("orchestrator_dependency_retries_total")
                .Help("Retried calls to a dependency")
                .Register(r);
  shed_ = &BuildCounter()
             .Name("orchestrator_requests_shed_total")
             .Help("Requests refused with 503 because too many were waiting, "
                   "by priority class")
             .Register(r);
  // Known label values start at zero, so rates work before the first event.
  for (const char* reason : {"heartbeat_timeout", "phi_accrual", "operator"})
    deaths_->Add({{"reason", reason}});
  retries_->Add({{"dependency", "store"}});
}

void telemetry::request_shed(const std::string& what) {
  shed_->Add({{"class", what}}).Increment();
}

void telemetry::heartbeat_received() {
  heartbeats_->Increment();
}

void telemetry::request_served(const std::string& method,
                               const std::string& route, unsigned status,
                               double seconds) {
  // Any token is a valid method, so unknown ones share a label value.
  static const std::set<std::string> known{"GET",   "POST", "PUT",    "DELETE",
                                           "PATCH", "HEAD", "OPTIONS"};
  // Each thread keeps the metrics it used, so the common request skips
  // building label maps and the family's lock. Metrics live as long as
  // the registry, which is never torn down.
  struct served_metrics {
    prometheus::Counter* count;
    prometheus::Histogram* seconds;
  };
  // Keys are built from label values only (a known method, a route pattern,
  // a status), so the cache stays as small as the metric families.
  thread_local std::unordered_map<std::string, served_metrics> cache;
  const std::string& label = known.count(method) != 0 ? method : "other";
  std::string key;
  key.reserve(label.size() + route.size() + 8);
  key.append(label).append(1, ' ').append(route).append(1, ' ');
  key.append(std::to_string(status));
  auto i = cache.find(key);
  if (i == cache.end()) {
    served_metrics found{
      &requests_->Add({{"method", label}, {"route", route},
                       {"code", std::to_string(status)}}),
      &request_seconds_->Add({{"method", label}, {"route", route}},
                             latency_buckets())};
    i = cache.emplace(std::move(key), found).first;
  }
  i->second.count->Increment();
  i->second.seconds->Observe(seconds);
}

void telemetry::rebalance_recorded(const rebalance_report& report) {
  rebalances_->Add({{"method", report.method}, {"reason", report.reason},
                    {"status", report.status}})
    .Increment();
  streams_moved_->Add({{"reason", report.reason}})
    .Increment(static_cast<double>(report.moved));
  rebalance_seconds_->Observe(report.duration_ms / 1000.0);
}

void telemetry::worker_died(const std::string& reason, double silence_seconds) {
  deaths_->Add({{"reason", reason}}).Increment();
  silence_seconds_->Observe(silence_seconds);
}

void telemetry::reassignment_committed(double seconds) {
  reassignment_seconds_->Observe(seconds);
}

void telemetry::store_committed(double seconds, std::size_t changes, bool ok) {
  commit_seconds_->Observe(seconds);
  if (ok)
    changes_committed_->Increment(static_cast<double>(changes));
  else
    commit_failures_->Increment();
}

void telemetry::dependency_retried(const std::string& dependency) {
  retries_->Add({{"dependency", dependency}}).Increment();
}

std::string telemetry::render(const scrape_state& state) {
  // Gauges go into a registry of their own for each scrape, so a module or
  // host metric that disappeared is not reported with an old value.
  prometheus::Registry gauges;
  auto gauge = [&](const char* name, const char* help) -> auto& {
    return BuildGauge().Name(name).Help(help).Register(gauges);
  };

  gauge("orchestrator_start_time_seconds",
        "Start time of the server since the Unix epoch")
    .Add({})
    .Set(static_cast<double>(started_at_ms_) / 1000.0);

  auto& role = gauge("orchestrator_server_role",
                     "1 for this server's role among servers sharing a database");
  for (const char* name : {"leader", "standby", "deposed"})
    role.Add({{"role", name}}).Set(state.role == name ? 1.0 : 0.0);

  if (state.has_summary) {
    const auto& s = state.summary;
    auto& workers = gauge("orchestrator_workers", "Known workers by state");
    workers.Add({{"state", "active"}})
      .Set(static_cast<double>(s.workers_active - s.workers_draining));
    workers.Add({{"state", "draining"}}).Set(static_cast<double>(s.workers_draining));
    workers.Add({{"state", "dead"}})
      .Set(static_cast<double>(s.workers_total - s.workers_active));
    auto& streams = gauge("orchestrator_streams",
                          "Catalogue streams by assignment state");
    auto unassigned = s.streams_total - s.streams_assigned - s.streams_waiting;
    streams.Add({{"state", "assigned"}}).Set(static_cast<double>(s.streams_assigned));
    streams.Add({{"state", "unassigned"}}).Set(static_cast<double>(unassigned));
    streams.Add({{"state", "waiting"}}).Set(static_cast<double>(s.streams_waiting));
    gauge("orchestrator_stream_handoffs",
          "Assigned streams being handed off to another worker")
      .Add({})
      .Set(static_cast<double>(s.handoffs));
    gauge("orchestrator_capacity_streams",
          "Sum of max_streams over active workers")
      .Add({})
      .Set(static_cast<double>(s.total_capacity));
    double mean = s.workers_active == 0
                    ? 0.0
                    : static_cast<double>(s.current_load) / s.workers_active;
    gauge("orchestrator_assignment_skew_ratio",
          "Streams of the most loaded active worker over the mean; 1 is even")
      .Add({})
      .Set(mean > 0 ? static_cast<double>(s.max_worker_load) / mean : 0.0);
    gauge("orchestrator_coordinator_mailbox_messages",
          "Messages waiting in the coordinator's mailbox, the busiest actor")
      .Add({})
      .Set(static_cast<double>(s.mailbox_depth));
    gauge("orchestrator_commit_waiting_requests",
          "Requests whose reply waits for a store commit")
      .Add({})
      .Set(static_cast<double>(s.commit_waiters));
    gauge("orchestrator_assignment_epoch", "The latest assignment epoch")
      .Add({})
      .Set(static_cast<double>(s.epoch));
    gauge("orchestrator_dependency_up", "1 if the dependency works, else 0")
      .Add({{"dependency", "store"}})
      .Set(s.store_available ? 1 : 0);
    auto& breaker = gauge("orchestrator_circuit_breaker_state",
                          "1 for the state each dependency's breaker is in");
    for (const char* name : {"closed", "open", "half_open"})
      breaker.Add({{"dependency", "store"}, {"state", name}})
        .Set(s.store_breaker == name ? 1 : 0);
  }

  if (!state.modules.empty()) {
    auto& up = gauge("orchestrator_module_up",
                     "1 if the optional module runs for its role, else 0");
    for (const auto& m : state.modules)
      up.Add({{"module", m.name}, {"role", m.role}}).Set(m.initialized ? 1 : 0);
  }
  if (!state.roles.empty()) {
    auto& running = gauge("orchestrator_role_running",
                          "1 if the supervised role runs, else 0");
    auto& restarts = gauge("orchestrator_role_restarts",
                           "Restarts of the supervised role since start");
    for (const auto& r : state.roles) {
      running.Add({{"role", r.role}, {"variant", r.variant}})
        .Set(r.state == "running" ? 1 : 0);
      restarts.Add({{"role", r.role}}).Set(r.restarts);
    }
  }

  if (state.host) {
    const auto& h = *state.host;
    constexpr double gib = 1024.0 * 1024.0 * 1024.0;
    gauge("orchestrator_host_cpu_usage_ratio", "CPU busy fraction of the host")
      .Add({})
      .Set(h.cpu_percent / 100.0);
    gauge("orchestrator_host_memory_used_bytes", "Memory in use on the host")
      .Add({})
      .Set(h.memory_used_gb * gib);
    gauge("orchestrator_host_memory_total_bytes", "Memory of the host")
      .Add({})
      .Set(h.memory_total_gb * gib);
    gauge("orchestrator_host_disk_free_bytes",
          "Free space on the file system of the data folder")
      .Add({})
      .Set(h.disk_free_gb * gib);
    gauge("orchestrator_host_disk_total_bytes",
          "Size of the file system of the data folder")
      .Add({})
      .Set(h.disk_total_gb * gib);
    if (h.load_average.size() == 3) {
      auto& load = gauge("orchestrator_host_load_average",
                         "Load average of the host over a window");
      const char* windows[] = {"1m", "5m", "15m"};
      for (std::size_t k = 0; k < 3; ++k)
        load.Add({{"window", windows[k]}}).Set(h.load_average[k]);
    }
    if (h.uptime_seconds >= 0)
      gauge("orchestrator_host_uptime_seconds", "Time since the host booted")
        .Add({})
        .Set(h.uptime_seconds);
  }

  auto families = registry_->Collect();
  auto scraped = gauges.Collect();
  families.insert(families.end(), scraped.begin(), scraped.end());
  return prometheus::TextSerializer{}.Serialize(families);
}

} // namespace orchestrator
