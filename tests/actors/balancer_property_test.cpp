// Property tests of the smart balancer driving a real registry: random
// clusters, joins, deaths and drains, with every handoff carried out in two
// phases, checked against an independent computation of the fewest moves.

#include <boost/test/unit_test.hpp>

#include "actors/registry.hpp"
#include "modules/balancer/smart_balancer.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

using namespace orchestrator;

namespace {

/// Exact shares by water-filling, written apart from the balancer's code.
std::vector<double> reference_shares(const std::vector<double>& claims,
                                     const std::vector<std::uint32_t>& caps,
                                     double total) {
  auto n = claims.size();
  std::vector<double> shares(n, 0);
  std::vector<bool> full(n, false);
  double left = total;
  for (bool changed = true; changed;) {
    changed = false;
    double open_claims = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (!full[i] && claims[i] > 0)
        open_claims += claims[i];
    if (open_claims <= 0)
      break;
    for (std::size_t i = 0; i < n; ++i)
      if (!full[i] && claims[i] > 0
          && left * claims[i] / open_claims >= caps[i]) {
        full[i] = true;
        shares[i] = caps[i];
        left -= caps[i];
        changed = true;
      }
    if (!changed)
      for (std::size_t i = 0; i < n; ++i)
        if (!full[i] && claims[i] > 0)
          shares[i] = left * claims[i] / open_claims;
  }
  return shares;
}

/// The fewest moves that bring every worker to the floor or ceiling of its
/// share, by trying every way to round (clusters here have few workers).
std::uint64_t reference_minimum(const std::vector<std::uint32_t>& current,
                                const std::vector<double>& shares) {
  auto n = current.size();
  std::uint64_t total = 0;
  for (auto c : current)
    total += c;
  std::uint64_t best = UINT64_MAX;
  for (std::uint32_t mask = 0; mask < (1u << n); ++mask) {
    std::uint64_t sum = 0;
    std::uint64_t moves = 0;
    bool valid = true;
    for (std::size_t i = 0; i < n && valid; ++i) {
      auto floor = static_cast<std::uint64_t>(std::floor(shares[i] + 1e-9));
      auto ceil = static_cast<std::uint64_t>(std::ceil(shares[i] - 1e-9));
      auto t = (mask >> i) & 1u ? ceil : floor;
      valid = ((mask >> i) & 1u) == 0 || ceil > floor;
      sum += t;
      moves += current[i] > t ? current[i] - t : 0;
    }
    if (valid && sum == total)
      best = std::min(best, moves);
  }
  return best;
}

class cluster {
public:
  explicit cluster(std::uint32_t seed) : rng_(seed) {
    reg_.load(store_snapshot{}, now());
  }

  int pick(int low, int high) {
    return std::uniform_int_distribution<int>{low, high}(rng_);
  }

  instant now() const {
    return instant{1'700'000'000'000 + clock_ms_, clock_ms_};
  }

  void advance(std::int64_t ms) {
    clock_ms_ += ms;
  }

  registry& reg() {
    return reg_;
  }

  void add_streams(std::int64_t count) {
    std::vector<stream_row> rows;
    for (std::int64_t k = 0; k < count; ++k, ++next_stream_)
      rows.push_back(stream_row{next_stream_, "http://s/" + std::to_string(next_stream_),
                                "", "{}"});
    reg_.put_streams(rows);
    reg_.take_journal();
  }

  void join(const std::string& id, std::uint32_t capacity, double weight) {
    auto reply = reg_.register_worker(
      registration{id, "10.0.0.1", 9000, capacity, weight}, now());
    BOOST_REQUIRE(reply);
    reg_.take_journal();
  }

  void take(const std::string& id, std::uint32_t count) {
    BOOST_REQUIRE(reg_.assign(assign_request{id, count}, now()));
    reg_.take_journal();
  }

  /// Current owner of every assigned stream.
  std::map<std::int64_t, std::string> owners() const {
    std::map<std::int64_t, std::string> result;
    for (const auto& row : reg_.list_assignments())
      result[row.stream_id] = row.server_id;
    return result;
  }

  void check() {
    auto problem = reg_.check_invariants();
    BOOST_REQUIRE_MESSAGE(problem.empty(), problem);
    std::set<std::int64_t> seen;
    for (const auto& w : reg_.list_workers(now()))
      for (const auto& lease : reg_.owned_by(w.row.server_id))
        BOOST_REQUIRE_MESSAGE(seen.insert(lease.stream_id).second,
                              "stream " << lease.stream_id
                                        << " is in two workers' replies");
  }

  /// Runs rounds until the plan needs no move, carrying out each handoff in
  /// two phases: some owners confirm by heartbeat, the rest time out.
  /// Returns the moves made; checks the budget and the rules throughout.
  std::uint64_t converge(const smart_balancer& policy, int max_rounds = 10'000) {
    std::uint64_t moved = 0;
    bool converging = false;
    for (int round = 0; round < max_rounds; ++round) {
      auto input = reg_.balance_state(now());
      input.converging = converging;
      auto plan = policy.plan(input);
      BOOST_REQUIRE_MESSAGE(plan.moves.size() <= plan.budget,
                            "round " << round << " exceeds its budget");
      std::uint64_t total = 0;
      for (const auto& w : input.workers)
        total += w.load();
      const auto& config = policy.config();
      auto cap = std::max<std::uint64_t>(
        1, std::min<std::uint64_t>(
             config.max_moves,
             static_cast<std::uint64_t>(config.max_move_fraction * total)));
      BOOST_REQUIRE_LE(plan.moves.size(), cap);
      if (plan.moves.empty()) {
        BOOST_REQUIRE_MESSAGE(plan.deferred.empty(), plan.deferred);
        return moved;
      }
      std::vector<std::string> affected;
      auto started = reg_.begin_handoffs(plan.moves, now(), 5'000, affected);
      BOOST_REQUIRE_EQUAL(started.size(), plan.moves.size());
      moved += started.size();
      converging = plan.minimum_moves > started.size();
      check();
      // Phase two: half the donors confirm, the others stay silent.
      std::set<std::string> donors;
      for (const auto& m : started)
        donors.insert(m.from);
      for (const auto& donor : donors) {
        if (pick(0, 1) == 0)
          continue;
        std::vector<std::int64_t> listed;
        for (const auto& lease : reg_.owned_by(donor))
          listed.push_back(lease.stream_id);
        BOOST_REQUIRE(reg_.record_heartbeat(
          heartbeat{donor, 0, "active", true, listed}, now()));
        check();
      }
      advance(5'000);
      reg_.complete_due_handoffs(now());
      reg_.take_journal();
      BOOST_REQUIRE_EQUAL(reg_.handoffs_in_flight(), 0u);
      check();
    }
    BOOST_FAIL("no convergence");
    return moved;
  }

  /// Checks that every worker holds the floor or ceiling of its share.
  void require_balanced() {
    auto input = reg_.balance_state(now());
    std::vector<double> claims;
    std::vector<std::uint32_t> caps;
    double total = 0;
    for (const auto& w : input.workers) {
      claims.push_back(w.draining ? 0.0 : w.weight * w.max_streams);
      caps.push_back(w.max_streams);
      total += w.load();
    }
    double room = 0;
    for (std::size_t i = 0; i < caps.size(); ++i)
      room += claims[i] > 0 ? caps[i] : 0;
    auto shares = reference_shares(claims, caps, std::min(total, room));
    for (std::size_t i = 0; i < shares.size(); ++i) {
      if (claims[i] <= 0)
        continue;
      auto load = input.workers[i].load();
      BOOST_REQUIRE_MESSAGE(load + 1e-9 >= std::floor(shares[i] + 1e-9)
                              && load <= std::ceil(shares[i] - 1e-9),
                            input.workers[i].server_id
                              << " holds " << load << " for a share of "
                              << shares[i]);
    }
  }

  std::uint64_t minimum_now() {
    auto input = reg_.balance_state(now());
    std::vector<double> claims;
    std::vector<std::uint32_t> caps;
    std::vector<std::uint32_t> current;
    double total = 0;
    for (const auto& w : input.workers) {
      claims.push_back(w.weight * w.max_streams);
      caps.push_back(w.max_streams);
      current.push_back(w.load());
      total += w.load();
    }
    return reference_minimum(current, reference_shares(claims, caps, total));
  }

private:
  std::mt19937 rng_;
  registry reg_;
  std::int64_t clock_ms_ = 1'000'000;
  std::int64_t next_stream_ = 1;
};

balancer_settings eager(std::uint64_t budget, double fraction) {
  balancer_settings result;
  result.max_moves = budget;
  result.max_move_fraction = fraction;
  result.imbalance_threshold = 0;
  result.max_stream_difference = 0;
  result.cooldown_ms = 0;
  return result;
}

/// Fills a random cluster of `workers` workers through assign requests.
void random_fill(cluster& c, int workers, bool weighted) {
  const double weights[] = {0.5, 1, 1.5, 2, 3};
  std::uint32_t capacity_total = 0;
  for (int w = 0; w < workers; ++w) {
    auto capacity = static_cast<std::uint32_t>(c.pick(1, 30));
    capacity_total += capacity;
    c.join("w" + std::to_string(w), capacity,
           weighted ? weights[c.pick(0, 4)] : 1.0);
  }
  c.add_streams(c.pick(0, static_cast<int>(capacity_total)));
  for (int k = 0; k < 4 * workers; ++k)
    c.take("w" + std::to_string(c.pick(0, workers - 1)),
           static_cast<std::uint32_t>(c.pick(1, 15)));
}

} // namespace

BOOST_AUTO_TEST_SUITE(balancer_properties)

BOOST_AUTO_TEST_CASE(random_clusters_converge_with_fewest_moves) {
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      cluster c{seed};
      random_fill(c, c.pick(2, 7), seed % 2 == 0);
      c.check();
      auto minimum = c.minimum_now();
      smart_balancer policy{eager(static_cast<std::uint64_t>(c.pick(1, 12)),
                                  c.pick(1, 10) / 10.0)};
      auto moved = c.converge(policy);
      BOOST_REQUIRE_EQUAL(moved, minimum);
      c.require_balanced();
    }
  }
}

BOOST_AUTO_TEST_CASE(join_moves_exactly_the_new_share) {
  for (std::uint32_t seed = 1; seed <= 100; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      cluster c{seed};
      int n = c.pick(1, 9);
      auto capacity = static_cast<std::uint32_t>(c.pick(5, 60));
      for (int w = 0; w < n; ++w)
        c.join("w" + std::to_string(w), capacity, 1);
      auto streams = c.pick(0, n * static_cast<int>(capacity));
      c.add_streams(streams);
      for (int w = 0; w < n; ++w)
        c.take("w" + std::to_string(w), capacity);
      smart_balancer policy{eager(static_cast<std::uint64_t>(c.pick(1, 20)), 1)};
      c.converge(policy);
      c.require_balanced();

      // Worker names sort after the others, so ties do not favour it.
      c.join("x-new", capacity, 1);
      auto moved = c.converge(policy);
      BOOST_REQUIRE_EQUAL(moved, static_cast<std::uint64_t>(streams / (n + 1)));
      c.require_balanced();
    }
  }
}

BOOST_AUTO_TEST_CASE(weighted_join_moves_the_minimum) {
  for (std::uint32_t seed = 1; seed <= 100; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      cluster c{seed};
      random_fill(c, c.pick(2, 6), true);
      smart_balancer policy{eager(static_cast<std::uint64_t>(c.pick(1, 20)), 1)};
      c.converge(policy);
      c.join("x-new", static_cast<std::uint32_t>(c.pick(1, 30)),
             c.pick(1, 4) * 0.5);
      auto minimum = c.minimum_now();
      BOOST_REQUIRE_EQUAL(c.converge(policy), minimum);
      c.require_balanced();
    }
  }
}

BOOST_AUTO_TEST_CASE(death_and_drain_move_only_that_workers_streams) {
  for (std::uint32_t seed = 1; seed <= 150; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      cluster c{seed};
      int n = c.pick(3, 7);
      random_fill(c, n, seed % 2 == 0);
      smart_balancer policy{eager(static_cast<std::uint64_t>(c.pick(1, 20)), 1)};
      c.converge(policy);
      auto before = c.owners();
      auto victim = "w" + std::to_string(c.pick(0, n - 1));
      bool drain = seed % 3 == 0;
      if (drain) {
        BOOST_REQUIRE(c.reg().set_draining(victim, true, c.now()));
      } else {
        for (const auto& w : c.reg().active_liveness())
          if (w.server_id == victim)
            c.reg().declare_dead({w}, c.now());
      }
      c.reg().take_journal();
      c.converge(policy);
      c.check();
      auto after = c.owners();
      for (const auto& [stream, owner] : before)
        if (owner != victim) {
          auto i = after.find(stream);
          BOOST_REQUIRE(i != after.end());
          BOOST_REQUIRE_MESSAGE(i->second == owner,
                                "stream " << stream << " moved from " << owner
                                          << " to " << i->second);
        }
      c.require_balanced();
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
