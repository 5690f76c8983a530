#include "bench/load/processes.hpp"

#include "tests/support/http_client.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace orchestrator::bench {

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string tail(const std::string& text, std::size_t bytes = 2000) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

bool accepts_connections(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

} // namespace

child_process::child_process(std::vector<std::string> argv, const std::string& log_path) {
  std::vector<char*> args;
  for (auto& arg : argv)
    args.push_back(arg.data());
  args.push_back(nullptr);
  auto fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open log file " + log_path);
  pid_ = ::fork();
  if (pid_ == 0) {
    // A bench that dies must not leave its servers running.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fd);
  if (pid_ < 0)
    throw std::runtime_error("fork failed for " + argv[0]);
}

child_process::~child_process() {
  stop(SIGKILL);
}

bool child_process::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int child_process::stop(int signal) {
  if (pid_ <= 0)
    return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

std::uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("cannot create a socket to find a free port");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind 127.0.0.1:0 to find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::uint64_t rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6));
  return 0;
}

double process_cpu_seconds_of(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  // The command name may hold spaces, so the fields are counted from the
  // closing parenthesis; utime and stime are fields 14 and 15.
  auto at = text.rfind(')');
  if (at == std::string::npos)
    return 0;
  std::istringstream fields{text.substr(at + 2)};
  std::string field;
  double ticks = 0;
  for (int k = 3; k <= 15 && fields >> field; ++k)
    if (k >= 14)
      ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

orchestrator_server::orchestrator_server(const std::string& binary,
                                         std::vector<std::string> args,
                                         const std::string& log_path, double timeout_s)
  : process_([&] {
      args.insert(args.begin(), {binary, "--listen", "127.0.0.1:0"});
      return args;
    }(), log_path) {
  auto started = clock_type::now();
  auto deadline = started + std::chrono::duration<double>(timeout_s);
  const std::string marker = "http-listening address=127.0.0.1:";
  auto failure = [&](const std::string& what) {
    return std::runtime_error(what + "; the end of its log " + log_path + ":\n"
                              + tail(read_file(log_path)));
  };
  while (port_ == 0) {
    if (clock_type::now() > deadline)
      throw failure("the orchestrator did not log its port in time");
    if (!process_.running())
      throw failure("the orchestrator exited at start-up");
    auto log = read_file(log_path);
    // The log may hold earlier runs with the same path: the last start wins.
    auto at = log.rfind(marker);
    auto started_at = log.rfind("orchestrator-starting");
    if (at != std::string::npos && (started_at == std::string::npos || at > started_at))
      port_ = static_cast<std::uint16_t>(std::stoi(log.substr(at + marker.size())));
    else
      std::this_thread::sleep_for(2ms);
  }
  testing::http_client client{"127.0.0.1", port_};
  while (true) {
    if (clock_type::now() > deadline)
      throw failure("the orchestrator did not become ready in time");
    try {
      if (client.get("/ready").status == 200)
        break;
    } catch (const std::exception&) {
      // Not accepting yet: poll again.
    }
    if (!process_.running())
      throw failure("the orchestrator exited at start-up");
    std::this_thread::sleep_for(2ms);
  }
  startup_s_ = std::chrono::duration<double>(clock_type::now() - started).count();
}

std::string find_nginx() {
  for (const char* path : {"/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"})
    if (::access(path, X_OK) == 0)
      return path;
  return {};
}

nginx_server::nginx_server(const std::string& dir, const std::vector<route>& routes,
                           unsigned workers) {
  auto binary = find_nginx();
  if (binary.empty())
    throw std::runtime_error("nginx is not installed; install the Debian package nginx "
                             "(scripts/install-deps.sh does) or pass --no-ceiling");
  port_ = free_loopback_port();
  std::ostringstream conf;
  conf << "daemon off;\nmaster_process on;\nworker_processes " << workers << ";\n"
       << "pid " << dir << "/nginx.pid;\nerror_log " << dir << "/nginx-error.log warn;\n"
       << "events { worker_connections 4096; }\n"
       << "http {\n  access_log off;\n  keepalive_requests 100000000;\n"
       << "  keepalive_timeout 300s;\n  default_type application/json;\n";
  for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
    conf << "  " << temp << "_temp_path " << dir << "/" << temp << ";\n";
  conf << "  server {\n    listen 127.0.0.1:" << port_ << ";\n";
  for (const auto& r : routes) {
    // Inside single quotes nginx still expands $name, so bodies with $ or '
    // would change; the orchestrator's replies contain neither.
    if (r.body.find_first_of("$'\\") != std::string::npos)
      throw std::runtime_error("the ceiling body for " + r.prefix + " contains $, ' or \\");
    conf << "    location " << r.prefix << " { return 200 '" << r.body << "'; }\n";
  }
  conf << "  }\n}\n";
  std::ofstream{dir + "/nginx.conf"} << conf.str();
  process_ = std::make_unique<child_process>(
    std::vector<std::string>{binary, "-p", dir, "-c", dir + "/nginx.conf", "-e",
                             dir + "/nginx-error.log"},
    dir + "/nginx-output.log");
  auto deadline = clock_type::now() + 10s;
  while (!accepts_connections(port_)) {
    if (!process_->running() || clock_type::now() > deadline)
      throw std::runtime_error("nginx did not start on 127.0.0.1:" + std::to_string(port_)
                               + ":\n" + tail(read_file(dir + "/nginx-error.log")));
    std::this_thread::sleep_for(5ms);
  }
}

double nginx_server::cpu_seconds() const {
  auto master = process_->pid();
  double total = process_cpu_seconds_of(master);
  // The workers are the master's children; /proc lists them by parent.
  auto* proc = ::opendir("/proc");
  if (proc == nullptr)
    return total;
  while (auto* entry = ::readdir(proc)) {
    auto pid = std::atoi(entry->d_name);
    if (pid <= 0)
      continue;
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto at = stat.rfind(')');
    if (at == std::string::npos)
      continue;
    std::istringstream fields{stat.substr(at + 2)};
    std::string state;
    pid_t parent = 0;
    fields >> state >> parent;
    if (parent == master)
      total += process_cpu_seconds_of(pid);
  }
  ::closedir(proc);
  return total;
}

nginx_server::~nginx_server() {
  // SIGTERM is nginx's fast shutdown; the master stops its workers.
  if (process_)
    process_->stop(SIGTERM);
}

} // namespace orchestrator::bench
