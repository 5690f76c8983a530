#pragma once

// Helpers for writing a module's entry point; included by module sources
// only.

#include "modules/module_api.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace orchestrator::module_entry {

/// Reads an integer setting from the server's settings, or `fallback`.
inline long long setting(const nlohmann::json& settings, const char* key,
                         long long fallback) {
  auto i = settings.find(key);
  return i != settings.end() && i->is_number_integer() ? i->get<long long>()
                                                       : fallback;
}

/// Runs `make` and returns its strategy as `Interface*` cast to void*, or
/// null with the exception's message in `error`. No exception escapes, as
/// the C interface requires.
template <class Interface, class Make>
void* guarded_create(const char* settings_json, char* error,
                     std::size_t error_size, Make make) noexcept {
  try {
    auto settings = nlohmann::json::parse(settings_json != nullptr ? settings_json
                                                                   : "{}");
    Interface* strategy = make(settings);
    return static_cast<void*>(strategy);
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_size, "unknown exception");
  }
  return nullptr;
}

/// Destroys a strategy that guarded_create<Interface> made; usable as the
/// module description's `destroy`.
template <class Interface>
void destroy_as(void* strategy) {
  delete static_cast<Interface*>(strategy);
}

} // namespace orchestrator::module_entry
