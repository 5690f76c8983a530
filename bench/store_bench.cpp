// Measures the two stores as the store actor uses them: group commits of
// 1 to 1,000 assignment changes, and the load of the whole state at start-up.
// PostgreSQL runs in a throwaway server on loopback, started here. Prints
// one line per figure.
//
// Usage: store_bench [ASSIGNMENTS] [SECONDS_PER_FIGURE]

#include "actors/errors.hpp"
#include "bench/machine.hpp"
#include "modules/store/postgres_store.hpp"
#include "modules/store/sqlite_store.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

using namespace orchestrator;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int worker_count = 100;

change put_assignment(std::int64_t stream, int worker, std::uint64_t epoch) {
  change c;
  c.kind = change_kind::put_assignment;
  c.assignment = assignment_row{stream, "w" + std::to_string(worker), epoch,
                                1'700'000'000'000};
  return c;
}

/// Fills `s` with workers, a catalogue of `streams` and one assignment each.
void fill(store& s, std::int64_t streams) {
  std::vector<change> batch;
  for (int w = 0; w < worker_count; ++w) {
    change c;
    c.kind = change_kind::put_worker;
    c.worker = worker_row{"w" + std::to_string(w), "10.0.0.1", 9000, 100000,
                          worker_state::active, 1, 1, "active"};
    batch.push_back(c);
  }
  for (std::int64_t id = 1; id <= streams; ++id) {
    change c;
    c.kind = change_kind::put_stream;
    c.stream = stream_row{id, "http://s/" + std::to_string(id), "s", "{}"};
    batch.push_back(c);
    batch.push_back(put_assignment(id, static_cast<int>(id % worker_count), 1));
    if (batch.size() >= 20000) {
      if (auto err = s.commit(batch)) {
        std::fprintf(stderr, "fill failed: %s\n", describe(err).c_str());
        std::exit(1);
      }
      batch.clear();
    }
  }
  if (auto err = s.commit(batch)) {
    std::fprintf(stderr, "fill failed: %s\n", describe(err).c_str());
    std::exit(1);
  }
}

/// Commits batches of `size` moves for `seconds` and prints the rates.
void measure_commits(store& s, const char* name, std::int64_t streams,
                     std::size_t size, double seconds) {
  std::uint64_t epoch = 2;
  std::uint64_t commits = 0;
  std::uint64_t changes = 0;
  std::int64_t next = 1;
  auto start = clock_type::now();
  auto until = start + std::chrono::duration<double>(seconds);
  while (clock_type::now() < until) {
    std::vector<change> batch;
    for (std::size_t k = 0; k < size; ++k) {
      batch.push_back(put_assignment(next, static_cast<int>(epoch % worker_count),
                                     epoch));
      ++epoch;
      next = next % streams + 1;
    }
    if (auto err = s.commit(batch)) {
      std::fprintf(stderr, "commit failed: %s\n", describe(err).c_str());
      std::exit(1);
    }
    ++commits;
    changes += size;
  }
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  std::printf("%-10s batch %5zu: %8.0f commits/s %9.0f changes/s %7.2f ms per commit\n",
              name, size, static_cast<double>(commits) / elapsed,
              static_cast<double>(changes) / elapsed, 1000.0 * elapsed
                                                        / static_cast<double>(commits));
}

void measure_load(store& s, const char* name) {
  auto start = clock_type::now();
  auto snapshot = s.load();
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  if (!snapshot) {
    std::fprintf(stderr, "load failed: %s\n", describe(snapshot.error()).c_str());
    std::exit(1);
  }
  std::printf("%-10s load of %zu assignments and %zu streams: %.3f s\n", name,
              snapshot->assignments.size(), snapshot->streams.size(), elapsed);
}

void run(store& s, const char* name, std::int64_t streams, double seconds) {
  auto start = clock_type::now();
  fill(s, streams);
  std::printf("%-10s fill of %lld streams and assignments: %.2f s\n", name,
              static_cast<long long>(streams),
              std::chrono::duration<double>(clock_type::now() - start).count());
  for (std::size_t size : {1, 10, 100, 1000})
    measure_commits(s, name, streams, size, seconds);
  measure_load(s, name);
}

} // namespace

int main(int argc, char** argv) {
  std::int64_t streams = argc > 1 ? std::atoll(argv[1]) : 100000;
  double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  std::printf("machine: %s\n", bench::cpu_model().c_str());

  testing::temp_dir dir;
  auto sqlite = sqlite_store::open(dir.file("bench.db"));
  if (!sqlite) {
    std::fprintf(stderr, "%s\n", describe(sqlite.error()).c_str());
    return 1;
  }
  run(**sqlite, "sqlite", streams, seconds);

  testing::pg_cluster cluster;
  postgres_settings settings;
  settings.connection = cluster.create_database("bench");
  auto postgres = postgres_store::open(settings, std::make_shared<node_state>(), false,
                                       [] { return false; });
  if (!postgres) {
    std::fprintf(stderr, "%s\n", describe(postgres.error()).c_str());
    return 1;
  }
  run(**postgres, "postgresql", streams, seconds);
  return 0;
}
