#pragma once

#include "actors/types.hpp"

#include <string>
#include <utility>
#include <vector>

namespace orchestrator::testing {

/// Returns the load of worker `id` owning `count` streams numbered from
/// `first_stream`, each with its id as epoch.
inline worker_load make_load(const std::string& id, std::uint32_t capacity,
                             std::int64_t first_stream, int count) {
  worker_load result;
  result.server_id = id;
  result.max_streams = capacity;
  for (int k = 0; k < count; ++k)
    result.owned.push_back(stream_lease{
      first_stream + k, static_cast<std::uint64_t>(first_stream + k)});
  return result;
}

/// Wraps loads into a balance input with no membership history.
inline balance_input input_of(std::vector<worker_load> loads) {
  balance_input result;
  result.workers = std::move(loads);
  return result;
}

} // namespace orchestrator::testing
