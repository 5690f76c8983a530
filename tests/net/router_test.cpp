#include <boost/test/unit_test.hpp>

#include "net/router.hpp"

using namespace orchestrator;

namespace {

struct captured {
  http_response response;
  std::vector<std::string> params;
  std::map<std::string, std::string> query;
  bool handled = false;
};

captured run(const router& r, const std::string& method,
             const std::string& target) {
  captured result;
  r.dispatch(http_request{method, target, ""},
             [&](http_response response) { result.response = std::move(response); });
  return result;
}

router make_router(captured& seen) {
  router r;
  auto handler = [&seen](routed_request request, responder respond) {
    seen.handled = true;
    seen.params = request.params;
    seen.query = request.query;
    respond(http_response::json(200, "{}"));
  };
  r.add("GET", "/instances/{}", handler);
  r.add("DELETE", "/instances/{}", handler);
  r.add("GET", "/instances/{}/metrics", handler);
  return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(router_suite)

BOOST_AUTO_TEST_CASE(path_parameters_are_decoded) {
  captured seen;
  auto r = make_router(seen);
  auto result = run(r, "GET", "/instances/w%3A1/metrics?hours=2&x=a+b");
  BOOST_TEST(seen.handled);
  BOOST_TEST(result.response.status == 200u);
  BOOST_REQUIRE_EQUAL(seen.params.size(), 1u);
  BOOST_TEST(seen.params[0] == "w:1");
  BOOST_TEST(seen.query["hours"] == "2");
  BOOST_TEST(seen.query["x"] == "a b");
}

BOOST_AUTO_TEST_CASE(wrong_method_gets_405_with_allow) {
  captured seen;
  auto r = make_router(seen);
  auto result = run(r, "POST", "/instances/w1");
  BOOST_TEST(!seen.handled);
  BOOST_TEST(result.response.status == 405u);
  BOOST_REQUIRE_EQUAL(result.response.headers.size(), 1u);
  BOOST_TEST(result.response.headers[0].first == "Allow");
  BOOST_TEST(result.response.headers[0].second == "GET, DELETE");
}

BOOST_AUTO_TEST_CASE(unknown_path_gets_404) {
  captured seen;
  auto r = make_router(seen);
  BOOST_TEST(run(r, "GET", "/nothing").response.status == 404u);
  BOOST_TEST(run(r, "GET", "/instances").response.status == 404u);
}

BOOST_AUTO_TEST_CASE(bad_escape_gets_400) {
  captured seen;
  auto r = make_router(seen);
  BOOST_TEST(run(r, "GET", "/instances/%zz").response.status == 400u);
  BOOST_TEST(run(r, "GET", "/instances/w1?hours=%4").response.status == 400u);
}

BOOST_AUTO_TEST_SUITE_END()
