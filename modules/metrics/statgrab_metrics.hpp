#pragma once

#include "modules/metrics/host_metrics.hpp"

namespace orchestrator {

/// Host metrics from libstatgrab (CPU, memory, load average, uptime) and
/// statvfs (the file system of the data folder). Only the reentrant (_r)
/// libstatgrab calls are used, because its other calls keep their state per
/// thread and the actor that samples may run on any scheduler thread.
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
  /// CPU tick totals of the previous sample: the busy share is measured
  /// between two samples. Zero before the first sample.
  unsigned long long previous_total_ = 0;
  unsigned long long previous_idle_ = 0;
};

} // namespace orchestrator
