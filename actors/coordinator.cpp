#include "actors/coordinator.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"
#include "actors/telemetry.hpp"

#include <caf/all.hpp>

#include <algorithm>

namespace orchestrator {

namespace {

/// A commit slower than this means the store is stuck; the coordinator then
/// restarts and reloads, because it cannot tell whether the write happened.
constexpr auto commit_timeout = std::chrono::seconds{30};
constexpr auto load_timeout = std::chrono::seconds{30};
constexpr auto max_load_backoff = std::chrono::seconds{5};

void flush(coordinator_self* self);
void send_commit(coordinator_self* self);

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// Returns the error for a request that fails fast while the breaker is
/// open.
caf::error breaker_open(coordinator_self* self) {
  auto& st = self->state;
  auto wait = (st.breaker.retry_after_ms(steady_ms()) + 999) / 1000;
  return make_error(errc::circuit_open,
                    (st.store_error.empty()
                       ? std::string{"the store failed recently"}
                       : "the store is failing (" + st.store_error + ")")
                      + ", so its circuit breaker is open and changes are "
                        "rejected without trying; nothing was changed, retry "
                        "in "
                      + std::to_string(wait) + " s",
                    std::max<std::int64_t>(wait, 1));
}

/// Retries the commit in flight after a backoff if attempts and the retry
/// budget allow it; returns false if the commit must fail now.
bool retry_commit(coordinator_self* self, const caf::error& err) {
  auto& st = self->state;
  if (st.commit_retries >= st.config.max_retry_attempts
      || st.breaker.current(steady_ms()) == circuit_breaker::state::open
      || !st.retries.try_spend())
    return false;
  ++st.commit_retries;
  telemetry::global().dependency_retried("store");
  auto delay = backoff_delay_ms(st.config.retry_backoff, st.commit_retries,
                                st.random);
  logger("actors")->warn("commit-retry attempt={} delay_ms={} error=\"{}\"",
                         st.commit_retries, delay, describe(err));
  self->delayed_send(self, std::chrono::milliseconds{delay},
                     atoms::commit_atom::value);
  return true;
}

/// Asks the store, a second from now, whether it takes writes again, so
/// that /ready recovers with the store even when no write comes.
void schedule_probe(coordinator_self* self) {
  auto& st = self->state;
  if (st.probing)
    return;
  st.probing = true;
  self->delayed_send(self, std::chrono::seconds{1}, atoms::check_atom::value);
}

void probe_store(coordinator_self* self) {
  auto& st = self->state;
  st.probing = false;
  const auto& store = st.handles.get(role::store);
  if (st.store_available || !store)
    return;
  self->request(store, std::chrono::seconds{5}, caf::get_atom::value,
                atoms::check_atom::value)
    .then(
      [self](caf::ok_atom) {
        auto& st = self->state;
        if (st.store_available || st.committing)
          return;
        logger("actors")->info("store-recovered previous_error=\"{}\"",
                               st.store_error);
        st.store_available = true;
        st.store_error.clear();
        // Writes need not wait out the breaker's timeout once the store's
        // check passes again.
        st.breaker.reset(steady_ms());
      },
      [self](caf::error& err) {
        // A store without a check waits for the next write to tell.
        if (!is(err, errc::unavailable))
          schedule_probe(self);
      });
}

void on_commit(coordinator_self* self, const caf::error& err) {
  auto& st = self->state;
  // A batch without changes completes without a call to the store.
  bool called = st.committing && !is(err, errc::circuit_open);
  if (called)
    telemetry::global().store_committed(
      std::chrono::duration<double>(std::chrono::steady_clock::now()
                                    - st.commit_started)
        .count(),
      st.inflight_redo.size(), !err);

  if (!err) {
    if (called) {
      st.breaker.record_success(steady_ms());
      st.retries.record_success();
    }
    st.committing = false;
    st.commit_retries = 0;
    st.inflight_redo.clear();
    st.store_available = true;
    st.store_error.clear();
    auto done = std::move(st.inflight);
    st.inflight = commit_batch{};
    for (auto& waiter : done.waiters)
      waiter(caf::none);
    flush(self);
    return;
  }

  if (err == caf::sec::request_timeout) {
    logger("actors")->error("commit-timed-out changes={} action=restart",
                            st.inflight_redo.size());
    self->quit(err);
    return;
  }

  // A failed write changed nothing, so it may be tried again as it was.
  if (!is(err, errc::circuit_open)) {
    st.breaker.record_failure(steady_ms());
    st.store_available = false;
    st.store_error = describe(err);
    schedule_probe(self);
    if (retry_commit(self, err))
      return;
  }
  st.committing = false;
  st.commit_retries = 0;
  st.inflight_redo.clear();

  // The store wrote nothing, so memory goes back to the last commit: newest
  // changes first.
  st.state.rollback(st.pending.changes);
  st.state.rollback(st.inflight.changes);
  logger("actors")->error("commit-failed changes={} breaker={} error=\"{}\"",
                          st.inflight.changes.undo.size()
                            + st.pending.changes.undo.size(),
                          to_string(st.breaker.current(steady_ms())),
                          st.store_error);
  auto failure = is(err, errc::circuit_open)
                   ? err
                   : make_error(errc::store_unavailable,
                                "the store failed to write the change ("
                                  + st.store_error
                                  + "); nothing was changed, retry later");
  auto failed = std::move(st.inflight.waiters);
  failed.insert(failed.end(), std::make_move_iterator(st.pending.waiters.begin()),
                std::make_move_iterator(st.pending.waiters.end()));
  st.inflight = commit_batch{};
  st.pending = commit_batch{};
  for (auto& waiter : failed)
    waiter(failure);
}

void flush(coordinator_self* self) {
  auto& st = self->state;
  if (st.committing || st.pending.empty())
    return;
  st.inflight = std::move(st.pending);
  st.pending = commit_batch{};
  if (st.inflight.changes.empty()) {
    on_commit(self, caf::none);
    return;
  }

  st.committing = true;
  // The redo list is kept until the commit succeeds, for retries; the undo
  // list is kept for a rollback.
  st.inflight_redo = std::move(st.inflight.changes.redo);
  st.inflight.changes.redo.clear();
  st.commit_retries = 0;
  send_commit(self);
}

void send_commit(coordinator_self* self) {
  auto& st = self->state;
  if (!st.breaker.allow(steady_ms())) {
    on_commit(self, breaker_open(self));
    return;
  }
  const auto& store = st.handles.get(role::store);
  if (!store) {
    on_commit(self, make_error(errc::store_unavailable,
                               "the store actor is not running"));
    return;
  }
  st.commit_started = std::chrono::steady_clock::now();
  self->request(store, commit_timeout, atoms::commit_atom::value,
                st.inflight_redo)
    .then([self](caf::ok_atom) { on_commit(self, caf::none); },
          [self](caf::error& err) { on_commit(self, err); });
}

/// Queues the changes an operation made and replies once they are durable.
/// A reply without changes still waits for earlier commits, because it may
/// report state that is not yet on disk.
/// `on_durable`, if set, runs once the changes are committed.
template <class T>
caf::result<T> acknowledge(coordinator_self* self, caf::expected<T> outcome,
                           std::function<void()> on_durable = {}) {
  auto& st = self->state;
  auto changes = st.state.take_journal();
  if (!outcome) {
    st.state.rollback(changes);
    return std::move(outcome.error());
  }
  // While the breaker is open, changes fail fast instead of queueing behind
  // a store that is known to fail.
  if (!changes.empty()
      && st.breaker.current(steady_ms()) == circuit_breaker::state::open) {
    st.state.rollback(changes);
    return breaker_open(self);
  }
  if (changes.empty() && st.pending.empty() && !st.committing) {
    if (on_durable)
      on_durable();
    return std::move(*outcome);
  }

  auto promise = self->make_response_promise<T>();
  auto waiter = [promise, value = std::move(*outcome),
                 on_durable = std::move(on_durable)](const caf::error& err) mutable {
    if (err) {
      promise.deliver(err);
      return;
    }
    if (on_durable)
      on_durable();
    promise.deliver(std::move(value));
  };
  if (changes.empty() && st.pending.empty()) {
    st.inflight.waiters.push_back(std::move(waiter));
  } else {
    st.pending.changes.append(std::move(changes));
    st.pending.waiters.push_back(std::move(waiter));
  }
  flush(self);
  return promise;
}

/// Queues changes that no requester waits for, such as the tick's.
void commit_background(coordinator_self* self) {
  auto changes = self->state.state.take_journal();
  if (changes.empty())
    return;
  self->state.pending.changes.append(std::move(changes));
  flush(self);
}

caf::error not_ready() {
  return make_error(errc::not_ready,
                    "the orchestrator is still loading its state from the "
                    "store; retry in a moment");
}

void request_load(coordinator_self* self) {
  auto& st = self->state;
  const auto& store = st.handles.get(role::store);
  if (st.loaded || !store)
    return;
  self->request(store, load_timeout, atoms::load_atom::value)
    .then(
      [self](store_snapshot& snapshot) {
        auto& st = self->state;
        if (st.loaded)
          return;
        auto repairs = st.state.load(snapshot, now_instant());
        st.loaded = true;
        auto summary = st.state.summary();
        logger("actors")->info(
          "state-loaded workers={} active={} streams={} assigned={} "
          "epoch={} repairs={}",
          summary.workers_total, summary.workers_active, summary.streams_total,
          summary.streams_assigned, summary.epoch, repairs);
        // The limits apply to additions only: a store that already contains
        // more is served, with a warning for the operator.
        const auto& limits = st.config;
        if (summary.streams_total > limits.max_streams)
          logger("actors")->warn("limit-exceeded-at-load limit=max_streams "
                                 "stored={} max={}; new streams are rejected "
                                 "until there are fewer, or raise --max-streams",
                                 summary.streams_total, limits.max_streams);
        if (summary.workers_total > limits.max_workers)
          logger("actors")->warn("limit-exceeded-at-load limit=max_workers "
                                 "stored={} max={}; new workers are rejected "
                                 "until there are fewer, or raise --max-workers",
                                 summary.workers_total, limits.max_workers);
        // Each repair changes stored rows, so each is logged. Past 20, the
        // count above covers the rest.
        const auto& fixes = st.state.load_repairs();
        for (std::size_t k = 0; k < fixes.size() && k < 20; ++k)
          logger("actors")->warn("state-repaired what=\"{}\"", fixes[k]);
        commit_background(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        auto delay = std::min<caf::timespan>(
          std::chrono::milliseconds{200} * (1 << std::min(st.load_attempts, 5)),
          max_load_backoff);
        ++st.load_attempts;
        telemetry::global().dependency_retried("store");
        logger("actors")->warn("state-load-failed attempt={} error=\"{}\" "
                               "retry_in_ms={}",
                               st.load_attempts, describe(err),
                               std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
        self->delayed_send(self, delay, atoms::load_atom::value);
      });
}

/// Makes sure a timer fires at the next handoff timeout.
void schedule_handoffs(coordinator_self* self) {
  auto& st = self->state;
  auto next = st.state.next_handoff_deadline();
  if (next < 0 || (st.handoff_timer_ms >= 0 && st.handoff_timer_ms <= next))
    return;
  st.handoff_timer_ms = next;
  auto delay = std::max<std::int64_t>(next - now_instant().steady_ms, 0) + 1;
  self->delayed_send(self, std::chrono::milliseconds{delay},
                     atoms::handoff_atom::value);
}

void on_handoff_timer(coordinator_self* self) {
  auto& st = self->state;
  st.handoff_timer_ms = -1;
  if (!st.loaded)
    return;
  auto completed = st.state.complete_due_handoffs(now_instant());
  if (completed > 0)
    logger("actors")->info("handoffs-timed-out streams={} action=moved",
                           completed);
  commit_background(self);
  schedule_handoffs(self);
}

void on_tick(coordinator_self* self) {
  auto& st = self->state;
  self->delayed_send(self, st.config.heartbeat_check_interval,
                     caf::tick_atom::value);
  if (!st.loaded)
    return;
  st.state.collect_beats();
  auto now = now_instant();
  auto receivers = st.state.place_waiting(now);
  if (!receivers.empty())
    logger("actors")->info("waiting-streams-placed workers={}",
                           receivers.size());
  auto forgotten = st.state.forget_dead(
    now.wall_ms - st.config.dead_worker_retention.count());
  if (forgotten > 0)
    logger("actors")->info("dead-workers-forgotten count={}", forgotten);
  commit_background(self);
}

void log_failures(const failure_report& report, const char* reason) {
  if (report.dead_workers.empty())
    return;
  for (std::size_t k = 0; k < report.dead_workers.size(); ++k) {
    logger("actors")->info("worker-declared-dead worker={} streams={} reason={}",
                           report.dead_workers[k], report.freed_per_worker[k],
                           reason);
    telemetry::global().worker_died(reason, report.silence_ms[k] / 1000.0);
  }
  logger("actors")->info("dead-worker-streams-freed workers={} streams={} "
                         "reassigned={} receivers={}",
                         report.dead_workers.size(), report.streams_freed,
                         report.streams_reassigned, report.receivers.size());
}

/// Returns a callback that records how long the reassignment of dead
/// workers' streams took to become durable, or nothing if none died.
std::function<void()> reassignment_timer(const failure_report& report) {
  if (report.dead_workers.empty())
    return {};
  auto declared = std::chrono::steady_clock::now();
  return [declared] {
    telemetry::global().reassignment_committed(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - declared)
        .count());
  };
}

} // namespace

caf::behavior coordinator_actor(coordinator_self* self, settings config,
                                peers handles,
                                std::shared_ptr<heartbeat_board> board) {
  self->set_exception_handler(
    [](caf::scheduled_actor*, std::exception_ptr& failure) {
      return crash_reason(failure);
    });
  self->state.config = std::move(config);
  self->state.handles = std::move(handles);
  self->state.breaker = circuit_breaker{self->state.config.store_breaker};
  self->state.state.set_limits(self->state.config.max_workers,
                               self->state.config.max_streams);
  if (board) {
    self->state.state.attach_board(board.get());
    // A slot left open would reply with leases that no coordinator updates.
    self->attach_functor([board] { board->clear(); });
  }
  self->state.board = std::move(board);
  request_load(self);
  self->delayed_send(self, self->state.config.heartbeat_check_interval,
                     caf::tick_atom::value);

  return {
    [self](atoms::register_atom,
           const registration& request) -> caf::result<register_reply> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto reply = st.state.register_worker(request, now_instant());
      if (reply)
        logger("actors")->info(
          "worker-registered worker={} address={}:{} max_streams={} "
          "reregistration={} streams={}",
          request.server_id, request.ip, request.port, request.max_streams,
          reply->reregistration, reply->owned.size());
      return acknowledge(self, std::move(reply));
    },
    [self](atoms::heartbeat_atom,
           const heartbeat& request) -> caf::result<heartbeat_reply> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto reply = st.state.record_heartbeat(request, now_instant());
      std::function<void()> open_slot;
      if (reply) {
        telemetry::global().heartbeat_received();
        // Once this reply is durable, the HTTP threads reply from the board
        // to the worker's next heartbeats that change nothing.
        auto version = st.state.lease_version(request.server_id);
        open_slot = [self, id = request.server_id, version] {
          self->state.state.open_slot(id, version);
        };
      }
      return acknowledge(self, std::move(reply), std::move(open_slot));
    },
    [self](atoms::assign_atom,
           const assign_request& request) -> caf::result<assign_reply> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto reply = st.state.assign(request, now_instant());
      if (reply)
        logger("actors")->debug("streams-assigned worker={} requested={} "
                                "listed={} owned={}",
                                request.server_id, request.requested_count,
                                reply->assigned.size(), reply->owned.size());
      return acknowledge(self, std::move(reply));
    },
    [self](atoms::release_atom,
           const release_request& request) -> caf::result<release_reply> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto reply = st.state.release(request, now_instant());
      if (reply)
        logger("actors")->debug("streams-released worker={} requested={} "
                                "released={}",
                                request.server_id, request.stream_ids.size(),
                                reply->released.size());
      else
        logger("actors")->debug("release-rejected worker={} error=\"{}\"",
                                request.server_id, describe(reply.error()));
      return acknowledge(self, std::move(reply));
    },
    [self](atoms::deregister_atom,
           const std::string& server_id) -> caf::result<deregister_reply> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto reply = st.state.deregister(server_id, now_instant());
      if (reply)
        logger("actors")->info("worker-deregistered worker={} streams={} "
                               "reassigned={}",
                               server_id, reply->freed_streams.size(),
                               reply->reassigned);
      return acknowledge(self, std::move(reply));
    },
    [self](atoms::expire_atom, const std::vector<liveness>& verdicts,
           const std::string& reason) -> caf::result<failure_report> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto report = st.state.declare_dead(verdicts, now_instant());
      log_failures(report, reason.c_str());
      return acknowledge(self, caf::expected<failure_report>{std::move(report)},
                         reassignment_timer(report));
    },
    [self](atoms::fail_atom,
           const std::string& server_id) -> caf::result<failure_report> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto report = st.state.declare_failed(server_id, now_instant());
      std::function<void()> timer;
      if (report) {
        log_failures(*report, "operator");
        timer = reassignment_timer(*report);
      }
      return acknowledge(self, std::move(report), std::move(timer));
    },
    [self](atoms::apply_atom, const std::vector<stream_move>& moves)
      -> caf::result<rebalance_report> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      rebalance_report report;
      report.planned = moves.size();
      report.moves = st.state.begin_handoffs(moves, now_instant(),
                                             st.config.handoff_timeout.count(),
                                             report.workers_affected);
      report.moved = report.moves.size();
      logger("actors")->debug("handoffs-started planned={} started={}",
                              report.planned, report.moved);
      schedule_handoffs(self);
      return acknowledge(self, caf::expected<rebalance_report>{std::move(report)});
    },
    [self](atoms::quarantine_atom, const std::string& server_id,
           std::int64_t until_wall_ms) -> caf::result<worker_view> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.set_quarantine(server_id, until_wall_ms);
    },
    [self](atoms::evacuate_atom,
           const std::string& server_id) -> caf::result<failure_report> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto report = st.state.evacuate(server_id, now_instant());
      if (report)
        logger("actors")->warn("worker-evacuated worker={} streams={} "
                               "reassigned={}",
                               server_id, report->streams_freed,
                               report->streams_reassigned);
      return acknowledge(self, std::move(report));
    },
    [self](atoms::drain_atom, const std::string& server_id,
           bool draining) -> caf::result<worker_view> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto view = st.state.set_draining(server_id, draining, now_instant());
      if (view)
        logger("actors")->info("worker-{} worker={} streams={}",
                               draining ? "draining" : "undrained", server_id,
                               view->owned.size());
      return acknowledge(self, std::move(view));
    },
    [self](caf::put_atom, const std::vector<stream_row>& rows)
      -> caf::result<catalog_result> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto update = st.state.put_streams(rows);
      if (!update)
        return acknowledge(self, caf::expected<catalog_result>{update.error()});
      // New streams may be exactly what waiting capacity needs.
      st.state.place_waiting(now_instant());
      return acknowledge(self, caf::expected<catalog_result>{
                                 catalog_result{update->created, update->updated}});
    },
    [self](caf::delete_atom,
           std::int64_t stream_id) -> caf::result<std::string> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return acknowledge(self, st.state.erase_stream(stream_id));
    },
    [self](caf::get_atom,
           atoms::workers_atom) -> caf::result<std::vector<worker_view>> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.list_workers(now_instant());
    },
    [self](caf::get_atom, atoms::worker_atom,
           const std::string& server_id) -> caf::result<worker_view> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.find_worker(server_id, now_instant());
    },
    [self](caf::get_atom, atoms::assignments_atom)
      -> caf::result<std::vector<assignment_row>> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.list_assignments();
    },
    [self](caf::get_atom, atoms::streams_atom, std::uint64_t offset,
           std::uint64_t limit) -> caf::result<stream_page> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.list_streams(offset, limit);
    },
    [self](atoms::check_atom) {
      probe_store(self);
    },
    [self](caf::get_atom, atoms::streams_atom,
           const std::vector<std::int64_t>& ids) -> caf::result<std::vector<stream_row>> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.find_streams(ids);
    },
    [self](caf::get_atom,
           atoms::summary_atom) -> caf::result<cluster_summary> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      auto summary = st.state.summary();
      summary.store_available = st.store_available;
      summary.store_error = st.store_error;
      summary.mailbox_depth = self->mailbox().size();
      summary.store_breaker = to_string(st.breaker.current(steady_ms()));
      summary.store_failures = st.breaker.consecutive_failures();
      summary.commit_waiters = st.pending.waiters.size()
                               + st.inflight.waiters.size();
      return summary;
    },
    [self](atoms::liveness_atom) -> caf::result<std::vector<liveness>> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.active_liveness();
    },
    [self](atoms::loads_atom) -> caf::result<balance_input> {
      auto& st = self->state;
      if (!st.loaded)
        return not_ready();
      st.state.collect_beats();
      return st.state.balance_state(now_instant());
    },
    [self](caf::update_atom, role r, caf::actor handle) {
      self->state.handles.set(r, std::move(handle));
      if (r == role::store)
        request_load(self);
    },
    [self](atoms::load_atom) { request_load(self); },
    [self](caf::tick_atom) { on_tick(self); },
    [self](atoms::handoff_atom) { on_handoff_timer(self); },
    [self](atoms::commit_atom) {
      // A retry of the commit in flight, after its backoff.
      if (self->state.committing && !self->state.inflight_redo.empty())
        send_commit(self);
    },
  };
}

} // namespace orchestrator
