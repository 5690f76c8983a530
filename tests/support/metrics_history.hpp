#pragma once

// Helpers for the end-to-end tests of GET /instances/{id}/metrics.

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"

#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace orchestrator::testing {

/// Returns a heartbeat with all seven system metrics, cpu_percent being
/// `cpu`, plus a load average and an uptime unless `partial`.
inline nlohmann::json heartbeat_with_metrics(const std::string& id, double cpu,
                                             bool partial = false) {
  nlohmann::json metrics = {{"cpu_percent", cpu},     {"memory_percent", 40.5},
                            {"memory_used_gb", 3.25}, {"memory_total_gb", 8},
                            {"disk_percent", 55},     {"disk_free_gb", 90.125},
                            {"disk_total_gb", 200}};
  if (!partial) {
    metrics["load_average"] = {0.5, 0.25, 0.125};
    metrics["uptime_seconds"] = 1000 + cpu;
  }
  return {{"server_id", id}, {"current_streams", 0}, {"system_metrics", metrics}};
}

/// Sends `count` heartbeats with metrics for `id`, cpu_percent 0 to count-1
/// and every tenth one partial, and checks after each that its sample is
/// the newest in the history: readable as soon as the heartbeat was
/// acknowledged, although the store writes samples in batches.
inline void send_and_read_back(const http_client& client, const std::string& id,
                               int count) {
  for (int k = 0; k < count; ++k) {
    BOOST_REQUIRE_EQUAL(
      client.post("/heartbeat", heartbeat_with_metrics(id, k, k % 10 == 0)).status,
      200u);
    auto newest = client.get("/instances/" + id + "/metrics?limit=1").json();
    BOOST_REQUIRE_EQUAL(newest["count"], 1);
    BOOST_TEST(newest["metrics"][0]["cpu_percent"] == k);
  }
}

/// Returns the cpu_percent of each sample in a metrics history reply.
inline std::vector<double> cpu_values(const nlohmann::json& reply) {
  std::vector<double> result;
  for (const auto& sample : reply["metrics"])
    result.push_back(sample["cpu_percent"].get<double>());
  return result;
}

/// Returns whether `text` appears in the server's log within `limit`,
/// reading the log every 50 ms.
inline bool wait_for_log(const server_process& server, const std::string& text,
                         std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (server.log().find(text) != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return false;
}

} // namespace orchestrator::testing
