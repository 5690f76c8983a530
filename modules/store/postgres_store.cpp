#include "modules/store/postgres_store.hpp"

#include "actors/errors.hpp"
#include "modules/store/history_details.hpp"
#include "actors/logging.hpp"

#include <libpq-fe.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <string_view>
#include <thread>

namespace orchestrator {

namespace {

using json = nlohmann::json;

// The two keys of the advisory lock that elects the leader: "orch" and 1.
// Advisory locks belong to one database, so servers on other databases of
// the same PostgreSQL cluster do not compete.
constexpr int lock_class = 0x6f726368;
constexpr int lock_object = 1;

// The Python server's tables as it created them, for an empty database. On a
// database the Python server made, these statements change nothing.
constexpr const char* python_tables_sql = R"sql(
CREATE TABLE IF NOT EXISTS orchestrator_instances (
  id              SERIAL PRIMARY KEY,
  server_id       VARCHAR(255) UNIQUE NOT NULL,
  ip              VARCHAR(255) NOT NULL,
  port            INTEGER NOT NULL,
  max_streams     INTEGER NOT NULL DEFAULT 20,
  current_streams INTEGER NOT NULL DEFAULT 0,
  status          VARCHAR(50) NOT NULL DEFAULT 'active',
  registered_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_heartbeat  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS orchestrator_stream_assignments (
  id          SERIAL PRIMARY KEY,
  stream_id   BIGINT UNIQUE NOT NULL,
  server_id   VARCHAR(255) NOT NULL,
  assigned_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  status      VARCHAR(50) NOT NULL DEFAULT 'active'
);
CREATE TABLE IF NOT EXISTS orchestrator_instance_metrics (
  id               SERIAL PRIMARY KEY,
  server_id        VARCHAR(255) NOT NULL,
  cpu_percent      DOUBLE PRECISION,
  memory_percent   DOUBLE PRECISION,
  memory_used_gb   DOUBLE PRECISION,
  memory_total_gb  DOUBLE PRECISION,
  disk_percent     DOUBLE PRECISION,
  disk_free_gb     DOUBLE PRECISION,
  disk_total_gb    DOUBLE PRECISION,
  load_average_1m  DOUBLE PRECISION,
  load_average_5m  DOUBLE PRECISION,
  load_average_15m DOUBLE PRECISION,
  uptime_seconds   BIGINT,
  recorded_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS orchestrator_rebalance_history (
  id                 SERIAL PRIMARY KEY,
  rebalance_type     VARCHAR(50) NOT NULL,
  streams_moved      INTEGER NOT NULL DEFAULT 0,
  instances_affected INTEGER NOT NULL DEFAULT 0,
  reason             TEXT,
  executed_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
)sql";

// Columns and tables this server adds. Every added column has a default, so
// the Python server's INSERTs, which do not name them, keep working.
constexpr const char* our_additions_sql = R"sql(
ALTER TABLE orchestrator_instances
  ADD COLUMN IF NOT EXISTS reported_status TEXT NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS weight DOUBLE PRECISION NOT NULL DEFAULT 1,
  ADD COLUMN IF NOT EXISTS draining BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS worker_type TEXT NOT NULL DEFAULT '';
ALTER TABLE orchestrator_stream_assignments
  ADD COLUMN IF NOT EXISTS epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orchestrator_rebalance_history
  ADD COLUMN IF NOT EXISTS status TEXT NOT NULL DEFAULT 'completed',
  ADD COLUMN IF NOT EXISTS message TEXT NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS execution_time_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS remaining_moves BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS details TEXT NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS orchestrator_stream_assignments_server_id_idx
  ON orchestrator_stream_assignments (server_id);
CREATE INDEX IF NOT EXISTS orchestrator_instance_metrics_server_time_idx
  ON orchestrator_instance_metrics (server_id, recorded_at);
CREATE TABLE IF NOT EXISTS orchestrator_meta (
  key   TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO orchestrator_meta (key, value) VALUES ('epoch', 0)
  ON CONFLICT (key) DO NOTHING;
INSERT INTO orchestrator_meta (key, value) VALUES ('schema_version', 1)
  ON CONFLICT (key) DO NOTHING;
)sql";

// Sets each worker's current_streams to the count of its live assignment
// rows; the callers narrow it down with more conditions.
constexpr const char* recount_sql
  = "UPDATE orchestrator_instances i SET current_streams = (SELECT count(*) "
    "FROM orchestrator_stream_assignments a WHERE a.server_id = i.server_id "
    "AND (a.status IS NULL OR a.status = 'active')) WHERE true";

constexpr const char* leader_table_sql = R"sql(
CREATE TABLE IF NOT EXISTS orchestrator_leader (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  address TEXT NOT NULL,
  pid     INTEGER NOT NULL,
  since   TIMESTAMPTZ NOT NULL DEFAULT now()
);
)sql";

// Times are milliseconds since the epoch in our rows and TIMESTAMP columns
// in the Python tables. The session's time zone is UTC, so these two
// expressions convert both ways whether a column has a time zone or not.
std::string millis_of(const std::string& column) {
  return "(EXTRACT(EPOCH FROM " + column + "::timestamptz) * 1000)::bigint";
}

/// Builds a PostgreSQL array literal of text values.
std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

template <class T>
std::string number_array(const std::vector<T>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    if constexpr (std::is_same_v<T, bool>)
      out += values[i] ? "t" : "f";
    else
      out += pqxx::to_string(values[i]);
  }
  out += '}';
  return out;
}

/// Builds an array literal in which an empty value is NULL.
template <class T>
std::string number_array(const std::vector<std::optional<T>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    out += values[i] ? pqxx::to_string(*values[i]) : std::string{"NULL"};
  }
  out += '}';
  return out;
}

/// Parses `connection` with libpq, so that URLs and key=value strings are
/// read the same way the connection itself reads them.
std::map<std::string, std::string> parse_connection(const std::string& connection) {
  std::map<std::string, std::string> result;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(connection.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return result;
  }
  for (auto* o = options; o->keyword != nullptr; ++o)
    if (o->val != nullptr && *o->val != '\0')
      result[o->keyword] = o->val;
  PQconninfoFree(options);
  return result;
}

/// Connection parameters added unless the operator set them: without the
/// keepalives and timeouts a leader cut off from its database would notice
/// only after the kernel's TCP timeout, minutes later.
constexpr std::pair<const char*, const char*> connection_defaults[] = {
  {"connect_timeout", "5"},     {"keepalives", "1"},
  {"keepalives_idle", "5"},     {"keepalives_interval", "2"},
  {"keepalives_count", "3"},    {"tcp_user_timeout", "10000"},
  {"application_name", "stream-orchestrator"},
};

/// Returns the value of connection parameter `key`: the operator's, else
/// the default, else "".
std::string connection_value(const std::map<std::string, std::string>& given,
                             std::string_view key) {
  if (auto i = given.find(std::string{key}); i != given.end())
    return i->second;
  for (const auto& [name, value] : connection_defaults)
    if (key == name)
      return value;
  return {};
}

/// Adds connection_defaults' parameters that the operator did not set.
std::string with_timeouts(const std::string& connection,
                          const std::map<std::string, std::string>& given) {
  const auto& defaults = connection_defaults;
  bool url = connection.rfind("postgresql://", 0) == 0
             || connection.rfind("postgres://", 0) == 0;
  std::string result = connection;
  for (const auto& [key, value] : defaults) {
    if (given.count(key) != 0)
      continue;
    if (url)
      result += (result.find('?') == std::string::npos ? "?" : "&")
                + std::string{key} + "=" + value;
    else
      result += " " + std::string{key} + "=" + value;
  }
  return result;
}

/// Maps a stored status string to our two states. The Python server stored
/// a worker's reported status verbatim, so any status that does not mean
/// "gone" counts as active. The failure detector decides from there.
worker_state state_of(const std::string& status) {
  static const std::set<std::string> gone{"dead", "inactive", "failed",
                                          "offline", "removed", "stopped"};
  return gone.count(status) != 0 ? worker_state::dead : worker_state::active;
}

} // namespace

std::string postgres_store::redact(const std::string& connection) {
  auto parts = parse_connection(connection);
  auto part = [&](const char* key, const char* fallback) {
    auto i = parts.find(key);
    return i != parts.end() ? i->second : std::string{fallback};
  };
  auto user = part("user", "");
  return "postgresql://" + (user.empty() ? std::string{} : user + "@")
         + part("host", "localhost") + ":" + part("port", "5432") + "/"
         + part("dbname", user.empty() ? "postgres" : user.c_str());
}

bool postgres_store::valid_table_name(const std::string& name) {
  static const std::regex pattern{
    "[A-Za-z_][A-Za-z0-9_]{0,62}(\\.[A-Za-z_][A-Za-z0-9_]{0,62})?"};
  return std::regex_match(name, pattern);
}

postgres_store::postgres_store(postgres_settings settings,
                               std::shared_ptr<node_state> node)
  : settings_(std::move(settings)), node_(std::move(node)) {
  redacted_ = redact(settings_.connection);
  auto parts = parse_connection(settings_.connection);
  if (auto i = parts.find("password"); i != parts.end())
    password_ = i->second;
}

postgres_store::~postgres_store() = default;

std::string postgres_store::describe() const {
  return redacted_;
}

caf::error postgres_store::failure(const char* what, const std::exception& e) const {
  std::string text = e.what();
  // libpq does not echo passwords, but an error may quote the connection
  // string's parts; the password must never reach a log.
  if (!password_.empty())
    for (auto at = text.find(password_); at != std::string::npos;
         at = text.find(password_, at))
      text.replace(at, password_.size(), "***");
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return make_error(errc::store_unavailable,
                    std::string{what} + " failed on " + redacted_ + ": " + text);
}

namespace {

/// Gives the server's end of the connection the client's keepalive
/// settings. The leader's advisory lock lasts as long as its session, and
/// by default PostgreSQL notices a peer cut off by the network only after
/// the system's keepalive time, two hours on Linux. With these settings it
/// ends the session, and frees the lock for a standby, about as soon as the
/// leader itself gives up the connection.
void set_server_keepalives(pqxx::nontransaction& work,
                           const std::map<std::string, std::string>& given) {
  if (connection_value(given, "keepalives") == "0")
    return;
  const std::pair<const char*, const char*> settings[] = {
    {"tcp_keepalives_idle", "keepalives_idle"},
    {"tcp_keepalives_interval", "keepalives_interval"},
    {"tcp_keepalives_count", "keepalives_count"},
    {"tcp_user_timeout", "tcp_user_timeout"},
  };
  for (const auto& [server_name, client_name] : settings) {
    auto value = connection_value(given, client_name);
    // Only digits reach the statement: the value comes from the operator's
    // connection string.
    if (value.empty() || value.size() > 9
        || value.find_first_not_of("0123456789") != std::string::npos)
      continue;
    try {
      work.exec(std::string{"SET "} + server_name + " = " + value);
    } catch (const std::exception& e) {
      // A server before PostgreSQL 12 has no tcp_user_timeout, and the
      // other settings still apply.
      logger("store")->warn("postgres-setting-failed setting={} value={} "
                            "error=\"{}\"",
                            server_name, value, e.what());
    }
  }
}

} // namespace

caf::error postgres_store::connect() {
  connection_.reset();
  try {
    auto parts = parse_connection(settings_.connection);
    connection_ = std::make_unique<pqxx::connection>(
      with_timeouts(settings_.connection, parts));
    pqxx::nontransaction work{*connection_};
    // CREATE ... IF NOT EXISTS reports existing tables as notices, which
    // libpq would print to stderr.
    work.exec("SET client_min_messages = warning");
    work.exec("SET TIME ZONE 'UTC'");
    set_server_keepalives(work, parts);
    return caf::none;
  } catch (const std::exception& e) {
    connection_.reset();
    return failure("connecting", e);
  }
}

caf::expected<bool> postgres_store::try_lock() {
  if (!connection_)
    return make_error(errc::store_unavailable, "not connected to " + redacted_);
  try {
    pqxx::nontransaction work{*connection_};
    auto row = work.exec_params1("SELECT pg_try_advisory_lock($1, $2)",
                                 lock_class, lock_object);
    return row[0].as<bool>();
  } catch (const std::exception& e) {
    return failure("taking the leader lock", e);
  }
}

caf::expected<std::unique_ptr<postgres_store>>
postgres_store::open(const postgres_settings& settings,
                     std::shared_ptr<node_state> node, bool wait,
                     const std::function<bool()>& keep_waiting) {
  if (!valid_table_name(settings.catalog_table))
    return make_error(errc::invalid_request,
                      "invalid catalogue table name '" + settings.catalog_table
                        + "'; use letters, digits and _, as TABLE or "
                          "SCHEMA.TABLE");
  std::unique_ptr<postgres_store> result{new postgres_store(settings, node)};
  auto log = logger("store");

  // The database may still be starting along with us: retry for a while.
  auto give_up = std::chrono::steady_clock::now() + settings.connect_patience;
  std::chrono::milliseconds pause{200};
  for (;;) {
    auto err = result->connect();
    if (!err)
      break;
    if (!wait || std::chrono::steady_clock::now() >= give_up || !keep_waiting())
      return err;
    node->set_store_error(orchestrator::describe(err));
    log->warn("store-connect-failed error=\"{}\" retry_in_ms={}", orchestrator::describe(err),
              pause.count());
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{5000});
  }

  // A session that just closed, such as this server's own before a store
  // restart, may hold the lock for a moment longer while PostgreSQL ends it.
  auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds{2};
  bool announced = false;
  for (;;) {
    auto locked = result->try_lock();
    if (!locked && wait) {
      // A standby outlives a database outage: it reconnects and waits on.
      node->set_store_error(orchestrator::describe(locked.error()));
      log->warn("standby-store-lost error=\"{}\" retry_in_ms={}",
                orchestrator::describe(locked.error()), settings.standby_poll.count());
      if (!keep_waiting())
        return make_error(errc::not_ready, "stopped while waiting for the "
                                           "leader lock");
      std::this_thread::sleep_for(std::max(settings.standby_poll,
                                           std::chrono::milliseconds{1000}));
      if (!result->connect()) {
        node->set_store_error({});
        // The leader lost its session too and retakes the lock at its next
        // check, within a second: let it, so that a database restart does
        // not also move the leadership.
        std::this_thread::sleep_for(std::chrono::seconds{3});
      }
      continue;
    }
    if (!locked)
      return locked.error();
    if (*locked)
      break;
    if (!wait && std::chrono::steady_clock::now() < grace_end) {
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
      continue;
    }
    std::string leader;
    try {
      pqxx::nontransaction work{*result->connection_};
      auto rows = work.exec(
        "SELECT address FROM orchestrator_leader WHERE id = 1 AND "
        "to_regclass('orchestrator_leader') IS NOT NULL");
      if (!rows.empty())
        leader = rows[0][0].c_str();
    } catch (const pqxx::undefined_table&) {
      // No server has led this database yet.
    } catch (const std::exception& e) {
      return result->failure("reading the leader's address", e);
    }
    node->follow(leader);
    if (!wait)
      return make_error(errc::lock_held,
                        "another server holds the leader lock on "
                          + result->redacted_ + " (leader: "
                          + (leader.empty() ? "unknown" : leader) + ")");
    if (!announced) {
      log->info("standby-waiting store={} leader={}", result->redacted_,
                leader.empty() ? "unknown" : leader);
      announced = true;
    }
    if (!keep_waiting())
      return make_error(errc::not_ready, "stopped while waiting for the "
                                         "leader lock");
    std::this_thread::sleep_for(settings.standby_poll);
  }
  if (auto err = result->prepare_schema())
    return err;
  node->set_store_error({});
  return result;
}

caf::error postgres_store::prepare_schema() {
  try {
    pqxx::work work{*connection_};
    work.exec(python_tables_sql);
    work.exec(our_additions_sql);
    work.exec(leader_table_sql);
    // The Python server kept these counts from heartbeats; from now on they
    // follow the assignment rows.
    work.exec(recount_sql);
    work.exec_params("INSERT INTO orchestrator_leader (id, address, pid, since) "
                     "VALUES (1, $1, $2, now()) ON CONFLICT (id) DO UPDATE SET "
                     "address = $1, pid = $2, since = now()",
                     settings_.advertise, static_cast<int>(::getpid()));

    // The catalogue belongs to the deployment. It is created only when it is
    // missing, and its columns are recorded so that writes touch only those.
    auto dot = settings_.catalog_table.find('.');
    std::string schema = dot == std::string::npos
                           ? std::string{"public"}
                           : settings_.catalog_table.substr(0, dot);
    std::string table = dot == std::string::npos
                          ? settings_.catalog_table
                          : settings_.catalog_table.substr(dot + 1);
    catalog_ = (dot == std::string::npos ? "" : work.quote_name(schema) + ".")
               + work.quote_name(table);
    work.exec("CREATE TABLE IF NOT EXISTS " + catalog_
              + " (id BIGSERIAL PRIMARY KEY, url TEXT NOT NULL, "
                "name TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL "
                "DEFAULT '{}')");
    catalog_columns_.clear();
    for (const auto& row : work.exec_params(
           "SELECT column_name FROM information_schema.columns "
           "WHERE table_schema = $1 AND table_name = $2",
           schema, table))
      catalog_columns_.insert(row[0].c_str());
    for (const char* needed : {"id", "url"})
      if (catalog_columns_.count(needed) == 0)
        return make_error(errc::store_unavailable,
                          "the catalogue table " + settings_.catalog_table
                            + " has no '" + needed
                            + "' column; name the right table with "
                              "--catalog-table");
    work.commit();
    return caf::none;
  } catch (const std::exception& e) {
    return failure("preparing the schema", e);
  }
}

caf::error postgres_store::reconnect() {
  auto log = logger("store");
  if (auto err = connect()) {
    node_->set_store_error(orchestrator::describe(err));
    return err;
  }
  // PostgreSQL may not have ended our broken session yet; its lock goes
  // with it.
  auto locked = try_lock();
  auto grace_end = std::chrono::steady_clock::now() + std::chrono::seconds{2};
  while (locked && !*locked && std::chrono::steady_clock::now() < grace_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
    locked = try_lock();
  }
  if (!locked) {
    node_->set_store_error(orchestrator::describe(locked.error()));
    return locked.error();
  }
  if (!*locked) {
    connection_.reset();
    std::string why = "another server took the leader lock on " + redacted_
                      + " while the connection was down";
    node_->depose(why);
    return make_error(errc::store_unavailable, why);
  }
  // Writers need the lock, and no other server took it meanwhile, so the
  // database still matches our state.
  log->warn("store-reconnected store={} leadership=kept", redacted_);
  node_->set_store_error({});
  return caf::none;
}

template <class Body>
caf::error postgres_store::transact(const char* what, Body&& body) {
  if (node_->current() == node_state::role::deposed)
    return make_error(errc::store_unavailable,
                      "this server lost the leader lock and writes nothing");
  if (!connection_ || !connection_->is_open())
    if (auto err = reconnect())
      return err;
  try {
    pqxx::work work{*connection_};
    body(work);
    work.commit();
    return caf::none;
  } catch (const pqxx::broken_connection& e) {
    // The lock went with the connection; the next call reconnects.
    connection_.reset();
    auto err = failure(what, e);
    node_->set_store_error(orchestrator::describe(err));
    return err;
  } catch (const std::exception& e) {
    if (connection_ && !connection_->is_open())
      connection_.reset();
    return failure(what, e);
  }
}

caf::error postgres_store::check() {
  auto err = transact("checking the connection", [](pqxx::work& work) {
    work.exec("SELECT 1");
  });
  if (!err)
    node_->set_store_error({});
  return err;
}

caf::expected<store_snapshot> postgres_store::load() {
  store_snapshot result;
  std::size_t skipped_streams = 0;
  auto err = transact("loading the state", [&](pqxx::work& work) {
    for (const auto& r : work.exec(
           "SELECT server_id, ip, port, max_streams, status, "
           + millis_of("registered_at") + ", " + millis_of("last_heartbeat")
           + ", reported_status, weight, draining, worker_type "
             "FROM orchestrator_instances")) {
      worker_row row;
      row.server_id = r[0].c_str();
      row.ip = r[1].is_null() ? "" : r[1].c_str();
      row.port = static_cast<std::uint16_t>(r[2].as<int>(0));
      row.max_streams = static_cast<std::uint32_t>(std::max(0, r[3].as<int>(0)));
      row.state = state_of(r[4].is_null() ? "active" : r[4].c_str());
      row.registered_at_ms = r[5].as<std::int64_t>(0);
      row.last_heartbeat_ms = r[6].as<std::int64_t>(0);
      row.reported_status = r[7].c_str();
      row.weight = r[8].as<double>(1);
      if (!(row.weight > 0))
        row.weight = 1;
      row.draining = r[9].as<bool>(false);
      row.worker_type = r[10].c_str();
      result.workers.push_back(std::move(row));
    }
    // Rows the Python server left in another status than 'active' do not
    // own their stream.
    for (const auto& r : work.exec(
           "SELECT stream_id, server_id, epoch, " + millis_of("assigned_at")
           + " FROM orchestrator_stream_assignments "
             "WHERE status IS NULL OR status = 'active'")) {
      assignment_row row;
      row.stream_id = r[0].as<std::int64_t>();
      row.server_id = r[1].c_str();
      row.epoch = static_cast<std::uint64_t>(r[2].as<std::int64_t>(0));
      row.assigned_at_ms = r[3].as<std::int64_t>(0);
      result.assignments.push_back(std::move(row));
    }
    // Every column other than id, url and name becomes metadata, so a
    // catalogue with columns of its own (city, region...) keeps them.
    for (const auto& r :
         work.exec("SELECT row_to_json(t)::text FROM " + catalog_ + " t")) {
      auto fields = json::parse(r[0].c_str(), nullptr, false);
      if (!fields.is_object() || !fields["id"].is_number_integer()) {
        ++skipped_streams;
        continue;
      }
      stream_row row;
      row.id = fields["id"].get<std::int64_t>();
      row.url = fields["url"].is_string() ? fields["url"].get<std::string>() : "";
      row.name = fields.contains("name") && fields["name"].is_string()
                   ? fields["name"].get<std::string>()
                   : "";
      auto metadata = json::object();
      if (fields.contains("metadata") && fields["metadata"].is_string()) {
        auto inner = json::parse(fields["metadata"].get<std::string>(), nullptr,
                                 false);
        if (inner.is_object())
          metadata = inner;
      } else if (fields.contains("metadata") && fields["metadata"].is_object()) {
        metadata = fields["metadata"];
      }
      for (auto& [key, value] : fields.items())
        if (key != "id" && key != "url" && key != "name" && key != "metadata"
            && !value.is_null())
          metadata[key] = value;
      row.metadata = metadata.dump();
      result.streams.push_back(std::move(row));
    }
    auto epoch = work.exec("SELECT value FROM orchestrator_meta WHERE key = 'epoch'");
    if (!epoch.empty())
      result.epoch = static_cast<std::uint64_t>(epoch[0][0].as<std::int64_t>(0));
  });
  if (err)
    return err;
  if (skipped_streams > 0)
    logger("store")->warn("catalog-rows-skipped table={} rows={} "
                          "reason=\"id is not an integer\"",
                          settings_.catalog_table, skipped_streams);
  return result;
}

void postgres_store::put_catalog_streams(pqxx::transaction_base& work,
                                         const std::vector<const stream_row*>& rows) {
  // Rows with the same columns go in one statement.
  std::map<std::vector<std::string>, json> groups;
  for (const auto* row : rows) {
    // A metadata key that names a column of the catalogue goes to that
    // column. The other keys go to a metadata column if the table has one;
    // without one they are dropped.
    auto metadata = json::parse(row->metadata, nullptr, false);
    if (!metadata.is_object())
      metadata = json::object();
    json record = {{"id", row->id}, {"url", row->url}};
    if (catalog_columns_.count("name") != 0)
      record["name"] = row->name;
    auto rest = json::object();
    for (auto& [key, value] : metadata.items()) {
      if (key == "id" || key == "url" || key == "name" || key == "metadata")
        continue;
      if (catalog_columns_.count(key) != 0)
        record[key] = value;
      else
        rest[key] = value;
    }
    if (catalog_columns_.count("metadata") != 0)
      record["metadata"] = rest.dump();
    std::vector<std::string> keys;
    for (auto& [key, value] : record.items())
      keys.push_back(key);
    auto& group = groups[keys];
    if (group.is_null())
      group = json::array();
    group.push_back(std::move(record));
  }
  for (const auto& [keys, records] : groups) {
    std::string columns;
    std::string updates;
    for (const auto& key : keys) {
      auto name = work.quote_name(key);
      columns += (columns.empty() ? "" : ", ") + name;
      if (key != "id")
        updates += (updates.empty() ? "" : ", ") + name + " = EXCLUDED." + name;
    }
    work.exec_params("INSERT INTO " + catalog_ + " (" + columns + ") SELECT "
                       + columns + " FROM json_populate_recordset(NULL::" + catalog_
                       + ", $1::json) ON CONFLICT (id) DO UPDATE SET " + updates,
                     records.dump());
  }
}

caf::error postgres_store::commit(const std::vector<change>& changes) {
  if (changes.empty())
    return caf::none;
  // Each change overwrites or deletes one row by its key, so the last change
  // of each key decides that row, and a batch of any size takes a handful of
  // statements instead of one per change.
  std::map<std::string, const change*> workers;
  std::map<std::int64_t, const change*> assignments;
  std::map<std::int64_t, const change*> streams;
  const change* epoch = nullptr;
  for (const auto& c : changes) {
    switch (c.kind) {
      case change_kind::put_worker:
      case change_kind::erase_worker:
        workers[c.worker.server_id] = &c;
        break;
      case change_kind::put_assignment:
      case change_kind::erase_assignment:
        assignments[c.assignment.stream_id] = &c;
        break;
      case change_kind::put_stream:
      case change_kind::erase_stream:
        streams[c.stream.id] = &c;
        break;
      case change_kind::set_epoch:
        epoch = &c;
        break;
    }
  }

  return transact("writing changes", [&](pqxx::work& work) {
    // Catalogue rows first and their removal last, in case the Python
    // schema ties assignments to streams with a foreign key.
    std::vector<const stream_row*> catalog_puts;
    std::vector<std::int64_t> catalog_erases;
    for (const auto& [id, c] : streams) {
      if (c->kind == change_kind::put_stream)
        catalog_puts.push_back(&c->stream);
      else
        catalog_erases.push_back(id);
    }
    if (!catalog_puts.empty()) {
      put_catalog_streams(work, catalog_puts);
      // Rows written with their ids leave a SERIAL id's sequence behind, and
      // the next insert without an id would collide.
      work.exec_params("SELECT setval(pg_get_serial_sequence($1, 'id'), max(id)) "
                       "FROM " + catalog_ + " HAVING max(id) IS NOT NULL AND "
                       "pg_get_serial_sequence($1, 'id') IS NOT NULL",
                       catalog_);
    }

    std::vector<std::string> ids, ips, statuses, reported, types;
    std::vector<int> ports, capacities;
    std::vector<std::int64_t> registered, heartbeats;
    std::vector<double> weights;
    std::vector<bool> draining;
    std::vector<std::string> erased_workers;
    for (const auto& [id, c] : workers) {
      if (c->kind == change_kind::erase_worker) {
        erased_workers.push_back(id);
        continue;
      }
      const auto& w = c->worker;
      ids.push_back(w.server_id);
      ips.push_back(w.ip);
      ports.push_back(w.port);
      capacities.push_back(static_cast<int>(w.max_streams));
      statuses.push_back(to_string(w.state));
      registered.push_back(w.registered_at_ms);
      heartbeats.push_back(w.last_heartbeat_ms);
      reported.push_back(w.reported_status);
      weights.push_back(w.weight);
      draining.push_back(w.draining);
      types.push_back(w.worker_type);
    }
    if (!ids.empty())
      work.exec_params(
        "INSERT INTO orchestrator_instances (server_id, ip, port, max_streams, "
        "status, registered_at, last_heartbeat, reported_status, weight, "
        "draining, worker_type) "
        "SELECT s, ip, p, m, st, to_timestamp(r / 1000.0), "
        "to_timestamp(h / 1000.0), rs, w, d, wt FROM unnest($1::text[], "
        "$2::text[], $3::int[], $4::int[], $5::text[], $6::bigint[], "
        "$7::bigint[], $8::text[], $9::float8[], $10::bool[], $11::text[]) "
        "AS u(s, ip, p, m, st, r, h, rs, w, d, wt) "
        "ON CONFLICT (server_id) DO UPDATE SET ip = EXCLUDED.ip, "
        "port = EXCLUDED.port, max_streams = EXCLUDED.max_streams, "
        "status = EXCLUDED.status, registered_at = EXCLUDED.registered_at, "
        "last_heartbeat = EXCLUDED.last_heartbeat, "
        "reported_status = EXCLUDED.reported_status, weight = EXCLUDED.weight, "
        "draining = EXCLUDED.draining, worker_type = EXCLUDED.worker_type",
        text_array(ids), text_array(ips), number_array(ports),
        number_array(capacities), text_array(statuses), number_array(registered),
        number_array(heartbeats), text_array(reported), number_array(weights),
        number_array(draining), text_array(types));

    std::vector<std::int64_t> all_streams, erased, put_streams, epochs, times;
    std::vector<std::string> owners;
    for (const auto& [id, c] : assignments) {
      all_streams.push_back(id);
      if (c->kind == change_kind::erase_assignment) {
        erased.push_back(id);
        continue;
      }
      put_streams.push_back(id);
      owners.push_back(c->assignment.server_id);
      epochs.push_back(static_cast<std::int64_t>(c->assignment.epoch));
      times.push_back(c->assignment.assigned_at_ms);
    }
    // current_streams moves by the difference each change makes: one less
    // for the previous owner, one more for the new one. Recounting the
    // touched workers instead would read all their rows on every commit.
    std::map<std::string, int> delta;
    if (!all_streams.empty()) {
      std::map<std::int64_t, std::string> previous;
      for (const auto& r : work.exec_params(
             "SELECT stream_id, server_id FROM orchestrator_stream_assignments "
             "WHERE stream_id = ANY($1::bigint[]) AND (status IS NULL OR "
             "status = 'active')",
             number_array(all_streams)))
        previous[r[0].as<std::int64_t>()] = r[1].c_str();
      for (const auto& [id, c] : assignments) {
        auto before = previous.find(id);
        std::string after = c->kind == change_kind::put_assignment
                              ? c->assignment.server_id
                              : std::string{};
        std::string was = before != previous.end() ? before->second : std::string{};
        if (was == after)
          continue;
        if (!was.empty())
          --delta[was];
        if (!after.empty())
          ++delta[after];
      }
    }
    if (!erased.empty())
      work.exec_params("DELETE FROM orchestrator_stream_assignments "
                       "WHERE stream_id = ANY($1::bigint[])",
                       number_array(erased));
    if (!put_streams.empty())
      work.exec_params(
        "INSERT INTO orchestrator_stream_assignments (stream_id, server_id, "
        "epoch, assigned_at, status) SELECT s, o, e, to_timestamp(a / 1000.0), "
        "'active' FROM unnest($1::bigint[], $2::text[], $3::bigint[], "
        "$4::bigint[]) AS u(s, o, e, a) "
        "ON CONFLICT (stream_id) DO UPDATE SET server_id = EXCLUDED.server_id, "
        "epoch = EXCLUDED.epoch, assigned_at = EXCLUDED.assigned_at, "
        "status = 'active'",
        number_array(put_streams), text_array(owners), number_array(epochs),
        number_array(times));
    if (!erased_workers.empty()) {
      work.exec_params("DELETE FROM orchestrator_stream_assignments "
                       "WHERE server_id = ANY($1::text[])",
                       text_array(erased_workers));
      work.exec_params("DELETE FROM orchestrator_instances "
                       "WHERE server_id = ANY($1::text[])",
                       text_array(erased_workers));
    }
    // The Python server kept current_streams from heartbeats; here it
    // follows the worker's assignment rows.
    std::vector<std::string> counted;
    std::vector<int> changes_by;
    for (const auto& [id, d] : delta)
      if (d != 0) {
        counted.push_back(id);
        changes_by.push_back(d);
      }
    if (!counted.empty())
      work.exec_params("UPDATE orchestrator_instances i SET current_streams = "
                       "i.current_streams + d.change FROM unnest($1::text[], "
                       "$2::int[]) AS d(s, change) WHERE i.server_id = d.s",
                       text_array(counted), number_array(changes_by));

    if (!catalog_erases.empty())
      work.exec_params("DELETE FROM " + catalog_ + " WHERE id = ANY($1::bigint[])",
                       number_array(catalog_erases));
    if (epoch != nullptr)
      work.exec_params("UPDATE orchestrator_meta SET value = $1 "
                       "WHERE key = 'epoch'",
                       static_cast<std::int64_t>(epoch->epoch));
  });
}

caf::error postgres_store::append_rebalance(const rebalance_report& report) {
  auto details = encode_history_details(report);
  return transact("writing the rebalance record", [&](pqxx::work& work) {
    work.exec_params(
      "INSERT INTO orchestrator_rebalance_history (rebalance_type, "
      "streams_moved, instances_affected, reason, executed_at, status, "
      "message, execution_time_ms, remaining_moves, details) VALUES ($1, $2, "
      "$3, $4, to_timestamp($5 / 1000.0), $6, $7, $8, $9, $10)",
      report.method, static_cast<std::int64_t>(report.moved),
      static_cast<std::int64_t>(report.workers_affected.size()), report.reason,
      report.started_at_ms, report.status, report.message, report.duration_ms,
      static_cast<std::int64_t>(report.remaining), details);
  });
}

caf::expected<rebalance_history> postgres_store::load_rebalances(std::size_t limit) {
  rebalance_history result;
  auto err = transact("reading the rebalance history", [&](pqxx::work& work) {
    auto& totals = result.totals;
    auto sums = work.exec1(
      "SELECT count(*), count(*) FILTER (WHERE status = 'completed'), "
      "COALESCE(sum(streams_moved), 0), COALESCE(sum(execution_time_ms), 0) "
      "FROM orchestrator_rebalance_history");
    totals.total = sums[0].as<std::uint64_t>();
    totals.successful = sums[1].as<std::uint64_t>();
    totals.streams_moved = sums[2].as<std::uint64_t>();
    totals.total_duration_ms = sums[3].as<double>();
    for (const auto& r : work.exec(
           "SELECT COALESCE(reason, ''), sum(streams_moved) FROM "
           "orchestrator_rebalance_history GROUP BY 1"))
      totals.moved_by_reason[r[0].c_str()] = r[1].as<std::uint64_t>(0);
    for (const auto& r : work.exec_params(
           "SELECT id, rebalance_type, COALESCE(reason, ''), status, message, "
           "streams_moved, execution_time_ms, remaining_moves, "
           + millis_of("executed_at")
           + ", details FROM orchestrator_rebalance_history ORDER BY id DESC "
             "LIMIT $1",
           static_cast<std::int64_t>(limit))) {
      rebalance_report report;
      report.id = r[0].as<std::uint64_t>();
      report.method = r[1].c_str();
      report.reason = r[2].c_str();
      report.status = r[3].c_str();
      report.message = r[4].c_str();
      report.moved = static_cast<std::uint64_t>(r[5].as<std::int64_t>(0));
      report.planned = report.moved;
      report.duration_ms = r[6].as<double>(0);
      report.remaining = static_cast<std::uint64_t>(r[7].as<std::int64_t>(0));
      report.started_at_ms = r[8].as<std::int64_t>(0);
      decode_history_details(r[9].c_str(), report);
      result.recent.push_back(std::move(report));
    }
  });
  if (err)
    return err;
  if (!result.recent.empty())
    result.totals.last = {result.recent.front()};
  return result;
}

caf::error postgres_store::append_samples(const std::vector<worker_sample>& samples) {
  if (samples.empty())
    return caf::none;
  std::vector<std::string> ids;
  std::vector<double> cpu, memory, used, total, disk, free, disk_total;
  // A sample without a load average or an uptime keeps NULL there, so that
  // reading it back gives the sample that was sent.
  std::vector<std::optional<double>> l1, l5, l15, uptime;
  std::vector<std::int64_t> at;
  for (const auto& s : samples) {
    const auto& m = s.sample;
    ids.push_back(s.server_id);
    cpu.push_back(m.cpu_percent);
    memory.push_back(m.memory_percent);
    used.push_back(m.memory_used_gb);
    total.push_back(m.memory_total_gb);
    disk.push_back(m.disk_percent);
    free.push_back(m.disk_free_gb);
    disk_total.push_back(m.disk_total_gb);
    auto load = [&](std::size_t i) -> std::optional<double> {
      if (m.load_average.size() != 3)
        return std::nullopt;
      return m.load_average[i];
    };
    l1.push_back(load(0));
    l5.push_back(load(1));
    l15.push_back(load(2));
    // A Python deployment's uptime column is INTEGER: one larger value would
    // make every write of the buffered samples fail, so it is capped at the
    // column's maximum, 68 years.
    constexpr double max_uptime = 2147483647.0;
    uptime.push_back(m.uptime_seconds >= 0
                       ? std::optional<double>{std::min(m.uptime_seconds, max_uptime)}
                       : std::nullopt);
    at.push_back(m.recorded_at_ms);
  }
  return transact("writing worker metrics", [&](pqxx::work& work) {
    work.exec_params(
      "INSERT INTO orchestrator_instance_metrics (server_id, cpu_percent, "
      "memory_percent, memory_used_gb, memory_total_gb, disk_percent, "
      "disk_free_gb, disk_total_gb, load_average_1m, load_average_5m, "
      "load_average_15m, uptime_seconds, recorded_at) SELECT s, c, m, mu, mt, "
      "d, df, dt, l1, l5, l15, u::bigint, to_timestamp(r / 1000.0) FROM "
      "unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], "
      "$5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], "
      "$10::float8[], $11::float8[], $12::float8[], $13::bigint[]) "
      "AS x(s, c, m, mu, mt, d, df, dt, l1, l5, l15, u, r)",
      text_array(ids), number_array(cpu), number_array(memory),
      number_array(used), number_array(total), number_array(disk),
      number_array(free), number_array(disk_total), number_array(l1),
      number_array(l5), number_array(l15), number_array(uptime),
      number_array(at));
  });
}

caf::expected<std::vector<metrics_sample>>
postgres_store::load_samples(const std::string& server_id, std::int64_t since_ms,
                             std::size_t limit) {
  std::vector<metrics_sample> result;
  auto err = transact("reading the metrics history", [&](pqxx::work& work) {
    // recorded_at has no time zone and the session's is UTC, so comparing
    // it with to_timestamp() keeps the index on (server_id, recorded_at)
    // usable.
    for (const auto& r : work.exec_params(
           "SELECT cpu_percent, memory_percent, memory_used_gb, memory_total_gb, "
           "disk_percent, disk_free_gb, disk_total_gb, load_average_1m, "
           "load_average_5m, load_average_15m, uptime_seconds, "
           + millis_of("recorded_at")
           + " FROM orchestrator_instance_metrics WHERE server_id = $1 AND "
             "recorded_at >= to_timestamp($2::bigint / 1000.0) "
             "ORDER BY recorded_at DESC, id DESC LIMIT $3",
           server_id, since_ms, static_cast<std::int64_t>(limit))) {
      metrics_sample m;
      m.cpu_percent = r[0].as<double>(0);
      m.memory_percent = r[1].as<double>(0);
      m.memory_used_gb = r[2].as<double>(0);
      m.memory_total_gb = r[3].as<double>(0);
      m.disk_percent = r[4].as<double>(0);
      m.disk_free_gb = r[5].as<double>(0);
      m.disk_total_gb = r[6].as<double>(0);
      if (!r[7].is_null() && !r[8].is_null() && !r[9].is_null())
        m.load_average = {r[7].as<double>(), r[8].as<double>(), r[9].as<double>()};
      if (!r[10].is_null())
        m.uptime_seconds = r[10].as<double>();
      m.recorded_at_ms = r[11].as<std::int64_t>(0);
      result.push_back(std::move(m));
    }
  });
  if (err)
    return err;
  return result;
}

caf::expected<std::size_t> postgres_store::delete_samples_before(std::int64_t before_ms,
                                                                 std::size_t batch) {
  // Rows arrive in time order, so the oldest ones by id are the first to
  // expire. Walking the primary key avoids an index on recorded_at alone,
  // which every insert would have to maintain.
  std::size_t deleted = 0;
  auto err = transact("deleting expired worker metrics", [&](pqxx::work& work) {
    auto done = work.exec_params(
      "DELETE FROM orchestrator_instance_metrics WHERE id IN (SELECT id FROM "
      "orchestrator_instance_metrics ORDER BY id LIMIT $2) AND "
      "recorded_at < to_timestamp($1::bigint / 1000.0)",
      before_ms, static_cast<std::int64_t>(batch));
    deleted = static_cast<std::size_t>(done.affected_rows());
  });
  if (err)
    return err;
  return deleted;
}

} // namespace orchestrator
