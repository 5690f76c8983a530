// The system_metrics module against this machine's own figures, and the
// metrics actor's bounded history of worker samples.

#include <boost/test/unit_test.hpp>

#include "actors/errors.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "modules/metrics/host_metrics.hpp"
#include "modules/module_loader.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <sys/statvfs.h>

#include <fstream>
#include <string>

using namespace orchestrator;

namespace {

/// Reads one "Key: value kB" line of /proc/meminfo, in GiB.
double meminfo_gib(const std::string& key) {
  std::ifstream in{"/proc/meminfo"};
  std::string name;
  double kib = 0;
  std::string unit;
  while (in >> name >> kib >> unit)
    if (name == key + ":")
      return kib / (1024.0 * 1024.0);
  return -1;
}

std::shared_ptr<host_metrics> load_system_metrics(const std::string& disk_path) {
  auto library = load_module(std::string{MODULES_BUILD_DIR} + "/system_metrics.so",
                             "system_metrics", "metrics");
  BOOST_REQUIRE_MESSAGE(library, (library ? "" : describe(library.error())));
  auto settings = nlohmann::json{{"data_dir", disk_path}}.dump();
  auto source = create_strategy<host_metrics>(*library, settings);
  BOOST_REQUIRE_MESSAGE(source, (source ? "" : describe(source.error())));
  return *source;
}

} // namespace

BOOST_AUTO_TEST_SUITE(system_metrics_module)

BOOST_AUTO_TEST_CASE(sample_matches_this_machine) {
  auto source = load_system_metrics("/");
  auto first = source->sample();
  BOOST_REQUIRE_MESSAGE(first, (first ? "" : describe(first.error())));
  // The CPU share is measured between two samples.
  auto sample = source->sample();
  BOOST_REQUIRE_MESSAGE(sample, (sample ? "" : describe(sample.error())));

  BOOST_TEST(sample->cpu_percent >= 0.0);
  BOOST_TEST(sample->cpu_percent <= 100.0);

  auto total = meminfo_gib("MemTotal");
  BOOST_TEST(sample->memory_total_gb == total, boost::test_tools::tolerance(0.02));
  BOOST_TEST(sample->memory_used_gb > 0.0);
  BOOST_TEST(sample->memory_used_gb <= sample->memory_total_gb);
  BOOST_TEST(sample->memory_percent > 0.0);
  BOOST_TEST(sample->memory_percent <= 100.0);

  struct statvfs fs {};
  BOOST_REQUIRE(statvfs("/", &fs) == 0);
  double disk_total = double(fs.f_blocks) * fs.f_frsize / (1024.0 * 1024.0 * 1024.0);
  BOOST_TEST(sample->disk_total_gb == disk_total, boost::test_tools::tolerance(0.01));
  BOOST_TEST(sample->disk_free_gb <= sample->disk_total_gb);
  BOOST_TEST(sample->disk_percent >= 0.0);
  BOOST_TEST(sample->disk_percent <= 100.0);

  BOOST_REQUIRE_EQUAL(sample->load_average.size(), 3u);
  std::ifstream loadavg{"/proc/loadavg"};
  double one_minute = 0;
  loadavg >> one_minute;
  // Both readings are a moment apart; the 1-minute average moves slowly.
  BOOST_TEST(std::abs(sample->load_average[0] - one_minute) < 1.0);

  std::ifstream uptime_file{"/proc/uptime"};
  double uptime = 0;
  uptime_file >> uptime;
  BOOST_TEST(std::abs(sample->uptime_seconds - uptime) < 5.0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metrics_history)

BOOST_AUTO_TEST_CASE(history_is_bounded_and_newest_first) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  auto metrics = system.spawn(metrics_actor, std::shared_ptr<host_metrics>{},
                              std::chrono::milliseconds{1000});
  caf::scoped_actor self{system};
  auto total = static_cast<std::int64_t>(max_samples_per_worker) + 100;
  for (std::int64_t k = 1; k <= total; ++k) {
    metrics_sample sample;
    sample.cpu_percent = static_cast<double>(k % 100);
    sample.recorded_at_ms = k * 1000;
    self->send(metrics, atoms::record_atom::value, std::string{"w1"}, sample);
  }

  std::vector<metrics_sample> all;
  self->request(metrics, std::chrono::seconds{5}, caf::get_atom::value,
                atoms::history_atom::value, std::string{"w1"}, std::int64_t{0})
    .receive([&](std::vector<metrics_sample>& samples) { all = std::move(samples); },
             [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(all.size() == max_samples_per_worker);
  BOOST_TEST(all.front().recorded_at_ms == total * 1000);
  BOOST_TEST(all.back().recorded_at_ms == (total - static_cast<std::int64_t>(max_samples_per_worker) + 1) * 1000);

  std::vector<metrics_sample> recent;
  self->request(metrics, std::chrono::seconds{5}, caf::get_atom::value,
                atoms::history_atom::value, std::string{"w1"},
                std::int64_t{(total - 9) * 1000})
    .receive([&](std::vector<metrics_sample>& samples) { recent = std::move(samples); },
             [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_TEST(recent.size() == 10u);

  std::vector<worker_sample> latest;
  self->request(metrics, std::chrono::seconds{5}, caf::get_atom::value,
                atoms::latest_atom::value, std::int64_t{0})
    .receive([&](std::vector<worker_sample>& samples) { latest = std::move(samples); },
             [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  BOOST_REQUIRE_EQUAL(latest.size(), 1u);
  BOOST_TEST(latest[0].sample.recorded_at_ms == total * 1000);

  // Without the module the actor reports no host metrics.
  self->request(metrics, std::chrono::seconds{5}, caf::get_atom::value,
                atoms::host_atom::value)
    .receive([&](metrics_sample&) { BOOST_FAIL("host metrics without a source"); },
             [&](caf::error& err) { BOOST_TEST(is(err, errc::unavailable)); });
  self->send_exit(metrics, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
