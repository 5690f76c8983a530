#pragma once

#include "actors/node_state.hpp"
#include "modules/store/store.hpp"

#include <pqxx/connection>
#include <pqxx/transaction_base>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>


namespace orchestrator {

struct postgres_settings {
  /// A libpq connection string: a postgresql:// URL or key=value pairs. It
  /// may hold a password, so it is never logged; describe() shows it without.
  std::string connection;
  /// The stream catalogue's table, optionally with its schema.
  std::string catalog_table = "streams";
  /// This server's HTTP address, published for standbys while it leads.
  std::string advertise;
  /// Time between tries for the leader lock while another server holds it.
  std::chrono::milliseconds standby_poll{500};
  /// Time the first connection may take, retries included, before start-up
  /// fails.
  std::chrono::milliseconds connect_patience{30'000};
};

/// A store in PostgreSQL that reads and writes the Python orchestrator's
/// tables, adding the columns it needs with defaults so that a Python server
/// can still read them.
///
/// Only one server writes: the one whose connection holds the database's
/// leader lock (a session-level advisory lock). Every write goes through that
/// same connection, so a server that lost its connection, and with it the
/// lock, cannot write anything after another server took over.
class postgres_store final : public store {
public:
  /// Connects and takes the leader lock. While another server holds it,
  /// records that server's address in `node` and tries again every
  /// settings.standby_poll until it gets the lock or `keep_waiting` returns
  /// false. With `wait` false, a held lock is an error instead.
  static caf::expected<std::unique_ptr<postgres_store>>
  open(const postgres_settings& settings, std::shared_ptr<node_state> node,
       bool wait, const std::function<bool()>& keep_waiting);

  ~postgres_store() override;

  postgres_store(const postgres_store&) = delete;
  postgres_store& operator=(const postgres_store&) = delete;

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
  caf::error check() override;
  bool checks_writes() const override {
    return true;
  }

  /// Returns `connection` as postgresql://user@host:port/database, without
  /// the password, for logs and errors.
  static std::string redact(const std::string& connection);

  /// Returns true if `name` is a valid [schema.]table name for the catalogue.
  static bool valid_table_name(const std::string& name);

private:
  postgres_store(postgres_settings settings, std::shared_ptr<node_state> node);

  /// Connects once; returns the connection or why it failed.
  caf::error connect();
  /// Tries the leader lock on the current connection once.
  caf::expected<bool> try_lock();
  /// Creates missing tables and columns, and publishes this server's address.
  caf::error prepare_schema();
  /// Reconnects and retakes the lock after the connection broke. Deposes
  /// this server if another one took the lock meanwhile.
  caf::error reconnect();
  /// Runs `body` in a transaction, reconnecting first when the connection
  /// is gone. Turns libpqxx's exceptions into store errors.
  template <class Body>
  caf::error transact(const char* what, Body&& body);
  caf::error failure(const char* what, const std::exception& e) const;
  void put_catalog_streams(pqxx::transaction_base& work,
                           const std::vector<const stream_row*>& rows);

  postgres_settings settings_;
  std::shared_ptr<node_state> node_;
  std::unique_ptr<pqxx::connection> connection_;
  std::string redacted_;
  std::string password_;
  std::string catalog_;
  std::set<std::string> catalog_columns_;
};

} // namespace orchestrator
