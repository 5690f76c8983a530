// Entry point of the module: its description and factory.

#include "modules/failure/resilient_detector.hpp"
#include "modules/module_entry.hpp"

namespace {

using orchestrator::resilient_settings;

/// Reads the server's settings; a key it lacks keeps its default.
resilient_settings read_settings(const nlohmann::json& settings) {
  resilient_settings result;
  result.heartbeat_timeout_ms = settings.value("heartbeat_timeout_ms",
                                               result.heartbeat_timeout_ms);
  result.check_interval_ms = settings.value("heartbeat_check_interval_ms",
                                            result.check_interval_ms);
  auto i = settings.find("failure");
  if (i == settings.end() || !i->is_object())
    return result;
  const auto& f = *i;
  result.phi_threshold = f.value("phi_threshold", result.phi_threshold);
  result.phi_suspect = f.value("phi_suspect", result.phi_suspect);
  result.acceptable_pause_ms = f.value("acceptable_pause_ms",
                                       result.acceptable_pause_ms);
  result.grace_ms = f.value("grace_ms", result.grace_ms);
  result.max_suspect_fraction = f.value("max_suspect_fraction",
                                        result.max_suspect_fraction);
  result.flap_window_ms = f.value("flap_window_ms", result.flap_window_ms);
  result.quarantine_base_ms = f.value("quarantine_base_ms",
                                      result.quarantine_base_ms);
  result.quarantine_max_ms = f.value("quarantine_max_ms", result.quarantine_max_ms);
  return result;
}

void* create(const char* settings_json, char* error, std::size_t error_size) {
  using namespace orchestrator;
  return module_entry::guarded_create<failure_detector>(
    settings_json, error, error_size, [](const nlohmann::json& settings) {
      return new resilient_detector(read_settings(settings));
    });
}

const orchestrator_module_v1 descriptor{ORCHESTRATOR_MODULE_INTERFACE_VERSION,
                                        "resilient_failure_handler", "0.2.0",
                                        "failure_handler", create,
                                        orchestrator::module_entry::destroy_as<orchestrator::failure_detector>};

} // namespace

ORCHESTRATOR_EXPORT_MODULE(descriptor)
