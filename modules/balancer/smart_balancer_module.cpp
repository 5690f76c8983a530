// Entry point of the module: its description and factory.

#include "modules/balancer/smart_balancer.hpp"
#include "modules/module_entry.hpp"

#include <stdexcept>
#include <string>

namespace {

void* create(const char* settings_json, char* error, std::size_t error_size) {
  using namespace orchestrator;
  return module_entry::guarded_create<balancer>(
    settings_json, error, error_size, [](const nlohmann::json& settings) {
      auto budget = module_entry::setting(settings, "max_migrations_per_cycle", 10);
      if (budget < 1)
        throw std::invalid_argument("max_migrations_per_cycle must be at least 1, got "
                                    + std::to_string(budget));
      return new smart_balancer(static_cast<std::size_t>(budget));
    });
}

const orchestrator_module_v1 descriptor{ORCHESTRATOR_MODULE_INTERFACE_VERSION,
                                        "smart_balancer", "0.1.0", "balancer",
                                        create,
                                        orchestrator::module_entry::destroy_as<orchestrator::balancer>};

} // namespace

ORCHESTRATOR_EXPORT_MODULE(descriptor)
