#pragma once

// Protection of the server's calls to a dependency (the store): a circuit
// breaker, exponential backoff with jitter, and a retry budget. Plain
// classes with the time passed in, so tests drive them with a fake clock.

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>

namespace orchestrator {

struct breaker_settings {
  /// Consecutive failures that open the breaker: CIRCUIT_BREAKER_THRESHOLD.
  std::uint32_t failure_threshold = 5;
  /// Time the breaker stays open before it lets probes through, in
  /// milliseconds: CIRCUIT_BREAKER_TIMEOUT.
  std::int64_t open_ms = 60'000;
  /// Calls allowed at once while half-open.
  std::uint32_t max_probes = 1;
  /// Successful probes that close the breaker again.
  std::uint32_t probes_to_close = 1;
  /// Maximum time in half-open: probes that neither succeed nor fail within
  /// it count as a failure, and the breaker opens again.
  std::int64_t max_half_open_ms = 30'000;
};

/// A circuit breaker: closed (calls pass), open (calls fail fast), and
/// half-open (a bounded number of probe calls decide whether to close).
class circuit_breaker {
public:
  enum class state { closed, open, half_open };

  explicit circuit_breaker(breaker_settings config);

  /// Returns true if a call may start at `now_ms`, and counts it as a probe
  /// while half-open. Every allowed call must end in record_success() or
  /// record_failure().
  bool allow(std::int64_t now_ms);

  void record_success(std::int64_t now_ms);
  void record_failure(std::int64_t now_ms);

  /// Closes the breaker at once: a check outside the guarded calls showed
  /// that the dependency works again.
  void reset(std::int64_t now_ms);

  state current(std::int64_t now_ms);

  /// Milliseconds until the breaker lets a probe through; 0 unless open.
  std::int64_t retry_after_ms(std::int64_t now_ms) const;

  std::uint32_t consecutive_failures() const {
    return failures_;
  }

  const breaker_settings& config() const {
    return config_;
  }

private:
  void open(std::int64_t now_ms);
  /// Moves from open to half-open, and from a stuck half-open back to open.
  void advance(std::int64_t now_ms);

  breaker_settings config_;
  state state_ = state::closed;
  std::uint32_t failures_ = 0;
  std::uint32_t probes_ = 0;
  std::uint32_t probe_successes_ = 0;
  std::int64_t changed_at_ms_ = 0;
};

/// Returns "closed", "open" or "half_open".
const char* to_string(circuit_breaker::state s);

struct backoff_settings {
  /// Delay before the first retry, in milliseconds.
  std::int64_t base_ms = 50;
  /// Largest delay, in milliseconds.
  std::int64_t cap_ms = 2'000;
  /// Doubles the delay after each attempt when true (EXPONENTIAL_BACKOFF);
  /// keeps it at the base otherwise.
  bool exponential = true;
};

/// Returns the delay before retry number `attempt` (from 1): "full jitter",
/// a uniform draw from zero to the exponential delay, so that many callers
/// retrying at once spread out instead of retrying in step.
std::int64_t backoff_delay_ms(const backoff_settings& config, std::uint32_t attempt,
                              std::mt19937_64& random);

/// A retry budget: each successful call earns `ratio` of a retry, and at
/// most `capacity` retries are saved up, so that during an outage retries
/// stop after `capacity` and never multiply the load on the dependency.
class retry_budget {
public:
  retry_budget(double ratio, double capacity)
    : ratio_(ratio), capacity_(capacity), tokens_(capacity) {
  }

  void record_success() {
    tokens_ = std::min(tokens_ + ratio_, capacity_);
  }

  /// Takes one retry from the budget; false if none is left.
  bool try_spend() {
    if (tokens_ < 1)
      return false;
    tokens_ -= 1;
    return true;
  }

  double tokens() const {
    return tokens_;
  }

private:
  double ratio_;
  double capacity_;
  double tokens_;
};

} // namespace orchestrator
