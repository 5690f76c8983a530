#include "modules/metrics/statgrab_metrics.hpp"

#include "actors/errors.hpp"

#include <statgrab.h>
#include <sys/statvfs.h>

#include <chrono>
#include <stdexcept>

namespace orchestrator {

namespace {

constexpr double gib = 1024.0 * 1024.0 * 1024.0;

caf::error statgrab_failure(const char* what) {
  return make_error(errc::unavailable,
                    std::string{what} + " failed: "
                      + sg_str_error(sg_get_error()));
}

} // namespace

statgrab_metrics::statgrab_metrics(std::string disk_path)
  : disk_path_(std::move(disk_path)) {
  // Components that cannot start (no such device, say) are reported by the
  // calls that need them, so initialisation errors are not fatal here.
  sg_init(1);
  auto first = sample();
  if (!first)
    throw std::runtime_error("self-check failed: " + describe(first.error()));
}

caf::expected<metrics_sample> statgrab_metrics::sample() {
  metrics_sample result;
  result.recorded_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();

  // The first call has no earlier sample to compare with, so it reports
  // the average since boot instead.
  std::size_t entries = 0;
  const auto* cpu = sg_get_cpu_percents_of(sg_new_diff_cpu_percent, &entries);
  if (cpu == nullptr || entries == 0)
    cpu = sg_get_cpu_percents_of(sg_entire_cpu_percent, &entries);
  if (cpu == nullptr || entries == 0)
    return statgrab_failure("reading CPU usage");
  result.cpu_percent = std::max(0.0, std::min(100.0, 100.0 - cpu->idle));

  const auto* mem = sg_get_mem_stats(&entries);
  if (mem == nullptr || entries == 0 || mem->total == 0)
    return statgrab_failure("reading memory usage");
  // libstatgrab counts the page cache as used; it is free for the taking.
  auto used = mem->used > mem->cache ? mem->used - mem->cache : mem->used;
  result.memory_total_gb = static_cast<double>(mem->total) / gib;
  result.memory_used_gb = static_cast<double>(used) / gib;
  result.memory_percent = 100.0 * static_cast<double>(used)
                          / static_cast<double>(mem->total);

  const auto* load = sg_get_load_stats(&entries);
  if (load == nullptr || entries == 0)
    return statgrab_failure("reading the load average");
  result.load_average = {load->min1, load->min5, load->min15};

  const auto* host = sg_get_host_info(&entries);
  if (host != nullptr && entries > 0)
    result.uptime_seconds = static_cast<double>(host->uptime);

  struct statvfs disk {};
  if (::statvfs(disk_path_.c_str(), &disk) != 0 || disk.f_blocks == 0)
    return make_error(errc::unavailable,
                      "reading disk usage of " + disk_path_ + " failed");
  auto block = static_cast<double>(disk.f_frsize);
  result.disk_total_gb = static_cast<double>(disk.f_blocks) * block / gib;
  result.disk_free_gb = static_cast<double>(disk.f_bavail) * block / gib;
  result.disk_percent = 100.0
                        * static_cast<double>(disk.f_blocks - disk.f_bfree)
                        / static_cast<double>(disk.f_blocks);
  return result;
}

} // namespace orchestrator
