#pragma once

// Describes the machine a benchmark runs on, for the first line of its
// output.

#include <fstream>
#include <string>

namespace orchestrator::bench {

/// Returns the CPU model from /proc/cpuinfo, or "unknown".
inline std::string cpu_model() {
  std::ifstream in{"/proc/cpuinfo"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0)
      return line.substr(line.find(':') + 2);
  return "unknown";
}

} // namespace orchestrator::bench
