#pragma once

// What the scenarios share: reaching or starting the server, seeding the
// catalogue, registering workers and reading replies.

#include "bench/load/http_load.hpp"
#include "bench/load/processes.hpp"
#include "bench/load/scenarios.hpp"
#include "tests/support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace orchestrator::bench {

/// The streams a worker owns, stream id to epoch, as its latest reply
/// listed them.
using owned_set = std::map<std::int64_t, std::uint64_t>;

/// Reads "owned_streams" from a reply body; an unparsable body gives none.
owned_set owned_streams(const std::string& body);

/// The server a scenario talks to: the one named by --server, or one it
/// started on a free port with a SQLite database in a fresh folder.
struct target {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  /// Authorization header values: for the load (the worker token, else the
  /// admin token) and for set-up (the admin token, else the worker token).
  std::string load_authorization;
  std::string setup_authorization;
  testing::temp_dir dir;
  std::unique_ptr<orchestrator_server> server;
  /// Arguments the server was started with, for a restart.
  std::vector<std::string> args;
  int starts = 0;

  /// Starts the server again (after a stop) with `args` on a new port.
  void start(const bench_options& options);
};

/// Connects to --server, or starts the orchestrator with `scenario_args`
/// followed by the user's --server-arg values (so those win).
std::unique_ptr<target> open_target(const bench_options& options,
                                    std::vector<std::string> scenario_args);

/// Load options for `t` from the command line.
load_options base_load_options(const bench_options& options, const target& t);

std::string worker_name(const char* prefix, std::size_t index);

/// Adds streams first .. first + count - 1 to the catalogue with POST
/// /streams. Throws if a batch fails.
void add_streams(const target& t, std::int64_t first, std::size_t count);

/// Writes a CSV catalogue of streams 1 .. count.
void write_catalog(const std::string& path, std::size_t count);

/// Registers each of `names` with `capacity`; returns each one's owned set.
/// Throws if a registration fails.
std::map<std::string, owned_set> register_workers(const target& t,
                                                  const std::vector<std::string>& names,
                                                  std::size_t capacity);

/// Asks `per_worker` streams for each of `names`; returns each one's owned
/// set after its assign.
std::map<std::string, owned_set> assign_streams(const target& t,
                                                const std::vector<std::string>& names,
                                                std::size_t per_worker);

/// GET `target_path` and parse the JSON reply; throws on a non-2xx status.
nlohmann::json get_json(const target& t, const std::string& target_path);

/// POST `body` to `target_path` and parse the JSON reply; throws on a non-2xx
/// status.
nlohmann::json post_json(const target& t, const std::string& target_path,
                         const nlohmann::json& body);

/// The server's own view of a run, from two scrapes of GET /metrics: group
/// commits (count, changes per commit, duration) and the time requests
/// spent inside the server, by histogram bucket.
class server_metrics {
public:
  /// Scrapes now; `finish` scrapes again and returns the difference.
  explicit server_metrics(const target& t);
  nlohmann::json finish();

private:
  const target& t_;
  std::string before_;
};

/// Server CPU seconds so far, or -1 for a server the bench did not start.
double server_cpu_s(const target& t);

/// Settings every report shows, followed by the scenario's own `extra`.
nlohmann::json common_settings(const bench_options& options, const target& t,
                               const nlohmann::json& extra);

} // namespace orchestrator::bench
