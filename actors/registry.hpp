#pragma once

#include "actors/heartbeat_board.hpp"
#include "actors/types.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace orchestrator {

/// Changes made by registry operations since the last take_journal(): `redo`
/// is what the store must write, `undo` restores the previous state when
/// applied in reverse order.
struct journal {
  std::vector<change> redo;
  std::vector<change> undo;

  bool empty() const {
    return redo.empty();
  }

  /// Appends `later`, which must have been recorded after this journal.
  void append(journal&& later);
};

/// Result of adding or updating catalogue entries.
struct catalog_update {
  std::uint64_t created = 0;
  std::uint64_t updated = 0;
};

/// The single owner of workers, streams and assignments: every rule about who
/// owns which stream is enforced here. Plain synchronous C++ with the clock
/// passed in, so the coordinator actor owns one and tests drive it directly.
///
/// Every mutation is journaled; the caller persists take_journal().redo before
/// it acknowledges anything, and calls rollback() if the write fails.
/// Heartbeat times are deliberately not journaled: after a restart every
/// worker gets a fresh grace period instead.
class registry {
public:
  /// Replaces the whole state with `snapshot`. Active workers start a fresh
  /// heartbeat grace period at `now`. Rows that break a rule (an assignment
  /// to an unknown stream or a dead worker, more streams than capacity) are
  /// repaired, and the repairs are journaled. Returns the number of repairs.
  std::size_t load(const store_snapshot& snapshot, instant now);

  /// Registers a new worker or updates a known one, keeping its streams. A
  /// dead worker comes back empty. Waiting streams are placed afterwards, so
  /// the new capacity is used at once.
  caf::expected<register_reply> register_worker(const registration& request,
                                                instant now);

  caf::expected<heartbeat_reply> record_heartbeat(const heartbeat& request,
                                                  instant now);

  /// Shares heartbeats with `board` (see heartbeat_board); null detaches.
  /// The registry closes a worker's slot before any change to the worker.
  void attach_board(heartbeat_board* board);

  /// Records the heartbeats that HTTP threads replied to from the board.
  /// Call before anything that reads heartbeat times.
  void collect_beats();

  /// Counts changes to a worker's leases or state; 0 for an unknown worker.
  std::uint64_t lease_version(const std::string& server_id) const;

  /// Opens the worker's board slot with its current leases, unless the
  /// worker changed since `version`, is not active or is handing streams
  /// off (whose heartbeats the registry must see).
  void open_slot(const std::string& server_id, std::uint64_t version);

  /// Gives the worker up to `requested_count` unassigned streams, waiting
  /// ones first, within its free capacity.
  caf::expected<assign_reply> assign(const assign_request& request,
                                     instant now);

  /// Releases the listed streams that the worker owns and ignores the rest.
  /// Rejects the whole request if it names an epoch older than the current
  /// assignment of one of its streams.
  caf::expected<release_reply> release(const release_request& request,
                                       instant now);

  /// Removes a worker; its streams are placed on other workers or wait.
  caf::expected<deregister_reply> deregister(const std::string& server_id,
                                             instant now);

  /// Declares dead each listed worker that has not sent a heartbeat since
  /// the time the verdict was based on, frees its streams and places them.
  failure_report declare_dead(const std::vector<liveness>& verdicts,
                              instant now);

  /// Declares one worker dead regardless of its heartbeats (an operator's
  /// decision).
  caf::expected<failure_report> declare_failed(const std::string& server_id,
                                               instant now);

  /// Places waiting streams on active workers with free capacity, least
  /// loaded first. Returns the workers that received streams.
  std::vector<std::string> place_waiting(instant now);

  /// Starts a handoff for each move that is still valid (same owner and
  /// epoch, no handoff yet, receiver active, not draining and with room).
  /// The stream leaves its owner's replies at once but stays its owner's
  /// until `timeout_ms` passes or the owner confirms that it let go, by a
  /// heartbeat whose stream_ids leave it out or by a release. Only then does
  /// the receiver get it, under a new epoch. A zero timeout moves at once.
  /// Returns the moves started and fills `affected`.
  std::vector<stream_move> begin_handoffs(const std::vector<stream_move>& moves,
                                          instant now, std::int64_t timeout_ms,
                                          std::vector<std::string>& affected);

  /// Completes the handoffs whose timeout has passed; returns how many.
  std::size_t complete_due_handoffs(instant now);

  /// Returns the steady-clock time of the next handoff timeout, or -1 if
  /// no handoff is in flight.
  std::int64_t next_handoff_deadline() const;

  /// Keeps a worker from receiving streams until `until_wall_ms`, because it
  /// failed repeatedly; 0 lifts the quarantine. Not journaled: a restart
  /// lifts it.
  caf::expected<worker_view> set_quarantine(const std::string& server_id,
                                            std::int64_t until_wall_ms);

  /// Takes every stream from a live worker at once, without a handoff,
  /// marks it draining and places the streams on others within their
  /// capacity. For an operator who knows the worker is broken.
  caf::expected<failure_report> evacuate(const std::string& server_id,
                                         instant now);

  /// Marks a worker as draining or active again. A draining worker gets no
  /// new streams and the balancer moves its streams away.
  caf::expected<worker_view> set_draining(const std::string& server_id,
                                          bool draining, instant now);

  /// Adds streams to the catalogue or updates their url, name and metadata.
  /// Fails, changing nothing, if the catalogue would exceed its limit.
  caf::expected<catalog_update> put_streams(const std::vector<stream_row>& rows);

  /// Caps the workers known at once (dead ones included until forgotten)
  /// and the streams in the catalogue. Rows loaded from the store are kept
  /// even past the caps.
  void set_limits(std::size_t max_workers, std::size_t max_streams) {
    max_workers_ = max_workers;
    max_streams_ = max_streams;
  }

  /// Removes a stream from the catalogue, taking it from its owner. Returns
  /// the former owner, empty if it had none.
  caf::expected<std::string> erase_stream(std::int64_t stream_id);

  /// Forgets dead workers whose last heartbeat is older than the cut-off.
  std::size_t forget_dead(std::int64_t cutoff_wall_ms);

  /// Returns and clears the changes recorded since the last call.
  journal take_journal();

  /// Restores the state before `changes`, which must be the most recent
  /// changes applied. Not journaled.
  void rollback(const journal& changes);

  // -- queries ----------------------------------------------------------------

  std::vector<worker_view> list_workers(instant now) const;
  caf::expected<worker_view> find_worker(const std::string& server_id,
                                         instant now) const;
  std::vector<stream_lease> owned_by(const std::string& server_id) const;
  std::vector<assignment_row> list_assignments() const;
  /// Returns what the last load() repaired, one sentence per repair.
  const std::vector<std::string>& load_repairs() const {
    return load_repairs_;
  }
  stream_page list_streams(std::uint64_t offset, std::uint64_t limit) const;
  /// Returns the catalogue rows of `ids` that exist, in the order given.
  std::vector<stream_row> find_streams(const std::vector<std::int64_t>& ids) const;
  cluster_summary summary() const;
  std::vector<liveness> active_liveness() const;
  /// Returns the quarantine end of each quarantined active worker.
  std::vector<std::pair<std::string, std::int64_t>> quarantines() const;
  /// Returns what the balancer plans from; `manual` and `converging` are
  /// left for the caller.
  balance_input balance_state(instant now) const;
  std::size_t handoffs_in_flight() const {
    return handoff_streams_.size();
  }
  std::uint64_t epoch() const {
    return epoch_;
  }

  /// Checks every internal invariant and returns the first violation, empty
  /// if there is none. Costs O(workers + streams); meant for tests.
  std::string check_invariants() const;

private:
  struct worker {
    worker_row row;
    std::set<std::int64_t> streams;
    /// Streams placed on the worker that no assign reply has listed yet.
    std::set<std::int64_t> unannounced;
    /// Owned streams being handed off: left out of the worker's replies.
    std::set<std::int64_t> outgoing;
    /// Streams reserved for the worker until their owner lets go.
    std::set<std::int64_t> incoming;
    std::int64_t last_seen_steady_ms = 0;
    std::int64_t reported_count = 0;
    /// The last heartbeat intervals in milliseconds, a ring of at most
    /// max_intervals, for the failure detector.
    std::vector<std::uint32_t> intervals;
    std::size_t next_interval = 0;
    /// False until the first heartbeat after registration or a restart, whose
    /// gap from the grace period start is no real interval.
    bool interval_started = false;
    /// Wall-clock milliseconds until which the worker receives no streams
    /// because it failed repeatedly; 0 when not quarantined.
    std::int64_t quarantined_until_ms = 0;
    /// Incremented by every change to the worker's leases or state.
    std::uint64_t lease_version = 0;
  };

  static constexpr std::size_t max_intervals = 64;
  /// Gaps shorter than this are not learned as heartbeat intervals.
  static constexpr std::int64_t min_interval_ms = 50;

  struct stream_entry {
    stream_row row;
    /// Empty when unassigned.
    std::string owner;
    std::uint64_t epoch = 0;
    std::int64_t assigned_at_ms = 0;
    /// The receiver while a handoff is in flight, else empty.
    std::string handoff_to;
    std::int64_t handoff_deadline_ms = 0;
  };

  // Journaled primitives: each records its inverse, then applies itself.
  void record(change redo);
  change inverse_of(const change& redo) const;
  void apply(const change& c);

  void put_worker(const worker_row& row);
  void assign_stream(std::int64_t stream_id, const std::string& server_id,
                     instant now);
  void unassign_stream(std::int64_t stream_id);

  /// Frees every stream of `w` into the waiting set and cancels the
  /// handoffs towards it; returns how many streams were freed.
  std::uint64_t free_all(worker& w);
  /// True if the worker may receive streams at `now`.
  static bool accepts_streams(const worker& w, instant now) {
    return w.row.state == worker_state::active && !w.row.draining
           && w.quarantined_until_ms <= now.wall_ms;
  }
  static liveness liveness_of(const worker& w);
  /// Streams that count against a worker's capacity.
  static std::size_t load_of(const worker& w) {
    return w.streams.size() + w.incoming.size();
  }
  /// Forgets the handoff of `entry`, if any, without moving the stream.
  void cancel_handoff(std::int64_t stream_id, stream_entry& entry);
  /// Gives a stream in handoff to its receiver under a new epoch.
  void complete_handoff(std::int64_t stream_id);
  void membership_changed(const char* what, instant now);
  worker* find_active(const std::string& server_id);
  /// Marks a change to the worker: a new lease version and a closed slot.
  void touch(const std::string& server_id);
  /// Notes heartbeats taken from the board for `w`.
  void note_beats(worker& w, const std::vector<fast_beat>& beats);
  /// Notes one heartbeat's time and report.
  void note_beat(worker& w, std::int64_t steady_ms, std::int64_t wall_ms,
                 std::int64_t reported_count, const std::string& status);
  caf::error lookup_error(const std::string& server_id) const;
  worker_view view_of(const worker& w, instant now) const;
  std::vector<stream_lease> leases_of(const worker& w) const;

  std::unordered_map<std::string, worker> workers_;
  std::unordered_map<std::int64_t, stream_entry> streams_;
  /// Unassigned streams available to assign requests, lowest id first.
  std::set<std::int64_t> free_;
  /// Unassigned streams taken from dead, removed or shrunken workers; they are
  /// placed before any free stream.
  std::set<std::int64_t> waiting_;
  std::uint64_t epoch_ = 0;
  /// Streams in handoff, so that timeouts are found without scanning every
  /// stream.
  std::set<std::int64_t> handoff_streams_;
  std::vector<std::string> load_repairs_;
  /// The last join, death, leave or drain, and when it happened.
  std::string last_change_;
  std::int64_t last_change_steady_ms_ = 0;
  /// The time of the operation in progress; new workers start their
  /// heartbeat clock from it.
  instant now_;
  journal journal_;
  heartbeat_board* board_ = nullptr;
  std::size_t max_workers_ = std::numeric_limits<std::size_t>::max();
  std::size_t max_streams_ = std::numeric_limits<std::size_t>::max();
};

} // namespace orchestrator
