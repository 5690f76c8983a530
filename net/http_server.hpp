#pragma once

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
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

/// Returns the largest body accepted for a method and target; requests
/// with a larger body get 413 before their body is read.
using body_limit_function
  = std::function<std::uint64_t(std::string_view method,
                                std::string_view target)>;

struct http_limits {
  /// The largest body of any request.
  std::uint64_t max_body_bytes = 4 * 1024 * 1024;
  /// A smaller limit per route, if set; never above max_body_bytes.
  body_limit_function body_limit;
  std::uint32_t max_header_bytes = 16 * 1024;
  /// Connections past this many open ones get 503 and are closed at once.
  std::uint32_t max_connections = 10'000;
  /// A kept-alive connection with no new request for this long is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  /// A request must arrive completely within this time of its first byte,
  /// and the client must read a response within it. A slower client is
  /// closed.
  std::chrono::milliseconds read_timeout{10'000};
  /// A request without a response after this long gets 504; a backstop in
  /// case a handler never responds.
  std::chrono::milliseconds response_timeout{10'000};
};

/// Certificate and key for HTTPS; both empty serve plain HTTP.
struct tls_files {
  /// PEM certificate chain, the server's certificate first.
  std::string certificate;
  /// PEM private key of that certificate.
  std::string private_key;

  bool enabled() const {
    return !certificate.empty();
  }
};

/// An HTTP/1.1 server on Boost.Asio with Beast's parser: keep-alive, limits
/// on headers, bodies and connections, idle and read timeouts checked by one
/// periodic sweep instead of a timer per request, and optional TLS. Requests
/// are read on the server's own I/O threads and handed to the handler. A
/// response given while the handler runs is written without a thread hop.
class http_server {
public:
  http_server(request_handler handler, http_limits limits);
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Loads the certificate and key; call before start(). Fails with a
  /// message naming the file that could not be used.
  caf::expected<void> use_tls(const tls_files& files);

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
  std::shared_ptr<impl> impl_;
};

} // namespace orchestrator
