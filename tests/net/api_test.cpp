#include <boost/test/unit_test.hpp>

#include "actors/gateway.hpp"
#include "net/api.hpp"

#include <caf/all.hpp>

#include <future>

using namespace orchestrator;
using namespace std::chrono_literals;

namespace {

/// The API over a gateway without role handles, as while every role is down.
struct api_without_roles {
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  caf::actor gateway;
  std::unique_ptr<api> handler;

  api_without_roles() {
    config.set("scheduler.max-threads", 2);
    system = std::make_unique<caf::actor_system>(config);
    gateway = system->spawn(gateway_actor);
    handler = std::make_unique<api>(actor_bridge{gateway, 500ms}, api_settings{});
  }

  ~api_without_roles() {
    handler.reset();
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    gateway = caf::actor{};
    system.reset();
  }

  http_response call(const std::string& method, const std::string& target) {
    auto outcome = std::make_shared<std::promise<http_response>>();
    auto future = outcome->get_future();
    handler->handle(http_request{method, target, ""},
                    [outcome](http_response response) {
                      outcome->set_value(std::move(response));
                    });
    BOOST_REQUIRE(future.wait_for(5s) == std::future_status::ready);
    return future.get();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(api_failures, api_without_roles)

BOOST_AUTO_TEST_CASE(module_status_failure_is_500) {
  auto response = call("GET", "/modules/status");
  BOOST_TEST(response.status == 500u);
  auto body = nlohmann::json::parse(response.body);
  BOOST_TEST(body["detail"]["status"] == "error");
  BOOST_TEST(body["detail"]["error"].get<std::string>().find("not running")
             != std::string::npos);
  BOOST_TEST(body["detail"].contains("timestamp"));
  BOOST_TEST(body["detail"].contains("message"));
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_path_is_answered) {
  // A reply that echoed these bytes used to make the JSON serializer throw
  // on the I/O thread; now the router refuses them first.
  auto response = call("POST", "/modules/%FF%FE/reload");
  BOOST_TEST(response.status == 400u);
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  BOOST_REQUIRE(!body.is_discarded());
  BOOST_TEST(body["detail"].get<std::string>().find("not valid UTF-8")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_role_is_503) {
  auto response = call("GET", "/status");
  BOOST_TEST(response.status == 503u);
  BOOST_REQUIRE_EQUAL(response.headers.size(), 1u);
  BOOST_TEST(response.headers[0].first == "Retry-After");
}

BOOST_AUTO_TEST_CASE(every_listed_route_is_protected) {
  // The constructor throws if its table names a route that does not exist.
  api_settings settings;
  settings.tokens = auth_tokens{"worker-secret", "admin-secret"};
  api secured{actor_bridge{gateway, 500ms}, settings};
  auto outcome = std::make_shared<std::promise<http_response>>();
  auto future = outcome->get_future();
  secured.handle(http_request{"POST", "/rebalance/basic", "", "Bearer worker-secret"},
                 [outcome](http_response response) {
                   outcome->set_value(std::move(response));
                 });
  BOOST_REQUIRE(future.wait_for(5s) == std::future_status::ready);
  BOOST_TEST(future.get().status == 403u);
}

BOOST_AUTO_TEST_CASE(standby_names_leader_only_with_token) {
  api_settings settings;
  settings.tokens = auth_tokens{"worker-secret", "admin-secret"};
  auto node = std::make_shared<node_state>();
  node->follow("http://10.0.0.1:8080");
  settings.node = node;
  api standby{actor_bridge{gateway, 500ms}, settings};
  auto call_standby = [&standby](http_request request) {
    auto outcome = std::make_shared<std::promise<http_response>>();
    auto future = outcome->get_future();
    standby.handle(std::move(request), [outcome](http_response response) {
      outcome->set_value(std::move(response));
    });
    BOOST_REQUIRE(future.wait_for(5s) == std::future_status::ready);
    return future.get();
  };
  auto anonymous = call_standby(http_request{"GET", "/status", ""});
  BOOST_TEST(anonymous.status == 401u);
  BOOST_TEST(anonymous.body.find("10.0.0.1") == std::string::npos);
  auto worker = call_standby(http_request{"GET", "/status", "", "Bearer worker-secret"});
  BOOST_TEST(worker.status == 503u);
  BOOST_TEST(worker.body.find("10.0.0.1") != std::string::npos);
  // Probes stay open on a standby.
  BOOST_TEST(call_standby(http_request{"GET", "/ready", ""}).status == 503u);
  BOOST_TEST(call_standby(http_request{"GET", "/health", ""}).status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// Takes every request and never replies, like a coordinator stuck on a
/// long operation.
caf::behavior silent_actor(caf::stateful_actor<std::vector<caf::response_promise>>* self) {
  self->set_default_handler(
    [](caf::scheduled_actor* ptr, caf::message_view&) -> caf::result<caf::message> {
      auto* me = static_cast<caf::stateful_actor<std::vector<caf::response_promise>>*>(ptr);
      me->state.push_back(me->make_response_promise());
      return caf::delegated<caf::message>{};
    });
  return {[](caf::tick_atom) {}};
}

/// The API in front of a coordinator that never replies, with room for
/// eight waiting requests.
struct api_over_stuck_coordinator {
  caf::actor_system_config config;
  std::unique_ptr<caf::actor_system> system;
  caf::actor gateway;
  caf::actor stuck;
  std::unique_ptr<api> handler;

  api_over_stuck_coordinator() {
    config.set("scheduler.max-threads", 2);
    system = std::make_unique<caf::actor_system>(config);
    gateway = system->spawn(gateway_actor);
    stuck = system->spawn(silent_actor);
    caf::anon_send(gateway, caf::update_atom::value, role::coordinator, stuck);
    api_settings settings;
    settings.max_pending = 8;
    handler = std::make_unique<api>(actor_bridge{gateway, 30s}, settings);
  }

  ~api_over_stuck_coordinator() {
    handler.reset();
    caf::anon_send_exit(stuck, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    stuck = caf::actor{};
    gateway = caf::actor{};
    system.reset();
  }

  std::shared_future<http_response> send(const std::string& method,
                                         const std::string& target,
                                         const std::string& body = "") {
    auto outcome = std::make_shared<std::promise<http_response>>();
    std::shared_future<http_response> future = outcome->get_future();
    handler->handle(http_request{method, target, body},
                    [outcome](http_response response) {
                      outcome->set_value(std::move(response));
                    });
    return future;
  }

  static bool waiting(const std::shared_future<http_response>& f) {
    return f.wait_for(50ms) == std::future_status::timeout;
  }

  static bool shed(const std::shared_future<http_response>& f) {
    if (f.wait_for(1s) != std::future_status::ready)
      return false;
    const auto& response = f.get();
    return response.status == 503
           && response.body.find("overloaded") != std::string::npos
           && !response.headers.empty()
           && response.headers[0].first == "Retry-After";
  }
};

const std::string beat = R"({"server_id":"w1","current_streams":0})";
const std::string ask = R"({"server_id":"w1","requested_count":1})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(api_overload, api_over_stuck_coordinator)

BOOST_AUTO_TEST_CASE(listings_shed_before_heartbeats) {
  std::vector<std::shared_future<http_response>> kept;
  // Half of the eight places take listing and admin requests.
  for (int k = 0; k < 4; ++k)
    kept.push_back(send("GET", "/instances"));
  for (const auto& f : kept)
    BOOST_CHECK(waiting(f));
  BOOST_CHECK(shed(send("GET", "/status")));
  BOOST_CHECK(shed(send("POST", "/rebalance/basic")));
  // Worker requests go on up to three quarters.
  kept.push_back(send("POST", "/streams/assign", ask));
  kept.push_back(send("POST", "/streams/assign", ask));
  BOOST_CHECK(waiting(kept.back()));
  BOOST_CHECK(shed(send("POST", "/streams/assign", ask)));
  // Heartbeats go on up to all of them.
  kept.push_back(send("POST", "/heartbeat", beat));
  kept.push_back(send("POST", "/heartbeat", beat));
  BOOST_CHECK(waiting(kept.back()));
  BOOST_CHECK(shed(send("POST", "/heartbeat", beat)));
  // Probes are never shed.
  auto health = send("GET", "/health");
  BOOST_CHECK(!shed(health));
}

BOOST_AUTO_TEST_SUITE_END()
