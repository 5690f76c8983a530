// Measures the registry, the in-memory core of the coordinator, without
// actors, HTTP or disk: heartbeats, assign/release pairs, failover
// placement and reload from a snapshot. Prints one line per figure.
//
// Usage: registry_bench [WORKERS] [STREAMS]

#include "actors/registry.hpp"
#include "bench/machine.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

using namespace orchestrator;
using orchestrator::bench::cpu_model;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  int workers = argc > 1 ? std::stoi(argv[1]) : 1000;
  int streams = argc > 2 ? std::stoi(argv[2]) : 100000;
  auto capacity = static_cast<std::uint32_t>(2 * streams / workers + 1);
  std::printf("machine: %s, %u hardware threads\n", cpu_model().c_str(),
              std::thread::hardware_concurrency());
  std::printf("setup: %d workers, %d streams, capacity %u each\n", workers,
              streams, capacity);

  registry reg;
  reg.load(store_snapshot{}, now_instant());
  std::vector<stream_row> rows;
  for (int id = 1; id <= streams; ++id)
    rows.push_back(stream_row{id, "http://s/" + std::to_string(id), "", "{}"});
  reg.put_streams(rows);
  for (int w = 0; w < workers; ++w)
    reg.register_worker(registration{"w" + std::to_string(w), "10.0.0.1", 9000,
                                     capacity},
                        now_instant());

  auto start = clock_type::now();
  for (int w = 0; w < workers; ++w)
    reg.assign(assign_request{"w" + std::to_string(w), capacity / 2},
               now_instant());
  auto assign_time = seconds_since(start);
  std::printf("initial assignment: %zu streams in %.3f s\n",
              reg.list_assignments().size(), assign_time);
  reg.take_journal();

  constexpr int heartbeats = 200000;
  start = clock_type::now();
  for (int k = 0; k < heartbeats; ++k)
    reg.record_heartbeat(heartbeat{"w" + std::to_string(k % workers), 0, "active"},
                         now_instant());
  std::printf("heartbeats: %.0f per second\n", heartbeats / seconds_since(start));

  constexpr int pairs = 50000;
  start = clock_type::now();
  for (int k = 0; k < pairs; ++k) {
    auto id = "w" + std::to_string(k % workers);
    auto reply = reg.release(release_request{id, {}, {}}, now_instant());
    auto owned = reg.owned_by(id);
    if (!owned.empty())
      reg.release(release_request{id, {owned.back().stream_id}, {}}, now_instant());
    reg.assign(assign_request{id, 1}, now_instant());
    if (k % 1000 == 0)
      reg.take_journal();
  }
  std::printf("release+assign pairs: %.0f per second\n", pairs / seconds_since(start));
  reg.take_journal();

  start = clock_type::now();
  auto report = reg.declare_dead(reg.active_liveness().size() > 0
                                   ? std::vector<liveness>{reg.active_liveness()[0]}
                                   : std::vector<liveness>{},
                                 now_instant());
  std::printf("failover: %llu streams freed and %llu placed in %.3f ms\n",
              static_cast<unsigned long long>(report.streams_freed),
              static_cast<unsigned long long>(report.streams_reassigned),
              seconds_since(start) * 1000);

  store_snapshot snapshot;
  snapshot.streams = rows;
  snapshot.assignments = reg.list_assignments();
  for (const auto& view : reg.list_workers(now_instant()))
    snapshot.workers.push_back(view.row);
  start = clock_type::now();
  registry reloaded;
  reloaded.load(snapshot, now_instant());
  std::printf("reload: %zu assignments in %.3f s\n", snapshot.assignments.size(),
              seconds_since(start));
  return 0;
}
