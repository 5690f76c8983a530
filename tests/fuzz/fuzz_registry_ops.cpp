// Fuzz target: the bytes are a sequence of worker and admin operations on a
// registry (register, heartbeat, assign, release, deregister, deaths,
// operator actions, rebalancing with handoffs, catalogue changes, time
// passing, lost writes and restarts). After every operation the state rules
// must hold: the registry's invariants, no stream in two workers' replies,
// replies that list the worker's whole set, an epoch that never goes back,
// and a restart that loads exactly what was committed.

#include "actors/registry.hpp"
#include "modules/balancer/basic_balancer.hpp"
#include "modules/balancer/smart_balancer.hpp"
#include "tests/support/registry_rules.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace orchestrator;

namespace {

constexpr int worker_count = 6;
constexpr std::int64_t max_stream_id = 48;

/// Hands out the input bytes as small numbers; zeros once they run out.
class byte_reader {
public:
  byte_reader(const std::uint8_t* data, std::size_t size)
    : data_(data), size_(size) {
  }

  bool empty() const {
    return size_ == 0;
  }

  /// Returns a number in [low, high].
  std::int64_t pick(std::int64_t low, std::int64_t high) {
    std::uint8_t byte = 0;
    if (size_ > 0) {
      byte = *data_++;
      --size_;
    }
    return low + byte % (high - low + 1);
  }

  bool flag() {
    return pick(0, 1) == 1;
  }

private:
  const std::uint8_t* data_;
  std::size_t size_;
};

class sequence {
public:
  explicit sequence(byte_reader& in) : in_(in) {
    for (int k = 0; k < worker_count; ++k)
      workers_.push_back("w" + std::to_string(k));
    reg_.load(store_snapshot{}, now());
    std::vector<stream_row> rows;
    for (std::int64_t id = 1; id <= 24; ++id)
      rows.push_back(stream_row{id, "http://s/" + std::to_string(id), "", "{}"});
    reg_.put_streams(rows);
    persist();
  }

  void step(int index) {
    step_ = index;
    const auto& worker = workers_[in_.pick(0, worker_count - 1)];
    switch (in_.pick(0, 19)) {
      case 0:
        do_register(worker);
        break;
      case 1:
        do_heartbeat(worker, false);
        break;
      case 2:
        do_heartbeat(worker, true);
        break;
      case 3:
        do_assign(worker);
        break;
      case 4:
        do_release(worker);
        break;
      case 5:
        do_deregister(worker);
        break;
      case 6:
        do_expire(worker);
        break;
      case 7:
        do_declare_failed(worker);
        break;
      case 8:
        do_rebalance();
        break;
      case 9:
        reg_.complete_due_handoffs(now());
        break;
      case 10:
        do_put_streams();
        break;
      case 11:
        do_erase_stream();
        break;
      case 12:
        clock_ms_ += in_.pick(0, 255) * 100;
        break;
      case 13:
        do_drain(worker);
        break;
      case 14:
        do_evacuate(worker);
        break;
      case 15:
        do_quarantine(worker);
        break;
      case 16:
        reg_.place_waiting(now());
        break;
      case 17:
        reg_.forget_dead(now().wall_ms - in_.pick(0, 255) * 100);
        break;
      case 18:
        do_restart();
        break;
      default:
        clock_ms_ += in_.pick(0, 15);
        break;
    }

    // Some writes fail: the registry must go back exactly.
    if (in_.pick(0, 7) == 0)
      reg_.rollback(reg_.take_journal());
    else
      persist();
    require(testing::check_registry_rules(reg_, workers_, highest_epoch_));
  }

private:
  instant now() const {
    return instant{1'700'000'000'000 + clock_ms_, clock_ms_};
  }

  void require(const std::string& problem) {
    if (problem.empty())
      return;
    std::fprintf(stderr, "fuzz_registry_ops: step %d: %s\n", step_,
                 problem.c_str());
    std::abort();
  }

  void require(bool condition, const std::string& what) {
    require(condition ? std::string{} : what);
  }

  void persist() {
    store_.commit(reg_.take_journal().redo);
  }

  void check_owned(const std::string& worker,
                   const std::vector<stream_lease>& owned) {
    require(testing::check_owned_reply(reg_, worker, owned));
  }

  std::vector<std::int64_t> some_ids(const std::string& worker) {
    std::vector<std::int64_t> ids;
    for (const auto& lease : reg_.owned_by(worker))
      if (in_.flag())
        ids.push_back(lease.stream_id);
    for (auto extra = in_.pick(0, 2); extra > 0; --extra)
      ids.push_back(in_.pick(-1, max_stream_id + 2));
    return ids;
  }

  void do_register(const std::string& worker) {
    auto capacity = static_cast<std::uint32_t>(in_.pick(0, 12));
    registration request{worker, "10.0.0.1", 9000, capacity};
    request.weight = static_cast<double>(in_.pick(0, 4)) / 2;
    auto reply = reg_.register_worker(request, now());
    require(static_cast<bool>(reply), "registration of " + worker + " failed");
    check_owned(worker, reply->owned);
    require(reply->owned.size() <= capacity,
            "registration left " + worker + " above its capacity");
  }

  void do_heartbeat(const std::string& worker, bool lists) {
    heartbeat beat{worker, in_.pick(0, 20), "active"};
    if (lists) {
      beat.lists_streams = true;
      beat.stream_ids = some_ids(worker);
    }
    auto reply = reg_.record_heartbeat(beat, now());
    if (reply)
      check_owned(worker, reply->owned);
  }

  void do_assign(const std::string& worker) {
    auto before = reg_.owned_by(worker);
    auto count = static_cast<std::uint32_t>(in_.pick(1, 12));
    auto reply = reg_.assign(assign_request{worker, count}, now());
    if (!reply)
      return;
    check_owned(worker, reply->owned);
    // New assignments carry epochs above every earlier one of the worker.
    std::uint64_t old_max = 0;
    std::vector<std::int64_t> old_ids;
    for (const auto& lease : before) {
      old_ids.push_back(lease.stream_id);
      old_max = std::max(old_max, lease.epoch);
    }
    for (const auto& lease : reply->owned)
      if (std::find(old_ids.begin(), old_ids.end(), lease.stream_id)
          == old_ids.end())
        require(lease.epoch > old_max,
                "stream " + std::to_string(lease.stream_id)
                  + " assigned under an old epoch");
  }

  void do_release(const std::string& worker) {
    auto before = reg_.find_worker(worker, now());
    release_request request{worker, some_ids(worker), {}};
    if (!before) {
      require(!reg_.release(request, now()),
              "release by unknown or dead " + worker + " succeeded");
      return;
    }
    // Sometimes name epochs: the current one, or an older, stale one.
    if (in_.flag())
      for (const auto& lease : reg_.owned_by(worker))
        if (in_.flag())
          request.epochs.push_back(
            stream_lease{lease.stream_id, lease.epoch - in_.pick(0, 1)});
    auto reply = reg_.release(request, now());
    if (!reply)
      return;
    check_owned(worker, reply->owned);
    // Only streams the worker owned, handoffs included, are released.
    for (auto id : reply->released) {
      bool owned = false;
      for (const auto& lease : before->owned)
        owned = owned || lease.stream_id == id;
      for (const auto& lease : before->revoking)
        owned = owned || lease.stream_id == id;
      require(owned, worker + " released stream " + std::to_string(id)
                       + " that it did not own");
    }
  }

  void do_deregister(const std::string& worker) {
    if (reg_.deregister(worker, now()))
      require(reg_.owned_by(worker).empty(),
              "deregistered " + worker + " still owns streams");
  }

  void do_expire(const std::string& worker) {
    for (auto verdict : reg_.active_liveness()) {
      if (verdict.server_id != worker)
        continue;
      // A verdict based on an older heartbeat than the last one is stale
      // and must be ignored.
      bool stale = in_.flag();
      if (stale)
        verdict.last_seen_steady_ms -= 1;
      auto report = reg_.declare_dead({verdict}, now());
      if (!report.dead_workers.empty())
        require(reg_.owned_by(worker).empty(),
                "dead " + worker + " still owns streams");
    }
  }

  void do_declare_failed(const std::string& worker) {
    if (reg_.declare_failed(worker, now()))
      require(reg_.owned_by(worker).empty(),
              "failed " + worker + " still owns streams");
  }

  void do_rebalance() {
    auto input = reg_.balance_state(now());
    input.manual = in_.flag();
    balance_plan plan;
    if (in_.flag())
      plan = basic_balancer{}.plan(input);
    else
      plan = smart_balancer{balancer_settings{}}.plan(input);
    // Moves are sometimes stale or made up, as after a race with a worker.
    if (in_.flag() && !workers_.empty())
      plan.moves.push_back(stream_move{in_.pick(0, max_stream_id),
                                       workers_[in_.pick(0, worker_count - 1)],
                                       workers_[in_.pick(0, worker_count - 1)],
                                       static_cast<std::uint64_t>(in_.pick(0, 255))});
    std::vector<std::string> affected;
    reg_.begin_handoffs(plan.moves, now(), in_.flag() ? 0 : 3000, affected);
  }

  void do_put_streams() {
    std::vector<stream_row> rows;
    for (auto count = in_.pick(1, 4); count > 0; --count) {
      auto id = in_.pick(1, max_stream_id);
      rows.push_back(stream_row{id, "http://s/" + std::to_string(id) + "/v"
                                      + std::to_string(in_.pick(0, 3)),
                                "", "{}"});
    }
    reg_.put_streams(rows);
  }

  void do_erase_stream() {
    auto id = in_.pick(0, max_stream_id + 1);
    reg_.erase_stream(id);
    for (const auto& worker : workers_)
      for (const auto& lease : reg_.owned_by(worker))
        require(lease.stream_id != id, "erased stream " + std::to_string(id)
                                         + " is still owned by " + worker);
  }

  void do_drain(const std::string& worker) {
    auto reply = reg_.set_draining(worker, in_.flag(), now());
    if (reply)
      require(reply->row.server_id == worker, "drain answered for another worker");
  }

  void do_evacuate(const std::string& worker) {
    if (reg_.evacuate(worker, now()))
      require(reg_.owned_by(worker).empty(),
              "evacuated " + worker + " still owns streams");
  }

  void do_quarantine(const std::string& worker) {
    auto until = in_.flag() ? 0 : now().wall_ms + in_.pick(0, 255) * 100;
    reg_.set_quarantine(worker, until);
  }

  /// Restarts from the committed state, which must load with nothing to
  /// repair and with the same assignments.
  void do_restart() {
    persist();
    auto before = reg_.list_assignments();
    registry fresh;
    auto repairs = fresh.load(store_.snapshot(), now());
    require(repairs == 0, "a restart repaired " + std::to_string(repairs)
                            + " rows of a committed state");
    auto after = fresh.list_assignments();
    require(after.size() == before.size(), "a restart changed the assignments");
    for (std::size_t k = 0; k < before.size(); ++k)
      require(after[k].stream_id == before[k].stream_id
                && after[k].server_id == before[k].server_id
                && after[k].epoch == before[k].epoch,
              "a restart changed the assignment of stream "
                + std::to_string(before[k].stream_id));
    reg_ = std::move(fresh);
    persist();
  }

  byte_reader& in_;
  std::vector<std::string> workers_;
  registry reg_;
  testing::memory_store store_;
  std::int64_t clock_ms_ = 1'000'000;
  std::uint64_t highest_epoch_ = 0;
  int step_ = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_reader in{data, size};
  sequence run{in};
  for (int index = 0; !in.empty() && index < 2000; ++index)
    run.step(index);
  return 0;
}
