#include "modules/module_loader.hpp"

#include "actors/errors.hpp"

#include <dlfcn.h>
#include <elf.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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

caf::error check_elf_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return load_failure(path, "cannot open it");
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);

  Elf64_Ehdr header{};
  if (!in.read(reinterpret_cast<char*>(&header), sizeof(header)))
    return load_failure(path, "not a loadable shared library (file too short)");
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
    return load_failure(path, "not a loadable shared library (not an ELF file)");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_machine != EM_X86_64
      || header.e_type != ET_DYN)
    return load_failure(path, "not a loadable shared library (not a 64-bit "
                              "shared object for this machine)");
  if (header.e_phentsize != sizeof(Elf64_Phdr)
      || header.e_phoff + std::uint64_t{header.e_phnum} * sizeof(Elf64_Phdr) > size)
    return load_failure(path, "not a loadable shared library (truncated: "
                              "program headers lie past the end of the file)");
  in.seekg(static_cast<std::streamoff>(header.e_phoff));
  for (unsigned k = 0; k < header.e_phnum; ++k) {
    Elf64_Phdr segment{};
    if (!in.read(reinterpret_cast<char*>(&segment), sizeof(segment)))
      return load_failure(path, "not a loadable shared library (unreadable "
                                "program header)");
    if (segment.p_type == PT_LOAD && segment.p_offset + segment.p_filesz > size)
      return load_failure(path,
                          "not a loadable shared library (truncated: "
                          + std::to_string(size) + " bytes, a segment ends at "
                          + std::to_string(segment.p_offset + segment.p_filesz)
                          + "); was the copy interrupted?");
  }
  return caf::none;
}

caf::expected<module_library> load_module(const std::string& path,
                                          const std::string& expected_name,
                                          const std::string& expected_role) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return load_failure(path, "no such file");
  if (auto err = check_elf_file(path))
    return err;
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

  if (!expected_name.empty() && expected_name != api->name)
    return load_failure(path, std::string{"it is the module '"} + api->name
                                + "', not '" + expected_name
                                + "'; install it under its own name");
  if (!expected_role.empty() && expected_role != api->role)
    return load_failure(path, std::string{"it enhances the role '"} + api->role
                                + "', not '" + expected_role + "'");

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
