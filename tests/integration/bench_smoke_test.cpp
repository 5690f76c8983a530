#define BOOST_TEST_MODULE bench_smoke
#include <boost/test/unit_test.hpp>

// Short runs of every orchestrator-bench scenario at small sizes. They
// check that each run completes and writes a report with the expected
// keys, never how fast anything was.

#include "tests/support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace orchestrator::testing;
using json = nlohmann::json;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// Runs orchestrator-bench with `args` and returns its report. Fails the
/// test, with the bench's output, if it exits non-zero or the report is
/// not JSON.
json run_bench(const std::vector<std::string>& args) {
  temp_dir dir;
  auto report_path = dir.file("report.json");
  auto output_path = dir.file("output.log");
  std::vector<std::string> argv = {ORCHESTRATOR_BENCH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--json", report_path});
  std::vector<char*> raw;
  for (auto& arg : argv)
    raw.push_back(arg.data());
  raw.push_back(nullptr);

  auto pid = ::fork();
  if (pid == 0) {
    auto fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_REQUIRE_MESSAGE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                        "orchestrator-bench " << args.front() << " failed:\n"
                                              << read_text(output_path));
  auto report = json::parse(read_text(report_path), nullptr, false);
  BOOST_REQUIRE_MESSAGE(!report.is_discarded(), "the report is not JSON:\n"
                                                  << read_text(report_path));
  for (const char* key : {"scenario", "date", "machine", "command_line", "settings", "figures"})
    BOOST_TEST_CONTEXT("key " << key) BOOST_TEST(report.contains(key));
  BOOST_TEST(report["scenario"] == args.front());
  return report;
}

void check_load(const json& load) {
  for (const char* key : {"throughput_per_s", "latency_ms", "errors", "timeline", "distribution"})
    BOOST_TEST_CONTEXT("load key " << key) BOOST_TEST(load.contains(key));
  for (const char* key : {"p50", "p90", "p99", "p99_9", "max"})
    BOOST_TEST_CONTEXT("latency key " << key) BOOST_TEST(load["latency_ms"].contains(key));
  BOOST_TEST(load["replies_recorded"].get<std::uint64_t>() > 0u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(bench_smoke)

BOOST_AUTO_TEST_CASE(heartbeat_with_ceiling) {
  auto report = run_bench({"heartbeat", "--duration", "1", "--warmup", "0.5", "--workers", "50",
                           "--rate", "0", "--connections", "8", "--ceiling-duration", "1"});
  check_load(report["load"]);
  BOOST_REQUIRE(report.contains("ceiling"));
  check_load(report["ceiling"]["load"]);
  BOOST_TEST(report["ceiling"].contains("ratio"));
}

BOOST_AUTO_TEST_CASE(churn_of_all_operations) {
  auto report = run_bench({"churn", "--duration", "1", "--warmup", "0.5", "--workers", "20",
                           "--streams", "2000", "--rate", "200"});
  check_load(report["load"]);
  for (const char* kind : {"register", "assign", "release", "deregister"})
    BOOST_TEST_CONTEXT("kind " << kind)
      BOOST_TEST(report["load"]["latency_ms_by_kind"].contains(kind));
}

BOOST_AUTO_TEST_CASE(failover_of_silent_workers) {
  auto report = run_bench({"failover", "--warmup", "0.5", "--workers", "10",
                           "--streams-per-worker", "5", "--heartbeat-interval", "0.1",
                           "--heartbeat-timeout", "0.5"});
  check_load(report["load"]);
  BOOST_TEST(report["figures"]["victims_moved"] == 1);
  BOOST_TEST(report["figures"]["all_streams_owned_by_live_workers"] == true);
  BOOST_TEST(report["figures"].contains("last_heartbeat_to_streams_moved_ms"));
}

BOOST_AUTO_TEST_CASE(join_of_two_workers) {
  auto report = run_bench({"join", "--workers", "10", "--streams", "500", "--joins", "2"});
  BOOST_REQUIRE_EQUAL(report["figures"]["joins"].size(), 2u);
  for (const auto& join : report["figures"]["joins"]) {
    BOOST_TEST(join["balanced"] == true);
    BOOST_TEST(join.contains("streams_moved"));
    BOOST_TEST(join.contains("minimum_moves"));
  }
}

BOOST_AUTO_TEST_CASE(restart_after_kill) {
  auto report = run_bench({"restart", "--duration", "1", "--warmup", "0.5", "--workers", "20",
                           "--streams-per-worker", "20", "--rate", "200"});
  check_load(report["load"]);
  const auto& figures = report["figures"];
  for (const char* key : {"kill_to_ready_ms", "acknowledged_assignments_checked",
                          "acknowledged_assignments_lost", "assignments_after_restart"})
    BOOST_TEST_CONTEXT("figure " << key) BOOST_TEST(figures.contains(key));
}

BOOST_AUTO_TEST_CASE(scale_of_one_point) {
  auto report = run_bench({"scale", "--scale-points", "1000x10"});
  BOOST_REQUIRE_EQUAL(report["figures"]["points"].size(), 1u);
  const auto& point = report["figures"]["points"][0];
  for (const char* key : {"rss_kib", "bytes_per_stream_in_catalogue", "bytes_per_worker", "bytes_per_assigned_stream",
                          "startup_s"})
    BOOST_TEST_CONTEXT("figure " << key) BOOST_TEST(point.contains(key));
  BOOST_TEST(point["streams_assigned"] == 1000);
}

BOOST_AUTO_TEST_SUITE_END()
