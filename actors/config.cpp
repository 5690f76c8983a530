#include "actors/config.hpp"

#include "actors/errors.hpp"
#include "modules/store/postgres_store.hpp"

#include <CLI/CLI.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace orchestrator {

namespace {

duration to_duration(double seconds) {
  return duration{static_cast<std::int64_t>(std::llround(seconds * 1000.0))};
}

std::string format_seconds(duration d) {
  std::ostringstream out;
  out << static_cast<double>(d.count()) / 1000.0 << "s";
  return out.str();
}

} // namespace

caf::error parse_score_weights(const std::string& text, score_weights& weights) {
  std::istringstream items{text};
  std::string item;
  while (std::getline(items, item, ',')) {
    auto trim = [](std::string value) {
      auto first = value.find_first_not_of(" \t");
      auto last = value.find_last_not_of(" \t");
      return first == std::string::npos ? std::string{}
                                        : value.substr(first, last - first + 1);
    };
    item = trim(item);
    if (item.empty())
      continue;
    auto equals = item.find('=');
    auto name = trim(item.substr(0, equals));
    double* target = name == "cpu"             ? &weights.cpu
                     : name == "memory"        ? &weights.memory
                     : name == "load"          ? &weights.load
                     : name == "failures"      ? &weights.failures
                     : name == "response_time" ? &weights.response_time
                                               : nullptr;
    if (target == nullptr)
      return make_error(errc::invalid_request,
                        "unknown weight '" + name
                          + "'; the weights are cpu, memory, load, failures "
                            "and response_time");
    if (equals == std::string::npos)
      return make_error(errc::invalid_request,
                        "weight '" + name + "' has no value; write " + name
                          + "=0.3");
    auto value_text = trim(item.substr(equals + 1));
    char* end = nullptr;
    double value = std::strtod(value_text.c_str(), &end);
    if (value_text.empty() || end == nullptr || *end != '\0'
        || !std::isfinite(value) || value < 0 || value > 1000)
      return make_error(errc::invalid_request,
                        "weight '" + name + "' must be a number from 0 to "
                          "1000, got '" + value_text + "'");
    *target = value;
  }
  if (weights.cpu + weights.memory + weights.load <= 0)
    return make_error(errc::invalid_request,
                      "the cpu, memory and load weights must not all be 0");
  return caf::none;
}

std::string settings::database_path() const {
  if (store.rfind("sqlite:", 0) == 0)
    return store.substr(7);
  return data_dir + "/orchestrator.db";
}

bool settings::uses_postgres() const {
  return !store.empty() && store.rfind("sqlite:", 0) != 0;
}

bool settings::listens_on_loopback() const {
  in_addr v4{};
  if (::inet_pton(AF_INET, listen_host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, listen_host.c_str(), &v6) != 1)
    return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6))
    return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

caf::expected<std::string> read_token_file(const std::string& path) {
  // A token is short; a large file is a wrong path, such as a log.
  constexpr std::size_t max_token_bytes = 4096;
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::invalid_request,
                      "cannot read the token file " + path + ": "
                        + std::strerror(errno));

  std::string token;
  char buffer[512];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    token.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (token.size() > max_token_bytes + 2)
      return make_error(errc::invalid_request,
                        "the token file " + path + " is larger than "
                          + std::to_string(max_token_bytes)
                          + " bytes; it should hold one token");
  }
  if (in.bad())
    return make_error(errc::invalid_request,
                      "cannot read the token file " + path);

  if (!token.empty() && token.back() == '\n')
    token.pop_back();
  if (!token.empty() && token.back() == '\r')
    token.pop_back();
  if (token.empty())
    return make_error(errc::invalid_request,
                      "the token file " + path + " is empty; write the token "
                        "into it");

  for (unsigned char c : token)
    if (c <= 0x20 || c == 0x7f)
      return make_error(errc::invalid_request,
                        "the token in " + path + " contains whitespace or "
                          "control characters (or more than one trailing "
                          "newline); a bearer token is one word");
  return token;
}

std::string settings::store_description() const {
  return uses_postgres() ? postgres_store::redact(store)
                         : "sqlite:" + database_path();
}

namespace {

/// Quotes a value for a libpq key=value connection string.
std::string conninfo_value(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\\' || c == '\'')
      out += '\\';
    out += c;
  }
  return out + "'";
}

/// Builds a connection string from the Python server's variables, DB_* or
/// POSTGRES_*, or returns "" when neither names a host or a database.
std::string store_from_environment() {
  auto variable = [](const char* name) -> std::string {
    for (const char* prefix : {"DB_", "POSTGRES_"}) {
      const char* value = std::getenv((std::string{prefix} + name).c_str());
      if (value != nullptr && *value != '\0')
        return value;
    }
    return {};
  };
  auto host = variable("HOST");
  auto database = variable("NAME");
  if (database.empty())
    database = variable("DB");
  if (host.empty() && database.empty())
    return {};
  std::string result;
  auto add = [&](const char* key, const std::string& value) {
    if (!value.empty())
      result += (result.empty() ? "" : " ") + std::string{key} + "="
                + conninfo_value(value);
  };
  add("host", host.empty() ? std::string{"localhost"} : host);
  add("port", variable("PORT"));
  add("dbname", database);
  add("user", variable("USER"));
  add("password", variable("PASSWORD"));
  return result;
}

} // namespace

std::vector<std::string> settings::describe() const {
  std::vector<std::string> lines;
  auto add = [&](const char* key, const std::string& value) {
    lines.push_back(std::string{key} + "=" + value);
  };
  add("listen", listen_host + ":" + std::to_string(listen_port));
  add("store", store_description());
  if (uses_postgres()) {
    add("catalog_table", catalog_table);
    add("advertise_url", advertise_url);
    add("standby_poll", format_seconds(standby_poll));
    add("takeover_delay", format_seconds(takeover_delay));
  }
  add("data_dir", data_dir);
  add("catalog", catalog_file.empty() ? "(none)" : catalog_file);
  add("max_streams_per_instance", std::to_string(max_streams_per_instance));
  add("max_worker_capacity", std::to_string(max_worker_capacity));
  add("heartbeat_timeout", format_seconds(heartbeat_timeout));
  add("heartbeat_check_interval", format_seconds(heartbeat_check_interval));
  add("rebalance_interval", rebalance_interval.count() == 0
                              ? std::string{"off"}
                              : format_seconds(rebalance_interval));
  add("request_timeout", format_seconds(request_timeout));
  add("dead_worker_retention", format_seconds(dead_worker_retention));
  add("idle_timeout", format_seconds(idle_timeout));
  add("read_timeout", format_seconds(read_timeout));
  add("max_body_bytes", std::to_string(max_body_bytes));
  add("max_worker_body_bytes", std::to_string(max_worker_body_bytes));
  add("max_connections", std::to_string(max_connections));
  add("max_pending_requests", std::to_string(max_pending_requests));
  add("max_workers", std::to_string(max_workers));
  add("max_streams", std::to_string(max_streams));
  add("tls", tls_certificate.empty() ? std::string{"off"} : tls_certificate);
  add("io_threads", std::to_string(io_threads));
  add("actor_threads", std::to_string(actor_threads));
  add("log_level", log_level);
  add("api_key", api_key_source.empty() ? std::string{"(none)"}
                                        : "(from " + api_key_source + ")");
  add("admin_key", admin_key_source.empty() ? std::string{"(none)"}
                                            : "(from " + admin_key_source + ")");
  add("allow_unauthenticated", allow_unauthenticated ? "true" : "false");
  add("metrics_public", metrics_public ? "true" : "false");
  add("modules_dir", modules_dir.empty() ? std::string{"(next to the binary)"}
                                         : modules_dir);
  auto join = [](const std::vector<std::string>& names, const char* none) {
    std::string result;
    for (const auto& name : names)
      result += (result.empty() ? "" : ",") + name;
    return result.empty() ? std::string{none} : result;
  };
  add("modules", join(modules, "(all)"));
  add("skip_modules", join(skip_modules, "(none)"));
  add("metrics_interval", format_seconds(metrics_interval));
  add("metrics_retention", metrics_retention.count() == 0
                             ? std::string{"forever"}
                             : format_seconds(metrics_retention));
  const auto& b = balancing;
  auto number = [](double value) {
    std::ostringstream out;
    out << value;
    return out.str();
  };
  add("max_migrations_per_cycle", std::to_string(b.max_moves));
  add("max_migration_fraction", number(b.max_move_fraction));
  add("load_imbalance_threshold", number(b.imbalance_threshold));
  add("max_stream_difference", number(b.max_stream_difference));
  add("max_load_factor", number(b.max_load_factor));
  add("min_instances_for_rebalance", std::to_string(b.min_instances));
  add("rebalance_cooldown", format_seconds(duration{b.cooldown_ms}));
  add("load_average_full", number(b.load_average_full));
  add("score_weights", "cpu=" + number(b.weights.cpu) + ",memory="
                         + number(b.weights.memory) + ",load="
                         + number(b.weights.load) + ",failures="
                         + number(b.weights.failures) + ",response_time="
                         + number(b.weights.response_time));
  add("handoff_timeout", format_seconds(handoff_timeout));
  add("suspect_after", format_seconds(suspect_after));
  add("phi_threshold", number(phi_threshold));
  add("acceptable_heartbeat_pause", format_seconds(acceptable_pause));
  add("suspect_grace", format_seconds(suspect_grace));
  add("max_suspect_fraction", number(max_suspect_fraction));
  add("quarantine", format_seconds(quarantine_base) + ".."
                      + format_seconds(quarantine_max));
  add("circuit_breaker_threshold", std::to_string(store_breaker.failure_threshold));
  add("circuit_breaker_timeout", format_seconds(duration{store_breaker.open_ms}));
  add("max_retry_attempts", std::to_string(max_retry_attempts));
  add("retry_backoff", format_seconds(duration{retry_backoff.base_ms}) + ".."
                         + format_seconds(duration{retry_backoff.cap_ms})
                         + (retry_backoff.exponential ? " exponential" : " fixed"));
  return lines;
}

caf::expected<std::pair<std::string, std::uint16_t>>
parse_listen_address(const std::string& text) {
  auto invalid = [&](const std::string& why) {
    return make_error(errc::invalid_request,
                      "invalid listen address '" + text + "': " + why
                        + "; expected HOST:PORT such as 127.0.0.1:8080 or "
                          "[::1]:8080");
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return invalid("the port is missing");
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string::npos)
    return invalid("IPv6 addresses need brackets");
  if (host.empty())
    host = "0.0.0.0";
  // Host names would need a resolver and could name several addresses; the
  // one everybody types is mapped to its IPv4 address.
  if (host == "localhost")
    host = "127.0.0.1";
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) != 1
      && ::inet_pton(AF_INET6, host.c_str(), &v6) != 1)
    return invalid("the host must be an IPv4 or IPv6 address, or localhost");
  if (port_text.empty()
      || port_text.find_first_not_of("0123456789") != std::string::npos
      || port_text.size() > 5 || std::stoul(port_text) > 65535)
    return invalid("the port must be a number from 0 to 65535");
  return std::make_pair(host, static_cast<std::uint16_t>(std::stoul(port_text)));
}

namespace {

/// Fills one token from its file or its environment variable. Returns the
/// problem, if any; it never contains the token.
std::optional<std::string> load_token(const char* variable,
                                      const char* file_option,
                                      const std::string& file,
                                      std::string& token,
                                      std::string& source) {
  const char* from_environment = std::getenv(variable);
  // An empty variable next to a file is what templates often leave behind,
  // so only a variable with a value conflicts with the file.
  if (from_environment != nullptr && *from_environment != '\0'
      && !file.empty())
    return std::string{variable} + " and " + file_option
           + " are both set; keep one of them";
  if (!file.empty()) {
    auto read = read_token_file(file);
    if (!read)
      return std::string{file_option} + ": " + describe(read.error());
    token = std::move(*read);
    source = "file " + file;
    return std::nullopt;
  }
  if (from_environment == nullptr)
    return std::nullopt;
  token = from_environment;
  if (token.empty())
    return std::string{variable} + " is set but empty; set it to a token, or "
           "unset it";
  for (unsigned char c : token)
    if (c <= 0x20 || c == 0x7f)
      return std::string{variable} + " contains whitespace or control "
             "characters; a bearer token is one word";
  source = variable;
  return std::nullopt;
}

/// Reads both tokens and checks that they differ.
std::optional<std::string> load_tokens(settings& s,
                                       const std::string& api_key_file,
                                       const std::string& admin_key_file) {
  if (auto problem = load_token("ORCHESTRATOR_API_KEY", "--api-key-file",
                                api_key_file, s.api_key, s.api_key_source))
    return problem;
  if (auto problem = load_token("ORCHESTRATOR_ADMIN_KEY", "--admin-key-file",
                                admin_key_file, s.admin_key,
                                s.admin_key_source))
    return problem;
  if (!s.api_key.empty() && s.api_key == s.admin_key)
    return std::string{"the worker and admin tokens are the same, which "
                       "would give every worker the operator's rights; "
                       "choose two different tokens"};
  return std::nullopt;
}

} // namespace

command_line parse_command_line(int argc, char** argv) {
  command_line result;
  auto& s = result.values;

  CLI::App app{"Stream orchestrator: assigns long-lived streams to workers, "
               "moves them when workers fail, and keeps every assignment in "
               "a durable store.",
               "orchestrator"};
  app.option_defaults()->always_capture_default();
  // A misspelled key or a key under an [section] header must not be ignored
  // silently: the server would run on a default the operator meant to change.
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.get_formatter()->column_width(44);

  std::string listen = defaults::listen;
  double heartbeat_timeout = defaults::heartbeat_timeout;
  double check_interval = defaults::heartbeat_check_interval;
  double rebalance_interval = defaults::rebalance_interval;
  double request_timeout = defaults::request_timeout;
  double retention = defaults::dead_worker_retention;
  double idle_timeout = defaults::idle_timeout;
  double read_timeout = defaults::read_timeout;
  constexpr double year = 365.0 * 86400.0;

  app.set_config("--config", "",
                 "Read settings from this INI or TOML file; keys are the long "
                 "option names, such as heartbeat-timeout = 30 "
                 "[env: ORCHESTRATOR_CONFIG]");
  app.add_option("--listen", listen,
                 "HTTP address as HOST:PORT; port 0 picks a free port")
    ->type_name("HOST:PORT")
    ->envname("ORCHESTRATOR_LISTEN");
  app.add_option("--data-dir", s.data_dir,
                 "Folder of the SQLite database (created if missing)")
    ->type_name("DIR")
    ->envname("ORCHESTRATOR_DATA_DIR");
  app.add_option("--store", s.store,
                 "Where the state lives: sqlite:PATH, or a PostgreSQL "
                 "connection string such as postgresql://USER@HOST:5432/DB. "
                 "Default: DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_PASSWORD "
                 "(or POSTGRES_*) when set, else orchestrator.db in "
                 "--data-dir")
    ->type_name("STORE")
    ->envname("ORCHESTRATOR_STORE");
  app.add_option("--catalog-table", s.catalog_table,
                 "PostgreSQL table of the stream catalogue, as TABLE or "
                 "SCHEMA.TABLE")
    ->type_name("TABLE")
    ->envname("ORCHESTRATOR_CATALOG_TABLE");
  app.add_option("--advertise-url", s.advertise_url,
                 "This server's address as workers reach it, shown by "
                 "standbys as the leader's (default: http://LISTEN)")
    ->type_name("URL")
    ->envname("ORCHESTRATOR_ADVERTISE_URL");
  double standby_poll = 0.5;
  double takeover_delay = 2;
  app.add_option("--standby-poll", standby_poll,
                 "Seconds between a standby's tries for the leader lock")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_STANDBY_POLL")
    ->check(CLI::Number)
    ->check(CLI::Range(0.05, 60.0));
  app.add_option("--takeover-delay", takeover_delay,
                 "Seconds a new leader waits before it serves, so that a "
                 "deposed leader has stopped; keep it above 1")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_TAKEOVER_DELAY")
    ->check(CLI::Number)
    ->check(CLI::Range(0.0, 600.0));
  app.add_option("--catalog", s.catalog_file,
                 "Stream catalogue to import at start-up (.json or .csv)")
    ->type_name("FILE")
    ->envname("ORCHESTRATOR_CATALOG")
    ->check(CLI::ExistingFile);
  app.add_option("--max-streams-per-instance", s.max_streams_per_instance,
                 "Capacity of a worker that registers without max_streams")
    ->type_name("COUNT")
    ->envname("MAX_STREAMS_PER_INSTANCE")
    ->check(CLI::Number)
    ->check(CLI::Range(0, 100000));
  app.add_option("--max-worker-capacity", s.max_worker_capacity,
                 "Largest capacity a worker of the /api endpoints may claim; "
                 "larger claims are capped")
    ->type_name("COUNT")
    ->envname("MAX_WORKER_CAPACITY")
    ->check(CLI::Number)
    ->check(CLI::Range(1, 100000));
  app.add_option("--heartbeat-timeout", heartbeat_timeout,
                 "Seconds of silence after which a worker is declared dead")
    ->type_name("SECONDS")
    ->envname("HEARTBEAT_TIMEOUT")
    ->check(CLI::Number)
    ->check(CLI::Range(0.05, year));
  app.add_option("--heartbeat-check-interval", check_interval,
                 "Seconds between dead-worker checks")
    ->type_name("SECONDS")
    ->envname("HEARTBEAT_CHECK_INTERVAL")
    ->check(CLI::Number)
    ->check(CLI::Range(0.01, 86400.0));
  app.add_option("--rebalance-interval", rebalance_interval,
                 "Seconds between automatic rebalances; 0 turns them off")
    ->type_name("SECONDS")
    ->envname("REBALANCE_INTERVAL")
    ->check(CLI::Number)
    ->check(CLI::Range(0.0, year));
  app.add_option("--request-timeout", request_timeout,
                 "Seconds an HTTP request may wait for the orchestrator's "
                 "actors before it fails with 503")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_REQUEST_TIMEOUT")
    ->check(CLI::Number)
    ->check(CLI::Range(0.05, 600.0));
  app.add_option("--dead-worker-retention", retention,
                 "Seconds a dead worker stays listed before it is forgotten")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_DEAD_WORKER_RETENTION")
    ->check(CLI::Number)
    ->check(CLI::Range(0.0, year));
  app.add_option("--idle-timeout", idle_timeout,
                 "Seconds after which an idle or stalled HTTP connection is "
                 "closed")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_IDLE_TIMEOUT")
    ->check(CLI::Number)
    ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--read-timeout", read_timeout,
                 "Seconds a client has to send a whole request once it "
                 "started, and to take a whole response; slower clients are "
                 "closed")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_READ_TIMEOUT")
    ->check(CLI::Number)
    ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--max-body-bytes", s.max_body_bytes,
                 "Largest request body in bytes (catalogue imports); larger "
                 "ones get 413")
    ->type_name("BYTES")
    ->envname("ORCHESTRATOR_MAX_BODY_BYTES")
    ->check(CLI::Number)
    ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{1} << 30));
  app.add_option("--max-worker-body-bytes", s.max_worker_body_bytes,
                 "Largest body of every other request in bytes; larger ones "
                 "get 413")
    ->type_name("BYTES")
    ->envname("ORCHESTRATOR_MAX_WORKER_BODY_BYTES")
    ->check(CLI::Number)
    ->check(CLI::Range(std::uint64_t{1024}, std::uint64_t{1} << 30));
  app.add_option("--max-connections", s.max_connections,
                 "Open HTTP connections allowed; past this, new ones get 503 and are closed")
    ->type_name("COUNT")
    ->envname("ORCHESTRATOR_MAX_CONNECTIONS")
    ->check(CLI::Number)
    ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--max-pending-requests", s.max_pending_requests,
                 "Requests waiting for the actors at once; past half of it "
                 "listing and admin requests get 503, past three quarters "
                 "other worker requests, heartbeats only past all of it")
    ->type_name("COUNT")
    ->envname("ORCHESTRATOR_MAX_PENDING_REQUESTS")
    ->check(CLI::Number)
    ->check(CLI::Range(4u, 1'000'000u));
  app.add_option("--max-workers", s.max_workers,
                 "Workers known at once, dead ones included until forgotten; "
                 "new registrations past this get 503")
    ->type_name("COUNT")
    ->envname("ORCHESTRATOR_MAX_WORKERS")
    ->check(CLI::Number)
    ->check(CLI::Range(1u, 10'000'000u));
  app.add_option("--max-streams", s.max_streams,
                 "Streams the catalogue may hold; imports past this get 503")
    ->type_name("COUNT")
    ->envname("ORCHESTRATOR_MAX_STREAMS")
    ->check(CLI::Number)
    ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}));
  app.add_option("--tls-cert", s.tls_certificate,
                 "PEM certificate chain; with --tls-key the server speaks "
                 "HTTPS only")
    ->type_name("FILE")
    ->envname("ORCHESTRATOR_TLS_CERT");
  app.add_option("--tls-key", s.tls_key,
                 "PEM private key of the --tls-cert certificate")
    ->type_name("FILE")
    ->envname("ORCHESTRATOR_TLS_KEY");
  app.add_option("--io-threads", s.io_threads, "Threads serving HTTP")
    ->type_name("COUNT")
    ->envname("ORCHESTRATOR_IO_THREADS")
    ->check(CLI::Number)
    ->check(CLI::Range(1, 64));
  app.add_option("--actor-threads", s.actor_threads,
                 "Threads of the actor scheduler")
    ->type_name("COUNT")
    ->envname("ORCHESTRATOR_ACTOR_THREADS")
    ->check(CLI::Number)
    ->check(CLI::Range(1, 64));
  double metrics_interval = 10;
  // Names are trimmed, so "a, b" works, and the Python server's names map
  // to ours. An empty name (from an empty value) is dropped after parsing,
  // so "" means an empty list.
  auto trim_name = [](std::string name) {
    auto first = name.find_first_not_of(" \t");
    auto last = name.find_last_not_of(" \t");
    name = first == std::string::npos ? std::string{}
                                      : name.substr(first, last - first + 1);
    if (name == "psutil")
      return std::string{"system_metrics"};
    if (name == "enhanced_orchestrator")
      return std::string{"smart_balancer"};
    if (name == "resilient_orchestrator")
      return std::string{"resilient_failure_handler"};
    return name;
  };
  CLI::Validator module_name{
    [](std::string& name) -> std::string {
      if (name.empty() || name == "smart_balancer"
          || name == "resilient_failure_handler" || name == "system_metrics")
        return {};
      return "unknown module '" + name
             + "'; the modules are system_metrics, smart_balancer and "
               "resilient_failure_handler (or their Python names psutil, "
               "enhanced_orchestrator and resilient_orchestrator)";
    },
    "MODULE"};
  app.add_option("--modules-dir", s.modules_dir,
                 "Folder of the optional modules (default: modules/ next to "
                 "the orchestrator binary)")
    ->type_name("DIR")
    ->envname("ORCHESTRATOR_MODULES_DIR");
  app.add_option("--modules", s.modules,
                 "Comma-separated modules to load (default: all of "
                 "smart_balancer, resilient_failure_handler, system_metrics)")
    ->type_name("LIST")
    ->envname("ORCHESTRATOR_MODULES")
    ->delimiter(',')
    ->transform(trim_name)
    ->check(module_name);
  app.add_option("--skip-modules", s.skip_modules,
                 "Comma-separated modules not to load even when installed")
    ->type_name("LIST")
    ->envname("ORCHESTRATOR_SKIP_MODULES")
    ->delimiter(',')
    ->transform(trim_name)
    ->check(module_name);
  app.add_option("--metrics-interval", metrics_interval,
                 "Seconds between samples of the host's system metrics")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_METRICS_INTERVAL")
    ->check(CLI::Number)
    ->check(CLI::Range(0.05, 86400.0));
  double metrics_retention_hours = defaults::metrics_retention_hours;
  app.add_option("--metrics-retention", metrics_retention_hours,
                 "Hours workers' metrics samples stay in the store before "
                 "they are deleted; 0 keeps them for ever")
    ->type_name("HOURS")
    ->envname("ORCHESTRATOR_METRICS_RETENTION")
    ->check(CLI::Number)
    ->check(CLI::Range(0.0, 87600.0));
  auto& b = s.balancing;
  app.add_option("--max-migrations-per-cycle", b.max_moves,
                 "Most streams one rebalance round moves")
    ->type_name("COUNT")
    ->envname("MAX_MIGRATIONS_PER_CYCLE")
    ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000000}));
  app.add_option("--max-migration-fraction", b.max_move_fraction,
                 "Most streams one rebalance round moves, as a fraction of "
                 "all assigned streams; the smaller limit wins")
    ->type_name("FRACTION")
    ->envname("ORCHESTRATOR_MAX_MIGRATION_FRACTION")
    ->check(CLI::Range(0.0001, 1.0));
  app.add_option("--load-imbalance-threshold", b.imbalance_threshold,
                 "Rebalance only when workers' loads relative to their fair "
                 "share differ by more than this...")
    ->type_name("FRACTION")
    ->envname("LOAD_IMBALANCE_THRESHOLD")
    ->check(CLI::Range(0.0, 100.0));
  app.add_option("--max-stream-difference", b.max_stream_difference,
                 "...and their streams above fair share differ by more than "
                 "this many")
    ->type_name("COUNT")
    ->envname("MAX_STREAM_DIFFERENCE")
    ->check(CLI::Range(0.0, 1000000.0));
  app.add_option("--max-load-factor", b.max_load_factor,
                 "Load score (0 to 1, from a worker's system metrics) above "
                 "which a worker is overloaded and its share is halved")
    ->type_name("FRACTION")
    ->envname("MAX_LOAD_FACTOR")
    ->check(CLI::Range(0.01, 1.0));
  app.add_option("--min-instances-for-rebalance", b.min_instances,
                 "Fewest workers able to take streams for a rebalance to "
                 "even out load")
    ->type_name("COUNT")
    ->envname("MIN_INSTANCES_FOR_REBALANCE")
    ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1000000}));
  double cooldown = 30;
  app.add_option("--rebalance-cooldown", cooldown,
                 "Seconds without automatic moves after a worker joins, "
                 "dies, leaves or drains")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_REBALANCE_COOLDOWN")
    ->check(CLI::Range(0.0, year));
  app.add_option("--load-average-full", b.load_average_full,
                 "1-minute load average at which a worker counts as fully "
                 "loaded (about its number of cores)")
    ->type_name("LOAD")
    ->envname("ORCHESTRATOR_LOAD_AVERAGE_FULL")
    ->check(CLI::Range(0.01, 100000.0));
  std::string score_weights;
  app.add_option("--score-weights", score_weights,
                 "Weights of the load score, as cpu=0.3,memory=0.3,load=0.2,"
                 "failures=0.1,response_time=0.1; names left out keep their "
                 "default")
    ->type_name("LIST")
    ->envname("ORCHESTRATOR_SCORE_WEIGHTS");
  double handoff_timeout = defaults::handoff_timeout;
  app.add_option("--handoff-timeout", handoff_timeout,
                 "Seconds a stream's old owner has to confirm it dropped a "
                 "moved stream before the new owner gets it anyway")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_HANDOFF_TIMEOUT")
    ->check(CLI::Range(0.0, 86400.0));
  double suspect_after = 0;
  app.add_option("--suspect-after", suspect_after,
                 "Seconds of heartbeat silence after which the balancer "
                 "treats a worker as suspect and moves nothing (default: "
                 "half the heartbeat timeout)")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_SUSPECT_AFTER")
    ->check(CLI::Range(0.0, year));
  app.add_option("--phi-threshold", s.phi_threshold,
                 "Suspicion level (phi) at which the resilient failure "
                 "handler declares a suspect worker dead")
    ->type_name("PHI")
    ->envname("ORCHESTRATOR_PHI_THRESHOLD")
    ->check(CLI::Range(1.0, 100.0));
  double acceptable_pause = 3;
  app.add_option("--acceptable-heartbeat-pause", acceptable_pause,
                 "Seconds a worker may add to its usual heartbeat interval "
                 "before the resilient failure handler grows suspicious")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_ACCEPTABLE_HEARTBEAT_PAUSE")
    ->check(CLI::Range(0.0, 86400.0));
  double suspect_grace = 0.25;
  app.add_option("--suspect-grace", suspect_grace,
                 "Seconds a worker stays suspect before its streams may move")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_SUSPECT_GRACE")
    ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--max-suspect-fraction", s.max_suspect_fraction,
                 "Fraction of the workers suspect at once above which no "
                 "worker is declared dead (a freeze)")
    ->type_name("FRACTION")
    ->envname("ORCHESTRATOR_MAX_SUSPECT_FRACTION")
    ->check(CLI::Range(0.01, 1.0));
  double quarantine_base = 30;
  double quarantine_max = 600;
  app.add_option("--quarantine-base", quarantine_base,
                 "Seconds without new streams for a worker that failed twice "
                 "within ten minutes; doubled for each further failure")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_QUARANTINE_BASE")
    ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--quarantine-max", quarantine_max,
                 "Longest quarantine, in seconds")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_QUARANTINE_MAX")
    ->check(CLI::Range(0.0, 86400.0 * 7));
  app.add_option("--circuit-breaker-threshold", s.store_breaker.failure_threshold,
                 "Consecutive store failures that open its circuit breaker")
    ->type_name("COUNT")
    ->envname("CIRCUIT_BREAKER_THRESHOLD")
    ->check(CLI::Range(1, 1000));
  double breaker_timeout = 60;
  app.add_option("--circuit-breaker-timeout", breaker_timeout,
                 "Seconds an open breaker fails requests fast before it lets "
                 "a probe through")
    ->type_name("SECONDS")
    ->envname("CIRCUIT_BREAKER_TIMEOUT")
    ->check(CLI::Range(0.01, 86400.0));
  app.add_option("--max-retry-attempts", s.max_retry_attempts,
                 "Retries of a failed store commit before its requests fail")
    ->type_name("COUNT")
    ->envname("MAX_RETRY_ATTEMPTS")
    ->check(CLI::Range(0, 100));
  app.add_option("--exponential-backoff", s.retry_backoff.exponential,
                 "Double the delay between retries (true) or keep it fixed")
    ->type_name("BOOL")
    ->envname("EXPONENTIAL_BACKOFF");
  double retry_base = 0.05;
  double retry_cap = 2;
  app.add_option("--retry-delay", retry_base,
                 "Seconds before the first retry; each delay is drawn "
                 "between zero and its exponential value")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_RETRY_DELAY")
    ->check(CLI::Range(0.0, 60.0));
  app.add_option("--retry-delay-max", retry_cap, "Longest delay between retries, "
                                                 "in seconds")
    ->type_name("SECONDS")
    ->envname("ORCHESTRATOR_RETRY_DELAY_MAX")
    ->check(CLI::Range(0.0, 600.0));
  std::string api_key_file;
  std::string admin_key_file;
  app.add_option("--api-key-file", api_key_file,
                 "File holding the worker token, used instead of "
                 "ORCHESTRATOR_API_KEY; one trailing newline is ignored")
    ->type_name("FILE")
    ->envname("ORCHESTRATOR_API_KEY_FILE");
  app.add_option("--admin-key-file", admin_key_file,
                 "File holding the admin token, used instead of "
                 "ORCHESTRATOR_ADMIN_KEY; one trailing newline is ignored")
    ->type_name("FILE")
    ->envname("ORCHESTRATOR_ADMIN_KEY_FILE");
  app.add_flag("--allow-unauthenticated", s.allow_unauthenticated,
               "Listen on a non-loopback address although no token is set; "
               "only behind a proxy that authenticates")
    ->envname("ORCHESTRATOR_ALLOW_UNAUTHENTICATED");
  app.add_flag("--metrics-public", s.metrics_public,
               "Serve GET /metrics without a token, for scrapers that send "
               "none")
    ->envname("ORCHESTRATOR_METRICS_PUBLIC");
  app.add_option("--log-level", s.log_level,
                 "Log level: trace, debug, info, warn, error or off")
    ->type_name("LEVEL")
    ->envname("ORCHESTRATOR_LOG_LEVEL")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  // CLI11 reads the config file before the environment, so a config path
  // from the environment is passed on as if given on the command line.
  std::vector<std::string> args;
  for (int i = argc - 1; i > 0; --i)
    args.emplace_back(argv[i]);
  bool config_flag = false;
  for (const auto& arg : args)
    config_flag = config_flag || arg == "--config"
                  || arg.rfind("--config=", 0) == 0;
  if (const char* path = std::getenv("ORCHESTRATOR_CONFIG");
      path != nullptr && *path != '\0' && !config_flag) {
    // CLI11 takes the arguments in reverse order.
    args.insert(args.begin(), "--config");
    args.insert(args.begin(), path);
  }

  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    result.exit_now = true;
    result.exit_code = 0;
    result.output = app.help();
    return result;
  } catch (const CLI::ConfigError& e) {
    // CLI11 reports an unknown key as "INI was not able to parse KEY", and a
    // [section] header as a key "SECTION.++".
    std::string key = e.what();
    auto at = key.rfind("parse ");
    if (at != std::string::npos)
      key = key.substr(at + 6);
    auto section = key.find('.');
    result.exit_now = true;
    result.exit_code = 2;
    result.output
      = "orchestrator: invalid configuration: config file: "
        + (section != std::string::npos
             ? "[" + key.substr(0, section) + "] sections are not supported"
             : "unknown key '" + key + "'")
        + ". Write each setting at the top level under its long option "
          "name, such as heartbeat-timeout = 30.\nRun 'orchestrator --help' "
          "for the settings.";
    return result;
  } catch (const CLI::ParseError& e) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = std::string{"orchestrator: invalid configuration: "}
                    + e.what() + "\nRun 'orchestrator --help' for the settings.";
    return result;
  }

  auto address = parse_listen_address(listen);
  if (!address) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = "orchestrator: invalid configuration: --listen: "
                    + describe(address.error());
    return result;
  }
  s.listen_host = address->first;
  s.listen_port = address->second;
  s.standby_poll = to_duration(standby_poll);
  s.takeover_delay = to_duration(takeover_delay);
  if (s.store.empty())
    s.store = store_from_environment();
  auto store_error = [&](const std::string& text) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = "orchestrator: invalid configuration: --store: " + text
                    + "\nRun 'orchestrator --help' for the settings.";
    return result;
  };
  if (s.store.rfind("sqlite:", 0) == 0 && s.store.size() == 7)
    return store_error("sqlite: needs a path, such as sqlite:/var/lib/"
                       "orchestrator/state.db");
  bool looks_postgres = s.store.rfind("postgresql://", 0) == 0
                        || s.store.rfind("postgres://", 0) == 0
                        || s.store.find('=') != std::string::npos;
  if (s.uses_postgres() && !looks_postgres)
    return store_error("'" + s.store.substr(0, s.store.find(':'))
                       + "...' is neither sqlite:PATH nor a PostgreSQL "
                         "connection string (postgresql://USER@HOST:PORT/DB)");
  if (!postgres_store::valid_table_name(s.catalog_table)) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = "orchestrator: invalid configuration: --catalog-table: '"
                    + s.catalog_table
                    + "' is not a table name; use letters, digits and _, as "
                      "TABLE or SCHEMA.TABLE";
    return result;
  }
  if (s.tls_certificate.empty() != s.tls_key.empty()) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = "orchestrator: invalid configuration: --tls-cert and "
                    "--tls-key go together; give both for HTTPS or neither "
                    "for plain HTTP";
    return result;
  }
  // A missing file is reported here, naming its flag, instead of as an
  // OpenSSL error once the state has loaded.
  for (const auto& [flag, file] : {std::pair{"--tls-cert", &s.tls_certificate},
                                   std::pair{"--tls-key", &s.tls_key}}) {
    if (file->empty() || std::ifstream{*file}.good())
      continue;
    result.exit_now = true;
    result.exit_code = 2;
    result.output = std::string{"orchestrator: invalid configuration: "} + flag
                    + ": cannot read '" + *file + "': " + std::strerror(errno)
                    + "; give the path of a readable PEM file";
    return result;
  }
  s.heartbeat_timeout = to_duration(heartbeat_timeout);
  s.heartbeat_check_interval = to_duration(check_interval);
  s.rebalance_interval = to_duration(rebalance_interval);
  s.request_timeout = to_duration(request_timeout);
  s.dead_worker_retention = to_duration(retention);
  s.idle_timeout = to_duration(idle_timeout);
  s.read_timeout = to_duration(read_timeout);
  s.metrics_interval = to_duration(metrics_interval);
  s.metrics_retention = to_duration(metrics_retention_hours * 3600.0);
  s.handoff_timeout = to_duration(handoff_timeout);
  s.suspect_after = suspect_after > 0 ? to_duration(suspect_after)
                                      : s.heartbeat_timeout / 2;
  b.cooldown_ms = to_duration(cooldown).count();
  s.acceptable_pause = to_duration(acceptable_pause);
  s.suspect_grace = to_duration(suspect_grace);
  s.quarantine_base = to_duration(quarantine_base);
  s.quarantine_max = to_duration(std::max(quarantine_max, quarantine_base));
  s.store_breaker.open_ms = to_duration(breaker_timeout).count();
  s.retry_backoff.base_ms = to_duration(retry_base).count();
  s.retry_backoff.cap_ms = to_duration(std::max(retry_cap, retry_base)).count();
  if (auto err = parse_score_weights(score_weights, b.weights)) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = "orchestrator: invalid configuration: --score-weights: "
                    + describe(err)
                    + "\nRun 'orchestrator --help' for the settings.";
    return result;
  }
  for (auto* names : {&s.modules, &s.skip_modules})
    names->erase(std::remove(names->begin(), names->end(), std::string{}),
                 names->end());
  if (auto* config = app.get_config_ptr(); config != nullptr && config->count() > 0)
    s.config_file = config->as<std::string>();
  if (auto problem = load_tokens(s, api_key_file, admin_key_file)) {
    result.exit_now = true;
    result.exit_code = 2;
    result.output = "orchestrator: invalid configuration: " + *problem;
    return result;
  }
  if (!s.api_key.empty() || !s.admin_key.empty() || s.listens_on_loopback()
      || s.allow_unauthenticated)
    return result;
  result.exit_now = true;
  result.exit_code = 2;
  result.output
    = "orchestrator: cannot listen on " + s.listen_host
      + " without authentication, because anyone who reaches that address "
        "could register workers and take streams. Set ORCHESTRATOR_API_KEY "
        "and ORCHESTRATOR_ADMIN_KEY (or --api-key-file and --admin-key-file), "
        "listen on a loopback address such as 127.0.0.1, or pass "
        "--allow-unauthenticated when a proxy in front authenticates.";
  return result;
}

} // namespace orchestrator
