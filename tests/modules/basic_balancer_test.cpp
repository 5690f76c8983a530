#include <boost/test/unit_test.hpp>

#include "modules/balancer/basic_balancer.hpp"
#include "tests/support/loads.hpp"

#include <map>

using namespace orchestrator;
using orchestrator::testing::input_of;
using orchestrator::testing::make_load;

namespace {

std::map<std::string, int> counts_after(const std::vector<worker_load>& loads,
                                        const std::vector<stream_move>& moves) {
  std::map<std::string, int> counts;
  for (const auto& l : loads)
    counts[l.server_id] = static_cast<int>(l.owned.size());
  for (const auto& m : moves) {
    --counts[m.from];
    ++counts[m.to];
  }
  return counts;
}

} // namespace

BOOST_AUTO_TEST_SUITE(basic_balancer_suite)

BOOST_AUTO_TEST_CASE(new_worker_gets_fair_share) {
  basic_balancer policy;
  std::vector<worker_load> loads{make_load("a", 20, 1, 10), make_load("b", 20, 100, 10),
                                 make_load("c", 20, 200, 0)};
  auto moves = policy.plan(input_of(loads)).moves;
  // 20 streams on 3 equal workers: shares of 6.67, so c needs 6.
  BOOST_TEST(moves.size() == 6u);
  auto counts = counts_after(loads, moves);
  BOOST_TEST(counts["c"] == 6);
  BOOST_TEST(counts["a"] == 7);
  BOOST_TEST(counts["b"] == 7);
}

BOOST_AUTO_TEST_CASE(balanced_cluster_does_not_move) {
  basic_balancer policy;
  std::vector<worker_load> loads{make_load("a", 20, 1, 7), make_load("b", 20, 100, 6),
                                 make_load("c", 20, 200, 7)};
  BOOST_TEST(policy.plan(input_of(loads)).moves.empty());
}

BOOST_AUTO_TEST_CASE(moves_follow_capacity) {
  basic_balancer policy;
  std::vector<worker_load> loads{make_load("small", 10, 1, 10),
                                 make_load("large", 30, 100, 10)};
  auto counts = counts_after(loads, policy.plan(input_of(loads)).moves);
  BOOST_TEST(counts["small"] == 5);
  BOOST_TEST(counts["large"] == 15);
}

BOOST_AUTO_TEST_CASE(moves_newest_streams_first) {
  basic_balancer policy;
  std::vector<worker_load> loads{make_load("a", 10, 1, 4), make_load("b", 10, 100, 0)};
  auto moves = policy.plan(input_of(loads)).moves;
  BOOST_REQUIRE_EQUAL(moves.size(), 2u);
  BOOST_TEST(moves[0].stream_id == 4);
  BOOST_TEST(moves[1].stream_id == 3);
  BOOST_TEST(moves[0].epoch == 4u);
}

BOOST_AUTO_TEST_CASE(single_worker_plans_nothing) {
  basic_balancer policy;
  BOOST_TEST(policy.plan(input_of({make_load("a", 10, 1, 10)})).moves.empty());
  BOOST_TEST(policy.plan(input_of({})).moves.empty());
}

BOOST_AUTO_TEST_CASE(draining_worker_gives_everything) {
  basic_balancer policy;
  auto loads = std::vector<worker_load>{make_load("a", 10, 1, 6),
                                        make_load("b", 10, 100, 0)};
  loads[0].draining = true;
  auto counts = counts_after(loads, policy.plan(input_of(loads)).moves);
  BOOST_TEST(counts["a"] == 0);
  BOOST_TEST(counts["b"] == 6);
}

BOOST_AUTO_TEST_CASE(draining_keeps_what_others_cannot_take) {
  basic_balancer policy;
  auto loads = std::vector<worker_load>{make_load("a", 10, 1, 8),
                                        make_load("b", 5, 100, 0)};
  loads[0].draining = true;
  auto counts = counts_after(loads, policy.plan(input_of(loads)).moves);
  BOOST_TEST(counts["a"] == 3);
  BOOST_TEST(counts["b"] == 5);
}

BOOST_AUTO_TEST_SUITE_END()
