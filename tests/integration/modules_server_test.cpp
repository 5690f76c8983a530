#define BOOST_TEST_MODULE modules_server
#include <boost/test/unit_test.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

using namespace orchestrator::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> all_modules{"system_metrics", "smart_balancer",
                                           "resilient_failure_handler"};

/// A server with a modules folder of its own, filled by the test.
struct scenario {
  temp_dir dir;
  std::string modules = dir.file("modules");
  std::unique_ptr<server_process> server;
  std::unique_ptr<http_client> client;

  scenario() {
    std::filesystem::create_directories(modules);
  }

  /// Copies built modules into the folder.
  void install(const std::vector<std::string>& names) {
    for (const auto& name : names)
      std::filesystem::copy_file(std::string{MODULES_BUILD_DIR} + "/" + name + ".so",
                                 modules + "/" + name + ".so",
                                 std::filesystem::copy_options::overwrite_existing);
  }

  /// Installs a test fixture under a module's file name.
  void install_fixture(const std::string& fixture, const std::string& as) {
    std::filesystem::copy_file(std::string{FIXTURES_DIR} + "/" + fixture + ".so",
                               modules + "/" + as + ".so",
                               std::filesystem::copy_options::overwrite_existing);
  }

  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--data-dir", dir.file("data"),
                                  "--modules-dir", modules,
                                  "--heartbeat-check-interval", "0.2"};
    args.insert(args.end(), extra.begin(), extra.end());
    server = std::make_unique<server_process>(args, dir.file("server.log"));
    client = std::make_unique<http_client>("127.0.0.1", server->port());
  }

  json modules_status() {
    auto reply = client->get("/modules/status");
    BOOST_REQUIRE_EQUAL(reply.status, 200u);
    return reply.json();
  }

  bool logged(const std::string& text) {
    return server->log().find(text) != std::string::npos;
  }

  /// Registers a worker, adds streams, assigns, heartbeats and releases,
  /// checking that basic orchestration works whatever the modules do.
  void check_orchestration_works() {
    BOOST_REQUIRE_EQUAL(client->post("/streams", json::array({{{"id", 1}, {"url", "u1"}},
                                                             {{"id", 2}, {"url", "u2"}}}))
                          .status / 100,
                        2u);
    BOOST_TEST(client->post("/register", {{"server_id", "w1"}, {"ip", "127.0.0.1"},
                                          {"port", 9000}, {"max_streams", 5}})
                 .status == 200u);
    auto assigned = client->post("/streams/assign", {{"server_id", "w1"}});
    BOOST_TEST(assigned.status == 200u);
    BOOST_TEST(assigned.json()["owned_streams"].size() == 2u);
    auto beat = client->post("/heartbeat", {{"server_id", "w1"}, {"current_streams", 2}});
    BOOST_TEST(beat.status == 200u);
    auto released = client->post("/streams/release",
                                 {{"server_id", "w1"}, {"stream_ids", {1}}});
    BOOST_TEST(released.status == 200u);
    BOOST_TEST(released.json()["released_streams"] == json::array({1}));
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(module_scenarios)

BOOST_AUTO_TEST_CASE(minimal_runs_without_modules) {
  scenario s;
  s.start();
  auto status = s.modules_status();
  BOOST_TEST(status["summary"]["available_modules"] == 0);
  BOOST_TEST(status["summary"]["initialized_modules"] == 0);
  BOOST_TEST(status["summary"]["degraded_functionality"] == true);
  BOOST_TEST(status["functionality"]["basic_orchestration"] == true);
  BOOST_TEST(status["functionality"]["smart_load_balancing"] == false);
  BOOST_TEST(status["functionality"]["enhanced_failure_handling"] == false);
  BOOST_TEST(status["functionality"]["system_metrics"] == false);
  for (const char* legacy : {"psutil", "enhanced_orchestrator", "resilient_orchestrator"}) {
    BOOST_TEST(status["modules"][legacy]["available"] == false);
    BOOST_TEST(status["modules"][legacy]["error"].get<std::string>().find("not installed")
               != std::string::npos);
  }
  BOOST_TEST(s.logged("module-unavailable module=smart_balancer"));
  BOOST_TEST(s.logged("modules-summary"));
  BOOST_TEST(s.logged("loaded=none"));
  BOOST_TEST(s.client->get("/health").json()["system_metrics"].is_null());
  s.check_orchestration_works();
}

BOOST_AUTO_TEST_CASE(standard_runs_metrics_only) {
  scenario s;
  s.install({"system_metrics"});
  s.start();
  auto status = s.modules_status();
  BOOST_TEST(status["modules"]["psutil"]["available"] == true);
  BOOST_TEST(status["modules"]["psutil"]["initialized"] == true);
  BOOST_TEST(status["modules"]["enhanced_orchestrator"]["available"] == false);
  BOOST_TEST(status["functionality"]["system_metrics"] == true);
  BOOST_TEST(status["summary"]["available_modules"] == 1);
  BOOST_TEST(status["summary"]["degraded_functionality"] == true);
  BOOST_TEST(status["enhanced_modules"]["system_metrics"]["version"] == "0.1.0");
  BOOST_TEST(s.logged("module-loaded module=system_metrics"));

  // The host's real values, within sane ranges.
  auto host = s.client->get("/health").json()["system_metrics"];
  BOOST_REQUIRE(host.is_object());
  BOOST_TEST(host["cpu_percent"].get<double>() >= 0.0);
  BOOST_TEST(host["cpu_percent"].get<double>() <= 100.0);
  BOOST_TEST(host["memory_total_gb"].get<double>() > 0.0);
  BOOST_TEST(host["disk_total_gb"].get<double>() > 0.0);
  BOOST_TEST(host["load_average_1m"].get<double>() >= 0.0);
  s.check_orchestration_works();
}

BOOST_AUTO_TEST_CASE(full_runs_all_modules) {
  scenario s;
  s.install(all_modules);
  s.start();
  auto status = s.modules_status();
  BOOST_TEST(status["summary"]["available_modules"] == 3);
  BOOST_TEST(status["summary"]["initialized_modules"] == 3);
  BOOST_TEST(status["summary"]["degraded_functionality"] == false);
  BOOST_TEST(status["roles"]["balancer"]["variant"] == "smart_balancer");
  BOOST_TEST(status["roles"]["failure_handler"]["variant"] == "resilient_failure_handler");
  BOOST_TEST(status["roles"]["metrics"]["variant"] == "system_metrics");
  BOOST_TEST(s.logged("loaded=system_metrics,smart_balancer,resilient_failure_handler"));
  s.check_orchestration_works();

  auto rebalance = s.client->request("POST", "/rebalance/smart?reason=manual");
  BOOST_TEST(rebalance.json()["method"] == "smart_balancer");
  auto failure = s.client->post("/instances/w1/failure", json::object());
  BOOST_TEST(failure.json()["method"] == "resilient_failure_handler");
}

BOOST_AUTO_TEST_CASE(corrupt_module_falls_back) {
  scenario s;
  s.install({"system_metrics"});
  std::ofstream{s.modules + "/smart_balancer.so"} << "this is not a shared library";
  s.start();
  auto entry = s.modules_status()["modules"]["enhanced_orchestrator"];
  BOOST_TEST(entry["available"] == false);
  BOOST_TEST(entry["error"].get<std::string>().find("not a loadable shared library")
             != std::string::npos);
  BOOST_TEST(s.logged("module-unavailable module=smart_balancer"));
  BOOST_TEST(s.modules_status()["modules"]["psutil"]["initialized"] == true);
  s.check_orchestration_works();
}

BOOST_AUTO_TEST_CASE(truncated_module_is_rejected) {
  // An interrupted copy: dlopen would map it and the process would die of
  // SIGBUS on the first page past the end.
  scenario s;
  std::ifstream in{std::string{MODULES_BUILD_DIR} + "/smart_balancer.so",
                   std::ios::binary};
  std::string head(20000, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  std::ofstream{s.modules + "/smart_balancer.so", std::ios::binary} << head;
  s.start();
  auto entry = s.modules_status()["modules"]["enhanced_orchestrator"];
  BOOST_TEST(entry["available"] == false);
  BOOST_TEST(entry["error"].get<std::string>().find("truncated") != std::string::npos);
  s.check_orchestration_works();

  // The same file on reload is rejected, and the server stays up.
  auto reload = s.client->request("POST", "/modules/smart_balancer/reload");
  BOOST_TEST(reload.status == 422u);
  BOOST_TEST(s.client->get("/health").status == 200u);
}

BOOST_AUTO_TEST_CASE(module_under_wrong_name_is_rejected) {
  scenario s;
  std::filesystem::copy_file(std::string{MODULES_BUILD_DIR} + "/resilient_failure_handler.so",
                             s.modules + "/smart_balancer.so");
  s.start();
  auto entry = s.modules_status()["modules"]["enhanced_orchestrator"];
  BOOST_TEST(entry["available"] == false);
  BOOST_TEST(entry["error"].get<std::string>().find("install it under its own name")
             != std::string::npos);
  BOOST_TEST(s.client->request("POST", "/rebalance/basic").status == 200u);
  s.check_orchestration_works();
}

BOOST_AUTO_TEST_CASE(wrong_interface_version_is_rejected) {
  scenario s;
  s.install_fixture("wrong_version_module", "smart_balancer");
  s.start();
  auto entry = s.modules_status()["modules"]["enhanced_orchestrator"];
  BOOST_TEST(entry["available"] == false);
  BOOST_TEST(entry["error"].get<std::string>().find("interface version 99")
             != std::string::npos);
  BOOST_TEST(s.logged("module-unavailable module=smart_balancer"));
  s.check_orchestration_works();
}

BOOST_AUTO_TEST_CASE(failing_initialisation_falls_back) {
  scenario s;
  s.install_fixture("failing_init_module", "smart_balancer");
  s.start();
  auto status = s.modules_status();
  auto entry = status["modules"]["enhanced_orchestrator"];
  BOOST_TEST(entry["available"] == true);
  BOOST_TEST(entry["initialized"] == false);
  BOOST_TEST(entry["error"].get<std::string>().find("'weights' is missing")
             != std::string::npos);
  BOOST_TEST(status["roles"]["balancer"]["variant"] == "basic");
  BOOST_TEST(status["roles"]["balancer"]["state"] == "running");
  BOOST_TEST(s.logged("module-init-failed module=smart_balancer"));
  s.check_orchestration_works();
}

BOOST_AUTO_TEST_CASE(configuration_selects_modules) {
  scenario skip;
  skip.install(all_modules);
  skip.start({"--skip-modules", "smart_balancer, resilient_orchestrator"});
  BOOST_TEST(skip.logged("module-skipped module=smart_balancer"));
  BOOST_TEST(skip.logged("module-skipped module=resilient_failure_handler"));
  auto skipped = skip.modules_status();
  BOOST_TEST(skipped["summary"]["available_modules"] == 1);
  BOOST_TEST(skipped["modules"]["enhanced_orchestrator"]["error"].get<std::string>().find("excluded")
             != std::string::npos);

  scenario only;
  only.install(all_modules);
  only.start({"--modules", "smart_balancer"});
  auto selected = only.modules_status();
  BOOST_TEST(selected["summary"]["available_modules"] == 1);
  BOOST_TEST(selected["modules"]["enhanced_orchestrator"]["initialized"] == true);
  BOOST_TEST(selected["modules"]["psutil"]["available"] == false);
}

BOOST_AUTO_TEST_CASE(deleted_module_file_keeps_running) {
  scenario s;
  s.install(all_modules);
  s.start();
  std::filesystem::remove(s.modules + "/smart_balancer.so");
  auto entry = s.modules_status()["modules"]["enhanced_orchestrator"];
  BOOST_TEST(entry["initialized"] == true);

  // A reload needs the file: it fails clearly and the running code stays.
  auto reload = s.client->request("POST", "/modules/smart_balancer/reload");
  BOOST_TEST(reload.status == 422u);
  BOOST_TEST(reload.json()["detail"].get<std::string>().find("no such file")
             != std::string::npos);
  auto status = s.modules_status();
  BOOST_TEST(status["roles"]["balancer"]["variant"] == "smart_balancer");
  BOOST_TEST(status["modules"]["enhanced_orchestrator"]["initialized"] == true);
  s.check_orchestration_works();
}

BOOST_AUTO_TEST_CASE(bad_upgrade_is_rejected_on_reload) {
  scenario s;
  s.install(all_modules);
  s.start();
  s.install_fixture("wrong_version_module", "smart_balancer");
  auto reload = s.client->request("POST", "/modules/enhanced_orchestrator/reload");
  BOOST_TEST(reload.status == 422u);
  BOOST_TEST(reload.json()["detail"].get<std::string>().find("interface version")
             != std::string::npos);
  BOOST_TEST(s.modules_status()["enhanced_modules"]["smart_balancer"]["version"] == "0.2.0");

  s.install({"smart_balancer"});
  auto fixed = s.client->request("POST", "/modules/smart_balancer/reload");
  BOOST_TEST(fixed.status == 200u);
  BOOST_TEST(fixed.json()["module"]["initialized"] == true);
  BOOST_TEST(s.client->request("POST", "/modules/unknown/reload").status == 404u);
}

BOOST_AUTO_TEST_CASE(reload_under_load_loses_nothing) {
  scenario s;
  s.install(all_modules);
  s.start({"--rebalance-interval", "0.1"});
  auto streams = json::array();
  for (int id = 1; id <= 200; ++id)
    streams.push_back({{"id", id}, {"url", "u" + std::to_string(id)}});
  BOOST_REQUIRE_EQUAL(s.client->post("/streams", streams).status, 201u);
  const std::vector<std::string> workers{"w1", "w2", "w3", "w4", "w5"};
  for (const auto& w : workers)
    BOOST_REQUIRE_EQUAL(s.client->post("/register", {{"server_id", w}, {"ip", "127.0.0.1"},
                                                     {"port", 9000}, {"max_streams", 60}})
                          .status,
                        200u);

  // Workers heartbeat, take and release streams while another thread swaps
  // the modules in and out.
  std::atomic<bool> done{false};
  std::atomic<int> requests{0};
  std::atomic<int> failures{0};
  std::thread load{[&] {
    http_client client{"127.0.0.1", s.server->port()};
    for (int round = 0; !done && round < 2000; ++round) {
      const auto& w = workers[round % workers.size()];
      std::vector<http_reply> replies;
      replies.push_back(client.post("/heartbeat", {{"server_id", w}, {"current_streams", 0}}));
      replies.push_back(client.post("/streams/assign", {{"server_id", w}, {"requested_count", 5}}));
      if (round % 3 == 0)
        replies.push_back(client.post("/streams/release",
                                      {{"server_id", w}, {"stream_ids", {round % 200 + 1}}}));
      for (const auto& reply : replies) {
        ++requests;
        if (reply.status != 200u)
          ++failures;
      }
    }
  }};

  for (int k = 0; k < 5; ++k) {
    for (const auto& name : all_modules) {
      BOOST_TEST(s.client->request("POST", "/modules/" + name + "/reload").status == 200u);
      std::this_thread::sleep_for(50ms);
    }
    BOOST_TEST(s.client->request("POST", "/modules/smart_balancer/disable").status == 200u);
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(s.client->request("POST", "/modules/smart_balancer/reload").status == 200u);
  done = true;
  load.join();
  BOOST_TEST_MESSAGE("requests during swaps: " << requests << ", failed: " << failures);
  BOOST_TEST(requests > 0);
  BOOST_TEST(failures == 0);

  // No stream has two owners, and every worker's own view matches the
  // assignment table.
  auto table = s.client->get("/streams/assignments").json()["assignments"];
  std::map<std::int64_t, std::string> owner_of;
  for (const auto& row : table)
    BOOST_TEST(owner_of.emplace(row["stream_id"].get<std::int64_t>(),
                                row["server_id"].get<std::string>()).second);
  std::size_t owned_total = 0;
  for (const auto& w : workers) {
    auto beat = s.client->post("/heartbeat", {{"server_id", w}, {"current_streams", 0}}).json();
    for (const auto& lease : beat["owned_streams"]) {
      ++owned_total;
      BOOST_TEST(owner_of[lease["stream_id"].get<std::int64_t>()] == w);
    }
  }
  // Streams being handed off are in the table, marked, but in nobody's
  // replies.
  std::size_t revoking = 0;
  for (const auto& row : table)
    revoking += row["status"] == "revoking" ? 1 : 0;
  BOOST_TEST(owned_total + revoking == owner_of.size());
  auto status = s.modules_status();
  BOOST_TEST(status["summary"]["initialized_modules"] == 3);
  BOOST_TEST(status["roles"]["balancer"]["restarts"] == 0);
}

BOOST_AUTO_TEST_SUITE_END()
