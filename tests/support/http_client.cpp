#include "tests/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <stdexcept>

namespace orchestrator::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

nlohmann::json http_reply::json() const {
  auto value = nlohmann::json::parse(body, nullptr, false);
  return value.is_discarded() ? nlohmann::json{} : value;
}

http_client::http_client(std::string host, std::uint16_t port)
  : host_(std::move(host)), port_(port) {
}

http_client http_client::with_token(const std::string& token) const {
  return with_authorization(token.empty() ? std::string{} : "Bearer " + token);
}

http_client http_client::with_authorization(std::string value) const {
  auto copy = *this;
  copy.authorization_ = std::move(value);
  return copy;
}

http_reply http_client::request(const std::string& method,
                                const std::string& target,
                                const std::string& body) const {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  stream.expires_after(std::chrono::seconds{5});
  stream.connect(tcp::endpoint{asio::ip::make_address(host_), port_});

  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host_);
  if (!authorization_.empty())
    req.set(http::field::authorization, authorization_);
  if (!body.empty())
    req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);

  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  http_reply reply;
  reply.status = res.result_int();
  reply.body = res.body();
  for (const auto& field : res)
    reply.headers[std::string{field.name_string()}] = std::string{field.value()};
  return reply;
}

std::string http_client::raw(const std::string& bytes) const {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  stream.expires_after(std::chrono::seconds{2});
  stream.connect(tcp::endpoint{asio::ip::make_address(host_), port_});
  asio::write(stream.socket(), asio::buffer(bytes));
  std::string received;
  char chunk[4096];
  beast::error_code ec;
  for (;;) {
    stream.expires_after(std::chrono::seconds{2});
    auto n = stream.read_some(asio::buffer(chunk), ec);
    received.append(chunk, n);
    if (ec)
      break;
  }
  return received;
}

} // namespace orchestrator::testing
