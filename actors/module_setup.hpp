#pragma once

#include "actors/config.hpp"
#include "actors/supervisor.hpp"

#include <string>
#include <vector>

namespace orchestrator {

/// An optional module of this server, with the name the Python server used
/// for the same functionality.
struct known_module {
  const char* name;
  const char* legacy_name;
  const char* role;
  /// The /modules/status functionality flag it provides.
  const char* functionality;
};

inline constexpr known_module known_modules[] = {
  {"system_metrics", "psutil", "metrics", "system_metrics"},
  {"smart_balancer", "enhanced_orchestrator", "balancer",
   "smart_load_balancing"},
  {"resilient_failure_handler", "resilient_orchestrator", "failure_handler",
   "enhanced_failure_handling"},
};

/// Returns the module known as `name` (ours or the Python name), or null.
const known_module* find_known_module(const std::string& name);

/// Returns the folder holding the running binary.
std::string executable_dir();

/// Looks for each known module in the modules folder and loads the selected
/// ones. Logs one info line per module loaded, one warning per module
/// missing, skipped or broken with the reason and the basic variant used
/// instead, and a summary line.
std::vector<module_candidate> load_modules(const settings& config);

} // namespace orchestrator
