#pragma once

// The arithmetic both balancing policies share: fair shares, the targets
// that reach them with the fewest moves, and the moves themselves.

#include "actors/types.hpp"

#include <cstdint>
#include <vector>

namespace orchestrator {

/// One worker's input to the fair share computation.
struct share_input {
  /// Streams it has now, incoming ones included.
  std::uint32_t current = 0;
  std::uint32_t capacity = 0;
  /// Relative claim on streams, such as weight × capacity; zero means the
  /// worker receives nothing and keeps only what nobody else has room for.
  double claim = 0;
  /// Lower is better: decides who rounds up and who receives first.
  double preference = 0;
};

struct share_result {
  /// Exact share of each worker, capped by its capacity.
  std::vector<double> shares;
  /// Each share rounded down or up so that the targets add up to the
  /// streams held and as few streams as possible move.
  std::vector<std::uint32_t> targets;
  /// Streams that must move to reach the targets: the sum of every
  /// worker's surplus.
  std::uint64_t minimum_moves = 0;
};

/// Splits the streams that `workers` hold in proportion to their claims,
/// within their capacities, and rounds each share so that moving to the
/// targets takes the fewest moves. When the workers with a claim lack room,
/// the rest stays on the others. O(n log n) in the number of workers.
share_result fair_targets(const std::vector<share_input>& workers);

/// Picks up to `budget` moves from workers above their target to workers
/// below it. Donors with a higher `urgency` give first, then those furthest
/// above target. Each gives its most recently assigned streams, because the
/// older ones have been captured longest. Receivers furthest below target
/// come first, then the lower `preference`. Every move lowers a surplus and
/// a deficit by one, so the moves of successive rounds add up to the
/// minimum. O(streams + moves × log workers).
std::vector<stream_move>
pick_moves(const std::vector<worker_load>& loads,
           const std::vector<std::uint32_t>& targets,
           const std::vector<int>& urgency,
           const std::vector<double>& preference, std::uint64_t budget);

} // namespace orchestrator
