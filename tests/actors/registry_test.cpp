#define BOOST_TEST_MODULE registry
#include <boost/test/unit_test.hpp>

#include "actors/errors.hpp"
#include "actors/registry.hpp"
#include "modules/store/sqlite_store.hpp"
#include "tests/support/temp_dir.hpp"

#include <algorithm>
#include <set>

using namespace orchestrator;

namespace {

/// Returns the instant `seconds` after an arbitrary start, on both clocks.
instant at(double seconds) {
  auto ms = static_cast<std::int64_t>(seconds * 1000);
  return instant{1'700'000'000'000 + ms, 5'000'000 + ms};
}

std::vector<stream_row> catalog(std::int64_t count) {
  std::vector<stream_row> rows;
  for (std::int64_t id = 1; id <= count; ++id)
    rows.push_back(stream_row{id, "http://radio/" + std::to_string(id),
                              "radio " + std::to_string(id), "{}"});
  return rows;
}

std::set<std::int64_t> ids_of(const std::vector<stream_lease>& leases) {
  std::set<std::int64_t> result;
  for (const auto& lease : leases)
    result.insert(lease.stream_id);
  return result;
}

struct fixture {
  registry reg;

  fixture() {
    reg.load(store_snapshot{}, at(0));
    reg.put_streams(catalog(10));
    reg.take_journal();
  }

  register_reply join(const std::string& id, std::uint32_t capacity,
                      double time = 1) {
    auto reply = reg.register_worker(registration{id, "10.0.0.1", 9000,
                                                  capacity},
                                     at(time));
    BOOST_REQUIRE(reply);
    return *reply;
  }

  assign_reply take(const std::string& id, std::uint32_t count,
                    double time = 2) {
    auto reply = reg.assign(assign_request{id, count}, at(time));
    BOOST_REQUIRE(reply);
    return *reply;
  }

  void require_invariants() {
    auto problem = reg.check_invariants();
    BOOST_REQUIRE_MESSAGE(problem.empty(), problem);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(registry_rules, fixture)

BOOST_AUTO_TEST_CASE(stream_has_one_owner) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 6);
  auto second = take("b", 6);
  BOOST_TEST(first.assigned.size() == 6u);
  BOOST_TEST(second.assigned.size() == 4u);
  std::set<std::int64_t> all(first.assigned.begin(), first.assigned.end());
  for (auto id : second.assigned)
    BOOST_TEST(all.insert(id).second);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(assign_respects_max_streams) {
  join("a", 3);
  auto reply = take("a", 20);
  BOOST_TEST(reply.assigned.size() == 3u);
  BOOST_TEST((reply.outcome == assign_outcome::assigned));
  auto again = take("a", 20);
  BOOST_TEST((again.outcome == assign_outcome::no_capacity));
  BOOST_TEST(again.assigned.empty());
  BOOST_TEST(again.owned.size() == 3u);
}

BOOST_AUTO_TEST_CASE(assign_reports_no_streams) {
  join("a", 20);
  take("a", 10);
  join("b", 5);
  auto reply = take("b", 5);
  BOOST_TEST((reply.outcome == assign_outcome::no_streams));
  BOOST_TEST(reply.owned.empty());
}

BOOST_AUTO_TEST_CASE(release_ignores_foreign_streams) {
  join("a", 5);
  join("b", 5);
  auto mine = take("a", 2);
  auto theirs = take("b", 2);
  auto reply = reg.release(release_request{"a",
                                           {mine.assigned[0],
                                            theirs.assigned[0], 999},
                                           {}},
                           at(3));
  BOOST_REQUIRE(reply);
  BOOST_TEST(reply->released == std::vector<std::int64_t>{mine.assigned[0]});
  BOOST_TEST(reg.owned_by("b").size() == 2u);
  BOOST_TEST(reply->owned.size() == 1u);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(reregistration_keeps_streams) {
  join("a", 5, 1);
  auto taken = take("a", 4);
  auto before = reg.find_worker("a", at(3));
  BOOST_REQUIRE(before);

  auto reply = reg.register_worker(registration{"a", "10.0.0.9", 9100, 8},
                                   at(10));
  BOOST_REQUIRE(reply);
  BOOST_TEST(reply->reregistration);
  BOOST_TEST(reply->freed_streams.empty());
  BOOST_TEST(ids_of(reply->owned)
             == std::set<std::int64_t>(taken.assigned.begin(),
                                       taken.assigned.end()));
  auto after = reg.find_worker("a", at(10));
  BOOST_REQUIRE(after);
  BOOST_TEST(after->row.registered_at_ms == before->row.registered_at_ms);
  BOOST_TEST(after->row.ip == "10.0.0.9");
  BOOST_TEST(after->row.port == 9100);
  BOOST_TEST(after->row.max_streams == 8u);
}

BOOST_AUTO_TEST_CASE(shrunken_capacity_frees_newest_streams) {
  join("a", 5);
  join("b", 5);
  take("a", 5);
  auto leases = reg.owned_by("a");
  std::sort(leases.begin(), leases.end(),
            [](auto& x, auto& y) { return x.epoch < y.epoch; });

  auto reply = reg.register_worker(registration{"a", "10.0.0.1", 9000, 3},
                                   at(5));
  BOOST_REQUIRE(reply);
  BOOST_TEST(reply->owned.size() == 3u);
  BOOST_TEST(reply->freed_streams.size() == 2u);
  std::set<std::int64_t> newest{leases[3].stream_id, leases[4].stream_id};
  BOOST_TEST(std::set<std::int64_t>(reply->freed_streams.begin(),
                                    reply->freed_streams.end())
             == newest);
  // The freed streams were being captured, so they go to b at once.
  BOOST_TEST(ids_of(reg.owned_by("b")) == newest);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(dead_worker_streams_go_to_least_loaded) {
  join("a", 10);
  join("b", 10);
  join("c", 10);
  take("a", 4);
  take("b", 1);
  take("c", 3);
  auto dead = reg.find_worker("a", at(3));
  BOOST_REQUIRE(dead);

  auto report = reg.declare_dead({liveness{"a", at(1).steady_ms}}, at(400));
  BOOST_TEST(report.dead_workers == std::vector<std::string>{"a"});
  BOOST_TEST(report.streams_freed == 4u);
  BOOST_TEST(report.streams_reassigned == 4u);
  // b had 1 and c had 3: least loaded first ends at 4 and 4.
  BOOST_TEST(reg.owned_by("b").size() == 4u);
  BOOST_TEST(reg.owned_by("c").size() == 4u);
  BOOST_TEST(reg.owned_by("a").empty());
  require_invariants();
}

BOOST_AUTO_TEST_CASE(streams_wait_when_nothing_fits) {
  join("a", 6);
  join("b", 2);
  take("a", 6);
  take("b", 2);
  auto report = reg.declare_dead({liveness{"a", at(1).steady_ms}}, at(400));
  BOOST_TEST(report.streams_freed == 6u);
  BOOST_TEST(report.streams_reassigned == 0u);
  BOOST_TEST(reg.summary().streams_waiting == 6u);

  // New capacity takes the waiting streams at once.
  auto reply = reg.register_worker(registration{"c", "10.0.0.3", 9000, 4},
                                   at(401));
  BOOST_REQUIRE(reply);
  BOOST_TEST(reply->owned.size() == 4u);
  BOOST_TEST(reg.summary().streams_waiting == 2u);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(placed_streams_reach_assign_reply) {
  join("a", 4);
  join("b", 4);
  take("a", 2);
  reg.declare_dead({liveness{"a", at(1).steady_ms}}, at(400));
  auto placed = reg.owned_by("b");
  BOOST_TEST(placed.size() == 2u);

  // A client that reads only assigned_streams learns them on its next
  // assign request, once.
  auto first = take("b", 1, 401);
  BOOST_TEST(first.assigned.size() == 3u);
  auto second = take("b", 1, 402);
  BOOST_TEST(second.assigned.size() == 1u);
}

BOOST_AUTO_TEST_CASE(heartbeat_after_verdict_saves_worker) {
  join("a", 5);
  take("a", 2);
  auto seen = reg.active_liveness();
  BOOST_REQUIRE(reg.record_heartbeat(heartbeat{"a", 2, "active"}, at(50)));
  auto report = reg.declare_dead(seen, at(400));
  BOOST_TEST(report.dead_workers.empty());
  BOOST_TEST(reg.owned_by("a").size() == 2u);
}

BOOST_AUTO_TEST_CASE(dead_worker_is_rejected_then_returns_empty) {
  join("a", 5);
  auto old = take("a", 2);
  reg.declare_dead({liveness{"a", at(1).steady_ms}}, at(400));
  BOOST_TEST(reg.owned_by("a").empty());

  auto beat = reg.record_heartbeat(heartbeat{"a", 2, "active"}, at(401));
  BOOST_REQUIRE(!beat);
  BOOST_TEST(is(beat.error(), errc::worker_dead));
  auto assign = reg.assign(assign_request{"a", 1}, at(401));
  BOOST_REQUIRE(!assign);
  BOOST_TEST(is(assign.error(), errc::worker_dead));

  auto back = reg.register_worker(registration{"a", "10.0.0.1", 9000, 5},
                                  at(402));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->reregistration);
  // Its two old streams found no other worker and waited; the returning
  // worker receives them as new capacity, under new epochs.
  BOOST_TEST(back->owned.size() == 2u);
  for (const auto& lease : back->owned)
    BOOST_TEST(lease.epoch > old.owned.back().epoch);
  auto view = reg.find_worker("a", at(402));
  BOOST_REQUIRE(view);
  BOOST_TEST((view->row.state == worker_state::active));
  BOOST_TEST(view->row.registered_at_ms == at(402).wall_ms);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(unknown_worker_is_not_found) {
  auto beat = reg.record_heartbeat(heartbeat{"ghost", 0, "active"}, at(1));
  BOOST_REQUIRE(!beat);
  BOOST_TEST(is(beat.error(), errc::unknown_worker));
  auto release = reg.release(release_request{"ghost", {1}, {}}, at(1));
  BOOST_REQUIRE(!release);
  BOOST_TEST(is(release.error(), errc::unknown_worker));
}

BOOST_AUTO_TEST_CASE(every_reply_carries_owned_set) {
  join("a", 5);
  auto assigned = take("a", 3);
  auto beat = reg.record_heartbeat(heartbeat{"a", 3, "active"}, at(3));
  BOOST_REQUIRE(beat);
  BOOST_TEST(ids_of(beat->owned) == ids_of(assigned.owned));
  auto release = reg.release(release_request{"a", {assigned.assigned[0]}, {}},
                             at(4));
  BOOST_REQUIRE(release);
  BOOST_TEST(ids_of(release->owned) == ids_of(reg.owned_by("a")));
  BOOST_TEST(release->owned.size() == 2u);
}

BOOST_AUTO_TEST_CASE(epochs_only_grow) {
  join("a", 10);
  auto first = take("a", 3);
  std::uint64_t last = 0;
  for (const auto& lease : first.owned) {
    BOOST_TEST(lease.epoch > last);
    last = lease.epoch;
  }
  reg.release(release_request{"a", first.assigned, {}}, at(3));
  auto second = take("a", 3, 4);
  for (const auto& lease : second.owned)
    BOOST_TEST(lease.epoch > last);
}

BOOST_AUTO_TEST_CASE(stale_epoch_release_is_rejected) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 1);
  auto stream = first.owned[0];
  // The stream moves to b and back to a, so a's first lease is stale.
  std::vector<std::string> affected;
  reg.begin_handoffs({stream_move{stream.stream_id, "a", "b", stream.epoch}},
                     at(3), 0, affected);
  auto moved = reg.owned_by("b");
  reg.begin_handoffs({stream_move{stream.stream_id, "b", "a", moved[0].epoch}},
                     at(4), 0, affected);
  reg.take_journal();

  auto stale = reg.release(release_request{"a",
                                           {stream.stream_id},
                                           {stream}},
                           at(5));
  BOOST_REQUIRE(!stale);
  BOOST_TEST(is(stale.error(), errc::stale_epoch));
  BOOST_TEST(reg.take_journal().empty());
  BOOST_TEST(reg.owned_by("a").size() == 1u);

  auto current = reg.owned_by("a")[0];
  auto fresh = reg.release(release_request{"a", {stream.stream_id}, {current}},
                           at(6));
  BOOST_REQUIRE(fresh);
  BOOST_TEST(fresh->released.size() == 1u);
}

BOOST_AUTO_TEST_CASE(moves_with_old_epoch_are_skipped) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 2);
  std::vector<std::string> affected;
  auto started = reg.begin_handoffs(
    {stream_move{first.owned[0].stream_id, "a", "b", first.owned[0].epoch + 99},
     stream_move{first.owned[1].stream_id, "a", "b", first.owned[1].epoch}},
    at(3), 0, affected);
  BOOST_TEST(started.size() == 1u);
  BOOST_TEST(reg.owned_by("b").size() == 1u);
  BOOST_TEST(affected == (std::vector<std::string>{"a", "b"}));
}

BOOST_AUTO_TEST_CASE(deregister_frees_and_places_streams) {
  join("a", 5);
  join("b", 5);
  take("a", 3);
  auto reply = reg.deregister("a", at(3));
  BOOST_REQUIRE(reply);
  BOOST_TEST(reply->freed_streams.size() == 3u);
  BOOST_TEST(reply->reassigned == 3u);
  BOOST_TEST(reg.owned_by("b").size() == 3u);
  auto gone = reg.find_worker("a", at(3));
  BOOST_REQUIRE(!gone);
  BOOST_TEST(is(gone.error(), errc::unknown_worker));
  require_invariants();
}

BOOST_AUTO_TEST_CASE(erase_stream_takes_it_from_owner) {
  join("a", 5);
  auto taken = take("a", 2);
  auto owner = reg.erase_stream(taken.assigned[0]);
  BOOST_REQUIRE(owner);
  BOOST_TEST(*owner == "a");
  BOOST_TEST(reg.owned_by("a").size() == 1u);
  auto missing = reg.erase_stream(12345);
  BOOST_REQUIRE(!missing);
  BOOST_TEST(is(missing.error(), errc::unknown_stream));
  require_invariants();
}

BOOST_AUTO_TEST_CASE(rollback_restores_previous_state) {
  join("a", 5);
  join("b", 5);
  take("a", 3);
  reg.take_journal();
  auto before = reg.list_assignments();
  auto summary_before = reg.summary();

  take("b", 4);
  reg.declare_dead({liveness{"a", at(1).steady_ms}}, at(400));
  reg.put_streams({stream_row{77, "http://x", "x", "{}"}});
  reg.erase_stream(2);
  reg.rollback(reg.take_journal());

  auto after = reg.list_assignments();
  BOOST_REQUIRE(after.size() == before.size());
  for (std::size_t k = 0; k < before.size(); ++k) {
    BOOST_TEST(after[k].stream_id == before[k].stream_id);
    BOOST_TEST(after[k].server_id == before[k].server_id);
    BOOST_TEST(after[k].epoch == before[k].epoch);
  }
  BOOST_TEST(reg.summary().streams_total == summary_before.streams_total);
  BOOST_TEST(reg.summary().workers_active == 2u);
  BOOST_TEST(reg.epoch() == summary_before.epoch);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(forget_dead_removes_old_dead_workers) {
  join("a", 5);
  join("b", 5);
  reg.declare_dead({liveness{"a", at(1).steady_ms}}, at(400));
  BOOST_TEST(reg.forget_dead(at(0).wall_ms) == 0u);
  BOOST_TEST(reg.forget_dead(at(500).wall_ms) == 1u);
  BOOST_TEST(reg.list_workers(at(500)).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(registry_durability)

BOOST_AUTO_TEST_CASE(reload_restores_assignments) {
  testing::temp_dir dir;
  auto opened = sqlite_store::open(dir.file("state.db"));
  BOOST_REQUIRE(opened);
  auto& store = **opened;

  registry first;
  first.load(store_snapshot{}, at(0));
  first.put_streams(catalog(20));
  first.register_worker(registration{"a", "10.0.0.1", 9000, 8}, at(1));
  first.register_worker(registration{"b", "10.0.0.2", 9000, 8}, at(1));
  first.assign(assign_request{"a", 5}, at(2));
  first.assign(assign_request{"b", 7}, at(2));
  BOOST_REQUIRE(!store.commit(first.take_journal().redo));

  auto snapshot = store.load();
  BOOST_REQUIRE(snapshot);
  registry second;
  auto repairs = second.load(*snapshot, at(1000));
  BOOST_TEST(repairs == 0u);
  BOOST_TEST(second.check_invariants() == "");
  auto expected = first.list_assignments();
  auto actual = second.list_assignments();
  BOOST_REQUIRE(actual.size() == expected.size());
  for (std::size_t k = 0; k < expected.size(); ++k) {
    BOOST_TEST(actual[k].stream_id == expected[k].stream_id);
    BOOST_TEST(actual[k].server_id == expected[k].server_id);
    BOOST_TEST(actual[k].epoch == expected[k].epoch);
  }
  BOOST_TEST(second.epoch() == first.epoch());

  // Every worker starts a fresh grace period at the reload.
  for (const auto& w : second.active_liveness())
    BOOST_TEST(w.last_seen_steady_ms == at(1000).steady_ms);
}

BOOST_AUTO_TEST_CASE(load_repairs_invalid_rows) {
  store_snapshot snapshot;
  snapshot.streams = catalog(3);
  snapshot.workers.push_back(worker_row{"a", "h", 1, 1, worker_state::active,
                                        0, 0, ""});
  snapshot.workers.push_back(worker_row{"d", "h", 1, 5, worker_state::dead,
                                        0, 0, ""});
  snapshot.assignments.push_back(assignment_row{1, "a", 1, 0});
  snapshot.assignments.push_back(assignment_row{2, "a", 2, 0});
  snapshot.assignments.push_back(assignment_row{3, "d", 3, 0});
  snapshot.assignments.push_back(assignment_row{9, "a", 4, 0});

  registry reg;
  auto repairs = reg.load(snapshot, at(0));
  // Stream 2 exceeds a's capacity, stream 3 belongs to a dead worker and
  // stream 9 is not in the catalogue.
  BOOST_TEST(repairs == 3u);
  BOOST_TEST(reg.check_invariants() == "");
  BOOST_TEST(reg.owned_by("a").size() == 1u);
  BOOST_TEST(reg.epoch() == 4u);
  BOOST_TEST(!reg.take_journal().empty());
}

BOOST_AUTO_TEST_SUITE_END()

// -- two-phase handoff and draining -------------------------------------------

BOOST_FIXTURE_TEST_SUITE(registry_handoffs, fixture)

BOOST_AUTO_TEST_CASE(handoff_revokes_before_assigning) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 4);
  auto moved = first.owned[3];
  std::vector<std::string> affected;
  auto started = reg.begin_handoffs(
    {stream_move{moved.stream_id, "a", "b", moved.epoch}}, at(3), 10'000,
    affected);
  BOOST_REQUIRE_EQUAL(started.size(), 1u);
  require_invariants();
  // Phase one: the stream leaves a's replies, and b does not have it yet.
  auto beat = reg.record_heartbeat(heartbeat{"a", 4, "active"}, at(4));
  BOOST_REQUIRE(beat);
  BOOST_TEST(ids_of(beat->owned).count(moved.stream_id) == 0u);
  BOOST_TEST(beat->owned.size() == 3u);
  BOOST_TEST(reg.owned_by("b").empty());
  auto assignments = reg.list_assignments();
  BOOST_TEST(std::count_if(assignments.begin(), assignments.end(), [&](const auto& row) {
               return row.stream_id == moved.stream_id && row.server_id == "a";
             }) == 1);
  BOOST_TEST(reg.summary().handoffs == 1u);

  // Still listed by a: no confirmation.
  std::vector<std::int64_t> listed;
  for (const auto& lease : first.owned)
    listed.push_back(lease.stream_id);
  reg.record_heartbeat(heartbeat{"a", 4, "active", true, listed}, at(5));
  BOOST_TEST(reg.owned_by("b").empty());

  // Phase two: a's list leaves it out, so b gets it under a new epoch.
  listed.pop_back();
  reg.record_heartbeat(heartbeat{"a", 3, "active", true, listed}, at(6));
  auto now_b = reg.owned_by("b");
  BOOST_REQUIRE_EQUAL(now_b.size(), 1u);
  BOOST_TEST(now_b[0].stream_id == moved.stream_id);
  BOOST_TEST(now_b[0].epoch > moved.epoch);
  BOOST_TEST(reg.summary().handoffs == 0u);
  // Clients that read only assigned_streams learn of it too.
  auto assign = take("b", 0, 7);
  std::vector<std::int64_t> expected{moved.stream_id};
  BOOST_TEST(assign.assigned == expected);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(handoff_completes_on_timeout_or_release) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 4);
  std::vector<std::string> affected;
  reg.begin_handoffs({stream_move{first.owned[0].stream_id, "a", "b",
                                  first.owned[0].epoch},
                      stream_move{first.owned[1].stream_id, "a", "b",
                                  first.owned[1].epoch}},
                     at(3), 10'000, affected);
  BOOST_TEST(reg.next_handoff_deadline() == at(13).steady_ms);
  BOOST_TEST(reg.complete_due_handoffs(at(12)) == 0u);

  // Releasing a revoked stream confirms its handoff at once.
  auto released = reg.release(
    release_request{"a", {first.owned[0].stream_id}, {}}, at(4));
  BOOST_REQUIRE(released);
  BOOST_TEST(released->released.size() == 1u);
  BOOST_TEST(reg.owned_by("b").size() == 1u);

  // A silent owner loses the other when the timeout passes.
  BOOST_TEST(reg.complete_due_handoffs(at(13)) == 1u);
  BOOST_TEST(reg.owned_by("b").size() == 2u);
  BOOST_TEST(reg.owned_by("a").size() == 2u);
  BOOST_TEST(reg.next_handoff_deadline() == -1);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(handoff_counts_against_receiver_capacity) {
  join("a", 10);
  join("b", 1);
  auto first = take("a", 4);
  std::vector<std::string> affected;
  auto started = reg.begin_handoffs(
    {stream_move{first.owned[0].stream_id, "a", "b", first.owned[0].epoch},
     stream_move{first.owned[1].stream_id, "a", "b", first.owned[1].epoch}},
    at(3), 10'000, affected);
  BOOST_TEST(started.size() == 1u);
  auto full = take("b", 5, 4);
  BOOST_TEST(full.assigned.empty());
  BOOST_TEST(int(full.outcome) == int(assign_outcome::no_capacity));
  require_invariants();
}

BOOST_AUTO_TEST_CASE(receiver_death_returns_stream_to_owner) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 4);
  auto moved = first.owned[0];
  std::vector<std::string> affected;
  reg.begin_handoffs({stream_move{moved.stream_id, "a", "b", moved.epoch}},
                     at(3), 10'000, affected);
  auto b = reg.active_liveness();
  for (const auto& w : b)
    if (w.server_id == "b")
      reg.declare_dead({w}, at(4));
  // a captures it again: same epoch, listed in its replies.
  auto owned = reg.owned_by("a");
  BOOST_TEST(owned.size() == 4u);
  BOOST_TEST(ids_of(owned).count(moved.stream_id) == 1u);
  BOOST_TEST(reg.summary().handoffs == 0u);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(owner_death_frees_stream_in_handoff) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 4);
  std::vector<std::string> affected;
  reg.begin_handoffs({stream_move{first.owned[0].stream_id, "a", "b",
                                  first.owned[0].epoch}},
                     at(3), 10'000, affected);
  for (const auto& w : reg.active_liveness())
    if (w.server_id == "a")
      reg.declare_dead({w}, at(4));
  BOOST_TEST(reg.owned_by("b").size() == 4u);
  BOOST_TEST(reg.summary().handoffs == 0u);
  require_invariants();
}

BOOST_AUTO_TEST_CASE(rolled_back_handoff_stays_consistent) {
  join("a", 10);
  join("b", 10);
  auto first = take("a", 4);
  reg.take_journal();
  std::vector<std::string> affected;
  reg.begin_handoffs({stream_move{first.owned[0].stream_id, "a", "b",
                                  first.owned[0].epoch}},
                     at(3), 0, affected);
  BOOST_TEST(reg.owned_by("b").size() == 1u);
  reg.rollback(reg.take_journal());
  BOOST_TEST(reg.owned_by("a").size() == 4u);
  BOOST_TEST(reg.owned_by("b").empty());
  require_invariants();
}

BOOST_AUTO_TEST_CASE(draining_worker_gets_no_streams) {
  join("a", 10);
  auto drained = reg.set_draining("a", true, at(2));
  BOOST_REQUIRE(drained);
  BOOST_TEST(drained->row.draining);
  auto reply = take("a", 3, 3);
  BOOST_TEST(reply.assigned.empty());
  BOOST_TEST(int(reply.outcome) == int(assign_outcome::draining));
  auto state = reg.balance_state(at(3));
  BOOST_REQUIRE_EQUAL(state.workers.size(), 1u);
  BOOST_TEST(state.workers[0].draining);
  BOOST_TEST(state.last_membership_change == "drain");
  BOOST_TEST(state.since_membership_change_ms == 1000);

  BOOST_REQUIRE(reg.set_draining("a", false, at(4)));
  BOOST_TEST(take("a", 3, 5).assigned.size() == 3u);
  BOOST_TEST(!reg.set_draining("nobody", true, at(5)));
  require_invariants();
}

BOOST_AUTO_TEST_CASE(weight_is_kept_across_registrations) {
  auto reply = reg.register_worker(registration{"a", "10.0.0.1", 9000, 10, 2.5},
                                   at(1));
  BOOST_REQUIRE(reply);
  join("a", 10, 2);
  auto view = reg.find_worker("a", at(3));
  BOOST_REQUIRE(view);
  BOOST_TEST(view->row.weight == 2.5);
}

BOOST_AUTO_TEST_CASE(waiting_streams_follow_fair_shares) {
  join("a", 10);
  join("b", 10);
  join("c", 10);
  take("a", 4);
  take("b", 2);
  // c dies holding nothing; a's 4 streams wait when a dies and go to the
  // worker below its share first.
  for (const auto& w : reg.active_liveness())
    if (w.server_id == "a")
      reg.declare_dead({w}, at(3));
  BOOST_TEST(reg.owned_by("b").size() == 3u);
  BOOST_TEST(reg.owned_by("c").size() == 3u);
  require_invariants();
}

BOOST_AUTO_TEST_SUITE_END()

// -- heartbeat board ----------------------------------------------------------

namespace {

fast_beat beat_at(double seconds) {
  auto t = at(seconds);
  return fast_beat{t.steady_ms, t.wall_ms, 0, "active"};
}

} // namespace

BOOST_FIXTURE_TEST_CASE(board_answers_after_slot_opens,
                        fixture) {
  heartbeat_board board;
  reg.attach_board(&board);
  join("a", 5);
  take("a", 3);
  BOOST_CHECK(!board.record("a", beat_at(3)));
  auto version = reg.lease_version("a");
  reg.open_slot("a", version);
  auto leases = board.record("a", beat_at(3));
  BOOST_REQUIRE(leases);
  BOOST_CHECK_EQUAL(leases->ids.size(), 3u);
  BOOST_CHECK_EQUAL(leases->json.front(), '[');
  BOOST_CHECK(board.has_beats());
}

BOOST_FIXTURE_TEST_CASE(worker_change_closes_slot, fixture) {
  heartbeat_board board;
  reg.attach_board(&board);
  join("a", 5);
  take("a", 2);
  auto version = reg.lease_version("a");
  take("a", 1, 3);
  // A slot opened for a version older than the last change stays shut.
  reg.open_slot("a", version);
  BOOST_CHECK(!board.record("a", beat_at(4)));
  reg.open_slot("a", reg.lease_version("a"));
  auto leases = board.record("a", beat_at(4));
  BOOST_REQUIRE(leases);
  BOOST_CHECK_EQUAL(leases->ids.size(), 3u);
  // A release closes it again.
  BOOST_REQUIRE(reg.release(release_request{"a", {leases->ids.front()}, {}},
                            at(5)));
  BOOST_CHECK(!board.record("a", beat_at(5)));
}

BOOST_FIXTURE_TEST_CASE(late_board_heartbeat_saves_worker,
                        fixture) {
  heartbeat_board board;
  reg.attach_board(&board);
  join("a", 5);
  take("a", 2);
  reg.open_slot("a", reg.lease_version("a"));
  auto seen = reg.active_liveness();
  // Replied to on an HTTP thread after the failure detector read liveness.
  BOOST_REQUIRE(board.record("a", beat_at(399)));
  auto report = reg.declare_dead(seen, at(400));
  BOOST_CHECK(report.dead_workers.empty());
  BOOST_CHECK_EQUAL(reg.find_worker("a", at(400))->heartbeat_age_ms, 1000);
}

BOOST_FIXTURE_TEST_CASE(dead_worker_gets_no_board_answer, fixture) {
  heartbeat_board board;
  reg.attach_board(&board);
  join("a", 5);
  take("a", 2);
  reg.open_slot("a", reg.lease_version("a"));
  auto report = reg.declare_dead({liveness{"a", at(1).steady_ms}}, at(400));
  BOOST_CHECK_EQUAL(report.dead_workers.size(), 1u);
  BOOST_CHECK(!board.record("a", beat_at(401)));
  // Nor does a forgotten one.
  join("b", 5);
  reg.open_slot("b", reg.lease_version("b"));
  BOOST_REQUIRE(reg.deregister("b", at(402)));
  BOOST_CHECK(!board.record("b", beat_at(403)));
}

BOOST_FIXTURE_TEST_CASE(collected_board_heartbeats_count_for_liveness,
                        fixture) {
  heartbeat_board board;
  reg.attach_board(&board);
  join("a", 5);
  reg.open_slot("a", reg.lease_version("a"));
  for (int k = 2; k <= 6; ++k)
    BOOST_REQUIRE(board.record("a", beat_at(k * 10)));
  reg.collect_beats();
  BOOST_CHECK(!board.has_beats());
  auto seen = reg.active_liveness();
  BOOST_REQUIRE_EQUAL(seen.size(), 1u);
  BOOST_CHECK_EQUAL(seen.front().last_seen_steady_ms, at(60).steady_ms);
  // Four intervals of 10 s between the five heartbeats.
  BOOST_CHECK_EQUAL(seen.front().intervals, 4u);
  BOOST_CHECK_CLOSE(seen.front().interval_mean_ms, 10'000.0, 0.001);
}

BOOST_FIXTURE_TEST_CASE(worker_and_stream_limits_reject,
                        fixture) {
  reg.set_limits(2, 12);
  join("a", 5);
  join("b", 5);
  auto third = reg.register_worker(registration{"c", "10.0.0.1", 9000, 5},
                                   at(2));
  BOOST_REQUIRE(!third);
  BOOST_CHECK(is(third.error(), errc::limit_reached));
  // A known worker registers again past the limit.
  BOOST_CHECK(static_cast<bool>(
    reg.register_worker(registration{"a", "10.0.0.1", 9000, 6}, at(2))));
  auto before = reg.summary().streams_total;
  auto added = reg.put_streams({stream_row{11, "http://x/11", "x", "{}"},
                                stream_row{12, "http://x/12", "x", "{}"},
                                stream_row{13, "http://x/13", "x", "{}"}});
  BOOST_REQUIRE(!added);
  BOOST_CHECK(is(added.error(), errc::limit_reached));
  BOOST_CHECK_EQUAL(reg.summary().streams_total, before);
  BOOST_CHECK(static_cast<bool>(
    reg.put_streams({stream_row{11, "http://x/11", "x", "{}"}})));
}

BOOST_FIXTURE_TEST_CASE(back_to_back_heartbeats_are_no_interval, fixture) {
  join("a", 5);
  // A burst right after the registration, then one heartbeat 5 s later.
  for (double t : {1.001, 1.002, 1.003, 1.004, 6.004})
    BOOST_REQUIRE(reg.record_heartbeat(heartbeat{"a", 0, "active"}, at(t)));
  auto seen = reg.active_liveness();
  BOOST_REQUIRE_EQUAL(seen.size(), 1u);
  BOOST_CHECK_EQUAL(seen.front().intervals, 1u);
  BOOST_CHECK_CLOSE(seen.front().interval_mean_ms, 5'000.0, 0.001);
}
