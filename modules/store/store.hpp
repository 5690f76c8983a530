#pragma once

#include "actors/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace orchestrator {

/// Durable storage of workers, assignments and the stream catalogue. Calls
/// block, so only the store actor, which runs on its own thread, makes them.
class store {
public:
  virtual ~store() = default;

  /// Returns a short description for logs, such as "sqlite:/var/lib/x.db".
  virtual std::string describe() const = 0;

  /// Reads everything.
  virtual caf::expected<store_snapshot> load() = 0;

  /// Writes `changes` in order as one transaction: all of them or none.
  virtual caf::error commit(const std::vector<change>& changes) = 0;

  /// Appends one recorded rebalance round. A store without a history
  /// keeps none.
  virtual caf::error append_rebalance(const rebalance_report& report) {
    (void) report;
    return caf::none;
  }

  /// Returns the totals over every recorded round and the newest `limit`
  /// rounds, newest first.
  virtual caf::expected<rebalance_history> load_rebalances(std::size_t limit) {
    (void) limit;
    return rebalance_history{};
  }

  /// Appends workers' metrics samples, as the Python server kept them per
  /// heartbeat. A store without a metrics table keeps none.
  virtual caf::error append_samples(const std::vector<worker_sample>& samples) {
    (void) samples;
    return caf::none;
  }

  /// Returns up to `limit` samples of `server_id` recorded at or after
  /// `since_ms`, newest first. A store without a metrics table has none.
  virtual caf::expected<std::vector<metrics_sample>>
  load_samples(const std::string& server_id, std::int64_t since_ms,
               std::size_t limit) {
    (void) server_id;
    (void) since_ms;
    (void) limit;
    return std::vector<metrics_sample>{};
  }

  /// Deletes the samples recorded before `before_ms` among the `batch`
  /// oldest rows of the metrics table, in insertion order, and returns how
  /// many it deleted. Repeat while it returns more than 0: a batch of rows
  /// that are all newer ends the run, so one call never reads more than
  /// `batch` rows.
  virtual caf::expected<std::size_t> delete_samples_before(std::int64_t before_ms,
                                                           std::size_t batch) {
    (void) before_ms;
    (void) batch;
    return std::size_t{0};
  }

  /// Verifies, without writing, that the store can still take commits: the
  /// connection is up and, for a shared database, this server still holds
  /// the leader lock. Called about once a second.
  virtual caf::error check() {
    return caf::none;
  }

  /// Returns true if check() shows whether writes would succeed, so that a
  /// passing check may end an outage without waiting for the next write.
  virtual bool checks_writes() const {
    return false;
  }
};

} // namespace orchestrator
