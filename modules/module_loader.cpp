#include "modules/module_loader.hpp"

#include "actors/errors.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace orchestrator {

namespace {

caf::error load_failure(const std::string& path, const std::string& why) {
  return make_error(errc::unavailable, "cannot load module " + path + ": " + why);
}

/// Copies `path` to a new private file and returns the copy's path.
caf::expected<std::string> private_copy(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  auto dir = std::filesystem::temp_directory_path(ec);
  if (ec)
    dir = "/tmp";
  auto copy = dir / ("orchestrator-module-" + std::to_string(::getpid()) + "-"
                     + std::to_string(counter++) + "-"
                     + std::filesystem::path{path}.filename().string());
  std::filesystem::copy_file(path, copy,
                             std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (ec)
    return load_failure(path, "cannot copy it to " + copy.string() + ": "
                                + ec.message());
  return copy.string();
}

} // namespace

caf::expected<module_library> load_module(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return load_failure(path, "no such file");
  auto copy = private_copy(path);
  if (!copy)
    return copy.error();

  // RTLD_LOCAL keeps each module's symbols to itself, so two generations of
  // the same module can be loaded side by side during a reload.
  // RTLD_NODELETE keeps the code mapped after dlclose: libraries a module
  // pulls in (libstatgrab, say) leave thread-exit and atexit hooks behind,
  // which crash the process if their code is gone. Each reload therefore
  // keeps one more copy of the module in memory.
  void* raw = ::dlopen(copy->c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  std::string dl_error = raw == nullptr ? ::dlerror() : "";
  std::filesystem::remove(*copy, ec);
  if (raw == nullptr) {
    // dlerror names the private copy; show the installed file instead.
    auto at = dl_error.find(*copy);
    if (at != std::string::npos)
      dl_error.replace(at, copy->size(), path);
    return load_failure(path, "not a loadable shared library (" + dl_error + ")");
  }
  std::shared_ptr<void> handle{raw, [](void* h) { ::dlclose(h); }};

  auto entry = reinterpret_cast<orchestrator_module_entry>(
    ::dlsym(raw, ORCHESTRATOR_MODULE_ENTRY));
  if (entry == nullptr)
    return load_failure(path, "it does not export " ORCHESTRATOR_MODULE_ENTRY
                              "(); is it an orchestrator module?");
  const auto* api = entry();
  if (api == nullptr)
    return load_failure(path, ORCHESTRATOR_MODULE_ENTRY "() returned null");
  if (api->interface_version != ORCHESTRATOR_MODULE_INTERFACE_VERSION)
    return load_failure(path,
                        "it was built for module interface version "
                          + std::to_string(api->interface_version)
                          + ", this server needs version "
                          + std::to_string(ORCHESTRATOR_MODULE_INTERFACE_VERSION)
                          + "; rebuild it with this server's headers");
  if (api->name == nullptr || api->version == nullptr || api->role == nullptr
      || api->create == nullptr || api->destroy == nullptr)
    return load_failure(path, "its description lacks a name, version, role, "
                              "create or destroy");

  module_library library;
  library.name = api->name;
  library.version = api->version;
  library.role = api->role;
  library.path = path;
  library.handle = std::move(handle);
  library.api = api;
  return library;
}

caf::expected<std::shared_ptr<void>>
create_raw_strategy(const module_library& library,
                    const std::string& settings_json) {
  std::vector<char> error(512, '\0');
  void* strategy = library.api->create(settings_json.c_str(), error.data(),
                                       error.size());
  if (strategy == nullptr) {
    error.back() = '\0';
    std::string text = error.data();
    return make_error(errc::unavailable,
                      "module " + library.name + " failed to initialise: "
                        + (text.empty() ? "no reason given" : text));
  }
  // The deleter keeps a reference to the library, so the code of destroy()
  // stays mapped until the strategy is gone.
  auto handle = library.handle;
  auto destroy = library.api->destroy;
  return std::shared_ptr<void>{strategy, [handle, destroy](void* p) {
                                 destroy(p);
                               }};
}

} // namespace orchestrator
