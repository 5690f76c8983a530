#pragma once

#include "modules/module_api.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>

namespace orchestrator {

/// A module library loaded into the process.
struct module_library {
  std::string name;
  std::string version;
  std::string role;
  /// The file it was loaded from.
  std::string path;
  /// The dlopen handle, closed when the last strategy made from the library
  /// and this handle are gone. The code itself stays mapped (RTLD_NODELETE).
  std::shared_ptr<void> handle;
  const orchestrator_module_v1* api = nullptr;
};

/// Loads the module at `path`. The file is first copied to a private
/// temporary file, which is loaded and then unlinked, so that replacing or
/// overwriting the installed file (an upgrade) never disturbs the running
/// code, and a reload really loads the new file. Fails with a clear reason
/// if the file is missing, is not a shared library, lacks the entry point,
/// or was built for another interface version.
///
/// With `expected_name` and `expected_role`, also rejects a module that
/// describes itself as another module or role (a file copied under the
/// wrong name would otherwise hand a role the wrong kind of object).
caf::expected<module_library> load_module(const std::string& path,
                                          const std::string& expected_name = {},
                                          const std::string& expected_role = {});

/// Checks that `path` is a complete ELF shared object for this machine:
/// every loadable segment lies within the file. dlopen maps a truncated file
/// without complaint and the process then dies of SIGBUS, so the loader
/// checks first.
caf::error check_elf_file(const std::string& path);

/// Creates the module's strategy object, which must implement `Strategy`.
/// The returned pointer keeps the library loaded.
template <class Strategy>
caf::expected<std::shared_ptr<Strategy>>
create_strategy(const module_library& library, const std::string& settings_json);

/// Untyped form of create_strategy: the object as the module returned it.
caf::expected<std::shared_ptr<void>>
create_raw_strategy(const module_library& library,
                    const std::string& settings_json);

template <class Strategy>
caf::expected<std::shared_ptr<Strategy>>
create_strategy(const module_library& library,
                const std::string& settings_json) {
  auto raw = create_raw_strategy(library, settings_json);
  if (!raw)
    return raw.error();
  // The module created a Strategy and returned it as void*; the aliasing
  // constructor shares ownership with the deleter that calls destroy().
  return std::shared_ptr<Strategy>{*raw, static_cast<Strategy*>(raw->get())};
}

} // namespace orchestrator
