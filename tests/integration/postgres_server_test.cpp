// The server on PostgreSQL: a Python deployment's database taken over, the
// /api endpoints on both stores, a standby taking over from a killed leader
// under load, and a database that goes away and comes back.

#define BOOST_TEST_MODULE postgres_server
#include <boost/test/unit_test.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/metrics_history.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/python_schema.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sys/wait.h>
#include <thread>

using namespace orchestrator::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

pg_cluster& cluster() {
  static pg_cluster instance;
  return instance;
}

/// Polls GET /ready until it returns 200 or `limit` passes.
bool wait_ready(const http_client& client, std::chrono::milliseconds limit = 15s) {
  auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    try {
      if (client.get("/ready").status == 200)
        return true;
    } catch (const std::exception&) {
      // Not listening yet.
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::set<std::int64_t> ids_of(const json& list) {
  std::set<std::int64_t> result;
  for (const auto& id : list)
    result.insert(id.get<std::int64_t>());
  return result;
}

std::set<std::int64_t> owned(const json& reply) {
  std::set<std::int64_t> result;
  for (const auto& lease : reply["owned_streams"])
    result.insert(lease["stream_id"].get<std::int64_t>());
  return result;
}

/// Creates the catalogue table with the Python deployment's columns and
/// `count` streams.
void python_catalog(const std::string& db, int count) {
  cluster().exec("CREATE TABLE streams (id SERIAL PRIMARY KEY, url TEXT NOT NULL, "
                 "name TEXT, sheet TEXT, cidade TEXT, estado TEXT, regiao TEXT, "
                 "segmento TEXT, index INTEGER);"
                 "INSERT INTO streams (url, name, sheet, cidade, estado, regiao, "
                 "segmento, index) SELECT 'http://radio.test/' || i, 'Radio ' || i, "
                 "'sheet1', 'Recife', 'PE', 'Nordeste', 'news', i FROM "
                 "generate_series(1, " + std::to_string(count) + ") AS i;",
                 db);
}

std::vector<std::string> pg_args(const std::string& url, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--store", url, "--takeover-delay", "0.5",
                                "--standby-poll", "0.1", "--rebalance-interval", "0",
                                "--log-level", "debug"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

} // namespace

BOOST_AUTO_TEST_SUITE(postgres_server)

// A Python deployment: its tables, a catalogue in the same columns, workers
// and assignments. Our server starts on it; the workers carry on.
BOOST_AUTO_TEST_CASE(a_python_deployment_carries_on) {
  const std::string db = "python_deployment";
  auto url = cluster().create_database(db);
  python_catalog(db, 30);
  cluster().exec(python_worker_tables_sql, db);
  cluster().exec(python_history_tables_sql, db);
  cluster().exec(R"sql(
INSERT INTO orchestrator_instances (server_id, ip, port, max_streams, current_streams)
  VALUES ('legacy-a', '10.0.0.1', 8001, 10, 7), ('legacy-b', '10.0.0.2', 8002, 10, 0);
INSERT INTO orchestrator_stream_assignments (stream_id, server_id)
  SELECT i, 'legacy-a' FROM generate_series(1, 5) AS i;
INSERT INTO orchestrator_stream_assignments (stream_id, server_id)
  SELECT i, 'legacy-b' FROM generate_series(6, 8) AS i;
INSERT INTO orchestrator_rebalance_history (rebalance_type, streams_moved, instances_affected, reason)
  VALUES ('basic', 4, 2, 'manual');
)sql",
                 db);

  temp_dir dir;
  server_process server{pg_args(url), dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(client), server.log());

  // Existing assignments are kept: each worker's heartbeat lists its own.
  auto a = client.post("/heartbeat", {{"server_id", "legacy-a"}, {"current_streams", 5}});
  BOOST_REQUIRE_EQUAL(a.status, 200u);
  BOOST_TEST(owned(a.json()) == (std::set<std::int64_t>{1, 2, 3, 4, 5}),
             boost::test_tools::per_element());
  auto b = client.post("/api/heartbeat", {{"worker_instance_id", "legacy-b"}});
  BOOST_REQUIRE_EQUAL(b.status, 200u);
  BOOST_TEST(ids_of(b.json()["assigned_streams"]) == (std::set<std::int64_t>{6, 7, 8}),
             boost::test_tools::per_element());
  BOOST_TEST(b.json()["registered"] == false);

  // A new worker receives streams, with the catalogue's details.
  auto joined = client.post("/api/workers/register",
                            {{"instance_id", "new-1"}, {"capacity", 4},
                             {"worker_type", "recorder"}});
  BOOST_REQUIRE_EQUAL(joined.status, 200u);
  auto given = client.get("/api/streams/assign?worker_id=new-1&capacity=4");
  BOOST_REQUIRE_EQUAL(given.status, 200u);
  auto body = given.json();
  BOOST_TEST(body["status"] == "assigned");
  BOOST_REQUIRE_EQUAL(body["streams"].size(), 4u);
  for (const auto& stream : body["streams"]) {
    auto id = stream["id"].get<std::int64_t>();
    BOOST_TEST(id > 8);
    BOOST_TEST(stream["stream_id"] == std::to_string(id));
    BOOST_TEST(stream["url"] == "http://radio.test/" + std::to_string(id));
    BOOST_TEST(stream["metadata"]["cidade"] == "Recife");
    BOOST_TEST(stream["metadata"]["index"] == id);
  }

  // The database matches, with counts derived from the rows: legacy-a's row
  // claimed 7.
  BOOST_TEST(cluster().query_value("SELECT current_streams FROM orchestrator_instances "
                                   "WHERE server_id = 'legacy-a'",
                                   db)
             == "5");
  BOOST_TEST(cluster().query_value("SELECT count(*) FROM orchestrator_stream_assignments "
                                   "WHERE server_id = 'new-1'",
                                   db)
             == "4");
  BOOST_TEST(cluster().query_value("SELECT worker_type FROM orchestrator_instances "
                                   "WHERE server_id = 'new-1'",
                                   db)
             == "recorder");
  // The Python server's rebalance record is part of the history.
  auto stats = client.get("/rebalance/stats").json();
  BOOST_TEST(stats["statistics"]["total_rebalances"] == 1);

  // Heartbeat metrics reach the Python server's metrics table within the
  // store's one-second flush. Its uptime column is INTEGER, so an uptime
  // past 2^31 - 1 s is written capped instead of failing every write.
  client.post("/heartbeat", {{"server_id", "legacy-a"},
                             {"current_streams", 5},
                             {"system_metrics",
                              {{"cpu_percent", 10}, {"memory_percent", 20},
                               {"memory_used_gb", 1}, {"memory_total_gb", 8},
                               {"disk_percent", 30}, {"disk_free_gb", 70},
                               {"disk_total_gb", 100}, {"uptime_seconds", 1e10}}}});
  client.post("/heartbeat", {{"server_id", "legacy-a"},
                             {"current_streams", 5},
                             {"system_metrics",
                              {{"cpu_percent", 11}, {"memory_percent", 20},
                               {"memory_used_gb", 1}, {"memory_total_gb", 8},
                               {"disk_percent", 30}, {"disk_free_gb", 70},
                               {"disk_total_gb", 100}}}});
  std::string samples;
  for (int k = 0; k < 40 && samples != "2"; ++k) {
    std::this_thread::sleep_for(100ms);
    samples = cluster().query_value("SELECT count(*) FROM orchestrator_instance_metrics "
                                    "WHERE server_id = 'legacy-a'",
                                    db);
  }
  BOOST_TEST(samples == "2");
  BOOST_TEST(cluster().query_value("SELECT max(uptime_seconds) FROM "
                                   "orchestrator_instance_metrics WHERE server_id = "
                                   "'legacy-a'",
                                   db)
             == "2147483647");
}

BOOST_AUTO_TEST_CASE(api_endpoints_work_and_reject_bad_input_on_both_stores) {
  auto url = cluster().create_database("api_endpoints");
  python_catalog("api_endpoints", 10);
  temp_dir dir;
  for (const std::string store : {"sqlite", "postgresql"}) {
    BOOST_TEST_CONTEXT("store " << store) {
      std::vector<std::string> args
        = store == "sqlite"
            ? std::vector<std::string>{"--data-dir", dir.file("data"), "--catalog",
                                       dir.file("catalog.json")}
            : pg_args(url);
      if (store == "sqlite") {
        auto streams = json::array();
        for (int id = 1; id <= 10; ++id)
          streams.push_back({{"id", id},
                             {"url", "http://radio.test/" + std::to_string(id)},
                             {"name", "Radio " + std::to_string(id)},
                             {"cidade", "Recife"}});
        std::FILE* f = std::fopen(dir.file("catalog.json").c_str(), "w");
        auto text = json{{"streams", streams}}.dump();
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
      }
      args.insert(args.end(), {"--max-worker-capacity", "6"});
      auto server = std::make_unique<server_process>(args, dir.file(store + ".log"));
      http_client client{"127.0.0.1", server->port()};
      BOOST_REQUIRE_MESSAGE(wait_ready(client), server->log());

      // Register with a capacity above the maximum: the reply reports the cap.
      auto reg = client.post("/api/workers/register",
                             {{"instance_id", "w1"}, {"worker_type", "recorder"},
                              {"capacity", 50}, {"status", "active"},
                              {"metadata", {{"version", "2.1"}, {"ip", "10.0.0.9"},
                                            {"port", 7000}, {"capabilities", {"mp3"}},
                                            {"region", "ne"}}}});
      BOOST_REQUIRE_EQUAL(reg.status, 200u);
      auto r = reg.json();
      BOOST_TEST(r["success"] == true);
      BOOST_TEST(r["worker_id"] == "w1");
      BOOST_TEST(r["capacity"] == 6);
      BOOST_TEST(r["capacity_capped"] == true);
      BOOST_TEST(r["requested_capacity"] == 50);
      BOOST_TEST(r["message"].get<std::string>().find("capped") != std::string::npos);

      // An unknown worker's heartbeat registers it.
      auto beat = client.post("/api/heartbeat",
                              {{"worker_instance_id", "w2"}, {"status", "active"},
                               {"current_load", 99}, {"available_capacity", 3},
                               {"capacity", 3}, {"worker_type", "probe"},
                               {"metrics", {{"system", {{"cpu_percent", 5}, {"memory_percent", 7}}},
                                            {"worker", {{"uptime_seconds", 5},
                                                        {"assigned_streams", 99},
                                                        {"max_streams", 3}}}}},
                               {"timestamp", "2026-12-05T00:00:00Z"}});
      BOOST_REQUIRE_EQUAL(beat.status, 200u);
      BOOST_TEST(beat.json()["registered"] == true);
      BOOST_TEST(beat.json()["success"] == true);
      auto again = client.post("/api/heartbeat", {{"worker_instance_id", "w2"}});
      BOOST_TEST(again.json()["registered"] == false);

      // Assign: details from the catalogue; capacity above the maximum capped.
      auto given = client.get("/api/streams/assign?worker_id=w1&capacity=9&worker_type=recorder");
      BOOST_REQUIRE_EQUAL(given.status, 200u);
      auto g = given.json();
      BOOST_TEST(g["status"] == "assigned");
      BOOST_TEST(g["worker_id"] == "w1");
      BOOST_TEST(g["total"] == 6);
      BOOST_TEST(g["capacity_capped"] == true);
      BOOST_REQUIRE_EQUAL(g["streams"].size(), 6u);
      BOOST_TEST(g["streams"][0]["metadata"]["cidade"] == "Recife");
      BOOST_TEST(g["streams"][0]["stream_url"] == g["streams"][0]["url"]);
      auto mine = ids_of(g["assigned_streams"]);
      auto full = client.get("/api/streams/assign?worker_id=w1").json();
      BOOST_TEST(full["status"] == "no_streams");
      BOOST_TEST(full["assigned_streams"].empty());

      // Listing.
      auto workers = client.get("/api/workers").json();
      BOOST_TEST(workers["total"] == 2);
      for (const auto& w : workers["workers"]) {
        if (w["instance_id"] == "w1") {
          BOOST_TEST(w["worker_type"] == "recorder");
          BOOST_TEST(w["capacity"] == 6);
          BOOST_TEST(w["current_load"] == 6);
          BOOST_TEST(w["available_capacity"] == 0);
        } else {
          // The worker's own counts are never trusted.
          BOOST_TEST(w["current_load"] == 0);
          BOOST_TEST(w["worker_type"] == "probe");
        }
      }

      // Updates: progress changes nothing; completed, failed and cancelled
      // end the ownership; a stream the worker does not own is left alone.
      auto first = *mine.begin();
      auto id_text = std::to_string(first);
      auto progress = client.post("/api/streams/update",
                                  {{"stream_id", id_text}, {"worker_instance_id", "w1"},
                                   {"status", "processing"}, {"result", {{"bytes", 10}}}});
      BOOST_REQUIRE_EQUAL(progress.status, 200u);
      BOOST_TEST(progress.json()["ended"] == false);
      auto done = client.post("/api/streams/update",
                              {{"stream_id", id_text}, {"worker_instance_id", "w1"},
                               {"status", "completed"}});
      BOOST_REQUIRE_EQUAL(done.status, 200u);
      BOOST_TEST(done.json()["ended"] == true);
      auto second = *std::next(mine.begin());
      auto failed = client.post("/api/streams/update",
                                {{"stream_id", second}, {"worker_instance_id", "w1"},
                                 {"status", "failed"}});
      BOOST_TEST(failed.json()["ended"] == true);
      auto not_mine = client.post("/api/streams/update",
                                  {{"stream_id", second}, {"worker_instance_id", "w2"},
                                   {"status", "cancelled"}});
      BOOST_REQUIRE_EQUAL(not_mine.status, 200u);
      BOOST_TEST(not_mine.json()["ended"] == false);
      auto after = client.post("/api/heartbeat", {{"worker_instance_id", "w1"}}).json();
      BOOST_TEST(ids_of(after["assigned_streams"]).size() == 4u);

      auto metrics = client.get("/api/metrics").json();
      BOOST_TEST(metrics["orchestrator"]["status"] == "active");
      BOOST_TEST(metrics["workers"]["total"] == 2);
      BOOST_TEST(metrics["workers"]["total_capacity"] == 9);
      BOOST_TEST(metrics["streams"]["total_assignments"] == 4);
      BOOST_TEST(metrics["streams"]["completed"] == 1);
      BOOST_TEST(metrics["streams"]["failed"] == 1);
      BOOST_TEST(metrics["streams"]["success_rate"] == 50.0);

      // Unknown workers get 404 with the way to register.
      auto nobody = client.get("/api/streams/assign?worker_id=nobody");
      BOOST_TEST(nobody.status == 404u);
      BOOST_TEST(nobody.body.find("/api/workers/register") != std::string::npos);
      auto nobody_update = client.post("/api/streams/update",
                                       {{"stream_id", 1}, {"worker_instance_id", "nobody"},
                                        {"status", "processing"}});
      BOOST_TEST(nobody_update.status == 404u);

      // Bad input: 422 naming each field.
      struct bad_case {
        std::string method;
        std::string target;
        std::string body;
        std::string field;
      };
      const bad_case bad[] = {
        {"POST", "/api/workers/register", "{}", "instance_id"},
        {"POST", "/api/workers/register", R"({"instance_id":"a b"})", "instance_id"},
        {"POST", "/api/workers/register", R"({"instance_id":"x","capacity":"many"})", "capacity"},
        {"POST", "/api/workers/register", R"({"instance_id":"x","capacity":-1})", "capacity"},
        {"POST", "/api/workers/register", R"({"instance_id":"x","port":70000})", "port"},
        {"POST", "/api/workers/register",
         R"({"instance_id":"x","metadata":{"capabilities":"mp3"}})", "capabilities"},
        {"POST", "/api/workers/register", R"({"instance_id":"x","metadata":[]})", "metadata"},
        {"POST", "/api/heartbeat", R"({"status":"active"})", "worker_instance_id"},
        {"POST", "/api/heartbeat", R"({"worker_instance_id":"w2","current_load":"x"})",
         "current_load"},
        {"POST", "/api/heartbeat",
         R"({"worker_instance_id":"w2","metrics":{"system":{"cpu_percent":300}}})",
         "cpu_percent"},
        {"POST", "/api/heartbeat", R"({"worker_instance_id":"w2","timestamp":[1]})",
         "timestamp"},
        {"POST", "/api/streams/update", R"({"worker_instance_id":"w1","status":"completed"})",
         "stream_id"},
        {"POST", "/api/streams/update",
         R"({"stream_id":"12x","worker_instance_id":"w1","status":"completed"})", "stream_id"},
        {"POST", "/api/streams/update", R"({"stream_id":1,"worker_instance_id":"w1"})",
         "status"},
        {"POST", "/api/streams/update",
         R"({"stream_id":1,"worker_instance_id":"w1","status":"exploded"})", "status"},
        {"POST", "/api/streams/update",
         R"({"stream_id":1,"worker_instance_id":"w1","status":"failed","result":5})", "result"},
        {"GET", "/api/streams/assign", "", "worker_id"},
        {"GET", "/api/streams/assign?worker_id=w1&capacity=0", "", "capacity"},
        {"GET", "/api/streams/assign?worker_id=w1&capacity=two", "", "capacity"},
      };
      for (const auto& c : bad) {
        BOOST_TEST_CONTEXT(c.method << " " << c.target << " " << c.body) {
          auto reply = client.request(c.method, c.target, c.body);
          BOOST_TEST(reply.status == 422u);
          BOOST_TEST(reply.body.find("\"" + c.field + "\"") != std::string::npos);
        }
      }
      auto not_json = client.request("POST", "/api/heartbeat", "{nope");
      BOOST_TEST(not_json.status == 422u);

      // Everything acknowledged survives a crash of the server.
      auto before = client.post("/api/heartbeat", {{"worker_instance_id", "w1"}}).json();
      server->stop(SIGKILL);
      server = std::make_unique<server_process>(args, dir.file(store + ".log"));
      http_client restarted{"127.0.0.1", server->port()};
      BOOST_REQUIRE_MESSAGE(wait_ready(restarted), server->log());
      auto back = restarted.post("/api/heartbeat", {{"worker_instance_id", "w1"}}).json();
      BOOST_TEST(back["registered"] == false);
      BOOST_TEST(ids_of(back["assigned_streams"]) == ids_of(before["assigned_streams"]),
                 boost::test_tools::per_element());
      auto listed = restarted.get("/api/workers").json();
      BOOST_TEST(listed["total"] == 2);
    }
  }
}

// The Python /api server never freed a dead worker's streams; here they go
// to the live workers.
BOOST_AUTO_TEST_CASE(a_dead_api_workers_streams_go_to_live_workers) {
  auto url = cluster().create_database("api_death");
  python_catalog("api_death", 6);
  temp_dir dir;
  server_process server{pg_args(url, {"--heartbeat-timeout", "1",
                                      "--heartbeat-check-interval", "0.1",
                                      "--modules", ""}),
                        dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(client), server.log());
  client.post("/api/workers/register", {{"instance_id", "doomed"}, {"capacity", 6}});
  auto taken = client.get("/api/streams/assign?worker_id=doomed&capacity=6").json();
  BOOST_REQUIRE_EQUAL(taken["assigned_streams"].size(), 6u);
  client.post("/api/workers/register", {{"instance_id", "alive"}, {"capacity", 6}});

  // Only "alive" keeps sending heartbeats.
  std::set<std::int64_t> inherited;
  for (int k = 0; k < 50 && inherited.size() < 6; ++k) {
    std::this_thread::sleep_for(100ms);
    auto beat = client.post("/api/heartbeat", {{"worker_instance_id", "alive"}});
    inherited = ids_of(beat.json()["assigned_streams"]);
  }
  BOOST_TEST(inherited == ids_of(taken["assigned_streams"]), boost::test_tools::per_element());
  BOOST_TEST(cluster().query_value("SELECT count(*) FROM orchestrator_stream_assignments "
                                   "WHERE server_id = 'doomed'",
                                   "api_death")
             == "0");
}

// Two servers on one database: one leads, and the other replies 503 with the
// leader's address. Workers keep requesting streams while the leader is
// killed with SIGKILL. The standby takes over with every acknowledged
// assignment, and no stream has two owners.
BOOST_AUTO_TEST_CASE(a_standby_takes_over_when_the_leader_dies_under_load) {
  const std::string db = "takeover";
  auto url = cluster().create_database(db);
  python_catalog(db, 200);
  temp_dir dir;
  auto leader = std::make_unique<server_process>(
    pg_args(url, {"--heartbeat-timeout", "60"}), dir.file("leader.log"));
  http_client leader_client{"127.0.0.1", leader->port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(leader_client), leader->log());
  server_process standby{pg_args(url, {"--heartbeat-timeout", "60"}),
                         dir.file("standby.log")};
  http_client standby_client{"127.0.0.1", standby.port()};

  // The standby names the leader and serves no worker.
  auto leader_url = "http://127.0.0.1:" + std::to_string(leader->port());
  std::this_thread::sleep_for(300ms);
  auto ready = standby_client.get("/ready");
  BOOST_TEST(ready.status == 503u);
  BOOST_TEST(ready.json()["role"] == "standby");
  BOOST_TEST(ready.json()["leader"] == leader_url);
  auto refused = standby_client.post("/register", {{"server_id", "x"}, {"ip", "127.0.0.1"},
                                                   {"port", 1}});
  BOOST_TEST(refused.status == 503u);
  BOOST_TEST(refused.headers["X-Orchestrator-Leader"] == leader_url);
  BOOST_TEST(refused.headers["Retry-After"] == "1");
  BOOST_TEST(standby_client.get("/health").json()["role"] == "standby");
  BOOST_TEST(standby_client.get("/metrics").body.find(
               "orchestrator_server_role{role=\"standby\"} 1")
             != std::string::npos);

  // Workers: register, then heartbeat and ask for streams in a loop,
  // against whichever server replies. Each remembers what the leader last
  // acknowledged it owns, and the first reply of the new leader.
  constexpr int worker_count = 6;
  std::atomic<bool> killed{false};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::map<std::string, std::set<std::int64_t>> acked_by_old;
  std::map<std::string, std::set<std::int64_t>> first_from_new;
  std::map<std::string, std::set<std::int64_t>> last_from_new;
  std::atomic<int> requests{0};
  std::vector<std::thread> workers;
  std::uint16_t ports[2] = {leader->port(), standby.port()};
  for (int k = 0; k < worker_count; ++k) {
    workers.emplace_back([&, k] {
      auto id = "w" + std::to_string(k);
      auto deadline = steady::now() + 25s;
      bool registered = false;
      while (!stop && steady::now() < deadline) {
        for (int which = 0; which < 2 && !stop; ++which) {
          http_client client{"127.0.0.1", ports[which]};
          try {
            http_reply reply;
            if (!registered)
              reply = client.post("/register", {{"server_id", id}, {"ip", "127.0.0.1"},
                                                {"port", 9000}, {"max_streams", 30}});
            else if (requests++ % 2 == 0)
              reply = client.post("/heartbeat", {{"server_id", id}, {"current_streams", 0}});
            else
              reply = client.post("/streams/assign", {{"server_id", id},
                                                      {"requested_count", 3}});
            if (reply.status != 200)
              continue;
            registered = true;
            auto set = owned(reply.json());
            std::lock_guard<std::mutex> guard{mutex};
            if (which == 0 && !killed)
              acked_by_old[id] = set;
            if (which == 1) {
              first_from_new.emplace(id, set);
              last_from_new[id] = set;
            }
            break;
          } catch (const std::exception&) {
            // The leader is gone: try the other server.
          }
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }

  std::this_thread::sleep_for(2s);
  {
    std::lock_guard<std::mutex> guard{mutex};
    killed = true;
  }
  auto kill_time = steady::now();
  leader->stop(SIGKILL);
  BOOST_REQUIRE_MESSAGE(wait_ready(standby_client, 20s), standby.log());
  auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now()
                                                                        - kill_time);
  BOOST_TEST_MESSAGE("takeover after the leader's death: " << takeover.count() << " ms");
  BOOST_TEST(takeover.count() < 5000);
  std::this_thread::sleep_for(2s);
  stop = true;
  for (auto& t : workers)
    t.join();

  // None lost: each worker's first reply from the new leader holds every
  // stream the old leader acknowledged (workers release nothing here).
  BOOST_REQUIRE_EQUAL(acked_by_old.size(), std::size_t{worker_count});
  std::size_t acked = 0;
  for (const auto& [id, set] : acked_by_old) {
    BOOST_TEST_CONTEXT("worker " << id) {
      BOOST_REQUIRE(first_from_new.count(id) == 1);
      for (auto stream : set)
        BOOST_TEST(first_from_new[id].count(stream) == 1u);
      acked += set.size();
    }
  }
  BOOST_TEST(acked > 0u);
  // None doubled: the final sets are disjoint and match the database.
  std::map<std::int64_t, std::string> owner;
  for (const auto& [id, set] : last_from_new)
    for (auto stream : set) {
      BOOST_TEST_CONTEXT("stream " << stream) {
        BOOST_TEST(owner.count(stream) == 0u);
      }
      owner[stream] = id;
    }
  auto listing = standby_client.get("/streams/assignments").json();
  for (const auto& row : listing["assignments"]) {
    auto stream = row["stream_id"].get<std::int64_t>();
    if (owner.count(stream) == 1)
      BOOST_TEST(owner[stream] == row["server_id"].get<std::string>());
  }
  BOOST_TEST(cluster().query_value("SELECT count(*) FROM (SELECT stream_id FROM "
                                   "orchestrator_stream_assignments GROUP BY stream_id "
                                   "HAVING count(*) > 1) d",
                                   db)
             == "0");
  BOOST_TEST(cluster().query_value("SELECT address FROM orchestrator_leader", db)
             == "http://127.0.0.1:" + std::to_string(standby.port()));
  BOOST_TEST(standby.log().find("leader-serving") != std::string::npos);
}

// A leader whose connection is cut while a standby takes the lock must stop
// serving: it finds the lock taken when it reconnects, and exits with 3.
BOOST_AUTO_TEST_CASE(a_leader_that_lost_the_lock_stops_serving_and_exits) {
  const std::string db = "fencing";
  auto url = cluster().create_database(db);
  temp_dir dir;
  server_process leader{pg_args(url), dir.file("leader.log")};
  http_client leader_client{"127.0.0.1", leader.port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(leader_client), leader.log());
  server_process standby{pg_args(url), dir.file("standby.log")};
  http_client standby_client{"127.0.0.1", standby.port()};
  std::this_thread::sleep_for(300ms);
  BOOST_REQUIRE(standby_client.get("/ready").status == 503u);

  // End the session that holds the lock, as a network failure would.
  cluster().exec("SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN "
                 "pg_database d ON d.oid = l.database WHERE l.locktype = "
                 "'advisory' AND l.granted AND d.datname = '" + db + "'");
  BOOST_REQUIRE_MESSAGE(wait_ready(standby_client, 10s), standby.log());

  bool gone = false;
  for (int k = 0; k < 100 && !gone; ++k) {
    std::this_thread::sleep_for(100ms);
    try {
      leader_client.get("/health");
    } catch (const std::exception&) {
      // No longer listening: it has exited.
      gone = true;
    }
  }
  BOOST_TEST(gone);
  auto status = leader.stop(0);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 3);
  BOOST_TEST(leader.log().find("leadership-lost") != std::string::npos);
  BOOST_TEST(standby_client.post("/register", {{"server_id", "a"}, {"ip", "127.0.0.1"},
                                               {"port", 1}})
               .status
             == 200u);
}

// A leader cut off by the network keeps its lock until PostgreSQL ends its
// session. The server's end of the leader's connection must therefore probe
// the peer after the client's 5 s keepalive idle time, not after the
// system's two hours. The kernel's keepalive timer on that socket shows
// which one applies; the partition itself is not simulated here.
BOOST_AUTO_TEST_CASE(the_database_side_of_the_lock_session_keeps_alive) {
  const std::string db = "keepalive";
  auto url = cluster().create_database(db);
  temp_dir dir;
  server_process leader{pg_args(url), dir.file("leader.log")};
  http_client leader_client{"127.0.0.1", leader.port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(leader_client), leader.log());

  auto client_port = cluster().query_value(
    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' "
    "AND l.granted AND d.datname = '" + db + "'");
  BOOST_REQUIRE(!client_port.empty());
  auto command = "ss -tnoH state established '( sport = :"
                 + std::to_string(cluster().port()) + " and dport = :" + client_port
                 + " )' 2>&1";
  std::string output;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char chunk[512];
    while (auto n = std::fread(chunk, 1, sizeof chunk, pipe))
      output.append(chunk, n);
    ::pclose(pipe);
  }
  BOOST_TEST_MESSAGE("ss: " << output);
  // ss writes the time left in minutes, seconds and milliseconds, such as
  // "timer:(keepalive,4.380ms,0)" for 4.38 s or "119min" for the system
  // default. The pattern also takes the forms "3sec" and "250ms".
  std::smatch timer;
  BOOST_REQUIRE_MESSAGE(
    std::regex_search(output, timer,
                      std::regex{R"(keepalive,(?:(\d+)min)?(?:(\d+)(?:\.|sec))?(?:(\d+)ms)?,)"}),
    "no keepalive timer on the lock session's socket: " << output);
  auto part = [&](std::size_t k) {
    return timer[k].matched ? std::stod(timer[k].str()) : 0.0;
  };
  double seconds = part(1) * 60 + part(2) + part(3) / 1000;
  BOOST_TEST(seconds <= 5.0);
}

BOOST_AUTO_TEST_CASE(ready_reports_a_lost_database_and_recovers) {
  pg_cluster own;
  auto url = own.create_database("lost");
  temp_dir dir;
  // Requests fail within the client's 5 s timeout while the store is down.
  server_process server{pg_args(url, {"--request-timeout", "2"}), dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(client), server.log());
  BOOST_REQUIRE_EQUAL(client.post("/register", {{"server_id", "a"}, {"ip", "127.0.0.1"},
                                                {"port", 1}})
                        .status,
                      200u);
  // A standby waits beside it and must outlive the outage.
  server_process standby{pg_args(url), dir.file("standby.log")};
  http_client standby_client{"127.0.0.1", standby.port()};

  own.stop();
  bool noticed = false;
  for (int k = 0; k < 60 && !noticed; ++k) {
    std::this_thread::sleep_for(100ms);
    noticed = client.get("/ready").status == 503;
  }
  BOOST_TEST(noticed);
  auto health = client.get("/health");
  BOOST_TEST(health.status == 503u);
  BOOST_TEST(health.json()["status"] == "unhealthy");
  // Nothing is acknowledged that is not committed.
  BOOST_TEST(health.json()["store"]["status"] == "failing");
  // Nothing is acknowledged that is not committed; enough failures open the
  // store's circuit breaker.
  for (const char* id : {"b1", "b2", "b3"}) {
    auto refused = client.post("/register", {{"server_id", id}, {"ip", "127.0.0.1"},
                                             {"port", 1}});
    BOOST_TEST(refused.status == 503u);
  }
  BOOST_TEST(standby_client.get("/health").status == 503u);

  // Once the database is back, writes work again within seconds, not after
  // the breaker's 60 s.
  own.start();
  BOOST_REQUIRE_MESSAGE(wait_ready(client, 30s), server.log());
  BOOST_TEST(client.post("/register", {{"server_id", "c"}, {"ip", "127.0.0.1"},
                                       {"port", 1}})
               .status
             == 200u);
  bool standby_back = false;
  for (int k = 0; k < 50 && !standby_back; ++k) {
    std::this_thread::sleep_for(100ms);
    standby_back = standby_client.get("/health").status == 200;
  }
  BOOST_TEST(standby_back);
  BOOST_TEST(standby_client.get("/ready").json()["role"] == "standby");
  BOOST_TEST(own.query_value("SELECT string_agg(server_id, ',' ORDER BY server_id) "
                             "FROM orchestrator_instances",
                             "lost")
             == "a,c");
  BOOST_TEST(server.log().find("store-reconnected") != std::string::npos);
}

// The metrics history lives in PostgreSQL: a server that takes over after
// the leader was killed serves it, deletes the samples older than the
// retention, and returns 503 when it cannot read them.
BOOST_AUTO_TEST_CASE(metrics_history_survives_a_takeover) {
  const std::string db = "metrics_history";
  auto url = cluster().create_database(db);
  temp_dir dir;
  auto args = pg_args(url, {"--heartbeat-timeout", "3600"});
  auto leader = std::make_unique<server_process>(args, dir.file("leader.log"));
  http_client client{"127.0.0.1", leader->port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(client), leader->log());
  BOOST_REQUIRE_EQUAL(client.post("/register", {{"server_id", "w1"}, {"ip", "127.0.0.1"},
                                                {"port", 9000}, {"max_streams", 5}})
                        .status,
                      200u);
  send_and_read_back(client, "w1", 20);
  leader->stop(SIGKILL);

  // Samples older than the default retention of 168 hours, and one of 30
  // hours. recorded_at stores UTC without a time zone.
  cluster().exec("INSERT INTO orchestrator_instance_metrics (server_id, cpu_percent, "
                 "recorded_at) SELECT 'w1', 200, (now() AT TIME ZONE 'UTC') - "
                 "interval '200 hours' + n * interval '1 millisecond' FROM "
                 "generate_series(1, 3000) AS n;"
                 "INSERT INTO orchestrator_instance_metrics (server_id, cpu_percent, "
                 "recorded_at) VALUES ('w1', 130, (now() AT TIME ZONE 'UTC') - "
                 "interval '30 hours');",
                 db);

  server_process next{args, dir.file("next.log")};
  http_client next_client{"127.0.0.1", next.port()};
  BOOST_REQUIRE_MESSAGE(wait_ready(next_client), next.log());
  BOOST_TEST(wait_for_log(next, "metrics-samples-expired deleted=3000", 10s), next.log());
  BOOST_TEST(cluster().query_value("SELECT count(*) FROM orchestrator_instance_metrics", db)
             == "21");

  auto reply = next_client.get("/instances/w1/metrics");
  BOOST_REQUIRE_EQUAL(reply.status, 200u);
  auto body = reply.json();
  BOOST_TEST(body["count"] == 20);
  BOOST_TEST(cpu_values(body).front() == 19.0);
  const auto& full = body["metrics"][0];
  BOOST_TEST(full.size() == 12u);
  BOOST_TEST(full["memory_percent"] == 40.5);
  BOOST_TEST(full["memory_used_gb"] == 3.25);
  BOOST_TEST(full["disk_free_gb"] == 90.125);
  BOOST_TEST(full["load_average_15m"] == 0.125);
  BOOST_TEST(full["uptime_seconds"] == 1019.0);
  const auto& partial = body["metrics"][9];
  BOOST_TEST(partial["cpu_percent"] == 10.0);
  BOOST_TEST(partial["load_average_1m"].is_null());
  BOOST_TEST(partial["uptime_seconds"].is_null());

  auto two_days = next_client.get("/instances/w1/metrics?hours=48").json();
  BOOST_TEST(two_days["count"] == 21);
  BOOST_TEST(cpu_values(two_days).back() == 130.0);
  auto limited = next_client.get("/instances/w1/metrics?hours=48&limit=3").json();
  BOOST_TEST(cpu_values(limited) == (std::vector<double>{19, 18, 17}),
             boost::test_tools::per_element());
  BOOST_TEST(next_client.get("/instances/w1/metrics?limit=0").status == 422u);

  cluster().exec("ALTER TABLE orchestrator_instance_metrics RENAME TO metrics_away", db);
  auto failed = next_client.get("/instances/w1/metrics");
  BOOST_TEST(failed.status == 503u);
  auto detail = failed.json()["detail"].get<std::string>();
  BOOST_TEST(detail.find("metrics history") != std::string::npos, detail);
  cluster().exec("ALTER TABLE metrics_away RENAME TO orchestrator_instance_metrics", db);
  BOOST_TEST(next_client.get("/instances/w1/metrics").json()["count"] == 20);
}

BOOST_AUTO_TEST_CASE(the_store_comes_from_the_python_variables_without_leaking_the_password) {
  cluster().create_database("from_env");
  ::setenv("DB_HOST", "127.0.0.1", 1);
  ::setenv("DB_PORT", std::to_string(cluster().port()).c_str(), 1);
  ::setenv("DB_NAME", "from_env", 1);
  ::setenv("DB_USER", "postgres", 1);
  ::setenv("DB_PASSWORD", "pa55-w0rd'quoted", 1);
  temp_dir dir;
  {
    server_process server{{"--takeover-delay", "0", "--log-level", "debug"},
                          dir.file("server.log")};
    http_client client{"127.0.0.1", server.port()};
    BOOST_REQUIRE_MESSAGE(wait_ready(client), server.log());
    BOOST_TEST(client.get("/health").json()["store"]["backend"] == "postgresql");
    auto log = server.log();
    BOOST_TEST(log.find("store=postgresql://postgres@127.0.0.1:"
                        + std::to_string(cluster().port()) + "/from_env")
               != std::string::npos);
    BOOST_TEST(log.find("pa55-w0rd") == std::string::npos);
  }
  for (const char* name : {"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"})
    ::unsetenv(name);

  // Values that are no store stop start-up with a clear message.
  for (const std::string bad : {"sqlite:", "mysql://user:secret@db/x"}) {
    auto command = orchestrator_binary() + " --store '" + bad + "' 2>&1";
    auto* pipe = ::popen(command.c_str(), "r");
    BOOST_REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[512];
    while (auto n = std::fread(buffer, 1, sizeof buffer, pipe))
      output.append(buffer, n);
    auto status = ::pclose(pipe);
    BOOST_TEST(WEXITSTATUS(status) == 2);
    BOOST_TEST(output.find("--store") != std::string::npos);
    BOOST_TEST(output.find("secret") == std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
