#define BOOST_TEST_MODULE server
#include <boost/test/unit_test.hpp>

#include "tests/support/http_client.hpp"
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
