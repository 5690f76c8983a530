#pragma once

// An HTTP/1.1 load generator for loopback benchmarks: many keep-alive
// connections driven by Boost.Asio on one or more client threads, each
// with its own io_context. At a fixed rate, requests are scheduled on a
// clock and their latency counts from the scheduled time. A slow reply that
// delays the next send therefore shows up in the figures instead of
// lowering the offered load (no coordinated omission).

// Boost 1.74's string_view, which verb.hpp includes, needs <ostream> first.
#include <ostream>

#include <boost/beast/http/verb.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace orchestrator::bench {

using clock_type = std::chrono::steady_clock;

/// One request a workload wants sent.
struct request_spec {
  boost::beast::http::verb method = boost::beast::http::verb::post;
  std::string target;
  std::string body;
  /// Index into load_options::kind_names, for figures per operation.
  std::uint8_t kind = 0;
  /// Free for the workload, for example the worker index.
  std::uint64_t tag = 0;
  /// Sent with load_options::admin_authorization, for admin endpoints.
  bool admin = false;
};

/// The source of a scenario's requests. A client thread owns its workload,
/// so no method is called from two threads.
class workload {
public:
  virtual ~workload() = default;

  /// Returns the next request. At a fixed rate, nullopt skips this slot;
  /// as fast as possible, nullopt means the workload has nothing more.
  virtual std::optional<request_spec> next() = 0;

  /// Receives every HTTP reply, whatever its status; `sent` is when the
  /// request went out.
  virtual void on_reply(const request_spec&, unsigned /*status*/,
                        const std::string& /*body*/, clock_type::time_point /*sent*/) {}

  /// Receives every request that got no reply (connection error, timeout,
  /// or still queued when the run ended).
  virtual void on_failure(const request_spec&) {}
};

/// Creates the workload of client thread `index` out of `count`.
using workload_factory =
  std::function<std::unique_ptr<workload>(std::size_t index, std::size_t count)>;

struct load_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  /// Requests per second over all threads; 0 sends as fast as the
  /// connections allow, one request in flight per connection.
  double rate = 0;
  std::size_t connections = 64;
  std::size_t threads = 1;
  /// Seconds sent but not recorded, then seconds recorded.
  double warmup_s = 0;
  double duration_s = 10;
  /// Upper bound on requests sent over all threads; 0 means none.
  std::uint64_t max_requests = 0;
  double request_timeout_s = 5;
  /// Seconds between start() and the first send, for opening connections.
  double lead_s = 0.1;
  /// Value of the Authorization header sent with every request, such as
  /// "Bearer TOKEN"; empty sends none.
  std::string authorization;
  /// Authorization header value of requests marked admin.
  std::string admin_authorization;
  /// Names of the request kinds, indexed by request_spec::kind.
  std::vector<std::string> kind_names = {"request"};
};

/// One reply inside the recorded window.
struct latency_sample {
  /// Seconds from the start of the recorded window to the scheduled send.
  float at_s;
  /// Seconds from the start of the recorded window to the reply.
  float done_s;
  float latency_ms;
  std::uint8_t kind;
  bool ok;
};

struct load_result {
  std::vector<latency_sample> samples;
  /// Failures by kind: "http_503", "connect", "timeout", "unsent", ...
  std::map<std::string, std::uint64_t> errors;
  std::uint64_t sent = 0;
  std::uint64_t replies = 0;
  /// Length of the recorded window as it ran (shorter if stopped early).
  double recorded_s = 0;
  /// CPU seconds the whole bench process used while the run lasted.
  double client_cpu_s = 0;
};

/// Counters for the progress line, read while the run goes on.
struct load_progress {
  std::uint64_t sent = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  double elapsed_s = 0;
};

class client_thread;

/// One run of a workload. start() returns at once; wait() joins the client
/// threads and returns what they recorded.
class load_run {
public:
  load_run(load_options options, workload_factory factory);
  ~load_run();

  load_run(const load_run&) = delete;
  load_run& operator=(const load_run&) = delete;

  void start();
  bool finished() const;
  load_progress progress() const;
  /// Ends the run early: nothing new is sent, and requests in flight get
  /// until their timeout to finish.
  void stop();
  load_result wait();

private:
  load_options options_;
  workload_factory factory_;
  std::vector<std::unique_ptr<client_thread>> clients_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> running_{0};
  clock_type::time_point started_;
  double cpu_at_start_ = 0;
};

/// Waits until `run` finishes or `until` comes, printing a progress line to
/// stderr once a second when `label` is not empty.
void watch(const load_run& run, const std::string& label, clock_type::time_point until);

/// Runs `options` to the end, printing a progress line to stderr once a
/// second when `label` is not empty.
load_result run_load(const load_options& options, const workload_factory& factory,
                     const std::string& label);

/// Sends `requests` as fast as `connections` allow, with `authorization` as
/// the Authorization header when not empty, and calls `on_reply` with each
/// reply (on one client thread). Returns the number of 2xx replies.
std::size_t run_batch(const std::string& host, std::uint16_t port,
                      const std::string& authorization,
                      std::vector<request_spec> requests,
                      std::function<void(const request_spec&, unsigned,
                                         const std::string&)> on_reply = {},
                      std::size_t connections = 32);

/// CPU seconds (user and system) this process has used so far.
double process_cpu_seconds();

} // namespace orchestrator::bench
