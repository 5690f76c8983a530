#pragma once

#include "actors/types.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace orchestrator {

/// Durable storage of workers, assignments and the stream catalogue. Calls
/// block, so only the store actor, which runs on its own thread, makes them.
class store {
public:
  virtual ~store() = default;

  /// Returns a short description for logs, such as "sqlite:/var/lib/x.db".
  virtual std::string describe() const = 0;

  /// Reads everything.
  virtual caf::expected<store_snapshot> load() = 0;

  /// Writes `changes` in order as one transaction: all of them or none.
  virtual caf::error commit(const std::vector<change>& changes) = 0;
};

} // namespace orchestrator
