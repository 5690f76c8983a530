#include "modules/balancer/smart_balancer.hpp"

#include <stdexcept>

namespace orchestrator {

smart_balancer::smart_balancer(std::size_t max_moves) : max_moves_(max_moves) {
  if (max_moves_ == 0)
    throw std::invalid_argument("max_migrations_per_cycle must be at least 1");
}

std::vector<stream_move>
smart_balancer::plan(const std::vector<worker_load>& loads) {
  auto moves = basic_.plan(loads);
  if (moves.size() > max_moves_)
    moves.resize(max_moves_);
  return moves;
}

} // namespace orchestrator
