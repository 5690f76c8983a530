// Measures failure detection in the real server with the resilient failure
// handler. Workers are child processes that send a heartbeat every second.
// Some are killed with SIGKILL, first one and then a tenth of them at once,
// and the bench records the time from the kill to "declared dead" and to
// "all its streams owned by live workers". Then workers are paused with SIGSTOP
// for two seconds, many times, and every false death is counted. Prints one
// line per figure. Everything runs on loopback.
//
// Usage: failover_bench [WORKERS] [STREAMS] [ITERATIONS] [PAUSE_ROUNDS]

#include "bench/machine.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <thread>

using namespace orchestrator::testing;
using orchestrator::bench::cpu_model;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

/// Returns a client for the server on `port` that sends the admin token, or
/// else the worker token, from the environment the server inherits. Without
/// either the server runs in loopback mode and needs no token.
http_client client_for(std::uint16_t port) {
  const char* token = std::getenv("ORCHESTRATOR_ADMIN_KEY");
  if (token == nullptr || *token == '\0')
    token = std::getenv("ORCHESTRATOR_API_KEY");
  return http_client{"127.0.0.1", port}.with_token(token == nullptr ? "" : token);
}

/// Starts a child process that sends a heartbeat for `id` every second,
/// beginning after `offset`, for at most ten minutes.
pid_t spawn_worker(const std::string& id, std::uint16_t port,
                   std::chrono::milliseconds offset) {
  auto pid = fork();
  if (pid != 0)
    return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::this_thread::sleep_for(offset);
  auto client = client_for(port);
  auto end = clock_type::now() + 600s;
  auto next = clock_type::now();
  while (clock_type::now() < end) {
    try {
      client.post("/heartbeat", {{"server_id", id}, {"current_streams", 100}});
    } catch (...) {
      // A timed-out heartbeat is a late one; the next one follows on time.
    }
    next += 1s;
    std::this_thread::sleep_until(next);
  }
  _exit(0);
}

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

double percentile(std::vector<double> values, double p) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(std::ceil(p * values.size())) - 1;
  return values[std::min(index, values.size() - 1)];
}

struct results {
  std::vector<double> to_dead_ms;
  std::vector<double> to_owned_ms;
  std::size_t pauses = 0;
  std::size_t false_deaths = 0;
};

bool is_dead(const http_client& client, const std::string& id) {
  return client.get("/instances/" + id).json()["data"]["status"] == "dead";
}

/// True once every stream is assigned to a live worker.
bool all_owned(const http_client& client, int streams) {
  auto status = client.get("/status").json();
  return status["streams"]["assigned"] == streams && status["streams"]["waiting"] == 0;
}

/// Kills `victims` at once and records, for each, the time to its death
/// and the time until every stream is owned by live workers again.
void kill_and_measure(const http_client& client, std::vector<pid_t>& pids,
                      const std::vector<std::size_t>& victims, int streams,
                      results& out) {
  auto killed = clock_type::now();
  for (auto v : victims) {
    kill(pids[v], SIGKILL);
    waitpid(pids[v], nullptr, 0);
    pids[v] = -1;
  }
  std::set<std::size_t> waiting(victims.begin(), victims.end());
  std::vector<double> dead_at;
  while (!waiting.empty() && ms_since(killed) < 60'000) {
    for (auto i = waiting.begin(); i != waiting.end();) {
      char name[16];
      std::snprintf(name, sizeof name, "w%03zu", *i);
      if (is_dead(client, name)) {
        dead_at.push_back(ms_since(killed));
        i = waiting.erase(i);
      } else {
        ++i;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  while (!all_owned(client, streams) && ms_since(killed) < 60'000)
    std::this_thread::sleep_for(20ms);
  auto owned = ms_since(killed);
  for (auto d : dead_at) {
    out.to_dead_ms.push_back(d);
    out.to_owned_ms.push_back(owned);
  }
  if (!waiting.empty())
    std::printf("  %zu killed workers were never declared dead\n", waiting.size());
}

void run_iteration(int workers, int streams, int pause_rounds, std::mt19937& random,
                   results& out) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data"), "--heartbeat-timeout", "30",
                         "--heartbeat-check-interval", "0.1", "--rebalance-interval", "0",
                         "--modules", "resilient_failure_handler"},
                        dir.file("server.log")};
  auto client = client_for(server.port());
  auto rows = json::array();
  for (int id = 1; id <= streams; ++id)
    rows.push_back({{"id", id}, {"url", "http://radio/" + std::to_string(id)}});
  client.post("/streams", rows);
  auto per_worker = streams / workers;
  std::vector<pid_t> pids;
  for (int w = 0; w < workers; ++w) {
    char name[16];
    std::snprintf(name, sizeof name, "w%03d", w);
    client.post("/register", {{"server_id", name}, {"ip", "127.0.0.1"}, {"port", 9000},
                              {"max_streams", 2 * per_worker + 10}});
    client.post("/streams/assign", {{"server_id", name}, {"requested_count", per_worker}});
    pids.push_back(spawn_worker(name, server.port(),
                                std::chrono::milliseconds{random() % 1000}));
  }
  // The detector needs a few intervals per worker.
  std::this_thread::sleep_for(6s);

  std::vector<std::size_t> order(static_cast<std::size_t>(workers));
  for (std::size_t k = 0; k < order.size(); ++k)
    order[k] = k;
  std::shuffle(order.begin(), order.end(), random);
  kill_and_measure(client, pids, {order[0]}, streams, out);
  std::vector<std::size_t> tenth(order.begin() + 1,
                                 order.begin() + 1 + std::max(1, workers / 10));
  kill_and_measure(client, pids, tenth, streams, out);

  // Pauses of two seconds: none may be declared dead.
  std::vector<std::size_t> alive;
  for (std::size_t k = 0; k < pids.size(); ++k)
    if (pids[k] > 0)
      alive.push_back(k);
  for (int round = 0; round < pause_rounds; ++round) {
    std::shuffle(alive.begin(), alive.end(), random);
    std::vector<std::size_t> paused(alive.begin(), alive.begin() + 5);
    for (auto p : paused)
      kill(pids[p], SIGSTOP);
    std::this_thread::sleep_for(2s);
    for (auto p : paused)
      kill(pids[p], SIGCONT);
    out.pauses += paused.size();
    std::this_thread::sleep_for(1500ms);
    for (auto p : paused) {
      char name[16];
      std::snprintf(name, sizeof name, "w%03zu", p);
      if (is_dead(client, name)) {
        ++out.false_deaths;
        std::printf("  false death: %s after a 2 s pause\n", name);
      }
    }
  }
  for (auto pid : pids)
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
}

} // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  int workers = argc > 1 ? std::stoi(argv[1]) : 100;
  int streams = argc > 2 ? std::stoi(argv[2]) : 10'000;
  int iterations = argc > 3 ? std::stoi(argv[3]) : 3;
  int pause_rounds = argc > 4 ? std::stoi(argv[4]) : 10;
  std::printf("machine: %s, %u hardware threads\n", cpu_model().c_str(),
              std::thread::hardware_concurrency());
  std::printf("setup: %d worker processes heartbeating every 1 s, %d streams, "
              "%d iterations of: kill 1, kill %d at once, %d rounds of 5 "
              "workers paused for 2 s\n",
              workers, streams, iterations, std::max(1, workers / 10), pause_rounds);
  std::mt19937 random{12345};
  results out;
  for (int k = 0; k < iterations; ++k) {
    std::printf("iteration %d\n", k + 1);
    run_iteration(workers, streams, pause_rounds, random, out);
  }
  std::printf("kill -9 to declared dead (%zu kills): p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
              out.to_dead_ms.size(), percentile(out.to_dead_ms, 0.5),
              percentile(out.to_dead_ms, 0.99), percentile(out.to_dead_ms, 1.0));
  std::printf("kill -9 to all streams owned by live workers: p50 %.0f ms, p99 %.0f ms, "
              "max %.0f ms\n",
              percentile(out.to_owned_ms, 0.5), percentile(out.to_owned_ms, 0.99),
              percentile(out.to_owned_ms, 1.0));
  std::printf("2 s pauses: %zu, false deaths: %zu\n", out.pauses, out.false_deaths);
  return out.false_deaths == 0 ? 0 : 1;
}
