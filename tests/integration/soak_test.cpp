#define BOOST_TEST_MODULE soak
#include <boost/test/unit_test.hpp>

// A bounded soak of the real server over loopback. Simulated workers
// register, send heartbeats with their stream lists, request streams and
// release them, while an operator thread reads the listings and requests
// rebalances. Meanwhile workers are killed and paused, and the server is
// paused (SIGSTOP), killed (SIGKILL) and stopped (SIGTERM), then restarted
// on the same SQLite file. At the end the test checks that no stream had
// two owners, that none was lost, and that the server's memory stayed flat.
//
// ORCHESTRATOR_SOAK_SECONDS sets the length of the run (default 180).
// ORCHESTRATOR_SOAK_SEED sets the random seed, which by default comes from
// the clock. The summary prints it, so that a run can be repeated.

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace orchestrator::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Short enough that deaths happen during the run.
constexpr double heartbeat_timeout = 2.0;
// Longer than any pause a worker survives, so that a live worker always
// confirms a handoff before the server gives up waiting for it.
constexpr double handoff_timeout = 30.0;
constexpr double heartbeat_every = 0.4;
constexpr int catalogue_size = 240;
constexpr int worker_count = 12;
constexpr int worker_capacity = 20;
// RSS samples taken in the first seconds of a server's life are left out of
// the memory check: threads, caches and the allocator's arenas are still
// growing to their working size.
constexpr double memory_warm_up = 10.0;
constexpr std::size_t memory_stretch = 10;
constexpr std::size_t memory_min_samples = 40;
// NOTE: under this load the server's heap grows by about 13 to 18 KiB/s for
// at least 285 s, for reasons not yet known (docs/soak.md). The limit of
// 10% plus 2 MiB holds for a 180 s run, but a 600 s run only just passes.

double env_number(const char* name, double fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0')
    return fallback;
  return std::stod(text);
}

/// Seconds since the soak began.
class stopwatch {
public:
  double now() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
      .count();
  }

private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void sleep_seconds(double seconds) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

/// A stretch of time during which the replies to one worker listed a
/// stream as its own, so that it captured the stream: from the reply that listed the stream to the reply
/// that no longer did, or to the moment the worker dropped it itself.
struct ownership {
  std::string worker;
  std::int64_t stream = 0;
  std::uint64_t epoch = 0;
  double start = 0;
  double end = 0;
  // revoked, released, fenced, forgotten, killed, stopped or epoch_changed.
  std::string why_ended;
  // When the worker last got a successful reply before the end.
  double last_reply = 0;
  // True if the span ended after a pause longer than the heartbeat timeout
  // and before any reply showed whether the worker was still alive.
  bool ended_unconfirmed_after_long_pause = false;
};

/// A stream that left a live worker's set without the worker releasing it.
struct loss {
  std::string worker;
  std::int64_t stream = 0;
  double at = 0;
};

struct window {
  double from = 0;
  double to = 0;
};

/// What every thread records, behind one mutex.
class ledger {
public:
  void count(const std::string& what, long n = 1) {
    std::lock_guard lock{mutex_};
    counts_[what] += n;
  }

  void violation(const std::string& check, const std::string& text) {
    std::lock_guard lock{mutex_};
    violations_[check].push_back(text);
  }

  void add(ownership span) {
    std::lock_guard lock{mutex_};
    spans_.push_back(std::move(span));
  }

  void add(loss lost) {
    std::lock_guard lock{mutex_};
    losses_.push_back(std::move(lost));
  }

  void disruption(window w) {
    std::lock_guard lock{mutex_};
    disruptions_.push_back(w);
  }

  /// Records the moves of one rebalance round, once per round id.
  void round(std::int64_t id, const json& migrations) {
    std::lock_guard lock{mutex_};
    if (rounds_.count(id) != 0)
      return;
    auto& moves = rounds_[id];
    for (const auto& move : migrations)
      moves.emplace_back(move.value("from", std::string{}),
                         move.value("stream_id", std::int64_t{0}));
  }

  /// True if a server pause or restart began within [from, to].
  bool disruption_began_between(double from, double to) {
    std::lock_guard lock{mutex_};
    for (const auto& w : disruptions_)
      if (w.from >= from && w.from <= to)
        return true;
    return false;
  }

  bool disrupted_between(double from, double to) {
    std::lock_guard lock{mutex_};
    for (const auto& w : disruptions_)
      if (w.from <= to && w.to >= from)
        return true;
    return false;
  }

  // Read after every thread has ended.
  std::map<std::string, long> counts_;
  std::map<std::string, std::vector<std::string>> violations_;
  std::vector<ownership> spans_;
  std::vector<loss> losses_;
  std::vector<window> disruptions_;
  std::map<std::int64_t, std::vector<std::pair<std::string, std::int64_t>>> rounds_;

private:
  std::mutex mutex_;
};

/// The server under test: started, paused, killed and restarted by the
/// chaos thread while the others read its port and process id.
class server_control {
public:
  server_control(std::vector<std::string> args, std::string log_path)
    : args_(std::move(args)), log_path_(std::move(log_path)) {
  }

  void start() {
    std::lock_guard lock{mutex_};
    process_ = std::make_unique<server_process>(args_, log_path_);
    pid_ = process_->pid();
    ++lifetime_;
    port_ = process_->port();
  }

  /// Ends the process with `signal`; returns its wait status.
  int stop(int signal) {
    std::lock_guard lock{mutex_};
    port_ = 0;
    pid_ = -1;
    auto status = process_->stop(signal);
    process_.reset();
    return status;
  }

  // A pid of -1 would signal every process: only a running server gets one.
  void pause() {
    if (auto pid = pid_.load(); pid > 0)
      ::kill(pid, SIGSTOP);
  }

  void resume() {
    if (auto pid = pid_.load(); pid > 0)
      ::kill(pid, SIGCONT);
  }

  std::uint16_t port() const {
    return port_.load();
  }

  pid_t pid() const {
    return pid_.load();
  }

  int lifetime() const {
    return lifetime_.load();
  }

  std::string log() const {
    std::ifstream in{log_path_};
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

private:
  std::vector<std::string> args_;
  std::string log_path_;
  std::mutex mutex_;
  std::unique_ptr<server_process> process_;
  std::atomic<std::uint16_t> port_{0};
  std::atomic<pid_t> pid_{-1};
  std::atomic<int> lifetime_{0};
};

struct reply {
  bool reached = false;
  unsigned status = 0;
  json body;
};

/// One request to the current server; an unreachable server (down,
/// restarting, or paused past the client's timeout) gives reached=false.
reply call(const server_control& server, const std::string& method,
           const std::string& target, const json& body = nullptr) {
  auto port = server.port();
  if (port == 0)
    return {};
  try {
    http_client client{"127.0.0.1", port};
    auto response = client.request(method, target, body.is_null() ? "" : body.dump());
    return {true, response.status, response.json()};
  } catch (const std::exception&) {
    return {};
  }
}

struct shared_context {
  server_control& server;
  ledger& book;
  const stopwatch& clock;
  std::atomic<bool> quiet{false};
  std::atomic<bool> stop{false};
};

/// A simulated worker on its own thread. It captures exactly the streams
/// the last reply listed in owned_streams, as the contract requires.
class sim_worker {
public:
  sim_worker(std::string id, int port, shared_context& context, unsigned seed)
    : id_(std::move(id)), port_(port), context_(context), random_(seed) {
  }

  ~sim_worker() {
    join();
  }

  const std::string& id() const {
    return id_;
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }

  void join() {
    if (thread_.joinable())
      thread_.join();
  }

  /// Asks the worker to stop for good, as after kill -9.
  void kill() {
    killed_ = true;
  }

  /// Asks the worker to stop for `seconds` and then carry on.
  void pause(double seconds) {
    pause_for_ = seconds;
    paused_ = true;
  }

  bool paused() const {
    return paused_.load();
  }

  bool killed() const {
    return killed_.load();
  }

  /// Returns the streams and epochs of the last reply before the stop;
  /// call it after join().
  const std::map<std::int64_t, std::uint64_t>& final_set() const {
    return final_set_;
  }

private:
  struct hold {
    std::uint64_t epoch = 0;
    double since = 0;
  };

  double now() const {
    return context_.clock.now();
  }

  void run() {
    while (!context_.stop && !killed_ && !register_self())
      sleep_seconds(0.2);
    double last_beat = now();
    std::uniform_real_distribution<double> gap{0.08, 0.2};
    std::uniform_real_distribution<double> coin{0, 1};
    while (!context_.stop) {
      if (killed_) {
        drop_all(now(), "killed");
        return;
      }
      if (paused_) {
        take_pause();
        last_beat = -1;
      }
      try {
        if (context_.quiet || now() - last_beat >= heartbeat_every) {
          last_beat = now();
          heartbeat();
        } else if (coin(random_) < 0.5) {
          assign();
        } else {
          release();
        }
      } catch (const std::exception& e) {
        context_.book.violation("replies are well-formed", id_ + ": " + e.what());
      }
      sleep_seconds(context_.quiet ? 0.3 : gap(random_));
    }
    for (const auto& [stream, held] : holds_)
      final_set_[stream] = held.epoch;
    drop_all(now(), "stopped");
  }

  void take_pause() {
    double from = now();
    double seconds = pause_for_.load();
    bool long_pause = seconds > heartbeat_timeout;
    double until = from + seconds;
    while (now() < until && !context_.stop)
      sleep_seconds(0.05);
    pending_pause_ = {from, now()};
    pause_was_long_ = long_pause;
    last_reply_before_pause_ = last_reply_;
    paused_ = false;
  }

  bool register_self() {
    auto r = call(context_.server, "POST", "/register",
                  {{"server_id", id_}, {"ip", "127.0.0.1"}, {"port", port_},
                   {"max_streams", worker_capacity}});
    context_.book.count("register");
    if (!r.reached || r.status != 200) {
      context_.book.count(r.reached ? "register_refused" : "unreachable");
      return false;
    }
    if (fenced_ && !r.body["owned_streams"].empty())
      context_.book.violation("dead worker starts empty",
                              id_ + " re-registered after its death and was given "
                                + r.body["owned_streams"].dump());
    fenced_ = false;
    apply(r.body["owned_streams"], now());
    return true;
  }

  void heartbeat() {
    auto ids = json::array();
    for (const auto& [stream, held] : holds_)
      ids.push_back(stream);
    json body = {{"server_id", id_}, {"current_streams", holds_.size()},
                 {"status", "active"}, {"stream_ids", ids}};
    if (++beats_ % 5 == 0)
      body["system_metrics"] = {{"cpu_percent", 20 + beats_ % 50},
                                {"memory_percent", 40}, {"memory_used_gb", 3.2},
                                {"memory_total_gb", 8}, {"disk_percent", 55},
                                {"disk_free_gb", 90}, {"disk_total_gb", 200},
                                {"load_average", {0.5, 0.4, 0.3}}};
    double sent = now();
    auto r = call(context_.server, "POST", "/heartbeat", body);
    context_.book.count("heartbeat");
    handle(r, &ids);
    if (r.reached && r.status == 200)
      last_heartbeat_sent_ = sent;
  }

  void assign() {
    std::uniform_int_distribution<int> count{1, 4};
    auto r = call(context_.server, "POST", "/streams/assign",
                  {{"server_id", id_}, {"requested_count", count(random_)}});
    context_.book.count("assign");
    handle(r, nullptr);
  }

  void release() {
    if (holds_.empty()) {
      assign();
      return;
    }
    std::vector<std::int64_t> held;
    for (const auto& [stream, h] : holds_)
      held.push_back(stream);
    std::shuffle(held.begin(), held.end(), random_);
    std::uniform_int_distribution<std::size_t> count{1, std::min<std::size_t>(3, held.size())};
    held.resize(count(random_));

    // The worker stops capturing before it sends the release.
    double t = now();
    auto ids = json::array();
    json epochs = json::object();
    for (auto stream : held) {
      auto it = holds_.find(stream);
      epochs[std::to_string(stream)] = it->second.epoch;
      ids.push_back(stream);
      end_span(stream, it->second, t, "released");
      holds_.erase(it);
    }
    auto r = call(context_.server, "POST", "/streams/release",
                  {{"server_id", id_}, {"stream_ids", ids}, {"epochs", epochs}});
    context_.book.count("release");
    if (r.reached && r.status == 409)
      context_.book.violation("release by a live owner is accepted",
                              id_ + " released " + ids.dump() + " with epochs "
                                + epochs.dump() + " and got 409: " + r.body.dump());
    if (r.reached && r.status == 200)
      for (const auto& entry : r.body["owned_streams"])
        if (std::find(held.begin(), held.end(), entry["stream_id"].get<std::int64_t>())
            != held.end())
          context_.book.violation("release by a live owner is accepted",
                                  id_ + " released stream "
                                    + entry["stream_id"].dump()
                                    + " but the reply still lists it");
    handle(r, nullptr);
  }

  /// Applies any reply: a new owned set, a fence, or nothing when the
  /// server could not be reached or refused for a moment.
  void handle(const reply& r, const json* sent_ids) {
    double t = now();
    // Only a definite reply (a new set or a fence) settles a pause.
    bool excused = false;
    if (pending_pause_.to > 0 && r.reached && (r.status == 200 || r.status == 404)) {
      excused = pause_was_long_;
      check_pause_outcome(r);
    }
    if (!r.reached) {
      context_.book.count("unreachable");
      return;
    }
    if (r.status == 200 && r.body.contains("owned_streams")) {
      apply(r.body["owned_streams"], t);
      return;
    }
    if (r.status == 404 && r.body.value("fenced", false)) {
      context_.book.count("fenced");
      // Only heartbeats keep a worker alive: a server pause after the last
      // one that got through may have outlasted the timeout, even when an
      // assign or release got a reply after the pause.
      if (!excused
          && !context_.book.disruption_began_between(last_heartbeat_sent_, t))
        context_.book.violation("only silent workers die",
                                id_ + " was declared dead at " + std::to_string(t)
                                  + " s without a long pause; last reply at "
                                  + std::to_string(last_reply_) + " s");
      if (sent_ids != nullptr && r.body["drop_streams"] != *sent_ids)
        context_.book.violation("a fenced worker is told what to drop",
                                id_ + " sent " + sent_ids->dump() + " and got "
                                  + r.body.dump());
      if (!r.body["owned_streams"].empty())
        context_.book.violation("a fenced worker is told what to drop",
                                id_ + " fenced with owned streams " + r.body.dump());
      drop_all(t, "fenced");
      fenced_ = true;
      while (!context_.stop && !killed_ && !register_self())
        sleep_seconds(0.2);
      return;
    }
    if (r.status == 404) {
      context_.book.count("forgotten");
      drop_all(t, "forgotten");
      while (!context_.stop && !killed_ && !register_self())
        sleep_seconds(0.2);
      return;
    }
    context_.book.count("status_" + std::to_string(r.status));
  }

  /// After a pause longer than the heartbeat timeout the first reply must
  /// be a fence, unless the server itself was down or stopped meanwhile
  /// (a restart gives every worker a fresh grace period).
  void check_pause_outcome(const reply& r) {
    auto pause = pending_pause_;
    pending_pause_ = {};
    if (!pause_was_long_)
      return;
    bool fenced = r.status == 404 && r.body.value("fenced", false);
    if (fenced)
      return;
    if (context_.book.disrupted_between(last_reply_before_pause_, now()))
      return;
    context_.book.violation("silent workers die",
                            id_ + " was silent from " + std::to_string(last_reply_before_pause_)
                              + " s to " + std::to_string(pause.to)
                              + " s and then got " + std::to_string(r.status) + " "
                              + r.body.dump().substr(0, 200));
  }

  void apply(const json& owned, double t) {
    std::map<std::int64_t, std::uint64_t> listed;
    for (const auto& entry : owned)
      listed[entry["stream_id"].get<std::int64_t>()] = entry["epoch"].get<std::uint64_t>();
    for (auto it = holds_.begin(); it != holds_.end();) {
      auto found = listed.find(it->first);
      if (found == listed.end()) {
        end_span(it->first, it->second, t, "revoked");
        context_.book.add(loss{id_, it->first, t});
        it = holds_.erase(it);
      } else if (found->second != it->second.epoch) {
        end_span(it->first, it->second, t, "epoch_changed");
        context_.book.violation("epochs change only with the owner",
                                id_ + " held stream " + std::to_string(it->first)
                                  + " at epoch " + std::to_string(it->second.epoch)
                                  + " and was then told epoch "
                                  + std::to_string(found->second));
        it = holds_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [stream, epoch] : listed)
      if (holds_.count(stream) == 0)
        holds_[stream] = hold{epoch, t};
    last_reply_ = t;
  }

  void end_span(std::int64_t stream, const hold& held, double t, const char* why) {
    bool unconfirmed = pending_pause_.to > 0 && pause_was_long_;
    context_.book.add(
      ownership{id_, stream, held.epoch, held.since, t, why, last_reply_, unconfirmed});
  }

  void drop_all(double t, const char* why) {
    for (const auto& [stream, held] : holds_)
      end_span(stream, held, t, why);
    holds_.clear();
  }

  std::string id_;
  int port_;
  shared_context& context_;
  std::mt19937 random_;
  std::thread thread_;
  std::atomic<bool> killed_{false};
  std::atomic<bool> paused_{false};
  std::atomic<double> pause_for_{0};
  // Owned by the worker's thread.
  std::map<std::int64_t, hold> holds_;
  std::map<std::int64_t, std::uint64_t> final_set_;
  double last_reply_ = 0;
  double last_reply_before_pause_ = 0;
  /// When the last heartbeat that got a 200 was sent.
  double last_heartbeat_sent_ = 0;
  window pending_pause_;
  bool pause_was_long_ = false;
  bool fenced_ = false;
  long beats_ = 0;
};

/// Reads VmRSS from /proc/PID/status in KiB, or -1.
long rss_kib(pid_t pid) {
  if (pid <= 0)
    return -1;
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return -1;
}

struct rss_sample {
  double age = 0; // seconds since this server started
  long kib = 0;
};

/// The operator's traffic: listings, checked as they arrive, the
/// rebalance history, and now and then a rebalance.
void operator_turn(shared_context& context, long turn);

void operator_loop(shared_context& context) {
  auto& book = context.book;
  long turn = 0;
  while (!context.stop) {
    ++turn;
    try {
      operator_turn(context, turn);
    } catch (const std::exception& e) {
      book.violation("replies are well-formed", std::string{"operator: "} + e.what());
    }
    sleep_seconds(0.25);
  }
}

void operator_turn(shared_context& context, long turn) {
  auto& book = context.book;
  {
    if (turn % 4 == 0) {
      auto r = call(context.server, "GET", "/streams/assignments");
      book.count("admin");
      if (r.reached && r.status == 200) {
        std::set<std::int64_t> seen;
        for (const auto& row : r.body["assignments"]) {
          auto stream = row["stream_id"].get<std::int64_t>();
          if (!seen.insert(stream).second)
            book.violation("one owner per stream (server listing)",
                           "stream " + std::to_string(stream)
                             + " listed twice in one GET /streams/assignments");
          if (stream < 1 || stream > catalogue_size)
            book.violation("only catalogue streams are assigned",
                           "stream " + std::to_string(stream) + " is assigned");
        }
      }
    } else if (turn % 4 == 1) {
      auto r = call(context.server, "GET", "/status");
      book.count("admin");
      if (r.reached && r.status == 200
          && r.body["streams"].value("total", -1L) != catalogue_size)
        book.violation("the catalogue keeps every stream",
                       "GET /status counts " + r.body["streams"].dump());
    } else if (turn % 4 == 2) {
      call(context.server, "GET", "/instances");
      book.count("admin");
    } else {
      auto r = call(context.server, "GET", "/rebalance/history?limit=200");
      book.count("admin");
      if (r.reached && r.status == 200)
        for (const auto& round : r.body["rebalances"])
          book.round(round["id"].get<std::int64_t>(), round["migrations"]);
    }
    if (turn % 24 == 0) {
      auto r = call(context.server, "POST", "/rebalance/basic");
      book.count("admin");
      book.count("rebalance_requested");
      if (r.reached && r.status == 200 && r.body.contains("migrations"))
        book.round(r.body["id"].get<std::int64_t>(), r.body["migrations"]);
    }
  }
}

enum class fault { kill_worker, long_pause, short_pause, server_stop, server_kill, server_term };

const char* fault_name(fault f) {
  switch (f) {
    case fault::kill_worker:
      return "kill worker";
    case fault::long_pause:
      return "long worker pause";
    case fault::short_pause:
      return "short worker pause";
    case fault::server_stop:
      return "server SIGSTOP";
    case fault::server_kill:
      return "server SIGKILL and restart";
    case fault::server_term:
      return "server SIGTERM and restart";
  }
  return "?";
}

struct soak_run {
  double duration = env_number("ORCHESTRATOR_SOAK_SECONDS", 180);
  unsigned seed = static_cast<unsigned>(env_number(
    "ORCHESTRATOR_SOAK_SEED",
    static_cast<double>(std::chrono::system_clock::now().time_since_epoch().count() % 100000)));
  temp_dir dir;
  stopwatch clock;
  ledger book;
  server_control server{{"--data-dir", dir.file("data"), "--modules-dir", MODULES_BUILD_DIR,
                         "--heartbeat-timeout", std::to_string(heartbeat_timeout),
                         "--heartbeat-check-interval", "0.5", "--handoff-timeout",
                         std::to_string(handoff_timeout), "--rebalance-interval", "5",
                         "--log-level", "info"},
                        dir.file("server.log")};
  shared_context context{server, book, clock};
  std::vector<std::unique_ptr<sim_worker>> workers;
  std::mutex rss_mutex;
  std::map<int, std::vector<rss_sample>> rss; // by server lifetime
  std::map<int, double> started_at;           // lifetime to soak time
  std::mt19937 random{seed};
  int next_worker = 0;
  std::map<fault, int> done;

  void add_worker() {
    auto id = "soak-w" + std::to_string(++next_worker);
    workers.push_back(std::make_unique<sim_worker>(id, 9000 + next_worker, context,
                                                   seed * 131 + next_worker));
    workers.back()->start();
  }

  void start_server() {
    server.start();
    std::lock_guard lock{rss_mutex};
    started_at[server.lifetime()] = clock.now();
  }

  void sample_rss() {
    while (!context.stop) {
      int lifetime = server.lifetime();
      auto kib = rss_kib(server.pid());
      if (kib > 0) {
        std::lock_guard lock{rss_mutex};
        rss[lifetime].push_back({clock.now() - started_at[lifetime], kib});
      }
      sleep_seconds(1);
    }
  }

  /// Picks a live worker that is neither paused nor killed; null if none.
  sim_worker* pick_worker() {
    std::vector<sim_worker*> candidates;
    int paused = 0;
    for (auto& w : workers) {
      if (w->killed())
        continue;
      if (w->paused())
        ++paused;
      else
        candidates.push_back(w.get());
    }
    // Two silent workers at a time at most, so that fewer than half of the
    // workers are ever suspect and the resilient handler never freezes.
    if (candidates.empty() || paused >= 2)
      return nullptr;
    std::uniform_int_distribution<std::size_t> pick{0, candidates.size() - 1};
    return candidates[pick(random)];
  }

  void inject(fault f) {
    std::uniform_real_distribution<double> extra{0, 1.5};
    switch (f) {
      case fault::kill_worker: {
        auto* w = pick_worker();
        if (w == nullptr)
          return;
        w->kill();
        add_worker();
        break;
      }
      case fault::long_pause:
      case fault::short_pause: {
        auto* w = pick_worker();
        if (w == nullptr)
          return;
        w->pause(f == fault::long_pause ? heartbeat_timeout + 1.5 + extra(random)
                                        : 0.5 + extra(random) / 4);
        break;
      }
      case fault::server_stop: {
        double from = clock.now();
        server.pause();
        sleep_seconds(2 + extra(random));
        server.resume();
        book.disruption({from, clock.now()});
        break;
      }
      case fault::server_kill:
      case fault::server_term: {
        double from = clock.now();
        int status = server.stop(f == fault::server_kill ? SIGKILL : SIGTERM);
        if (f == fault::server_term && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
          book.violation("SIGTERM stops the server cleanly",
                         "wait status " + std::to_string(status));
        start_server();
        book.disruption({from, clock.now()});
        break;
      }
    }
    ++done[f];
  }

  /// Faults at fixed fractions of the run, so that a short run has each
  /// kind too, and random ones between them. Restarts stop after 55% of
  /// the run, so that the last server lives long enough for the memory
  /// check.
  void chaos() {
    // (fraction of the run, fault, planned for every run)
    std::vector<std::tuple<double, fault, bool>> plan = {
      {0.08, fault::kill_worker, true},  {0.14, fault::long_pause, true},
      {0.20, fault::server_stop, true},  {0.27, fault::server_kill, true},
      {0.34, fault::short_pause, true},  {0.42, fault::server_term, true},
      {0.50, fault::long_pause, true},   {0.62, fault::server_stop, true},
      {0.70, fault::kill_worker, true}};
    std::uniform_real_distribution<double> gap{3, 7};
    std::uniform_int_distribution<int> kind{0, 9};
    for (double t = 0.05 * duration + gap(random); t < 0.9 * duration; t += gap(random)) {
      int k = kind(random);
      fault f = k < 2   ? fault::kill_worker
                : k < 5 ? fault::long_pause
                : k < 7 ? fault::short_pause
                : k < 8 ? fault::server_stop
                : k < 9 ? fault::server_kill
                        : fault::server_term;
      plan.emplace_back(t / duration, f, false);
    }
    std::sort(plan.begin(), plan.end());
    double last_server_fault = -100;
    for (auto [at, f, fixed] : plan) {
      double when = at * duration;
      while (clock.now() < when)
        sleep_seconds(0.05);
      bool on_server = f == fault::server_stop || f == fault::server_kill
                       || f == fault::server_term;
      // Random server faults keep a gap to the last one, and no restart
      // comes after 55% of the run.
      if (!fixed && on_server
          && (clock.now() - last_server_fault < std::min(10.0, 0.1 * duration)
              || ((f == fault::server_kill || f == fault::server_term) && at > 0.55)))
        continue;
      std::cout << "  " << std::fixed << std::setprecision(1) << clock.now() << " s: "
                << fault_name(f) << std::endl;
      inject(f);
      if (on_server)
        last_server_fault = clock.now();
    }
    while (clock.now() < duration)
      sleep_seconds(0.05);
  }
};

json get_json(const server_control& server, const std::string& target) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto r = call(server, "GET", target);
    if (r.reached && r.status == 200)
      return r.body;
    sleep_seconds(0.1);
  }
  BOOST_FAIL("GET " + target + " did not answer 200");
  return nullptr;
}

/// Stream id to (owner, epoch) from GET /streams/assignments.
std::map<std::int64_t, std::pair<std::string, std::uint64_t>> owners_of(const json& listing) {
  std::map<std::int64_t, std::pair<std::string, std::uint64_t>> result;
  for (const auto& row : listing["assignments"])
    result[row["stream_id"].get<std::int64_t>()] = {row["server_id"].get<std::string>(),
                                                    row["epoch"].get<std::uint64_t>()};
  return result;
}

/// Checks the owner intervals from the workers' side: two workers may
/// capture a stream at overlapping times only when the first may have been
/// declared dead and the second got the stream after the first's last
/// successful reply. The first may have been declared dead when a reply
/// fenced it, or when it let go of the stream after a pause longer than the
/// heartbeat timeout and before any reply showed whether it was alive.
/// Epochs of successive owners grow.
void check_worker_views(ledger& book) {
  std::map<std::int64_t, std::vector<const ownership*>> by_stream;
  for (const auto& span : book.spans_)
    by_stream[span.stream].push_back(&span);
  long after_death = 0;
  for (auto& [stream, spans] : by_stream) {
    std::sort(spans.begin(), spans.end(),
              [](const ownership* a, const ownership* b) { return a->start < b->start; });
    for (std::size_t i = 0; i < spans.size(); ++i)
      for (std::size_t j = i + 1; j < spans.size(); ++j) {
        const auto& a = *spans[i];
        const auto& b = *spans[j];
        if (a.worker == b.worker)
          continue;
        bool overlap = b.start < a.end;
        auto describe = [&] {
          std::ostringstream text;
          text << std::fixed << std::setprecision(3) << "stream " << stream << ": "
               << a.worker << " epoch " << a.epoch << " from " << a.start << " to " << a.end
               << " s (" << a.why_ended << ", last reply " << a.last_reply << " s), "
               << b.worker << " epoch " << b.epoch << " from " << b.start << " to " << b.end
               << " s (" << b.why_ended << ")";
          return text.str();
        };
        if (overlap) {
          bool maybe_dead = a.why_ended == "fenced" || a.ended_unconfirmed_after_long_pause;
          if (maybe_dead && b.start >= a.last_reply)
            ++after_death;
          else
            book.violation("one owner per stream (workers' view)", describe());
        }
        if (b.epoch <= a.epoch && b.start >= a.start)
          book.violation("epochs grow from owner to owner", describe());
      }
  }
  book.counts_["overlaps after a death"] = after_death;
}

/// Every stream a live worker lost without releasing it must have been
/// moved by a rebalance round that the server reports.
void check_losses(ledger& book) {
  std::map<std::pair<std::string, std::int64_t>, long> reported;
  for (const auto& [id, moves] : book.rounds_)
    for (const auto& move : moves)
      ++reported[move];
  long moved = 0;
  for (const auto& lost : book.losses_) {
    auto it = reported.find({lost.worker, lost.stream});
    if (it != reported.end() && it->second > 0) {
      --it->second;
      ++moved;
      continue;
    }
    book.violation("none lost (acknowledged streams stay)",
                   lost.worker + " lost stream " + std::to_string(lost.stream) + " at "
                     + std::to_string(lost.at) + " s with no reported move");
  }
  book.counts_["streams moved by reported rebalances"] = moved;
}

void check_memory(soak_run& run) {
  std::lock_guard lock{run.rss_mutex};
  bool checked = false;
  for (const auto& [lifetime, samples] : run.rss) {
    std::vector<long> warm;
    for (const auto& s : samples)
      if (s.age >= memory_warm_up)
        warm.push_back(s.kib);
    std::cout << "RSS of server " << lifetime << " (KiB, one a second, " << samples.size()
              << " samples):";
    for (std::size_t k = 0; k < samples.size(); ++k)
      std::cout << (k % 15 == 0 ? "\n   " : " ") << samples[k].kib;
    std::cout << "\n";
    if (warm.size() < memory_min_samples) {
      std::cout << "  too short for the memory check (" << warm.size()
                << " samples after warm-up)\n";
      continue;
    }
    checked = true;
    auto mean = [](auto first, auto last) {
      double sum = 0;
      for (auto it = first; it != last; ++it)
        sum += static_cast<double>(*it);
      return sum / static_cast<double>(last - first);
    };
    double first = mean(warm.begin(), warm.begin() + memory_stretch);
    double last = mean(warm.end() - memory_stretch, warm.end());
    double limit = first * 1.10 + 2048;
    std::cout << "  first " << memory_stretch << " s after warm-up: " << first
              << " KiB, last " << memory_stretch << " s: " << last << " KiB, limit " << limit
              << " KiB\n";
    run.book.counts_["rss first KiB (server " + std::to_string(lifetime) + ")"]
      = static_cast<long>(first);
    run.book.counts_["rss last KiB (server " + std::to_string(lifetime) + ")"]
      = static_cast<long>(last);
    if (last > limit)
      run.book.violation("memory flat", "server " + std::to_string(lifetime) + " grew from "
                                          + std::to_string(first) + " to "
                                          + std::to_string(last) + " KiB");
  }
  if (!checked)
    std::cout << "memory check skipped: no server lived " << memory_warm_up
              << " s of warm-up plus " << memory_min_samples << " s\n";
}

/// Reads the stopped server's SQLite file: assignments by stream, and the
/// state of every worker.
void check_database(const std::string& path,
                    const std::map<std::int64_t, std::pair<std::string, std::uint64_t>>& listed,
                    ledger& book) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  auto rows = [&](const char* sql) {
    std::vector<std::vector<std::string>> result;
    sqlite3_stmt* statement = nullptr;
    BOOST_REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK,
                          sql);
    while (sqlite3_step(statement) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(statement); ++c) {
        auto text = sqlite3_column_text(statement, c);
        row.emplace_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
      }
      result.push_back(std::move(row));
    }
    sqlite3_finalize(statement);
    return result;
  };
  for (const auto& row : rows("SELECT stream_id, COUNT(*) FROM orchestrator_stream_assignments "
                              "GROUP BY stream_id HAVING COUNT(*) > 1"))
    book.violation("one owner per stream (database)", "stream " + row[0] + " has " + row[1]
                                                         + " rows");
  for (const auto& row : rows("SELECT a.stream_id FROM orchestrator_stream_assignments a "
                              "LEFT JOIN streams s ON s.id = a.stream_id WHERE s.id IS NULL"))
    book.violation("only catalogue streams are assigned", "database row for stream " + row[0]);
  for (const auto& row : rows("SELECT a.stream_id, a.server_id, i.status "
                              "FROM orchestrator_stream_assignments a "
                              "LEFT JOIN orchestrator_instances i ON i.server_id = a.server_id "
                              "WHERE i.status IS NULL OR i.status <> 'active'"))
    book.violation("owners are live (database)",
                   "stream " + row[0] + " belongs to " + row[1] + " in state '" + row[2] + "'");
  auto catalogue = rows("SELECT COUNT(*) FROM streams");
  auto kept = catalogue.empty() ? std::string{"no"} : catalogue[0][0];
  if (kept != std::to_string(catalogue_size))
    book.violation("the catalogue keeps every stream", "the database holds " + kept
                                                         + " streams");
  std::map<std::int64_t, std::pair<std::string, std::uint64_t>> stored;
  for (const auto& row : rows("SELECT stream_id, server_id, epoch "
                              "FROM orchestrator_stream_assignments"))
    stored[std::stoll(row[0])] = {row[1], std::stoull(row[2])};
  if (stored != listed)
    book.violation("the database holds what the server listed",
                   std::to_string(stored.size()) + " rows on disk, "
                     + std::to_string(listed.size()) + " listed before the stop");
  sqlite3_close(db);
}

} // namespace

BOOST_AUTO_TEST_CASE(soak_under_faults_keeps_invariants) {
  soak_run run;
  std::cout << "soak: " << run.duration << " s, seed " << run.seed << ", " << worker_count
            << " workers of capacity " << worker_capacity << ", " << catalogue_size
            << " streams, heartbeat timeout " << heartbeat_timeout << " s" << std::endl;
  run.start_server();
  auto rows = json::array();
  for (int id = 1; id <= catalogue_size; ++id)
    rows.push_back({{"id", id}, {"url", "http://soak.invalid/" + std::to_string(id)}});
  auto added = call(run.server, "POST", "/streams", rows);
  BOOST_REQUIRE(added.reached && added.status == 201);

  std::thread sampler{[&] { run.sample_rss(); }};
  std::thread admin{[&] { operator_loop(run.context); }};
  for (int k = 0; k < worker_count; ++k)
    run.add_worker();

  try {
    run.chaos();
  } catch (const std::exception& e) {
    // A server that fails to start again ends the run; the threads must
    // still be joined.
    run.book.violation("the server restarts", e.what());
  }

  // Quiet phase: no faults, no assign or release, heartbeats only, until
  // every pause has ended and no handoff is in flight.
  run.context.quiet = true;
  double settle_until = run.clock.now() + 20;
  while (run.clock.now() < settle_until) {
    bool paused = std::any_of(run.workers.begin(), run.workers.end(),
                              [](const auto& w) { return w->paused(); });
    auto status = call(run.server, "GET", "/status");
    if (!paused && status.reached && status.status == 200
        && status.body["streams"]["handoffs"] == 0)
      break;
    sleep_seconds(0.25);
  }
  sleep_seconds(1);

  // Stop the workers and read the server's view at once, well within the
  // heartbeat timeout, so that no worker dies in between.
  run.context.stop = true;
  for (auto& w : run.workers)
    w->join();
  admin.join();
  sampler.join();
  auto listing = get_json(run.server, "/streams/assignments");
  auto instances = get_json(run.server, "/instances");
  auto status = get_json(run.server, "/status");
  auto listed = owners_of(listing);
  // A stream in handoff stays its owner's row, marked revoking, but has
  // already left the owner's owned_streams.
  std::set<std::int64_t> revoking;
  for (const auto& row : listing["assignments"])
    if (row["status"] == "revoking")
      revoking.insert(row["stream_id"].get<std::int64_t>());
  if (!revoking.empty())
    std::cout << revoking.size() << " stream(s) still in handoff at the end\n";
  std::map<std::string, json> owned_by;
  for (const auto& w : run.workers)
    if (!w->killed())
      owned_by[w->id()] = get_json(run.server, "/instances/" + w->id())["data"]["owned_streams"];

  std::map<std::string, std::string> state;
  std::map<std::string, long> counted;
  for (const auto& w : instances["instances"]) {
    state[w["server_id"].get<std::string>()] = w["status"].get<std::string>();
    counted[w["server_id"].get<std::string>()] = w["current_streams"].get<long>();
  }
  std::map<std::string, long> per_owner;
  for (const auto& [stream, owner] : listed) {
    ++per_owner[owner.first];
    if (state[owner.first] != "active")
      run.book.violation("owners are live (server listing)",
                         "stream " + std::to_string(stream) + " belongs to " + owner.first
                           + " in state '" + state[owner.first] + "'");
  }
  for (const auto& [id, count] : counted)
    if (per_owner[id] != count)
      run.book.violation("listings agree", id + " counts " + std::to_string(count)
                                             + " streams in /instances and "
                                             + std::to_string(per_owner[id])
                                             + " in /streams/assignments");
  if (status["streams"]["total"] != catalogue_size
      || status["streams"]["assigned"] != static_cast<long>(listed.size()))
    run.book.violation("none lost (every stream owned or free)",
                       "GET /status says " + status["streams"].dump() + " with "
                         + std::to_string(listed.size()) + " assignments listed");
  for (const auto& w : run.workers) {
    std::map<std::int64_t, std::uint64_t> server_side;
    for (const auto& [stream, owner] : listed)
      if (owner.first == w->id() && revoking.count(stream) == 0)
        server_side[stream] = owner.second;
    if (w->killed()) {
      if (per_owner[w->id()] != 0 || state[w->id()] != "dead")
        run.book.violation("streams of killed workers move",
                           w->id() + " was killed, is '" + state[w->id()] + "' and owns "
                             + std::to_string(per_owner[w->id()]) + " streams");
      continue;
    }
    std::map<std::int64_t, std::uint64_t> instance_view;
    for (const auto& entry : owned_by[w->id()])
      instance_view[entry["stream_id"].get<std::int64_t>()] = entry["epoch"].get<std::uint64_t>();
    if (instance_view != server_side)
      run.book.violation("listings agree",
                         w->id() + " owns " + std::to_string(instance_view.size())
                           + " streams in GET /instances/{id} and "
                           + std::to_string(server_side.size())
                           + " in /streams/assignments");
    // Every stream of the worker's last reply is still its own, at the same
    // epoch, handed off or not. The server may have placed more streams on
    // it since that reply (a rebalance round can start in the last
    // moments), but those carry newer epochs than any the worker saw.
    std::uint64_t newest_seen = 0;
    for (const auto& [stream, epoch] : w->final_set()) {
      newest_seen = std::max(newest_seen, epoch);
      auto row = listed.find(stream);
      if (row == listed.end() || row->second.first != w->id() || row->second.second != epoch)
        run.book.violation("none lost (workers and server agree)",
                           w->id() + " was last told it owns stream " + std::to_string(stream)
                             + " at epoch " + std::to_string(epoch) + ", the server lists "
                             + (row == listed.end() ? std::string{"no owner"}
                                                    : row->second.first + " at epoch "
                                                        + std::to_string(row->second.second)));
    }
    for (const auto& [stream, epoch] : server_side)
      if (w->final_set().count(stream) == 0) {
        run.book.count("streams placed after a worker's last reply");
        if (epoch <= newest_seen)
          run.book.violation("none lost (workers and server agree)",
                             w->id() + " owns stream " + std::to_string(stream) + " at epoch "
                               + std::to_string(epoch)
                               + " on the server but its last reply did not list it");
      }
  }

  int term_status = run.server.stop(SIGTERM);
  if (!(WIFEXITED(term_status) && WEXITSTATUS(term_status) == 0))
    run.book.violation("SIGTERM stops the server cleanly",
                       "wait status " + std::to_string(term_status));
  check_database(run.dir.file("data/orchestrator.db"), listed, run.book);

  // One more start on the same file gives back exactly the same owners.
  run.start_server();
  auto again = owners_of(get_json(run.server, "/streams/assignments"));
  if (again != listed)
    run.book.violation("acknowledged assignments survive a restart",
                       std::to_string(again.size()) + " assignments after the restart, "
                         + std::to_string(listed.size()) + " before");
  run.server.stop(SIGTERM);

  check_worker_views(run.book);
  check_losses(run.book);
  check_memory(run);

  std::cout << "soak summary (" << run.duration << " s, seed " << run.seed << "):\n";
  for (const auto& [f, n] : run.done)
    std::cout << "  " << fault_name(f) << ": " << n << "\n";
  run.book.counts_["worker ownership spans"] = static_cast<long>(run.book.spans_.size());
  run.book.counts_["rebalance rounds seen"] = static_cast<long>(run.book.rounds_.size());
  for (const auto& [what, n] : run.book.counts_)
    std::cout << "  " << what << ": " << n << "\n";
  const char* checks[] = {"one owner per stream (workers' view)",
                          "one owner per stream (server listing)",
                          "one owner per stream (database)",
                          "epochs grow from owner to owner",
                          "epochs change only with the owner",
                          "none lost (acknowledged streams stay)",
                          "none lost (every stream owned or free)",
                          "none lost (workers and server agree)",
                          "acknowledged assignments survive a restart",
                          "the database holds what the server listed",
                          "the catalogue keeps every stream",
                          "only catalogue streams are assigned",
                          "owners are live (server listing)",
                          "owners are live (database)",
                          "listings agree",
                          "streams of killed workers move",
                          "silent workers die",
                          "only silent workers die",
                          "dead worker starts empty",
                          "a fenced worker is told what to drop",
                          "release by a live owner is accepted",
                          "SIGTERM stops the server cleanly",
                          "the server restarts",
                          "replies are well-formed",
                          "memory flat"};
  for (const char* check : checks) {
    const auto& found = run.book.violations_[check];
    std::cout << (found.empty() ? "  ok   " : "  FAIL ") << check << ": " << found.size()
              << " violation(s)\n";
    for (std::size_t k = 0; k < found.size() && k < 10; ++k)
      std::cout << "         " << found[k] << "\n";
    BOOST_CHECK_MESSAGE(found.empty(), check << ": " << found.size() << " violation(s)");
  }
  for (const auto& [check, found] : run.book.violations_)
    BOOST_CHECK_MESSAGE(std::find_if(std::begin(checks), std::end(checks),
                                     [&](const char* c) { return check == c; })
                          != std::end(checks),
                        "unlisted check " << check << ": " << found.size() << " violation(s)");
  std::cout << std::flush;
}
