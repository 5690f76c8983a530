#include <boost/test/unit_test.hpp>

#include "actors/errors.hpp"
#include "modules/store/sqlite_store.hpp"
#include "tests/support/temp_dir.hpp"

#include <sqlite3.h>

using namespace orchestrator;

namespace {

change put_worker(const std::string& id, std::uint32_t capacity) {
  change c;
  c.kind = change_kind::put_worker;
  c.worker = worker_row{id, "10.0.0.1", 9000, capacity, worker_state::active,
                        1000, 2000, "active"};
  return c;
}

change put_stream(std::int64_t id) {
  change c;
  c.kind = change_kind::put_stream;
  c.stream = stream_row{id, "http://s/" + std::to_string(id), "name",
                        R"({"city":"Lyon"})"};
  return c;
}

change put_assignment(std::int64_t stream, const std::string& worker,
                      std::uint64_t epoch) {
  change c;
  c.kind = change_kind::put_assignment;
  c.assignment = assignment_row{stream, worker, epoch, 3000};
  return c;
}

change set_epoch(std::uint64_t epoch) {
  change c;
  c.kind = change_kind::set_epoch;
  c.epoch = epoch;
  return c;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sqlite_store_suite)

BOOST_AUTO_TEST_CASE(commit_then_load_round_trips) {
  testing::temp_dir dir;
  {
    auto store = sqlite_store::open(dir.file("a.db"));
    BOOST_REQUIRE(store);
    auto err = (*store)->commit({put_worker("w1", 5), put_stream(1),
                                 put_stream(2), set_epoch(1),
                                 put_assignment(1, "w1", 1), set_epoch(7)});
    BOOST_REQUIRE(!err);
  }
  auto store = sqlite_store::open(dir.file("a.db"));
  BOOST_REQUIRE(store);
  auto snapshot = (*store)->load();
  BOOST_REQUIRE(snapshot);
  BOOST_REQUIRE_EQUAL(snapshot->workers.size(), 1u);
  BOOST_TEST(snapshot->workers[0].server_id == "w1");
  BOOST_TEST(snapshot->workers[0].max_streams == 5u);
  BOOST_TEST(snapshot->workers[0].reported_status == "active");
  BOOST_TEST(snapshot->streams.size() == 2u);
  BOOST_REQUIRE_EQUAL(snapshot->assignments.size(), 1u);
  BOOST_TEST(snapshot->assignments[0].epoch == 1u);
  BOOST_TEST(snapshot->epoch == 7u);
}

BOOST_AUTO_TEST_CASE(erase_changes_delete_rows) {
  testing::temp_dir dir;
  auto store = sqlite_store::open(dir.file("b.db"));
  BOOST_REQUIRE(store);
  BOOST_REQUIRE(!(*store)->commit({put_worker("w1", 5), put_stream(1),
                                   put_assignment(1, "w1", 1)}));
  change unassign;
  unassign.kind = change_kind::erase_assignment;
  unassign.assignment.stream_id = 1;
  change drop_stream;
  drop_stream.kind = change_kind::erase_stream;
  drop_stream.stream.id = 1;
  change drop_worker;
  drop_worker.kind = change_kind::erase_worker;
  drop_worker.worker.server_id = "w1";
  BOOST_REQUIRE(!(*store)->commit({unassign, drop_stream, drop_worker}));
  auto snapshot = (*store)->load();
  BOOST_REQUIRE(snapshot);
  BOOST_TEST(snapshot->workers.empty());
  BOOST_TEST(snapshot->streams.empty());
  BOOST_TEST(snapshot->assignments.empty());
}

BOOST_AUTO_TEST_CASE(failed_commit_writes_nothing) {
  testing::temp_dir dir;
  auto path = dir.file("c.db");
  auto store = sqlite_store::open(path);
  BOOST_REQUIRE(store);
  BOOST_REQUIRE(!(*store)->commit({put_worker("w1", 5)}));

  // A trigger makes the second write of the batch fail, as a full disk
  // would.
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  BOOST_REQUIRE(sqlite3_exec(db,
                             "CREATE TRIGGER no_streams BEFORE INSERT ON "
                             "streams BEGIN SELECT RAISE(ABORT, 'disk full'); "
                             "END;",
                             nullptr, nullptr, nullptr)
                == SQLITE_OK);
  sqlite3_close(db);

  auto err = (*store)->commit({put_worker("w2", 5), put_stream(1)});
  BOOST_REQUIRE(err);
  BOOST_TEST(is(err, errc::store_unavailable));
  BOOST_TEST(describe(err).find("disk full") != std::string::npos);
  auto snapshot = (*store)->load();
  BOOST_REQUIRE(snapshot);
  BOOST_TEST(snapshot->workers.size() == 1u);
}

BOOST_AUTO_TEST_CASE(rebalance_history_survives_reopen) {
  testing::temp_dir dir;
  auto path = dir.file("state.db");
  {
    auto store = sqlite_store::open(path);
    BOOST_REQUIRE(store);
    for (std::uint64_t k = 1; k <= 3; ++k) {
      rebalance_report report;
      report.method = "smart_balancer";
      report.reason = k == 3 ? "manual" : "new_instance";
      report.status = k == 2 ? "deferred" : "completed";
      report.moved = k == 2 ? 0 : k;
      report.moves.assign(report.moved, stream_move{7, "a", "b", 42});
      report.workers_affected = {"a", "b"};
      report.duration_ms = 1.5;
      report.started_at_ms = 1000 * static_cast<std::int64_t>(k);
      BOOST_REQUIRE(!(*store)->append_rebalance(report));
    }
  }
  auto store = sqlite_store::open(path);
  BOOST_REQUIRE(store);
  auto history = (*store)->load_rebalances(2);
  BOOST_REQUIRE(history);
  BOOST_TEST(history->totals.total == 3u);
  BOOST_TEST(history->totals.successful == 2u);
  BOOST_TEST(history->totals.streams_moved == 4u);
  BOOST_TEST(history->totals.total_duration_ms == 4.5);
  BOOST_TEST(history->totals.moved_by_reason["new_instance"] == 1u);
  BOOST_TEST(history->totals.moved_by_reason["manual"] == 3u);
  BOOST_REQUIRE_EQUAL(history->recent.size(), 2u);
  const auto& newest = history->recent[0];
  BOOST_TEST(newest.reason == "manual");
  BOOST_TEST(newest.started_at_ms == 3000);
  BOOST_REQUIRE_EQUAL(newest.moves.size(), 3u);
  BOOST_TEST(newest.moves[0].to == "b");
  BOOST_TEST(newest.moves[0].epoch == 42u);
  BOOST_TEST(newest.workers_affected.size() == 2u);
  BOOST_TEST(history->recent[1].status == "deferred");
  BOOST_REQUIRE_EQUAL(history->totals.last.size(), 1u);
  BOOST_TEST(history->totals.last[0].id == newest.id);
}

BOOST_AUTO_TEST_CASE(open_fails_clearly_for_bad_path) {
  auto store = sqlite_store::open("/nonexistent-dir/x/state.db");
  BOOST_REQUIRE(!store);
  BOOST_TEST(is(store.error(), errc::store_unavailable));
  BOOST_TEST(describe(store.error()).find("/nonexistent-dir/x/state.db")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
