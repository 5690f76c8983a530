// The same store checks, run against the SQLite store and against the
// PostgreSQL store on a throwaway server. Then the checks of what only
// PostgreSQL has: the Python server's schema, the leader lock, and a lost
// connection.

#define BOOST_TEST_MODULE store
#include <boost/test/unit_test.hpp>

#include "actors/errors.hpp"
#include "modules/store/postgres_store.hpp"
#include "modules/store/sqlite_store.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/python_schema.hpp"
#include "tests/support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <memory>

using namespace orchestrator;
using orchestrator::testing::pg_cluster;
using orchestrator::testing::python_worker_tables_sql;
using orchestrator::testing::temp_dir;

namespace {

/// Returns why `opened` failed, or "" when it did not; safe to call either
/// way, as Boost.Test builds its message before it checks.
template <class T>
std::string failure_of(const caf::expected<T>& opened) {
  return opened ? std::string{} : describe(opened.error());
}

pg_cluster& cluster() {
  static pg_cluster instance;
  return instance;
}

/// Opens a fresh store of one kind, and the same store again.
class backend {
public:
  virtual ~backend() = default;
  virtual std::string name() const = 0;
  virtual std::unique_ptr<store> open() = 0;
};

class sqlite_backend final : public backend {
public:
  std::string name() const override {
    return "sqlite";
  }
  std::unique_ptr<store> open() override {
    auto opened = sqlite_store::open(dir_.file("state.db"));
    BOOST_REQUIRE_MESSAGE(opened, failure_of(opened));
    return std::move(*opened);
  }

private:
  temp_dir dir_;
};

class postgres_backend final : public backend {
public:
  postgres_backend() {
    static int next = 0;
    database_ = "suite_" + std::to_string(++next);
    url_ = cluster().create_database(database_);
  }
  std::string name() const override {
    return "postgresql";
  }
  std::unique_ptr<store> open() override {
    // The previous store of this backend must let go of the lock first.
    postgres_settings settings;
    settings.connection = url_;
    settings.advertise = "http://127.0.0.1:1";
    auto opened = postgres_store::open(settings, std::make_shared<node_state>(),
                                       false, [] { return false; });
    BOOST_REQUIRE_MESSAGE(opened, failure_of(opened));
    return std::move(*opened);
  }
  const std::string& database() const {
    return database_;
  }

private:
  std::string database_;
  std::string url_;
};

/// Runs `check` once per store kind, each on an empty store.
void for_each_backend(const std::function<void(backend&)>& check) {
  sqlite_backend sqlite;
  postgres_backend postgres;
  for (backend* b : std::initializer_list<backend*>{&sqlite, &postgres}) {
    BOOST_TEST_CONTEXT("store " << b->name()) {
      check(*b);
    }
  }
}

change put_worker(const std::string& id, std::uint32_t capacity) {
  change c;
  c.kind = change_kind::put_worker;
  c.worker = worker_row{id, "10.0.0.1", 9000, capacity, worker_state::active,
                        1'700'000'000'000, 1'700'000'001'000, "busy"};
  return c;
}

change erase_worker(const std::string& id) {
  change c;
  c.kind = change_kind::erase_worker;
  c.worker.server_id = id;
  return c;
}

change put_stream(std::int64_t id) {
  change c;
  c.kind = change_kind::put_stream;
  c.stream = stream_row{id, "http://s/" + std::to_string(id), "name " + std::to_string(id),
                        R"({"city":"Lyon"})"};
  return c;
}

change put_assignment(std::int64_t stream, const std::string& worker,
                      std::uint64_t epoch) {
  change c;
  c.kind = change_kind::put_assignment;
  c.assignment = assignment_row{stream, worker, epoch, 1'700'000'002'000};
  return c;
}

change erase_assignment(std::int64_t stream) {
  change c;
  c.kind = change_kind::erase_assignment;
  c.assignment.stream_id = stream;
  return c;
}

change set_epoch(std::uint64_t epoch) {
  change c;
  c.kind = change_kind::set_epoch;
  c.epoch = epoch;
  return c;
}

const assignment_row* find_assignment(const store_snapshot& s, std::int64_t id) {
  for (const auto& a : s.assignments)
    if (a.stream_id == id)
      return &a;
  return nullptr;
}

} // namespace

BOOST_AUTO_TEST_SUITE(both_stores)

BOOST_AUTO_TEST_CASE(commit_then_load_round_trips) {
  for_each_backend([](backend& b) {
    {
      auto s = b.open();
      auto w = put_worker("w1", 5);
      w.worker.weight = 2.5;
      w.worker.draining = true;
      w.worker.worker_type = "recorder";
      BOOST_REQUIRE(!s->commit({w, put_stream(1), put_stream(2), set_epoch(1),
                                put_assignment(1, "w1", 1), set_epoch(7)}));
    }

    auto snapshot = b.open()->load();
    BOOST_REQUIRE(snapshot);
    BOOST_REQUIRE_EQUAL(snapshot->workers.size(), 1u);
    const auto& w = snapshot->workers[0];
    BOOST_TEST(w.server_id == "w1");
    BOOST_TEST(w.ip == "10.0.0.1");
    BOOST_TEST(w.port == 9000);
    BOOST_TEST(w.max_streams == 5u);
    BOOST_TEST(w.reported_status == "busy");
    BOOST_TEST(w.weight == 2.5);
    BOOST_TEST(w.draining);
    BOOST_TEST(w.worker_type == "recorder");
    BOOST_TEST(w.registered_at_ms == 1'700'000'000'000);
    BOOST_TEST(w.last_heartbeat_ms == 1'700'000'001'000);

    BOOST_REQUIRE_EQUAL(snapshot->streams.size(), 2u);
    auto stream = std::find_if(snapshot->streams.begin(), snapshot->streams.end(),
                               [](const stream_row& r) { return r.id == 2; });
    BOOST_REQUIRE(stream != snapshot->streams.end());
    BOOST_TEST(stream->url == "http://s/2");
    BOOST_TEST(stream->name == "name 2");
    BOOST_TEST(nlohmann::json::parse(stream->metadata)["city"] == "Lyon");
    BOOST_REQUIRE_EQUAL(snapshot->assignments.size(), 1u);
    BOOST_TEST(snapshot->assignments[0].server_id == "w1");
    BOOST_TEST(snapshot->assignments[0].epoch == 1u);
    BOOST_TEST(snapshot->assignments[0].assigned_at_ms == 1'700'000'002'000);
    BOOST_TEST(snapshot->epoch == 7u);
  });
}

BOOST_AUTO_TEST_CASE(the_last_change_of_a_row_wins_within_a_batch) {
  for_each_backend([](backend& b) {
    auto s = b.open();
    BOOST_REQUIRE(!s->commit({put_worker("a", 5), put_worker("b", 5),
                              put_stream(1), put_stream(2), put_stream(3),
                              put_assignment(1, "a", 1),
                              put_assignment(2, "a", 2)}));
    // Move 1 to b and back to a, move 2 to b, assign and unassign 3, and
    // register c only to remove it again: one batch.
    BOOST_REQUIRE(!s->commit({put_assignment(1, "b", 3), put_assignment(1, "a", 4),
                              put_assignment(2, "b", 5), put_assignment(3, "a", 6),
                              erase_assignment(3), put_worker("c", 1),
                              erase_worker("c"), set_epoch(6)}));
    auto snapshot = s->load();
    BOOST_REQUIRE(snapshot);
    BOOST_TEST(snapshot->workers.size() == 2u);
    BOOST_REQUIRE(find_assignment(*snapshot, 1));
    BOOST_TEST(find_assignment(*snapshot, 1)->server_id == "a");
    BOOST_TEST(find_assignment(*snapshot, 1)->epoch == 4u);
    BOOST_REQUIRE(find_assignment(*snapshot, 2));
    BOOST_TEST(find_assignment(*snapshot, 2)->server_id == "b");
    BOOST_TEST(!find_assignment(*snapshot, 3));
    BOOST_TEST(snapshot->epoch == 6u);
  });
}

BOOST_AUTO_TEST_CASE(erasing_a_worker_and_a_stream_removes_them) {
  for_each_backend([](backend& b) {
    auto s = b.open();
    BOOST_REQUIRE(!s->commit({put_worker("a", 5), put_stream(1), put_stream(2),
                              put_assignment(1, "a", 1)}));
    change gone;
    gone.kind = change_kind::erase_stream;
    gone.stream.id = 2;
    BOOST_REQUIRE(!s->commit({erase_assignment(1), erase_worker("a"), gone}));
    auto snapshot = s->load();
    BOOST_REQUIRE(snapshot);
    BOOST_TEST(snapshot->workers.empty());
    BOOST_TEST(snapshot->assignments.empty());
    BOOST_REQUIRE_EQUAL(snapshot->streams.size(), 1u);
    BOOST_TEST(snapshot->streams[0].id == 1);
  });
}

BOOST_AUTO_TEST_CASE(an_empty_store_loads_empty) {
  for_each_backend([](backend& b) {
    auto snapshot = b.open()->load();
    BOOST_REQUIRE(snapshot);
    BOOST_TEST(snapshot->workers.empty());
    BOOST_TEST(snapshot->assignments.empty());
    BOOST_TEST(snapshot->streams.empty());
    BOOST_TEST(snapshot->epoch == 0u);
    BOOST_TEST(!b.open()->commit({}));
  });
}

BOOST_AUTO_TEST_CASE(rebalance_history_survives_reopen) {
  for_each_backend([](backend& b) {
    {
      auto s = b.open();
      for (int k = 1; k <= 3; ++k) {
        rebalance_report report;
        report.method = "smart";
        report.reason = k == 3 ? "manual" : "load_imbalance";
        report.status = k == 2 ? "deferred" : "completed";
        report.moved = static_cast<std::uint64_t>(k * 10);
        report.duration_ms = 1.5;
        report.remaining = 4;
        report.started_at_ms = 1'700'000'000'000 + k;
        report.moves = {stream_move{7, "a", "b", 9}};
        report.workers_affected = {"a", "b"};
        BOOST_REQUIRE(!s->append_rebalance(report));
      }
    }

    auto history = b.open()->load_rebalances(2);
    BOOST_REQUIRE(history);
    BOOST_TEST(history->totals.total == 3u);
    BOOST_TEST(history->totals.successful == 2u);
    BOOST_TEST(history->totals.streams_moved == 60u);
    BOOST_TEST(history->totals.moved_by_reason["load_imbalance"] == 30u);

    BOOST_REQUIRE_EQUAL(history->recent.size(), 2u);
    const auto& newest = history->recent[0];
    BOOST_TEST(newest.reason == "manual");
    BOOST_TEST(newest.moved == 30u);
    BOOST_TEST(newest.remaining == 4u);
    BOOST_TEST(newest.started_at_ms == 1'700'000'000'003);
    BOOST_REQUIRE_EQUAL(newest.moves.size(), 1u);
    BOOST_TEST(newest.moves[0].to == "b");
    BOOST_TEST(newest.workers_affected.size() == 2u);
  });
}

BOOST_AUTO_TEST_CASE(metrics_samples_are_appended) {
  for_each_backend([](backend& b) {
    auto s = b.open();
    metrics_sample m;
    m.cpu_percent = 12.5;
    m.memory_percent = 40;
    m.load_average = {0.5, 0.4, 0.3};
    m.uptime_seconds = 100;
    m.recorded_at_ms = 1'700'000'000'000;
    BOOST_TEST(!s->append_samples({worker_sample{"w1", m}, worker_sample{"w2", m}}));
    BOOST_TEST(!s->append_samples({}));
    BOOST_TEST(!s->check());
  });
}

BOOST_AUTO_TEST_CASE(metrics_history_reads_newest_first_within_bounds) {
  for_each_backend([](backend& b) {
    const std::int64_t start = 1'700'000'000'000;
    {
      auto s = b.open();
      // w1 beats every second for 30 s, w2 in between. Every fifth sample
      // of w1 has no load average and no uptime.
      std::vector<worker_sample> batch;
      for (int k = 0; k < 30; ++k) {
        metrics_sample m;
        m.cpu_percent = k + 0.25;
        m.memory_percent = 0.1 + 0.2;
        m.memory_used_gb = 3.2;
        m.memory_total_gb = 8;
        m.disk_percent = 55.5;
        m.disk_free_gb = 90.125;
        m.disk_total_gb = 200;
        if (k % 5 != 0) {
          m.load_average = {0.5, 0.25, 1.0 / 3.0};
          m.uptime_seconds = 1000 + k;
        }
        m.recorded_at_ms = start + k * 1000;
        batch.push_back(worker_sample{"w1", m});
        m.cpu_percent = 99;
        batch.push_back(worker_sample{"w2", m});
        // Append in several transactions, as the store actor does.
        if (batch.size() >= 8) {
          BOOST_REQUIRE(!s->append_samples(batch));
          batch.clear();
        }
      }
      BOOST_REQUIRE(!s->append_samples(batch));
      // Two samples in the same millisecond: the later one comes first.
      metrics_sample tie;
      tie.cpu_percent = 1;
      tie.recorded_at_ms = start + 60'000;
      BOOST_REQUIRE(!s->append_samples({worker_sample{"w3", tie}}));
      tie.cpu_percent = 2;
      BOOST_REQUIRE(!s->append_samples({worker_sample{"w3", tie}}));
    }

    // Read from a reopened store, as after a restart.
    auto s = b.open();
    auto all = s->load_samples("w1", 0, 1000);
    BOOST_REQUIRE_MESSAGE(all, failure_of(all));
    BOOST_REQUIRE_EQUAL(all->size(), 30u);
    for (std::size_t i = 0; i < all->size(); ++i) {
      int k = 29 - static_cast<int>(i);
      const auto& m = (*all)[i];
      BOOST_TEST_CONTEXT("sample " << k) {
        BOOST_TEST(m.recorded_at_ms == start + k * 1000);
        BOOST_TEST(m.cpu_percent == k + 0.25);
        BOOST_TEST(m.memory_percent == 0.1 + 0.2);
        BOOST_TEST(m.memory_used_gb == 3.2);
        BOOST_TEST(m.memory_total_gb == 8.0);
        BOOST_TEST(m.disk_percent == 55.5);
        BOOST_TEST(m.disk_free_gb == 90.125);
        BOOST_TEST(m.disk_total_gb == 200.0);
        if (k % 5 == 0) {
          BOOST_TEST(m.load_average.empty());
          BOOST_TEST(m.uptime_seconds == -1.0);
        } else {
          BOOST_REQUIRE_EQUAL(m.load_average.size(), 3u);
          BOOST_TEST(m.load_average[0] == 0.5);
          BOOST_TEST(m.load_average[1] == 0.25);
          BOOST_TEST(m.load_average[2] == 1.0 / 3.0);
          BOOST_TEST(m.uptime_seconds == 1000.0 + k);
        }
      }
    }

    auto newest = s->load_samples("w1", 0, 5);
    BOOST_REQUIRE_MESSAGE(newest, failure_of(newest));
    BOOST_REQUIRE_EQUAL(newest->size(), 5u);
    BOOST_TEST(newest->front().recorded_at_ms == start + 29'000);
    BOOST_TEST(newest->back().recorded_at_ms == start + 25'000);

    auto since = s->load_samples("w1", start + 20'000, 1000);
    BOOST_REQUIRE_MESSAGE(since, failure_of(since));
    BOOST_REQUIRE_EQUAL(since->size(), 10u);
    BOOST_TEST(since->back().recorded_at_ms == start + 20'000);

    auto other = s->load_samples("w2", 0, 1000);
    BOOST_REQUIRE_MESSAGE(other, failure_of(other));
    BOOST_TEST(other->size() == 30u);
    BOOST_TEST(other->front().cpu_percent == 99.0);

    auto tied = s->load_samples("w3", 0, 1000);
    BOOST_REQUIRE_MESSAGE(tied, failure_of(tied));
    BOOST_REQUIRE_EQUAL(tied->size(), 2u);
    BOOST_TEST((*tied)[0].cpu_percent == 2.0);
    BOOST_TEST((*tied)[1].cpu_percent == 1.0);

    auto unknown = s->load_samples("nobody", 0, 1000);
    BOOST_REQUIRE_MESSAGE(unknown, failure_of(unknown));
    BOOST_TEST(unknown->empty());
  });
}

BOOST_AUTO_TEST_CASE(metrics_retention_deletes_expired_samples_in_batches) {
  for_each_backend([](backend& b) {
    const std::int64_t cutoff = 1'700'000'000'000;
    auto s = b.open();
    auto sample_at = [](std::int64_t recorded_at_ms) {
      metrics_sample m;
      m.cpu_percent = 1;
      m.recorded_at_ms = recorded_at_ms;
      return m;
    };
    // 250 expired samples of two workers, then 20 current ones.
    std::vector<worker_sample> rows;
    for (int k = 0; k < 250; ++k)
      rows.push_back(worker_sample{k % 2 == 0 ? "w1" : "w2",
                                   sample_at(cutoff - 100'000 + k)});
    for (int k = 0; k < 20; ++k)
      rows.push_back(worker_sample{"w1", sample_at(cutoff + k)});
    BOOST_REQUIRE(!s->append_samples(rows));

    std::vector<std::size_t> steps;
    for (int guard = 0; guard < 10; ++guard) {
      auto deleted = s->delete_samples_before(cutoff, 100);
      BOOST_REQUIRE_MESSAGE(deleted, failure_of(deleted));
      steps.push_back(*deleted);
      if (*deleted == 0)
        break;
    }
    BOOST_TEST(steps == (std::vector<std::size_t>{100, 100, 50, 0}),
               boost::test_tools::per_element());

    auto w1 = s->load_samples("w1", 0, 1000);
    BOOST_REQUIRE_MESSAGE(w1, failure_of(w1));
    BOOST_REQUIRE_EQUAL(w1->size(), 20u);
    BOOST_TEST(w1->back().recorded_at_ms == cutoff);
    auto w2 = s->load_samples("w2", 0, 1000);
    BOOST_REQUIRE_MESSAGE(w2, failure_of(w2));
    BOOST_TEST(w2->empty());

    // An expired sample written after a current one, as after the clock
    // went back, is deleted once the batch reaches it.
    BOOST_REQUIRE(!s->append_samples({worker_sample{"w3", sample_at(cutoff - 1)}}));
    std::size_t total = 0;
    for (int guard = 0; guard < 30; ++guard) {
      auto deleted = s->delete_samples_before(cutoff, 100);
      BOOST_REQUIRE_MESSAGE(deleted, failure_of(deleted));
      if (*deleted == 0)
        break;
      total += *deleted;
    }
    BOOST_TEST(total == 1u);
    auto w3 = s->load_samples("w3", 0, 1000);
    BOOST_REQUIRE_MESSAGE(w3, failure_of(w3));
    BOOST_TEST(w3->empty());
    w1 = s->load_samples("w1", 0, 1000);
    BOOST_REQUIRE_MESSAGE(w1, failure_of(w1));
    BOOST_TEST(w1->size() == 20u);
  });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(postgresql_only)

// The Python server's tables as a deployment has them: INTEGER stream ids,
// a foreign key, a worker the Python server marked inactive, and a catalogue
// with columns of its own.
BOOST_AUTO_TEST_CASE(opens_the_python_schema_and_keeps_it_usable_for_python) {
  const std::string db = "python_schema";
  auto url = cluster().create_database(db);
  cluster().exec(python_worker_tables_sql, db);
  cluster().exec(R"sql(
CREATE TABLE streams (id SERIAL PRIMARY KEY, url TEXT NOT NULL, name TEXT,
  sheet TEXT, cidade TEXT, estado TEXT, regiao TEXT, segmento TEXT, index INTEGER);
INSERT INTO streams (id, url, name, sheet, cidade, estado, regiao, segmento, index)
  VALUES (1, 'http://r/1', 'Radio 1', 's1', 'Recife', 'PE', 'Nordeste', 'news', 0),
         (2, 'http://r/2', 'Radio 2', 's1', 'Natal', 'RN', 'Nordeste', 'music', 1),
         (3, 'http://r/3', NULL, NULL, NULL, NULL, NULL, NULL, 2);
INSERT INTO orchestrator_instances (server_id, ip, port, max_streams, current_streams, status,
  registered_at, last_heartbeat)
  VALUES ('py-1', '10.1.0.1', 8001, 10, 99, 'active', '2026-01-01 10:00:00', '2026-01-01 10:05:00'),
         ('py-2', '10.1.0.2', 8002, 10, 1, 'inactive', '2026-01-01 10:00:00', '2026-01-01 10:01:00');
INSERT INTO orchestrator_stream_assignments (stream_id, server_id, status)
  VALUES (1, 'py-1', 'active'), (2, 'py-1', 'active'), (3, 'py-2', 'released');
)sql",
                 db);

  postgres_settings settings;
  settings.connection = url;
  auto opened = postgres_store::open(settings, std::make_shared<node_state>(),
                                     false, [] { return false; });
  BOOST_REQUIRE_MESSAGE(opened, failure_of(opened));
  auto& s = **opened;
  auto snapshot = s.load();
  BOOST_REQUIRE(snapshot);
  BOOST_REQUIRE_EQUAL(snapshot->workers.size(), 2u);
  for (const auto& w : snapshot->workers) {
    if (w.server_id == "py-1") {
      BOOST_TEST((w.state == worker_state::active));
      BOOST_TEST(w.max_streams == 10u);
      // 2026-01-01 10:05:00 UTC.
      BOOST_TEST(w.last_heartbeat_ms == 1'767'261'900'000);
    } else {
      BOOST_TEST((w.state == worker_state::dead));
    }
  }
  // The released row of the Python server owns nothing.
  BOOST_TEST(snapshot->assignments.size() == 2u);
  BOOST_REQUIRE_EQUAL(snapshot->streams.size(), 3u);
  for (const auto& row : snapshot->streams) {
    auto metadata = nlohmann::json::parse(row.metadata);
    if (row.id == 1) {
      BOOST_TEST(row.name == "Radio 1");
      BOOST_TEST(metadata["cidade"] == "Recife");
      BOOST_TEST(metadata["regiao"] == "Nordeste");
      BOOST_TEST(metadata["index"] == 0);
    }
    if (row.id == 3) {
      BOOST_TEST(row.name.empty());
      BOOST_TEST(!metadata.contains("cidade"));
    }
  }

  // Our writes keep the counts right: py-1 had 99 from a heartbeat.
  BOOST_REQUIRE(!s.commit({put_worker("new-1", 5), put_assignment(2, "new-1", 1),
                           set_epoch(1)}));
  BOOST_TEST(cluster().query_value("SELECT current_streams FROM "
                                   "orchestrator_instances WHERE server_id = 'py-1'",
                                   db)
             == "1");
  BOOST_TEST(cluster().query_value("SELECT current_streams FROM "
                                   "orchestrator_instances WHERE server_id = 'new-1'",
                                   db)
             == "1");
  // A catalogue entry written by us lands in the catalogue's own columns.
  auto entry = put_stream(4);
  entry.stream.metadata = R"({"cidade":"Olinda","unknown_key":1})";
  BOOST_REQUIRE(!s.commit({entry}));
  BOOST_TEST(cluster().query_value("SELECT cidade FROM streams WHERE id = 4", db)
             == "Olinda");

  // The Python server's own statements, which name none of our columns,
  // still work on the migrated tables.
  BOOST_CHECK_NO_THROW(cluster().exec(
    "INSERT INTO orchestrator_instances (server_id, ip, port, max_streams) "
    "VALUES ('py-3', '10.1.0.3', 8003, 20);"
    "INSERT INTO orchestrator_stream_assignments (stream_id, server_id) "
    "VALUES (5, 'py-3');"
    "UPDATE orchestrator_instances SET last_heartbeat = CURRENT_TIMESTAMP, "
    "current_streams = 1 WHERE server_id = 'py-3';",
    db));
}

BOOST_AUTO_TEST_CASE(a_second_store_waits_for_the_leader_lock) {
  auto url = cluster().create_database("lock");
  postgres_settings first_settings;
  first_settings.connection = url;
  first_settings.advertise = "http://127.0.0.1:7001";
  auto first = postgres_store::open(first_settings, std::make_shared<node_state>(),
                                    false, [] { return false; });
  BOOST_REQUIRE(first);

  auto second_node = std::make_shared<node_state>();
  postgres_settings second_settings = first_settings;
  second_settings.advertise = "http://127.0.0.1:7002";
  auto refused = postgres_store::open(second_settings, second_node, false,
                                      [] { return false; });
  BOOST_REQUIRE(!refused);
  BOOST_TEST(describe(refused.error()).find("http://127.0.0.1:7001") != std::string::npos);
  BOOST_TEST(second_node->leader_address() == "http://127.0.0.1:7001");

  // While waiting, the standby tries again until the leader lets go.
  int tries = 0;
  second_settings.standby_poll = std::chrono::milliseconds{20};
  auto waited = postgres_store::open(second_settings, second_node, true, [&] {
    if (++tries == 3)
      first->reset();
    return tries < 100;
  });
  BOOST_REQUIRE_MESSAGE(waited, failure_of(waited));
  BOOST_TEST(tries >= 3);
  BOOST_TEST(cluster().query_value("SELECT address FROM orchestrator_leader", "lock")
             == "http://127.0.0.1:7002");
}

BOOST_AUTO_TEST_CASE(a_leader_whose_lock_was_taken_is_deposed) {
  auto url = cluster().create_database("deposed");
  postgres_settings settings;
  settings.connection = url;
  settings.advertise = "http://127.0.0.1:7001";
  auto node = std::make_shared<node_state>();
  node->lead();
  std::string reason;
  node->on_deposed([&](const std::string& why) { reason = why; });
  auto leader = postgres_store::open(settings, node, false, [] { return false; });
  BOOST_REQUIRE(leader);
  BOOST_REQUIRE(!(*leader)->commit({put_worker("a", 1)}));

  // Cut the leader's connection, as a network failure would, and let
  // another server take the lock before the leader reconnects.
  cluster().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = 'deposed' AND pid <> pg_backend_pid()");
  settings.advertise = "http://127.0.0.1:7002";
  auto usurper = postgres_store::open(settings, std::make_shared<node_state>(),
                                      false, [] { return false; });
  BOOST_REQUIRE_MESSAGE(usurper, failure_of(usurper));

  BOOST_TEST(static_cast<bool>((*leader)->check()));
  BOOST_TEST(static_cast<bool>((*leader)->check()));
  BOOST_TEST((node->current() == node_state::role::deposed));
  BOOST_TEST(reason.find("another server took the leader lock") != std::string::npos);
  // Nothing the old leader tries now reaches the database.
  BOOST_TEST(static_cast<bool>((*leader)->commit({put_worker("b", 1)})));
  BOOST_TEST(cluster().query_value("SELECT count(*) FROM orchestrator_instances "
                                   "WHERE server_id = 'b'",
                                   "deposed")
             == "0");
}

BOOST_AUTO_TEST_CASE(a_lost_database_is_reported_and_reconnected) {
  // A server of its own, as this test stops it.
  pg_cluster own;
  auto url = own.create_database("lost");
  postgres_settings settings;
  settings.connection = url;
  auto node = std::make_shared<node_state>();
  node->lead();
  auto s = postgres_store::open(settings, node, false, [] { return false; });
  BOOST_REQUIRE(s);
  BOOST_REQUIRE(!(*s)->commit({put_worker("a", 1)}));

  own.stop();
  BOOST_TEST(static_cast<bool>((*s)->check()));
  BOOST_TEST(static_cast<bool>((*s)->check()));
  BOOST_TEST(!node->store_error().empty());
  BOOST_TEST(static_cast<bool>((*s)->commit({put_worker("b", 1)})));

  own.start();
  BOOST_TEST(!(*s)->check());
  BOOST_TEST(node->store_error().empty());
  BOOST_TEST(node->leading());
  BOOST_REQUIRE(!(*s)->commit({put_worker("c", 1)}));
  auto snapshot = (*s)->load();
  BOOST_REQUIRE(snapshot);
  std::vector<std::string> ids;
  for (const auto& w : snapshot->workers)
    ids.push_back(w.server_id);
  std::sort(ids.begin(), ids.end());
  BOOST_TEST(ids == (std::vector<std::string>{"a", "c"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_password_never_appears_in_errors_or_descriptions) {
  const std::string url = "postgresql://someone:s3cr3t-pw@127.0.0.1:1/nowhere";
  BOOST_TEST(postgres_store::redact(url) == "postgresql://someone@127.0.0.1:1/nowhere");
  BOOST_TEST(postgres_store::redact("host=db port=5433 dbname=x user=u password=s3cr3t-pw")
             == "postgresql://u@db:5433/x");
  postgres_settings settings;
  settings.connection = url;
  auto opened = postgres_store::open(settings, std::make_shared<node_state>(),
                                     false, [] { return false; });
  BOOST_REQUIRE(!opened);
  auto text = describe(opened.error());
  BOOST_TEST(text.find("s3cr3t-pw") == std::string::npos);
  BOOST_TEST(text.find("postgresql://someone@127.0.0.1:1/nowhere") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(catalogue_table_names_are_checked) {
  BOOST_TEST(postgres_store::valid_table_name("streams"));
  BOOST_TEST(postgres_store::valid_table_name("radio.stream_list"));
  BOOST_TEST(!postgres_store::valid_table_name("streams; DROP TABLE x"));
  BOOST_TEST(!postgres_store::valid_table_name("a.b.c"));
  BOOST_TEST(!postgres_store::valid_table_name(""));
}

BOOST_AUTO_TEST_SUITE_END()
