#include "modules/store/sqlite_store.hpp"

#include "actors/errors.hpp"
#include "modules/store/history_details.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <set>

namespace orchestrator {

namespace {

// Table names follow the Python orchestrator's PostgreSQL schema, so one
// vocabulary describes both stores. Times are milliseconds since the epoch.
constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS orchestrator_instances (
  server_id       TEXT PRIMARY KEY,
  ip              TEXT NOT NULL,
  port            INTEGER NOT NULL,
  max_streams     INTEGER NOT NULL,
  status          TEXT NOT NULL,
  registered_at   INTEGER NOT NULL,
  last_heartbeat  INTEGER NOT NULL,
  reported_status TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS orchestrator_stream_assignments (
  stream_id   INTEGER PRIMARY KEY,
  server_id   TEXT NOT NULL,
  epoch       INTEGER NOT NULL,
  assigned_at INTEGER NOT NULL,
  status      TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX IF NOT EXISTS orchestrator_stream_assignments_server
  ON orchestrator_stream_assignments (server_id);
CREATE TABLE IF NOT EXISTS streams (
  id       INTEGER PRIMARY KEY,
  url      TEXT NOT NULL,
  name     TEXT NOT NULL,
  metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS orchestrator_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orchestrator_rebalance_history (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  rebalance_type     TEXT NOT NULL,
  reason             TEXT NOT NULL,
  status             TEXT NOT NULL,
  message            TEXT NOT NULL DEFAULT '',
  streams_moved      INTEGER NOT NULL,
  instances_affected INTEGER NOT NULL,
  execution_time_ms  REAL NOT NULL,
  remaining_moves    INTEGER NOT NULL DEFAULT 0,
  executed_at        INTEGER NOT NULL,
  details            TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS orchestrator_instance_metrics (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  server_id        TEXT NOT NULL,
  cpu_percent      REAL,
  memory_percent   REAL,
  memory_used_gb   REAL,
  memory_total_gb  REAL,
  disk_percent     REAL,
  disk_free_gb     REAL,
  disk_total_gb    REAL,
  load_average_1m  REAL,
  load_average_5m  REAL,
  load_average_15m REAL,
  uptime_seconds   INTEGER,
  recorded_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orchestrator_instance_metrics_server_time
  ON orchestrator_instance_metrics (server_id, recorded_at);
INSERT OR IGNORE INTO orchestrator_meta (key, value) VALUES ('schema_version', 1);
INSERT OR IGNORE INTO orchestrator_meta (key, value) VALUES ('epoch', 0);
)sql";

const char* text_column(sqlite3_stmt* stmt, int column) {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
  return text != nullptr ? text : "";
}

/// Finalizes a statement when it goes out of scope.
struct statement_guard {
  sqlite3_stmt* stmt = nullptr;
  ~statement_guard() {
    sqlite3_finalize(stmt);
  }
};

} // namespace

struct sqlite_store::statements {
  sqlite3_stmt* put_worker = nullptr;
  sqlite3_stmt* erase_worker = nullptr;
  sqlite3_stmt* put_assignment = nullptr;
  sqlite3_stmt* erase_assignment = nullptr;
  sqlite3_stmt* put_stream = nullptr;
  sqlite3_stmt* erase_stream = nullptr;
  sqlite3_stmt* set_epoch = nullptr;

  ~statements() {
    for (auto* stmt : {put_worker, erase_worker, put_assignment,
                       erase_assignment, put_stream, erase_stream, set_epoch})
      sqlite3_finalize(stmt);
  }
};

caf::expected<std::unique_ptr<sqlite_store>>
sqlite_store::open(const std::string& path) {
  sqlite3* db = nullptr;
  auto rc = sqlite3_open_v2(path.c_str(), &db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                              | SQLITE_OPEN_NOMUTEX,
                            nullptr);
  if (rc != SQLITE_OK) {
    std::string text = "cannot open SQLite database " + path + ": "
                       + (db != nullptr ? sqlite3_errmsg(db)
                                        : sqlite3_errstr(rc));
    sqlite3_close(db);
    return make_error(errc::store_unavailable, std::move(text));
  }
  std::unique_ptr<sqlite_store> result{new sqlite_store(db, path)};
  // Another process holding the file gets a few seconds before we fail.
  sqlite3_busy_timeout(db, 5000);
  for (auto* pragma : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;"})
    if (auto err = result->exec(pragma))
      return err;
  if (auto err = result->exec(schema_sql))
    return err;
  if (auto err = result->migrate())
    return err;
  if (auto err = result->prepare_statements())
    return err;
  return result;
}

sqlite_store::sqlite_store(sqlite3* db, std::string path)
  : db_(db), path_(std::move(path)) {
}

sqlite_store::~sqlite_store() {
  statements_.reset();
  sqlite3_close(db_);
}

std::string sqlite_store::describe() const {
  return "sqlite:" + path_;
}

caf::error sqlite_store::failure(const char* what) const {
  return make_error(errc::store_unavailable,
                    std::string{what} + " failed on " + path_ + ": "
                      + sqlite3_errmsg(db_));
}

caf::error sqlite_store::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK)
    return caf::none;
  std::string text = "SQLite statement failed on " + path_ + ": "
                     + (message != nullptr ? message : "unknown error");
  sqlite3_free(message);
  return make_error(errc::store_unavailable, std::move(text));
}

caf::error sqlite_store::migrate() {
  // Columns added after the first schema; a database written by an older
  // build gains them with their defaults.
  struct column {
    const char* name;
    const char* definition;
  };
  const column added[] = {
    {"weight", "ALTER TABLE orchestrator_instances ADD COLUMN weight REAL "
               "NOT NULL DEFAULT 1"},
    {"draining", "ALTER TABLE orchestrator_instances ADD COLUMN draining "
                 "INTEGER NOT NULL DEFAULT 0"},
    {"worker_type", "ALTER TABLE orchestrator_instances ADD COLUMN "
                    "worker_type TEXT NOT NULL DEFAULT ''"},
  };
  std::set<std::string> present;
  {
    statement_guard guard;
    if (sqlite3_prepare_v2(db_, "PRAGMA table_info(orchestrator_instances)",
                           -1, &guard.stmt, nullptr)
        != SQLITE_OK)
      return failure("reading the schema");
    while (sqlite3_step(guard.stmt) == SQLITE_ROW)
      present.insert(text_column(guard.stmt, 1));
  }
  for (const auto& c : added)
    if (present.count(c.name) == 0)
      if (auto err = exec(c.definition))
        return err;
  return caf::none;
}

caf::error sqlite_store::prepare_statements() {
  statements_ = std::make_unique<statements>();
  struct entry {
    sqlite3_stmt** target;
    const char* sql;
  };
  const entry entries[] = {
    {&statements_->put_worker,
     "INSERT INTO orchestrator_instances (server_id, ip, port, max_streams, "
     "status, registered_at, last_heartbeat, reported_status, weight, "
     "draining, worker_type) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
     "?10, ?11) ON CONFLICT (server_id) DO UPDATE SET ip = ?2, port = ?3, "
     "max_streams = ?4, status = ?5, registered_at = ?6, "
     "last_heartbeat = ?7, reported_status = ?8, weight = ?9, "
     "draining = ?10, worker_type = ?11"},
    {&statements_->erase_worker,
     "DELETE FROM orchestrator_instances WHERE server_id = ?1"},
    {&statements_->put_assignment,
     "INSERT INTO orchestrator_stream_assignments (stream_id, server_id, "
     "epoch, assigned_at, status) VALUES (?1, ?2, ?3, ?4, 'active') "
     "ON CONFLICT (stream_id) DO UPDATE SET server_id = ?2, epoch = ?3, "
     "assigned_at = ?4, status = 'active'"},
    {&statements_->erase_assignment,
     "DELETE FROM orchestrator_stream_assignments WHERE stream_id = ?1"},
    {&statements_->put_stream,
     "INSERT INTO streams (id, url, name, metadata) VALUES (?1, ?2, ?3, ?4) "
     "ON CONFLICT (id) DO UPDATE SET url = ?2, name = ?3, metadata = ?4"},
    {&statements_->erase_stream, "DELETE FROM streams WHERE id = ?1"},
    {&statements_->set_epoch,
     "UPDATE orchestrator_meta SET value = ?1 WHERE key = 'epoch'"},
  };
  for (const auto& e : entries)
    if (sqlite3_prepare_v2(db_, e.sql, -1, e.target, nullptr) != SQLITE_OK)
      return failure("preparing a statement");
  return caf::none;
}

caf::expected<store_snapshot> sqlite_store::load() {
  store_snapshot result;
  auto query = [this](const char* sql, auto&& on_row) -> caf::error {
    statement_guard guard;
    if (sqlite3_prepare_v2(db_, sql, -1, &guard.stmt, nullptr) != SQLITE_OK)
      return failure("preparing a query");
    int rc;
    while ((rc = sqlite3_step(guard.stmt)) == SQLITE_ROW)
      on_row(guard.stmt);
    if (rc != SQLITE_DONE)
      return failure("reading the store");
    return caf::none;
  };

  auto err = query(
    "SELECT server_id, ip, port, max_streams, status, registered_at, "
    "last_heartbeat, reported_status, weight, draining, worker_type "
    "FROM orchestrator_instances",
    [&](sqlite3_stmt* s) {
      worker_row row;
      row.server_id = text_column(s, 0);
      row.ip = text_column(s, 1);
      row.port = static_cast<std::uint16_t>(sqlite3_column_int(s, 2));
      row.max_streams = static_cast<std::uint32_t>(sqlite3_column_int64(s, 3));
      row.state = std::string{text_column(s, 4)} == "dead"
                    ? worker_state::dead
                    : worker_state::active;
      row.registered_at_ms = sqlite3_column_int64(s, 5);
      row.last_heartbeat_ms = sqlite3_column_int64(s, 6);
      row.reported_status = text_column(s, 7);
      row.weight = sqlite3_column_double(s, 8);
      if (!(row.weight > 0))
        row.weight = 1;
      row.draining = sqlite3_column_int(s, 9) != 0;
      row.worker_type = text_column(s, 10);
      result.workers.push_back(std::move(row));
    });
  if (err)
    return err;

  err = query("SELECT stream_id, server_id, epoch, assigned_at "
              "FROM orchestrator_stream_assignments",
              [&](sqlite3_stmt* s) {
                assignment_row row;
                row.stream_id = sqlite3_column_int64(s, 0);
                row.server_id = text_column(s, 1);
                row.epoch = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
                row.assigned_at_ms = sqlite3_column_int64(s, 3);
                result.assignments.push_back(std::move(row));
              });
  if (err)
    return err;

  err = query("SELECT id, url, name, metadata FROM streams",
              [&](sqlite3_stmt* s) {
                stream_row row;
                row.id = sqlite3_column_int64(s, 0);
                row.url = text_column(s, 1);
                row.name = text_column(s, 2);
                row.metadata = text_column(s, 3);
                result.streams.push_back(std::move(row));
              });
  if (err)
    return err;

  err = query("SELECT value FROM orchestrator_meta WHERE key = 'epoch'",
              [&](sqlite3_stmt* s) {
                result.epoch
                  = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
              });
  if (err)
    return err;
  return result;
}

caf::error sqlite_store::write(const change& c) {
  sqlite3_stmt* stmt = nullptr;
  switch (c.kind) {
    case change_kind::put_worker:
      stmt = statements_->put_worker;
      sqlite3_bind_text(stmt, 1, c.worker.server_id.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 2, c.worker.ip.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int(stmt, 3, c.worker.port);
      sqlite3_bind_int64(stmt, 4, c.worker.max_streams);
      sqlite3_bind_text(stmt, 5, to_string(c.worker.state), -1, SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 6, c.worker.registered_at_ms);
      sqlite3_bind_int64(stmt, 7, c.worker.last_heartbeat_ms);
      sqlite3_bind_text(stmt, 8, c.worker.reported_status.c_str(), -1,
                        SQLITE_STATIC);
      sqlite3_bind_double(stmt, 9, c.worker.weight);
      sqlite3_bind_int(stmt, 10, c.worker.draining ? 1 : 0);
      sqlite3_bind_text(stmt, 11, c.worker.worker_type.c_str(), -1,
                        SQLITE_STATIC);
      break;
    case change_kind::erase_worker:
      stmt = statements_->erase_worker;
      sqlite3_bind_text(stmt, 1, c.worker.server_id.c_str(), -1, SQLITE_STATIC);
      break;
    case change_kind::put_assignment:
      stmt = statements_->put_assignment;
      sqlite3_bind_int64(stmt, 1, c.assignment.stream_id);
      sqlite3_bind_text(stmt, 2, c.assignment.server_id.c_str(), -1,
                        SQLITE_STATIC);
      sqlite3_bind_int64(stmt, 3, static_cast<sqlite3_int64>(c.assignment.epoch));
      sqlite3_bind_int64(stmt, 4, c.assignment.assigned_at_ms);
      break;
    case change_kind::erase_assignment:
      stmt = statements_->erase_assignment;
      sqlite3_bind_int64(stmt, 1, c.assignment.stream_id);
      break;
    case change_kind::put_stream:
      stmt = statements_->put_stream;
      sqlite3_bind_int64(stmt, 1, c.stream.id);
      sqlite3_bind_text(stmt, 2, c.stream.url.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 3, c.stream.name.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_text(stmt, 4, c.stream.metadata.c_str(), -1, SQLITE_STATIC);
      break;
    case change_kind::erase_stream:
      stmt = statements_->erase_stream;
      sqlite3_bind_int64(stmt, 1, c.stream.id);
      break;
    case change_kind::set_epoch:
      stmt = statements_->set_epoch;
      sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(c.epoch));
      break;
  }
  auto rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (rc != SQLITE_DONE)
    return failure("writing a change");
  return caf::none;
}

caf::error sqlite_store::append_rebalance(const rebalance_report& report) {
  // The moves and affected workers are kept as JSON, as they vary in
  // number.
  auto details = encode_history_details(report);

  statement_guard guard;
  const char* sql = "INSERT INTO orchestrator_rebalance_history (rebalance_type, "
                    "reason, status, message, streams_moved, instances_affected, "
                    "execution_time_ms, remaining_moves, executed_at, details) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
  if (sqlite3_prepare_v2(db_, sql, -1, &guard.stmt, nullptr) != SQLITE_OK)
    return failure("preparing the rebalance record");
  auto* s = guard.stmt;
  sqlite3_bind_text(s, 1, report.method.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, report.reason.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, report.status.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, report.message.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, static_cast<sqlite3_int64>(report.moved));
  sqlite3_bind_int64(s, 6, static_cast<sqlite3_int64>(report.workers_affected.size()));
  sqlite3_bind_double(s, 7, report.duration_ms);
  sqlite3_bind_int64(s, 8, static_cast<sqlite3_int64>(report.remaining));
  sqlite3_bind_int64(s, 9, report.started_at_ms);
  sqlite3_bind_text(s, 10, details.c_str(), -1, SQLITE_TRANSIENT);

  if (sqlite3_step(s) != SQLITE_DONE)
    return failure("writing the rebalance record");
  return caf::none;
}

caf::expected<rebalance_history> sqlite_store::load_rebalances(std::size_t limit) {
  rebalance_history result;
  auto read = [this](const char* sql, auto&& on_row) -> caf::error {
    statement_guard guard;
    if (sqlite3_prepare_v2(db_, sql, -1, &guard.stmt, nullptr) != SQLITE_OK)
      return failure("preparing a history query");
    int rc;
    while ((rc = sqlite3_step(guard.stmt)) == SQLITE_ROW)
      on_row(guard.stmt);
    if (rc != SQLITE_DONE)
      return failure("reading the rebalance history");
    return caf::none;
  };

  auto& totals = result.totals;
  auto err = read("SELECT COUNT(*), COALESCE(SUM(status = 'completed'), 0), "
                  "COALESCE(SUM(streams_moved), 0), "
                  "COALESCE(SUM(execution_time_ms), 0) "
                  "FROM orchestrator_rebalance_history",
                  [&](sqlite3_stmt* s) {
                    totals.total = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
                    totals.successful
                      = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
                    totals.streams_moved
                      = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
                    totals.total_duration_ms = sqlite3_column_double(s, 3);
                  });
  if (err)
    return err;

  err = read("SELECT reason, SUM(streams_moved) FROM "
             "orchestrator_rebalance_history GROUP BY reason",
             [&](sqlite3_stmt* s) {
               totals.moved_by_reason[text_column(s, 0)]
                 = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
             });
  if (err)
    return err;

  // The newest rounds, with their moves.
  auto query = "SELECT id, rebalance_type, reason, status, message, "
               "streams_moved, execution_time_ms, remaining_moves, executed_at, "
               "details FROM orchestrator_rebalance_history ORDER BY id DESC "
               "LIMIT "
               + std::to_string(limit);
  err = read(query.c_str(), [&](sqlite3_stmt* s) {
    rebalance_report report;
    report.id = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
    report.method = text_column(s, 1);
    report.reason = text_column(s, 2);
    report.status = text_column(s, 3);
    report.message = text_column(s, 4);
    report.moved = static_cast<std::uint64_t>(sqlite3_column_int64(s, 5));
    report.planned = report.moved;
    report.duration_ms = sqlite3_column_double(s, 6);
    report.remaining = static_cast<std::uint64_t>(sqlite3_column_int64(s, 7));
    report.started_at_ms = sqlite3_column_int64(s, 8);
    decode_history_details(text_column(s, 9), report);
    result.recent.push_back(std::move(report));
  });
  if (err)
    return err;

  if (!result.recent.empty())
    totals.last = {result.recent.front()};
  return result;
}

caf::error sqlite_store::append_samples(const std::vector<worker_sample>& samples) {
  if (samples.empty())
    return caf::none;
  statement_guard guard;
  const char* sql = "INSERT INTO orchestrator_instance_metrics (server_id, "
                    "cpu_percent, memory_percent, memory_used_gb, "
                    "memory_total_gb, disk_percent, disk_free_gb, disk_total_gb, "
                    "load_average_1m, load_average_5m, load_average_15m, "
                    "uptime_seconds, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
  if (sqlite3_prepare_v2(db_, sql, -1, &guard.stmt, nullptr) != SQLITE_OK)
    return failure("preparing the metrics record");
  if (auto err = exec("BEGIN IMMEDIATE;"))
    return err;
  for (const auto& s : samples) {
    const auto& m = s.sample;
    auto* stmt = guard.stmt;
    sqlite3_bind_text(stmt, 1, s.server_id.c_str(), -1, SQLITE_STATIC);
    const double values[] = {m.cpu_percent,    m.memory_percent, m.memory_used_gb,
                             m.memory_total_gb, m.disk_percent,  m.disk_free_gb,
                             m.disk_total_gb};
    for (int i = 0; i < 7; ++i)
      sqlite3_bind_double(stmt, 2 + i, values[i]);
    // A sample without a load average or an uptime keeps NULL there, so
    // that reading it back gives the sample that was sent.
    if (m.load_average.size() == 3)
      for (int i = 0; i < 3; ++i)
        sqlite3_bind_double(stmt, 9 + i, m.load_average[static_cast<std::size_t>(i)]);
    if (m.uptime_seconds >= 0)
      sqlite3_bind_double(stmt, 12, m.uptime_seconds);
    sqlite3_bind_int64(stmt, 13, m.recorded_at_ms);
    auto rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) {
      auto err = failure("writing worker metrics");
      exec("ROLLBACK;");
      return err;
    }
  }
  return exec("COMMIT;");
}

caf::expected<std::vector<metrics_sample>>
sqlite_store::load_samples(const std::string& server_id, std::int64_t since_ms,
                           std::size_t limit) {
  // The index on (server_id, recorded_at) ends in the rowid, so it serves
  // both the range and the order without sorting.
  statement_guard guard;
  const char* sql = "SELECT cpu_percent, memory_percent, memory_used_gb, "
                    "memory_total_gb, disk_percent, disk_free_gb, disk_total_gb, "
                    "load_average_1m, load_average_5m, load_average_15m, "
                    "uptime_seconds, recorded_at FROM orchestrator_instance_metrics "
                    "WHERE server_id = ?1 AND recorded_at >= ?2 "
                    "ORDER BY recorded_at DESC, id DESC LIMIT ?3";
  if (sqlite3_prepare_v2(db_, sql, -1, &guard.stmt, nullptr) != SQLITE_OK)
    return failure("preparing the metrics history query");
  auto* s = guard.stmt;
  sqlite3_bind_text(s, 1, server_id.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, since_ms);
  sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(limit));

  std::vector<metrics_sample> result;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    metrics_sample m;
    m.cpu_percent = sqlite3_column_double(s, 0);
    m.memory_percent = sqlite3_column_double(s, 1);
    m.memory_used_gb = sqlite3_column_double(s, 2);
    m.memory_total_gb = sqlite3_column_double(s, 3);
    m.disk_percent = sqlite3_column_double(s, 4);
    m.disk_free_gb = sqlite3_column_double(s, 5);
    m.disk_total_gb = sqlite3_column_double(s, 6);
    bool has_load = true;
    for (int i = 7; i < 10; ++i)
      has_load = has_load && sqlite3_column_type(s, i) != SQLITE_NULL;
    if (has_load)
      m.load_average = {sqlite3_column_double(s, 7), sqlite3_column_double(s, 8),
                        sqlite3_column_double(s, 9)};
    if (sqlite3_column_type(s, 10) != SQLITE_NULL)
      m.uptime_seconds = sqlite3_column_double(s, 10);
    m.recorded_at_ms = sqlite3_column_int64(s, 11);
    result.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE)
    return failure("reading the metrics history");
  return result;
}

caf::expected<std::size_t> sqlite_store::delete_samples_before(std::int64_t before_ms,
                                                               std::size_t batch) {
  // Rows arrive in time order, so the oldest ones by id are the first to
  // expire. Walking the rowid avoids an index on recorded_at alone, which
  // every insert would have to maintain.
  statement_guard guard;
  const char* sql = "DELETE FROM orchestrator_instance_metrics WHERE id IN "
                    "(SELECT id FROM orchestrator_instance_metrics ORDER BY id "
                    "LIMIT ?2) AND recorded_at < ?1";
  if (sqlite3_prepare_v2(db_, sql, -1, &guard.stmt, nullptr) != SQLITE_OK)
    return failure("preparing the metrics retention");
  sqlite3_bind_int64(guard.stmt, 1, before_ms);
  sqlite3_bind_int64(guard.stmt, 2, static_cast<sqlite3_int64>(batch));
  if (sqlite3_step(guard.stmt) != SQLITE_DONE)
    return failure("deleting expired worker metrics");
  return static_cast<std::size_t>(sqlite3_changes(db_));
}

caf::error sqlite_store::commit(const std::vector<change>& changes) {
  if (changes.empty())
    return caf::none;
  if (auto err = exec("BEGIN IMMEDIATE;"))
    return err;

  // Each epoch update overwrites the previous one, so only the last is
  // written.
  std::size_t last_epoch = changes.size();
  for (std::size_t i = 0; i < changes.size(); ++i)
    if (changes[i].kind == change_kind::set_epoch)
      last_epoch = i;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    if (changes[i].kind == change_kind::set_epoch && i != last_epoch)
      continue;
    if (auto err = write(changes[i])) {
      exec("ROLLBACK;");
      return err;
    }
  }
  if (auto err = exec("COMMIT;")) {
    exec("ROLLBACK;");
    return err;
  }
  return caf::none;
}

} // namespace orchestrator
