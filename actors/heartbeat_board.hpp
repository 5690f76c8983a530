#pragma once

#include "actors/types.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace orchestrator {

/// A heartbeat that an HTTP thread replied to, until the coordinator
/// records it.
struct fast_beat {
  std::int64_t steady_ms = 0;
  std::int64_t wall_ms = 0;
  std::int64_t reported_count = 0;
  std::string reported_status;
};

/// A worker's leases as a heartbeat reply lists them, rendered once.
struct lease_snapshot {
  /// Sorted stream ids.
  std::vector<std::int64_t> ids;
  /// The `owned_streams` JSON array.
  std::string json;
};

/// Renders `leases` for heartbeat replies.
lease_snapshot make_lease_snapshot(const std::vector<stream_lease>& leases);

/// Lets HTTP threads reply to the common heartbeat, one that changes
/// nothing, without a round trip through the coordinator.
///
/// The coordinator opens a worker's slot with the worker's durable leases
/// once a heartbeat it handled has been acknowledged, and closes it before
/// any change to the worker. While the slot is open, `record` stores each
/// heartbeat and returns the leases. The coordinator collects the stored
/// heartbeats before it judges liveness or shows a worker. Closing takes the
/// stored heartbeats under the slot's lock, so the coordinator records every
/// heartbeat before it declares a worker dead, or receives it itself.
class heartbeat_board {
public:
  /// Maximum heartbeats stored in a slot until the coordinator collects
  /// them. Past this, heartbeats go to the coordinator.
  static constexpr std::size_t max_pending = 64;

  /// Stores `beat` and returns the leases if the slot of `server_id` is
  /// open. Returns null when the heartbeat must go to the coordinator.
  std::shared_ptr<const lease_snapshot> record(const std::string& server_id,
                                               fast_beat beat);

  /// Opens the slot of `server_id` with `leases`, creating it if needed.
  void open(const std::string& server_id,
            std::shared_ptr<const lease_snapshot> leases);

  /// Closes the slot of `server_id` and returns its uncollected heartbeats.
  std::vector<fast_beat> close(const std::string& server_id);

  /// Removes the slot of `server_id`.
  void erase(const std::string& server_id);

  /// Returns the uncollected heartbeats of every slot, by worker.
  std::vector<std::pair<std::string, std::vector<fast_beat>>> collect();

  /// True if some slot contains uncollected heartbeats.
  bool has_beats() const {
    return dirty_count_.load(std::memory_order_acquire) > 0;
  }

  /// Removes every slot and drops the stored heartbeats.
  void clear();

private:
  struct slot {
    explicit slot(std::string id) : server_id(std::move(id)) {
    }
    const std::string server_id;
    std::mutex mutex;
    bool open = false;
    /// True while the slot is on the dirty list.
    bool listed = false;
    std::shared_ptr<const lease_snapshot> leases;
    std::vector<fast_beat> beats;
  };

  struct shard {
    std::shared_mutex mutex;
    std::unordered_map<std::string, std::shared_ptr<slot>> slots;
  };

  shard& shard_of(const std::string& server_id);
  std::shared_ptr<slot> find(const std::string& server_id);

  static constexpr std::size_t shard_count = 16;
  std::array<shard, shard_count> shards_;
  std::mutex dirty_mutex_;
  std::vector<std::shared_ptr<slot>> dirty_;
  std::atomic<std::size_t> dirty_count_{0};
};

} // namespace orchestrator
