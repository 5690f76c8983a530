#include <boost/test/unit_test.hpp>

#include "actors/errors.hpp"
#include "actors/gateway.hpp"
#include "actors/supervisor.hpp"
#include "modules/module_loader.hpp"
#include "modules/store/sqlite_store.hpp"
#include "net/actor_bridge.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/all.hpp>

#include <future>

using namespace orchestrator;
using namespace std::chrono_literals;

namespace {

/// A whole actor tree of basic roles on a real SQLite file.
struct supervisor_fixture {
  testing::temp_dir dir;
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  caf::actor gateway;
  caf::actor supervisor;
  std::unique_ptr<actor_bridge> bridge;

  supervisor_fixture() {
    config.set("scheduler.max-threads", 2);
    system = std::make_unique<caf::actor_system>(config);
    gateway = system->spawn(gateway_actor);
    bridge = std::make_unique<actor_bridge>(gateway, 2000ms);
  }

  ~supervisor_fixture() {
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    bridge.reset();
    supervisor = caf::actor{};
    gateway = caf::actor{};
    system.reset();
  }

  void start(std::vector<child_spec> extra = {},
             std::vector<module_candidate> modules = {}) {
    settings s;
    s.heartbeat_check_interval = 3600s;
    s.rebalance_interval = 0ms;
    auto path = dir.file("state.db");
    store_factory open = [path]() -> caf::expected<std::unique_ptr<store>> {
      auto opened = sqlite_store::open(path);
      if (!opened)
        return opened.error();
      return std::unique_ptr<store>{std::move(*opened)};
    };
    // A replacement takes the place of the basic child of the same role.
    auto children = standard_children(s, open);
    for (auto& replacement : extra)
      for (auto& child : children)
        if (child.name == replacement.name)
          child = replacement;
    supervisor = system->spawn(supervisor_actor, std::move(children),
                               std::move(modules), restart_policy{3, 5000ms},
                               gateway);
  }

  template <class Reply, class... Ts>
  caf::expected<Reply> ask(role target, Ts... xs) {
    auto outcome = std::make_shared<std::promise<caf::expected<Reply>>>();
    auto future = outcome->get_future();
    bridge->ask<Reply>(
      target,
      [outcome](caf::expected<Reply> reply) { outcome->set_value(std::move(reply)); },
      xs...);
    if (future.wait_for(5s) != std::future_status::ready)
      return make_error(errc::unavailable, "no reply within 5 s");
    return future.get();
  }

  /// Requests from the coordinator until it replies, for up to two seconds.
  template <class Reply, class... Ts>
  caf::expected<Reply> ask_until_ready(Ts... xs) {
    caf::expected<Reply> result{caf::error{}};
    for (int attempt = 0; attempt < 200; ++attempt) {
      result = ask<Reply>(role::coordinator, xs...);
      if (result || !(is(result.error(), errc::not_ready)
                      || is(result.error(), errc::unavailable)))
        return result;
      std::this_thread::sleep_for(10ms);
    }
    return result;
  }

  /// Kills the current actor of `target` as a crash would.
  void kill(role target) {
    gateway_job job = [](caf::event_based_actor* self, const caf::actor& handle) {
      if (handle)
        self->send_exit(handle, caf::exit_reason::kill);
    };
    caf::anon_send(gateway, atoms::route_atom::value, target, std::move(job));
  }

  role_status status_of(const std::string& name) {
    caf::scoped_actor self{*system};
    role_status result;
    self->request(supervisor, 2s, caf::get_atom::value, atoms::roles_atom::value)
      .receive(
        [&](std::vector<role_status>& roles) {
          for (auto& r : roles)
            if (r.role == name)
              result = r;
        },
        [&](caf::error& err) { BOOST_FAIL(describe(err)); });
    return result;
  }

  /// Polls until `name` reports `restarts` restarts or `state`.
  role_status wait_for(const std::string& name, std::uint32_t restarts,
                       const std::string& state = "running") {
    role_status current;
    for (int attempt = 0; attempt < 300; ++attempt) {
      current = status_of(name);
      if (current.restarts >= restarts && current.state == state)
        return current;
      std::this_thread::sleep_for(10ms);
    }
    return current;
  }
};

/// Stops at start with an error, as an enhanced variant with a bad
/// configuration would.
caf::behavior failing_start_actor(caf::event_based_actor* self) {
  self->quit(make_error(errc::unavailable, "configuration missing"));
  return {};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(supervisor_suite, supervisor_fixture)

BOOST_AUTO_TEST_CASE(crashed_coordinator_restarts_with_state) {
  start();
  std::vector<stream_row> rows;
  for (int id = 1; id <= 10; ++id)
    rows.push_back(stream_row{id, "http://s/" + std::to_string(id), "", "{}"});
  BOOST_REQUIRE(ask_until_ready<catalog_result>(caf::put_atom::value, rows));
  BOOST_REQUIRE(ask_until_ready<register_reply>(atoms::register_atom::value,
                                                registration{"a", "h", 1, 5}));
  auto assigned = ask_until_ready<assign_reply>(atoms::assign_atom::value,
                                                assign_request{"a", 4});
  BOOST_REQUIRE(assigned);

  kill(role::coordinator);
  auto status = wait_for("coordinator", 1);
  BOOST_TEST(status.restarts == 1u);
  BOOST_TEST(status.state == "running");

  auto view = ask_until_ready<worker_view>(caf::get_atom::value,
                                           atoms::worker_atom::value,
                                           std::string{"a"});
  BOOST_REQUIRE(view);
  BOOST_REQUIRE_EQUAL(view->owned.size(), assigned->owned.size());
  for (std::size_t k = 0; k < view->owned.size(); ++k) {
    BOOST_TEST(view->owned[k].stream_id == assigned->owned[k].stream_id);
    BOOST_TEST(view->owned[k].epoch == assigned->owned[k].epoch);
  }
}

BOOST_AUTO_TEST_CASE(crashed_store_restarts) {
  start();
  BOOST_REQUIRE(ask_until_ready<register_reply>(atoms::register_atom::value,
                                                registration{"a", "h", 1, 5}));
  kill(role::store);
  BOOST_TEST(wait_for("store", 1).restarts == 1u);
  // The coordinator learns the new store handle and writes through it.
  auto again = ask_until_ready<register_reply>(atoms::register_atom::value,
                                               registration{"b", "h", 1, 5});
  BOOST_TEST(bool(again));
}

BOOST_AUTO_TEST_CASE(repeated_crashes_mark_role_failed) {
  start();
  BOOST_REQUIRE(ask_until_ready<cluster_summary>(caf::get_atom::value,
                                                 atoms::summary_atom::value));
  for (std::uint32_t k = 1; k <= 3; ++k) {
    kill(role::balancer);
    BOOST_REQUIRE_EQUAL(wait_for("balancer", k).restarts, k);
  }
  kill(role::balancer);
  auto status = wait_for("balancer", 3, "failed");
  BOOST_TEST(status.state == "failed");
  BOOST_TEST(!status.error.empty());

  // The server stays up without the role: other roles still reply, and
  // requests for the failed one fail fast.
  BOOST_TEST(bool(ask_until_ready<cluster_summary>(caf::get_atom::value,
                                                   atoms::summary_atom::value)));
  auto rebalance = ask<rebalance_report>(role::balancer,
                                         atoms::rebalance_atom::value,
                                         std::string{"manual"}, false);
  BOOST_REQUIRE(!rebalance);
  BOOST_TEST(is(rebalance.error(), errc::unavailable));
}

BOOST_AUTO_TEST_CASE(child_failing_at_start_is_reported) {
  auto refusing = make_child(role::metrics,
                             [](caf::local_actor* sup, const peers&,
                                const strategy_ptr&) {
                               return caf::actor{sup->spawn(failing_start_actor)};
                             });
  refusing.tracks_peers = false;
  start({refusing});
  auto status = wait_for("metrics", 3, "failed");
  BOOST_TEST(status.state == "failed");
  BOOST_TEST(status.error.find("configuration missing") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(crashing_module_falls_back_to_basic) {
  auto library = load_module(std::string{MODULES_BUILD_DIR} + "/smart_balancer.so");
  // The message is evaluated eagerly, and error() on a value is undefined.
  BOOST_REQUIRE_MESSAGE(library, (library ? "" : describe(library.error())));
  module_candidate candidate;
  candidate.status.name = "smart_balancer";
  candidate.status.role = "balancer";
  candidate.status.loaded = true;
  candidate.library = std::move(*library);
  start({}, {candidate});
  BOOST_REQUIRE(ask_until_ready<register_reply>(atoms::register_atom::value,
                                                registration{"a", "h", 1, 5}));
  BOOST_TEST(status_of("balancer").variant == "smart_balancer");

  // Three restarts are allowed; the fourth crash within the window swaps in
  // the basic variant instead of giving up the role.
  for (std::uint32_t k = 1; k <= 3; ++k) {
    kill(role::balancer);
    BOOST_REQUIRE_EQUAL(wait_for("balancer", k).restarts, k);
  }
  kill(role::balancer);
  role_status status;
  for (int attempt = 0; attempt < 300; ++attempt) {
    status = status_of("balancer");
    if (status.variant == "basic")
      break;
    std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST(status.variant == "basic");
  BOOST_TEST(status.state == "running");
  BOOST_TEST(status.error.find("crashed") != std::string::npos);

  caf::scoped_actor self{*system};
  self->request(supervisor, 2s, caf::get_atom::value, atoms::modules_atom::value)
    .receive(
      [&](std::vector<module_status>& modules) {
        BOOST_REQUIRE_EQUAL(modules.size(), 1u);
        BOOST_TEST(!modules[0].initialized);
        BOOST_TEST(modules[0].error.find("crashed") != std::string::npos);
      },
      [&](caf::error& err) { BOOST_FAIL(describe(err)); });

  // The worker and its registration survived every replacement.
  auto view = ask_until_ready<worker_view>(caf::get_atom::value,
                                           atoms::worker_atom::value,
                                           std::string{"a"});
  BOOST_TEST(bool(view));
  auto rebalance = ask<rebalance_report>(role::balancer,
                                         atoms::rebalance_atom::value,
                                         std::string{"manual"}, false);
  BOOST_REQUIRE(rebalance);
  BOOST_TEST(rebalance->method == "basic");
}

BOOST_AUTO_TEST_CASE(children_stop_with_supervisor) {
  start();
  BOOST_REQUIRE(ask_until_ready<cluster_summary>(caf::get_atom::value,
                                                 atoms::summary_atom::value));
  // Even a supervisor that cannot clean up leaves no child behind.
  caf::anon_send_exit(supervisor, caf::exit_reason::kill);
  bool stopped = false;
  for (int attempt = 0; attempt < 200 && !stopped; ++attempt) {
    auto reply = ask<cluster_summary>(role::coordinator, caf::get_atom::value,
                                      atoms::summary_atom::value);
    stopped = !reply;
    std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST(stopped);
}

BOOST_AUTO_TEST_SUITE_END()
