#pragma once

#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <exception>
#include <string>

namespace orchestrator {

/// Errors that actors of the orchestrator return to their requesters.
enum class errc : std::uint8_t {
  /// The named worker is not registered.
  unknown_worker = 1,
  /// The named worker was declared dead and must register again.
  worker_dead,
  /// The named stream is not in the catalogue.
  unknown_stream,
  /// A request names an epoch older than the current assignment.
  stale_epoch,
  /// A request is well-formed but violates a rule of the state.
  invalid_request,
  /// The durable store rejected or failed a write; nothing was applied.
  store_unavailable,
  /// The state is still being loaded from the store.
  not_ready,
  /// The requested feature needs an optional module that is not running.
  unavailable,
  /// An actor stopped on an unhandled exception.
  crashed,
  /// The store's circuit breaker is open: the request failed fast.
  circuit_open,
  /// Another server holds the database's leader lock.
  lock_held,
  /// A configured limit on workers or streams is reached.
  limit_reached,
};

/// The error category of `errc` values.
inline constexpr caf::atom_value error_category = caf::atom("orch");

/// Returns the name of `code`, such as "unknown_worker".
const char* to_string(errc code);

/// Builds an error of the orchestrator's category with a human-readable text.
caf::error make_error(errc code, std::string text);

/// Builds an error whose HTTP response asks the client to retry after
/// `retry_after_seconds`.
caf::error make_error(errc code, std::string text, std::int64_t retry_after_seconds);

/// Returns the retry delay in seconds carried by `err`, or `fallback`.
std::int64_t retry_after_of(const caf::error& err, std::int64_t fallback);

/// Returns true if `err` belongs to the orchestrator's category and is `code`.
bool is(const caf::error& err, errc code);

/// Returns the human-readable text of `err`: the text given to make_error for
/// our own errors, CAF's rendering otherwise.
std::string describe(const caf::error& err);

/// Returns the exit reason for an actor that stopped on the exception in
/// `failure`, with the exception's message. Install it with
/// set_exception_handler, so the supervisor can report why a role crashed.
caf::error crash_reason(std::exception_ptr& failure);

} // namespace orchestrator
