// Entry point of the module: its description and factory.

#include "modules/balancer/smart_balancer.hpp"
#include "modules/module_entry.hpp"

namespace {

using orchestrator::balancer_settings;

/// Reads the "balancer" object of the server's settings; a key it lacks
/// keeps its default.
balancer_settings read_settings(const nlohmann::json& settings) {
  balancer_settings result;
  auto i = settings.find("balancer");
  if (i == settings.end() || !i->is_object())
    return result;
  const auto& b = *i;
  result.max_moves = b.value("max_moves", result.max_moves);
  result.max_move_fraction = b.value("max_move_fraction", result.max_move_fraction);
  result.imbalance_threshold = b.value("imbalance_threshold",
                                       result.imbalance_threshold);
  result.max_stream_difference = b.value("max_stream_difference",
                                         result.max_stream_difference);
  result.max_load_factor = b.value("max_load_factor", result.max_load_factor);
  result.min_instances = b.value("min_instances", result.min_instances);
  result.cooldown_ms = b.value("cooldown_ms", result.cooldown_ms);
  result.load_average_full = b.value("load_average_full",
                                     result.load_average_full);
  if (auto w = b.find("weights"); w != b.end() && w->is_object()) {
    auto& weights = result.weights;
    weights.cpu = w->value("cpu", weights.cpu);
    weights.memory = w->value("memory", weights.memory);
    weights.load = w->value("load", weights.load);
    weights.failures = w->value("failures", weights.failures);
    weights.response_time = w->value("response_time", weights.response_time);
  }
  return result;
}

void* create(const char* settings_json, char* error, std::size_t error_size) {
  using namespace orchestrator;
  return module_entry::guarded_create<balancer>(
    settings_json, error, error_size, [](const nlohmann::json& settings) {
      return new smart_balancer(read_settings(settings));
    });
}

const orchestrator_module_v1 descriptor{ORCHESTRATOR_MODULE_INTERFACE_VERSION,
                                        "smart_balancer", "0.2.0", "balancer",
                                        create,
                                        orchestrator::module_entry::destroy_as<orchestrator::balancer>};

} // namespace

ORCHESTRATOR_EXPORT_MODULE(descriptor)
