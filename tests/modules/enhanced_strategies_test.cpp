#include <boost/test/unit_test.hpp>

#include "modules/balancer/smart_balancer.hpp"
#include "modules/failure/resilient_detector.hpp"
#include "tests/support/loads.hpp"

#include <stdexcept>

using namespace orchestrator;
using orchestrator::testing::make_load;

namespace {

std::vector<liveness> workers_seen_at(std::vector<std::int64_t> times) {
  std::vector<liveness> result;
  for (std::size_t k = 0; k < times.size(); ++k)
    result.push_back(liveness{"w" + std::to_string(k), times[k]});
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(smart_balancer_suite)

BOOST_AUTO_TEST_CASE(round_is_capped_at_budget) {
  smart_balancer policy{3};
  std::vector<worker_load> loads{make_load("a", 40, 1, 30), make_load("b", 40, 100, 0)};
  auto moves = policy.plan(loads);
  BOOST_TEST(moves.size() == 3u);
  for (const auto& move : moves) {
    BOOST_TEST(move.from == "a");
    BOOST_TEST(move.to == "b");
  }
}

BOOST_AUTO_TEST_CASE(small_plans_are_kept_whole) {
  smart_balancer policy{10};
  std::vector<worker_load> loads{make_load("a", 40, 1, 6), make_load("b", 40, 100, 0)};
  BOOST_TEST(policy.plan(loads).size() == 3u);
}

BOOST_AUTO_TEST_CASE(zero_budget_is_rejected) {
  BOOST_CHECK_THROW(smart_balancer{0}, std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(resilient_detector_suite)

BOOST_AUTO_TEST_CASE(silent_worker_is_declared_dead) {
  resilient_detector detector{1000, 100, 0.5};
  detector.verdicts(workers_seen_at({0, 0, 0}), 900);
  auto dead = detector.verdicts(workers_seen_at({0, 950, 950}), 1001);
  BOOST_REQUIRE_EQUAL(dead.size(), 1u);
  BOOST_TEST(dead[0].server_id == "w0");
}

BOOST_AUTO_TEST_CASE(no_verdict_after_own_stall) {
  resilient_detector detector{1000, 100, 0.5};
  detector.verdicts(workers_seen_at({0, 0, 0}), 100);
  // The check ran 5 s late: every worker looks silent because we were.
  BOOST_TEST(detector.verdicts(workers_seen_at({0, 4000, 4000}), 5100).empty());
  // The next check, on time, judges normally.
  BOOST_TEST(detector.verdicts(workers_seen_at({0, 5100, 5100}), 5200).size() == 1u);
}

BOOST_AUTO_TEST_CASE(mass_silence_freezes_verdicts) {
  resilient_detector detector{1000, 100, 0.5};
  detector.verdicts(workers_seen_at({0, 0, 0, 0}), 1950);
  // Three of four silent at once points at our own network.
  BOOST_TEST(detector.verdicts(workers_seen_at({0, 0, 0, 1990}), 2000).empty());
  // Two of four is within the fraction.
  BOOST_TEST(detector.verdicts(workers_seen_at({0, 0, 2000, 2000}), 2050).size() == 2u);
}

BOOST_AUTO_TEST_CASE(invalid_settings_are_rejected) {
  BOOST_CHECK_THROW((resilient_detector{0, 100, 0.5}), std::invalid_argument);
  BOOST_CHECK_THROW((resilient_detector{1000, 100, 1.5}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
