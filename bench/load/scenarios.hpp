#pragma once

// The scenarios of orchestrator-bench. Each runs against the orchestrator
// on loopback (one it starts, or --server) and returns the parts of the
// JSON report it fills: "settings", "load", "ceiling" and "figures".

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace orchestrator::bench {

/// Every command-line setting. A value of 0 (or a negative rate) means the
/// scenario's own default, which `--help` lists.
struct bench_options {
  std::string scenario;
  double duration_s = 10;
  double warmup_s = 1;
  std::string server_url;
  std::string orchestrator_binary;
  std::vector<std::string> server_args;
  /// Bearer tokens sent to the server: the worker token with the load, the
  /// admin token (or else the worker token) with set-up and admin requests.
  std::string api_key;
  std::string admin_key;
  double rate = -1;
  std::size_t connections = 64;
  std::size_t client_threads = 1;
  std::size_t workers = 0;
  std::size_t streams = 0;
  std::size_t streams_per_worker = 0;
  bool ceiling = true;
  double ceiling_duration_s = 5;
  unsigned nginx_workers = 1;
  std::string mix;
  std::size_t batch = 5;
  double heartbeat_interval_s = 0.1;
  double heartbeat_timeout_s = 0.5;
  std::size_t victims = 0;
  std::size_t joins = 3;
  std::string balancer = "basic";
  std::string scale_points = "10000x100,100000x1000";
};

nlohmann::json run_heartbeat(const bench_options& options);
nlohmann::json run_churn(const bench_options& options);
nlohmann::json run_failover(const bench_options& options);
nlohmann::json run_join(const bench_options& options);
nlohmann::json run_restart(const bench_options& options);
nlohmann::json run_scale(const bench_options& options);

} // namespace orchestrator::bench
