// orchestrator-bench: load, failover, join, restart and scale scenarios
// against the orchestrator on loopback, with nginx as a ceiling. Prints a
// progress line per second to stderr, a table at the end, and writes
// every figure as JSON.

#include "bench/load/report.hpp"
#include "bench/load/scenarios.hpp"
#include "bench/machine.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/utsname.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <thread>

using namespace orchestrator::bench;
using json = nlohmann::json;

namespace {

std::string utc_now() {
  char text[32];
  auto now = std::time(nullptr);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

json machine() {
  utsname name{};
  uname(&name);
  std::ifstream meminfo{"/proc/meminfo"};
  std::string key;
  std::uint64_t memory_kib = 0;
  meminfo >> key >> memory_kib;
  // Other processes on the machine change every figure, so the report
  // keeps the load average at the start.
  double load_1min = 0;
  std::ifstream{"/proc/loadavg"} >> load_1min;
  return {{"cpu", cpu_model()},
          {"load_average_1min", load_1min},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"memory_kib", memory_kib},
          {"kernel", std::string{name.sysname} + " " + name.release}};
}

const std::map<std::string, std::function<json(const bench_options&)>> scenarios = {
  {"heartbeat", run_heartbeat}, {"churn", run_churn},     {"failover", run_failover},
  {"join", run_join},           {"restart", run_restart}, {"scale", run_scale}};

} // namespace

int main(int argc, char** argv) {
  // A reply or connection lost mid-write must not end the bench.
  std::signal(SIGPIPE, SIG_IGN);
  bench_options o;
  o.orchestrator_binary = ORCHESTRATOR_BINARY;
  std::string json_path;
  bool no_ceiling = false;

  CLI::App app{"Runs a benchmark scenario against the orchestrator on loopback and "
               "writes its figures as JSON."};
  app.add_option("scenario", o.scenario,
                 "heartbeat, churn, failover, join, restart or scale")
    ->required()
    ->check(CLI::IsMember({"heartbeat", "churn", "failover", "join", "restart", "scale"}));
  app.add_option("--duration", o.duration_s,
                 "Seconds of recorded load (restart: seconds of load before the kill)")
    ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  app.add_option("--warmup", o.warmup_s, "Seconds of load sent before recording")
    ->capture_default_str()->check(CLI::Range(0.0, 600.0));
  app.add_option("--json", json_path,
                 "File for the JSON report [default: orchestrator-bench-SCENARIO.json]");
  app.add_option("--server", o.server_url,
                 "URL of a running orchestrator on 127.0.0.1 or ::1; without it the "
                 "bench starts one on a free loopback port with a fresh SQLite file");
  app.add_option("--api-key", o.api_key,
                 "Worker token to send as 'Authorization: Bearer' with the load")
    ->envname("ORCHESTRATOR_API_KEY");
  app.add_option("--admin-key", o.admin_key,
                 "Admin token to send with set-up requests such as POST /streams")
    ->envname("ORCHESTRATOR_ADMIN_KEY");
  app.add_option("--orchestrator", o.orchestrator_binary, "Orchestrator binary to start")
    ->capture_default_str();
  app.add_option("--server-arg", o.server_args,
                 "Extra argument for the started orchestrator; repeat for each, for "
                 "example --server-arg=--io-threads --server-arg=2");
  app.add_option("--rate", o.rate,
                 "Requests per second over all connections; 0 sends as fast as "
                 "possible [default: heartbeat 20000, churn and restart 1000]");
  app.add_option("--connections", o.connections, "Keep-alive connections")
    ->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--client-threads", o.client_threads,
                 "Client threads for the heartbeat load, each with its own connections")
    ->capture_default_str()->check(CLI::Range(1, 16));
  app.add_option("--workers", o.workers,
                 "Simulated workers [default: heartbeat 1000, churn 200, failover 50, "
                 "join 100, restart 1000]");
  app.add_option("--streams", o.streams, "Streams in the catalogue [default: churn 20000, "
                                         "join 10000]");
  app.add_option("--streams-per-worker", o.streams_per_worker,
                 "Streams each worker owns [default: heartbeat 10, failover 20, restart 100]");
  app.add_flag("--no-ceiling", no_ceiling, "Skip the nginx ceiling run (heartbeat)");
  app.add_option("--ceiling-duration", o.ceiling_duration_s, "Seconds of the nginx run")
    ->capture_default_str()->check(CLI::Range(0.5, 600.0));
  app.add_option("--nginx-workers", o.nginx_workers, "nginx worker processes")
    ->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--mix", o.mix,
                 "Weights of the operations, as register=1,assign=4,release=4,deregister=1 "
                 "[default: churn that one, restart assign=1,release=1]");
  app.add_option("--batch", o.batch, "Streams per assign and per release")
    ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--heartbeat-interval", o.heartbeat_interval_s,
                 "Seconds between two heartbeats of a worker (failover)")
    ->capture_default_str()->check(CLI::Range(0.01, 60.0));
  app.add_option("--heartbeat-timeout", o.heartbeat_timeout_s,
                 "The server's --heartbeat-timeout in seconds (failover)")
    ->capture_default_str()->check(CLI::Range(0.05, 600.0));
  app.add_option("--victims", o.victims,
                 "Workers that stop sending heartbeats (failover) [default: a tenth]");
  app.add_option("--joins", o.joins, "Workers added one after another (join)")
    ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--balancer", o.balancer,
                 "basic (POST /rebalance/basic) or smart (the smart_balancer module) (join)")
    ->capture_default_str();
  app.add_option("--scale-points", o.scale_points,
                 "STREAMSxWORKERS pairs, comma-separated (scale)")
    ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.ceiling = !no_ceiling;
  if (json_path.empty())
    json_path = "orchestrator-bench-" + o.scenario + ".json";

  std::string command_line;
  for (int k = 0; k < argc; ++k)
    command_line += (k ? " " : "") + std::string{argv[k]};
  json report = {{"scenario", o.scenario},
                 {"date", utc_now()},
                 {"machine", machine()},
                 {"command_line", command_line}};
  try {
    report.update(scenarios.at(o.scenario)(o));
  } catch (const std::exception& e) {
    std::cerr << "orchestrator-bench: " << o.scenario << " failed: " << e.what() << "\n";
    return 1;
  }
  std::ofstream out{json_path};
  out << report.dump(2) << "\n";
  if (!out) {
    std::cerr << "orchestrator-bench: cannot write " << json_path << "\n";
    return 1;
  }
  print_table(report);
  std::printf("report written to %s\n", json_path.c_str());
  return 0;
}
