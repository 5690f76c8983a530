#include "actors/types.hpp"

#include <chrono>

namespace orchestrator {

const char* to_string(worker_state state) {
  return state == worker_state::active ? "active" : "dead";
}

instant now_instant() {
  using namespace std::chrono;
  auto wall = system_clock::now().time_since_epoch();
  auto steady = steady_clock::now().time_since_epoch();
  return instant{duration_cast<milliseconds>(wall).count(),
                 duration_cast<milliseconds>(steady).count()};
}

} // namespace orchestrator
