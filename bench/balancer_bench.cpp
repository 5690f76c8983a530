// Measures the balancing policies on synthetic clusters, without actors or
// HTTP: the time of one full plan, and the streams a plan moves divided by
// the fewest that any balanced outcome needs, for a join, a drain and a
// capacity change. Prints one line per figure.
//
// Usage: balancer_bench [REPEATS]

#include "bench/machine.hpp"
#include "modules/balancer/basic_balancer.hpp"
#include "modules/balancer/smart_balancer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

using namespace orchestrator;
using orchestrator::bench::cpu_model;
using clock_type = std::chrono::steady_clock;

namespace {

/// `workers` workers of capacity `capacity` holding `streams` streams as
/// evenly as possible, with epochs in assignment order.
balance_input balanced_cluster(int workers, int streams, std::uint32_t capacity) {
  balance_input input;
  input.workers.resize(static_cast<std::size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    auto& load = input.workers[static_cast<std::size_t>(w)];
    char name[16];
    std::snprintf(name, sizeof name, "w%05d", w);
    load.server_id = name;
    load.max_streams = capacity;
  }
  for (int s = 0; s < streams; ++s)
    input.workers[static_cast<std::size_t>(s % workers)].owned.push_back(
      stream_lease{s + 1, static_cast<std::uint64_t>(s + 1)});
  return input;
}

/// The fewest moves to a balanced outcome, from the shares alone: every
/// worker sheds down to the floor of its share, except that each rounding-up
/// slot saves one move at a worker holding more than its floor.
std::uint64_t theoretical_minimum(const balance_plan& plan) {
  std::uint64_t above_floor = 0;
  std::uint64_t shed = 0;
  std::uint64_t floors = 0;
  for (const auto& t : plan.targets) {
    auto floor = static_cast<std::uint64_t>(std::floor(t.share + 1e-9));
    floors += floor;
    if (t.current > floor) {
      shed += t.current - floor;
      if (t.share - floor > 1e-9)
        ++above_floor;
    }
  }
  // Streams no worker with a claim has room for stay where they are.
  double placed = 0;
  for (const auto& t : plan.targets)
    placed += t.share;
  auto slots = static_cast<std::uint64_t>(std::llround(placed)) - floors;
  return shed - std::min(slots, above_floor);
}

struct timing {
  double median_ms = 0;
  double max_ms = 0;
};

timing time_plan(const balancer& policy, const balance_input& input, int repeats,
                 balance_plan& last) {
  std::vector<double> samples;
  for (int k = 0; k < repeats; ++k) {
    auto start = clock_type::now();
    last = policy.plan(input);
    samples.push_back(
      std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
  }
  std::sort(samples.begin(), samples.end());
  return timing{samples[samples.size() / 2], samples.back()};
}

balancer_settings unbudgeted() {
  balancer_settings result;
  result.max_moves = UINT64_MAX / 2;
  result.max_move_fraction = 1;
  result.cooldown_ms = 0;
  return result;
}

void scenario(const char* name, const smart_balancer& policy,
              const balance_input& input, std::uint64_t formula, int repeats) {
  balance_plan plan;
  auto t = time_plan(policy, input, repeats, plan);
  auto minimum = theoretical_minimum(plan);
  std::printf("  %-38s plan %8.1f ms (max %.1f)  moved %8zu  minimum %8llu  "
              "ratio %.3f%s\n",
              name, t.median_ms, t.max_ms, plan.moves.size(),
              static_cast<unsigned long long>(minimum),
              minimum == 0 ? 1.0 : double(plan.moves.size()) / double(minimum),
              formula == UINT64_MAX
                ? ""
                : (" (formula " + std::to_string(formula) + ")").c_str());
}

void run_size(int workers, int streams, int repeats) {
  auto capacity = static_cast<std::uint32_t>(2 * streams / workers);
  std::printf("%d workers, %d streams, capacity %u each:\n", workers, streams,
              capacity);
  smart_balancer policy{unbudgeted()};

  // A full plan on a cluster where every worker is off balance: half hold
  // 1.5 times their share, half half of it.
  auto skewed = balanced_cluster(workers, streams, capacity);
  for (std::size_t w = 0; w + 1 < skewed.workers.size(); w += 2) {
    auto& from = skewed.workers[w + 1].owned;
    auto& to = skewed.workers[w].owned;
    auto half = from.size() / 2;
    to.insert(to.end(), from.end() - static_cast<long>(half), from.end());
    from.resize(from.size() - half);
  }
  scenario("full plan, every worker off balance", policy, skewed, UINT64_MAX,
           repeats);

  // Join: one empty worker of the same capacity.
  auto joined = balanced_cluster(workers, streams, capacity);
  worker_load fresh;
  fresh.server_id = "x-new";
  fresh.max_streams = capacity;
  joined.workers.push_back(fresh);
  scenario("join of one worker", policy, joined,
           static_cast<std::uint64_t>(streams / (workers + 1)), repeats);

  // Weighted join: the new worker counts double.
  joined.workers.back().weight = 2;
  scenario("join of one worker with weight 2", policy, joined, UINT64_MAX,
           repeats);

  // Drain: only the drained worker's streams move.
  auto drained = balanced_cluster(workers, streams, capacity);
  drained.workers[0].draining = true;
  scenario("drain of one worker", policy, drained,
           drained.workers[0].owned.size(), repeats);

  // Capacity change: a tenth of the workers halve their capacity.
  auto shrunk = balanced_cluster(workers, streams, capacity);
  for (std::size_t w = 0; w < shrunk.workers.size(); w += 10)
    shrunk.workers[w].max_streams = capacity / 2;
  scenario("a tenth of the workers halve capacity", policy, shrunk, UINT64_MAX,
           repeats);

  // The basic policy on the skewed cluster, for comparison.
  basic_balancer basic;
  balance_plan plan;
  auto t = time_plan(basic, skewed, repeats, plan);
  std::printf("  %-38s plan %8.1f ms (max %.1f)  moved %8zu\n",
              "basic policy, full plan", t.median_ms, t.max_ms, plan.moves.size());
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  int repeats = argc > 1 ? std::max(1, std::stoi(argv[1])) : 5;
  std::printf("machine: %s, %u hardware threads; one thread; median of %d "
              "plans\n",
              cpu_model().c_str(), std::thread::hardware_concurrency(), repeats);
  run_size(1'000, 100'000, repeats);
  run_size(10'000, 1'000'000, repeats);
  return 0;
}
