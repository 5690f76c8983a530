#include <boost/test/unit_test.hpp>

#include "modules/balancer/smart_balancer.hpp"
#include "tests/support/loads.hpp"

#include <stdexcept>

using namespace orchestrator;
using orchestrator::testing::input_of;
using orchestrator::testing::make_load;


BOOST_AUTO_TEST_SUITE(smart_balancer_suite)

namespace {

/// Two workers of capacity 40: `a` holds `held` streams, `b` none.
balance_input lopsided(int held) {
  return input_of({make_load("a", 40, 1, held), make_load("b", 40, 100, 0)});
}

} // namespace

BOOST_AUTO_TEST_CASE(round_is_capped_at_budget) {
  balancer_settings config;
  config.max_moves = 3;
  smart_balancer policy{config};
  auto plan = policy.plan(lopsided(30));
  BOOST_TEST(plan.moves.size() == 3u);
  BOOST_TEST(plan.minimum_moves == 15u);
  BOOST_TEST(plan.reason == "new_instance");
  for (const auto& move : plan.moves) {
    BOOST_TEST(move.from == "a");
    BOOST_TEST(move.to == "b");
  }
}

BOOST_AUTO_TEST_CASE(fraction_of_streams_caps_the_budget) {
  balancer_settings config;
  config.max_moves = 100;
  config.max_move_fraction = 0.1;
  smart_balancer policy{config};
  BOOST_TEST(policy.plan(lopsided(30)).moves.size() == 3u);
  // A round may always move one stream.
  BOOST_TEST(policy.plan(lopsided(6)).budget == 1u);
}

BOOST_AUTO_TEST_CASE(small_imbalance_waits_below_thresholds) {
  smart_balancer policy{balancer_settings{}};
  // 6 against 0: a spread of 6 streams, above both thresholds.
  BOOST_TEST(policy.plan(lopsided(6)).moves.size() == 1u);
  // 2 against 0: within MAX_STREAM_DIFFERENCE.
  auto small = policy.plan(lopsided(2));
  BOOST_TEST(small.moves.empty());
  BOOST_TEST(!small.needs_rebalancing);
  BOOST_TEST(small.minimum_moves == 1u);
  // An operator's round or an unfinished convergence goes on anyway.
  auto manual = lopsided(2);
  manual.manual = true;
  BOOST_TEST(policy.plan(manual).moves.size() == 1u);
  auto converging = lopsided(2);
  converging.converging = true;
  BOOST_TEST(policy.plan(converging).moves.size() == 1u);
}

BOOST_AUTO_TEST_CASE(suspect_worker_defers_every_move) {
  smart_balancer policy{balancer_settings{}};
  auto input = lopsided(30);
  input.workers[1].suspect = true;
  input.workers[1].heartbeat_age_ms = 200'000;
  input.manual = true;
  auto plan = policy.plan(input);
  BOOST_TEST(plan.moves.empty());
  BOOST_TEST(plan.deferred.find("b is suspected") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cool_down_defers_automatic_rounds_only) {
  balancer_settings config;
  config.cooldown_ms = 30'000;
  smart_balancer policy{config};
  auto input = lopsided(30);
  input.last_membership_change = "join";
  input.since_membership_change_ms = 10'000;
  auto plan = policy.plan(input);
  BOOST_TEST(plan.moves.empty());
  BOOST_TEST(plan.deferred.find("20 s left") != std::string::npos);
  input.since_membership_change_ms = 30'000;
  BOOST_TEST(!policy.plan(input).moves.empty());
  input.since_membership_change_ms = 10'000;
  input.manual = true;
  BOOST_TEST(!policy.plan(input).moves.empty());
}

BOOST_AUTO_TEST_CASE(handoffs_in_flight_defer_the_next_round) {
  smart_balancer policy{balancer_settings{}};
  auto input = lopsided(30);
  input.handoffs_in_flight = 2;
  auto plan = policy.plan(input);
  BOOST_TEST(plan.moves.empty());
  BOOST_TEST(!plan.deferred.empty());
}

BOOST_AUTO_TEST_CASE(draining_worker_is_emptied_first) {
  balancer_settings config;
  config.max_moves = 2;
  smart_balancer policy{config};
  auto input = input_of({make_load("a", 40, 1, 20), make_load("b", 40, 100, 10),
                         make_load("c", 40, 200, 0)});
  input.workers[1].draining = true;
  auto plan = policy.plan(input);
  BOOST_REQUIRE_EQUAL(plan.moves.size(), 2u);
  for (const auto& move : plan.moves)
    BOOST_TEST(move.from == "b");
}

BOOST_AUTO_TEST_CASE(weight_scales_the_share) {
  smart_balancer policy{balancer_settings{}};
  auto input = input_of({make_load("a", 40, 1, 30), make_load("b", 40, 100, 0)});
  input.workers[1].weight = 2;
  auto plan = policy.plan(input);
  BOOST_TEST(plan.targets[0].target == 10u);
  BOOST_TEST(plan.targets[1].target == 20u);
  BOOST_TEST(plan.minimum_moves == 20u);
}

BOOST_AUTO_TEST_CASE(overloaded_worker_sheds_streams) {
  balancer_settings config;
  config.max_move_fraction = 1;
  smart_balancer policy{config};
  auto input = input_of({make_load("a", 40, 1, 10), make_load("b", 40, 100, 10)});
  input.workers[0].has_metrics = true;
  input.workers[0].cpu_percent = 99;
  input.workers[0].memory_percent = 95;
  input.workers[0].load_average_1m = 8;
  BOOST_TEST(policy.score(input.workers[0]) > 0.9);
  auto plan = policy.plan(input);
  BOOST_TEST(plan.targets[0].overloaded);
  BOOST_TEST(plan.reason == "performance_degradation");
  // Half the claim: a third of the streams.
  BOOST_TEST(plan.targets[0].target == 7u);
  BOOST_TEST(plan.moves.size() == 3u);
}

BOOST_AUTO_TEST_CASE(idle_workers_receive_first) {
  balancer_settings config;
  config.max_moves = 1;
  smart_balancer policy{config};
  auto input = input_of({make_load("a", 40, 1, 30), make_load("b", 40, 100, 0),
                         make_load("c", 40, 200, 0)});
  input.workers[1].has_metrics = true;
  input.workers[1].cpu_percent = 70;
  input.workers[1].memory_percent = 70;
  input.workers[2].has_metrics = true;
  input.workers[2].cpu_percent = 5;
  input.workers[2].memory_percent = 10;
  auto plan = policy.plan(input);
  BOOST_REQUIRE_EQUAL(plan.moves.size(), 1u);
  BOOST_TEST(plan.moves[0].to == "c");
}

BOOST_AUTO_TEST_CASE(score_uses_only_reported_metrics) {
  smart_balancer policy{balancer_settings{}};
  worker_load load;
  BOOST_TEST(policy.score(load) == -1.0);
  load.has_metrics = true;
  load.cpu_percent = 50;
  load.memory_percent = 50;
  // No load average: cpu and memory alone, equally weighted.
  BOOST_TEST(policy.score(load) == 0.5, boost::test_tools::tolerance(1e-9));
  load.load_average_1m = 4;
  BOOST_TEST(policy.score(load) == (0.15 + 0.15 + 0.2) / 0.8,
             boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(invalid_settings_are_rejected) {
  balancer_settings zero_budget;
  zero_budget.max_moves = 0;
  BOOST_CHECK_THROW(smart_balancer{zero_budget}, std::invalid_argument);
  balancer_settings bad_fraction;
  bad_fraction.max_move_fraction = 1.5;
  BOOST_CHECK_THROW(smart_balancer{bad_fraction}, std::invalid_argument);
  balancer_settings no_weights;
  no_weights.weights = score_weights{0, 0, 0, 1, 1};
  BOOST_CHECK_THROW(smart_balancer{no_weights}, std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
