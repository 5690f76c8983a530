#pragma once

#include "actors/types.hpp"

#include <caf/expected.hpp>

#include <string>

namespace orchestrator {

/// A source of the orchestrator host's own system metrics. The metrics actor
/// owns one and samples it on an interval.
class host_metrics {
public:
  virtual ~host_metrics() = default;

  /// Returns the source's name as shown in reports, such as "statgrab".
  virtual std::string name() const = 0;

  /// Reads CPU, memory, disk, load average and uptime now.
  virtual caf::expected<metrics_sample> sample() = 0;
};

} // namespace orchestrator
