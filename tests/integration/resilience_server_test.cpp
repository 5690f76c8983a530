#define BOOST_TEST_MODULE resilience_server
#include <boost/test/unit_test.hpp>

// The resilient failure handler in the real server, with workers as real
// processes that are paused, killed and resumed, a store that fails inside
// SQLite, and a burst of failures that freezes reassignment. After each
// run no stream has two owners, none is lost, and what was acknowledged
// survives a restart.

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/sqlite_exec.hpp"
#include "tests/support/temp_dir.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

using namespace orchestrator::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// A worker as a child process that sends a heartbeat every second for at
/// most two minutes, so that it can be paused (SIGSTOP) and killed
/// (SIGKILL) like a real one.
class worker_process {
public:
  worker_process(std::string id, std::uint16_t port) : id_(std::move(id)) {
    pid_ = fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ > 0)
      return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    http_client client{"127.0.0.1", port};
    auto end = std::chrono::steady_clock::now() + 120s;
    while (std::chrono::steady_clock::now() < end) {
      try {
        client.post("/heartbeat", {{"server_id", id_}, {"current_streams", 0}});
      } catch (...) {
        // The server may be restarting; the next beat tries again.
      }
      std::this_thread::sleep_for(1s);
    }
    _exit(0);
  }

  ~worker_process() {
    kill_now();
  }

  void pause() {
    ::kill(pid_, SIGSTOP);
  }

  void resume() {
    ::kill(pid_, SIGCONT);
  }

  void kill_now() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

private:
  std::string id_;
  pid_t pid_ = -1;
};

struct cluster {
  temp_dir dir;
  std::string modules = dir.file("modules");
  std::vector<std::string> args;
  std::unique_ptr<server_process> server;
  std::unique_ptr<http_client> client;

  explicit cluster(std::vector<std::string> extra, bool resilient = true) {
    std::filesystem::create_directories(modules);
    if (resilient)
      std::filesystem::copy_file(std::string{MODULES_BUILD_DIR}
                                   + "/resilient_failure_handler.so",
                                 modules + "/resilient_failure_handler.so");
    // HEARTBEAT_CHECK_INTERVAL stays at its 30 s default: the resilient
    // module checks more often by itself.
    args = {"--data-dir", dir.file("data"), "--modules-dir", modules,
            "--rebalance-interval", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    start();
  }

  void start() {
    server = std::make_unique<server_process>(args, dir.file("server.log"));
    client = std::make_unique<http_client>("127.0.0.1", server->port());
  }

  void restart() {
    server->stop(SIGTERM);
    start();
  }

  void add_streams(int count) {
    auto rows = json::array();
    for (int id = 1; id <= count; ++id)
      rows.push_back({{"id", id}, {"url", "u" + std::to_string(id)}});
    BOOST_REQUIRE_EQUAL(client->post("/streams", rows).status, 201u);
  }

  void join(const std::string& id, int capacity, int streams) {
    BOOST_REQUIRE_EQUAL(client->post("/register", {{"server_id", id}, {"ip", "127.0.0.1"},
                                                   {"port", 9000},
                                                   {"max_streams", capacity}})
                          .status,
                        200u);
    if (streams > 0)
      BOOST_REQUIRE_EQUAL(client->post("/streams/assign", {{"server_id", id},
                                                          {"requested_count", streams}})
                            .status,
                          200u);
  }

  std::string state_of(const std::string& id) {
    return client->get("/instances/" + id).json()["data"]["status"].get<std::string>();
  }

  /// Stream id to owner, checking that no stream appears twice.
  std::map<std::int64_t, std::string> owners() {
    std::map<std::int64_t, std::string> result;
    // The reply is kept in a variable: a range-for over a member of a
    // temporary would read freed memory.
    auto reply = client->get("/streams/assignments").json();
    for (const auto& row : reply["assignments"])
      BOOST_REQUIRE_MESSAGE(result.emplace(row["stream_id"].get<std::int64_t>(),
                                           row["server_id"].get<std::string>())
                              .second,
                            "stream " << row["stream_id"] << " has two owners");
    return result;
  }

  template <class Predicate>
  bool wait_for(Predicate done, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done())
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return done();
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(resilience_scenarios)

BOOST_AUTO_TEST_CASE(pause_survives_kill_is_detected_restart_keeps_all) {
  cluster c{{"--heartbeat-timeout", "30"}};
  c.add_streams(40);
  std::vector<std::unique_ptr<worker_process>> workers;
  for (const char* id : {"w1", "w2", "w3", "w4"}) {
    c.join(id, 20, 10);
    workers.push_back(std::make_unique<worker_process>(id, c.server->port()));
  }
  // Let the detector learn the one-second interval.
  std::this_thread::sleep_for(4500ms);

  // A two-second pause is no death.
  workers[0]->pause();
  std::this_thread::sleep_for(2s);
  workers[0]->resume();

  // kill -9: declared dead within about five seconds of the last beat.
  auto killed = std::chrono::steady_clock::now();
  workers[1]->kill_now();
  BOOST_REQUIRE(c.wait_for([&] { return c.state_of("w2") == "dead"; }, 8s));
  auto detection_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - killed)
                        .count();
  BOOST_TEST_MESSAGE("kill -9 to dead: " << detection_ms << " ms");
  BOOST_TEST(detection_ms <= 6000);
  BOOST_TEST(c.state_of("w1") == "active");

  // Every stream is owned by a live worker, once.
  auto owners = c.owners();
  BOOST_TEST(owners.size() == 40u);
  for (const auto& [stream, owner] : owners)
    BOOST_TEST(owner != "w2");
  auto status = c.client->get("/resilience/status").json();
  BOOST_TEST(status["method"] == "resilient_failure_handler");
  BOOST_TEST(status["deaths_declared"] == 1);
  BOOST_TEST(status["frozen"] == false);

  // The dead worker is fenced: its heartbeat is rejected, and the reply
  // names the streams it listed as ones to drop.
  auto fenced = c.client->post("/heartbeat", {{"server_id", "w2"}, {"current_streams", 2},
                                              {"stream_ids", {5, 6}}});
  BOOST_TEST(fenced.status == 404u);
  BOOST_TEST(fenced.json()["fenced"] == true);
  BOOST_TEST(fenced.json()["owned_streams"] == json::array());
  BOOST_TEST(fenced.json()["drop_streams"] == json::array({5, 6}));

  // Every acknowledged assignment survives a restart.
  c.restart();
  BOOST_TEST((c.owners() == owners));
}

BOOST_AUTO_TEST_CASE(burst_of_silence_freezes_reassignment) {
  cluster c{{"--heartbeat-timeout", "30"}};
  c.add_streams(20);
  std::vector<std::unique_ptr<worker_process>> workers;
  for (const char* id : {"w1", "w2", "w3", "w4"}) {
    c.join(id, 20, 5);
    workers.push_back(std::make_unique<worker_process>(id, c.server->port()));
  }
  std::this_thread::sleep_for(4500ms);

  // Three of four fall silent at once: more than half, so nobody dies.
  for (int k = 0; k < 3; ++k)
    workers[k]->pause();
  BOOST_REQUIRE(c.wait_for([&] {
    return c.client->get("/resilience/status").json()["frozen"] == true;
  }, 8s));
  std::this_thread::sleep_for(2s);
  for (const char* id : {"w1", "w2", "w3"})
    BOOST_TEST(c.state_of(id) == "active");
  auto health = c.client->get("/health");
  BOOST_TEST(health.status == 200u);
  BOOST_TEST(health.json()["status"] == "degraded");
  BOOST_TEST(health.json()["resilience"]["frozen"] == true);
  BOOST_TEST(c.client->get("/resilience/health").json()["system_health"] == "critical");
  BOOST_TEST(c.server->log().find("reassignment-frozen") != std::string::npos);

  // An operator lifts the freeze: the three die and w4 takes their streams.
  auto lifted = c.client->request("DELETE", "/resilience/freeze");
  BOOST_TEST(lifted.status == 200u);
  BOOST_REQUIRE(c.wait_for([&] {
    return c.state_of("w1") == "dead" && c.state_of("w2") == "dead"
           && c.state_of("w3") == "dead";
  }, 3s));
  auto owners = c.owners();
  BOOST_TEST(owners.size() == 20u);
  for (const auto& [stream, owner] : owners)
    BOOST_TEST(owner == "w4");
  BOOST_REQUIRE(c.wait_for([&] {
    return c.client->get("/resilience/status").json()["frozen"] == false;
  }, 2s));
  BOOST_TEST(c.client->request("DELETE", "/resilience/freeze").status == 409u);
  for (int k = 0; k < 3; ++k)
    workers[k]->resume();
}

BOOST_AUTO_TEST_CASE(store_outage_opens_breaker_then_recovers) {
  cluster c{{"--circuit-breaker-threshold", "2", "--circuit-breaker-timeout", "1",
             "--max-retry-attempts", "1"}};
  c.add_streams(4);
  c.join("w1", 10, 1);
  auto exec = [&](const char* sql) {
    auto error = exec_sql(c.dir.file("data/orchestrator.db"), sql);
    BOOST_REQUIRE_MESSAGE(error.empty(), error);
  };
  exec("CREATE TRIGGER disk_full BEFORE INSERT ON orchestrator_stream_assignments "
       "BEGIN SELECT RAISE(ABORT, 'disk full'); END;");

  // The first request fails after one retry, and its two failures open the
  // breaker.
  auto failed = c.client->post("/streams/assign", {{"server_id", "w1"}});
  BOOST_TEST(failed.status == 503u);
  BOOST_TEST(failed.headers.count("Retry-After") == 1u);
  // Now requests that change state fail fast, naming the breaker.
  auto fast = c.client->post("/streams/assign", {{"server_id", "w1"}});
  BOOST_TEST(fast.status == 503u);
  BOOST_TEST(fast.json()["detail"].get<std::string>().find("circuit breaker is open")
             != std::string::npos);
  BOOST_TEST(fast.headers["Retry-After"] == "1");
  BOOST_TEST(c.client->get("/resilience/status").json()["circuit_breakers"]["store"]["state"]
             == "open");
  // Reads and heartbeats need no write and keep working.
  BOOST_TEST(c.client->post("/heartbeat", {{"server_id", "w1"}, {"current_streams", 1}}).status
             == 200u);
  BOOST_TEST(c.client->get("/instances/w1").json()["data"]["current_streams"] == 1);
  auto metrics = c.client->get("/metrics").body;
  BOOST_TEST(metrics.find("orchestrator_circuit_breaker_state{dependency=\"store\",state=\"open\"} 1")
             != std::string::npos);

  exec("DROP TRIGGER disk_full;");
  std::this_thread::sleep_for(1100ms);
  // The half-open probe succeeds and closes the breaker.
  auto recovered = c.client->post("/streams/assign", {{"server_id", "w1"}, {"requested_count", 2}});
  BOOST_TEST(recovered.status == 200u);
  BOOST_TEST(recovered.json()["owned_streams"].size() == 3u);
  BOOST_TEST(c.client->get("/health").json()["store"]["circuit_breaker"] == "closed");
  // Exactly what was acknowledged is on disk.
  auto before = c.owners();
  BOOST_TEST(before.size() == 3u);
  c.restart();
  BOOST_TEST((c.owners() == before));
}

BOOST_AUTO_TEST_CASE(flapping_worker_is_quarantined_until_recovered) {
  cluster c{{"--heartbeat-timeout", "30", "--quarantine-base", "60"}};
  c.add_streams(10);
  c.join("w1", 10, 0);
  c.join("v", 5, 5);
  // w1 fails twice within the window.
  for (int k = 0; k < 2; ++k) {
    BOOST_REQUIRE_EQUAL(c.client->request("POST", "/instances/w1/failure").status, 200u);
    c.join("w1", 10, 0);
  }
  auto refused = c.client->post("/streams/assign", {{"server_id", "w1"}});
  BOOST_TEST(refused.json()["status"] == "no_capacity");
  BOOST_TEST(refused.json()["quarantined"] == true);
  BOOST_TEST(c.server->log().find("worker-quarantined worker=w1 seconds=60")
             != std::string::npos);

  auto recovered = c.client->request("POST", "/resilience/recovery/w1");
  BOOST_TEST(recovered.status == 200u);
  BOOST_TEST(recovered.json()["status"] == "success");
  BOOST_TEST(c.client->post("/streams/assign", {{"server_id", "w1"}, {"requested_count", 2}})
               .json()["status"]
             == "assigned");
  BOOST_TEST(c.client->request("POST", "/resilience/recovery/nobody").json()["status"]
             == "not_found");

  // Emergency recovery takes v's streams at once and places them within
  // the others' capacity.
  auto emergency = c.client->request("POST", "/resilience/emergency/v?reason=disk_failure");
  BOOST_TEST(emergency.status == 200u);
  BOOST_TEST(emergency.json()["status"] == "success");
  BOOST_TEST(emergency.json()["streams_freed"] == 5);
  auto owners = c.owners();
  BOOST_TEST(owners.size() == 7u);
  for (const auto& [stream, owner] : owners)
    BOOST_TEST(owner == "w1");
  BOOST_TEST(c.client->get("/instances/v").json()["data"]["draining"] == true);
  BOOST_TEST(c.client->request("POST", "/resilience/emergency/nobody").json()["status"]
             == "error");
}

BOOST_AUTO_TEST_CASE(basic_handler_reports_no_resilience) {
  cluster c{{}, false};
  BOOST_TEST(c.client->get("/resilience/status").status == 503u);
  auto health = c.client->get("/resilience/health").json();
  BOOST_TEST(health["status"] == "basic");
}

BOOST_AUTO_TEST_SUITE_END()
