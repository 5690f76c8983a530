#pragma once

#include "actors/config.hpp"
#include "actors/peers.hpp"
#include "modules/failure/failure_detector.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/stateful_actor.hpp>

#include <memory>

namespace orchestrator {

struct failure_handler_state {
  std::shared_ptr<failure_detector> detector;
  settings config;
  peers handles;
  /// True while a check runs, so checks never overlap.
  bool check_running = false;
  /// True once the current freeze was logged.
  bool frozen_logged = false;
  static inline const char* name = "failure_handler";
};

using failure_handler_self = caf::stateful_actor<failure_handler_state>;

/// Decides which workers are dead. Every heartbeat_check_interval it reads
/// the last heartbeat of each active worker from the coordinator, gets
/// verdicts from its detector and sends them to the coordinator, which frees
/// and reassigns the streams of each worker that is still silent.
///
/// The detector may hold verdicts back (see resilient_detector) and
/// quarantine workers that keep failing; the basic one only applies the
/// timeout.
///
/// Protocol:
/// - (fail_atom, std::string server_id) -> failure_report: an operator
///   declares a worker failed
/// - (get_atom, resilience_atom) -> detector_status
/// - (recover_atom, std::string server_id): forget the worker's failures
/// - (unfreeze_atom) -> bool: lift a freeze; false if none
/// - (update_atom, role, caf::actor): a peer was respawned
/// - (update_atom, std::shared_ptr<failure_detector>): switch detectors
caf::behavior failure_handler_actor(failure_handler_self* self,
                                    settings config, peers handles,
                                    std::shared_ptr<failure_detector> detector);

} // namespace orchestrator

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<orchestrator::failure_detector>)
