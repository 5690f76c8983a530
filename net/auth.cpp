#include "net/auth.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

namespace orchestrator {

namespace {

/// Builds the WWW-Authenticate value of RFC 6750: the scheme, our realm
/// and, after a failed attempt, the error code.
std::string challenge(const char* error) {
  std::string value = "Bearer realm=\"orchestrator\"";
  if (error != nullptr)
    value += std::string{", error=\""} + error + "\"";
  return value;
}

http_response denied(unsigned status, const char* error,
                     const std::string& detail) {
  auto response = http_response::json(status,
                                      nlohmann::json{{"detail", detail}}.dump());
  response.headers.emplace_back("WWW-Authenticate", challenge(error));
  return response;
}

const char* token_name(access_level needed) {
  return needed == access_level::admin
           ? "the admin token (the server's ORCHESTRATOR_ADMIN_KEY or "
             "--admin-key-file)"
           : "the worker token (the server's ORCHESTRATOR_API_KEY or "
             "--api-key-file) or the admin token";
}

} // namespace

bool tokens_equal(std::string_view given, std::string_view expected) {
  if (expected.empty())
    return false;
  // Every byte of `given` is compared, whatever matched before, and the
  // length difference joins the result instead of ending the loop early.
  volatile unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i)
    difference = difference
                 | static_cast<unsigned char>(given[i]
                                              ^ expected[i % expected.size()]);
  return difference == 0;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size())
    return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i])
      return std::nullopt;
  auto rest = authorization.substr(scheme.size());
  auto start = rest.find_first_not_of(' ');
  if (start == 0 || start == std::string_view::npos)
    return std::nullopt;
  auto token = rest.substr(start);
  auto end = token.find_last_not_of(' ');
  token = token.substr(0, end + 1);
  if (token.find(' ') != std::string_view::npos)
    return std::nullopt;
  return token;
}

std::optional<http_response> check_access(const auth_tokens& tokens,
                                          access_level needed,
                                          std::string_view authorization) {
  if (!tokens.enabled() || needed == access_level::open)
    return std::nullopt;
  if (authorization.empty())
    return denied(401, nullptr,
                  std::string{"authentication required: send the header "
                              "'Authorization: Bearer <token>' with "}
                    + token_name(needed));
  auto token = bearer_token(authorization);
  if (!token)
    return denied(401, "invalid_request",
                  "the Authorization header must have the form 'Bearer "
                  "<token>'; other schemes are not supported");
  // Both comparisons always run, so the time taken does not tell which
  // token a guess came close to.
  bool admin = tokens_equal(*token, tokens.admin);
  bool worker = tokens_equal(*token, tokens.worker);
  if (!admin && !worker)
    return denied(401, "invalid_token",
                  std::string{"invalid token: send "} + token_name(needed));
  if (needed == access_level::admin && !admin)
    return denied(403, "insufficient_scope",
                  tokens.admin.empty()
                    ? "admin endpoints are disabled because the server has no "
                      "admin token; start it with ORCHESTRATOR_ADMIN_KEY or "
                      "--admin-key-file"
                    : "this endpoint needs the admin token (the server's "
                      "ORCHESTRATOR_ADMIN_KEY or --admin-key-file); the "
                      "worker token is not enough");
  return std::nullopt;
}

} // namespace orchestrator
