#pragma once

#include "modules/balancer/balancer.hpp"
#include "modules/failure/circuit_breaker.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace orchestrator {

using duration = std::chrono::milliseconds;

/// Built-in defaults; each is overridable by a flag, an environment
/// variable or the config file.
namespace defaults {

/// Address the HTTP server listens on; port 0 picks a free port.
inline constexpr const char* listen = "127.0.0.1:8080";
/// Folder of the SQLite database.
inline constexpr const char* data_dir = "./data";
/// Capacity of a worker that registers without max_streams.
inline constexpr std::uint32_t max_streams_per_instance = 20;
/// Silence after which a worker is declared dead, in seconds.
inline constexpr double heartbeat_timeout = 300;
/// Interval of the dead-worker check, in seconds.
inline constexpr double heartbeat_check_interval = 30;
/// Interval of the automatic rebalance, in seconds; 0 turns it off.
inline constexpr double rebalance_interval = 60;
/// Time an HTTP request may wait for the actors, in seconds.
inline constexpr double request_timeout = 5;
/// How long a dead worker stays listed before it is forgotten, in seconds.
inline constexpr double dead_worker_retention = 86400;
/// How long workers' metrics samples stay in the store, in hours. Zero
/// keeps them for ever.
inline constexpr double metrics_retention_hours = 168;
/// Largest request body accepted, in bytes.
inline constexpr std::uint64_t max_body_bytes = 4 * 1024 * 1024;
/// Connections idle for longer than this are closed, in seconds.
inline constexpr double idle_timeout = 60;
/// Time a client has to send a whole request, or take a whole response,
/// in seconds.
inline constexpr double read_timeout = 10;
/// Largest body of a worker request (all but catalogue imports), in bytes.
inline constexpr std::uint64_t max_worker_body_bytes = 256 * 1024;
/// Open HTTP connections allowed; new ones past this get 503.
inline constexpr std::uint32_t max_connections = 10'000;
/// Time a stream's owner has to let go of a revoked stream before it goes
/// to its new owner anyway, in seconds.
inline constexpr double handoff_timeout = 120;

} // namespace defaults

/// The effective configuration of one server.
struct settings {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string data_dir = defaults::data_dir;
  /// Location of the state: "sqlite:PATH" or a PostgreSQL connection string
  /// (postgresql://... or key=value pairs). Empty means the SQLite file in
  /// data_dir. May hold a password: log store_description() instead.
  std::string store;
  /// The stream catalogue's table in PostgreSQL.
  std::string catalog_table = "streams";
  /// The HTTP address standbys name as the leader's; empty means the
  /// listening address.
  std::string advertise_url;
  /// Time between a standby's tries for the leader lock.
  duration standby_poll{500};
  /// Time a new leader waits after taking the lock before it serves, so that
  /// a deposed leader has noticed (its check runs every second) and stopped.
  duration takeover_delay{2'000};
  std::string catalog_file;
  std::string config_file;
  std::uint32_t max_streams_per_instance = defaults::max_streams_per_instance;
  /// Largest capacity an /api worker may claim. Larger claims are capped,
  /// and the reply reports the cap.
  std::uint32_t max_worker_capacity = 1000;
  duration heartbeat_timeout{300'000};
  duration heartbeat_check_interval{30'000};
  /// Zero turns automatic rebalancing off.
  duration rebalance_interval{60'000};
  duration request_timeout{5'000};
  duration dead_worker_retention{86'400'000};
  duration idle_timeout{60'000};
  duration read_timeout{10'000};
  std::uint64_t max_body_bytes = defaults::max_body_bytes;
  std::uint64_t max_worker_body_bytes = defaults::max_worker_body_bytes;
  std::uint32_t max_connections = defaults::max_connections;
  /// Requests waiting for the actors at once; see api_settings.
  std::uint32_t max_pending_requests = 4096;
  /// Workers known at once, dead ones included until forgotten.
  std::uint32_t max_workers = 100'000;
  /// Streams in the catalogue.
  std::uint64_t max_streams = 10'000'000;
  /// PEM certificate chain and key for HTTPS; empty serves plain HTTP.
  std::string tls_certificate;
  std::string tls_key;
  std::size_t io_threads = 1;
  std::size_t actor_threads = 2;
  std::string log_level = "info";

  // -- authentication ---------------------------------------------------------
  /// Bearer token of workers and listings (ORCHESTRATOR_API_KEY or
  /// --api-key-file); empty when not configured. A secret: never logged.
  std::string api_key;
  /// Bearer token of operator actions (ORCHESTRATOR_ADMIN_KEY or
  /// --admin-key-file); empty when not configured. A secret: never logged.
  std::string admin_key;
  /// Source of each token, for the log: "ORCHESTRATOR_API_KEY", "file PATH"
  /// or "" when not configured.
  std::string api_key_source;
  std::string admin_key_source;
  /// Listen on a non-loopback address without any token.
  bool allow_unauthenticated = false;
  /// Serve GET /metrics without a token.
  bool metrics_public = false;

  /// True when the listen address is a loopback address (127.0.0.0/8, ::1
  /// or ::ffff:127.0.0.0/104).
  bool listens_on_loopback() const;
  /// Folder of the optional modules; empty means "modules" next to the
  /// server binary.
  std::string modules_dir;
  /// Modules to load; empty means every known module.
  std::vector<std::string> modules;
  /// Modules not to load even when installed.
  std::vector<std::string> skip_modules;
  /// Interval of host metrics sampling by the system_metrics module.
  duration metrics_interval{10'000};
  /// Age after which workers' metrics samples are deleted from the store.
  /// Zero keeps them for ever.
  duration metrics_retention{168LL * 3'600'000};
  /// Thresholds, budget and score weights of the balancing policies.
  balancer_settings balancing;
  /// Time a stream's old owner has to confirm that it dropped a revoked
  /// stream; then the new owner gets it anyway.
  duration handoff_timeout{120'000};
  /// Heartbeat silence after which the balancer treats a worker as suspect
  /// and moves nothing.
  duration suspect_after{150'000};

  // -- resilient failure handling ---------------------------------------------
  /// Phi at which the resilient detector declares a suspect worker dead.
  double phi_threshold = 8;
  /// Silence a worker may add to its usual heartbeat interval before
  /// suspicion grows.
  duration acceptable_pause{3'000};
  /// Time a worker stays suspect before its streams may move.
  duration suspect_grace{250};
  /// More than this fraction of the workers suspect at once freezes
  /// reassignment.
  double max_suspect_fraction = 0.5;
  /// First quarantine of a worker that failed twice within ten minutes;
  /// each further failure doubles it, up to quarantine_max.
  duration quarantine_base{30'000};
  duration quarantine_max{600'000};
  /// The store's circuit breaker.
  breaker_settings store_breaker;
  /// Retries of a failed store commit before the requests fail.
  std::uint32_t max_retry_attempts = 3;
  backoff_settings retry_backoff;

  /// Returns the path of the SQLite database: from `store`, or inside
  /// data_dir.
  std::string database_path() const;

  /// True when `store` names a PostgreSQL database.
  bool uses_postgres() const;

  /// Returns `store` without its password, for logs.
  std::string store_description() const;

  /// Returns one line per setting, for the start-up log.
  std::vector<std::string> describe() const;
};

/// Outcome of reading the command line: settings to run with, or a text to
/// print (help or an error) and the exit code to leave with.
struct command_line {
  settings values;
  bool exit_now = false;
  int exit_code = 0;
  std::string output;
};

/// Reads settings from, in falling precedence, the command line, the config
/// file (--config or ORCHESTRATOR_CONFIG), the environment and the built-in
/// defaults. An invalid value yields exit_now with one message naming the
/// setting.
command_line parse_command_line(int argc, char** argv);

/// Reads "name=value" pairs separated by commas into `weights`, keeping the
/// weights it does not name.
caf::error parse_score_weights(const std::string& text, score_weights& weights);

/// Reads a bearer token from `path`: the whole file without one trailing
/// newline. Fails for an unreadable or empty file, or a token containing
/// whitespace or control characters. The error never contains the token.
caf::expected<std::string> read_token_file(const std::string& path);

/// Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into its parts.
caf::expected<std::pair<std::string, std::uint16_t>>
parse_listen_address(const std::string& text);

} // namespace orchestrator
