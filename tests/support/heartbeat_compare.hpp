#pragma once

// Compares two decoded heartbeats field by field, for the tests that check
// decode_heartbeat_text against decode_heartbeat.

#include "net/json_codec.hpp"

#include <optional>
#include <string>

namespace orchestrator::test {

/// Returns the first field in which `a` and `b` differ, or nothing.
inline std::optional<std::string> heartbeat_difference(const heartbeat_request& a,
                                                       const heartbeat_request& b) {
  if (a.beat.server_id != b.beat.server_id)
    return "server_id";
  if (a.beat.reported_count != b.beat.reported_count)
    return "current_streams";
  if (a.beat.reported_status != b.beat.reported_status)
    return "status";
  if (a.beat.lists_streams != b.beat.lists_streams
      || a.beat.stream_ids != b.beat.stream_ids)
    return "stream_ids";
  if (a.metrics.has_value() != b.metrics.has_value())
    return "system_metrics";
  if (!a.metrics)
    return std::nullopt;
  const auto& first = *a.metrics;
  const auto& second = *b.metrics;
  if (first.cpu_percent != second.cpu_percent
      || first.memory_percent != second.memory_percent
      || first.memory_used_gb != second.memory_used_gb
      || first.memory_total_gb != second.memory_total_gb
      || first.disk_percent != second.disk_percent
      || first.disk_free_gb != second.disk_free_gb
      || first.disk_total_gb != second.disk_total_gb
      || first.load_average != second.load_average
      || first.uptime_seconds != second.uptime_seconds)
    return "system_metrics values";
  return std::nullopt;
}

} // namespace orchestrator::test
