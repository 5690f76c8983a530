// The system_metrics module against this machine's own figures, and the
// metrics actor's newest sample per worker.

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
#include <map>
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

BOOST_AUTO_TEST_SUITE(metrics_latest)

namespace {

metrics_sample sample_at(std::int64_t recorded_at_ms, double cpu) {
  metrics_sample sample;
  sample.cpu_percent = cpu;
  sample.recorded_at_ms = recorded_at_ms;
  return sample;
}

/// Returns the actor's reply to (get, latest, since_ms), by worker.
std::map<std::string, metrics_sample> latest_of(caf::scoped_actor& self,
                                                const caf::actor& metrics,
                                                std::int64_t since_ms) {
  std::map<std::string, metrics_sample> result;
  self->request(metrics, std::chrono::seconds{5}, caf::get_atom::value,
                atoms::latest_atom::value, since_ms)
    .receive(
      [&](std::vector<worker_sample>& samples) {
        for (auto& s : samples)
          result[s.server_id] = s.sample;
      },
      [&](caf::error& err) { BOOST_FAIL(describe(err)); });
  return result;
}

} // namespace

BOOST_AUTO_TEST_CASE(keeps_only_each_workers_newest_sample) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  auto metrics = system.spawn(metrics_actor, std::shared_ptr<host_metrics>{},
                              std::chrono::milliseconds{1000},
                              std::chrono::milliseconds{3'600'000});
  caf::scoped_actor self{system};
  auto now = now_instant().wall_ms;
  for (std::int64_t k = 1; k <= 2000; ++k)
    self->send(metrics, atoms::record_atom::value, std::string{"w1"},
               sample_at(now - 2000 + k, static_cast<double>(k % 100)));
  self->send(metrics, atoms::record_atom::value, std::string{"w2"},
             sample_at(now - 5000, 7));

  auto latest = latest_of(self, metrics, 0);
  BOOST_REQUIRE_EQUAL(latest.size(), 2u);
  BOOST_TEST(latest["w1"].recorded_at_ms == now);
  BOOST_TEST(latest["w1"].cpu_percent == 0.0);
  BOOST_TEST(latest["w2"].cpu_percent == 7.0);

  // A sample older than `since` is left out, its worker with it.
  auto recent = latest_of(self, metrics, now - 1000);
  BOOST_REQUIRE_EQUAL(recent.size(), 1u);
  BOOST_TEST(recent.count("w1") == 1u);

  // Without the module the actor reports no host metrics.
  self->request(metrics, std::chrono::seconds{5}, caf::get_atom::value,
                atoms::host_atom::value)
    .receive([&](metrics_sample&) { BOOST_FAIL("host metrics without a source"); },
             [&](caf::error& err) { BOOST_TEST(is(err, errc::unavailable)); });
  self->send_exit(metrics, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(forgets_workers_silent_for_longer_than_forget_after) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  auto metrics = system.spawn(metrics_actor, std::shared_ptr<host_metrics>{},
                              std::chrono::milliseconds{1000},
                              std::chrono::milliseconds{3'600'000});
  caf::scoped_actor self{system};
  auto now = now_instant().wall_ms;
  // The first sample starts a scan, which finds this one already too old.
  self->send(metrics, atoms::record_atom::value, std::string{"gone"},
             sample_at(now - 2 * 3'600'000, 10));
  self->send(metrics, atoms::record_atom::value, std::string{"alive"},
             sample_at(now, 20));
  self->send(metrics, atoms::record_atom::value, std::string{"recent"},
             sample_at(now - 1'800'000, 30));

  auto latest = latest_of(self, metrics, 0);
  BOOST_TEST(latest.count("gone") == 0u);
  BOOST_TEST(latest.count("alive") == 1u);
  BOOST_TEST(latest.count("recent") == 1u);
  self->send_exit(metrics, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
