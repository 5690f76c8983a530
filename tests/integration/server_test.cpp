#define BOOST_TEST_MODULE server
#include <boost/test/unit_test.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/metrics_history.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/sqlite_exec.hpp"
#include "tests/support/temp_dir.hpp"


#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sys/wait.h>
#include <thread>

using namespace orchestrator::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string write_catalog(const temp_dir& dir, int count) {
  auto streams = json::array();
  for (int id = 1; id <= count; ++id)
    streams.push_back({{"id", id},
                       {"url", "http://radio.test/" + std::to_string(id)},
                       {"name", "Radio " + std::to_string(id)},
                       {"region", id % 2 == 0 ? "north" : "south"}});
  auto path = dir.file("catalog.json");
  std::ofstream{path} << json{{"streams", streams}}.dump();
  return path;
}

json registration(const std::string& id, int capacity) {
  return {{"server_id", id}, {"ip", "127.0.0.1"}, {"port", 9000}, {"max_streams", capacity}};
}

json heartbeat(const std::string& id) {
  return {{"server_id", id}, {"current_streams", 0}};
}

/// Maps stream id to (owner, epoch) from GET /streams/assignments.
std::map<std::int64_t, std::pair<std::string, std::uint64_t>>
assignments(const http_client& client) {
  auto reply = client.get("/streams/assignments");
  BOOST_REQUIRE_EQUAL(reply.status, 200u);
  std::map<std::int64_t, std::pair<std::string, std::uint64_t>> result;
  auto body = reply.json();
  for (const auto& row : body["assignments"])
    result[row["stream_id"].get<std::int64_t>()]
      = {row["server_id"].get<std::string>(), row["epoch"].get<std::uint64_t>()};
  return result;
}

std::set<std::int64_t> owned(const json& reply) {
  std::set<std::int64_t> result;
  for (const auto& lease : reply["owned_streams"])
    result.insert(lease["stream_id"].get<std::int64_t>());
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(server_end_to_end)

// The history of GET /instances/{id}/metrics comes from the store: it
// survives a restart, `hours` and `limit` bound it, samples older than the
// retention are deleted, and a store that fails gives 503.
BOOST_AUTO_TEST_CASE(metrics_history_lives_in_the_store) {
  temp_dir dir;
  std::vector<std::string> args{"--data-dir", dir.file("data"),
                                "--modules-dir", dir.file("modules"),
                                "--heartbeat-timeout", "3600",
                                "--rebalance-interval", "0"};
  auto server = std::make_unique<server_process>(args, dir.file("first.log"));
  http_client client{"127.0.0.1", server->port()};
  BOOST_REQUIRE_EQUAL(client.post("/register", registration("w1", 5)).status, 200u);

  send_and_read_back(client, "w1", 30);

  auto reply = client.get("/instances/w1/metrics");
  BOOST_REQUIRE_EQUAL(reply.status, 200u);
  auto body = reply.json();
  BOOST_TEST(body["server_id"] == "w1");
  BOOST_TEST(body["count"] == 30);
  BOOST_REQUIRE_EQUAL(body["metrics"].size(), 30u);
  auto cpus = cpu_values(body);
  for (std::size_t i = 0; i < cpus.size(); ++i)
    BOOST_TEST(cpus[i] == 29.0 - static_cast<double>(i));
  const auto& full = body["metrics"][0];
  BOOST_TEST(full.size() == 12u);
  BOOST_TEST(full["memory_percent"] == 40.5);
  BOOST_TEST(full["memory_used_gb"] == 3.25);
  BOOST_TEST(full["memory_total_gb"] == 8.0);
  BOOST_TEST(full["disk_percent"] == 55.0);
  BOOST_TEST(full["disk_free_gb"] == 90.125);
  BOOST_TEST(full["disk_total_gb"] == 200.0);
  BOOST_TEST(full["load_average_1m"] == 0.5);
  BOOST_TEST(full["load_average_5m"] == 0.25);
  BOOST_TEST(full["load_average_15m"] == 0.125);
  BOOST_TEST(full["uptime_seconds"] == 1029.0);
  BOOST_TEST(full["recorded_at"].is_string());
  // The 20th sample had neither a load average nor an uptime.
  const auto& partial = body["metrics"][9];
  BOOST_TEST(partial["cpu_percent"] == 20.0);
  BOOST_TEST(partial["load_average_1m"].is_null());
  BOOST_TEST(partial["load_average_5m"].is_null());
  BOOST_TEST(partial["load_average_15m"].is_null());
  BOOST_TEST(partial["uptime_seconds"].is_null());

  auto limited = client.get("/instances/w1/metrics?limit=5").json();
  BOOST_TEST(limited["count"] == 5);
  BOOST_TEST(cpu_values(limited) == (std::vector<double>{29, 28, 27, 26, 25}),
             boost::test_tools::per_element());
  BOOST_TEST(client.get("/instances/w1/metrics?limit=10000").json()["count"] == 30);

  for (const char* bad : {"0", "10001", "-1", "1.5", "abc", "", "1e9"}) {
    BOOST_TEST_CONTEXT("limit=" << bad) {
      auto rejected = client.get(std::string{"/instances/w1/metrics?limit="} + bad);
      BOOST_TEST(rejected.status == 422u);
      auto detail = rejected.json()["detail"];
      BOOST_TEST(detail[0]["loc"] == json::array({"query", "limit"}));
      BOOST_TEST(detail[0]["msg"].is_string());
    }
  }
  auto out_of_range = client.get("/instances/w1/metrics?limit=10001").json();
  BOOST_TEST(out_of_range["detail"][0]["msg"] == "ensure this value is between 1 and 10000");
  auto fraction = client.get("/instances/w1/metrics?limit=1.5").json();
  BOOST_TEST(fraction["detail"][0]["msg"] == "value is not a valid integer");

  // Two more samples that no request reads before the server stops: it
  // writes them on its way out.
  for (int k = 30; k < 32; ++k)
    BOOST_REQUIRE_EQUAL(client.post("/heartbeat", heartbeat_with_metrics("w1", k)).status,
                        200u);
  server->stop(SIGTERM);

  // Older samples, written while the server is down: 3 and 30 hours old,
  // and 4500 older than the default retention of 168 hours.
  auto database = dir.file("data/orchestrator.db");
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  auto hours_ago = [&](int hours) {
    return std::to_string(now_ms - std::int64_t{hours} * 3'600'000);
  };
  auto exec = [&](const std::string& sql) {
    auto error = exec_sql(database, sql.c_str());
    BOOST_REQUIRE_MESSAGE(error.empty(), error);
  };
  exec("INSERT INTO orchestrator_instance_metrics (server_id, cpu_percent, recorded_at) "
       "VALUES ('w1', 103, " + hours_ago(3) + "), ('w1', 130, " + hours_ago(30) + ");"
       "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 4500) "
       "INSERT INTO orchestrator_instance_metrics (server_id, cpu_percent, recorded_at) "
       "SELECT CASE n % 2 WHEN 0 THEN 'w1' ELSE 'gone' END, 200, "
       + hours_ago(200) + " + n FROM k;");

  server = std::make_unique<server_process>(args, dir.file("second.log"));
  http_client restarted{"127.0.0.1", server->port()};
  BOOST_TEST(wait_for_log(*server, "metrics-samples-expired deleted=4500", 10s),
             server->log());

  auto day = restarted.get("/instances/w1/metrics").json();
  BOOST_TEST(day["count"] == 33);
  BOOST_TEST(cpu_values(day).front() == 31.0);
  BOOST_TEST(cpu_values(day).back() == 103.0);
  BOOST_TEST(restarted.get("/instances/w1/metrics?hours=1").json()["count"] == 32);
  auto two_days = restarted.get("/instances/w1/metrics?hours=48").json();
  BOOST_TEST(two_days["count"] == 34);
  BOOST_TEST(cpu_values(two_days).back() == 130.0);
  BOOST_TEST(restarted.get("/instances/w1/metrics?hours=8760").json()["count"] == 34);
  auto bounded = restarted.get("/instances/w1/metrics?hours=48&limit=33").json();
  BOOST_TEST(bounded["count"] == 33);
  BOOST_TEST(cpu_values(bounded).back() == 103.0);

  // Samples the store could not write yet are in the reply all the same.
  exec("CREATE TRIGGER disk_full BEFORE INSERT ON orchestrator_instance_metrics "
       "BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
  for (int k = 40; k < 43; ++k)
    BOOST_REQUIRE_EQUAL(
      restarted.post("/heartbeat", heartbeat_with_metrics("w1", k)).status, 200u);
  auto buffered = restarted.get("/instances/w1/metrics?limit=4").json();
  BOOST_TEST(cpu_values(buffered) == (std::vector<double>{42, 41, 40, 31}),
             boost::test_tools::per_element());
  exec("DROP TRIGGER disk_full;");
  BOOST_TEST(restarted.get("/instances/w1/metrics").json()["count"] == 36);

  // A store that cannot be read gives 503 naming what failed.
  exec("ALTER TABLE orchestrator_instance_metrics RENAME TO metrics_away;");
  auto failed = restarted.get("/instances/w1/metrics");
  BOOST_TEST(failed.status == 503u);
  BOOST_TEST(failed.headers.count("Retry-After") == 1u);
  auto detail = failed.json()["detail"].get<std::string>();
  BOOST_TEST(detail.find("metrics history") != std::string::npos, detail);
  BOOST_TEST(detail.find("no such table") != std::string::npos, detail);
  exec("ALTER TABLE metrics_away RENAME TO orchestrator_instance_metrics;");
  BOOST_TEST(restarted.get("/instances/w1/metrics").json()["count"] == 36);
}


BOOST_AUTO_TEST_CASE(failover_and_restart_keep_every_assignment) {
  temp_dir dir;
  auto catalog = write_catalog(dir, 100);
  constexpr auto timeout = 1500ms;
  constexpr auto check_interval = 250ms;
  std::vector<std::string> args{"--data-dir", dir.file("data"),
                                "--modules-dir", dir.file("modules"),
                                "--catalog", catalog,
                                "--heartbeat-timeout", "1.5",
                                "--heartbeat-check-interval", "0.25",
                                "--rebalance-interval", "0"};
  auto server = std::make_unique<server_process>(args, dir.file("server.log"));
  http_client client{"127.0.0.1", server->port()};

  // Three workers take the whole catalogue between them.
  for (const char* id : {"w1", "w2", "w3"})
    BOOST_REQUIRE_EQUAL(client.post("/register", registration(id, 50)).status, 200u);
  std::map<std::string, std::set<std::int64_t>> taken;
  for (const char* id : {"w1", "w2", "w3"}) {
    auto reply = client.post("/streams/assign",
                             {{"server_id", id}, {"requested_count", 34}});
    BOOST_REQUIRE_EQUAL(reply.status, 200u);
    auto body = reply.json();
    BOOST_TEST(body["status"] == "assigned");
    for (const auto& id_value : body["assigned_streams"])
      taken[id].insert(id_value.get<std::int64_t>());
  }
  BOOST_TEST(taken["w1"].size() == 34u);
  BOOST_TEST(taken["w2"].size() == 34u);
  BOOST_TEST(taken["w3"].size() == 32u);
  BOOST_TEST(assignments(client).size() == 100u);

  // w3 falls silent; w1 and w2 keep sending heartbeats.
  auto w3_last = std::chrono::steady_clock::now();
  BOOST_REQUIRE_EQUAL(client.post("/heartbeat", heartbeat("w3")).status, 200u);
  w3_last = std::chrono::steady_clock::now();
  bool moved = false;
  std::chrono::milliseconds waited{0};
  while (std::chrono::steady_clock::now() - w3_last < 10s) {
    for (const char* id : {"w1", "w2"})
      BOOST_REQUIRE_EQUAL(client.post("/heartbeat", heartbeat(id)).status, 200u);
    auto w3 = client.get("/instances/w3").json();
    if (w3["data"]["status"] == "dead") {
      waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - w3_last);
      moved = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  BOOST_REQUIRE_MESSAGE(moved, "w3 was never declared dead");
  BOOST_TEST_MESSAGE("w3 declared dead after " << waited.count() << " ms");
  // Timeout plus one check interval, plus 500 ms for this loop's own
  // polling and for scheduling on a busy machine.
  BOOST_TEST(waited.count() <= (timeout + check_interval + 500ms).count());
  BOOST_TEST(server->log().find("worker-declared-dead worker=w3 streams=32")
             != std::string::npos);

  auto after_failover = assignments(client);
  BOOST_TEST(after_failover.size() == 100u);
  for (const auto& [stream, owner] : after_failover)
    BOOST_TEST(owner.first != "w3", "stream " << stream << " still on w3");

  // Each survivor learns its full set from its next reply; together the
  // sets cover the catalogue without overlap.
  auto w1 = client.post("/heartbeat", heartbeat("w1")).json();
  auto w2 = client.post("/heartbeat", heartbeat("w2")).json();
  auto w1_set = owned(w1);
  auto w2_set = owned(w2);
  BOOST_TEST(w1_set.size() + w2_set.size() == 100u);
  for (auto id : w1_set)
    BOOST_TEST(w2_set.count(id) == 0u);
  for (auto id : taken["w3"])
    BOOST_TEST((w1_set.count(id) + w2_set.count(id)) == 1u);

  // w3 comes back: its heartbeat is rejected until it registers again, and
  // then it starts empty.
  BOOST_TEST(client.post("/heartbeat", heartbeat("w3")).status == 404u);
  auto back = client.post("/register", registration("w3", 50)).json();
  BOOST_TEST(back["reregistration"] == true);
  BOOST_TEST(back["owned_streams"].empty());

  // kill -9, then restart on the same data folder.
  auto before_kill = assignments(client);
  server->stop(SIGKILL);
  server = std::make_unique<server_process>(args, dir.file("server.log"));
  http_client restarted{"127.0.0.1", server->port()};
  auto after_restart = assignments(restarted);
  BOOST_TEST((after_restart == before_kill));

  // Workers get a fresh grace period instead of being declared dead for the
  // downtime.
  auto instances = restarted.get("/instances").json();
  for (const auto& instance : instances["instances"])
    BOOST_TEST(instance["status"] == "active");
  BOOST_TEST(restarted.post("/heartbeat", heartbeat("w1")).status == 200u);
  BOOST_TEST(server->log().find("state-loaded workers=3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_documented_errors) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data"), "--modules-dir", dir.file("modules"), "--max-body-bytes", "2048"},
                        dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};

  auto invalid_json = client.request("POST", "/register", "{not json");
  BOOST_TEST(invalid_json.status == 422u);
  BOOST_TEST(invalid_json.json()["detail"][0]["loc"] == json::array({"body"}));

  auto missing = client.post("/register", {{"server_id", "w1"}, {"port", 80}});
  BOOST_TEST(missing.status == 422u);
  BOOST_TEST(missing.json()["detail"][0]["loc"] == json::array({"body", "ip"}));

  auto mistyped = client.post("/register",
                              {{"server_id", "w1"}, {"ip", "h"}, {"port", "80"}});
  BOOST_TEST(mistyped.status == 422u);
  BOOST_TEST(mistyped.json()["detail"][0]["loc"] == json::array({"body", "port"}));
  BOOST_TEST(mistyped.json()["detail"][0]["type"] == "type_error.integer");

  BOOST_TEST(client.post("/heartbeat", heartbeat("ghost")).status == 404u);
  BOOST_TEST(client.post("/streams/assign", {{"server_id", "ghost"}}).status == 404u);
  BOOST_TEST(client.get("/instances/ghost").status == 404u);
  BOOST_TEST(client.get("/instances/ghost/metrics").status == 404u);
  BOOST_TEST(client.request("DELETE", "/streams/42").status == 404u);
  BOOST_TEST(client.get("/no/such/path").status == 404u);

  auto wrong_method = client.get("/register");
  BOOST_TEST(wrong_method.status == 405u);
  BOOST_TEST(wrong_method.headers["Allow"] == "POST");

  auto oversized = client.request("POST", "/register", std::string(4096, ' '));
  BOOST_TEST(oversized.status == 413u);

  auto garbage = client.raw("NOT-HTTP\r\n\r\n");
  BOOST_TEST(garbage.find("400 Bad Request") != std::string::npos);

  // Deep nesting would exhaust the stack while the document is copied.
  auto deep = client.request("POST", "/streams",
                             R"({"id":1,"url":"u","x":)" + std::string(900, '[')
                               + std::string(900, ']') + "}");
  BOOST_TEST(deep.status == 422u);

  auto bad_hours = client.get("/instances/w1/metrics?hours=soon");
  BOOST_TEST(bad_hours.status == 422u);

  // A stale epoch is rejected whole.
  BOOST_REQUIRE_EQUAL(client.post("/streams", json::array({{{"id", 1}, {"url", "u"}}})).status, 201u);
  BOOST_REQUIRE_EQUAL(client.post("/register", registration("w1", 5)).status, 200u);
  // The worker takes stream 1, releases it and takes it again: a retry of
  // the first release must not end the second assignment.
  auto first = client.post("/streams/assign", {{"server_id", "w1"}}).json();
  auto old_epoch = first["owned_streams"][0]["epoch"].get<std::uint64_t>();
  BOOST_REQUIRE_EQUAL(client.post("/streams/release",
                                  {{"server_id", "w1"}, {"stream_ids", {1}}})
                        .status,
                      200u);
  auto second = client.post("/streams/assign", {{"server_id", "w1"}}).json();
  BOOST_TEST(second["owned_streams"][0]["epoch"].get<std::uint64_t>() > old_epoch);
  auto stale = client.post("/streams/release",
                           {{"server_id", "w1"},
                            {"stream_ids", {1}},
                            {"epochs", {{"1", old_epoch}}}});
  BOOST_TEST(stale.status == 409u);
  BOOST_TEST(owned(client.post("/heartbeat", heartbeat("w1")).json()).size() == 1u);

  // After all of that the server is healthy.
  auto health = client.get("/health");
  BOOST_TEST(health.status == 200u);
  BOOST_TEST(health.json()["status"] == "healthy");
}

BOOST_AUTO_TEST_CASE(catalog_and_worker_lifecycle) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data"), "--modules-dir", dir.file("modules")}, dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};

  auto created = client.post("/streams", {{"streams",
                                           {{{"id", 1}, {"url", "u1"}},
                                            {{"id", 2}, {"url", "u2"}},
                                            {{"id", 3}, {"url", "u3"}}}}});
  BOOST_TEST(created.status == 201u);
  BOOST_TEST(created.json()["created"] == 3);

  BOOST_REQUIRE_EQUAL(client.post("/register", registration("a", 2)).status, 200u);
  BOOST_REQUIRE_EQUAL(client.post("/register", registration("b", 2)).status, 200u);
  auto a = client.post("/streams/assign", {{"server_id", "a"}, {"requested_count", 2}}).json();
  BOOST_REQUIRE_EQUAL(a["assigned_streams"].size(), 2u);
  auto first = a["assigned_streams"][0].get<std::int64_t>();

  auto deleted = client.request("DELETE", "/streams/" + std::to_string(first));
  BOOST_TEST(deleted.status == 200u);
  BOOST_TEST(deleted.json()["previous_owner"] == "a");
  BOOST_TEST(owned(client.post("/heartbeat", heartbeat("a")).json()).size() == 1u);

  auto listing = client.get("/streams?limit=10").json();
  BOOST_TEST(listing["total"] == 2);

  // Deregistering a hands its remaining stream to b.
  auto gone = client.request("DELETE", "/instances/a");
  BOOST_TEST(gone.status == 200u);
  BOOST_TEST(gone.json()["streams_reassigned"] == 1);
  BOOST_TEST(owned(client.post("/heartbeat", heartbeat("b")).json()).size() == 1u);

  auto status = client.get("/status").json();
  BOOST_TEST(status["instances"]["total"] == 1);
  BOOST_TEST(status["streams"]["assigned"] == 1);

  auto modules = client.get("/modules/status").json();
  BOOST_TEST(modules["summary"]["total_modules"] == 3);
  BOOST_TEST(modules["summary"]["available_modules"] == 0);
  BOOST_TEST(modules["functionality"]["basic_orchestration"] == true);
  BOOST_TEST(modules["modules"]["psutil"]["available"] == false);

  auto failure = client.post("/instances/b/failure", json::object());
  BOOST_TEST(failure.status == 200u);
  BOOST_TEST(failure.json()["method"] == "basic");
  BOOST_TEST(client.get("/instances/b").json()["data"]["status"] == "dead");

  BOOST_TEST(client.post("/rebalance/basic", json::object()).json()["status"] == "completed");
  BOOST_TEST(client.request("POST", "/rebalance/smart?reason=bogus").status == 422u);
  BOOST_TEST(client.get("/ready").status == 200u);
}

BOOST_AUTO_TEST_CASE(store_failure_returns_503_and_recovers) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data"), "--modules-dir", dir.file("modules")}, dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};
  BOOST_REQUIRE_EQUAL(client.post("/streams", {{"id", 1}, {"url", "u1"}}).status, 201u);
  BOOST_REQUIRE_EQUAL(client.post("/register", registration("w1", 5)).status, 200u);

  // A trigger makes every new assignment fail inside the real database, as
  // a full disk would.
  auto exec = [&](const char* sql) {
    auto error = exec_sql(dir.file("data/orchestrator.db"), sql);
    BOOST_REQUIRE_MESSAGE(error.empty(), error);
  };
  exec("CREATE TRIGGER disk_full BEFORE INSERT ON orchestrator_stream_assignments "
       "BEGIN SELECT RAISE(ABORT, 'disk full'); END;");

  auto failed = client.post("/streams/assign", {{"server_id", "w1"}});
  BOOST_TEST(failed.status == 503u);
  BOOST_TEST(failed.headers.count("Retry-After") == 1u);
  BOOST_TEST(failed.json()["detail"].get<std::string>().find("disk full") != std::string::npos);
  BOOST_TEST(client.get("/health").status == 503u);
  BOOST_TEST(client.get("/ready").status == 503u);
  // Nothing of the failed request was applied.
  BOOST_TEST(client.get("/instances/w1").json()["data"]["current_streams"] == 0);

  exec("DROP TRIGGER disk_full;");
  auto retried = client.post("/streams/assign", {{"server_id", "w1"}});
  BOOST_TEST(retried.status == 200u);
  BOOST_TEST(retried.json()["assigned_streams"] == json::array({1}));
  BOOST_TEST(client.get("/ready").status == 200u);
}

BOOST_AUTO_TEST_CASE(catalog_import_commits_in_chunks) {
  temp_dir dir;
  // 25,000 streams are three chunks of at most 10,000.
  auto catalog = write_catalog(dir, 25'000);

  // Past --max-streams, the third chunk fails: start-up stops, and the two
  // chunks before it stay committed.
  auto [code, output] = run_to_exit("--listen 127.0.0.1:0 --data-dir " + dir.file("data")
                                    + " --catalog " + catalog + " --max-streams 22000");
  BOOST_TEST(code == 1);
  BOOST_TEST(output.find("catalog-import-failed") != std::string::npos);
  BOOST_TEST(output.find("imported=20000 of=25000") != std::string::npos);

  // The next start imports the whole file again; unchanged rows count as
  // neither created nor updated.
  server_process server{{"--data-dir", dir.file("data"), "--catalog", catalog},
                        dir.file("server.log")};
  BOOST_TEST(server.log().find("streams=25000 created=5000 updated=0")
             != std::string::npos);
  http_client client{"127.0.0.1", server.port()};
  BOOST_TEST(client.get("/streams?limit=1").json()["total"] == 25'000);
  server.stop(SIGTERM);

  // A lower limit later serves what is stored and logs a warning.
  server_process limited{{"--data-dir", dir.file("data"), "--max-streams", "10000"},
                         dir.file("limited.log")};
  BOOST_TEST(limited.log().find("limit-exceeded-at-load limit=max_streams "
                                "stored=25000 max=10000")
             != std::string::npos);
  http_client limited_client{"127.0.0.1", limited.port()};
  BOOST_TEST(limited_client.get("/streams?limit=1").json()["total"] == 25'000);
}

BOOST_AUTO_TEST_CASE(a_second_server_on_the_same_sqlite_file_refuses_to_start) {
  temp_dir dir;
  server_process first{{"--data-dir", dir.file("data")}, dir.file("first.log")};
  auto [code, output] = run_to_exit("--listen 127.0.0.1:0 --data-dir " + dir.file("data"));
  BOOST_TEST(code == 1);
  BOOST_TEST(output.find("another orchestrator (pid") != std::string::npos);
  // The first one is unharmed.
  http_client client{"127.0.0.1", first.port()};
  BOOST_TEST(client.get("/ready").status == 200u);
}

BOOST_AUTO_TEST_CASE(sigterm_stops_cleanly) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data"), "--modules-dir", dir.file("modules")}, dir.file("server.log")};
  auto status = server.stop(SIGTERM);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST(server.log().find("orchestrator-stopping signal=SIGTERM") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_configuration_stops_start_up) {
  auto [code, output] = run_to_exit("--heartbeat-timeout -1");
  BOOST_TEST(code == 2);
  BOOST_TEST(output.find("--heartbeat-timeout") != std::string::npos);

  auto [bad_dir, dir_output] = run_to_exit("--data-dir /proc/forbidden/data");
  BOOST_TEST(bad_dir == 1);
  BOOST_TEST(dir_output.find("data-dir") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
