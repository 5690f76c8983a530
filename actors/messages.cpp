#include "actors/messages.hpp"

namespace orchestrator {

const char* to_string(role r) {
  switch (r) {
    case role::store:
      return "store";
    case role::coordinator:
      return "coordinator";
    case role::balancer:
      return "balancer";
    case role::failure_handler:
      return "failure_handler";
    case role::metrics:
      return "metrics";
    case role::status:
      return "status";
    case role::supervisor:
      return "supervisor";
  }
  return "unknown";
}

} // namespace orchestrator
