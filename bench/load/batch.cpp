#include "bench/load/http_load.hpp"

#include <memory>

namespace orchestrator::bench {

namespace {

/// Hands out a fixed list of requests once each.
class list_workload final : public workload {
public:
  using callback = std::function<void(const request_spec&, unsigned, const std::string&)>;

  list_workload(std::vector<request_spec> requests, callback on_reply)
    : requests_(std::move(requests)), on_reply_(std::move(on_reply)) {}

  std::optional<request_spec> next() override {
    if (next_ == requests_.size())
      return std::nullopt;
    return requests_[next_++];
  }

  void on_reply(const request_spec& spec, unsigned status, const std::string& body,
                clock_type::time_point) override {
    if (on_reply_)
      on_reply_(spec, status, body);
  }

private:
  std::vector<request_spec> requests_;
  std::size_t next_ = 0;
  callback on_reply_;
};

} // namespace

std::size_t run_batch(const std::string& host, std::uint16_t port,
                      const std::string& authorization,
                      std::vector<request_spec> requests,
                      std::function<void(const request_spec&, unsigned,
                                         const std::string&)> on_reply,
                      std::size_t connections) {
  if (requests.empty())
    return 0;
  load_options options;
  options.host = host;
  options.port = port;
  options.authorization = authorization;
  options.connections = std::min(connections, requests.size());
  options.duration_s = 3600;
  options.max_requests = requests.size();
  options.request_timeout_s = 60;
  options.lead_s = 0;
  auto shared = std::make_shared<std::vector<request_spec>>(std::move(requests));
  auto result = run_load(options, [&](std::size_t, std::size_t) {
    return std::make_unique<list_workload>(std::move(*shared), on_reply);
  }, "");
  std::size_t ok = 0;
  for (const auto& s : result.samples)
    ok += s.ok ? 1 : 0;
  return ok;
}

} // namespace orchestrator::bench
