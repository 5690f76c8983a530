#pragma once

#include "tests/support/temp_dir.hpp"

#include <cstdint>
#include <string>

namespace orchestrator::testing {

/// A throwaway PostgreSQL server for one test program: initdb in a fresh
/// folder, then postgres on a free loopback port, stopped and removed on
/// destruction. Uses Debian's binaries under /usr/lib/postgresql. As root,
/// which initdb refuses, the commands run as the `postgres` user.
class pg_cluster {
public:
  /// Creates and starts the cluster. Throws std::runtime_error with the
  /// server's log if either step fails.
  pg_cluster();
  ~pg_cluster();

  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;

  std::uint16_t port() const {
    return port_;
  }

  /// Returns a connection URL for `database` as the superuser.
  std::string url(const std::string& database = "postgres") const;

  /// Creates an empty database and returns its URL.
  std::string create_database(const std::string& name);

  /// Runs `sql` (any number of statements) in `database`; throws on error.
  void exec(const std::string& sql, const std::string& database = "postgres") const;

  /// Runs one query and returns its first column of the first row as text,
  /// or "" when it returns no row.
  std::string query_value(const std::string& sql,
                          const std::string& database = "postgres") const;

  /// Stops the server at once, as a crash would ("immediate" mode).
  void stop();
  /// Starts it again on the same port after stop().
  void start();

private:
  void run(const std::string& command, const std::string& what) const;

  temp_dir dir_;
  std::string bin_;
  std::string data_;
  std::uint16_t port_ = 0;
  bool running_ = false;
};

} // namespace orchestrator::testing
