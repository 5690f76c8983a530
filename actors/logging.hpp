#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace orchestrator {

/// Creates the named loggers ("main", "actors", "store", "net") on one
/// stderr sink at `level`. Safe to call again, for example from tests.
void setup_logging(const std::string& level);

/// Returns the logger called `name`, creating it on the shared sink if
/// setup_logging() has not.
std::shared_ptr<spdlog::logger> logger(const char* name);

} // namespace orchestrator
