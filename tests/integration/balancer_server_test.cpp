#define BOOST_TEST_MODULE balancer_server
#include <boost/test/unit_test.hpp>

// The smart balancer in the real server over loopback: simulated workers
// that capture exactly the streams their replies list, a cluster that
// grows, drains and loses its module, and the rule that no stream is ever
// captured twice.

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

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

/// A worker that captures the streams its latest reply lists and sends the
/// list of what it captures in every heartbeat.
struct sim_worker {
  std::string id;
  /// Stream id to the epoch it was captured under.
  std::map<std::int64_t, std::uint64_t> captured;

  void adopt(const json& reply) {
    std::map<std::int64_t, std::uint64_t> next;
    for (const auto& lease : reply["owned_streams"])
      next[lease["stream_id"].get<std::int64_t>()] = lease["epoch"].get<std::uint64_t>();
    captured = std::move(next);
  }

  json heartbeat_body() const {
    auto ids = json::array();
    for (const auto& [stream, epoch] : captured)
      ids.push_back(stream);
    return {{"server_id", id},
            {"current_streams", captured.size()},
            {"stream_ids", ids}};
  }
};

struct cluster {
  temp_dir dir;
  std::string modules = dir.file("modules");
  std::unique_ptr<server_process> server;
  std::unique_ptr<http_client> client;
  std::vector<sim_worker> workers;
  /// Streams seen in a worker's capture, for the "told first" check: a
  /// stream may appear at a new worker only after its old one dropped it.
  std::map<std::int64_t, std::string> holder;

  cluster() {
    std::filesystem::create_directories(modules);
    std::filesystem::copy_file(std::string{MODULES_BUILD_DIR} + "/smart_balancer.so",
                               modules + "/smart_balancer.so");
    args = std::vector<std::string>{"--data-dir", dir.file("data"), "--modules-dir", modules,
                               "--modules", "smart_balancer",
                               "--rebalance-interval", "0.3",
                               "--rebalance-cooldown", "0.5",
                               "--max-migrations-per-cycle", "20",
                               "--max-migration-fraction", "0.1",
                               "--handoff-timeout", "3",
                               "--heartbeat-timeout", "60",
                               "--suspect-after", "20"};
    start();
  }

  std::vector<std::string> args;

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
      rows.push_back({{"id", id}, {"url", "http://radio/" + std::to_string(id)}});
    BOOST_REQUIRE_EQUAL(client->post("/streams", rows).status, 201u);
  }

  sim_worker& join(const std::string& id, int capacity) {
    auto reply = client->post("/register", {{"server_id", id}, {"ip", "127.0.0.1"},
                                            {"port", 9000}, {"max_streams", capacity}});
    BOOST_REQUIRE_EQUAL(reply.status, 200u);
    workers.push_back(sim_worker{id, {}});
    workers.back().adopt(reply.json());
    return workers.back();
  }

  sim_worker& find(const std::string& id) {
    for (auto& w : workers)
      if (w.id == id)
        return w;
    BOOST_FAIL("unknown worker " + id);
    return workers.front();
  }

  /// Sends one heartbeat from every worker and checks after each that no
  /// stream is captured by two workers.
  void beat_all() {
    for (auto& w : workers) {
      auto reply = client->post("/heartbeat", w.heartbeat_body());
      BOOST_REQUIRE_EQUAL(reply.status, 200u);
      w.adopt(reply.json());
      check_disjoint();
    }
  }

  void check_disjoint() {
    std::map<std::int64_t, std::string> now;
    for (const auto& w : workers)
      for (const auto& [stream, epoch] : w.captured) {
        auto [at, fresh] = now.emplace(stream, w.id);
        BOOST_REQUIRE_MESSAGE(fresh, "stream " << stream << " is captured by "
                                               << at->second << " and " << w.id);
      }
    holder = std::move(now);
  }

  std::size_t captured_total() const {
    std::size_t total = 0;
    for (const auto& w : workers)
      total += w.captured.size();
    return total;
  }

  /// Sends heartbeats until `done` returns true or `limit` passes.
  template <class Predicate>
  bool run_until(Predicate done, std::chrono::seconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      beat_all();
      if (done()) {
        // Handoffs that the last beats completed reach their receivers.
        beat_all();
        return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  json history() {
    auto reply = client->get("/rebalance/history?limit=1000");
    BOOST_REQUIRE_EQUAL(reply.status, 200u);
    return reply.json()["rebalances"];
  }

  bool balanced() {
    auto check = client->get("/rebalance/check").json();
    return check["statistics"]["minimum_moves"] == 0
           && client->get("/status").json()["streams"]["handoffs"] == 0;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(smart_balancer_server)

BOOST_AUTO_TEST_CASE(new_workers_fill_in_budgeted_rounds_then_basic_takes_over) {
  cluster c;
  c.add_streams(1000);
  for (int k = 0; k < 10; ++k) {
    auto& w = c.join("w" + std::to_string(k), 150);
    auto reply = c.client->post("/streams/assign",
                                {{"server_id", w.id}, {"requested_count", 100}});
    BOOST_REQUIRE_EQUAL(reply.status, 200u);
    w.adopt(reply.json());
  }
  BOOST_REQUIRE_EQUAL(c.captured_total(), 1000u);
  c.beat_all();
  BOOST_TEST(c.history().empty());

  // Two workers join: the fair share is 1000 / 12 = 83.3, so each new one
  // receives 83 and exactly 166 streams move.
  auto before = c.holder;
  c.join("x1", 150);
  c.join("x2", 150);
  BOOST_REQUIRE(c.run_until([&] {
    return c.find("x1").captured.size() == 83 && c.find("x2").captured.size() == 83
           && c.balanced();
  }));
  BOOST_TEST(c.captured_total() == 1000u);

  auto rounds = c.history();
  std::uint64_t moved = 0;
  for (const auto& round : rounds) {
    BOOST_TEST(round["streams_moved"].get<std::uint64_t>() <= 20u);
    BOOST_TEST(round["method"] == "smart_balancer");
    BOOST_TEST(round["reason"] == "new_instance");
    moved += round["streams_moved"].get<std::uint64_t>();
    for (const auto& move : round["migrations"]) {
      BOOST_TEST((move["to"] == "x1" || move["to"] == "x2"));
      // Each moved stream left an old owner that held it before the joins.
      BOOST_TEST(before.at(move["stream_id"].get<std::int64_t>()) == move["from"]);
    }
  }
  BOOST_TEST(moved == 166u);
  BOOST_TEST(rounds.size() >= 9u);
  // Old workers keep 83 or 84, never fewer: no stream moved needlessly.
  for (int k = 0; k < 10; ++k) {
    auto held = c.find("w" + std::to_string(k)).captured.size();
    BOOST_TEST((held == 83u || held == 84u));
  }
  auto stats = c.client->get("/rebalance/stats").json()["statistics"];
  BOOST_TEST(stats["total_streams_moved"] == 166);
  BOOST_TEST(stats["total_rebalances"] == rounds.size());
  BOOST_TEST(stats["success_rate"] == 100.0);

  // Unloading the module hands balancing to the basic policy, which moves a
  // third new worker's share in one unbudgeted round.
  BOOST_REQUIRE_EQUAL(c.client->request("POST", "/modules/smart_balancer/disable").status,
                      200u);
  auto modules = c.client->get("/modules/status").json();
  BOOST_TEST(modules["functionality"]["smart_load_balancing"] == false);
  c.join("x3", 150);
  BOOST_REQUIRE(c.run_until([&] {
    return c.find("x3").captured.size() == 76 && c.balanced();
  }));
  BOOST_TEST(c.captured_total() == 1000u);
  auto latest = c.history().front();
  BOOST_TEST(latest["method"] == "basic");
  BOOST_TEST(latest["streams_moved"] == 76);
  auto table = c.client->get("/streams/assignments").json()["assignments"];
  BOOST_TEST(table.size() == 1000u);
}

BOOST_AUTO_TEST_CASE(drain_moves_only_the_drained_workers_streams) {
  cluster c;
  c.add_streams(120);
  for (int k = 0; k < 4; ++k) {
    auto& w = c.join("w" + std::to_string(k), 60);
    auto reply = c.client->post("/streams/assign",
                                {{"server_id", w.id}, {"requested_count", 30}});
    w.adopt(reply.json());
  }
  c.beat_all();
  auto before = c.holder;
  // in_sync compares the listed streams with the worker's set.
  auto& w0 = c.find("w0");
  auto listed = c.client->post("/heartbeat", w0.heartbeat_body()).json();
  BOOST_TEST(listed["in_sync"] == true);
  auto wrong = w0.heartbeat_body();
  wrong["stream_ids"][0] = 9999;
  BOOST_TEST(c.client->post("/heartbeat", wrong).json()["in_sync"] == false);

  auto drained = c.client->request("POST", "/instances/w2/drain");
  BOOST_REQUIRE_EQUAL(drained.status, 200u);
  BOOST_TEST(drained.json()["data"]["draining"] == true);
  auto refused = c.client->post("/streams/assign", {{"server_id", "w2"}});
  BOOST_TEST(refused.json()["status"] == "no_capacity");
  BOOST_TEST(refused.json()["draining"] == true);

  BOOST_REQUIRE(c.run_until([&] { return c.find("w2").captured.empty() && c.balanced(); }));
  for (const auto& [stream, owner] : c.holder)
    if (before.at(stream) != "w2")
      BOOST_TEST(owner == before.at(stream));
  for (const auto& id : {"w0", "w1", "w3"})
    BOOST_TEST(c.find(id).captured.size() == 40u);

  BOOST_TEST(c.client->request("DELETE", "/instances/w2/drain").json()["status"] == "active");
  BOOST_TEST(c.client->request("POST", "/instances/nobody/drain").status == 404u);
  BOOST_TEST(c.client->request("POST", "/instances/bad%20id/drain").status == 422u);
}

BOOST_AUTO_TEST_CASE(plan_check_and_manual_rounds_answer_as_documented) {
  cluster c;
  c.add_streams(40);
  auto& a = c.join("a", 40);
  a.adopt(c.client->post("/streams/assign", {{"server_id", "a"}, {"requested_count", 40}})
            .json());
  c.join("b", 40);

  auto plan = c.client->get("/rebalance/plan").json();
  BOOST_TEST(plan["dry_run"] == true);
  BOOST_TEST(plan["minimum_moves"] == 20);
  BOOST_TEST(plan["moves"].size() == 4u);  // the budget: 10 % of 40 streams
  for (const auto& move : plan["moves"])
    BOOST_TEST((move["from"] == "a" && move["to"] == "b"));
  // A dry run changes nothing.
  BOOST_TEST(c.client->get("/rebalance/plan").json()["moves"] == plan["moves"]);

  auto check = c.client->get("/rebalance/check").json();
  BOOST_TEST(check["status"] == "success");
  BOOST_TEST(check["needs_rebalancing"] == true);
  BOOST_TEST(check["consistent"] == false);
  BOOST_TEST(check["instances"].size() == 2u);

  auto bad = c.client->request("POST", "/rebalance/smart?reason=boredom");
  BOOST_TEST(bad.status == 422u);
  auto manual = c.client->request("POST", "/rebalance/smart?reason=manual");
  BOOST_REQUIRE_EQUAL(manual.status, 200u);
  auto body = manual.json();
  BOOST_TEST(body["method"] == "smart_balancer");
  BOOST_TEST(body["reason"] == "manual");
  BOOST_TEST(body["migrations"].size() <= 4u);
  // The listing marks each stream in handoff with its receiver.
  auto moving = body["migrations"];
  auto table = c.client->get("/streams/assignments").json()["assignments"];
  std::size_t revoking = 0;
  for (const auto& row : table)
    if (row["status"] == "revoking") {
      ++revoking;
      BOOST_TEST(row["server_id"] == "a");
      BOOST_TEST(row["handoff_to"] == "b");
    }
  BOOST_TEST(revoking == moving.size());
  // Handoffs in flight: a second round waits for them.
  auto second = c.client->request("POST", "/rebalance/smart").json();
  if (c.client->get("/status").json()["streams"]["handoffs"] != 0)
    BOOST_TEST(second["status"] == "deferred");
  BOOST_TEST(c.client->get("/rebalance/history?limit=0").status == 422u);
  auto fraction = c.client->get("/rebalance/history?limit=1.5");
  BOOST_TEST(fraction.status == 422u);
  BOOST_TEST(fraction.json()["detail"][0]["type"] == "type_error.integer");

  // The history and its totals survive a restart.
  auto stats = c.client->get("/rebalance/stats").json()["statistics"];
  auto history = c.client->get("/rebalance/history").json();
  c.restart();
  BOOST_REQUIRE(c.run_until([&] {
    return c.client->get("/rebalance/stats").json()["statistics"]["total_rebalances"]
           == stats["total_rebalances"];
  }, 5s));
  auto after = c.client->get("/rebalance/history").json();
  BOOST_TEST(after["count"] == history["count"]);
  BOOST_TEST(after["rebalances"][0]["migrations"] == history["rebalances"][0]["migrations"]);
}

BOOST_AUTO_TEST_SUITE_END()
