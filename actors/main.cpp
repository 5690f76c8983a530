// The orchestrator server: reads its settings, opens the store, starts the
// supervised actors and the HTTP server, and runs until SIGINT or SIGTERM.

#include "actors/config.hpp"
#include "actors/errors.hpp"
#include "actors/gateway.hpp"
#include "actors/logging.hpp"
#include "actors/module_setup.hpp"
#include "actors/supervisor.hpp"
#include "modules/store/catalog_file.hpp"
#include "modules/store/postgres_store.hpp"
#include "modules/store/sqlite_store.hpp"
#include "net/api.hpp"
#include "net/http_server.hpp"

#include <caf/all.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <filesystem>
#include <future>
#include <iostream>
#include <iterator>
#include <thread>

using namespace orchestrator;

namespace {

/// Time the actors get to stop after SIGINT or SIGTERM before the process
/// exits anyway.
constexpr std::chrono::seconds shutdown_grace{10};

/// Streams per message and per commit of the catalogue import. The message,
/// the registry's changes and the store's journal then hold one chunk at a
/// time instead of copies of the whole file.
constexpr std::size_t import_chunk = 10'000;

/// Puts one chunk of the catalogue into the coordinator, retrying for up
/// to a minute while the coordinator is still loading its state.
caf::expected<catalog_result> put_chunk(const actor_bridge& bridge,
                                        const std::vector<stream_row>& chunk) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  for (;;) {
    auto outcome = std::make_shared<std::promise<caf::expected<catalog_result>>>();
    auto future = outcome->get_future();
    bridge.ask<catalog_result>(
      role::coordinator,
      [outcome](caf::expected<catalog_result> result) {
        outcome->set_value(std::move(result));
      },
      caf::put_atom::value, chunk);
    auto result = future.get();
    // Right after start-up the coordinator may still load its state, or the
    // gateway may not know its handle yet.
    bool transient = !result
                     && (is(result.error(), errc::not_ready)
                         || is(result.error(), errc::unavailable));
    if (!transient || std::chrono::steady_clock::now() > deadline)
      return result;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

/// Loads the catalogue file into the coordinator in chunks of
/// `import_chunk` streams, each committed before the next. Moves the rows
/// out of `rows` and frees it at the end. Returns false on failure, and the
/// chunks committed before it stay: the next start imports the file again.
bool import_catalog(const actor_bridge& bridge, std::vector<stream_row>& rows,
                    const std::string& path) {
  auto log = logger("main");
  catalog_result total;
  for (std::size_t first = 0; first < rows.size(); first += import_chunk) {
    auto last = std::min(rows.size(), first + import_chunk);
    std::vector<stream_row> chunk(
      std::make_move_iterator(rows.begin() + static_cast<std::ptrdiff_t>(first)),
      std::make_move_iterator(rows.begin() + static_cast<std::ptrdiff_t>(last)));
    auto result = put_chunk(bridge, chunk);
    if (!result) {
      log->error("catalog-import-failed file={} imported={} of={} error=\"{}\"",
                 path, first, rows.size(), describe(result.error()));
      return false;
    }
    total.created += result->created;
    total.updated += result->updated;
  }
  log->info("catalog-imported file={} streams={} created={} updated={}", path,
            rows.size(), total.created, total.updated);
  std::vector<stream_row>{}.swap(rows);
  return true;
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

/// A file descriptor closed on destruction.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {
  }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {
  }
  unique_fd& operator=(unique_fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~unique_fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }

private:
  int fd_ = -1;
};

/// Takes an exclusive lock on PATH.lock, so that two servers never write one
/// SQLite file. The kernel drops the lock when the process ends, however it
/// ends.
caf::expected<unique_fd> lock_database(const std::string& path) {
  auto lock_path = path + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::store_unavailable,
                      "cannot create the lock file " + lock_path + ": "
                        + std::strerror(errno));
  unique_fd guard{fd};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    std::ifstream in{lock_path};
    std::string holder;
    std::getline(in, holder);
    return make_error(errc::store_unavailable,
                      "another orchestrator (pid " + (holder.empty() ? "unknown" : holder)
                        + ") uses " + path
                        + "; stop it, or give this one its own --data-dir "
                          "or --store");
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::write(fd, pid.data(), pid.size()) < 0)
    logger("main")->warn("lock-file-unwritable path={}", lock_path);
  return guard;
}

/// Logs who may use the API: the configured tokens (never their values) or
/// the loopback-only rule that applies without any.
void log_access(const settings& config) {
  auto log = logger("main");
  if (config.api_key.empty() && config.admin_key.empty()) {
    if (config.listens_on_loopback())
      log->info("auth-disabled reason=no-token listen={} scope=loopback-only; "
                "set ORCHESTRATOR_API_KEY and ORCHESTRATOR_ADMIN_KEY to serve "
                "other hosts",
                config.listen_host);
    else
      log->warn("auth-disabled reason=allow-unauthenticated listen={}; every "
                "client that reaches this address may use every endpoint",
                config.listen_host);
    return;
  }
  log->info("auth-enabled worker_token={} admin_token={} metrics={}",
            config.api_key.empty() ? "none" : "set",
            config.admin_key.empty() ? "none" : "set",
            config.metrics_public ? "public" : "token");
  if (config.admin_key.empty())
    log->warn("admin-endpoints-disabled reason=no-admin-token; set "
              "ORCHESTRATOR_ADMIN_KEY or --admin-key-file to use them");
  // A short token can be guessed; 16 characters is far below what a
  // random generator gives, so this only catches placeholders.
  constexpr std::size_t short_token = 16;
  if (!config.api_key.empty() && config.api_key.size() < short_token)
    log->warn("auth-token-short token=worker; use at least 32 random "
              "characters");
  if (!config.admin_key.empty() && config.admin_key.size() < short_token)
    log->warn("auth-token-short token=admin; use at least 32 random "
              "characters");
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
  log_access(config);

  std::error_code fs_error;
  std::filesystem::create_directories(config.data_dir, fs_error);
  if (fs_error) {
    log->error("data-dir-unusable path={} error=\"{}\"; choose a writable "
               "folder with --data-dir",
               config.data_dir, fs_error.message());
    return 1;
  }

  auto node = std::make_shared<node_state>();
  // Shared by the coordinator and the HTTP threads, which reply from it to
  // heartbeats that change nothing.
  auto board = std::make_shared<heartbeat_board>();
  // Set when the process ends for another reason than a signal: 1 when the
  // store cannot be opened, 3 when this server lost the leader lock.
  std::atomic<int> exit_code{0};
  auto stop_with = [&exit_code](int code) {
    exit_code = code;
    ::kill(::getpid(), SIGTERM);
  };
  node->on_deposed([log, stop_with](const std::string& why) {
    log->error("leadership-lost reason=\"{}\" action=exit code=3; a process "
               "manager should start this server again, as a standby",
               why);
    stop_with(3);
  });

  std::vector<stream_row> catalog;
  if (!config.catalog_file.empty()) {
    auto rows = read_catalog_file(config.catalog_file);
    if (!rows) {
      log->error("catalog-invalid error=\"{}\"", describe(rows.error()));
      return 1;
    }
    catalog = std::move(*rows);
  }

  // With SQLite this process is the only writer: a lock file next to the
  // database keeps a second server off it. Opened once here, so a bad path
  // fails start-up with a clear message instead of a store role that keeps
  // restarting.
  unique_fd sqlite_lock;
  store_factory open_store;
  if (!config.uses_postgres()) {
    auto database = config.database_path();
    auto lock = lock_database(database);
    if (!lock) {
      log->error("store-locked error=\"{}\"", describe(lock.error()));
      return 1;
    }
    sqlite_lock = std::move(*lock);
    if (auto probe = sqlite_store::open(database); !probe) {
      log->error("store-open-failed error=\"{}\"", describe(probe.error()));
      return 1;
    }
    open_store = [database]() -> caf::expected<std::unique_ptr<store>> {
      auto opened = sqlite_store::open(database);
      if (!opened)
        return opened.error();
      return std::unique_ptr<store>{std::move(*opened)};
    };
    node->lead();
  }

  // Declared before the actor system so that it is destroyed after it: a
  // reply that arrives during shutdown still finds its io_context.
  std::unique_ptr<http_server> server;

  caf::actor_system_config caf_config;
  caf_config.set("scheduler.max-threads", config.actor_threads);
  caf_config.set("scheduler.policy", caf::atom("sharing"));
  caf::actor_system system{caf_config};

  auto modules = load_modules(config);
  auto gateway = system.spawn(gateway_actor);
  actor_bridge bridge{gateway, config.request_timeout};
  std::mutex supervisor_mutex;
  caf::actor supervisor;
  auto start_actors = [&](store_factory factory) {
    auto spawned = system.spawn(supervisor_actor,
                                standard_children(config, std::move(factory), board),
                                std::move(modules), restart_policy{}, gateway);
    caf::anon_send(gateway, caf::update_atom::value, role::supervisor, spawned);
    std::lock_guard<std::mutex> guard{supervisor_mutex};
    supervisor = spawned;
  };
  auto shutdown_actors = [&] {
    {
      std::lock_guard<std::mutex> guard{supervisor_mutex};
      if (supervisor)
        caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    }
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  };

  // Loads the state, imports the catalogue and starts serving. With SQLite
  // this runs before the server listens; with PostgreSQL, once this server
  // holds the leader lock.
  auto take_over = [&](store_factory factory) {
    start_actors(std::move(factory));
    await_ready(bridge, std::chrono::seconds{30});
    // A large catalogue takes longer than a request may: a million streams
    // need several seconds to write.
    actor_bridge import_bridge{gateway, std::chrono::minutes{10}};
    return catalog.empty()
           || import_catalog(import_bridge, catalog, config.catalog_file);
  };
  if (!config.uses_postgres() && !take_over(open_store)) {
    shutdown_actors();
    return 1;
  }

  api_settings api_config;
  api_config.limits.default_max_streams = config.max_streams_per_instance;
  api_config.store_backend = config.uses_postgres() ? "postgresql" : "sqlite";
  api_config.node = node;
  api_config.max_capacity = config.max_worker_capacity;
  api_config.board = board;
  api_config.max_pending = config.max_pending_requests;
  api_config.tokens = auth_tokens{config.api_key, config.admin_key};
  api_config.metrics_public = config.metrics_public;
  auto handler_api = std::make_shared<api>(bridge, api_config);
  http_limits limits;
  limits.max_body_bytes = config.max_body_bytes;
  limits.idle_timeout = config.idle_timeout;
  limits.read_timeout = config.read_timeout;
  limits.max_connections = config.max_connections;
  // Only catalogue imports carry large bodies; a heartbeat is small.
  limits.body_limit = [small = std::min(config.max_worker_body_bytes,
                                        config.max_body_bytes),
                       large = config.max_body_bytes](std::string_view method,
                                                      std::string_view target) {
    auto path = target.substr(0, target.find('?'));
    return method == "POST" && path == "/streams" ? large : small;
  };
  limits.response_timeout = config.request_timeout * 2;
  server = std::make_unique<http_server>(
    [handler_api](http_request request, responder respond) {
      handler_api->handle(std::move(request), std::move(respond));
    },
    limits);
  if (!config.tls_certificate.empty()) {
    if (auto loaded = server->use_tls({config.tls_certificate, config.tls_key});
        !loaded) {
      log->error("tls-unusable error=\"{}\"", describe(loaded.error()));
      shutdown_actors();
      return 1;
    }
  }
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
  auto scheme = config.tls_certificate.empty() ? "http" : "https";
  log->info("http-listening address={}:{} scheme={}", shown_host, *port,
            scheme);

  // With PostgreSQL the server listens first, as a standby, so that probes
  // and workers get a reply naming the leader while it waits for the lock.
  std::atomic<bool> stopping{false};
  std::thread candidate;
  if (config.uses_postgres()) {
    postgres_settings pg;
    pg.connection = config.store;
    pg.catalog_table = config.catalog_table;
    pg.advertise = !config.advertise_url.empty()
                     ? config.advertise_url
                     : std::string{scheme} + "://" + shown_host + ":"
                         + std::to_string(*port);
    pg.standby_poll = config.standby_poll;
    candidate = std::thread{[&, pg] {
      auto keep_waiting = [&stopping] { return !stopping.load(); };
      auto opened = postgres_store::open(pg, node, true, keep_waiting);
      if (!opened) {
        if (!stopping) {
          log->error("store-open-failed error=\"{}\"", describe(opened.error()));
          stop_with(1);
        }
        return;
      }
      auto taken = std::chrono::steady_clock::now();
      // Until it serves, this server names itself as the leader to come.
      node->follow(pg.advertise);
      log->info("leader-lock-taken store={} advertise={}", pg.connection.empty()
                  ? std::string{} : postgres_store::redact(pg.connection),
                pg.advertise);
      // The first store is the one holding the lock. A restarted store role
      // reconnects and must get the lock back at once.
      auto first = std::make_shared<std::unique_ptr<store>>(std::move(*opened));
      store_factory factory = [first, pg, node]() -> caf::expected<std::unique_ptr<store>> {
        if (*first)
          return std::move(*first);
        auto reopened = postgres_store::open(pg, node, false, [] { return false; });
        if (!reopened) {
          // Only a lock taken by another server deposes this one; an
          // unreachable database is an outage, retried by the supervisor.
          if (is(reopened.error(), errc::lock_held))
            node->depose(describe(reopened.error()));
          return reopened.error();
        }
        return std::unique_ptr<store>{std::move(*reopened)};
      };
      if (!take_over(std::move(factory))) {
        stop_with(1);
        return;
      }
      auto ready_at = taken + config.takeover_delay;
      while (std::chrono::steady_clock::now() < ready_at && !stopping)
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
      if (stopping)
        return;
      node->lead();
      log->info("leader-serving takeover_ms={}",
                std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - taken)
                  .count());
    }};
  }

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
  stopping = true;
  server->stop();
  log->debug("http-stopped");
  if (candidate.joinable())
    candidate.join();
  shutdown_actors();
  return exit_code.load();
}
