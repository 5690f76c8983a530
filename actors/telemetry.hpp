#pragma once

#include "actors/types.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orchestrator {

/// State read from the actors for one scrape of GET /metrics.
struct scrape_state {
  cluster_summary summary;
  bool has_summary = false;
  std::vector<module_status> modules;
  std::vector<role_status> roles;
  /// The host's metrics while the system_metrics module runs.
  std::optional<metrics_sample> host;
  /// "leader", "standby" or "deposed".
  std::string role = "leader";
};

/// The server's Prometheus metrics. Counters and histograms are updated
/// where events happen, from any thread, because prometheus-cpp's metrics
/// are thread-safe. Gauges are computed from a scrape_state at each scrape,
/// so they never go stale. One instance serves the whole process, as a
/// Prometheus client library's default registry does.
class telemetry {
public:
  /// Returns the process-wide instance.
  static telemetry& global();

  void heartbeat_received();
  /// Records one HTTP request: `route` is the matched pattern, such as
  /// "/instances/{}", or "unmatched".
  void request_served(const std::string& method, const std::string& route,
                      unsigned status, double seconds);
  void rebalance_recorded(const rebalance_report& report);
  /// Records one worker declared dead after `silence_seconds` without a
  /// heartbeat; `reason` is "heartbeat_timeout", "phi_accrual" or
  /// "operator".
  void worker_died(const std::string& reason, double silence_seconds);
  /// Records the time from declaring workers dead to the durable
  /// reassignment of their streams.
  void reassignment_committed(double seconds);
  void store_committed(double seconds, std::size_t changes, bool ok);
  /// Records a retry of a call to a dependency, such as "store".
  void dependency_retried(const std::string& dependency);
  /// Records a request refused because the server was overloaded; `what`
  /// names its priority class, such as "heartbeats".
  void request_shed(const std::string& what);

  /// Renders every metric in the Prometheus text format, version 0.0.4.
  std::string render(const scrape_state& state);

private:
  telemetry();

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* heartbeats_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* request_seconds_;
  prometheus::Family<prometheus::Counter>* rebalances_;
  prometheus::Family<prometheus::Counter>* streams_moved_;
  prometheus::Histogram* rebalance_seconds_;
  prometheus::Family<prometheus::Counter>* deaths_;
  prometheus::Histogram* silence_seconds_;
  prometheus::Histogram* reassignment_seconds_;
  prometheus::Histogram* commit_seconds_;
  prometheus::Counter* commit_failures_;
  prometheus::Counter* changes_committed_;
  prometheus::Family<prometheus::Counter>* retries_;
  prometheus::Family<prometheus::Counter>* shed_;
  std::int64_t started_at_ms_;
};

} // namespace orchestrator
