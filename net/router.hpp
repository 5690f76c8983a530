#pragma once

#include "net/http_server.hpp"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orchestrator {

/// A request after routing: path parameters and query parameters decoded.
struct routed_request {
  http_request raw;
  std::vector<std::string> params;
  std::map<std::string, std::string> query;

  /// Returns the query parameter `key`, if present.
  std::optional<std::string> query_value(const std::string& key) const;
};

using route_handler = std::function<void(routed_request, responder)>;

/// Receives every response the router sends: the method, the matched route
/// pattern ("unmatched" when none matched), the status and the seconds from
/// dispatch to response.
using route_observer = std::function<void(const std::string& method,
                                          const std::string& route,
                                          unsigned status, double seconds)>;

/// Maps a method and a path pattern such as "/instances/{}/metrics" to a
/// handler. "{}" matches one non-empty path segment and becomes a parameter.
/// A path that matches a pattern under another method gets 405 with Allow;
/// one that matches nothing gets 404.
class router {
public:
  void add(std::string method, std::string_view pattern, route_handler handler);

  void dispatch(http_request request, responder respond) const;

  void set_observer(route_observer observer) {
    observer_ = std::move(observer);
  }

private:
  struct route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    route_handler handler;
  };

  /// Wraps `respond` so that the observer receives each response.
  responder observed(const std::string& method, const std::string& pattern,
                     responder respond) const;

  std::vector<route> routes_;
  route_observer observer_;
};

/// Splits a path into percent-decoded segments; empty segments are dropped.
/// Returns nothing if a percent escape is malformed.
std::optional<std::vector<std::string>> split_path(std::string_view path);

/// Decodes %XX escapes, and '+' as a space when `plus_is_space`.
std::optional<std::string> percent_decode(std::string_view text,
                                          bool plus_is_space);

} // namespace orchestrator
