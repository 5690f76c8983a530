#include <boost/test/unit_test.hpp>

#include "net/json_codec.hpp"
#include "tests/support/heartbeat_compare.hpp"

using namespace orchestrator;

namespace {

json parse(const std::string& text) {
  auto body = parse_object(text);
  BOOST_REQUIRE(body);
  return *body.value;
}

/// Returns the location of the only error, joined with dots.
std::string only_error(const std::vector<field_error>& errors) {
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  std::string result;
  for (const auto& part : errors[0].loc)
    result += (result.empty() ? "" : ".") + part;
  return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(json_codec_suite)

BOOST_AUTO_TEST_CASE(registration_applies_default_capacity) {
  decode_limits limits;
  limits.default_max_streams = 7;
  auto r = decode_registration(parse(R"({"server_id":"w-1","ip":"h","port":80})"),
                               limits);
  BOOST_REQUIRE(r);
  BOOST_TEST(r.value->max_streams == 7u);
  BOOST_TEST(r.value->server_id == "w-1");
}

BOOST_AUTO_TEST_CASE(registration_reports_each_bad_field) {
  auto r = decode_registration(parse(R"({"ip":5,"port":70000,"max_streams":-1})"),
                               decode_limits{});
  BOOST_REQUIRE(!r);
  BOOST_REQUIRE_EQUAL(r.errors.size(), 4u);
  BOOST_TEST(r.errors[0].loc.back() == "server_id");
  BOOST_TEST(r.errors[0].type == "value_error.missing");
  BOOST_TEST(r.errors[1].loc.back() == "ip");
  BOOST_TEST(r.errors[1].type == "type_error.str");
  BOOST_TEST(r.errors[2].loc.back() == "port");
  BOOST_TEST(r.errors[3].loc.back() == "max_streams");
}

BOOST_AUTO_TEST_CASE(registration_weight_is_optional_and_bounded) {
  auto plain = decode_registration(parse(R"({"server_id":"w","ip":"h","port":80})"),
                                   decode_limits{});
  BOOST_REQUIRE(plain);
  BOOST_TEST(plain.value->weight == 0.0);
  auto weighted = decode_registration(
    parse(R"({"server_id":"w","ip":"h","port":80,"weight":2.5})"), decode_limits{});
  BOOST_REQUIRE(weighted);
  BOOST_TEST(weighted.value->weight == 2.5);
  for (const char* bad : {R"({"server_id":"w","ip":"h","port":80,"weight":0})",
                          R"({"server_id":"w","ip":"h","port":80,"weight":"x"})",
                          R"({"server_id":"w","ip":"h","port":80,"weight":5000})"}) {
    auto r = decode_registration(parse(bad), decode_limits{});
    BOOST_REQUIRE(!r);
    BOOST_TEST(only_error(r.errors) == "body.weight");
  }
}

BOOST_AUTO_TEST_CASE(heartbeat_may_list_its_streams) {
  auto plain = decode_heartbeat(parse(R"({"server_id":"w","current_streams":1})"));
  BOOST_REQUIRE(plain);
  BOOST_TEST(!plain.value->beat.lists_streams);
  auto listed = decode_heartbeat(
    parse(R"({"server_id":"w","current_streams":2,"stream_ids":[4,7]})"));
  BOOST_REQUIRE(listed);
  BOOST_TEST(listed.value->beat.lists_streams);
  BOOST_TEST(listed.value->beat.stream_ids.size() == 2u);
  auto empty = decode_heartbeat(
    parse(R"({"server_id":"w","current_streams":0,"stream_ids":[]})"));
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty.value->beat.lists_streams);
  auto bad = decode_heartbeat(
    parse(R"({"server_id":"w","current_streams":1,"stream_ids":["x"]})"));
  BOOST_REQUIRE(!bad);
  BOOST_TEST(only_error(bad.errors) == "body.stream_ids.0");
}

BOOST_AUTO_TEST_CASE(integral_float_is_an_integer) {
  auto r = decode_assign(parse(R"({"server_id":"w","requested_count":5.0})"),
                         decode_limits{});
  BOOST_REQUIRE(r);
  BOOST_TEST(r.value->requested_count == 5u);
  auto bad = decode_assign(parse(R"({"server_id":"w","requested_count":5.5})"),
                           decode_limits{});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(only_error(bad.errors) == "body.requested_count");
}

BOOST_AUTO_TEST_CASE(server_id_rejects_slash_and_space) {
  for (const char* id : {"a/b", "a b", "", "\xc3\xa9"}) {
    json body = {{"server_id", id}, {"current_streams", 0}};
    auto r = decode_heartbeat(body);
    BOOST_TEST(!r, "server_id '" << id << "' was accepted");
  }
}

BOOST_AUTO_TEST_CASE(heartbeat_metrics_are_range_checked) {
  auto ok = decode_heartbeat(parse(R"({"server_id":"w","current_streams":1,
    "system_metrics":{"cpu_percent":5,"memory_percent":3,"memory_used_gb":1,
    "memory_total_gb":4,"disk_percent":5,"disk_free_gb":5,"disk_total_gb":10,
    "load_average":[0.5,0.4,0.3],"uptime_seconds":99}})"));
  BOOST_REQUIRE(ok);
  BOOST_REQUIRE(ok.value->metrics);
  BOOST_TEST(ok.value->metrics->load_average.size() == 3u);
  BOOST_TEST(ok.value->metrics->uptime_seconds == 99.0);
  BOOST_TEST(ok.value->beat.reported_status == "active");

  auto bad = decode_heartbeat(parse(R"({"server_id":"w","current_streams":1,
    "system_metrics":{"cpu_percent":150,"memory_percent":3,"memory_used_gb":1,
    "memory_total_gb":4,"disk_percent":5,"disk_free_gb":5,"disk_total_gb":10}})"));
  BOOST_REQUIRE(!bad);
  BOOST_TEST(only_error(bad.errors) == "body.system_metrics.cpu_percent");
}

namespace {

/// Decodes `body` both ways; the text reader must take it and agree.
void check_text_reader_takes(const std::string& body, const decode_limits& limits = {}) {
  BOOST_TEST_CONTEXT(body) {
    auto direct = decode_heartbeat_text(body, limits);
    BOOST_REQUIRE(direct);
    auto parsed = parse_object(body);
    BOOST_REQUIRE(parsed);
    auto full = decode_heartbeat(*parsed.value, limits);
    BOOST_REQUIRE(full);
    auto field = test::heartbeat_difference(*direct, *full.value);
    BOOST_TEST(!field, "the two decoders differ in " << field.value_or(""));
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(heartbeat_text_reads_what_workers_send) {
  check_text_reader_takes(R"({"server_id":"w-1","current_streams":10})");
  check_text_reader_takes(
    R"({"server_id":"w","current_streams":2,"status":"draining","stream_ids":[9,4]})");
  check_text_reader_takes(R"( { "server_id" : "w" , "current_streams" : 0 ,
    "stream_ids" : [ ] } )");
  check_text_reader_takes(
    R"({"server_id":"w","current_streams":1,"status":null,"stream_ids":null,
        "system_metrics":null})");
  // Keys it does not know are ignored, as the full decoder ignores them.
  check_text_reader_takes(
    R"({"timestamp":"2026-12-05T08:00:00Z","server_id":"w","version":3,
        "current_streams":1,"debug":false,"note":null})");
  // Escapes are decoded before the key and the values are compared.
  check_text_reader_takes(
    R"({"server\u005fid":"w\u002d2","current_streams":1,"status":"caf\u00e9"})");
  check_text_reader_takes(R"({"server_id":"w","current_streams":1,
    "system_metrics":{"cpu_percent":5.5,"memory_percent":3,"memory_used_gb":1.25,
    "memory_total_gb":4,"disk_percent":5,"disk_free_gb":5,"disk_total_gb":10,
    "load_average":[0.5,0,1e1],"uptime_seconds":99,"hostname":"h"}})");
  check_text_reader_takes(R"({"server_id":"w","current_streams":1,
    "system_metrics":{"cpu_percent":0,"memory_percent":0,"memory_used_gb":0,
    "memory_total_gb":0,"disk_percent":100,"disk_free_gb":0,"disk_total_gb":1e9,
    "load_average":null,"uptime_seconds":null}})");
  check_text_reader_takes(R"({"server_id":"w","current_streams":10000000,
    "stream_ids":[1,2,3]})", decode_limits{2, 20, 3});
}

BOOST_AUTO_TEST_CASE(heartbeat_text_leaves_the_rest_to_the_tree) {
  struct left_case {
    const char* body;
    /// Whether the full decoder takes the body.
    bool valid;
  };
  const left_case cases[] = {
    {"", false},
    {"[]", false},
    {R"({"server_id":"w","current_streams":1} x)", false},
    {R"({"server_id":"w","current_streams":1)", false},
    {R"({"server_id":"w","server_id":"v","current_streams":1})", false},
    {R"({"server_id":"w","current_streams":1,"extra":1,"extra":2})", false},
    {R"({"server_id":"w","current_streams":1,"system_metrics":{"cpu_percent":1,
       "cpu_percent":2}})", false},
    {R"({"server_id":"w","current_streams":5.0})", true},
    {R"({"server_id":"w","current_streams":1,"stream_ids":[2.0]})", true},
    {R"({"server_id":"w","current_streams":1,"extra":{"a":[1]}})", true},
    {R"({"server_id":"w","current_streams":1,"extra":[]})", true},
    {R"({"server_id":"w","current_streams":-1})", false},
    {R"({"server_id":"w","current_streams":10000001})", false},
    {R"({"server_id":"w","current_streams":18446744073709551615})", false},
    {R"({"server_id":"w","current_streams":null})", false},
    {R"({"server_id":"w","current_streams":"1"})", false},
    {R"({"current_streams":1})", false},
    {R"({"server_id":"a b","current_streams":1})", false},
    {R"({"server_id":7,"current_streams":1})", false},
    {R"({"server_id":"w","current_streams":1,"status":"\u0001"})", false},
    {R"({"server_id":"w","current_streams":1,"status":true})", false},
    {R"({"server_id":"w","current_streams":1,"stream_ids":[0]})", false},
    {R"({"server_id":"w","current_streams":1,"stream_ids":["x"]})", false},
    {R"({"server_id":"w","current_streams":1,"stream_ids":[1,2,3,4]})", false},
    {R"({"server_id":"w","current_streams":1,"stream_ids":[[1]]})", false},
    {R"({"server_id":"w","current_streams":1,"system_metrics":{}})", false},
    {R"({"server_id":"w","current_streams":1,"system_metrics":[]})", false},
    {R"({"server_id":"w","current_streams":1,"system_metrics":{"cpu_percent":150,
       "memory_percent":3,"memory_used_gb":1,"memory_total_gb":4,"disk_percent":5,
       "disk_free_gb":5,"disk_total_gb":10}})", false},
    {R"({"server_id":"w","current_streams":1,"system_metrics":{"cpu_percent":1,
       "memory_percent":3,"memory_used_gb":1,"memory_total_gb":4,"disk_percent":5,
       "disk_free_gb":5,"disk_total_gb":10,"load_average":[1,2]}})", false},
    {R"({"server_id":"w","current_streams":1,"system_metrics":{"cpu_percent":1,
       "memory_percent":3,"memory_used_gb":1,"memory_total_gb":4,"disk_percent":5,
       "disk_free_gb":5,"disk_total_gb":10,"load_average":[1,-2,3]}})", false},
    {R"({"server_id":"w","current_streams":1,"system_metrics":{"cpu_percent":1,
       "memory_percent":3,"memory_used_gb":1,"memory_total_gb":4,"disk_percent":5,
       "disk_free_gb":5,"disk_total_gb":10,"uptime_seconds":-1}})", false},
  };
  decode_limits limits{2, 20, 3};
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.body) {
      BOOST_TEST(!decode_heartbeat_text(c.body, limits));
      auto parsed = parse_object(c.body);
      bool full = parsed && decode_heartbeat(*parsed.value, limits).value.has_value();
      BOOST_TEST(full == c.valid);
    }
  }
}

BOOST_AUTO_TEST_CASE(release_reads_epochs) {
  auto r = decode_release(
    parse(R"({"server_id":"w","stream_ids":[1,2],"epochs":{"1":7}})"),
    decode_limits{});
  BOOST_REQUIRE(r);
  BOOST_REQUIRE_EQUAL(r.value->epochs.size(), 1u);
  BOOST_TEST(r.value->epochs[0].stream_id == 1);
  BOOST_TEST(r.value->epochs[0].epoch == 7u);

  auto bad = decode_release(
    parse(R"({"server_id":"w","stream_ids":[1,"x"],"epochs":{"q":0}})"),
    decode_limits{});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.errors.size() == 2u);
}

BOOST_AUTO_TEST_CASE(invalid_json_is_one_error) {
  auto r = parse_object("{\"server_id\":");
  BOOST_REQUIRE(!r);
  BOOST_TEST(only_error(r.errors) == "body");
  auto list = parse_object("[1,2]");
  BOOST_REQUIRE(!list);
  BOOST_TEST(list.errors[0].type == "type_error.dict");
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_rejected) {
  std::string deep = R"({"id":1,"url":"u","x":)" + std::string(100, '[')
                     + std::string(100, ']') + "}";
  auto r = parse_json(deep);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.errors[0].type == "value_error.jsondecode.depth");
  // Brackets inside strings do not count.
  auto quoted = parse_json(R"({"x":")" + std::string(100, '[') + R"("})");
  BOOST_TEST(bool(quoted));
  auto escaped = parse_json(R"({"x":"\"[[[","y":[[1]]})");
  BOOST_TEST(bool(escaped));
}

BOOST_AUTO_TEST_CASE(streams_body_forms) {
  auto single = decode_streams(json::parse(R"({"id":1,"url":"u"})"), 10);
  BOOST_REQUIRE(single);
  BOOST_TEST(single.value->size() == 1u);
  auto wrapped = decode_streams(
    json::parse(R"({"streams":[{"id":1,"url":"u"},{"id":2,"url":"v","region":"eu"}]})"),
    10);
  BOOST_REQUIRE(wrapped);
  BOOST_TEST((*wrapped.value)[1].metadata == R"({"region":"eu"})");
  auto too_many = decode_streams(json::parse(R"([{"id":1,"url":"u"},{"id":2,"url":"u"}])"), 1);
  BOOST_REQUIRE(!too_many);
  auto bad_id = decode_streams(json::parse(R"([{"id":0,"url":"u"}])"), 10);
  BOOST_REQUIRE(!bad_id);
  BOOST_TEST(only_error(bad_id.errors) == "body.0.id");
  auto several = decode_streams(
    json::parse(R"([{"id":-1,"url":"u"},{"id":9},{"url":"u"},{"id":"10","url":"u"}])"), 10);
  BOOST_REQUIRE(!several);
  BOOST_TEST(several.errors.size() == 4u);
}

BOOST_AUTO_TEST_CASE(iso_time_is_utc_with_offset) {
  BOOST_TEST(iso_time(0) == "1970-01-01T00:00:00.000+00:00");
  BOOST_TEST(iso_time(1'700'000'000'123) == "2023-11-14T22:13:20.123+00:00");
}

BOOST_AUTO_TEST_SUITE_END()
