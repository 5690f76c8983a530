#include <boost/test/unit_test.hpp>

#include "net/auth.hpp"
#include "net/json_codec.hpp"
#include "net/router.hpp"

using namespace orchestrator;

namespace {

const auth_tokens both{"worker-secret", "admin-secret"};

unsigned status_of(const auth_tokens& tokens, access_level needed,
                   const std::string& authorization) {
  auto refusal = check_access(tokens, needed, authorization);
  return refusal ? refusal->status : 0;
}

std::string header_of(const http_response& response, const std::string& name) {
  for (const auto& [key, value] : response.headers)
    if (key == name)
      return value;
  return {};
}

} // namespace

BOOST_AUTO_TEST_SUITE(auth_suite)

BOOST_AUTO_TEST_CASE(tokens_equal_needs_exact_match) {
  BOOST_TEST(tokens_equal("abc", "abc"));
  BOOST_TEST(!tokens_equal("abd", "abc"));
  BOOST_TEST(!tokens_equal("ab", "abc"));
  BOOST_TEST(!tokens_equal("abcd", "abc"));
  BOOST_TEST(!tokens_equal("", "abc"));
  // An unconfigured token matches nothing, not even an empty one.
  BOOST_TEST(!tokens_equal("", ""));
  BOOST_TEST(!tokens_equal("x", ""));
}

BOOST_AUTO_TEST_CASE(bearer_header_forms) {
  BOOST_TEST(bearer_token("Bearer abc").value_or("") == "abc");
  BOOST_TEST(bearer_token("bearer abc").value_or("") == "abc");
  BOOST_TEST(bearer_token("BEARER   abc  ").value_or("") == "abc");
  BOOST_TEST(!bearer_token("Bearer"));
  BOOST_TEST(!bearer_token("Bearer "));
  BOOST_TEST(!bearer_token("Bearerabc"));
  BOOST_TEST(!bearer_token("Bearer a b"));
  BOOST_TEST(!bearer_token("Basic dXNlcjpwYXNz"));
  BOOST_TEST(!bearer_token("abc"));
}

BOOST_AUTO_TEST_CASE(access_by_level_and_token) {
  for (auto level : {access_level::worker, access_level::admin}) {
    BOOST_TEST(status_of(both, level, "") == 401u);
    BOOST_TEST(status_of(both, level, "Bearer wrong") == 401u);
    BOOST_TEST(status_of(both, level, "Basic admin-secret") == 401u);
    BOOST_TEST(status_of(both, level, "Bearer admin-secret") == 0u);
  }
  BOOST_TEST(status_of(both, access_level::worker, "Bearer worker-secret") == 0u);
  BOOST_TEST(status_of(both, access_level::admin, "Bearer worker-secret") == 403u);
  BOOST_TEST(status_of(both, access_level::open, "") == 0u);
  BOOST_TEST(status_of(both, access_level::open, "Bearer wrong") == 0u);
  // Without tokens nothing is checked.
  BOOST_TEST(status_of(auth_tokens{}, access_level::admin, "") == 0u);
}

BOOST_AUTO_TEST_CASE(refusals_explain_and_challenge) {
  auto missing = check_access(both, access_level::worker, "");
  BOOST_REQUIRE(missing);
  BOOST_TEST(header_of(*missing, "WWW-Authenticate") == "Bearer realm=\"orchestrator\"");
  auto body = nlohmann::json::parse(missing->body);
  BOOST_TEST(body["detail"].get<std::string>().find("ORCHESTRATOR_API_KEY")
             != std::string::npos);

  auto wrong = check_access(both, access_level::worker, "Bearer worker-secreT");
  BOOST_REQUIRE(wrong);
  BOOST_TEST(header_of(*wrong, "WWW-Authenticate").find("invalid_token")
             != std::string::npos);
  BOOST_TEST(wrong->body.find("worker-secret") == std::string::npos);

  auto scope = check_access(both, access_level::admin, "Bearer worker-secret");
  BOOST_REQUIRE(scope);
  BOOST_TEST(header_of(*scope, "WWW-Authenticate").find("insufficient_scope")
             != std::string::npos);
  BOOST_TEST(scope->body.find("worker-secret") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(admin_token_alone_guards_worker_routes) {
  auth_tokens admin_only{"", "admin-secret"};
  BOOST_TEST(status_of(admin_only, access_level::worker, "") == 401u);
  BOOST_TEST(status_of(admin_only, access_level::worker, "Bearer admin-secret") == 0u);
  auth_tokens worker_only{"worker-secret", ""};
  auto refusal = check_access(worker_only, access_level::admin, "Bearer worker-secret");
  BOOST_REQUIRE(refusal);
  BOOST_TEST(refusal->status == 403u);
  BOOST_TEST(refusal->body.find("no admin token") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(router_guard_sees_route_levels) {
  router r;
  bool handled = false;
  r.add("GET", "/open", [&](routed_request, responder respond) {
    handled = true;
    respond(http_response::json(200, "{}"));
  });
  r.add("POST", "/admin", [&](routed_request, responder respond) {
    handled = true;
    respond(http_response::json(200, "{}"));
  });
  BOOST_TEST(r.set_access("GET", "/open", access_level::open));
  BOOST_TEST(r.set_access("POST", "/admin", access_level::admin));
  BOOST_TEST(!r.set_access("GET", "/admin", access_level::admin));
  r.set_guard([](const http_request& request, access_level level,
                 const responder& respond) {
    if (auto refusal = check_access(both, level, request.authorization)) {
      respond(std::move(*refusal));
      return true;
    }
    return false;
  });
  unsigned status = 0;
  auto record = [&status](http_response response) { status = response.status; };

  r.dispatch(http_request{"GET", "/open", ""}, record);
  BOOST_TEST(status == 200u);
  BOOST_TEST(handled);
  handled = false;
  r.dispatch(http_request{"POST", "/admin", "", "Bearer worker-secret"}, record);
  BOOST_TEST(status == 403u);
  BOOST_TEST(!handled);
  r.dispatch(http_request{"POST", "/admin", "", "Bearer admin-secret"}, record);
  BOOST_TEST(status == 200u);
  BOOST_TEST(handled);
  // Unknown paths and wrong methods need a token before they get 404 or 405.
  r.dispatch(http_request{"GET", "/missing", ""}, record);
  BOOST_TEST(status == 401u);
  r.dispatch(http_request{"GET", "/missing", "", "Bearer worker-secret"}, record);
  BOOST_TEST(status == 404u);
  r.dispatch(http_request{"GET", "/admin", "", "Bearer worker-secret"}, record);
  BOOST_TEST(status == 405u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(input_checks)

BOOST_AUTO_TEST_CASE(utf8_validation) {
  BOOST_TEST(valid_utf8("plain"));
  BOOST_TEST(valid_utf8("d\xc3\xa9" "faut"));
  BOOST_TEST(valid_utf8("\xf0\x9f\x98\x80"));
  BOOST_TEST(!valid_utf8("\xff"));
  BOOST_TEST(!valid_utf8("\xc0\x80"));          // overlong NUL
  BOOST_TEST(!valid_utf8("\xe0\x80\xaf"));      // overlong '/'
  BOOST_TEST(!valid_utf8("\xed\xa0\x80"));      // surrogate
  BOOST_TEST(!valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  BOOST_TEST(!valid_utf8("\xc3"));              // cut short
}

BOOST_AUTO_TEST_CASE(query_parsing_rules) {
  std::map<std::string, std::string> query;
  BOOST_TEST(!parse_query("a=1&b=x+y&c", query));
  BOOST_TEST(query["b"] == "x y");
  BOOST_TEST(query.count("c") == 1u);
  std::map<std::string, std::string> repeated;
  auto problem = parse_query("a=1&a=2", repeated);
  BOOST_REQUIRE(problem);
  BOOST_TEST(problem->find("'a'") != std::string::npos);
  std::map<std::string, std::string> other;
  BOOST_TEST(static_cast<bool>(parse_query("a=%ff", other)));
  BOOST_TEST(static_cast<bool>(parse_query("a=%0a", other)));
  BOOST_TEST(static_cast<bool>(parse_query("a=%zz", other)));
}

BOOST_AUTO_TEST_CASE(duplicate_json_keys) {
  auto top = parse_json(R"({"a":1,"b":2,"a":3})");
  BOOST_REQUIRE(!top);
  BOOST_TEST(top.errors[0].type == duplicate_key_error);
  BOOST_TEST(top.errors[0].msg.find("\"a\"") != std::string::npos);
  auto nested = parse_json(R"([{"x":{"k":1,"k":1}}])");
  BOOST_REQUIRE(!nested);
  BOOST_TEST(nested.errors[0].msg.find("\"k\"") != std::string::npos);
  // The same key in sibling or nested objects is no repetition.
  BOOST_TEST(static_cast<bool>(parse_json(R"([{"a":1},{"a":2}])")));
  BOOST_TEST(static_cast<bool>(parse_json(R"({"a":{"a":{"a":1}},"b":{"a":2}})")));
  // A long repeated key is shortened in the message.
  std::string key(300, 'k');
  auto long_key = parse_json("{\"" + key + "\":1,\"" + key + "\":2}");
  BOOST_REQUIRE(!long_key);
  BOOST_TEST(long_key.errors[0].msg.size() < 250u);
}

BOOST_AUTO_TEST_CASE(stream_id_text) {
  BOOST_TEST(parse_stream_id("17").value_or(0) == 17);
  BOOST_TEST(parse_stream_id("9223372036854775807").value_or(0)
             == 9223372036854775807LL);
  for (const char* bad : {"", "0", "-1", "+1", " 1", "1 ", "01", "0x1", "1.0",
                          "9223372036854775808"})
    BOOST_TEST(!parse_stream_id(bad), "accepted '" << bad << "'");
}

BOOST_AUTO_TEST_CASE(strings_reject_control_characters) {
  auto r = decode_registration(
    nlohmann::json::parse(R"({"server_id":"w","ip":"h\u0000","port":1})"),
    decode_limits{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.errors[0].type == "value_error.str.control_character");
  auto spaced = decode_registration(
    nlohmann::json::parse(R"({"server_id":"w","ip":"a b","port":1})"),
    decode_limits{});
  BOOST_TEST(!spaced);
  auto unicode = decode_stream(
    nlohmann::json::parse(R"({"id":1,"url":"http://r/1","name":"Caf\u00e9 \u6771\u4eac"})"),
    {"body"});
  BOOST_TEST(static_cast<bool>(unicode));
}

BOOST_AUTO_TEST_CASE(stream_id_lists_start_at_one) {
  auto zero = decode_release(
    nlohmann::json::parse(R"({"server_id":"w","stream_ids":[1,0]})"), decode_limits{});
  BOOST_REQUIRE(!zero);
  BOOST_TEST(zero.errors[0].loc.back() == "1");
  decode_limits small;
  small.max_ids_per_request = 1;
  auto epochs = decode_release(
    nlohmann::json::parse(R"({"server_id":"w","stream_ids":[1],"epochs":{"1":1,"2":1}})"),
    small);
  BOOST_TEST(!epochs);
  auto signed_key = decode_release(
    nlohmann::json::parse(R"({"server_id":"w","stream_ids":[1],"epochs":{"+1":1}})"),
    decode_limits{});
  BOOST_TEST(!signed_key);
}

BOOST_AUTO_TEST_SUITE_END()
