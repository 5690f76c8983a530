#pragma once

// Bearer-token authentication of HTTP requests: which token each route
// needs, and the check of the Authorization header against it.

#include "net/http_server.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace orchestrator {

/// The token a route needs. A route without a class of its own needs the
/// worker token.
enum class access_level {
  /// No token: probes such as /health and /ready.
  open,
  /// The worker token or the admin token.
  worker,
  /// The admin token only.
  admin,
};

/// The tokens a server accepts. An empty token is not configured; with
/// neither configured, every request passes.
struct auth_tokens {
  /// ORCHESTRATOR_API_KEY: workers, listings and metrics.
  std::string worker;
  /// ORCHESTRATOR_ADMIN_KEY: operator actions; also valid wherever the
  /// worker token is.
  std::string admin;

  bool enabled() const {
    return !worker.empty() || !admin.empty();
  }
};

/// Compares two tokens in time that depends only on the length of `given`,
/// so that response times do not reveal how much of a guess was right.
bool tokens_equal(std::string_view given, std::string_view expected);

/// Returns the token of an "Authorization: Bearer TOKEN" value, or nothing
/// for another scheme or a malformed value. The scheme is case-insensitive.
std::optional<std::string_view> bearer_token(std::string_view authorization);

/// Checks a request's Authorization header against the tokens. Returns
/// nothing when the request may go on, else the 401 or 403 response, with
/// a detail that states what is wrong and never contains a token.
std::optional<http_response> check_access(const auth_tokens& tokens,
                                          access_level needed,
                                          std::string_view authorization);

} // namespace orchestrator
