#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace orchestrator::testing {

struct http_reply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;

  /// Parses the body as JSON; a body that is not JSON yields null.
  nlohmann::json json() const;
};

/// A blocking HTTP/1.1 client for tests, one connection per request, with a
/// timeout on every step.
class http_client {
public:
  http_client(std::string host, std::uint16_t port);

  /// Returns a client that sends "Authorization: Bearer TOKEN" with every
  /// request; an empty token sends no header.
  http_client with_token(const std::string& token) const;

  /// Returns a client that sends `value` as the Authorization header.
  http_client with_authorization(std::string value) const;

  /// Sends one request. Throws if the server cannot be reached or sends no
  /// response within five seconds.
  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = "") const;

  http_reply get(const std::string& target) const {
    return request("GET", target);
  }

  http_reply post(const std::string& target, const nlohmann::json& body) const {
    return request("POST", target, body.dump());
  }

  /// Sends raw bytes and returns whatever the server sends back before it
  /// closes the connection or two seconds pass.
  std::string raw(const std::string& bytes) const;

private:
  std::string host_;
  std::uint16_t port_;
  std::string authorization_;
};

} // namespace orchestrator::testing
