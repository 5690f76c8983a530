#pragma once

// Plain data types of the orchestrator's domain: the rows the store persists,
// the requests workers send and the replies they get. Each type that travels
// in an actor message has its inspect() overload beside it.

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace orchestrator {

/// Lifecycle state of a worker, as tracked by the orchestrator.
enum class worker_state : std::uint8_t {
  active,
  dead,
};

/// Returns "active" or "dead".
const char* to_string(worker_state state);

/// A point in time read from both clocks: the wall clock for what is shown and
/// stored, the steady clock for measuring heartbeat silence.
struct instant {
  /// Milliseconds since the Unix epoch.
  std::int64_t wall_ms = 0;
  /// Milliseconds of std::chrono::steady_clock; only differences are meaningful.
  std::int64_t steady_ms = 0;
};

/// Reads both clocks now.
instant now_instant();

// -- rows the store persists --------------------------------------------------

/// A registered worker, as stored.
struct worker_row {
  std::string server_id;
  std::string ip;
  std::uint16_t port = 0;
  std::uint32_t max_streams = 0;
  worker_state state = worker_state::active;
  std::int64_t registered_at_ms = 0;
  std::int64_t last_heartbeat_ms = 0;
  /// The free-form status string from the worker's last heartbeat.
  std::string reported_status;
  /// Relative speed of the worker: its fair share of streams is proportional
  /// to weight × max_streams.
  double weight = 1;
  /// A draining worker receives no streams, and the balancer moves its
  /// streams away; set and cleared by an operator.
  bool draining = false;
  /// Free-form kind of worker, from the /api generation's registration.
  std::string worker_type = {};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_row& x) {
  return f(caf::meta::type_name("worker_row"), x.server_id, x.ip, x.port,
           x.max_streams, x.state, x.registered_at_ms, x.last_heartbeat_ms,
           x.reported_status, x.weight, x.draining, x.worker_type);
}

/// The ownership of one stream by one worker.
struct assignment_row {
  std::int64_t stream_id = 0;
  std::string server_id;
  /// Grows with every assignment made by this orchestrator, never reused.
  std::uint64_t epoch = 0;
  std::int64_t assigned_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, assignment_row& x) {
  return f(caf::meta::type_name("assignment_row"), x.stream_id, x.server_id,
           x.epoch, x.assigned_at_ms);
}

/// One entry of the stream catalogue.
struct stream_row {
  std::int64_t id = 0;
  std::string url;
  std::string name;
  /// A JSON object, serialized.
  std::string metadata = "{}";
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_row& x) {
  return f(caf::meta::type_name("stream_row"), x.id, x.url, x.name,
           x.metadata);
}

/// Kind of one journaled change to the durable state.
enum class change_kind : std::uint8_t {
  put_worker,
  erase_worker,
  put_assignment,
  erase_assignment,
  put_stream,
  erase_stream,
  set_epoch,
};

/// One change to the durable state. Only the row that `kind` names is
/// meaningful; an erase uses only that row's key.
struct change {
  change_kind kind = change_kind::set_epoch;
  worker_row worker;
  assignment_row assignment;
  stream_row stream;
  std::uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change& x) {
  return f(caf::meta::type_name("change"), x.kind, x.worker, x.assignment,
           x.stream, x.epoch);
}

/// Everything the store holds, as loaded at start-up.
struct store_snapshot {
  std::vector<worker_row> workers;
  std::vector<assignment_row> assignments;
  std::vector<stream_row> streams;
  std::uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_snapshot& x) {
  return f(caf::meta::type_name("store_snapshot"), x.workers, x.assignments,
           x.streams, x.epoch);
}

// -- worker requests and replies ----------------------------------------------

/// A stream a worker owns, with the epoch of its assignment.
struct stream_lease {
  std::int64_t stream_id = 0;
  std::uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_lease& x) {
  return f(caf::meta::type_name("stream_lease"), x.stream_id, x.epoch);
}

struct registration {
  std::string server_id;
  std::string ip;
  std::uint16_t port = 0;
  std::uint32_t max_streams = 0;
  /// Zero when the request names no weight: a new worker then gets 1 and a
  /// known one keeps its weight.
  double weight = 0;
  /// Empty when the request names no type: a known worker keeps its own.
  std::string worker_type = {};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registration& x) {
  return f(caf::meta::type_name("registration"), x.server_id, x.ip, x.port,
           x.max_streams, x.weight, x.worker_type);
}

struct register_reply {
  bool reregistration = false;
  std::uint32_t max_streams = 0;
  /// Streams taken from the worker because its capacity shrank.
  std::vector<std::int64_t> freed_streams;
  std::vector<stream_lease> owned;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, register_reply& x) {
  return f(caf::meta::type_name("register_reply"), x.reregistration,
           x.max_streams, x.freed_streams, x.owned);
}

struct heartbeat {
  std::string server_id;
  std::int64_t reported_count = 0;
  std::string reported_status;
  /// True if the worker listed the streams it captures in `stream_ids`. A
  /// stream being handed off that the list leaves out is confirmed dropped.
  bool lists_streams = false;
  std::vector<std::int64_t> stream_ids = {};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat& x) {
  return f(caf::meta::type_name("heartbeat"), x.server_id, x.reported_count,
           x.reported_status, x.lists_streams, x.stream_ids);
}

struct heartbeat_reply {
  std::vector<stream_lease> owned;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat_reply& x) {
  return f(caf::meta::type_name("heartbeat_reply"), x.owned);
}

struct assign_request {
  std::string server_id;
  std::uint32_t requested_count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, assign_request& x) {
  return f(caf::meta::type_name("assign_request"), x.server_id,
           x.requested_count);
}

enum class assign_outcome : std::uint8_t {
  assigned,
  no_capacity,
  no_streams,
  /// The worker is draining and receives no streams.
  draining,
  /// The worker failed repeatedly and receives no streams for a while.
  quarantined,
};

struct assign_reply {
  assign_outcome outcome = assign_outcome::no_streams;
  /// Streams given by this request, plus streams the orchestrator placed on
  /// the worker since its last reply, so that clients which only read this
  /// field still learn about them.
  std::vector<std::int64_t> assigned;
  std::vector<stream_lease> owned;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, assign_reply& x) {
  return f(caf::meta::type_name("assign_reply"), x.outcome, x.assigned,
           x.owned);
}

struct release_request {
  std::string server_id;
  std::vector<std::int64_t> stream_ids;
  /// Optional epochs the worker holds for some of `stream_ids`. A release that
  /// names an epoch older than the current assignment is rejected whole.
  std::vector<stream_lease> epochs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_request& x) {
  return f(caf::meta::type_name("release_request"), x.server_id,
           x.stream_ids, x.epochs);
}

struct release_reply {
  std::vector<std::int64_t> released;
  std::vector<stream_lease> owned;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_reply& x) {
  return f(caf::meta::type_name("release_reply"), x.released, x.owned);
}

struct deregister_reply {
  std::vector<std::int64_t> freed_streams;
  /// How many of the freed streams were placed on other workers at once.
  std::uint64_t reassigned = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deregister_reply& x) {
  return f(caf::meta::type_name("deregister_reply"), x.freed_streams,
           x.reassigned);
}

// -- views for listings and status --------------------------------------------

/// A worker as listed by the API.
struct worker_view {
  worker_row row;
  std::uint32_t stream_count = 0;
  std::int64_t reported_count = 0;
  /// Milliseconds since the last heartbeat, measured on the steady clock.
  std::int64_t heartbeat_age_ms = 0;
  std::vector<stream_lease> owned;
  /// Streams being handed off to other workers: no longer the worker's to
  /// capture, but counted against its capacity until the handoff ends.
  std::vector<stream_lease> revoking;
  /// Streams being handed over to the worker once their owner lets go.
  std::vector<std::int64_t> incoming;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_view& x) {
  return f(caf::meta::type_name("worker_view"), x.row, x.stream_count,
           x.reported_count, x.heartbeat_age_ms, x.owned, x.revoking,
           x.incoming);
}

/// A stream as listed by the API, with its owner if it has one.
struct stream_view {
  stream_row row;
  bool assigned = false;
  /// Meaningful only when `assigned` is true.
  assignment_row assignment;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_view& x) {
  return f(caf::meta::type_name("stream_view"), x.row, x.assigned,
           x.assignment);
}

struct stream_page {
  std::vector<stream_view> streams;
  std::uint64_t total = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_page& x) {
  return f(caf::meta::type_name("stream_page"), x.streams, x.total);
}

/// Totals for GET /status and /health.
struct cluster_summary {
  std::uint64_t workers_total = 0;
  /// Active workers, draining ones included.
  std::uint64_t workers_active = 0;
  std::uint64_t workers_draining = 0;
  /// Streams of the most loaded active worker.
  std::uint64_t max_worker_load = 0;
  std::uint64_t total_capacity = 0;
  std::uint64_t current_load = 0;
  std::uint64_t streams_total = 0;
  std::uint64_t streams_assigned = 0;
  /// Unassigned streams freed from dead or shrunken workers, waiting for room.
  std::uint64_t streams_waiting = 0;
  /// Streams between two owners: revoked from one, not yet given to the
  /// other.
  std::uint64_t handoffs = 0;
  bool store_available = true;
  std::string store_error;
  std::uint64_t epoch = 0;
  /// Messages waiting in the coordinator's mailbox when it made the summary.
  std::uint64_t mailbox_depth = 0;
  /// Requests whose replies wait for a store commit.
  std::uint64_t commit_waiters = 0;
  /// State of the store's circuit breaker: "closed", "open" or "half_open".
  std::string store_breaker = "closed";
  /// Consecutive failed store calls.
  std::uint32_t store_failures = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_summary& x) {
  return f(caf::meta::type_name("cluster_summary"), x.workers_total,
           x.workers_active, x.workers_draining, x.max_worker_load,
           x.total_capacity, x.current_load,
           x.streams_total, x.streams_assigned, x.streams_waiting, x.handoffs,
           x.store_available, x.store_error, x.epoch, x.mailbox_depth,
           x.commit_waiters, x.store_breaker, x.store_failures);
}

/// The last heartbeat of one active worker, as sent to the failure handler.
struct liveness {
  std::string server_id;
  /// Steady-clock milliseconds of the last heartbeat (or of the grace period
  /// start after a restart).
  std::int64_t last_seen_steady_ms = 0;
  /// Heartbeat intervals measured so far, at most the last 64; the mean and
  /// standard deviation below are meaningful only when it is above zero.
  std::uint32_t intervals = 0;
  double interval_mean_ms = 0;
  double interval_stddev_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, liveness& x) {
  return f(caf::meta::type_name("liveness"), x.server_id,
           x.last_seen_steady_ms, x.intervals, x.interval_mean_ms,
           x.interval_stddev_ms);
}

/// Outcome of declaring workers dead.
struct failure_report {
  /// The failure handling variant that produced the report, such as "basic".
  std::string method;
  std::vector<std::string> dead_workers;
  /// Streams freed from each of `dead_workers`, in the same order.
  std::vector<std::uint64_t> freed_per_worker;
  /// Milliseconds from each dead worker's last heartbeat to the verdict.
  std::vector<std::int64_t> silence_ms;
  std::uint64_t streams_freed = 0;
  std::uint64_t streams_reassigned = 0;
  /// Workers that received at least one of the freed streams.
  std::vector<std::string> receivers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, failure_report& x) {
  return f(caf::meta::type_name("failure_report"), x.method, x.dead_workers,
           x.freed_per_worker, x.silence_ms,
           x.streams_freed, x.streams_reassigned, x.receivers);
}

/// One worker as the failure detector judges it.
struct worker_health {
  std::string server_id;
  /// "active" or "suspect".
  std::string state = "active";
  /// Suspicion level (phi accrual); negative while too few heartbeat
  /// intervals are known to compute it.
  double phi = -1;
  std::int64_t silence_ms = 0;
  double interval_mean_ms = 0;
  std::uint32_t intervals = 0;
  /// Steady-clock milliseconds since when it is suspect; -1 when active.
  std::int64_t suspect_since_ms = -1;
  /// Deaths within the flapping window, this one included.
  std::uint32_t recent_deaths = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_health& x) {
  return f(caf::meta::type_name("worker_health"), x.server_id, x.state, x.phi,
           x.silence_ms, x.interval_mean_ms, x.intervals, x.suspect_since_ms,
           x.recent_deaths);
}

/// The failure detector's view of the cluster, for /resilience/status and
/// /health.
struct detector_status {
  std::string method;
  /// True while reassignment is frozen because too many workers turned
  /// suspect at once.
  bool frozen = false;
  std::string freeze_reason;
  /// Wall-clock milliseconds when the freeze began; 0 when not frozen.
  std::int64_t frozen_since_ms = 0;
  /// True if an operator lifted the current freeze.
  bool freeze_lifted = false;
  std::uint64_t rounds = 0;
  /// Rounds skipped because the check itself ran late.
  std::uint64_t stalled_rounds = 0;
  std::uint64_t deaths = 0;
  /// Wall-clock milliseconds of the last check; 0 before the first.
  std::int64_t last_check_ms = 0;
  std::vector<worker_health> workers;
  /// The detector's settings as "name=value" lines.
  std::vector<std::string> settings;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, detector_status& x) {
  return f(caf::meta::type_name("detector_status"), x.method, x.frozen,
           x.freeze_reason, x.frozen_since_ms, x.freeze_lifted, x.rounds,
           x.stalled_rounds, x.deaths, x.last_check_ms, x.workers, x.settings);
}

/// The load of one active worker, as sent to the balancer.
struct worker_load {
  std::string server_id;
  std::uint32_t max_streams = 0;
  double weight = 1;
  bool draining = false;
  /// Streams the worker owns and keeps: those being handed off are left out.
  std::vector<stream_lease> owned;
  /// Streams on their way to the worker; they count as its load.
  std::uint32_t incoming = 0;
  /// Streams on their way from the worker to others.
  std::uint32_t outgoing = 0;
  std::int64_t heartbeat_age_ms = 0;
  /// Set by the balancer actor when the worker looks about to fail.
  bool suspect = false;
  /// The worker's latest system metrics, if `has_metrics`; set by the
  /// balancer actor.
  bool has_metrics = false;
  double cpu_percent = 0;
  double memory_percent = 0;
  /// Negative when the worker reports no load average.
  double load_average_1m = -1;

  /// Streams that count against the worker's capacity and share.
  std::uint32_t load() const {
    return static_cast<std::uint32_t>(owned.size()) + incoming;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_load& x) {
  return f(caf::meta::type_name("worker_load"), x.server_id, x.max_streams,
           x.weight, x.draining, x.owned, x.incoming, x.outgoing,
           x.heartbeat_age_ms, x.suspect, x.has_metrics, x.cpu_percent,
           x.memory_percent, x.load_average_1m);
}

/// Input of a balancing plan: every active worker's load and the recent
/// membership history.
struct balance_input {
  std::vector<worker_load> workers;
  /// "join", "death", "leave" or "drain"; empty if nothing changed since
  /// the state was loaded.
  std::string last_membership_change;
  /// Milliseconds since that change; negative if there was none.
  std::int64_t since_membership_change_ms = -1;
  /// Streams revoked from one worker and not yet given to another.
  std::uint64_t handoffs_in_flight = 0;
  /// Unassigned streams freed from failed workers, waiting for room.
  std::uint64_t waiting = 0;
  /// True for a round an operator asked for.
  bool manual = false;
  /// True while earlier rounds have not reached balance yet: hysteresis
  /// thresholds no longer gate the next round.
  bool converging = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, balance_input& x) {
  return f(caf::meta::type_name("balance_input"), x.workers,
           x.last_membership_change, x.since_membership_change_ms,
           x.handoffs_in_flight, x.waiting, x.manual, x.converging);
}

/// One planned move of a stream between workers. The move applies only if the
/// stream still belongs to `from` under `epoch` when the plan arrives.
struct stream_move {
  std::int64_t stream_id = 0;
  std::string from;
  std::string to;
  std::uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_move& x) {
  return f(caf::meta::type_name("stream_move"), x.stream_id, x.from, x.to,
           x.epoch);
}

/// A worker's place in a plan.
struct worker_target {
  std::string server_id;
  /// Streams it has now, incoming ones included.
  std::uint32_t current = 0;
  /// Its exact fair share, capped by its capacity.
  double share = 0;
  /// Streams it should have after balancing: the share rounded so that as
  /// few streams as possible move.
  std::uint32_t target = 0;
  /// Load score in [0, 1] from its system metrics; negative without metrics.
  double score = -1;
  bool overloaded = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_target& x) {
  return f(caf::meta::type_name("worker_target"), x.server_id, x.current,
           x.share, x.target, x.score, x.overloaded);
}

/// A balancing policy's result: the moves of one round and their reason.
struct balance_plan {
  std::vector<stream_move> moves;
  /// Why these moves are made: "manual", "new_instance",
  /// "instance_failure", "load_imbalance" or "performance_degradation".
  std::string reason;
  /// Reason that nothing may move now (a suspect worker, a cool-down,
  /// handoffs in flight); empty when moving is allowed.
  std::string deferred;
  /// True if the cluster is outside the thresholds or still converging.
  bool needs_rebalancing = false;
  /// Moves that would reach balance, over every round: the minimum.
  std::uint64_t minimum_moves = 0;
  /// Most moves this round may make.
  std::uint64_t budget = 0;
  /// Streams minus fair share, largest minus smallest, over eligible
  /// workers.
  double spread_streams = 0;
  /// Load relative to fair share, largest minus smallest.
  double spread_ratio = 0;
  std::vector<worker_target> targets;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, balance_plan& x) {
  return f(caf::meta::type_name("balance_plan"), x.moves, x.reason,
           x.deferred, x.needs_rebalancing, x.minimum_moves, x.budget,
           x.spread_streams, x.spread_ratio, x.targets);
}

/// The outcome of one rebalance round, as the history keeps it.
struct rebalance_report {
  /// Sequence number, from 1 in each run of the server.
  std::uint64_t id = 0;
  std::string method;
  std::string reason;
  /// "completed", "deferred" or "error".
  std::string status = "completed";
  /// Reason the round moved nothing, or the error that stopped it.
  std::string message;
  std::uint64_t planned = 0;
  /// Handoffs started: each stream is revoked from its owner first.
  std::uint64_t moved = 0;
  std::vector<stream_move> moves;
  std::vector<std::string> workers_affected;
  std::int64_t started_at_ms = 0;
  double duration_ms = 0;
  /// Moves still needed after this round to reach balance.
  std::uint64_t remaining = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rebalance_report& x) {
  return f(caf::meta::type_name("rebalance_report"), x.id, x.method,
           x.reason, x.status, x.message, x.planned, x.moved, x.moves,
           x.workers_affected, x.started_at_ms, x.duration_ms, x.remaining);
}

/// Totals over the rebalance history, for GET /rebalance/stats.
struct rebalance_stats {
  std::uint64_t total = 0;
  std::uint64_t successful = 0;
  std::uint64_t streams_moved = 0;
  double total_duration_ms = 0;
  /// Empty before the first round.
  std::vector<rebalance_report> last;
  std::map<std::string, std::uint64_t> moved_by_reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rebalance_stats& x) {
  return f(caf::meta::type_name("rebalance_stats"), x.total, x.successful,
           x.streams_moved, x.total_duration_ms, x.last, x.moved_by_reason);
}

/// The stored rebalance history: totals over every round and the newest
/// rounds, newest first.
struct rebalance_history {
  rebalance_stats totals;
  std::vector<rebalance_report> recent;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rebalance_history& x) {
  return f(caf::meta::type_name("rebalance_history"), x.totals, x.recent);
}

/// Host or worker system metrics, one sample.
struct metrics_sample {
  double cpu_percent = 0;
  double memory_percent = 0;
  double memory_used_gb = 0;
  double memory_total_gb = 0;
  double disk_percent = 0;
  double disk_free_gb = 0;
  double disk_total_gb = 0;
  std::vector<double> load_average;
  /// Negative when the sample carries no uptime.
  double uptime_seconds = -1;
  std::int64_t recorded_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metrics_sample& x) {
  return f(caf::meta::type_name("metrics_sample"), x.cpu_percent,
           x.memory_percent, x.memory_used_gb, x.memory_total_gb,
           x.disk_percent, x.disk_free_gb, x.disk_total_gb, x.load_average,
           x.uptime_seconds, x.recorded_at_ms);
}

/// The latest metrics sample of one worker.
struct worker_sample {
  std::string server_id;
  metrics_sample sample;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_sample& x) {
  return f(caf::meta::type_name("worker_sample"), x.server_id, x.sample);
}

/// Health of one supervised role.
struct role_status {
  std::string role;
  /// "basic" for the built-in variant; an optional module's name otherwise.
  std::string variant;
  /// "starting", "running", "restarting" or "failed".
  std::string state;
  std::uint32_t restarts = 0;
  /// The reason the role runs its current variant or is not running; empty
  /// when there is none.
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, role_status& x) {
  return f(caf::meta::type_name("role_status"), x.role, x.variant, x.state,
           x.restarts, x.error);
}

/// State of one optional module, as /modules/status reports it.
struct module_status {
  /// Our name, such as "smart_balancer".
  std::string name;
  /// The role it enhances, such as "balancer".
  std::string role;
  /// The path at which the server looks for the module's file.
  std::string file;
  /// The module's version; empty unless it was loaded.
  std::string version;
  /// True if the file exists in the modules directory.
  bool found = false;
  /// True if the library loaded and passed the interface check.
  bool loaded = false;
  /// True if the module's actor is running for its role now.
  bool initialized = false;
  /// The reason the module is not loaded or not running; empty when it
  /// runs.
  std::string error;
  /// The variant its role runs now: the module's name or "basic".
  std::string variant;
  /// Milliseconds since the epoch when the current state began.
  std::int64_t since_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, module_status& x) {
  return f(caf::meta::type_name("module_status"), x.name, x.role, x.file,
           x.version, x.found, x.loaded, x.initialized, x.error, x.variant,
           x.since_ms);
}

} // namespace orchestrator
