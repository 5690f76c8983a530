#pragma once

#include "modules/store/store.hpp"

#include <memory>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace orchestrator {

/// A store in one SQLite file, in WAL mode with synchronous=FULL, so a commit
/// that returned survives a crash of the process or of the machine.
class sqlite_store final : public store {
public:
  /// Opens or creates the database at `path` and creates missing tables.
  static caf::expected<std::unique_ptr<sqlite_store>>
  open(const std::string& path);

  ~sqlite_store() override;

  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  std::string describe() const override;
  caf::expected<store_snapshot> load() override;
  caf::error commit(const std::vector<change>& changes) override;
  caf::error append_rebalance(const rebalance_report& report) override;
  caf::expected<rebalance_history> load_rebalances(std::size_t limit) override;
  caf::error append_samples(const std::vector<worker_sample>& samples) override;
  caf::expected<std::vector<metrics_sample>>
  load_samples(const std::string& server_id, std::int64_t since_ms,
               std::size_t limit) override;
  caf::expected<std::size_t> delete_samples_before(std::int64_t before_ms,
                                                   std::size_t batch) override;

private:
  struct statements;

  sqlite_store(sqlite3* db, std::string path);
  /// Adds the columns that databases of older builds lack.
  caf::error migrate();
  caf::error prepare_statements();
  caf::error write(const change& c);
  caf::error exec(const char* sql);
  caf::error failure(const char* what) const;

  sqlite3* db_;
  std::string path_;
  std::unique_ptr<statements> statements_;
};

} // namespace orchestrator
