#include "modules/balancer/basic_balancer.hpp"

#include <algorithm>
#include <cmath>

namespace orchestrator {

std::vector<stream_move>
basic_balancer::plan(const std::vector<worker_load>& loads) {
  std::vector<stream_move> moves;
  double total_streams = 0;
  double total_capacity = 0;
  for (const auto& load : loads) {
    total_streams += static_cast<double>(load.owned.size());
    total_capacity += load.max_streams;
  }
  if (loads.size() < 2 || total_streams == 0 || total_capacity == 0)
    return moves;

  struct slot {
    const worker_load* load;
    std::vector<stream_lease> owned;
    double share;
  };
  std::vector<slot> slots;
  for (const auto& load : loads) {
    auto owned = load.owned;
    // Newest assignments move first: older ones have been captured longest.
    std::sort(owned.begin(), owned.end(),
              [](const auto& a, const auto& b) { return a.epoch < b.epoch; });
    slots.push_back(slot{&load, std::move(owned),
                         total_streams * load.max_streams / total_capacity});
  }

  auto surplus = [](const slot& s) {
    return static_cast<double>(s.owned.size()) - std::ceil(s.share);
  };
  auto deficit = [](const slot& s) {
    auto room = static_cast<double>(s.load->max_streams) - s.owned.size();
    return std::min(std::floor(s.share) - s.owned.size(), room);
  };

  for (;;) {
    auto donor = std::max_element(slots.begin(), slots.end(),
                                  [&](const auto& a, const auto& b) {
                                    return surplus(a) < surplus(b);
                                  });
    auto receiver = std::max_element(slots.begin(), slots.end(),
                                     [&](const auto& a, const auto& b) {
                                       return deficit(a) < deficit(b);
                                     });
    if (surplus(*donor) <= 0 || deficit(*receiver) <= 0)
      break;
    auto lease = donor->owned.back();
    donor->owned.pop_back();
    receiver->owned.push_back(lease);
    moves.push_back(stream_move{lease.stream_id, donor->load->server_id,
                                receiver->load->server_id, lease.epoch});
  }
  return moves;
}

} // namespace orchestrator
