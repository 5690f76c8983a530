#include "modules/balancer/fair_share.hpp"

#include <algorithm>
#include <cmath>
#include <queue>
#include <tuple>

namespace orchestrator {

share_result fair_targets(const std::vector<share_input>& workers) {
  auto n = workers.size();
  share_result result;
  result.shares.assign(n, 0.0);
  result.targets.assign(n, 0);

  std::uint64_t total = 0;
  std::uint64_t room = 0;
  std::vector<std::size_t> eligible;
  for (std::size_t i = 0; i < n; ++i) {
    total += workers[i].current;
    if (workers[i].claim > 0 && workers[i].capacity > 0) {
      eligible.push_back(i);
      room += workers[i].capacity;
    }
  }
  auto placed = std::min(total, room);

  // Water-filling: workers whose capacity is small for their claim fill up
  // first, and what they cannot take is split among the rest.
  std::sort(eligible.begin(), eligible.end(), [&](auto a, auto b) {
    return workers[a].capacity / workers[a].claim
           < workers[b].capacity / workers[b].claim;
  });
  double claims = 0;
  for (auto i : eligible)
    claims += workers[i].claim;
  double left = static_cast<double>(placed);
  for (std::size_t k = 0; k < eligible.size(); ++k) {
    auto i = eligible[k];
    double share = claims > 0 ? left * workers[i].claim / claims : 0;
    if (share >= workers[i].capacity) {
      result.shares[i] = workers[i].capacity;
      left -= workers[i].capacity;
      claims -= workers[i].claim;
      continue;
    }
    for (auto j = k; j < eligible.size(); ++j) {
      auto w = eligible[j];
      result.shares[w] = left * workers[w].claim / claims;
    }
    break;
  }

  // Round down, then hand out the remainder. Rounding a worker up saves a
  // move when it already has more than its floor, so those come first.
  std::uint64_t floors = 0;
  for (auto i : eligible) {
    auto floor = static_cast<std::uint32_t>(
      std::floor(result.shares[i] + 1e-9));
    result.targets[i] = std::min(floor, workers[i].capacity);
    floors += result.targets[i];
  }
  auto remainder = placed > floors ? placed - floors : 0;
  std::vector<std::size_t> candidates;
  for (auto i : eligible)
    if (result.targets[i] < workers[i].capacity)
      candidates.push_back(i);
  auto key = [&](std::size_t i) {
    bool fractional = result.shares[i] - result.targets[i] > 1e-9;
    bool above_floor = workers[i].current > result.targets[i];
    return std::make_tuple(!fractional, !above_floor, workers[i].preference,
                           i);
  };
  std::sort(candidates.begin(), candidates.end(),
            [&](auto a, auto b) { return key(a) < key(b); });
  for (std::size_t k = 0; k < candidates.size() && remainder > 0; ++k) {
    ++result.targets[candidates[k]];
    --remainder;
  }

  // Streams that the eligible workers have no room for stay where they are.
  auto stay = total - placed;
  for (std::size_t i = 0; i < n && stay > 0; ++i) {
    if (workers[i].claim > 0 && workers[i].capacity > 0)
      continue;
    auto kept = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(workers[i].current, stay));
    result.targets[i] = kept;
    stay -= kept;
  }

  for (std::size_t i = 0; i < n; ++i)
    if (workers[i].current > result.targets[i])
      result.minimum_moves += workers[i].current - result.targets[i];
  return result;
}

std::vector<stream_move>
pick_moves(const std::vector<worker_load>& loads,
           const std::vector<std::uint32_t>& targets,
           const std::vector<int>& urgency,
           const std::vector<double>& preference, std::uint64_t budget) {
  std::vector<stream_move> moves;
  auto n = loads.size();

  // Each donor's streams, newest first, limited to what it gives.
  std::vector<std::vector<stream_lease>> given(n);
  using donor = std::tuple<int, std::uint32_t, std::size_t>;
  std::priority_queue<donor> donors;
  using receiver = std::tuple<std::uint32_t, double, std::size_t>;
  auto receiver_order = [](const receiver& a, const receiver& b) {
    // Largest deficit first, then the lowest preference, then the index.
    if (std::get<0>(a) != std::get<0>(b))
      return std::get<0>(a) < std::get<0>(b);
    if (std::get<1>(a) != std::get<1>(b))
      return std::get<1>(a) > std::get<1>(b);
    return std::get<2>(a) > std::get<2>(b);
  };
  std::priority_queue<receiver, std::vector<receiver>, decltype(receiver_order)>
    receivers(receiver_order);

  std::uint64_t surplus_total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto current = loads[i].load();
    if (current > targets[i]) {
      auto surplus = std::min<std::size_t>(current - targets[i],
                                           loads[i].owned.size());
      if (surplus == 0)
        continue;
      auto& streams = given[i];
      streams = loads[i].owned;
      auto newest_first = [](const auto& a, const auto& b) {
        return a.epoch > b.epoch;
      };
      if (surplus < streams.size()) {
        std::nth_element(streams.begin(), streams.begin() + surplus,
                         streams.end(), newest_first);
        streams.resize(surplus);
      }
      // Given from the back, oldest of the selection last.
      std::sort(streams.begin(), streams.end(),
                [&](const auto& a, const auto& b) { return newest_first(b, a); });
      donors.emplace(urgency[i], static_cast<std::uint32_t>(surplus), i);
      surplus_total += surplus;
    } else if (current < targets[i]) {
      receivers.emplace(targets[i] - current, preference[i], i);
    }
  }
  moves.reserve(std::min(budget, surplus_total));

  while (moves.size() < budget && !donors.empty() && !receivers.empty()) {
    auto [level, surplus, from] = donors.top();
    donors.pop();
    auto [deficit, pref, to] = receivers.top();
    receivers.pop();
    auto lease = given[from].back();
    given[from].pop_back();
    moves.push_back(stream_move{lease.stream_id, loads[from].server_id,
                                loads[to].server_id, lease.epoch});
    if (surplus > 1)
      donors.emplace(level, surplus - 1, from);
    if (deficit > 1)
      receivers.emplace(deficit - 1, pref, to);
  }
  return moves;
}

} // namespace orchestrator
