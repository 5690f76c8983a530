#pragma once

#include <sqlite3.h>

#include <string>

namespace orchestrator::testing {

/// Runs `sql` on the SQLite database at `path`, as a second process on the
/// same file would; returns the error message, empty on success.
inline std::string exec_sql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    std::string error = db != nullptr ? sqlite3_errmsg(db) : "cannot open " + path;
    sqlite3_close(db);
    return error;
  }
  sqlite3_busy_timeout(db, 5000);
  std::string error;
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    error = sqlite3_errmsg(db);
  sqlite3_close(db);
  return error;
}

} // namespace orchestrator::testing
