#include "modules/metrics/statgrab_metrics.hpp"

#include "actors/errors.hpp"

#include <statgrab.h>
#include <sys/statvfs.h>

#include <algorithm>
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

  // CPU: the busy share of the ticks counted since the previous sample; the
  // first sample reports the average since boot.
  std::size_t entries = 0;
  auto* cpu = sg_get_cpu_stats_r(&entries);
  if (cpu == nullptr || entries == 0) {
    if (cpu != nullptr)
      sg_free_cpu_stats(cpu);
    return statgrab_failure("reading CPU usage");
  }
  auto idle = cpu->idle + cpu->iowait;
  auto total = cpu->total;
  sg_free_cpu_stats(cpu);
  auto total_delta = total - previous_total_;
  auto idle_delta = idle - previous_idle_;
  previous_total_ = total;
  previous_idle_ = idle;
  result.cpu_percent
    = total_delta == 0
        ? 0.0
        : std::max(0.0, std::min(100.0, 100.0 * (1.0 - double(idle_delta)
                                                         / double(total_delta))));

  auto* mem = sg_get_mem_stats_r(&entries);
  if (mem == nullptr || entries == 0 || mem->total == 0) {
    if (mem != nullptr)
      sg_free_mem_stats(mem);
    return statgrab_failure("reading memory usage");
  }
  // libstatgrab counts the page cache as used; it is free for the taking.
  auto used = mem->used > mem->cache ? mem->used - mem->cache : mem->used;
  result.memory_total_gb = static_cast<double>(mem->total) / gib;
  result.memory_used_gb = static_cast<double>(used) / gib;
  result.memory_percent = 100.0 * static_cast<double>(used)
                          / static_cast<double>(mem->total);
  sg_free_mem_stats(mem);

  auto* load = sg_get_load_stats_r(&entries);
  if (load == nullptr || entries == 0) {
    if (load != nullptr)
      sg_free_load_stats(load);
    return statgrab_failure("reading the load average");
  }
  result.load_average = {load->min1, load->min5, load->min15};
  sg_free_load_stats(load);

  auto* host = sg_get_host_info_r(&entries);
  if (host != nullptr) {
    if (entries > 0)
      result.uptime_seconds = static_cast<double>(host->uptime);
    sg_free_host_info(host);
  }

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
