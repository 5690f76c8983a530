#pragma once

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace orchestrator {

/// The parts of an HTTP request the API handlers use.
struct http_request {
  /// Upper-case method name, such as "POST".
  std::string method;
  /// The request target: path plus optional query string.
  std::string target;
  std::string body;
  std::string authorization = {};
};

struct http_response {
  /// Builds a response with a JSON body and no extra header fields.
  static http_response json(unsigned status, std::string body) {
    http_response result;
    result.status = status;
    result.body = std::move(body);
    return result;
  }

  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  /// Extra header fields, such as Allow or Retry-After.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Sends the response of one request. Callable from any thread, once; later
/// calls, and calls after the connection closed, are ignored.
using responder = std::function<void(http_response)>;

/// Handles one request. Must not block: it responds through `respond`, now
/// or later from another thread.
using request_handler = std::function<void(http_request, responder)>;

struct http_limits {
  std::uint64_t max_body_bytes = 4 * 1024 * 1024;
  std::uint32_t max_header_bytes = 16 * 1024;
  /// A connection with no complete request for this long is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  /// A request without a response after this long gets 504; a backstop in
  /// case a handler never responds.
  std::chrono::milliseconds response_timeout{10'000};
};

/// An HTTP/1.1 server on Boost.Beast with keep-alive, body and header
/// limits, and idle timeouts. Requests are read on the server's own I/O
/// threads and handed to the request handler.
class http_server {
public:
  http_server(request_handler handler, http_limits limits);
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and listens; returns the bound port, which differs from `port`
  /// when `port` is 0.
  caf::expected<std::uint16_t> listen(const std::string& host,
                                      std::uint16_t port);

  /// Starts accepting on `threads` I/O threads.
  void start(std::size_t threads);

  /// Stops accepting, closes connections and joins the I/O threads.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace orchestrator
