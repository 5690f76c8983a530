// The resilient failure detector on scripted heartbeat schedules with a
// fake clock, and the circuit breaker, backoff and retry budget that guard
// calls to the store.

#include <boost/test/unit_test.hpp>

#include "modules/failure/circuit_breaker.hpp"
#include "modules/failure/resilient_detector.hpp"

#include <cmath>
#include <map>
#include <random>

using namespace orchestrator;

namespace {

/// Heartbeat times of simulated workers, turned into what the registry
/// reports at a given time.
class schedule {
public:
  void beat(const std::string& id, std::int64_t at_ms) {
    beats_[id].push_back(at_ms);
  }

  /// Beats every `interval_ms` from `from_ms` until before `to_ms`, each
  /// shifted by up to `jitter_ms` either way.
  void regular(const std::string& id, std::int64_t from_ms, std::int64_t to_ms,
               std::int64_t interval_ms, std::int64_t jitter_ms = 0) {
    std::mt19937 random{42};
    std::uniform_int_distribution<std::int64_t> shift{-jitter_ms, jitter_ms};
    for (auto t = from_ms; t < to_ms; t += interval_ms)
      beat(id, t + (jitter_ms > 0 ? shift(random) : 0));
  }

  std::vector<liveness> at(std::int64_t now_ms) const {
    std::vector<liveness> result;
    for (const auto& [id, times] : beats_) {
      std::vector<std::int64_t> seen;
      for (auto t : times)
        if (t <= now_ms)
          seen.push_back(t);
      if (seen.empty())
        continue;
      liveness w{id, seen.back()};
      std::vector<double> intervals;
      for (std::size_t k = 1; k < seen.size(); ++k)
        intervals.push_back(static_cast<double>(seen[k] - seen[k - 1]));
      if (intervals.size() > 64)
        intervals.erase(intervals.begin(), intervals.end() - 64);
      w.intervals = static_cast<std::uint32_t>(intervals.size());
      if (!intervals.empty()) {
        double sum = 0;
        for (auto i : intervals)
          sum += i;
        w.interval_mean_ms = sum / intervals.size();
        double squares = 0;
        for (auto i : intervals)
          squares += (i - w.interval_mean_ms) * (i - w.interval_mean_ms);
        w.interval_stddev_ms = std::sqrt(squares / intervals.size());
      }
      result.push_back(w);
    }
    return result;
  }

private:
  std::map<std::string, std::vector<std::int64_t>> beats_;
};

resilient_settings fast_checks() {
  resilient_settings result;
  result.heartbeat_timeout_ms = 300'000;
  result.check_interval_ms = 100;
  return result;
}

/// Checks every 100 ms from `from_ms` to `to_ms` and returns the first time
/// `id` is declared dead, or -1.
std::int64_t death_time(resilient_detector& detector, const schedule& beats,
                        const std::string& id, std::int64_t from_ms,
                        std::int64_t to_ms) {
  for (auto now = from_ms; now <= to_ms; now += 100)
    for (const auto& w : detector.assess(beats.at(now), now, now).dead)
      if (w.server_id == id)
        return now;
  return -1;
}

} // namespace

BOOST_AUTO_TEST_SUITE(phi_accrual)

BOOST_AUTO_TEST_CASE(phi_grows_with_silence) {
  // At the mean, a heartbeat is as likely late as early: p = 0.5.
  BOOST_TEST(phi_of(1000, 1000, 100) == -std::log10(0.5),
             boost::test_tools::tolerance(1e-3));
  BOOST_TEST(phi_of(500, 1000, 100) < 0.01);
  double previous = 0;
  for (double silence = 1000; silence <= 3000; silence += 100) {
    double phi = phi_of(silence, 1000, 100);
    BOOST_TEST(phi > previous);
    previous = phi;
  }
  // Very long silences stay finite.
  BOOST_TEST(std::isfinite(phi_of(1e9, 1000, 100)));
}

BOOST_AUTO_TEST_CASE(regular_worker_dies_within_five_seconds) {
  schedule beats;
  beats.regular("w", 0, 30'001, 1000);
  resilient_detector detector{fast_checks()};
  auto dead = death_time(detector, beats, "w", 100, 60'000);
  BOOST_REQUIRE(dead > 0);
  auto silence = dead - 30'000;
  BOOST_TEST(silence >= 4'000);
  BOOST_TEST(silence <= 5'000);
}

BOOST_AUTO_TEST_CASE(two_second_pause_is_survived) {
  schedule beats;
  beats.regular("w", 0, 20'001, 1000);
  // Paused for 2 s: the next beat comes 3 s after the last one.
  beats.regular("w", 23'000, 60'001, 1000);
  resilient_detector detector{fast_checks()};
  BOOST_TEST(death_time(detector, beats, "w", 100, 60'000) == -1);
}

BOOST_AUTO_TEST_CASE(jittery_worker_is_not_condemned) {
  schedule beats;
  beats.regular("w", 0, 600'000, 1000, 300);
  resilient_detector detector{fast_checks()};
  BOOST_TEST(death_time(detector, beats, "w", 100, 599'000) == -1);
  auto dead = death_time(detector, beats, "w", 599'100, 620'000);
  BOOST_REQUIRE(dead > 0);
  BOOST_TEST(dead - 599'300 <= 6'000);
}

BOOST_AUTO_TEST_CASE(slow_worker_survives_ninety_second_gap) {
  schedule beats;
  beats.regular("w", 0, 600'001, 60'000);
  beats.regular("w", 690'000, 900'001, 60'000);
  resilient_detector detector{fast_checks()};
  BOOST_TEST(death_time(detector, beats, "w", 100, 900'000) == -1);
  // Silent for good after the beat at 870 s: dead after more than 90 s,
  // well before the 300 s hard bound.
  auto dead = death_time(detector, beats, "w", 900'100, 1'300'000);
  BOOST_REQUIRE(dead > 0);
  BOOST_TEST(dead - 870'000 < 300'000);
  BOOST_TEST(dead - 870'000 > 90'000);
}

BOOST_AUTO_TEST_CASE(new_worker_waits_for_hard_timeout) {
  schedule beats;
  beats.beat("w", 0);
  beats.beat("w", 1000);
  auto config = fast_checks();
  config.heartbeat_timeout_ms = 20'000;
  resilient_detector detector{config};
  // One interval is too few to learn from: only the 20 s bound applies.
  auto dead = death_time(detector, beats, "w", 1100, 40'000);
  BOOST_TEST(dead == 21'100);
}

BOOST_AUTO_TEST_CASE(suspect_worker_that_returns_is_kept) {
  schedule beats;
  beats.regular("w", 0, 20'001, 1000);
  beats.regular("w", 24'300, 40'001, 1000);
  resilient_detector detector{fast_checks()};
  bool was_suspect = false;
  for (std::int64_t now = 100; now <= 40'000; now += 100) {
    auto verdict = detector.assess(beats.at(now), now, now);
    BOOST_REQUIRE(verdict.dead.empty());
    was_suspect = was_suspect || !verdict.suspect.empty();
  }
  BOOST_TEST(was_suspect);
  BOOST_TEST(detector.status().workers.at(0).state == "active");
}

BOOST_AUTO_TEST_CASE(late_check_condemns_nobody) {
  schedule beats;
  beats.regular("w", 0, 10'001, 1000);
  resilient_detector detector{fast_checks()};
  for (std::int64_t now = 100; now <= 10'000; now += 100)
    detector.assess(beats.at(now), now, now);
  // The next check comes 20 s late: every worker looks silent.
  auto verdict = detector.assess(beats.at(30'000), 30'000, 30'000);
  BOOST_TEST(verdict.stalled);
  BOOST_TEST(verdict.dead.empty());
  BOOST_TEST(detector.status().stalled_rounds == 1u);
  // Back on schedule, the silent worker is judged again, after its grace
  // period as a suspect.
  BOOST_TEST(detector.assess(beats.at(30'100), 30'100, 30'100).dead.empty());
  BOOST_TEST(death_time(detector, beats, "w", 30'200, 31'000) == 30'300);
}

BOOST_AUTO_TEST_CASE(mass_suspicion_freezes_until_lifted) {
  schedule beats;
  for (const char* id : {"a", "b", "c"})
    beats.regular(id, 0, 10'001, 1000);
  beats.regular("d", 0, 60'001, 1000);
  resilient_detector detector{fast_checks()};
  // Three of four workers fall silent at once: nobody is declared dead.
  BOOST_TEST(death_time(detector, beats, "a", 100, 30'000) == -1);
  auto status = detector.status();
  BOOST_TEST(status.frozen);
  BOOST_TEST(status.freeze_reason == "3 of 4 workers are suspect at once");

  BOOST_TEST(detector.lift_freeze());
  auto verdict = detector.assess(beats.at(30'100), 30'100, 30'100);
  BOOST_TEST(verdict.dead.size() == 3u);
}

BOOST_AUTO_TEST_CASE(freeze_ends_when_workers_return) {
  schedule beats;
  for (const char* id : {"a", "b", "c"}) {
    beats.regular(id, 0, 10'001, 1000);
    beats.regular(id, 15'000, 40'001, 1000);
  }
  beats.regular("d", 0, 40'001, 1000);
  resilient_detector detector{fast_checks()};
  bool frozen = false;
  for (std::int64_t now = 100; now <= 40'000; now += 100) {
    BOOST_REQUIRE(detector.assess(beats.at(now), now, now).dead.empty());
    frozen = frozen || detector.status().frozen;
  }
  BOOST_TEST(frozen);
  BOOST_TEST(!detector.status().frozen);
  BOOST_TEST(!detector.lift_freeze());
}

BOOST_AUTO_TEST_CASE(flapping_worker_gets_growing_quarantine) {
  auto config = fast_checks();
  config.quarantine_base_ms = 30'000;
  config.quarantine_max_ms = 100'000;
  config.flap_window_ms = 600'000;
  resilient_detector detector{config};
  BOOST_TEST(detector.record_death("w", 0) == 0);
  BOOST_TEST(detector.record_death("w", 60'000) == 30'000);
  BOOST_TEST(detector.record_death("w", 120'000) == 60'000);
  BOOST_TEST(detector.record_death("w", 180'000) == 100'000);
  // Deaths older than the window no longer count.
  BOOST_TEST(detector.record_death("w", 900'000) == 0);
  BOOST_TEST(detector.record_death("w", 960'000) == 30'000);
  detector.forgive("w");
  BOOST_TEST(detector.record_death("w", 961'000) == 0);
}

BOOST_AUTO_TEST_CASE(checks_run_at_least_every_quarter_second) {
  auto config = fast_checks();
  config.check_interval_ms = 30'000;
  resilient_detector detector{config};
  BOOST_TEST(detector.check_interval_ms() == 250);
  BOOST_TEST(detector.verdict_reason() == "phi_accrual");
  config.check_interval_ms = 50;
  BOOST_TEST(resilient_detector{config}.check_interval_ms() == 50);
}

BOOST_AUTO_TEST_CASE(invalid_settings_are_rejected) {
  auto bad_phi = fast_checks();
  bad_phi.phi_suspect = 10;
  BOOST_CHECK_THROW(resilient_detector{bad_phi}, std::invalid_argument);
  auto bad_fraction = fast_checks();
  bad_fraction.max_suspect_fraction = 1.5;
  BOOST_CHECK_THROW(resilient_detector{bad_fraction}, std::invalid_argument);
  auto bad_timeout = fast_checks();
  bad_timeout.heartbeat_timeout_ms = 0;
  BOOST_CHECK_THROW(resilient_detector{bad_timeout}, std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(circuit_breaker_suite)

BOOST_AUTO_TEST_CASE(opens_after_threshold_failures) {
  circuit_breaker breaker{breaker_settings{3, 1000, 1, 1, 500}};
  for (int k = 0; k < 2; ++k) {
    BOOST_TEST(breaker.allow(0));
    breaker.record_failure(0);
  }
  BOOST_TEST(std::string{to_string(breaker.current(0))} == "closed");
  // A success resets the count.
  breaker.record_success(0);
  for (int k = 0; k < 3; ++k)
    breaker.record_failure(10);
  BOOST_TEST(std::string{to_string(breaker.current(10))} == "open");
  BOOST_TEST(!breaker.allow(20));
  BOOST_TEST(breaker.retry_after_ms(20) == 990);
}

BOOST_AUTO_TEST_CASE(half_open_bounds_probes_then_closes) {
  circuit_breaker breaker{breaker_settings{1, 1000, 2, 2, 500}};
  breaker.record_failure(0);
  BOOST_TEST(!breaker.allow(999));
  BOOST_TEST(breaker.allow(1000));
  BOOST_TEST(std::string{to_string(breaker.current(1000))} == "half_open");
  BOOST_TEST(breaker.allow(1001));
  BOOST_TEST(!breaker.allow(1002));
  breaker.record_success(1010);
  BOOST_TEST(std::string{to_string(breaker.current(1010))} == "half_open");
  breaker.record_success(1020);
  BOOST_TEST(std::string{to_string(breaker.current(1020))} == "closed");
}

BOOST_AUTO_TEST_CASE(failed_probe_opens_again) {
  circuit_breaker breaker{breaker_settings{1, 1000, 1, 1, 500}};
  breaker.record_failure(0);
  BOOST_TEST(breaker.allow(1000));
  breaker.record_failure(1100);
  BOOST_TEST(std::string{to_string(breaker.current(1100))} == "open");
  BOOST_TEST(breaker.retry_after_ms(1100) == 1000);
}

BOOST_AUTO_TEST_CASE(half_open_has_a_time_limit) {
  circuit_breaker breaker{breaker_settings{1, 1000, 1, 1, 500}};
  breaker.record_failure(0);
  BOOST_TEST(breaker.allow(1000));
  // The probe never reports back: after 500 ms in half-open it opens.
  BOOST_TEST(std::string{to_string(breaker.current(1501))} == "open");
  BOOST_TEST(!breaker.allow(1502));
  BOOST_TEST(breaker.allow(2501));
}

BOOST_AUTO_TEST_CASE(invalid_settings_are_rejected) {
  BOOST_CHECK_THROW((circuit_breaker{breaker_settings{0, 1000, 1, 1, 500}}),
                    std::invalid_argument);
  BOOST_CHECK_THROW((circuit_breaker{breaker_settings{1, 1000, 0, 1, 500}}),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(retry_policy)

BOOST_AUTO_TEST_CASE(backoff_stays_within_bounds) {
  std::mt19937_64 random{7};
  backoff_settings config{100, 1000, true};
  for (std::uint32_t attempt = 1; attempt <= 10; ++attempt) {
    auto ceiling = std::min<std::int64_t>(100 << (attempt - 1), 1000);
    std::int64_t largest = 0;
    for (int k = 0; k < 2000; ++k) {
      auto delay = backoff_delay_ms(config, attempt, random);
      BOOST_REQUIRE_GE(delay, 0);
      BOOST_REQUIRE_LE(delay, ceiling);
      largest = std::max(largest, delay);
    }
    // Full jitter spreads delays over the whole range.
    BOOST_TEST(largest > ceiling * 9 / 10);
  }
  backoff_settings fixed{100, 1000, false};
  for (int k = 0; k < 100; ++k)
    BOOST_REQUIRE_LE(backoff_delay_ms(fixed, 8, random), 100);
}

BOOST_AUTO_TEST_CASE(budget_limits_retries) {
  retry_budget budget{0.25, 3};
  // The saved-up retries go first, then none until calls succeed: four
  // successes earn one retry.
  for (int k = 0; k < 3; ++k)
    BOOST_TEST(budget.try_spend());
  BOOST_TEST(!budget.try_spend());
  for (int k = 0; k < 3; ++k)
    budget.record_success();
  BOOST_TEST(!budget.try_spend());
  budget.record_success();
  BOOST_TEST(budget.try_spend());
  // Successes never save more than the capacity.
  for (int k = 0; k < 1000; ++k)
    budget.record_success();
  BOOST_TEST(budget.tokens() == 3.0);
}

BOOST_AUTO_TEST_SUITE_END()
