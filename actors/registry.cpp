#include "actors/registry.hpp"

#include "actors/errors.hpp"
#include "modules/balancer/fair_share.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <tuple>

namespace orchestrator {

namespace {

change make_change(change_kind kind) {
  change result;
  result.kind = kind;
  return result;
}

} // namespace

void journal::append(journal&& later) {
  redo.insert(redo.end(), std::make_move_iterator(later.redo.begin()),
              std::make_move_iterator(later.redo.end()));
  undo.insert(undo.end(), std::make_move_iterator(later.undo.begin()),
              std::make_move_iterator(later.undo.end()));
}

// -- journaled primitives -----------------------------------------------------

void registry::record(change redo) {
  journal_.undo.push_back(inverse_of(redo));
  apply(redo);
  journal_.redo.push_back(std::move(redo));
}

change registry::inverse_of(const change& redo) const {
  switch (redo.kind) {
    case change_kind::put_worker:
    case change_kind::erase_worker: {
      auto i = workers_.find(redo.worker.server_id);
      if (i == workers_.end()) {
        auto result = make_change(change_kind::erase_worker);
        result.worker.server_id = redo.worker.server_id;
        return result;
      }
      auto result = make_change(change_kind::put_worker);
      result.worker = i->second.row;
      return result;
    }
    case change_kind::put_assignment:
    case change_kind::erase_assignment: {
      auto i = streams_.find(redo.assignment.stream_id);
      if (i == streams_.end() || i->second.owner.empty()) {
        auto result = make_change(change_kind::erase_assignment);
        result.assignment.stream_id = redo.assignment.stream_id;
        return result;
      }
      auto result = make_change(change_kind::put_assignment);
      result.assignment = assignment_row{i->first, i->second.owner,
                                         i->second.epoch,
                                         i->second.assigned_at_ms};
      return result;
    }
    case change_kind::put_stream:
    case change_kind::erase_stream: {
      auto i = streams_.find(redo.stream.id);
      if (i == streams_.end()) {
        auto result = make_change(change_kind::erase_stream);
        result.stream.id = redo.stream.id;
        return result;
      }
      auto result = make_change(change_kind::put_stream);
      result.stream = i->second.row;
      return result;
    }
    case change_kind::set_epoch: {
      auto result = make_change(change_kind::set_epoch);
      result.epoch = epoch_;
      return result;
    }
  }
  return redo;
}

void registry::apply(const change& c) {
  switch (c.kind) {
    case change_kind::put_worker: {
      auto [i, added] = workers_.try_emplace(c.worker.server_id);
      i->second.row = c.worker;
      if (added)
        i->second.last_seen_steady_ms = now_.steady_ms;
      touch(c.worker.server_id);
      break;
    }
    case change_kind::erase_worker: {
      // Callers free a worker's streams before erasing it; a rollback may
      // erase a worker that handoffs still name.
      auto i = workers_.find(c.worker.server_id);
      if (i == workers_.end())
        break;
      std::vector<std::int64_t> named(i->second.incoming.begin(),
                                      i->second.incoming.end());
      named.insert(named.end(), i->second.outgoing.begin(),
                   i->second.outgoing.end());
      for (auto id : named)
        cancel_handoff(id, streams_.at(id));
      workers_.erase(i);
      if (board_ != nullptr)
        board_->erase(c.worker.server_id);
      break;
    }
    case change_kind::put_assignment: {
      auto& entry = streams_.at(c.assignment.stream_id);
      // A new owner or epoch ends any handoff, so that rollbacks keep the
      // handoff sets consistent too.
      cancel_handoff(c.assignment.stream_id, entry);
      if (!entry.owner.empty() && entry.owner != c.assignment.server_id) {
        auto& old_owner = workers_.at(entry.owner);
        old_owner.streams.erase(c.assignment.stream_id);
        old_owner.unannounced.erase(c.assignment.stream_id);
        touch(entry.owner);
      }
      entry.owner = c.assignment.server_id;
      touch(entry.owner);
      entry.epoch = c.assignment.epoch;
      entry.assigned_at_ms = c.assignment.assigned_at_ms;
      workers_.at(entry.owner).streams.insert(c.assignment.stream_id);
      free_.erase(c.assignment.stream_id);
      waiting_.erase(c.assignment.stream_id);
      break;
    }
    case change_kind::erase_assignment: {
      auto& entry = streams_.at(c.assignment.stream_id);
      if (entry.owner.empty())
        break;
      cancel_handoff(c.assignment.stream_id, entry);
      auto& owner = workers_.at(entry.owner);
      owner.streams.erase(c.assignment.stream_id);
      owner.unannounced.erase(c.assignment.stream_id);
      touch(entry.owner);
      entry.owner.clear();
      entry.epoch = 0;
      entry.assigned_at_ms = 0;
      free_.insert(c.assignment.stream_id);
      break;
    }
    case change_kind::put_stream: {
      auto [i, added] = streams_.try_emplace(c.stream.id);
      i->second.row = c.stream;
      if (added)
        free_.insert(c.stream.id);
      break;
    }
    case change_kind::erase_stream:
      // Callers unassign a stream before erasing it.
      free_.erase(c.stream.id);
      waiting_.erase(c.stream.id);
      streams_.erase(c.stream.id);
      break;
    case change_kind::set_epoch:
      epoch_ = c.epoch;
      break;
  }
}

void registry::put_worker(const worker_row& row) {
  auto c = make_change(change_kind::put_worker);
  c.worker = row;
  record(std::move(c));
}

void registry::assign_stream(std::int64_t stream_id,
                             const std::string& server_id, instant now) {
  auto next = make_change(change_kind::set_epoch);
  next.epoch = epoch_ + 1;
  record(std::move(next));

  auto c = make_change(change_kind::put_assignment);
  c.assignment = assignment_row{stream_id, server_id, epoch_, now.wall_ms};
  record(std::move(c));
}

void registry::unassign_stream(std::int64_t stream_id) {
  auto c = make_change(change_kind::erase_assignment);
  c.assignment.stream_id = stream_id;
  record(std::move(c));
}

void registry::cancel_handoff(std::int64_t stream_id, stream_entry& entry) {
  if (entry.handoff_to.empty())
    return;
  if (auto i = workers_.find(entry.handoff_to); i != workers_.end())
    i->second.incoming.erase(stream_id);
  if (auto i = workers_.find(entry.owner); i != workers_.end())
    i->second.outgoing.erase(stream_id);
  touch(entry.owner);
  entry.handoff_to.clear();
  entry.handoff_deadline_ms = 0;
  handoff_streams_.erase(stream_id);
}

void registry::complete_handoff(std::int64_t stream_id) {
  auto& entry = streams_.at(stream_id);
  auto receiver = entry.handoff_to;
  cancel_handoff(stream_id, entry);
  assign_stream(stream_id, receiver, now_);
  workers_.at(receiver).unannounced.insert(stream_id);
}

void registry::membership_changed(const char* what, instant now) {
  last_change_ = what;
  last_change_steady_ms_ = now.steady_ms;
}

std::uint64_t registry::free_all(worker& w) {
  std::vector<std::int64_t> incoming(w.incoming.begin(), w.incoming.end());
  for (auto id : incoming)
    cancel_handoff(id, streams_.at(id));
  // Copy first: unassign_stream() erases from w.streams while we iterate.
  std::vector<std::int64_t> owned(w.streams.begin(), w.streams.end());
  for (auto id : owned) {
    unassign_stream(id);
    free_.erase(id);
    waiting_.insert(id);
  }
  w.unannounced.clear();
  return owned.size();
}

// -- loading and journal ------------------------------------------------------

std::size_t registry::load(const store_snapshot& snapshot, instant now) {
  now_ = now;
  if (board_ != nullptr)
    board_->clear();
  workers_.clear();
  streams_.clear();
  free_.clear();
  waiting_.clear();
  journal_ = journal{};
  epoch_ = snapshot.epoch;
  handoff_streams_.clear();
  last_change_.clear();

  for (const auto& row : snapshot.workers) {
    auto& w = workers_[row.server_id];
    w.row = row;
    w.last_seen_steady_ms = now.steady_ms;
  }
  for (const auto& row : snapshot.streams) {
    streams_[row.id].row = row;
    free_.insert(row.id);
  }

  std::size_t repairs = 0;
  load_repairs_.clear();
  for (const auto& row : snapshot.assignments) {
    epoch_ = std::max(epoch_, row.epoch);
    auto stream = streams_.find(row.stream_id);
    auto owner = workers_.find(row.server_id);
    bool valid = stream != streams_.end() && owner != workers_.end()
                 && owner->second.row.state == worker_state::active;
    if (!valid) {
      load_repairs_.push_back(
        "assignment of stream " + std::to_string(row.stream_id) + " to "
        + row.server_id + " dropped: "
        + (stream == streams_.end()   ? "the stream is not in the catalogue"
           : owner == workers_.end() ? "the worker is unknown"
                                     : "the worker is dead"));
      // The stream may be missing from the catalogue, so the repair is
      // written as a raw journal entry rather than through unassign_stream().
      auto fix = make_change(change_kind::erase_assignment);
      fix.assignment.stream_id = row.stream_id;
      journal_.redo.push_back(fix);
      ++repairs;
      continue;
    }
    stream->second.owner = row.server_id;
    stream->second.epoch = row.epoch;
    stream->second.assigned_at_ms = row.assigned_at_ms;
    owner->second.streams.insert(row.stream_id);
    free_.erase(row.stream_id);
  }

  // A capacity can only shrink through register_worker(), which frees the
  // surplus, so an over-full worker here means the rows were edited by hand.
  for (auto& [id, w] : workers_) {
    while (w.streams.size() > w.row.max_streams) {
      auto last = *w.streams.rbegin();
      load_repairs_.push_back("stream " + std::to_string(last) + " taken from " + id
                              + ": it held more than its capacity of "
                              + std::to_string(w.row.max_streams));
      unassign_stream(last);
      free_.erase(last);
      waiting_.insert(last);
      ++repairs;
    }
  }
  // The repairs were recorded against the loaded state, so undoing them is
  // never needed: a failed write of repairs is simply retried at next load.
  journal_.undo.clear();
  return repairs;
}

journal registry::take_journal() {
  journal result;
  std::swap(result, journal_);
  return result;
}

void registry::rollback(const journal& changes) {
  for (auto i = changes.undo.rbegin(); i != changes.undo.rend(); ++i)
    apply(*i);
}

// -- worker operations --------------------------------------------------------

registry::worker* registry::find_active(const std::string& server_id) {
  auto i = workers_.find(server_id);
  if (i == workers_.end() || i->second.row.state != worker_state::active)
    return nullptr;
  return &i->second;
}

caf::error registry::lookup_error(const std::string& server_id) const {
  auto i = workers_.find(server_id);
  if (i == workers_.end())
    return make_error(errc::unknown_worker,
                      "Instance " + server_id
                        + " not found; register it with POST /register");
  return make_error(errc::worker_dead,
                    "Instance " + server_id
                      + " was declared dead and its streams were taken from it "
                        "for other workers; stop capturing them and register "
                        "again with POST /register");
}

std::vector<stream_lease> registry::leases_of(const worker& w) const {
  std::vector<stream_lease> result;
  result.reserve(w.streams.size() - w.outgoing.size());
  for (auto id : w.streams)
    if (w.outgoing.count(id) == 0)
      result.push_back(stream_lease{id, streams_.at(id).epoch});
  return result;
}

caf::expected<register_reply>
registry::register_worker(const registration& request, instant now) {
  now_ = now;
  register_reply reply;
  reply.max_streams = request.max_streams;

  auto i = workers_.find(request.server_id);
  worker_row row;
  if (i == workers_.end() && workers_.size() >= max_workers_)
    return make_error(errc::limit_reached,
                      std::to_string(workers_.size())
                        + " workers are registered and the limit is "
                        + std::to_string(max_workers_)
                        + "; dead workers are forgotten after "
                          "--dead-worker-retention, or raise --max-workers");
  if (i == workers_.end()) {
    row.server_id = request.server_id;
    row.registered_at_ms = now.wall_ms;
    membership_changed("join", now);
  } else {
    reply.reregistration = true;
    row = i->second.row;
    // A dead worker lost its streams when it was declared dead; it starts
    // over with a new registration time.
    if (row.state == worker_state::dead) {
      row.registered_at_ms = now.wall_ms;
      membership_changed("join", now);
    }
  }
  row.ip = request.ip;
  row.port = request.port;
  row.max_streams = request.max_streams;
  if (request.weight > 0)
    row.weight = request.weight;
  if (!request.worker_type.empty())
    row.worker_type = request.worker_type;
  row.state = worker_state::active;
  row.last_heartbeat_ms = now.wall_ms;
  put_worker(row);

  auto& w = workers_.at(request.server_id);
  // Only heartbeats measure intervals: a worker often sends its first one
  // right after registering, and that short gap is no interval.
  w.interval_started = false;
  w.last_seen_steady_ms = now.steady_ms;

  // Streams on their way to the worker give way first when it shrank.
  while (load_of(w) > w.row.max_streams && !w.incoming.empty()) {
    auto id = *w.incoming.rbegin();
    cancel_handoff(id, streams_.at(id));
  }

  // Shrunken capacity: give up the most recently assigned streams, because
  // the older ones have been captured longest and are most worth keeping.
  if (w.streams.size() > w.row.max_streams) {
    std::vector<std::pair<std::uint64_t, std::int64_t>> by_epoch;
    for (auto id : w.streams)
      by_epoch.emplace_back(streams_.at(id).epoch, id);
    std::sort(by_epoch.rbegin(), by_epoch.rend());
    auto surplus = w.streams.size() - w.row.max_streams;
    for (std::size_t k = 0; k < surplus; ++k) {
      auto id = by_epoch[k].second;
      unassign_stream(id);
      free_.erase(id);
      waiting_.insert(id);
      reply.freed_streams.push_back(id);
    }
    std::sort(reply.freed_streams.begin(), reply.freed_streams.end());
  }

  place_waiting(now);
  reply.owned = leases_of(workers_.at(request.server_id));
  return reply;
}

void registry::note_beat(worker& w, std::int64_t steady_ms,
                         std::int64_t wall_ms, std::int64_t reported_count,
                         const std::string& status) {
  auto gap = steady_ms - w.last_seen_steady_ms;
  // Heartbeats sent back to back, such as a retry or one right after the
  // registration, are no interval: learning one would make the failure
  // detector expect the next heartbeat within milliseconds.
  if (w.interval_started && gap >= min_interval_ms) {
    auto interval = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(gap, 0, std::numeric_limits<std::uint32_t>::max()));
    if (w.intervals.size() < max_intervals)
      w.intervals.push_back(interval);
    else
      w.intervals[w.next_interval] = interval;
    w.next_interval = (w.next_interval + 1) % max_intervals;
  }
  w.interval_started = true;
  w.last_seen_steady_ms = std::max(w.last_seen_steady_ms, steady_ms);
  w.row.last_heartbeat_ms = std::max(w.row.last_heartbeat_ms, wall_ms);
  w.row.reported_status = status;
  w.reported_count = reported_count;
}

void registry::note_beats(worker& w, const std::vector<fast_beat>& beats) {
  // Only a live worker's heartbeats count: a slot is open only while its
  // worker is active, and the registry closes it before declaring it dead.
  if (w.row.state != worker_state::active)
    return;
  for (const auto& beat : beats)
    note_beat(w, beat.steady_ms, beat.wall_ms, beat.reported_count,
              beat.reported_status);
}

void registry::touch(const std::string& server_id) {
  auto i = workers_.find(server_id);
  if (i == workers_.end())
    return;
  ++i->second.lease_version;
  if (board_ != nullptr)
    note_beats(i->second, board_->close(server_id));
}

void registry::attach_board(heartbeat_board* board) {
  board_ = board;
  if (board_ != nullptr)
    board_->clear();
}

void registry::collect_beats() {
  if (board_ == nullptr || !board_->has_beats())
    return;
  for (auto& [server_id, beats] : board_->collect())
    if (auto i = workers_.find(server_id); i != workers_.end())
      note_beats(i->second, beats);
}

std::uint64_t registry::lease_version(const std::string& server_id) const {
  auto i = workers_.find(server_id);
  return i == workers_.end() ? 0 : i->second.lease_version;
}

void registry::open_slot(const std::string& server_id, std::uint64_t version) {
  if (board_ == nullptr)
    return;
  auto i = workers_.find(server_id);
  if (i == workers_.end() || i->second.lease_version != version
      || i->second.row.state != worker_state::active
      || !i->second.outgoing.empty())
    return;
  board_->open(server_id, std::make_shared<const lease_snapshot>(
                            make_lease_snapshot(leases_of(i->second))));
}

caf::expected<heartbeat_reply>
registry::record_heartbeat(const heartbeat& request, instant now) {
  now_ = now;
  auto* w = find_active(request.server_id);
  if (w == nullptr)
    return lookup_error(request.server_id);

  note_beat(*w, now.steady_ms, now.wall_ms, request.reported_count,
            request.reported_status);
  if (request.lists_streams && !w->outgoing.empty()) {
    // Revoked streams the worker no longer captures go to their receivers.
    std::set<std::int64_t> listed(request.stream_ids.begin(),
                                  request.stream_ids.end());
    std::vector<std::int64_t> dropped;
    for (auto id : w->outgoing)
      if (listed.count(id) == 0)
        dropped.push_back(id);
    for (auto id : dropped)
      complete_handoff(id);
  }
  return heartbeat_reply{leases_of(*w)};
}

caf::expected<assign_reply> registry::assign(const assign_request& request,
                                             instant now) {
  now_ = now;
  auto* w = find_active(request.server_id);
  if (w == nullptr)
    return lookup_error(request.server_id);

  assign_reply reply;
  auto room = w->row.max_streams > load_of(*w)
                ? w->row.max_streams - load_of(*w)
                : 0;
  if (!accepts_streams(*w, now))
    room = 0;
  auto count = std::min<std::size_t>(request.requested_count, room);
  std::vector<std::int64_t> taken;
  for (auto* pool : {&waiting_, &free_}) {
    while (taken.size() < count && !pool->empty()) {
      auto id = *pool->begin();
      assign_stream(id, request.server_id, now);
      taken.push_back(id);
    }
  }

  // Streams placed on the worker earlier are listed too: clients that read
  // only `assigned_streams` would never capture them otherwise.
  std::set<std::int64_t> listed(w->unannounced);
  listed.insert(taken.begin(), taken.end());
  w->unannounced.clear();
  reply.assigned.assign(listed.begin(), listed.end());

  if (!reply.assigned.empty())
    reply.outcome = assign_outcome::assigned;
  else if (w->row.draining)
    reply.outcome = assign_outcome::draining;
  else if (w->quarantined_until_ms > now.wall_ms)
    reply.outcome = assign_outcome::quarantined;
  else if (room == 0)
    reply.outcome = assign_outcome::no_capacity;
  else
    reply.outcome = assign_outcome::no_streams;
  reply.owned = leases_of(*w);
  return reply;
}

caf::expected<release_reply> registry::release(const release_request& request,
                                               instant now) {
  now_ = now;
  auto* w = find_active(request.server_id);
  if (w == nullptr)
    return lookup_error(request.server_id);

  // Check every named epoch before changing anything, so a rejected request
  // leaves no trace.
  for (const auto& lease : request.epochs) {
    if (w->streams.count(lease.stream_id) == 0)
      continue;
    auto current = streams_.at(lease.stream_id).epoch;
    if (lease.epoch < current)
      return make_error(errc::stale_epoch,
                        "stream " + std::to_string(lease.stream_id)
                          + " was reassigned: epoch "
                          + std::to_string(lease.epoch) + " is older than "
                          + std::to_string(current)
                          + "; nothing was released, retry with the epochs "
                            "from the latest reply");
    if (lease.epoch > current)
      return make_error(errc::invalid_request,
                        "epoch " + std::to_string(lease.epoch)
                          + " was never issued for stream "
                          + std::to_string(lease.stream_id)
                          + " (current epoch "
                          + std::to_string(current)
                          + "); nothing was released");
  }

  std::set<std::int64_t> requested(request.stream_ids.begin(),
                                   request.stream_ids.end());
  release_reply reply;
  for (auto id : requested) {
    if (w->streams.count(id) == 0)
      continue;
    // Releasing a revoked stream confirms the handoff.
    if (w->outgoing.count(id) != 0)
      complete_handoff(id);
    else
      unassign_stream(id);
    reply.released.push_back(id);
  }
  reply.owned = leases_of(*w);
  return reply;
}

caf::expected<deregister_reply>
registry::deregister(const std::string& server_id, instant now) {
  now_ = now;
  auto i = workers_.find(server_id);
  if (i == workers_.end())
    return lookup_error(server_id);

  deregister_reply reply;
  reply.freed_streams.assign(i->second.streams.begin(),
                             i->second.streams.end());
  free_all(i->second);
  auto c = make_change(change_kind::erase_worker);
  c.worker.server_id = server_id;
  record(std::move(c));
  membership_changed("leave", now);

  auto before = waiting_.size();
  place_waiting(now);
  reply.reassigned = before - waiting_.size();
  return reply;
}

failure_report registry::declare_dead(const std::vector<liveness>& verdicts,
                                      instant now) {
  now_ = now;
  failure_report report;
  for (const auto& verdict : verdicts) {
    auto* w = find_active(verdict.server_id);
    if (w == nullptr)
      continue;
    // Closing the slot takes the heartbeats that HTTP threads replied to, so
    // none of them can slip in after the verdict.
    touch(verdict.server_id);
    // A heartbeat that arrived after the verdict was made saves the worker.
    if (w->last_seen_steady_ms > verdict.last_seen_steady_ms)
      continue;
    auto row = w->row;
    row.state = worker_state::dead;
    report.silence_ms.push_back(now.steady_ms - w->last_seen_steady_ms);
    put_worker(row);
    auto freed = free_all(*w);
    report.streams_freed += freed;
    report.freed_per_worker.push_back(freed);
    report.dead_workers.push_back(verdict.server_id);
  }
  if (report.dead_workers.empty())
    return report;

  membership_changed("death", now);
  auto before = waiting_.size();
  report.receivers = place_waiting(now);
  report.streams_reassigned = before - waiting_.size();
  return report;
}

caf::expected<failure_report>
registry::declare_failed(const std::string& server_id, instant now) {
  auto i = workers_.find(server_id);
  if (i == workers_.end())
    return lookup_error(server_id);
  if (i->second.row.state == worker_state::dead)
    return failure_report{};
  return declare_dead({liveness{server_id, i->second.last_seen_steady_ms}},
                      now);
}

std::vector<std::string> registry::place_waiting(instant now) {
  now_ = now;
  std::vector<std::string> receivers;
  if (waiting_.empty())
    return receivers;

  // Waiting streams go where the fair shares put them, counted as held by
  // a placeholder that no worker may keep: afterwards every worker is at its
  // target, so the balancer has nothing more to move.
  std::vector<worker*> active;
  for (auto& [id, w] : workers_)
    if (w.row.state == worker_state::active)
      active.push_back(&w);
  std::sort(active.begin(), active.end(), [](const worker* a, const worker* b) {
    return a->row.server_id < b->row.server_id;
  });
  std::vector<share_input> shares;
  shares.reserve(active.size() + 1);
  for (const auto* w : active)
    shares.push_back(share_input{
      static_cast<std::uint32_t>(load_of(*w)), w->row.max_streams,
      accepts_streams(*w, now) ? w->row.weight * w->row.max_streams : 0.0, 0});
  shares.push_back(
    share_input{static_cast<std::uint32_t>(waiting_.size()), 0, 0, 0});
  auto fair = fair_targets(shares);

  for (std::size_t i = 0; i < active.size() && !waiting_.empty(); ++i) {
    auto& w = *active[i];
    if (!accepts_streams(w, now))
      continue;
    auto wanted = fair.targets[i] > shares[i].current
                    ? fair.targets[i] - shares[i].current
                    : 0;
    for (std::uint32_t k = 0; k < wanted && !waiting_.empty(); ++k) {
      auto stream_id = *waiting_.begin();
      assign_stream(stream_id, w.row.server_id, now);
      w.unannounced.insert(stream_id);
    }
    if (wanted > 0)
      receivers.push_back(w.row.server_id);
  }
  return receivers;
}

std::vector<stream_move>
registry::begin_handoffs(const std::vector<stream_move>& moves, instant now,
                         std::int64_t timeout_ms,
                         std::vector<std::string>& affected) {
  now_ = now;
  std::set<std::string> touched;
  std::vector<stream_move> started;
  for (const auto& move : moves) {
    auto stream = streams_.find(move.stream_id);
    if (stream == streams_.end() || stream->second.owner != move.from
        || stream->second.epoch != move.epoch || move.from == move.to
        || !stream->second.handoff_to.empty())
      continue;
    auto* receiver = find_active(move.to);
    if (receiver == nullptr || !accepts_streams(*receiver, now)
        || load_of(*receiver) >= receiver->row.max_streams)
      continue;
    auto& entry = stream->second;
    entry.handoff_to = move.to;
    entry.handoff_deadline_ms = now.steady_ms + timeout_ms;
    workers_.at(move.from).outgoing.insert(move.stream_id);
    touch(move.from);
    receiver->incoming.insert(move.stream_id);
    handoff_streams_.insert(move.stream_id);
    if (timeout_ms <= 0)
      complete_handoff(move.stream_id);
    touched.insert(move.from);
    touched.insert(move.to);
    started.push_back(move);
  }
  affected.assign(touched.begin(), touched.end());
  return started;
}

std::size_t registry::complete_due_handoffs(instant now) {
  now_ = now;
  std::vector<std::int64_t> due;
  for (auto id : handoff_streams_)
    if (streams_.at(id).handoff_deadline_ms <= now.steady_ms)
      due.push_back(id);
  for (auto id : due)
    complete_handoff(id);
  return due.size();
}

std::int64_t registry::next_handoff_deadline() const {
  std::int64_t next = -1;
  for (auto id : handoff_streams_) {
    auto deadline = streams_.at(id).handoff_deadline_ms;
    if (next < 0 || deadline < next)
      next = deadline;
  }
  return next;
}

caf::expected<worker_view> registry::set_quarantine(const std::string& server_id,
                                                    std::int64_t until_wall_ms) {
  auto i = workers_.find(server_id);
  if (i == workers_.end())
    return lookup_error(server_id);
  i->second.quarantined_until_ms = until_wall_ms;
  return view_of(i->second, now_);
}

caf::expected<failure_report> registry::evacuate(const std::string& server_id,
                                                 instant now) {
  now_ = now;
  auto* w = find_active(server_id);
  if (w == nullptr)
    return lookup_error(server_id);
  failure_report report;
  if (!w->row.draining) {
    auto row = w->row;
    row.draining = true;
    put_worker(row);
    membership_changed("drain", now);
  }
  auto freed = free_all(*w);
  report.freed_per_worker.push_back(freed);
  report.streams_freed = freed;
  auto before = waiting_.size();
  report.receivers = place_waiting(now);
  report.streams_reassigned = before - waiting_.size();
  return report;
}

caf::expected<worker_view> registry::set_draining(const std::string& server_id,
                                                  bool draining, instant now) {
  now_ = now;
  auto* w = find_active(server_id);
  if (w == nullptr)
    return lookup_error(server_id);
  if (w->row.draining != draining) {
    auto row = w->row;
    row.draining = draining;
    put_worker(row);
    membership_changed(draining ? "drain" : "join", now);
    if (draining) {
      // Streams on their way to it go back to their owners.
      std::vector<std::int64_t> incoming(w->incoming.begin(), w->incoming.end());
      for (auto id : incoming)
        cancel_handoff(id, streams_.at(id));
    } else {
      place_waiting(now);
    }
  }
  return view_of(*w, now);
}

// -- catalogue ----------------------------------------------------------------

caf::expected<catalog_update>
registry::put_streams(const std::vector<stream_row>& rows) {
  std::set<std::int64_t> added;
  for (const auto& row : rows)
    if (streams_.count(row.id) == 0)
      added.insert(row.id);
  if (streams_.size() + added.size() > max_streams_)
    return make_error(errc::limit_reached,
                      "the catalogue holds " + std::to_string(streams_.size())
                        + " streams and may hold at most "
                        + std::to_string(max_streams_) + "; these "
                        + std::to_string(added.size())
                        + " new streams do not fit; remove streams or raise "
                          "--max-streams");
  catalog_update result;
  for (const auto& row : rows) {
    auto i = streams_.find(row.id);
    if (i != streams_.end() && i->second.row.url == row.url
        && i->second.row.name == row.name
        && i->second.row.metadata == row.metadata)
      continue;
    if (i == streams_.end())
      ++result.created;
    else
      ++result.updated;
    auto c = make_change(change_kind::put_stream);
    c.stream = row;
    record(std::move(c));
  }
  return result;
}

caf::expected<std::string> registry::erase_stream(std::int64_t stream_id) {
  auto i = streams_.find(stream_id);
  if (i == streams_.end())
    return make_error(errc::unknown_stream,
                      "stream " + std::to_string(stream_id)
                        + " is not in the catalogue");
  auto owner = i->second.owner;
  if (!owner.empty())
    unassign_stream(stream_id);
  auto c = make_change(change_kind::erase_stream);
  c.stream.id = stream_id;
  record(std::move(c));
  return owner;
}

std::size_t registry::forget_dead(std::int64_t cutoff_wall_ms) {
  std::vector<std::string> expired;
  for (const auto& [id, w] : workers_)
    if (w.row.state == worker_state::dead
        && w.row.last_heartbeat_ms < cutoff_wall_ms)
      expired.push_back(id);
  for (const auto& id : expired) {
    auto c = make_change(change_kind::erase_worker);
    c.worker.server_id = id;
    record(std::move(c));
  }
  return expired.size();
}

// -- queries ------------------------------------------------------------------

worker_view registry::view_of(const worker& w, instant now) const {
  worker_view view;
  view.row = w.row;
  view.stream_count = static_cast<std::uint32_t>(w.streams.size());
  view.reported_count = w.reported_count;
  view.heartbeat_age_ms = now.steady_ms - w.last_seen_steady_ms;
  view.owned = leases_of(w);
  for (auto id : w.outgoing)
    view.revoking.push_back(stream_lease{id, streams_.at(id).epoch});
  view.incoming.assign(w.incoming.begin(), w.incoming.end());
  return view;
}

std::vector<worker_view> registry::list_workers(instant now) const {
  std::vector<worker_view> result;
  result.reserve(workers_.size());
  for (const auto& [id, w] : workers_) {
    // Owned sets can be large; handoffs are few, and listings show them.
    result.push_back(view_of(w, now));
    result.back().owned.clear();
  }
  // Newest registration first, as the Python server listed them.
  std::sort(result.begin(), result.end(), [](const auto& a, const auto& b) {
    return std::tie(b.row.registered_at_ms, a.row.server_id)
           < std::tie(a.row.registered_at_ms, b.row.server_id);
  });
  return result;
}

caf::expected<worker_view>
registry::find_worker(const std::string& server_id, instant now) const {
  auto i = workers_.find(server_id);
  if (i == workers_.end())
    return lookup_error(server_id);
  return view_of(i->second, now);
}

std::vector<stream_lease>
registry::owned_by(const std::string& server_id) const {
  auto i = workers_.find(server_id);
  if (i == workers_.end())
    return {};
  return leases_of(i->second);
}

std::vector<assignment_row> registry::list_assignments() const {
  std::vector<assignment_row> result;
  for (const auto& [id, entry] : streams_)
    if (!entry.owner.empty())
      result.push_back(
        assignment_row{id, entry.owner, entry.epoch, entry.assigned_at_ms});
  std::sort(result.begin(), result.end(),
            [](const auto& a, const auto& b) { return a.stream_id < b.stream_id; });
  return result;
}

stream_page registry::list_streams(std::uint64_t offset,
                                   std::uint64_t limit) const {
  std::vector<std::int64_t> ids;
  ids.reserve(streams_.size());
  for (const auto& entry : streams_)
    ids.push_back(entry.first);
  std::sort(ids.begin(), ids.end());

  stream_page page;
  page.total = ids.size();
  for (auto k = offset; k < ids.size() && k < offset + limit; ++k) {
    const auto& entry = streams_.at(ids[k]);
    stream_view view;
    view.row = entry.row;
    view.assigned = !entry.owner.empty();
    if (view.assigned)
      view.assignment = assignment_row{ids[k], entry.owner, entry.epoch,
                                       entry.assigned_at_ms};
    page.streams.push_back(std::move(view));
  }
  return page;
}

std::vector<stream_row>
registry::find_streams(const std::vector<std::int64_t>& ids) const {
  std::vector<stream_row> result;
  result.reserve(ids.size());
  for (auto id : ids)
    if (auto i = streams_.find(id); i != streams_.end())
      result.push_back(i->second.row);
  return result;
}

cluster_summary registry::summary() const {
  cluster_summary result;
  result.workers_total = workers_.size();
  for (const auto& [id, w] : workers_) {
    if (w.row.state != worker_state::active)
      continue;
    ++result.workers_active;
    result.workers_draining += w.row.draining ? 1 : 0;
    result.total_capacity += w.row.max_streams;
    result.current_load += w.streams.size();
    result.max_worker_load = std::max<std::uint64_t>(result.max_worker_load,
                                                     w.streams.size());
  }
  result.streams_total = streams_.size();
  result.streams_assigned = streams_.size() - free_.size() - waiting_.size();
  result.streams_waiting = waiting_.size();
  result.handoffs = handoff_streams_.size();
  result.epoch = epoch_;
  return result;
}

liveness registry::liveness_of(const worker& w) {
  liveness result{w.row.server_id, w.last_seen_steady_ms};
  result.intervals = static_cast<std::uint32_t>(w.intervals.size());
  if (w.intervals.empty())
    return result;
  double sum = 0;
  for (auto interval : w.intervals)
    sum += interval;
  result.interval_mean_ms = sum / w.intervals.size();
  double squares = 0;
  for (auto interval : w.intervals)
    squares += (interval - result.interval_mean_ms) * (interval - result.interval_mean_ms);
  result.interval_stddev_ms = std::sqrt(squares / w.intervals.size());
  return result;
}

std::vector<std::pair<std::string, std::int64_t>> registry::quarantines() const {
  std::vector<std::pair<std::string, std::int64_t>> result;
  for (const auto& [id, w] : workers_)
    if (w.quarantined_until_ms > 0)
      result.emplace_back(id, w.quarantined_until_ms);
  return result;
}

std::vector<liveness> registry::active_liveness() const {
  std::vector<liveness> result;
  for (const auto& [id, w] : workers_)
    if (w.row.state == worker_state::active)
      result.push_back(liveness_of(w));
  return result;
}

balance_input registry::balance_state(instant now) const {
  balance_input result;
  for (const auto& [id, w] : workers_) {
    if (w.row.state != worker_state::active)
      continue;
    worker_load load;
    load.server_id = id;
    load.max_streams = w.row.max_streams;
    load.weight = w.row.weight;
    load.draining = w.row.draining;
    load.owned = leases_of(w);
    load.incoming = static_cast<std::uint32_t>(w.incoming.size());
    load.outgoing = static_cast<std::uint32_t>(w.outgoing.size());
    load.heartbeat_age_ms = now.steady_ms - w.last_seen_steady_ms;
    result.workers.push_back(std::move(load));
  }
  std::sort(result.workers.begin(), result.workers.end(),
            [](const auto& a, const auto& b) { return a.server_id < b.server_id; });
  result.last_membership_change = last_change_;
  result.since_membership_change_ms
    = last_change_.empty() ? -1 : now.steady_ms - last_change_steady_ms_;
  result.handoffs_in_flight = handoff_streams_.size();
  result.waiting = waiting_.size();
  return result;
}

std::string registry::check_invariants() const {
  std::size_t owned_total = 0;
  std::size_t handoff_total = 0;
  for (const auto& [id, w] : workers_) {
    if (w.row.state == worker_state::dead && !w.streams.empty())
      return "dead worker " + id + " owns streams";
    if (load_of(w) > w.row.max_streams)
      return "worker " + id + " holds more than max_streams";
    if (w.row.state == worker_state::dead
        && (!w.incoming.empty() || !w.outgoing.empty()))
      return "dead worker " + id + " takes part in a handoff";
    for (auto stream_id : w.outgoing) {
      auto i = streams_.find(stream_id);
      if (w.streams.count(stream_id) == 0 || i == streams_.end()
          || i->second.handoff_to.empty())
        return "worker " + id + " hands off a stream it does not own";
      auto to = workers_.find(i->second.handoff_to);
      if (to == workers_.end() || to->second.incoming.count(stream_id) == 0)
        return "the receiver of stream " + std::to_string(stream_id)
               + " does not expect it";
    }
    for (auto stream_id : w.incoming) {
      auto i = streams_.find(stream_id);
      if (i == streams_.end() || i->second.handoff_to != id
          || i->second.owner == id)
        return "worker " + id + " expects stream " + std::to_string(stream_id)
               + " that is not handed to it";
    }
    handoff_total += w.outgoing.size();
    for (auto stream_id : w.streams) {
      auto i = streams_.find(stream_id);
      if (i == streams_.end())
        return "worker " + id + " owns unknown stream "
               + std::to_string(stream_id);
      if (i->second.owner != id)
        return "stream " + std::to_string(stream_id) + " listed by " + id
               + " but owned by '" + i->second.owner + "'";
    }
    for (auto stream_id : w.unannounced)
      if (w.streams.count(stream_id) == 0)
        return "worker " + id + " has an unannounced stream it does not own";
    owned_total += w.streams.size();
  }
  std::size_t assigned = 0;
  for (const auto& [id, entry] : streams_) {
    auto pooled = free_.count(id) + waiting_.count(id);
    if (entry.owner.empty() ? pooled != 1 : pooled != 0)
      return "stream " + std::to_string(id) + " is in the wrong pool";
    if (entry.owner.empty())
      continue;
    ++assigned;
    auto owner = workers_.find(entry.owner);
    if (owner == workers_.end() || owner->second.streams.count(id) == 0)
      return "stream " + std::to_string(id) + " has an owner that lacks it";
    if (entry.epoch == 0 || entry.epoch > epoch_)
      return "stream " + std::to_string(id) + " has an invalid epoch";
  }
  if (assigned != owned_total)
    return "assignment count mismatch";
  if (handoff_total != handoff_streams_.size())
    return "handoff count mismatch";
  if (free_.size() + waiting_.size() + assigned != streams_.size())
    return "pool sizes do not add up";
  return {};
}

} // namespace orchestrator
