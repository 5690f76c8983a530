#include "net/http_server.hpp"

#include "actors/errors.hpp"
#include "actors/logging.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/optional.hpp>

#include <nlohmann/json.hpp>

#include <atomic>

namespace orchestrator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string detail_body(const std::string& text) {
  return nlohmann::json{{"detail", text}}.dump();
}

/// One client connection: reads a request, hands it to the handler, writes
/// the response, and repeats while the client keeps the connection alive.
class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket&& socket, const request_handler& handler,
          const http_limits& limits)
    : stream_(std::move(socket)),
      handler_(handler),
      limits_(limits),
      backstop_(stream_.get_executor()) {
  }

  void run() {
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this()] { self->read(); });
  }

private:
  void read() {
    parser_.emplace();
    parser_->body_limit(limits_.max_body_bytes);
    parser_->header_limit(limits_.max_header_bytes);
    stream_.expires_after(limits_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec,
                                                 std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout
        || ec == asio::error::operation_aborted
        || ec == asio::error::connection_reset) {
      close();
      return;
    }
    if (ec == http::error::body_limit) {
      reject(413, "request body exceeds the limit of "
                    + std::to_string(limits_.max_body_bytes) + " bytes");
      return;
    }
    if (ec == http::error::header_limit) {
      reject(431, "request header fields exceed the limit of "
                    + std::to_string(limits_.max_header_bytes) + " bytes");
      return;
    }
    if (ec) {
      reject(400, "malformed HTTP request: " + ec.message());
      return;
    }

    auto request = parser_->release();
    keep_alive_ = request.keep_alive();
    version_ = request.version();
    stream_.expires_never();

    http_request forwarded;
    forwarded.method = std::string{request.method_string()};
    forwarded.target = std::string{request.target()};
    forwarded.body = std::move(request.body());
    forwarded.authorization = std::string{request[http::field::authorization]};

    auto id = ++request_id_;
    backstop_.expires_after(limits_.response_timeout);
    backstop_.async_wait([self = shared_from_this(), id](beast::error_code ec) {
      if (!ec)
        self->respond(id, http_response::json(504, detail_body(
                                               "the orchestrator did not answer "
                                               "in time; retry later")));
    });

    auto weak = weak_from_this();
    auto executor = stream_.get_executor();
    responder reply = [weak, executor, id](http_response response) {
      asio::post(executor, [weak, id, response = std::move(response)]() mutable {
        if (auto self = weak.lock())
          self->respond(id, std::move(response));
      });
    };
    handler_(std::move(forwarded), std::move(reply));
  }

  /// Writes the response of request `id`, unless one was already sent.
  void respond(std::uint64_t id, http_response response) {
    if (id != request_id_ || answered_ == id)
      return;
    answered_ = id;
    backstop_.cancel();
    write(std::move(response), keep_alive_);
  }

  /// Responds to a request that could not be read, then closes the connection,
  /// because the rest of the stream cannot be trusted.
  void reject(unsigned status, const std::string& text) {
    logger("net")->debug("request-rejected status={} reason=\"{}\"", status,
                         text);
    write(http_response::json(status, detail_body(text)), false);
  }

  void write(http_response response, bool keep_alive) {
    auto message = std::make_shared<http::response<http::string_body>>(
      static_cast<http::status>(response.status), version_);
    message->set(http::field::server, "stream-orchestrator");
    message->set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers)
      message->set(name, value);
    message->keep_alive(keep_alive);
    message->body() = std::move(response.body);
    message->prepare_payload();

    stream_.expires_after(limits_.idle_timeout);
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](
                        beast::error_code ec, std::size_t) {
                        if (ec || message->need_eof()) {
                          self->close();
                          return;
                        }
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    backstop_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  boost::optional<http::request_parser<http::string_body>> parser_;
  const request_handler& handler_;
  const http_limits& limits_;
  asio::steady_timer backstop_;
  std::uint64_t request_id_ = 0;
  std::uint64_t answered_ = 0;
  bool keep_alive_ = true;
  unsigned version_ = 11;
};

} // namespace

struct http_server::impl {
  request_handler handler;
  http_limits limits;
  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  asio::steady_timer retry_timer{acceptor.get_executor()};
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc),
                          [this](beast::error_code ec, tcp::socket socket) {
                            on_accept(ec, std::move(socket));
                          });
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopped)
      return;
    if (ec) {
      // Usually out of file descriptors: wait a little instead of spinning.
      logger("net")->warn("accept-failed error=\"{}\" retry_in_ms=100",
                          ec.message());
      retry_timer.expires_after(std::chrono::milliseconds{100});
      retry_timer.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec)
          accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay{true}, ignored);
    std::make_shared<session>(std::move(socket), handler, limits)->run();
    accept();
  }
};

http_server::http_server(request_handler handler, http_limits limits)
  : impl_(std::make_unique<impl>()) {
  impl_->handler = std::move(handler);
  impl_->limits = limits;
}

http_server::~http_server() {
  stop();
}

caf::expected<std::uint16_t> http_server::listen(const std::string& host,
                                                 std::uint16_t port) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec)
    return make_error(errc::invalid_request,
                      "invalid listen host '" + host
                        + "': expected an IPv4 or IPv6 address");
  tcp::endpoint endpoint{address, port};
  auto& acceptor = impl_->acceptor;
  auto fail = [&](const char* step) {
    return make_error(errc::invalid_request,
                      std::string{"cannot listen on "} + host + ":"
                        + std::to_string(port) + " (" + step
                        + "): " + ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec)
    return fail("open");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec)
    return fail("set_option");
  acceptor.bind(endpoint, ec);
  if (ec)
    return fail("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail("listen");
  return acceptor.local_endpoint().port();
}

void http_server::start(std::size_t threads) {
  impl_->accept();
  for (std::size_t i = 0; i < threads; ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void http_server::stop() {
  if (impl_->stopped.exchange(true))
    return;
  asio::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->retry_timer.cancel();
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads)
    if (t.joinable())
      t.join();
  impl_->threads.clear();
}

} // namespace orchestrator
