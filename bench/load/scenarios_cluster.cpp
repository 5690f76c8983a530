// The cluster scenarios: failover of silent workers, workers joining a full
// cluster, a server killed under load, and memory and start-up at scale.

#include "bench/load/report.hpp"
#include "bench/load/scenarios.hpp"
#include "bench/load/setup.hpp"
#include "bench/load/workloads.hpp"
#include "tests/support/http_client.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace orchestrator::bench {

using json = nlohmann::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

double ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

double round1(double x) {
  return std::round(x * 10) / 10;
}

std::vector<std::string> worker_names(const char* prefix, std::size_t count) {
  std::vector<std::string> names;
  for (std::size_t k = 0; k < count; ++k)
    names.push_back(worker_name(prefix, k));
  return names;
}

/// True once `victim` is declared dead and owns no stream.
bool dead_and_empty(const testing::http_client& client, const std::string& victim) {
  auto reply = client.get("/instances/" + victim);
  if (reply.status != 200)
    return false;
  auto data = reply.json()["data"];
  return data["status"] == "dead" && data["owned_streams"].empty();
}

} // namespace

json run_failover(const bench_options& options) {
  auto workers = options.workers ? options.workers : 50;
  auto per_worker = options.streams_per_worker ? options.streams_per_worker : 20;
  auto victims = options.victims ? options.victims : std::max<std::size_t>(1, workers / 10);
  if (victims >= workers)
    throw std::invalid_argument("--victims must be fewer than --workers");
  auto interval = options.heartbeat_interval_s;
  auto timeout = options.heartbeat_timeout_s;
  auto check = std::min(0.05, timeout / 10);
  auto t = open_target(options, {"--heartbeat-timeout", std::to_string(timeout),
                                 "--heartbeat-check-interval", std::to_string(check),
                                 "--rebalance-interval", "0"});
  auto names = worker_names("fo-", workers);
  auto streams = workers * per_worker;
  add_streams(*t, 1, streams);
  register_workers(*t, names, 3 * per_worker);
  assign_streams(*t, names, per_worker);

  std::vector<std::string> bodies;
  for (const auto& name : names)
    bodies.push_back(heartbeat_body(name, per_worker));
  auto state = std::make_shared<heartbeat_workload::shared_state>(bodies);
  auto lo = base_load_options(options, *t);
  lo.rate = static_cast<double>(workers) / interval;
  lo.threads = 1;
  lo.kind_names = {"heartbeat"};
  // The run ends when every victim's streams have moved, or after a minute.
  lo.duration_s = 60;
  load_run run{lo, [state](std::size_t index, std::size_t count) {
                 return std::make_unique<heartbeat_workload>(state, index, count);
               }};
  run.start();
  std::this_thread::sleep_for(std::chrono::duration<double>(lo.lead_s + lo.warmup_s + 1));

  std::vector<std::size_t> order(workers);
  for (std::size_t k = 0; k < workers; ++k)
    order[k] = k;
  std::shuffle(order.begin(), order.end(), std::mt19937{12345});
  order.resize(victims);
  auto silenced_at = clock_type::now();
  for (auto v : order)
    state->silenced[v] = true;

  auto client = testing::http_client{t->host, t->port}.with_authorization(
    t->setup_authorization);
  std::map<std::size_t, clock_type::time_point> done_at;
  auto deadline = silenced_at + 60s;
  auto next_progress = silenced_at + 1s;
  while (done_at.size() < victims && clock_type::now() < deadline) {
    for (auto v : order)
      if (!done_at.count(v) && dead_and_empty(client, names[v]))
        done_at[v] = clock_type::now();
    if (clock_type::now() >= next_progress) {
      std::fprintf(stderr, "failover %6.1f s since the stop  %zu of %zu victims dead and empty\n",
                   ms_between(silenced_at, clock_type::now()) / 1000, done_at.size(), victims);
      next_progress += 1s;
    }
    std::this_thread::sleep_for(5ms);
  }
  // Every stream back with a live owner: nothing waits for capacity.
  bool all_owned = false;
  while (done_at.size() == victims && !all_owned && clock_type::now() < deadline) {
    auto status = client.get("/status").json();
    all_owned = status["streams"]["assigned"] == streams && status["streams"]["waiting"] == 0;
    if (!all_owned)
      std::this_thread::sleep_for(5ms);
  }
  auto owned_at = clock_type::now();
  run.stop();
  auto result = run.wait();

  std::vector<double> to_moved;
  auto per_victim = json::array();
  for (auto v : order) {
    auto last_ok = clock_type::time_point{clock_type::duration{state->last_ok_ns[v].load()}};
    json row = {{"worker", names[v]},
                {"silent_before_stop_ms", round1(ms_between(last_ok, silenced_at))}};
    if (done_at.count(v)) {
      to_moved.push_back(ms_between(last_ok, done_at[v]));
      row["last_heartbeat_to_streams_moved_ms"] = round1(to_moved.back());
    }
    per_victim.push_back(row);
  }
  auto summary = latency_summary(to_moved);
  json report;
  report["load"] = load_figures(result, lo.kind_names);
  report["settings"] = common_settings(options, *t,
                                       {{"workers", workers},
                                        {"streams_per_worker", per_worker},
                                        {"victims", victims},
                                        {"heartbeat_interval_s", interval},
                                        {"heartbeat_timeout_s", timeout},
                                        {"heartbeat_check_interval_s", check}});
  report["figures"] = {
    {"victims_moved", to_moved.size()},
    {"all_streams_owned_by_live_workers", all_owned},
    {"last_heartbeat_to_streams_moved_ms",
     {{"p50", summary["p50"]}, {"max", summary["max"]}}},
    {"stop_to_all_owned_ms", round1(ms_between(silenced_at, owned_at))},
    {"victims", per_victim}};
  return report;
}

namespace {

/// Simulated workers that capture exactly the streams their replies list
/// and name them in every heartbeat, so handoffs finish at once.
struct join_cluster {
  target& t;
  std::map<std::string, owned_set> captured;

  /// Sends one heartbeat from every worker and returns how many got 200.
  std::size_t beat_all() {
    std::vector<std::string> names;
    std::vector<request_spec> requests;
    for (const auto& [name, owned] : captured) {
      auto ids = json::array();
      for (const auto& entry : owned)
        ids.push_back(entry.first);
      json body = {{"server_id", name}, {"current_streams", owned.size()}, {"stream_ids", ids}};
      requests.push_back({http::verb::post, "/heartbeat", body.dump(), 0, names.size()});
      names.push_back(name);
    }
    return run_batch(t.host, t.port, t.load_authorization, std::move(requests),
                     [&](const request_spec& spec, unsigned status, const std::string& body) {
                       if (status == 200)
                         captured[names[spec.tag]] = owned_streams(body);
                     });
  }

  std::size_t handoffs() {
    return get_json(t, "/status")["streams"]["handoffs"].get<std::size_t>();
  }
};

} // namespace

json run_join(const bench_options& options) {
  auto workers = options.workers ? options.workers : 100;
  auto streams = options.streams ? options.streams : 10000;
  auto capacity = 2 * ((streams + workers - 1) / workers) + 10;
  bool smart = options.balancer == "smart";
  if (!smart && options.balancer != "basic")
    throw std::invalid_argument("--balancer must be basic or smart, not " + options.balancer);
  std::vector<std::string> args = {"--heartbeat-timeout", "3600", "--rebalance-interval", "0",
                                   "--handoff-timeout", "5"};
  if (smart)
    args.insert(args.end(), {"--modules", "smart_balancer"});
  auto t = open_target(options, args);

  add_streams(*t, 1, streams);
  auto names = worker_names("join-", workers);
  register_workers(*t, names, capacity);
  join_cluster cluster{*t, assign_streams(*t, names, (streams + workers - 1) / workers)};
  auto assigned = get_json(*t, "/status")["streams"]["assigned"].get<std::size_t>();
  if (assigned != streams)
    throw std::runtime_error("the cluster is not full: " + std::to_string(assigned) + " of "
                             + std::to_string(streams) + " streams assigned");
  cluster.beat_all();

  auto joins = json::array();
  double worst_ratio = 0;
  auto rebalance_path = smart ? "/rebalance/smart?reason=new_instance" : "/rebalance/basic";
  for (std::size_t k = 0; k < options.joins; ++k) {
    auto before = cluster.captured.size();
    auto minimum = streams / (before + 1);
    auto name = worker_name("joined-", k);
    auto started = clock_type::now();
    auto joined = register_workers(*t, {name}, capacity);
    cluster.captured[name] = joined[name];
    std::size_t moved = 0;
    std::size_t rounds = 0;
    bool balanced = false;
    auto deadline = started + 60s;
    while (!balanced && clock_type::now() < deadline) {
      auto round = post_json(*t, rebalance_path, nullptr);
      ++rounds;
      moved += round["streams_moved"].get<std::size_t>();
      // Old owners drop what was taken, then new owners receive it.
      for (int beat = 0; beat < 20 && cluster.handoffs() > 0; ++beat)
        cluster.beat_all();
      cluster.beat_all();
      balanced = round["remaining_moves"].get<std::size_t>() == 0 && cluster.handoffs() == 0;
    }
    double ratio = minimum ? static_cast<double>(moved) / static_cast<double>(minimum) : 0.0;
    worst_ratio = std::max(worst_ratio, ratio);
    joins.push_back({{"workers_before", before},
                     {"streams_moved", moved},
                     {"minimum_moves", minimum},
                     {"moved_over_minimum", std::round(1000 * ratio) / 1000},
                     {"rebalance_rounds", rounds},
                     {"balanced", balanced},
                     {"new_worker_streams", cluster.captured[name].size()},
                     {"join_to_balanced_ms", round1(ms_between(started, clock_type::now()))}});
  }
  json report;
  report["settings"] = common_settings(options, *t,
                                       {{"workers", workers},
                                        {"streams", streams},
                                        {"joins", options.joins},
                                        {"balancer", options.balancer}});
  report["figures"] = {{"joins", joins}, {"worst_moved_over_minimum", std::round(1000 * worst_ratio) / 1000}};
  return report;
}

json run_restart(const bench_options& options) {
  if (!options.server_url.empty())
    throw std::invalid_argument("restart kills and restarts the server, so it cannot use "
                                "--server; let the bench start the orchestrator");
  auto workers = options.workers ? options.workers : 1000;
  auto per_worker = options.streams_per_worker ? options.streams_per_worker : 100;
  auto rate = options.rate < 0 ? 1000.0 : options.rate;
  auto streams = workers * per_worker + workers * options.batch * 4;
  testing::temp_dir catalog_dir;
  auto catalog = catalog_dir.file("catalog.csv");
  write_catalog(catalog, streams);
  auto t = open_target(options, {"--catalog", catalog, "--heartbeat-timeout", "3600",
                                 "--rebalance-interval", "0"});
  auto names = worker_names("rs-", workers);
  auto capacity = 2 * per_worker + 10;
  register_workers(*t, names, capacity);
  auto owned = assign_streams(*t, names, per_worker);
  auto mix = options.mix.empty() ? "assign=1,release=1" : options.mix;
  churn_workload churn{owned, parse_mix(mix), options.batch, capacity, workers / 2};

  auto lo = base_load_options(options, *t);
  lo.rate = rate;
  lo.threads = 1;
  lo.kind_names = churn_workload::kind_names;
  // Long enough for the kill below to land mid-run.
  lo.duration_s = options.duration_s + 60;
  load_run run{lo, [&churn](std::size_t, std::size_t) {
                 return std::make_unique<borrowed_workload>(churn);
               }};
  run.start();
  watch(run, "restart",
        clock_type::now()
          + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(
            lo.lead_s + options.warmup_s + options.duration_s)));
  auto killed_at = clock_type::now();
  t->server->stop(SIGKILL);
  run.stop();

  // Without --catalog the restart loads only what the store kept.
  auto at = std::find(t->args.begin(), t->args.end(), "--catalog");
  t->args.erase(at, at + 2);
  auto spawned_at = clock_type::now();
  t->start(options);
  auto result = run.wait();
  auto serving_ms = ms_between(killed_at, spawned_at) + 1000 * t->server->startup_s();
  auto client = testing::http_client{t->host, t->port}.with_authorization(
    t->setup_authorization);
  auto first = client.post("/heartbeat", {{"server_id", names.front()}, {"current_streams", 0}});
  auto heartbeat_ms = ms_between(killed_at, clock_type::now());

  auto table = get_json(*t, "/streams/assignments")["assignments"];
  std::map<std::int64_t, std::pair<std::string, std::uint64_t>> restored;
  for (const auto& row : table)
    restored[row["stream_id"].get<std::int64_t>()] = {row["server_id"].get<std::string>(),
                                                      row["epoch"].get<std::uint64_t>()};
  std::size_t checked = 0;
  std::size_t lost = 0;
  std::size_t uncertain_workers = 0;
  auto lost_examples = json::array();
  for (const auto& w : churn.workers()) {
    if (w.uncertain || w.busy) {
      ++uncertain_workers;
      continue;
    }
    for (const auto& [stream, epoch] : w.owned) {
      ++checked;
      auto found = restored.find(stream);
      if (found != restored.end() && found->second.first == w.id && found->second.second == epoch)
        continue;
      ++lost;
      if (lost_examples.size() < 10)
        lost_examples.push_back({{"stream_id", stream}, {"server_id", w.id}, {"epoch", epoch}});
    }
  }
  json report;
  report["load"] = load_figures(result, lo.kind_names);
  report["settings"] = common_settings(options, *t,
                                       {{"rate_per_s", rate},
                                        {"mix", mix},
                                        {"workers", workers},
                                        {"streams_per_worker", per_worker}});
  report["figures"] = {
    {"kill_to_ready_ms", round1(serving_ms)},
    {"kill_to_first_heartbeat_ms", round1(heartbeat_ms)},
    {"first_heartbeat_status", first.status},
    {"start_to_ready_ms", round1(1000 * t->server->startup_s())},
    {"assignments_after_restart", table.size()},
    {"acknowledged_assignments_checked", checked},
    {"workers_with_reply_lost_at_kill", uncertain_workers},
    {"acknowledged_assignments_lost", lost},
    {"lost_examples", lost_examples}};
  return report;
}

namespace {

struct scale_point {
  std::size_t streams;
  std::size_t workers;
};

std::vector<scale_point> parse_points(const std::string& text) {
  std::vector<scale_point> points;
  std::istringstream entries{text};
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    auto x = entry.find('x');
    if (x == std::string::npos)
      throw std::invalid_argument("invalid --scale-points entry '" + entry
                                  + "'; write STREAMSxWORKERS, for example 100000x1000");
    scale_point p{std::stoul(entry.substr(0, x)), std::stoul(entry.substr(x + 1))};
    if (p.streams == 0 || p.workers == 0)
      throw std::invalid_argument("--scale-points entry '" + entry + "' has a zero; both counts must be positive");
    points.push_back(p);
  }
  return points;
}

/// RSS of the server in KiB once allocations from the last requests settled.
std::uint64_t settled_rss(const target& t) {
  std::this_thread::sleep_for(300ms);
  return rss_kib(t.server->pid());
}

double bytes_per(std::uint64_t kib_after, std::uint64_t kib_before, std::size_t count) {
  auto delta = static_cast<double>(kib_after) - static_cast<double>(kib_before);
  return std::round(delta * 1024.0 / static_cast<double>(count));
}

/// Restarts the server of `t` with SIGTERM, without --catalog, so only the
/// state the store kept is loaded.
void restart_from_store(const bench_options& options, target& t) {
  t.server->stop(SIGTERM);
  auto at = std::find(t.args.begin(), t.args.end(), "--catalog");
  if (at != t.args.end())
    t.args.erase(at, at + 2);
  t.start(options);
}

/// Reads memory after a restart wherever possible. Right after a catalogue
/// import or a burst of requests, the RSS still contains freed heap that
/// the allocator has not returned, so it overstates what the state needs.
json measure_point(const bench_options& options, const scale_point& p) {
  std::fprintf(stderr, "scale: %zu streams, %zu workers\n", p.streams, p.workers);
  std::vector<std::string> base_args = {"--heartbeat-timeout", "3600", "--rebalance-interval",
                                        "0", "--request-timeout", "600"};
  auto per_worker = (p.streams + p.workers - 1) / p.workers;
  auto names = worker_names("sc-", p.workers);

  // Workers alone, on a server without streams.
  auto empty = open_target(options, base_args);
  auto rss_empty = settled_rss(*empty);
  auto startup_empty = empty->server->startup_s();
  register_workers(*empty, names, per_worker);
  restart_from_store(options, *empty);
  auto rss_workers = settled_rss(*empty);
  empty.reset();

  testing::temp_dir catalog_dir;
  auto catalog = catalog_dir.file("catalog.csv");
  write_catalog(catalog, p.streams);
  // NOTE: the request timeout (5 s by default) also bounds the start-up
  // import of the catalogue, and 1,000,000 streams exceed it on a 2-core
  // machine. A longer timeout lets the import finish, so memory can be
  // measured.
  auto args = base_args;
  args.insert(args.begin(), {"--catalog", catalog});
  auto t = open_target(options, args);
  auto startup_catalog = t->server->startup_s();
  auto rss_import = settled_rss(*t);
  restart_from_store(options, *t);
  auto startup_catalog_loaded = t->server->startup_s();
  auto rss_catalog = settled_rss(*t);

  register_workers(*t, names, per_worker);
  assign_streams(*t, names, per_worker);
  auto assigned = get_json(*t, "/status")["streams"]["assigned"].get<std::size_t>();
  auto rss_serving = settled_rss(*t);
  restart_from_store(options, *t);
  auto startup_loaded = t->server->startup_s();
  auto rss_loaded = settled_rss(*t);

  auto worker_bytes = bytes_per(rss_workers, rss_empty, p.workers);
  auto assigned_bytes =
    std::round((static_cast<double>(rss_loaded) - static_cast<double>(rss_empty)) * 1024.0
               / static_cast<double>(p.streams)
               - worker_bytes * static_cast<double>(p.workers) / static_cast<double>(p.streams));
  return {{"streams", p.streams},
          {"workers", p.workers},
          {"streams_assigned", assigned},
          {"rss_kib",
           {{"empty", rss_empty},
            {"workers_only_restarted", rss_workers},
            {"right_after_catalogue_import", rss_import},
            {"catalogue_only_restarted", rss_catalog},
            {"all_assigned_after_requests", rss_serving},
            {"all_assigned_restarted", rss_loaded}}},
          {"bytes_per_worker", worker_bytes},
          {"bytes_per_stream_in_catalogue", bytes_per(rss_catalog, rss_empty, p.streams)},
          {"bytes_per_assigned_stream", assigned_bytes},
          {"startup_s",
           {{"empty", std::round(1000 * startup_empty) / 1000},
            {"importing_catalogue", std::round(1000 * startup_catalog) / 1000},
            {"loading_catalogue", std::round(1000 * startup_catalog_loaded) / 1000},
            {"loading_all_assigned", std::round(1000 * startup_loaded) / 1000}}}};
}

} // namespace

json run_scale(const bench_options& options) {
  if (!options.server_url.empty())
    throw std::invalid_argument("scale measures the memory of servers it starts, so it cannot "
                                "use --server");
  auto points = json::array();
  for (const auto& p : parse_points(options.scale_points)) {
    // A point that fails is recorded, and the points before it are kept.
    try {
      points.push_back(measure_point(options, p));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "scale: %zu streams, %zu workers failed: %s\n", p.streams, p.workers,
                   e.what());
      points.push_back({{"streams", p.streams}, {"workers", p.workers}, {"error", e.what()}});
    }
  }
  json report;
  report["settings"] = {{"scale_points", options.scale_points},
                        {"server_args", options.server_args}};
  report["figures"] = {{"points", points}};
  return report;
}

} // namespace orchestrator::bench
