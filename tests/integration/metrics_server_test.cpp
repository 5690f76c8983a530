#define BOOST_TEST_MODULE metrics_server
#include <boost/test/unit_test.hpp>

// GET /metrics of the real server after a scripted scenario: the values
// match what the scenario did, and promtool, Prometheus's own parser and
// linter, accepts the output.

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace orchestrator::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// Parses the Prometheus text format into "name{labels}" -> value.
std::map<std::string, double> parse_samples(const std::string& text) {
  std::map<std::string, double> result;
  std::istringstream lines{text};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto space = line.rfind(' ');
    BOOST_REQUIRE_MESSAGE(space != std::string::npos, "malformed line: " << line);
    result[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return result;
}

double sample(const std::map<std::string, double>& samples, const std::string& key) {
  auto i = samples.find(key);
  BOOST_REQUIRE_MESSAGE(i != samples.end(), "no sample " << key);
  return i->second;
}

/// Runs `command` through the shell and returns its exit status and output.
std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  auto* pipe = popen((command + " 2>&1").c_str(), "r");
  BOOST_REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (auto n = fread(buffer, 1, sizeof buffer, pipe))
    output.append(buffer, n);
  auto status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

} // namespace

BOOST_AUTO_TEST_SUITE(prometheus_metrics)

BOOST_AUTO_TEST_CASE(scenario_metrics_match_and_parse) {
  temp_dir dir;
  auto modules = dir.file("modules");
  std::filesystem::create_directories(modules);
  std::filesystem::copy_file(std::string{MODULES_BUILD_DIR} + "/system_metrics.so",
                             modules + "/system_metrics.so");
  server_process server{{"--data-dir", dir.file("data"), "--modules-dir", modules,
                         "--heartbeat-timeout", "0.6", "--heartbeat-check-interval",
                         "0.1", "--metrics-interval", "0.1", "--rebalance-interval",
                         "0"},
                        dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};

  auto streams = json::array();
  for (int id = 1; id <= 10; ++id)
    streams.push_back({{"id", id}, {"url", "u" + std::to_string(id)}});
  BOOST_REQUIRE_EQUAL(client.post("/streams", streams).status, 201u);
  for (const char* id : {"w1", "w2", "w3"}) {
    BOOST_REQUIRE_EQUAL(client.post("/register", {{"server_id", id}, {"ip", "127.0.0.1"},
                                                  {"port", 9000}, {"max_streams", 10}})
                          .status,
                        200u);
    BOOST_REQUIRE_EQUAL(
      client.post("/streams/assign", {{"server_id", id}, {"requested_count", 3}}).status,
      200u);
  }

  // w1 and w2 keep beating while w3 falls silent and is declared dead.
  int heartbeats = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool dead = false;
  while (!dead && std::chrono::steady_clock::now() < deadline) {
    for (const char* id : {"w1", "w2"}) {
      BOOST_REQUIRE_EQUAL(
        client.post("/heartbeat", {{"server_id", id}, {"current_streams", 3}}).status,
        200u);
      ++heartbeats;
    }
    dead = client.get("/instances/w3").json()["data"]["status"] == "dead";
    std::this_thread::sleep_for(100ms);
  }
  BOOST_REQUIRE(dead);
  BOOST_REQUIRE_EQUAL(client.request("POST", "/rebalance/basic").status, 200u);
  BOOST_REQUIRE_EQUAL(client.get("/no/such/path").status, 404u);
  BOOST_REQUIRE_EQUAL(client.post("/register", {{"server_id", "w4"}}).status, 422u);
  // Let the metrics actor take a host sample.
  std::this_thread::sleep_for(300ms);

  auto reply = client.get("/metrics");
  BOOST_REQUIRE_EQUAL(reply.status, 200u);
  BOOST_TEST(reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8");
  auto samples = parse_samples(reply.body);

  BOOST_TEST(sample(samples, "orchestrator_heartbeats_received_total") == heartbeats);
  BOOST_TEST(sample(samples, "orchestrator_http_requests_total{code=\"200\",method="
                             "\"POST\",route=\"/heartbeat\"}")
             == heartbeats);
  BOOST_TEST(sample(samples, "orchestrator_http_requests_total{code=\"404\",method="
                             "\"GET\",route=\"unmatched\"}")
             == 1);
  BOOST_TEST(sample(samples, "orchestrator_http_requests_total{code=\"422\",method="
                             "\"POST\",route=\"/register\"}")
             == 1);
  BOOST_TEST(sample(samples, "orchestrator_http_request_duration_seconds_count{method="
                             "\"POST\",route=\"/streams/assign\"}")
             == 3);

  BOOST_TEST(sample(samples, "orchestrator_workers{state=\"active\"}") == 2);
  BOOST_TEST(sample(samples, "orchestrator_workers{state=\"dead\"}") == 1);
  BOOST_TEST(sample(samples, "orchestrator_workers{state=\"draining\"}") == 0);
  // w3's three streams went to w1 and w2, which now hold 5 and 4.
  BOOST_TEST(sample(samples, "orchestrator_streams{state=\"assigned\"}") == 9);
  BOOST_TEST(sample(samples, "orchestrator_streams{state=\"unassigned\"}") == 1);
  BOOST_TEST(sample(samples, "orchestrator_streams{state=\"waiting\"}") == 0);
  BOOST_TEST(sample(samples, "orchestrator_assignment_skew_ratio") == 5.0 / 4.5,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(sample(samples, "orchestrator_capacity_streams") == 20);

  BOOST_TEST(sample(samples, "orchestrator_worker_deaths_total{reason=\"heartbeat_timeout\"}")
             == 1);
  BOOST_TEST(sample(samples, "orchestrator_worker_deaths_total{reason=\"operator\"}") == 0);
  BOOST_TEST(sample(samples, "orchestrator_worker_silence_before_death_seconds_sum") >= 0.6);
  BOOST_TEST(sample(samples, "orchestrator_death_to_reassignment_seconds_count") == 1);
  BOOST_TEST(sample(samples, "orchestrator_rebalances_total{method=\"basic\",reason="
                             "\"manual\",status=\"completed\"}")
             == 1);
  BOOST_TEST(sample(samples, "orchestrator_store_commit_duration_seconds_count") > 0);
  BOOST_TEST(sample(samples, "orchestrator_store_commit_failures_total") == 0);
  BOOST_TEST(sample(samples, "orchestrator_dependency_up{dependency=\"store\"}") == 1);
  BOOST_TEST(sample(samples, "orchestrator_circuit_breaker_state{dependency=\"store\","
                             "state=\"closed\"}")
             == 1);
  BOOST_TEST(sample(samples, "orchestrator_coordinator_mailbox_messages") >= 0);

  BOOST_TEST(sample(samples, "orchestrator_module_up{module=\"system_metrics\",role="
                             "\"metrics\"}")
             == 1);
  BOOST_TEST(sample(samples, "orchestrator_module_up{module=\"smart_balancer\",role="
                             "\"balancer\"}")
             == 0);
  auto cpu = sample(samples, "orchestrator_host_cpu_usage_ratio");
  BOOST_TEST(cpu >= 0.0);
  BOOST_TEST(cpu <= 1.0);
  BOOST_TEST(sample(samples, "orchestrator_host_memory_total_bytes") > 1e8);
  BOOST_TEST(sample(samples, "orchestrator_host_uptime_seconds") > 0);
  BOOST_TEST(samples.count("orchestrator_host_load_average{window=\"1m\"}") == 1u);

  // Prometheus's own parser finds nothing to complain about.
  auto file = dir.file("metrics.txt");
  std::ofstream{file} << reply.body;
  auto [status, output] = run("promtool check metrics < " + file);
  BOOST_TEST(status == 0);
  BOOST_TEST(output == "", "promtool: " << output);
}

BOOST_AUTO_TEST_CASE(metrics_without_modules_omit_host_gauges) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data"), "--modules-dir",
                         dir.file("no-modules")},
                        dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};
  auto reply = client.get("/metrics");
  BOOST_REQUIRE_EQUAL(reply.status, 200u);
  auto samples = parse_samples(reply.body);
  BOOST_TEST(samples.count("orchestrator_host_cpu_usage_ratio") == 0u);
  BOOST_TEST(sample(samples, "orchestrator_module_up{module=\"system_metrics\",role="
                             "\"metrics\"}")
             == 0);
  BOOST_TEST(sample(samples, "orchestrator_workers{state=\"active\"}") == 0);
  BOOST_TEST(client.request("POST", "/metrics").status == 405u);
}

BOOST_AUTO_TEST_SUITE_END()
