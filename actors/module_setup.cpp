#include "actors/module_setup.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"

#include <algorithm>
#include <filesystem>

namespace orchestrator {

const known_module* find_known_module(const std::string& name) {
  for (const auto& m : known_modules)
    if (name == m.name || name == m.legacy_name)
      return &m;
  return nullptr;
}

std::string executable_dir() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec)
    return ".";
  return path.parent_path().string();
}

std::vector<module_candidate> load_modules(const settings& config) {
  auto log = logger("main");
  auto dir = config.modules_dir.empty() ? executable_dir() + "/modules"
                                        : config.modules_dir;
  auto listed = [](const std::vector<std::string>& names, const char* name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };

  std::error_code dir_error;
  if (!std::filesystem::is_directory(dir, dir_error))
    log->warn("modules-dir-unusable dir={} reason=\"not a folder\" "
              "fallback=basic; set --modules-dir to the folder of the .so "
              "files",
              dir);

  std::vector<module_candidate> result;
  std::vector<std::string> loaded;
  std::vector<std::string> unavailable;
  for (const auto& known : known_modules) {
    module_candidate candidate;
    auto& status = candidate.status;
    status.name = known.name;
    status.role = known.role;
    status.file = dir + "/" + known.name + ".so";
    status.variant = "basic";
    status.since_ms = now_instant().wall_ms;
    std::error_code ec;
    status.found = std::filesystem::is_regular_file(status.file, ec);

    bool selected = (config.modules.empty() || listed(config.modules, known.name))
                    && !listed(config.skip_modules, known.name);
    if (!selected) {
      // A deliberate choice, so it is reported at info, not as a warning.
      status.error = "not loaded: excluded by --modules or --skip-modules";
      log->info("module-skipped module={} fallback=basic role={}", known.name,
                known.role);
      unavailable.push_back(known.name);
      result.push_back(std::move(candidate));
      continue;
    } else if (!status.found) {
      status.error = "not installed: no file " + status.file;
    } else if (auto library = load_module(status.file, known.name, known.role);
               !library) {
      status.error = describe(library.error());
    } else {
      status.loaded = true;
      status.version = library->version;
      candidate.library = std::move(*library);
      log->info("module-loaded module={} version={} file={}", known.name,
                status.version, status.file);
      loaded.push_back(known.name);
      result.push_back(std::move(candidate));
      continue;
    }
    log->warn("module-unavailable module={} reason=\"{}\" fallback=basic "
              "role={}",
              known.name, status.error, known.role);
    unavailable.push_back(known.name);
    result.push_back(std::move(candidate));
  }

  auto join = [](const std::vector<std::string>& names) {
    std::string text;
    for (const auto& name : names)
      text += (text.empty() ? "" : ",") + name;
    return text.empty() ? std::string{"none"} : text;
  };
  log->info("modules-summary dir={} loaded={} unavailable={}", dir,
            join(loaded), join(unavailable));
  return result;
}

} // namespace orchestrator
