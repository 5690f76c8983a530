// Entry point of the module: its description and factory.

#include "modules/metrics/statgrab_metrics.hpp"
#include "modules/module_entry.hpp"

#include <stdexcept>
#include <string>

namespace {

void* create(const char* settings_json, char* error, std::size_t error_size) {
  using namespace orchestrator;
  return module_entry::guarded_create<host_metrics>(
    settings_json, error, error_size, [](const nlohmann::json& settings) {
      auto i = settings.find("data_dir");
      std::string path = i != settings.end() && i->is_string()
                           ? i->get<std::string>()
                           : std::string{"/"};
      return new statgrab_metrics(path);
    });
}

const orchestrator_module_v1 descriptor{ORCHESTRATOR_MODULE_INTERFACE_VERSION,
                                        "system_metrics", "0.1.0", "metrics",
                                        create,
                                        orchestrator::module_entry::destroy_as<orchestrator::host_metrics>};

} // namespace

ORCHESTRATOR_EXPORT_MODULE(descriptor)
