#pragma once

// Plain data types of the orchestrator's domain: the rows the store persists,
// the requests workers send and the replies they get. Each type that travels
// in an actor message has its inspect() overload beside it.

#include <caf/meta/type_name.hpp>

#include <cstdint>
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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_row& x) {
  return f(caf::meta::type_name("worker_row"), x.server_id, x.ip, x.port,
           x.max_streams, x.state, x.registered_at_ms, x.last_heartbeat_ms,
           x.reported_status);
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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registration& x) {
  return f(caf::meta::type_name("registration"), x.server_id, x.ip, x.port,
           x.max_streams);
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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat& x) {
  return f(caf::meta::type_name("heartbeat"), x.server_id, x.reported_count,
           x.reported_status);
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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_view& x) {
  return f(caf::meta::type_name("worker_view"), x.row, x.stream_count,
           x.reported_count, x.heartbeat_age_ms, x.owned);
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
  std::uint64_t workers_active = 0;
  std::uint64_t total_capacity = 0;
  std::uint64_t current_load = 0;
  std::uint64_t streams_total = 0;
  std::uint64_t streams_assigned = 0;
  /// Unassigned streams freed from dead or shrunken workers, waiting for room.
  std::uint64_t streams_waiting = 0;
  bool store_available = true;
  std::string store_error;
  std::uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_summary& x) {
  return f(caf::meta::type_name("cluster_summary"), x.workers_total,
           x.workers_active, x.total_capacity, x.current_load,
           x.streams_total, x.streams_assigned, x.streams_waiting,
           x.store_available, x.store_error, x.epoch);
}

/// The last heartbeat of one active worker, as sent to the failure handler.
struct liveness {
  std::string server_id;
  /// Steady-clock milliseconds of the last heartbeat (or of the grace period
  /// start after a restart).
  std::int64_t last_seen_steady_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, liveness& x) {
  return f(caf::meta::type_name("liveness"), x.server_id,
           x.last_seen_steady_ms);
}

/// Outcome of declaring workers dead.
struct failure_report {
  /// The failure handling variant that produced the report, such as "basic".
  std::string method;
  std::vector<std::string> dead_workers;
  /// Streams freed from each of `dead_workers`, in the same order.
  std::vector<std::uint64_t> freed_per_worker;
  std::uint64_t streams_freed = 0;
  std::uint64_t streams_reassigned = 0;
  /// Workers that received at least one of the freed streams.
  std::vector<std::string> receivers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, failure_report& x) {
  return f(caf::meta::type_name("failure_report"), x.method, x.dead_workers,
           x.freed_per_worker,
           x.streams_freed, x.streams_reassigned, x.receivers);
}

/// The load of one active worker, as sent to the balancer.
struct worker_load {
  std::string server_id;
  std::uint32_t max_streams = 0;
  std::vector<stream_lease> owned;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, worker_load& x) {
  return f(caf::meta::type_name("worker_load"), x.server_id, x.max_streams,
           x.owned);
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

struct rebalance_report {
  std::string method;
  std::string reason;
  std::uint64_t planned = 0;
  std::uint64_t moved = 0;
  std::vector<std::string> workers_affected;
  double duration_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rebalance_report& x) {
  return f(caf::meta::type_name("rebalance_report"), x.method, x.reason,
           x.planned, x.moved, x.workers_affected, x.duration_ms);
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
