#include "actors/metrics.hpp"

#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace orchestrator {

caf::behavior metrics_actor(metrics_self* self) {
  return {
    [self](atoms::record_atom, const std::string& server_id,
           const metrics_sample& sample) {
      auto& samples = self->state.history[server_id];
      samples.push_back(sample);
      while (samples.size() > max_samples_per_worker)
        samples.pop_front();
    },
    [self](caf::get_atom, atoms::history_atom, const std::string& server_id,
           std::int64_t since_ms) {
      std::vector<metrics_sample> result;
      auto i = self->state.history.find(server_id);
      if (i == self->state.history.end())
        return result;
      for (auto k = i->second.rbegin(); k != i->second.rend(); ++k) {
        if (k->recorded_at_ms < since_ms)
          break;
        result.push_back(*k);
      }
      return result;
    },
  };
}

} // namespace orchestrator
