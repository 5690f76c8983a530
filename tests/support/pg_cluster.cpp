#include "tests/support/pg_cluster.hpp"

#include <pqxx/pqxx>

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace orchestrator::testing {

namespace {

/// Returns the newest installed server's bin folder.
std::string find_bin_dir() {
  std::string best;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    auto bin = entry.path() / "bin";
    if (std::filesystem::exists(bin / "initdb") && bin.string() > best)
      best = bin.string();
  }
  if (best.empty())
    throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql; "
                             "install Debian's postgresql package "
                             "(scripts/install-deps.sh does)");
  return best;
}

/// Asks the kernel for a free loopback port. Another process could take it
/// before postgres binds it, which start() then reports.
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0)
      ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

pg_cluster::pg_cluster() : bin_(find_bin_dir()) {
  data_ = dir_.file("data");
  if (::geteuid() == 0) {
    auto* user = ::getpwnam("postgres");
    if (user == nullptr)
      throw std::runtime_error("running as root, but there is no postgres "
                               "user to run initdb as");
    if (::chown(dir_.path().c_str(), user->pw_uid, user->pw_gid) != 0)
      throw std::runtime_error("cannot hand " + dir_.path() + " to postgres");
  }
  run(bin_ + "/initdb -D " + data_ + " -A trust -U postgres -E UTF8 "
        "--locale=C --no-sync >" + dir_.file("initdb.log") + " 2>&1",
      "initdb");
  port_ = free_port();
  start();
}

pg_cluster::~pg_cluster() {
  try {
    stop();
  } catch (...) {
    // The folder goes anyway; a server left behind dies with its data.
  }
}

void pg_cluster::run(const std::string& command, const std::string& what) const {
  std::string full = ::geteuid() == 0 ? "runuser -u postgres -- sh -c '" + command + "'"
                                      : command;
  if (std::system(full.c_str()) != 0)
    throw std::runtime_error(what + " failed: " + command + "\n"
                             + read_file(dir_.file("initdb.log"))
                             + read_file(dir_.file("server.log")));
}

void pg_cluster::start() {
  if (running_)
    return;
  run(bin_ + "/pg_ctl -D " + data_ + " -l " + dir_.file("server.log")
        + " -w -t 30 -o \"-p " + std::to_string(port_) + " -k " + dir_.path()
        + " -c listen_addresses=127.0.0.1 -c max_connections=200\" start"
        + " >/dev/null",
      "starting PostgreSQL");
  running_ = true;
}

void pg_cluster::stop() {
  if (!running_)
    return;
  running_ = false;
  run(bin_ + "/pg_ctl -D " + data_ + " -m immediate -w stop >/dev/null",
      "stopping PostgreSQL");
}

std::string pg_cluster::url(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/"
         + database;
}

std::string pg_cluster::create_database(const std::string& name) {
  exec("CREATE DATABASE \"" + name + "\"");
  return url(name);
}

void pg_cluster::exec(const std::string& sql, const std::string& database) const {
  pqxx::connection connection{url(database)};
  pqxx::nontransaction work{connection};
  work.exec(sql);
}

std::string pg_cluster::query_value(const std::string& sql,
                                    const std::string& database) const {
  pqxx::connection connection{url(database)};
  pqxx::nontransaction work{connection};
  auto rows = work.exec(sql);
  if (rows.empty() || rows[0][0].is_null())
    return {};
  return rows[0][0].c_str();
}

} // namespace orchestrator::testing
