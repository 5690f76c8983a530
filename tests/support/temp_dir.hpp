#pragma once

#include <string>

namespace orchestrator::testing {

/// A fresh folder under /tmp, removed with its contents on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const {
    return path_;
  }

  /// Returns path() + "/" + name.
  std::string file(const std::string& name) const;

private:
  std::string path_;
};

} // namespace orchestrator::testing
