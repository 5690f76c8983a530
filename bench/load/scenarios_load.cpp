// The load scenarios: heartbeats at a fixed rate or as fast as possible,
// with the nginx ceiling, and the churn of registrations, assignments,
// releases and deregistrations.

#include "bench/load/report.hpp"
#include "bench/load/scenarios.hpp"
#include "bench/load/setup.hpp"
#include "bench/load/workloads.hpp"

#include <cmath>
#include <cstdio>

namespace orchestrator::bench {

using json = nlohmann::json;

namespace {

/// Adds the server's CPU time over a run to `load`, in total and per
/// reply: on a shared machine the time per reply varies less than the
/// throughput does.
void add_server_cpu(json& load, double before, double after, std::uint64_t replies) {
  if (before < 0)
    return;
  load["server_cpu_s"] = std::round(1000 * (after - before)) / 1000;
  if (replies > 0)
    load["server_cpu_us_per_reply"] =
      std::round(10 * 1e6 * (after - before) / static_cast<double>(replies)) / 10;
  load["client_cpu_us_per_reply"] =
    std::round(10 * 1e6 * load["client_cpu_s"].get<double>() / static_cast<double>(replies)) / 10;
}

/// Sends the same workload to nginx, which returns `routes`' fixed bodies,
/// as fast as the connections allow. `ours` is the orchestrator's load
/// figures. The ratio is given only when those were measured as fast as
/// possible too, because at a fixed rate they show the rate, not a maximum.
json run_ceiling(const bench_options& options, load_options lo, const workload_factory& factory,
                 const std::vector<nginx_server::route>& routes, const json& ours) {
  testing::temp_dir dir;
  nginx_server nginx{dir.path(), routes, options.nginx_workers};
  lo.port = nginx.port();
  lo.rate = 0;
  lo.duration_s = options.ceiling_duration_s;
  lo.warmup_s = std::min(options.warmup_s, 1.0);
  auto cpu_before = nginx.cpu_seconds();
  auto result = run_load(lo, factory, "nginx");
  json ceiling = {{"nginx_workers", options.nginx_workers},
                  {"duration_s", options.ceiling_duration_s},
                  {"load", load_figures(result, lo.kind_names)}};
  add_server_cpu(ceiling["load"], cpu_before, nginx.cpu_seconds(), result.replies);
  // The share of a core the bench itself used against nginx shows whether
  // the client could go faster.
  ceiling["client_cores_used"] =
    std::round(100 * result.client_cpu_s / std::max(0.001, result.recorded_s + lo.warmup_s))
    / 100;
  double theirs = ceiling["load"]["throughput_per_s"];
  if (options.rate == 0 && theirs > 0)
    ceiling["ratio"] = std::round(1000 * ours["throughput_per_s"].get<double>() / theirs) / 1000;
  return ceiling;
}

std::vector<std::string> worker_names(const char* prefix, std::size_t count) {
  std::vector<std::string> names;
  for (std::size_t k = 0; k < count; ++k)
    names.push_back(worker_name(prefix, k));
  return names;
}

} // namespace

json run_heartbeat(const bench_options& options) {
  auto workers = options.workers ? options.workers : 1000;
  auto per_worker = options.streams_per_worker ? options.streams_per_worker : 10;
  auto rate = options.rate < 0 ? 20000.0 : options.rate;
  auto t = open_target(options, {"--heartbeat-timeout", "3600", "--rebalance-interval", "0"});

  auto names = worker_names("hb-", workers);
  add_streams(*t, 1, workers * per_worker);
  register_workers(*t, names, 2 * per_worker);
  assign_streams(*t, names, per_worker);
  std::vector<std::string> bodies;
  for (const auto& name : names)
    bodies.push_back(heartbeat_body(name, per_worker));
  // nginx returns a real heartbeat reply, so both send the same bytes.
  auto sample_reply = post_json(*t, "/heartbeat", json::parse(bodies.front())).dump();

  auto state = std::make_shared<heartbeat_workload::shared_state>(bodies);
  workload_factory factory = [state](std::size_t index, std::size_t count) {
    return std::make_unique<heartbeat_workload>(state, index, count);
  };
  auto lo = base_load_options(options, *t);
  lo.rate = rate;
  lo.kind_names = {"heartbeat"};
  auto cpu_before = server_cpu_s(*t);
  auto result = run_load(lo, factory, "heartbeat");
  json report;
  report["load"] = load_figures(result, lo.kind_names);
  add_server_cpu(report["load"], cpu_before, server_cpu_s(*t), result.replies);
  report["settings"] = common_settings(options, *t,
                                       {{"rate_per_s", rate},
                                        {"workers", workers},
                                        {"streams_per_worker", per_worker}});
  report["figures"] = {{"reply_bytes", sample_reply.size()}};
  if (options.ceiling)
    report["ceiling"] = run_ceiling(options, lo, factory, {{"/", sample_reply}}, report["load"]);
  return report;
}

json run_churn(const bench_options& options) {
  auto workers = options.workers ? options.workers : 200;
  auto streams = options.streams ? options.streams : 20000;
  auto rate = options.rate < 0 ? 1000.0 : options.rate;
  auto mix = options.mix.empty() ? "register=1,assign=4,release=4,deregister=1" : options.mix;
  auto weights = parse_mix(mix);
  auto capacity = std::max<std::size_t>(options.batch * 20, 2 * streams / workers);
  auto t = open_target(options, {"--heartbeat-timeout", "3600", "--rebalance-interval", "0"});

  add_streams(*t, 1, streams);
  auto names = worker_names("churn-init-", workers);
  register_workers(*t, names, capacity);
  // Each worker starts with some streams, so releases have work at once.
  auto owned = assign_streams(*t, names, options.batch * 4);
  churn_workload churn{owned, weights, options.batch, capacity, workers / 2};

  auto lo = base_load_options(options, *t);
  lo.rate = rate;
  // The workload keeps per-worker state, so one client thread runs it.
  lo.threads = 1;
  lo.kind_names = churn_workload::kind_names;
  auto cpu_before = server_cpu_s(*t);
  server_metrics inside{*t};
  auto result = run_load(lo, [&churn](std::size_t, std::size_t) {
    return std::make_unique<borrowed_workload>(churn);
  }, "churn");
  auto server_view = inside.finish();
  json report;
  report["load"] = load_figures(result, lo.kind_names);
  add_server_cpu(report["load"], cpu_before, server_cpu_s(*t), result.replies);
  report["settings"] = common_settings(options, *t,
                                       {{"rate_per_s", rate},
                                        {"mix", mix},
                                        {"initial_workers", workers},
                                        {"streams", streams},
                                        {"streams_per_request", options.batch}});
  std::size_t live = 0;
  for (const auto& w : churn.workers())
    live += w.live ? 1 : 0;
  auto status = get_json(*t, "/status");
  report["figures"] = {{"workers_at_end", live},
                       {"workers_created", churn.workers().size()},
                       {"slots_skipped_no_free_worker", churn.skipped()},
                       {"streams_assigned_at_end", status["streams"]["assigned"]},
                       {"server_metrics_over_run", server_view}};
  return report;
}

} // namespace orchestrator::bench
