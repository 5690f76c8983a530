#include <boost/test/unit_test.hpp>

#include "modules/failure/timeout_detector.hpp"

using namespace orchestrator;

BOOST_AUTO_TEST_SUITE(timeout_detector_suite)

BOOST_AUTO_TEST_CASE(silent_past_timeout_is_dead) {
  timeout_detector detector{10'000};
  std::vector<liveness> workers{{"fresh", 95'000}, {"edge", 90'000},
                                {"silent", 89'999}};
  auto verdicts = detector.assess(workers, 100'000, 0).dead;
  BOOST_REQUIRE_EQUAL(verdicts.size(), 1u);
  BOOST_TEST(verdicts[0].server_id == "silent");
  BOOST_TEST(verdicts[0].last_seen_steady_ms == 89'999);
  BOOST_TEST(detector.status().method == "basic");
  BOOST_TEST(!detector.status().frozen);
}

BOOST_AUTO_TEST_SUITE_END()
