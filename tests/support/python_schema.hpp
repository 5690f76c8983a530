#pragma once

// The tables of the Python orchestrator as a deployment has them, for tests
// that start our store or server on such a database: INTEGER stream ids and
// a foreign key from assignments to workers.

namespace orchestrator::testing {

inline constexpr const char* python_worker_tables_sql = R"sql(
CREATE TABLE orchestrator_instances (
  id SERIAL PRIMARY KEY, server_id VARCHAR(255) UNIQUE NOT NULL,
  ip VARCHAR(45) NOT NULL, port INTEGER NOT NULL, max_streams INTEGER DEFAULT 20,
  current_streams INTEGER DEFAULT 0, status VARCHAR(20) DEFAULT 'active',
  registered_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  last_heartbeat TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE orchestrator_stream_assignments (
  id SERIAL PRIMARY KEY, stream_id INTEGER UNIQUE NOT NULL,
  server_id VARCHAR(255) NOT NULL REFERENCES orchestrator_instances (server_id)
    ON DELETE CASCADE,
  assigned_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, status VARCHAR(20) DEFAULT 'active');
)sql";

inline constexpr const char* python_history_tables_sql = R"sql(
CREATE TABLE orchestrator_instance_metrics (
  id SERIAL PRIMARY KEY, server_id VARCHAR(255), cpu_percent FLOAT,
  memory_percent FLOAT, memory_used_gb FLOAT, memory_total_gb FLOAT,
  disk_percent FLOAT, disk_free_gb FLOAT, disk_total_gb FLOAT,
  load_average_1m FLOAT, load_average_5m FLOAT, load_average_15m FLOAT,
  uptime_seconds INTEGER, recorded_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE orchestrator_rebalance_history (
  id SERIAL PRIMARY KEY, rebalance_type VARCHAR(50), streams_moved INTEGER,
  instances_affected INTEGER, reason TEXT, executed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
)sql";

} // namespace orchestrator::testing
