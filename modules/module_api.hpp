#pragma once

// The binary interface between the server and its optional modules. A
// module is a shared library that exports one C function,
// orchestrator_module(), returning a description with a factory for the
// module's strategy object. The strategy is a C++ object of the interface
// its role expects (balancer, failure_detector or host_metrics), so a
// module must be built with the same compiler and headers as the server.

#include <cstddef>
#include <cstdint>

/// Version of this interface. A module built against another version is
/// rejected at load time. Raise it whenever this struct or a strategy
/// interface changes.
#define ORCHESTRATOR_MODULE_INTERFACE_VERSION 1u

extern "C" {

/// The description a module exports. `interface_version` must stay the
/// first member so that any version of the loader can read it.
struct orchestrator_module_v1 {
  std::uint32_t interface_version;
  /// The module's name, such as "smart_balancer".
  const char* name;
  /// The module's own version, such as "0.1.0".
  const char* version;
  /// The role it enhances: "balancer", "failure_handler" or "metrics".
  const char* role;
  /// Creates the strategy from the server's settings as a JSON object.
  /// Returns null on failure, with a message of at most `error_size` bytes
  /// in `error`. Must not throw.
  void* (*create)(const char* settings_json, char* error,
                  std::size_t error_size);
  /// Destroys a strategy returned by `create`.
  void (*destroy)(void* strategy);
};

/// The name of the function each module exports.
#define ORCHESTRATOR_MODULE_ENTRY "orchestrator_module"

/// Signature of the exported function.
typedef const orchestrator_module_v1* (*orchestrator_module_entry)(void);

} // extern "C"

/// Exports `descriptor` (an orchestrator_module_v1) from a module.
#define ORCHESTRATOR_EXPORT_MODULE(descriptor)                                 \
  extern "C" __attribute__((visibility("default")))                            \
  const orchestrator_module_v1* orchestrator_module(void) {                    \
    return &(descriptor);                                                      \
  }
