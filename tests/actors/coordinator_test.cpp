#include <boost/test/unit_test.hpp>

#include "actors/coordinator.hpp"
#include "actors/errors.hpp"
#include "actors/store_actor.hpp"
#include "tests/support/fault_store.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/all.hpp>

using namespace orchestrator;
using namespace std::chrono_literals;

namespace {

/// A coordinator and a store actor over a fault_store in a temporary folder.
struct coordinator_fixture {
  testing::temp_dir dir;
  std::shared_ptr<testing::store_faults> faults
    = std::make_shared<testing::store_faults>();
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  caf::actor store;
  caf::actor coordinator;

  coordinator_fixture() {
    config.set("scheduler.max-threads", 2);
    system = std::make_unique<caf::actor_system>(config);
  }

  ~coordinator_fixture() {
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    // The system waits for the detached store thread, which ends only when
    // no handle to the store is left.
    coordinator = caf::actor{};
    store = caf::actor{};
    system.reset();
  }

  void start() {
    auto path = dir.file("state.db");
    auto faults_copy = faults;
    store_factory open = [path, faults_copy]() -> caf::expected<std::unique_ptr<orchestrator::store>> {
      auto inner = sqlite_store::open(path);
      if (!inner)
        return inner.error();
      return std::unique_ptr<orchestrator::store>{
        new testing::fault_store(std::move(*inner), faults_copy)};
    };
    store = system->spawn<caf::detached>(store_actor, open,
                                         std::chrono::milliseconds{0});
    peers handles;
    handles.set(role::store, store);
    settings s;
    s.heartbeat_check_interval = 3600s;
    coordinator = system->spawn(coordinator_actor, s, handles,
                                std::shared_ptr<heartbeat_board>{});
  }

  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts... xs) {
    caf::scoped_actor self{*system};
    caf::expected<Reply> result{caf::error{}};
    self->request(coordinator, 5s, xs...)
      .receive([&](Reply& reply) { result = std::move(reply); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Asks until the coordinator has loaded its state.
  void wait_until_loaded() {
    for (int attempt = 0; attempt < 200; ++attempt) {
      auto summary = ask<cluster_summary>(caf::get_atom::value,
                                          atoms::summary_atom::value);
      if (summary)
        return;
      std::this_thread::sleep_for(10ms);
    }
    BOOST_FAIL("the coordinator never loaded its state");
  }
};

std::vector<stream_row> catalog(int count) {
  std::vector<stream_row> rows;
  for (int id = 1; id <= count; ++id)
    rows.push_back(stream_row{id, "http://s/" + std::to_string(id), "", "{}"});
  return rows;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(coordinator_suite, coordinator_fixture)

BOOST_AUTO_TEST_CASE(requests_before_load_are_not_ready) {
  faults->load_delay_ms = 500;
  start();
  auto early = ask<register_reply>(atoms::register_atom::value,
                                   registration{"a", "h", 1, 5});
  BOOST_REQUIRE(!early);
  BOOST_TEST(is(early.error(), errc::not_ready));
  wait_until_loaded();
  auto later = ask<register_reply>(atoms::register_atom::value,
                                   registration{"a", "h", 1, 5});
  BOOST_TEST(bool(later));
}

BOOST_AUTO_TEST_CASE(failed_commit_rolls_back_and_reports) {
  start();
  wait_until_loaded();
  BOOST_REQUIRE(ask<catalog_result>(caf::put_atom::value, catalog(10)));
  BOOST_REQUIRE(ask<register_reply>(atoms::register_atom::value,
                                    registration{"a", "h", 1, 5}));

  faults->fail_commits = true;
  auto failed = ask<assign_reply>(atoms::assign_atom::value,
                                  assign_request{"a", 3});
  BOOST_REQUIRE(!failed);
  BOOST_TEST(is(failed.error(), errc::store_unavailable));
  auto summary = ask<cluster_summary>(caf::get_atom::value,
                                      atoms::summary_atom::value);
  BOOST_REQUIRE(summary);
  BOOST_TEST(summary->streams_assigned == 0u);
  BOOST_TEST(!summary->store_available);
  BOOST_TEST(summary->store_error.find("injected") != std::string::npos);

  faults->fail_commits = false;
  auto retried = ask<assign_reply>(atoms::assign_atom::value,
                                   assign_request{"a", 3});
  BOOST_REQUIRE(retried);
  BOOST_TEST(retried->assigned.size() == 3u);
  summary = ask<cluster_summary>(caf::get_atom::value,
                                 atoms::summary_atom::value);
  BOOST_REQUIRE(summary);
  BOOST_TEST(summary->store_available);
}

BOOST_AUTO_TEST_CASE(concurrent_writes_share_commits) {
  start();
  wait_until_loaded();
  auto before = faults->commits.load();
  constexpr int workers = 200;
  caf::scoped_actor self{*system};
  for (int k = 0; k < workers; ++k)
    self->send(coordinator, atoms::register_atom::value,
               registration{"w" + std::to_string(k), "h", 1, 5});
  int acknowledged = 0;
  for (int k = 0; k < workers; ++k)
    self->receive([&](register_reply&) { ++acknowledged; },
                  [&](caf::error& err) { BOOST_FAIL(describe(err)); },
                  caf::after(5s) >> [] { BOOST_FAIL("no reply"); });
  BOOST_TEST(acknowledged == workers);
  auto commits = faults->commits.load() - before;
  BOOST_TEST_MESSAGE("registrations=" << workers << " commits=" << commits);
  BOOST_TEST(commits < workers);
}

BOOST_AUTO_TEST_SUITE_END()
