#pragma once

// The request streams the scenarios send.

#include "bench/load/http_load.hpp"
#include "bench/load/setup.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace orchestrator::bench {

/// Heartbeats from a fixed set of workers, each in turn. Client thread
/// `index` of `count` sends for the workers whose number modulo `count` is
/// `index`, so threads never share a worker. A worker whose flag in
/// `silenced` is set sends nothing, and for each worker the send time of
/// its latest acknowledged heartbeat is kept in `last_ok_ns`.
class heartbeat_workload final : public workload {
public:
  struct shared_state {
    std::vector<std::string> bodies;
    std::unique_ptr<std::atomic<bool>[]> silenced;
    std::unique_ptr<std::atomic<std::int64_t>[]> last_ok_ns;

    explicit shared_state(std::vector<std::string> heartbeat_bodies);
  };

  heartbeat_workload(std::shared_ptr<shared_state> state, std::size_t index,
                     std::size_t count);

  std::optional<request_spec> next() override;
  void on_reply(const request_spec& spec, unsigned status, const std::string& body,
                clock_type::time_point sent) override;

private:
  std::shared_ptr<shared_state> state_;
  std::vector<std::size_t> mine_;
  std::size_t cursor_ = 0;
};

/// The body of a heartbeat from `name` that reports `streams` streams.
std::string heartbeat_body(const std::string& name, std::size_t streams);

/// Register, assign, release and deregister mixed at given weights, over
/// a pool of workers that grows and shrinks. It keeps each worker's owned
/// set from its latest reply, and never has two requests in flight for the
/// same worker, so that set is always the one the server acknowledged last.
/// Runs on one client thread.
class churn_workload final : public workload {
public:
  enum kind : std::uint8_t { register_kind, assign_kind, release_kind, deregister_kind };
  static const std::vector<std::string> kind_names;

  struct worker {
    std::string id;
    owned_set owned;
    bool live = false;
    bool busy = false;
    /// A request for this worker got no reply, so the server's view of it
    /// is unknown.
    bool uncertain = false;
  };

  /// `weights` holds the weight of each kind; `batch` is the number of
  /// streams per assign and release; the pool never shrinks below
  /// `min_live` workers.
  churn_workload(const std::map<std::string, owned_set>& initial, std::vector<double> weights,
                 std::size_t batch, std::size_t capacity, std::size_t min_live);

  std::optional<request_spec> next() override;
  void on_reply(const request_spec& spec, unsigned status, const std::string& body,
                clock_type::time_point sent) override;
  void on_failure(const request_spec& spec) override;

  const std::vector<worker>& workers() const {
    return workers_;
  }

  /// Slots skipped because no worker was free for the chosen operation.
  std::uint64_t skipped() const {
    return skipped_;
  }

private:
  std::optional<std::size_t> pick_free(bool needs_streams);
  void drop_live(std::size_t index);

  std::vector<worker> workers_;
  std::vector<std::size_t> live_;
  std::discrete_distribution<int> choose_;
  std::mt19937_64 random_{20261205};
  std::size_t batch_;
  std::size_t capacity_;
  std::size_t min_live_;
  std::uint64_t skipped_ = 0;
};

/// Parses "register=1,assign=4,..." into weights in churn_workload's kind
/// order. Throws std::invalid_argument naming a bad entry.
std::vector<double> parse_mix(const std::string& mix);

/// Passes every call on to a workload that the scenario keeps after the
/// run, to read the state it gathered.
class borrowed_workload final : public workload {
public:
  explicit borrowed_workload(workload& inner) : inner_(inner) {}

  std::optional<request_spec> next() override {
    return inner_.next();
  }
  void on_reply(const request_spec& spec, unsigned status, const std::string& body,
                clock_type::time_point sent) override {
    inner_.on_reply(spec, status, body, sent);
  }
  void on_failure(const request_spec& spec) override {
    inner_.on_failure(spec);
  }

private:
  workload& inner_;
};

} // namespace orchestrator::bench
