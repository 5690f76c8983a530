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
  // The reply echoes the unknown module's name. Bytes that are not UTF-8
  // used to make the JSON serializer throw on the I/O thread.
  auto response = call("POST", "/modules/%FF%FE/reload");
  BOOST_TEST(response.status == 404u);
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  BOOST_REQUIRE(!body.is_discarded());
  BOOST_TEST(body["detail"].get<std::string>().find("unknown module")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_role_is_503) {
  auto response = call("GET", "/status");
  BOOST_TEST(response.status == 503u);
  BOOST_REQUIRE_EQUAL(response.headers.size(), 1u);
  BOOST_TEST(response.headers[0].first == "Retry-After");
}

BOOST_AUTO_TEST_SUITE_END()
