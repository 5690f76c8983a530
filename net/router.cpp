#include "net/router.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

namespace orchestrator {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

http_response detail_response(unsigned status, const std::string& text) {
  return http_response::json(status, nlohmann::json{{"detail", text}}.dump());
}

} // namespace

std::optional<std::string> routed_request::query_value(const std::string& key) const {
  auto i = query.find(key);
  if (i == query.end())
    return std::nullopt;
  return i->second;
}

std::optional<std::string> percent_decode(std::string_view text,
                                          bool plus_is_space) {
  std::string result;
  result.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      auto high = hex_value(text[i + 1]);
      auto low = hex_value(text[i + 2]);
      if (high < 0 || low < 0)
        return std::nullopt;
      result += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      result += ' ';
    } else {
      result += text[i];
    }
  }
  return result;
}

std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    if (end > start) {
      auto segment = percent_decode(path.substr(start, end - start), false);
      if (!segment)
        return std::nullopt;
      segments.push_back(std::move(*segment));
    }
    start = end + 1;
  }
  return segments;
}

void router::add(std::string method, std::string_view pattern,
                 route_handler handler) {
  auto segments = split_path(pattern);
  routes_.push_back(route{std::move(method), std::string{pattern},
                          std::move(*segments), std::move(handler)});
}

responder router::observed(const std::string& method, const std::string& pattern,
                           responder respond) const {
  if (!observer_)
    return respond;
  auto started = std::chrono::steady_clock::now();
  return [observer = observer_, method, pattern, started,
          respond = std::move(respond)](http_response response) {
    observer(method, pattern, response.status,
             std::chrono::duration<double>(std::chrono::steady_clock::now()
                                           - started)
               .count());
    respond(std::move(response));
  };
}

void router::dispatch(http_request request, responder respond) const {
  std::string_view target = request.target;
  auto question = target.find('?');
  auto path = target.substr(0, question);
  auto segments = split_path(path);
  if (!segments) {
    observed(request.method, "unmatched", std::move(respond))(
      detail_response(400, "malformed percent escape in the path"));
    return;
  }

  std::map<std::string, std::string> query;
  if (question != std::string_view::npos) {
    auto rest = target.substr(question + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      auto pair = rest.substr(0, amp);
      auto eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = eq == std::string_view::npos
                     ? std::optional<std::string>{""}
                     : percent_decode(pair.substr(eq + 1), true);
      if (!key || !value) {
        observed(request.method, "unmatched", std::move(respond))(
          detail_response(400, "malformed percent escape in the query"));
        return;
      }
      if (!key->empty())
        query[*key] = *value;
      rest = amp == std::string_view::npos ? std::string_view{}
                                           : rest.substr(amp + 1);
    }
  }

  std::string allowed;
  for (const auto& r : routes_) {
    if (r.segments.size() != segments->size())
      continue;
    std::vector<std::string> params;
    bool match = true;
    for (std::size_t k = 0; match && k < r.segments.size(); ++k) {
      if (r.segments[k] == "{}")
        params.push_back((*segments)[k]);
      else
        match = r.segments[k] == (*segments)[k];
    }
    if (!match)
      continue;
    if (r.method != request.method) {
      allowed += (allowed.empty() ? "" : ", ") + r.method;
      continue;
    }
    auto reply = observed(r.method, r.pattern, std::move(respond));
    r.handler(routed_request{std::move(request), std::move(params),
                             std::move(query)},
              std::move(reply));
    return;
  }

  // Unknown paths are counted under one label, so that scanners cannot
  // create a metric series per path.
  respond = observed(request.method, "unmatched", std::move(respond));

  if (!allowed.empty()) {
    auto response = detail_response(405, "Method Not Allowed; use " + allowed);
    response.headers.emplace_back("Allow", allowed);
    respond(std::move(response));
    return;
  }
  respond(detail_response(404, "Not Found"));
}

} // namespace orchestrator
