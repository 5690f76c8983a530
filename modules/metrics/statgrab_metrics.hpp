#pragma once

#include "modules/metrics/host_metrics.hpp"

namespace orchestrator {

/// Host metrics from libstatgrab (CPU, memory, load average, uptime) and
/// statvfs (the file system of the data folder).
class statgrab_metrics final : public host_metrics {
public:
  /// Initialises libstatgrab; `disk_path` names the file system to report.
  explicit statgrab_metrics(std::string disk_path);

  std::string name() const override {
    return "system_metrics";
  }

  caf::expected<metrics_sample> sample() override;

private:
  std::string disk_path_;
};

} // namespace orchestrator
