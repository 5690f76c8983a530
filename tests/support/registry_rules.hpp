#pragma once

// State rules that random and fuzzed operation sequences check on a registry
// after every step. Each check returns the first violation as a sentence, or
// an empty string, so that Boost.Test and libFuzzer targets can both use it.

#include "actors/registry.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace orchestrator::testing {

/// Checks the registry's internal invariants, that no stream appears in the
/// replies of two of `workers`, and that the epoch never went below
/// `highest_epoch`, which is then raised to the current epoch.
inline std::string check_registry_rules(const registry& reg,
                                        const std::vector<std::string>& workers,
                                        std::uint64_t& highest_epoch) {
  if (auto problem = reg.check_invariants(); !problem.empty())
    return problem;

  // Handoffs included: a stream leaves its owner's replies before it
  // enters the receiver's.
  std::set<std::int64_t> seen;
  for (const auto& worker : workers)
    for (const auto& lease : reg.owned_by(worker))
      if (!seen.insert(lease.stream_id).second)
        return "stream " + std::to_string(lease.stream_id)
               + " has two owners";

  if (reg.epoch() < highest_epoch)
    return "the epoch went back from " + std::to_string(highest_epoch)
           + " to " + std::to_string(reg.epoch());
  highest_epoch = reg.epoch();
  return {};
}

/// Checks that `owned`, the set a reply gave `worker`, is the worker's whole
/// current set with the same epochs.
inline std::string check_owned_reply(const registry& reg,
                                     const std::string& worker,
                                     const std::vector<stream_lease>& owned) {
  auto current = reg.owned_by(worker);
  if (owned.size() != current.size())
    return "the reply to " + worker + " lists " + std::to_string(owned.size())
           + " streams but the registry has " + std::to_string(current.size());
  for (std::size_t k = 0; k < owned.size(); ++k)
    if (owned[k].stream_id != current[k].stream_id
        || owned[k].epoch != current[k].epoch)
      return "the reply to " + worker + " lists stream "
             + std::to_string(owned[k].stream_id) + " epoch "
             + std::to_string(owned[k].epoch) + " where the registry has "
             + std::to_string(current[k].stream_id) + " epoch "
             + std::to_string(current[k].epoch);
  return {};
}

/// A store kept in memory: applies journals the way the SQLite store writes
/// them, so that a restart can load exactly what was committed.
class memory_store {
public:
  void commit(const std::vector<change>& changes) {
    for (const auto& c : changes)
      apply(c);
  }

  store_snapshot snapshot() const {
    store_snapshot result;
    for (const auto& [id, row] : workers_)
      result.workers.push_back(row);
    for (const auto& [id, row] : assignments_)
      result.assignments.push_back(row);
    for (const auto& [id, row] : streams_)
      result.streams.push_back(row);
    result.epoch = epoch_;
    return result;
  }

private:
  void apply(const change& c) {
    switch (c.kind) {
      case change_kind::put_worker:
        workers_[c.worker.server_id] = c.worker;
        break;
      case change_kind::erase_worker:
        workers_.erase(c.worker.server_id);
        break;
      case change_kind::put_assignment:
        assignments_[c.assignment.stream_id] = c.assignment;
        break;
      case change_kind::erase_assignment:
        assignments_.erase(c.assignment.stream_id);
        break;
      case change_kind::put_stream:
        streams_[c.stream.id] = c.stream;
        break;
      case change_kind::erase_stream:
        streams_.erase(c.stream.id);
        break;
      case change_kind::set_epoch:
        epoch_ = c.epoch;
        break;
    }
  }

  std::map<std::string, worker_row> workers_;
  std::map<std::int64_t, assignment_row> assignments_;
  std::map<std::int64_t, stream_row> streams_;
  std::uint64_t epoch_ = 0;
};

} // namespace orchestrator::testing
