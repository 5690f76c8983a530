// Entry point of the module: its description and factory.

#include "modules/failure/resilient_detector.hpp"
#include "modules/module_entry.hpp"

#include <stdexcept>
#include <string>

namespace {

void* create(const char* settings_json, char* error, std::size_t error_size) {
  using namespace orchestrator;
  return module_entry::guarded_create<failure_detector>(
    settings_json, error, error_size, [](const nlohmann::json& settings) {
      return new resilient_detector(
        module_entry::setting(settings, "heartbeat_timeout_ms", 300000),
        module_entry::setting(settings, "heartbeat_check_interval_ms", 30000),
        0.5);
    });
}

const orchestrator_module_v1 descriptor{ORCHESTRATOR_MODULE_INTERFACE_VERSION,
                                        "resilient_failure_handler", "0.1.0",
                                        "failure_handler", create,
                                        orchestrator::module_entry::destroy_as<orchestrator::failure_detector>};

} // namespace

ORCHESTRATOR_EXPORT_MODULE(descriptor)
