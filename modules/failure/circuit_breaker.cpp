#include "modules/failure/circuit_breaker.hpp"

#include <algorithm>
#include <stdexcept>

namespace orchestrator {

const char* to_string(circuit_breaker::state s) {
  switch (s) {
    case circuit_breaker::state::closed:
      return "closed";
    case circuit_breaker::state::open:
      return "open";
    case circuit_breaker::state::half_open:
      return "half_open";
  }
  return "closed";
}

circuit_breaker::circuit_breaker(breaker_settings config) : config_(config) {
  if (config_.failure_threshold == 0 || config_.max_probes == 0
      || config_.probes_to_close == 0)
    throw std::invalid_argument("breaker thresholds and probe counts must be "
                                "at least 1");
  if (config_.open_ms < 0 || config_.max_half_open_ms <= 0)
    throw std::invalid_argument("breaker times must be positive");
}

void circuit_breaker::open(std::int64_t now_ms) {
  state_ = state::open;
  changed_at_ms_ = now_ms;
  probes_ = 0;
  probe_successes_ = 0;
}

void circuit_breaker::advance(std::int64_t now_ms) {
  if (state_ == state::open && now_ms - changed_at_ms_ >= config_.open_ms) {
    state_ = state::half_open;
    changed_at_ms_ = now_ms;
    probes_ = 0;
    probe_successes_ = 0;
  } else if (state_ == state::half_open
             && now_ms - changed_at_ms_ > config_.max_half_open_ms) {
    open(now_ms);
  }
}

bool circuit_breaker::allow(std::int64_t now_ms) {
  advance(now_ms);
  switch (state_) {
    case state::closed:
      return true;
    case state::open:
      return false;
    case state::half_open:
      if (probes_ >= config_.max_probes)
        return false;
      ++probes_;
      return true;
  }
  return false;
}

void circuit_breaker::record_success(std::int64_t now_ms) {
  advance(now_ms);
  failures_ = 0;
  if (state_ != state::half_open)
    return;
  probes_ = probes_ > 0 ? probes_ - 1 : 0;
  if (++probe_successes_ >= config_.probes_to_close) {
    state_ = state::closed;
    changed_at_ms_ = now_ms;
  }
}

void circuit_breaker::reset(std::int64_t now_ms) {
  failures_ = 0;
  probes_ = 0;
  probe_successes_ = 0;
  if (state_ != state::closed) {
    state_ = state::closed;
    changed_at_ms_ = now_ms;
  }
}

void circuit_breaker::record_failure(std::int64_t now_ms) {
  advance(now_ms);
  ++failures_;
  if (state_ == state::half_open
      || (state_ == state::closed && failures_ >= config_.failure_threshold))
    open(now_ms);
}

circuit_breaker::state circuit_breaker::current(std::int64_t now_ms) {
  advance(now_ms);
  return state_;
}

std::int64_t circuit_breaker::retry_after_ms(std::int64_t now_ms) const {
  if (state_ != state::open)
    return 0;
  return std::max<std::int64_t>(0, changed_at_ms_ + config_.open_ms - now_ms);
}

std::int64_t backoff_delay_ms(const backoff_settings& config, std::uint32_t attempt,
                              std::mt19937_64& random) {
  std::int64_t ceiling = config.base_ms;
  if (config.exponential)
    for (std::uint32_t k = 1; k < attempt && ceiling < config.cap_ms; ++k)
      ceiling *= 2;
  ceiling = std::min(ceiling, config.cap_ms);
  if (ceiling <= 0)
    return 0;
  return std::uniform_int_distribution<std::int64_t>{0, ceiling}(random);
}

} // namespace orchestrator
