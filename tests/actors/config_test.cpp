#include <boost/test/unit_test.hpp>

#include "actors/config.hpp"
#include "actors/errors.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdlib>
#include <fstream>

using namespace orchestrator;

namespace {

command_line parse(std::vector<std::string> args) {
  args.insert(args.begin(), "orchestrator");
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

/// Sets an environment variable for the lifetime of the guard.
struct env_guard {
  std::string name;
  env_guard(std::string key, const std::string& value) : name(std::move(key)) {
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~env_guard() {
    unsetenv(name.c_str());
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(config_suite)

BOOST_AUTO_TEST_CASE(defaults_match_contract) {
  auto result = parse({});
  BOOST_REQUIRE(!result.exit_now);
  BOOST_TEST(result.values.listen_host == "127.0.0.1");
  BOOST_TEST(result.values.listen_port == 8080);
  BOOST_TEST(result.values.heartbeat_timeout.count() == 300'000);
  BOOST_TEST(result.values.heartbeat_check_interval.count() == 30'000);
  BOOST_TEST(result.values.rebalance_interval.count() == 60'000);
  BOOST_TEST(result.values.max_streams_per_instance == 20u);
}

BOOST_AUTO_TEST_CASE(balancer_settings_follow_contract_names) {
  auto defaults = parse({});
  BOOST_REQUIRE(!defaults.exit_now);
  const auto& b = defaults.values.balancing;
  BOOST_TEST(b.max_moves == 10u);
  BOOST_TEST(b.imbalance_threshold == 0.2);
  BOOST_TEST(b.max_stream_difference == 2.0);
  BOOST_TEST(b.max_load_factor == 0.9);
  BOOST_TEST(b.min_instances == 2u);
  BOOST_TEST(b.weights.cpu == 0.3);
  BOOST_TEST(b.weights.response_time == 0.1);
  BOOST_TEST(defaults.values.suspect_after.count() == 150'000);

  env_guard threshold{"LOAD_IMBALANCE_THRESHOLD", "0.35"};
  env_guard difference{"MAX_STREAM_DIFFERENCE", "4"};
  auto result = parse({"--score-weights", "cpu=0.5, load=0", "--rebalance-cooldown",
                       "2.5", "--handoff-timeout", "9"});
  BOOST_REQUIRE_MESSAGE(!result.exit_now, result.output);
  const auto& set = result.values.balancing;
  BOOST_TEST(set.imbalance_threshold == 0.35);
  BOOST_TEST(set.max_stream_difference == 4.0);
  BOOST_TEST(set.weights.cpu == 0.5);
  BOOST_TEST(set.weights.load == 0.0);
  BOOST_TEST(set.weights.memory == 0.3);
  BOOST_TEST(set.cooldown_ms == 2500);
  BOOST_TEST(result.values.handoff_timeout.count() == 9000);
}

BOOST_AUTO_TEST_CASE(failure_settings_follow_contract_names) {
  env_guard threshold{"CIRCUIT_BREAKER_THRESHOLD", "7"};
  env_guard timeout{"CIRCUIT_BREAKER_TIMEOUT", "12"};
  env_guard retries{"MAX_RETRY_ATTEMPTS", "2"};
  env_guard exponential{"EXPONENTIAL_BACKOFF", "false"};
  auto result = parse({"--phi-threshold", "10", "--acceptable-heartbeat-pause", "1.5",
                       "--quarantine-base", "20", "--quarantine-max", "5"});
  BOOST_REQUIRE_MESSAGE(!result.exit_now, result.output);
  const auto& s = result.values;
  BOOST_TEST(s.store_breaker.failure_threshold == 7u);
  BOOST_TEST(s.store_breaker.open_ms == 12'000);
  BOOST_TEST(s.max_retry_attempts == 2u);
  BOOST_TEST(!s.retry_backoff.exponential);
  BOOST_TEST(s.phi_threshold == 10.0);
  BOOST_TEST(s.acceptable_pause.count() == 1500);
  // A maximum below the base is raised to it.
  BOOST_TEST(s.quarantine_base.count() == 20'000);
  BOOST_TEST(s.quarantine_max.count() == 20'000);
  BOOST_TEST(parse({"--phi-threshold", "0.5"}).exit_now);
  BOOST_TEST(parse({"--max-suspect-fraction", "2"}).exit_now);
}

BOOST_AUTO_TEST_CASE(bad_score_weights_are_rejected) {
  for (const char* bad : {"cpu", "speed=1", "cpu=-1", "cpu=x",
                          "cpu=0,memory=0,load=0"}) {
    auto result = parse({"--score-weights", bad});
    BOOST_TEST(result.exit_now);
    BOOST_TEST(result.exit_code == 2);
    BOOST_TEST(result.output.find("--score-weights") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(flags_win_over_environment) {
  env_guard timeout{"HEARTBEAT_TIMEOUT", "12.5"};
  env_guard capacity{"MAX_STREAMS_PER_INSTANCE", "9"};
  auto result = parse({"--heartbeat-timeout", "0.75"});
  BOOST_REQUIRE(!result.exit_now);
  BOOST_TEST(result.values.heartbeat_timeout.count() == 750);
  BOOST_TEST(result.values.max_streams_per_instance == 9u);
}

BOOST_AUTO_TEST_CASE(config_file_sets_values) {
  testing::temp_dir dir;
  auto path = dir.file("orchestrator.ini");
  std::ofstream{path} << "heartbeat-check-interval = 0.5\nlisten = \"[::1]:0\"\n";
  env_guard interval{"HEARTBEAT_CHECK_INTERVAL", "7"};
  auto result = parse({"--config", path});
  BOOST_REQUIRE_MESSAGE(!result.exit_now, result.output);
  BOOST_TEST(result.values.heartbeat_check_interval.count() == 500);
  BOOST_TEST(result.values.listen_host == "::1");
  BOOST_TEST(result.values.listen_port == 0);
}

BOOST_AUTO_TEST_CASE(unknown_config_key_is_rejected) {
  testing::temp_dir dir;
  auto misspelled = dir.file("misspelled.ini");
  std::ofstream{misspelled} << "heartbeat_timeout = 30\n";
  auto result = parse({"--config", misspelled});
  BOOST_TEST(result.exit_now);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(result.output.find("heartbeat_timeout") != std::string::npos);

  auto sectioned = dir.file("sectioned.ini");
  std::ofstream{sectioned} << "[orchestrator]\nheartbeat-timeout = 30\n";
  auto in_section = parse({"--config", sectioned});
  BOOST_TEST(in_section.exit_now);
  BOOST_TEST(in_section.output.find("orchestrator") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(non_number_is_reported_as_such) {
  auto result = parse({"--heartbeat-timeout", "abc"});
  BOOST_TEST(result.exit_now);
  BOOST_TEST(result.output.find("abc") != std::string::npos);
  BOOST_TEST(result.output.find("range") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_value_names_setting) {
  auto negative = parse({"--heartbeat-timeout", "-3"});
  BOOST_TEST(negative.exit_now);
  BOOST_TEST(negative.exit_code == 2);
  BOOST_TEST(negative.output.find("--heartbeat-timeout") != std::string::npos);

  env_guard bad{"REBALANCE_INTERVAL", "soon"};
  auto from_env = parse({});
  BOOST_TEST(from_env.exit_now);
  BOOST_TEST(from_env.output.find("rebalance-interval") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(module_lists_accept_aliases) {
  auto result = parse({"--modules", "psutil, smart_balancer", "--skip-modules", ""});
  BOOST_REQUIRE_MESSAGE(!result.exit_now, result.output);
  BOOST_TEST(result.values.modules
             == (std::vector<std::string>{"system_metrics", "smart_balancer"}));
  BOOST_TEST(result.values.skip_modules.empty());

  auto unknown = parse({"--modules", "turbo"});
  BOOST_TEST(unknown.exit_now);
  BOOST_TEST(unknown.output.find("unknown module 'turbo'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(listen_address_forms) {
  auto v4 = parse_listen_address("0.0.0.0:9000");
  BOOST_REQUIRE(v4);
  BOOST_TEST(v4->first == "0.0.0.0");
  BOOST_TEST(v4->second == 9000);
  auto v6 = parse_listen_address("[::1]:0");
  BOOST_REQUIRE(v6);
  BOOST_TEST(v6->first == "::1");
  BOOST_TEST(!parse_listen_address("localhost"));
  BOOST_TEST(!parse_listen_address("::1:80"));
  BOOST_TEST(!parse_listen_address("h:99999"));

  // localhost means 127.0.0.1, so it counts as loopback; other host names
  // are rejected at once instead of when the server binds.
  auto local = parse_listen_address("localhost:8080");
  BOOST_REQUIRE(local);
  BOOST_TEST(local->first == "127.0.0.1");
  auto named = parse_listen_address("example.test:8080");
  BOOST_REQUIRE(!named);
  BOOST_TEST(describe(named.error()).find("IPv4 or IPv6 address, or localhost")
             != std::string::npos);
  auto started = parse({"--listen", "localhost:0"});
  BOOST_TEST(!started.exit_now);
  BOOST_TEST(started.values.listens_on_loopback());
}

BOOST_AUTO_TEST_CASE(missing_tls_file_names_its_flag) {
  auto result = parse({"--tls-cert", "/nonexistent/cert.pem", "--tls-key",
                       "/nonexistent/key.pem"});
  BOOST_TEST(result.exit_now);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(result.output.find("--tls-cert: cannot read '/nonexistent/cert.pem'")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_lists_every_option) {
  auto result = parse({"--help"});
  BOOST_TEST(result.exit_now);
  BOOST_TEST(result.exit_code == 0);
  for (const char* option :
       {"--listen", "--data-dir", "--catalog", "--config",
        "--heartbeat-timeout", "--heartbeat-check-interval",
        "--rebalance-interval", "--max-streams-per-instance",
        "HEARTBEAT_TIMEOUT"})
    BOOST_TEST(result.output.find(option) != std::string::npos, option);
}

BOOST_AUTO_TEST_CASE(metrics_retention_is_in_hours) {
  auto defaults = parse({});
  BOOST_REQUIRE(!defaults.exit_now);
  BOOST_TEST(defaults.values.metrics_retention.count() == 168LL * 3'600'000);

  auto forever = parse({"--metrics-retention", "0"});
  BOOST_REQUIRE_MESSAGE(!forever.exit_now, forever.output);
  BOOST_TEST(forever.values.metrics_retention.count() == 0);
  bool listed = false;
  for (const auto& line : forever.values.describe())
    listed = listed || line == "metrics_retention=forever";
  BOOST_TEST(listed);

  {
    env_guard half{"ORCHESTRATOR_METRICS_RETENTION", "0.5"};
    auto from_environment = parse({});
    BOOST_REQUIRE_MESSAGE(!from_environment.exit_now, from_environment.output);
    BOOST_TEST(from_environment.values.metrics_retention.count() == 1'800'000);
  }

  for (const char* bad : {"-1", "87601", "week"}) {
    auto rejected = parse({"--metrics-retention", bad});
    BOOST_TEST(rejected.exit_now, bad);
    BOOST_TEST(rejected.exit_code == 2, bad);
    BOOST_TEST(rejected.output.find("--metrics-retention") != std::string::npos,
               rejected.output);
  }
}

BOOST_AUTO_TEST_CASE(tokens_from_environment) {
  env_guard worker{"ORCHESTRATOR_API_KEY", "worker-secret"};
  env_guard admin{"ORCHESTRATOR_ADMIN_KEY", "admin-secret"};
  auto result = parse({});
  BOOST_REQUIRE(!result.exit_now);
  BOOST_TEST(result.values.api_key == "worker-secret");
  BOOST_TEST(result.values.admin_key == "admin-secret");
  for (const auto& line : result.values.describe())
    BOOST_TEST(line.find("secret") == std::string::npos, line);
}

BOOST_AUTO_TEST_CASE(empty_token_variable_is_rejected) {
  env_guard worker{"ORCHESTRATOR_API_KEY", ""};
  auto result = parse({});
  BOOST_TEST(result.exit_now);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(result.output.find("set but empty") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(token_file_loses_one_newline) {
  orchestrator::testing::temp_dir dir;
  std::ofstream{dir.file("lf")} << "secret\n";
  std::ofstream{dir.file("crlf")} << "secret\r\n";
  std::ofstream{dir.file("two")} << "secret\n\n";
  std::ofstream{dir.file("empty")} << "";
  auto lf = read_token_file(dir.file("lf"));
  BOOST_REQUIRE(lf);
  BOOST_TEST(*lf == "secret");
  auto crlf = read_token_file(dir.file("crlf"));
  BOOST_REQUIRE(crlf);
  BOOST_TEST(*crlf == "secret");
  BOOST_TEST(!read_token_file(dir.file("two")));
  BOOST_TEST(!read_token_file(dir.file("empty")));
  BOOST_TEST(!read_token_file(dir.file("missing")));
  auto result = parse({"--admin-key-file", dir.file("lf")});
  BOOST_REQUIRE(!result.exit_now);
  BOOST_TEST(result.values.admin_key == "secret");
}

BOOST_AUTO_TEST_CASE(loopback_addresses) {
  settings s;
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    s.listen_host = host;
    BOOST_TEST(s.listens_on_loopback(), host);
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.5", "128.0.0.1", "localhost"}) {
    s.listen_host = host;
    BOOST_TEST(!s.listens_on_loopback(), host);
  }
}

BOOST_AUTO_TEST_CASE(open_listener_needs_token_or_flag) {
  auto refused = parse({"--listen", "0.0.0.0:8080"});
  BOOST_TEST(refused.exit_now);
  BOOST_TEST(refused.exit_code == 2);
  BOOST_TEST(refused.output.find("--allow-unauthenticated") != std::string::npos);
  auto allowed = parse({"--listen", "0.0.0.0:8080", "--allow-unauthenticated"});
  BOOST_TEST(!allowed.exit_now);
  env_guard worker{"ORCHESTRATOR_API_KEY", "worker-secret"};
  BOOST_TEST(!parse({"--listen", "[::]:8080"}).exit_now);
}

BOOST_AUTO_TEST_SUITE_END()
