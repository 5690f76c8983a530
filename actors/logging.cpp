#include "actors/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace orchestrator {

namespace {

std::mutex setup_mutex;

spdlog::sink_ptr shared_sink() {
  static auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return sink;
}

} // namespace

void setup_logging(const std::string& level) {
  std::lock_guard<std::mutex> guard{setup_mutex};
  auto sink = shared_sink();
  sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  for (const char* name : {"main", "actors", "store", "net"}) {
    auto existing = spdlog::get(name);
    if (!existing) {
      existing = std::make_shared<spdlog::logger>(name, sink);
      spdlog::register_logger(existing);
    }
    existing->set_level(spdlog::level::from_str(level));
  }
}

std::shared_ptr<spdlog::logger> logger(const char* name) {
  if (auto existing = spdlog::get(name))
    return existing;
  std::lock_guard<std::mutex> guard{setup_mutex};
  if (auto existing = spdlog::get(name))
    return existing;
  auto created = std::make_shared<spdlog::logger>(name, shared_sink());
  spdlog::register_logger(created);
  return created;
}

} // namespace orchestrator
