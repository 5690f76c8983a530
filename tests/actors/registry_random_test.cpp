#include <boost/test/unit_test.hpp>

#include "actors/errors.hpp"
#include "actors/registry.hpp"
#include "modules/balancer/basic_balancer.hpp"
#include "modules/store/sqlite_store.hpp"
#include "tests/support/registry_rules.hpp"
#include "tests/support/temp_dir.hpp"

#include <map>
#include <random>
#include <set>

using namespace orchestrator;

namespace {

/// Drives a registry with random operations, persisting every journal to a
/// real SQLite file and sometimes rolling a journal back or restarting from
/// the file, and checks the state rules after every step.
class random_run {
public:
  explicit random_run(std::uint32_t seed) : rng_(seed) {
    auto opened = sqlite_store::open(dir_.file("state.db"));
    BOOST_REQUIRE(opened);
    store_ = std::move(*opened);
    reg_.load(store_snapshot{}, now());
    std::vector<stream_row> rows;
    for (std::int64_t id = 1; id <= 150; ++id)
      rows.push_back(stream_row{id, "http://s/" + std::to_string(id), "", "{}"});
    reg_.put_streams(rows);
    persist();
  }

  void step(int index) {
    clock_ms_ += pick(0, 2000);
    auto worker = "w" + std::to_string(pick(0, 7));
    switch (pick(0, 15)) {
      case 0:
      case 1:
        do_register(worker);
        break;
      case 2:
      case 3:
        do_heartbeat(worker);
        break;
      case 4:
      case 5:
      case 6:
        do_assign(worker);
        break;
      case 7:
      case 8:
        do_release(worker);
        break;
      case 9:
        do_expire(worker);
        break;
      case 10:
        do_deregister(worker);
        break;
      case 11:
        do_restart();
        break;
      case 12:
        do_rebalance();
        break;
      case 13:
        do_confirm(worker);
        break;
      case 14:
        do_drain(worker);
        break;
      case 15:
        reg_.complete_due_handoffs(now());
        break;
    }
    // One step in ten loses its write: the state must go back exactly.
    if (pick(0, 9) == 0)
      reg_.rollback(reg_.take_journal());
    else
      persist();

    auto problem = testing::check_registry_rules(reg_, workers_, highest_epoch_);
    BOOST_REQUIRE_MESSAGE(problem.empty(),
                          "step " << index << ": " << problem);
  }

private:
  instant now() const {
    return instant{1'700'000'000'000 + clock_ms_, clock_ms_};
  }

  int pick(int low, int high) {
    return std::uniform_int_distribution<int>{low, high}(rng_);
  }

  void persist() {
    auto changes = reg_.take_journal();
    BOOST_REQUIRE(!store_->commit(changes.redo));
  }

  /// Rule 6: a reply's owned set is the worker's whole current set.
  void check_owned(const std::string& worker,
                   const std::vector<stream_lease>& owned) {
    auto problem = testing::check_owned_reply(reg_, worker, owned);
    BOOST_REQUIRE_MESSAGE(problem.empty(), problem);
  }

  void do_register(const std::string& worker) {
    auto capacity = static_cast<std::uint32_t>(pick(0, 30));
    auto reply = reg_.register_worker(registration{worker, "10.0.0.1", 9000,
                                                   capacity},
                                      now());
    BOOST_REQUIRE(reply);
    check_owned(worker, reply->owned);
    BOOST_REQUIRE_LE(reply->owned.size(), capacity);
  }

  void do_heartbeat(const std::string& worker) {
    auto reply = reg_.record_heartbeat(heartbeat{worker, 0, "active"}, now());
    if (reply)
      check_owned(worker, reply->owned);
  }

  void do_assign(const std::string& worker) {
    auto before = reg_.owned_by(worker);
    auto reply = reg_.assign(assign_request{worker,
                                            static_cast<std::uint32_t>(pick(1, 12))},
                             now());
    if (!reply)
      return;
    check_owned(worker, reply->owned);
    // New assignments carry epochs above every earlier one.
    std::set<std::int64_t> old_ids;
    std::uint64_t old_max = 0;
    for (const auto& lease : before) {
      old_ids.insert(lease.stream_id);
      old_max = std::max(old_max, lease.epoch);
    }
    for (const auto& lease : reply->owned)
      if (old_ids.count(lease.stream_id) == 0)
        BOOST_REQUIRE_GT(lease.epoch, old_max);
  }

  void do_release(const std::string& worker) {
    auto before = reg_.owned_by(worker);
    std::vector<std::int64_t> ids;
    for (const auto& lease : before)
      if (pick(0, 1) == 0)
        ids.push_back(lease.stream_id);
    // Foreign and unknown ids must be ignored.
    ids.push_back(pick(1, 200));
    ids.push_back(pick(1, 200));
    auto view = reg_.find_worker(worker, now());
    auto reply = reg_.release(release_request{worker, ids, {}}, now());
    if (!reply)
      return;
    check_owned(worker, reply->owned);
    // Rule 3: only streams the worker owned are released; a stream being
    // handed off still counts as owned until the handoff ends.
    std::set<std::int64_t> owned_before;
    for (const auto& lease : before)
      owned_before.insert(lease.stream_id);
    for (const auto& lease : view->revoking)
      owned_before.insert(lease.stream_id);
    std::size_t released_revoked = 0;
    for (auto id : reply->released) {
      BOOST_REQUIRE(owned_before.count(id) == 1);
      for (const auto& lease : view->revoking)
        released_revoked += lease.stream_id == id ? 1 : 0;
    }
    BOOST_REQUIRE_EQUAL(reply->owned.size() + reply->released.size(),
                        before.size() + released_revoked);
  }

  void do_expire(const std::string& worker) {
    for (const auto& w : reg_.active_liveness())
      if (w.server_id == worker) {
        auto report = reg_.declare_dead({w}, now());
        BOOST_REQUIRE_EQUAL(report.dead_workers.size(), 1u);
        BOOST_REQUIRE(reg_.owned_by(worker).empty());
      }
  }

  void do_deregister(const std::string& worker) {
    auto reply = reg_.deregister(worker, now());
    if (!reply)
      BOOST_REQUIRE(is(reply.error(), errc::unknown_worker));
  }

  /// Plans with the basic policy and starts the handoffs, completing some at
  /// once.
  void do_rebalance() {
    auto input = reg_.balance_state(now());
    auto plan = basic_balancer{}.plan(input);
    std::vector<std::string> affected;
    reg_.begin_handoffs(plan.moves, now(), pick(0, 1) == 0 ? 0 : 3000,
                        affected);
  }

  /// Sends a heartbeat that lists the worker's current set as its stream_ids.
  void do_confirm(const std::string& worker) {
    std::vector<std::int64_t> listed;
    for (const auto& lease : reg_.owned_by(worker))
      listed.push_back(lease.stream_id);
    auto reply = reg_.record_heartbeat(
      heartbeat{worker, static_cast<std::int64_t>(listed.size()), "active",
                true, listed},
      now());
    if (reply)
      check_owned(worker, reply->owned);
  }

  void do_drain(const std::string& worker) {
    auto reply = reg_.set_draining(worker, pick(0, 1) == 0, now());
    if (reply)
      BOOST_REQUIRE(reply->row.server_id == worker);
  }

  /// Rule 7: a restart from the file brings back exactly what was written.
  void do_restart() {
    persist();
    auto before = reg_.list_assignments();
    auto snapshot = store_->load();
    BOOST_REQUIRE(snapshot);
    registry fresh;
    auto repairs = fresh.load(*snapshot, now());
    BOOST_REQUIRE_EQUAL(repairs, 0u);
    auto after = fresh.list_assignments();
    BOOST_REQUIRE_EQUAL(after.size(), before.size());
    for (std::size_t k = 0; k < before.size(); ++k) {
      BOOST_REQUIRE_EQUAL(after[k].stream_id, before[k].stream_id);
      BOOST_REQUIRE_EQUAL(after[k].server_id, before[k].server_id);
      BOOST_REQUIRE_EQUAL(after[k].epoch, before[k].epoch);
    }
    reg_ = std::move(fresh);
  }

  testing::temp_dir dir_;
  std::unique_ptr<sqlite_store> store_;
  registry reg_;
  std::mt19937 rng_;
  std::int64_t clock_ms_ = 1'000'000;
  std::uint64_t highest_epoch_ = 0;
  const std::vector<std::string> workers_{"w0", "w1", "w2", "w3",
                                          "w4", "w5", "w6", "w7"};
};

} // namespace

BOOST_AUTO_TEST_SUITE(registry_random)

BOOST_AUTO_TEST_CASE(random_operations_keep_rules) {
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      random_run run{seed};
      for (int i = 0; i < 3000; ++i)
        run.step(i);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
