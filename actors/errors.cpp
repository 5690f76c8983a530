#include "actors/errors.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace orchestrator {

const char* to_string(errc code) {
  switch (code) {
    case errc::unknown_worker:
      return "unknown_worker";
    case errc::worker_dead:
      return "worker_dead";
    case errc::unknown_stream:
      return "unknown_stream";
    case errc::stale_epoch:
      return "stale_epoch";
    case errc::invalid_request:
      return "invalid_request";
    case errc::store_unavailable:
      return "store_unavailable";
    case errc::not_ready:
      return "not_ready";
    case errc::unavailable:
      return "unavailable";
    case errc::crashed:
      return "crashed";
    case errc::circuit_open:
      return "circuit_open";
    case errc::lock_held:
      return "lock_held";
    case errc::limit_reached:
      return "limit_reached";
  }
  return "unknown_error";
}

caf::error make_error(errc code, std::string text) {
  return caf::error{static_cast<std::uint8_t>(code),
                    error_category,
                    caf::make_message(std::move(text))};
}

caf::error make_error(errc code, std::string text,
                      std::int64_t retry_after_seconds) {
  return caf::error{static_cast<std::uint8_t>(code), error_category,
                    caf::make_message(std::move(text), retry_after_seconds)};
}

std::int64_t retry_after_of(const caf::error& err, std::int64_t fallback) {
  if (!err || err.category() != error_category)
    return fallback;
  const auto& context = err.context();
  if (context.size() == 2 && context.match_element<std::int64_t>(1))
    return context.get_as<std::int64_t>(1);
  return fallback;
}

bool is(const caf::error& err, errc code) {
  // CAF 0.17 dereferences an empty error's data in category().
  return err && err.category() == error_category
         && err.code() == static_cast<std::uint8_t>(code);
}

std::string describe(const caf::error& err) {
  if (err.category() == error_category) {
    const auto& context = err.context();
    if (context.size() >= 1 && context.match_element<std::string>(0))
      return context.get_as<std::string>(0);
    return to_string(static_cast<errc>(err.code()));
  }
  if (err == caf::sec::request_timeout)
    return "the request timed out inside the orchestrator";
  if (err == caf::sec::request_receiver_down)
    return "the component handling the request stopped before replying";
  return caf::to_string(err);
}

caf::error crash_reason(std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return make_error(errc::crashed, std::string{"unhandled exception: "}
                                       + e.what());
  } catch (...) {
    return make_error(errc::crashed, "unhandled exception of unknown type");
  }
}

} // namespace orchestrator
