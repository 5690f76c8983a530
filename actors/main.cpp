// The orchestrator server: reads its settings, opens the store, starts the
// supervised actors and the HTTP server, and runs until SIGINT or SIGTERM.

#include "actors/config.hpp"
#include "actors/errors.hpp"
#include "actors/gateway.hpp"
#include "actors/logging.hpp"
#include "actors/module_setup.hpp"
#include "actors/supervisor.hpp"
#include "modules/store/catalog_file.hpp"
#include "modules/store/sqlite_store.hpp"
#include "net/api.hpp"
#include "net/http_server.hpp"

#include <caf/all.hpp>

#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <thread>

using namespace orchestrator;

namespace {

/// Time the actors get to stop after SIGINT or SIGTERM before the process
/// exits anyway.
constexpr std::chrono::seconds shutdown_grace{10};

/// Loads the catalogue file into the coordinator, retrying while the
/// coordinator is still loading its state. Returns false on failure.
bool import_catalog(const actor_bridge& bridge,
                    const std::vector<stream_row>& rows,
                    const std::string& path) {
  auto log = logger("main");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  for (;;) {
    auto outcome = std::make_shared<std::promise<caf::expected<catalog_result>>>();
    auto future = outcome->get_future();
    bridge.ask<catalog_result>(
      role::coordinator,
      [outcome](caf::expected<catalog_result> result) {
        outcome->set_value(std::move(result));
      },
      caf::put_atom::value, rows);
    auto result = future.get();
    if (result) {
      log->info("catalog-imported file={} streams={} created={} updated={}",
                path, rows.size(), result->created, result->updated);
      return true;
    }
    // Right after start-up the coordinator may still load its state, or the
    // gateway may not know its handle yet.
    bool transient = is(result.error(), errc::not_ready)
                     || is(result.error(), errc::unavailable);
    if (!transient || std::chrono::steady_clock::now() > deadline) {
      log->error("catalog-import-failed file={} error=\"{}\"", path,
                 describe(result.error()));
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

/// Waits until the coordinator has loaded its state, so that the first
/// requests do not meet 503. Gives up after `limit`: the server then listens
/// anyway, and /ready reports why it is not ready.
void await_ready(const actor_bridge& bridge, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto outcome = std::make_shared<std::promise<bool>>();
    auto future = outcome->get_future();
    bridge.ask<cluster_summary>(
      role::coordinator,
      [outcome](caf::expected<cluster_summary> summary) {
        outcome->set_value(static_cast<bool>(summary));
      },
      caf::get_atom::value, atoms::summary_atom::value);
    if (future.get())
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  logger("main")->warn("state-not-loaded waited_s={} action=listen-anyway",
                       limit.count());
}

int wait_for_signal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

} // namespace

int main(int argc, char** argv) {
  // Every thread started from here on inherits the mask, so only
  // wait_for_signal() receives SIGINT and SIGTERM.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto parsed = parse_command_line(argc, argv);
  if (parsed.exit_now) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.output << '\n';
    return parsed.exit_code;
  }
  const auto& config = parsed.values;
  setup_logging(config.log_level);
  auto log = logger("main");
  log->info("orchestrator-starting version=0.1.0 pid={}", ::getpid());
  for (const auto& line : config.describe())
    log->info("setting {}", line);

  std::error_code fs_error;
  std::filesystem::create_directories(config.data_dir, fs_error);
  if (fs_error) {
    log->error("data-dir-unusable path={} error=\"{}\"; choose a writable "
               "folder with --data-dir",
               config.data_dir, fs_error.message());
    return 1;
  }

  // Open once here, so a bad path fails start-up with a clear message
  // instead of a store role that keeps restarting.
  auto database = config.database_path();
  if (auto probe = sqlite_store::open(database); !probe) {
    log->error("store-open-failed error=\"{}\"", describe(probe.error()));
    return 1;
  }
  store_factory open_store = [database]() -> caf::expected<std::unique_ptr<store>> {
    auto opened = sqlite_store::open(database);
    if (!opened)
      return opened.error();
    return std::unique_ptr<store>{std::move(*opened)};
  };

  std::vector<stream_row> catalog;
  if (!config.catalog_file.empty()) {
    auto rows = read_catalog_file(config.catalog_file);
    if (!rows) {
      log->error("catalog-invalid error=\"{}\"", describe(rows.error()));
      return 1;
    }
    catalog = std::move(*rows);
  }

  // Declared before the actor system so that it is destroyed after it: a
  // reply that arrives during shutdown still finds its io_context.
  std::unique_ptr<http_server> server;

  caf::actor_system_config caf_config;
  caf_config.set("scheduler.max-threads", config.actor_threads);
  caf::actor_system system{caf_config};

  auto modules = load_modules(config);
  auto gateway = system.spawn(gateway_actor);
  auto supervisor = system.spawn(supervisor_actor,
                                 standard_children(config, open_store),
                                 std::move(modules), restart_policy{}, gateway);
  caf::anon_send(gateway, caf::update_atom::value, role::supervisor, supervisor);
  actor_bridge bridge{gateway, config.request_timeout};

  auto shutdown_actors = [&] {
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  };

  await_ready(bridge, std::chrono::seconds{30});
  if (!catalog.empty() && !import_catalog(bridge, catalog, config.catalog_file)) {
    shutdown_actors();
    return 1;
  }

  api_settings api_config;
  api_config.limits.default_max_streams = config.max_streams_per_instance;
  auto handler_api = std::make_shared<api>(bridge, api_config);
  http_limits limits;
  limits.max_body_bytes = config.max_body_bytes;
  limits.idle_timeout = config.idle_timeout;
  limits.response_timeout = config.request_timeout * 2;
  server = std::make_unique<http_server>(
    [handler_api](http_request request, responder respond) {
      handler_api->handle(std::move(request), std::move(respond));
    },
    limits);
  auto port = server->listen(config.listen_host, config.listen_port);
  if (!port) {
    log->error("listen-failed error=\"{}\"", describe(port.error()));
    shutdown_actors();
    return 1;
  }
  server->start(config.io_threads);
  auto shown_host = config.listen_host.find(':') != std::string::npos
                      ? "[" + config.listen_host + "]"
                      : config.listen_host;
  log->info("http-listening address={}:{}", shown_host, *port);

  auto signal = wait_for_signal();
  log->info("orchestrator-stopping signal={}", signal == SIGINT ? "SIGINT"
                                                                 : "SIGTERM");
  // Every acknowledged change is already on disk, so a shutdown that hangs
  // loses nothing by being cut short.
  std::thread{[log] {
    std::this_thread::sleep_for(shutdown_grace);
    log->error("shutdown-timed-out grace_s={} action=exit",
               shutdown_grace.count());
    std::_Exit(1);
  }}.detach();
  server->stop();
  log->debug("http-stopped");
  shutdown_actors();
  return 0;
}
