#define BOOST_TEST_MODULE auth_server
#include <boost/test/unit_test.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <csignal>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

using namespace orchestrator::testing;
using json = nlohmann::json;

namespace {

const std::string worker_token = "worker-token-5f2c9a81d0e64b7c";
const std::string admin_token = "admin-token-93be0c47a1f25d68";

std::vector<std::string> token_environment() {
  return {"ORCHESTRATOR_API_KEY=" + worker_token,
          "ORCHESTRATOR_ADMIN_KEY=" + admin_token};
}

/// A server with both tokens from the environment.
struct secured_server {
  temp_dir dir;
  server_process server;
  http_client anonymous;

  explicit secured_server(std::vector<std::string> extra_args = {})
    : server(args(dir, std::move(extra_args)), dir.file("server.log"),
             token_environment()),
      anonymous("127.0.0.1", server.port()) {
  }

  static std::vector<std::string> args(const temp_dir& dir,
                                       std::vector<std::string> extra) {
    std::vector<std::string> result{"--data-dir", dir.file("data"),
                                    "--modules-dir", dir.file("modules")};
    result.insert(result.end(), extra.begin(), extra.end());
    return result;
  }

  http_client worker() const {
    return anonymous.with_token(worker_token);
  }

  http_client admin() const {
    return anonymous.with_token(admin_token);
  }
};

struct endpoint {
  const char* method;
  const char* target;
  const char* body;
};

/// Endpoints that need the worker token, or the admin token.
const std::vector<endpoint> worker_endpoints{
  {"POST", "/register",
   R"({"server_id":"w1","ip":"127.0.0.1","port":9000,"max_streams":5})"},
  {"POST", "/heartbeat", R"({"server_id":"w1","current_streams":0})"},
  {"POST", "/streams/assign", R"({"server_id":"w1","requested_count":1})"},
  {"POST", "/streams/release", R"({"server_id":"w1","stream_ids":[]})"},
  {"POST", "/diagnostic", R"({"server_id":"w1","local_streams":[]})"},
  {"GET", "/status", ""},
  {"GET", "/instances", ""},
  {"GET", "/instances/w1", ""},
  {"GET", "/streams/assignments", ""},
  {"GET", "/streams", ""},
  {"GET", "/rebalance/plan", ""},
  {"GET", "/metrics", ""},
  {"GET", "/modules/status", ""},
  {"POST", "/api/workers/register", R"({"instance_id":"w2"})"},
  {"POST", "/api/heartbeat", R"({"worker_instance_id":"w2"})"},
  {"GET", "/api/workers", ""},
  {"GET", "/api/metrics", ""},
};

/// Endpoints that need the admin token. The worker they name does not
/// exist, so an accepted request changes nothing.
const std::vector<endpoint> admin_endpoints{
  {"POST", "/streams", R"([{"id":1,"url":"http://radio.test/1"}])"},
  {"DELETE", "/streams/999", ""},
  {"POST", "/rebalance/basic", ""},
  {"POST", "/rebalance/smart?reason=manual", ""},
  {"POST", "/instances/ghost/failure", ""},
  {"POST", "/instances/ghost/drain", ""},
  {"DELETE", "/instances/ghost", ""},
  {"POST", "/resilience/recovery/ghost", ""},
  {"POST", "/resilience/emergency/ghost", ""},
  {"DELETE", "/resilience/freeze", ""},
  {"POST", "/modules/unknown_module/reload", ""},
  {"POST", "/modules/unknown_module/disable", ""},
};

http_reply send(const http_client& client, const endpoint& e) {
  return client.request(e.method, e.target, e.body);
}

std::string label(const endpoint& e) {
  return std::string{e.method} + " " + e.target;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(authentication)

BOOST_AUTO_TEST_CASE(probes_need_no_token) {
  secured_server s;
  BOOST_TEST(s.anonymous.get("/health").status == 200u);
  BOOST_TEST(s.anonymous.get("/ready").status == 200u);
}

BOOST_AUTO_TEST_CASE(worker_endpoints_need_a_token) {
  secured_server s;
  auto wrong = s.anonymous.with_token("not-the-token");
  auto basic = s.anonymous.with_authorization("Basic dXNlcjpwYXNz");
  for (const auto& e : worker_endpoints) {
    BOOST_TEST_CONTEXT(label(e)) {
      auto missing = send(s.anonymous, e);
      BOOST_TEST(missing.status == 401u);
      BOOST_TEST(missing.headers["WWW-Authenticate"].rfind("Bearer", 0) == 0u);
      BOOST_TEST(missing.json()["detail"].is_string());
      BOOST_TEST(send(wrong, e).status == 401u);
      BOOST_TEST(send(basic, e).status == 401u);
      auto as_worker = send(s.worker(), e);
      BOOST_TEST(as_worker.status != 401u);
      BOOST_TEST(as_worker.status != 403u);
      auto as_admin = send(s.admin(), e);
      BOOST_TEST(as_admin.status != 401u);
      BOOST_TEST(as_admin.status != 403u);
    }
  }
  // The worker registered through the token is really there.
  BOOST_TEST(s.worker().get("/instances/w1").status == 200u);
}

BOOST_AUTO_TEST_CASE(admin_endpoints_need_the_admin_token) {
  secured_server s;
  for (const auto& e : admin_endpoints) {
    BOOST_TEST_CONTEXT(label(e)) {
      auto missing = send(s.anonymous, e);
      BOOST_TEST(missing.status == 401u);
      BOOST_TEST(missing.headers["WWW-Authenticate"].rfind("Bearer", 0) == 0u);
      auto as_worker = send(s.worker(), e);
      BOOST_TEST(as_worker.status == 403u);
      BOOST_TEST(contains(as_worker.json()["detail"].get<std::string>(),
                          "ORCHESTRATOR_ADMIN_KEY"));
      auto as_admin = send(s.admin(), e);
      BOOST_TEST(as_admin.status != 401u);
      BOOST_TEST(as_admin.status != 403u);
    }
  }
  BOOST_TEST(s.worker().get("/streams").json()["total"].get<int>() == 1);
}

BOOST_AUTO_TEST_CASE(unknown_paths_need_a_token) {
  secured_server s;
  BOOST_TEST(s.anonymous.get("/no/such/path").status == 401u);
  BOOST_TEST(s.worker().get("/no/such/path").status == 404u);
  BOOST_TEST(s.anonymous.request("PUT", "/status").status == 401u);
  BOOST_TEST(s.worker().request("PUT", "/status").status == 405u);
}

BOOST_AUTO_TEST_CASE(tokens_never_reach_the_log) {
  secured_server s{{"--log-level", "debug"}};
  for (const auto& e : admin_endpoints) {
    send(s.worker(), e);
    send(s.admin(), e);
  }
  s.anonymous.with_token(worker_token + "x").get("/status");
  s.server.stop(SIGTERM);
  auto log = s.server.log();
  BOOST_TEST(contains(log, "auth-enabled worker_token=set admin_token=set"));
  BOOST_TEST(!contains(log, worker_token));
  BOOST_TEST(!contains(log, admin_token));
}

BOOST_AUTO_TEST_CASE(metrics_public_opens_only_metrics) {
  secured_server s{{"--metrics-public"}};
  BOOST_TEST(s.anonymous.get("/metrics").status == 200u);
  BOOST_TEST(s.anonymous.get("/modules/status").status == 401u);
  BOOST_TEST(s.anonymous.get("/status").status == 401u);
}

BOOST_AUTO_TEST_CASE(tokens_from_files) {
  temp_dir dir;
  std::ofstream{dir.file("api.key")} << worker_token << "\n";
  std::ofstream{dir.file("admin.key")} << admin_token;
  server_process server{{"--data-dir", dir.file("data"), "--modules-dir",
                         dir.file("modules"), "--api-key-file",
                         dir.file("api.key"), "--admin-key-file",
                         dir.file("admin.key")},
                        dir.file("server.log")};
  http_client client{"127.0.0.1", server.port()};
  BOOST_TEST(client.get("/status").status == 401u);
  BOOST_TEST(client.with_token(worker_token).get("/status").status == 200u);
  BOOST_TEST(client.with_token(worker_token).request("POST", "/rebalance/basic").status
             == 403u);
  BOOST_TEST(client.with_token(admin_token).request("POST", "/rebalance/basic").status
             == 200u);
  BOOST_TEST(!contains(server.log(), worker_token));
  BOOST_TEST(contains(server.log(), "api_key=(from file "));
}

BOOST_AUTO_TEST_CASE(bad_token_files_stop_start_up) {
  temp_dir dir;
  std::ofstream{dir.file("empty.key")} << "\n";
  std::ofstream{dir.file("spaced.key")} << "two words\n";
  auto base = "--data-dir " + dir.file("data") + " --api-key-file ";
  auto empty = run_to_exit(base + dir.file("empty.key"));
  BOOST_TEST(empty.first == 2);
  BOOST_TEST(contains(empty.second, "is empty"));
  auto missing = run_to_exit(base + dir.file("missing.key"));
  BOOST_TEST(missing.first == 2);
  BOOST_TEST(contains(missing.second, "cannot read the token file"));
  auto spaced = run_to_exit(base + dir.file("spaced.key"));
  BOOST_TEST(spaced.first == 2);
  BOOST_TEST(!contains(spaced.second, "two words"));
  auto both = run_to_exit(base + dir.file("spaced.key"),
                          "ORCHESTRATOR_API_KEY=" + worker_token);
  BOOST_TEST(both.first == 2);
  BOOST_TEST(contains(both.second, "both set"));
  auto same = run_to_exit("--data-dir " + dir.file("data"),
                          "ORCHESTRATOR_API_KEY=" + worker_token
                            + " ORCHESTRATOR_ADMIN_KEY=" + worker_token);
  BOOST_TEST(same.first == 2);
  BOOST_TEST(!contains(same.second, worker_token));
}

BOOST_AUTO_TEST_CASE(no_token_means_loopback_only) {
  temp_dir dir;
  auto refused = run_to_exit("--data-dir " + dir.file("data")
                               + " --listen 0.0.0.0:0",
                             "-u ORCHESTRATOR_API_KEY -u ORCHESTRATOR_ADMIN_KEY");
  BOOST_TEST(refused.first == 2);
  BOOST_TEST(contains(refused.second, "cannot listen on 0.0.0.0"));
  BOOST_TEST(contains(refused.second, "--allow-unauthenticated"));
  // A server on PostgreSQL, which may become a standby, is held to the same
  // rule before it connects to the database.
  auto standby = run_to_exit("--store postgresql://orchestrator@127.0.0.1:1/none"
                               " --listen 0.0.0.0:0",
                             "-u ORCHESTRATOR_API_KEY -u ORCHESTRATOR_ADMIN_KEY");
  BOOST_TEST(standby.first == 2);
  BOOST_TEST(contains(standby.second, "cannot listen on 0.0.0.0"));

  server_process local{{"--data-dir", dir.file("data")}, dir.file("local.log")};
  BOOST_TEST(contains(local.log(), "auth-disabled reason=no-token"));
  BOOST_TEST(http_client("127.0.0.1", local.port()).get("/status").status == 200u);
}

BOOST_AUTO_TEST_CASE(allow_unauthenticated_binds_everywhere) {
  temp_dir dir;
  // The server listens on every address; the test talks to it on loopback
  // only.
  server_process server{{"--data-dir", dir.file("data"), "--listen", "0.0.0.0:0",
                         "--allow-unauthenticated"},
                        dir.file("server.log")};
  BOOST_TEST(contains(server.log(), "auth-disabled reason=allow-unauthenticated"));
  http_client client{"127.0.0.1", server.port()};
  BOOST_TEST(client.get("/status").status == 200u);
  BOOST_TEST(client.request("POST", "/rebalance/basic").status == 200u);
}

BOOST_AUTO_TEST_CASE(tokens_allow_binding_everywhere) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data"), "--listen", "0.0.0.0:0"},
                        dir.file("server.log"), token_environment()};
  http_client client{"127.0.0.1", server.port()};
  BOOST_TEST(client.get("/status").status == 401u);
  BOOST_TEST(client.with_token(worker_token).get("/status").status == 200u);
}

BOOST_AUTO_TEST_CASE(worker_token_alone_disables_admin_endpoints) {
  temp_dir dir;
  server_process server{{"--data-dir", dir.file("data")}, dir.file("server.log"),
                        {"ORCHESTRATOR_API_KEY=" + worker_token}};
  http_client client{"127.0.0.1", server.port()};
  auto reply = client.with_token(worker_token).request("POST", "/rebalance/basic");
  BOOST_TEST(reply.status == 403u);
  BOOST_TEST(contains(reply.json()["detail"].get<std::string>(),
                      "no admin token"));
  BOOST_TEST(contains(server.log(), "admin-endpoints-disabled"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(input_validation)

BOOST_AUTO_TEST_CASE(duplicate_keys_get_400) {
  secured_server s;
  auto reply = s.worker().request(
    "POST", "/register",
    R"({"server_id":"w1","ip":"127.0.0.1","port":9000,"server_id":"w2"})");
  BOOST_TEST(reply.status == 400u);
  BOOST_TEST(contains(reply.json()["detail"].get<std::string>(), "\"server_id\""));
  auto nested = s.admin().request(
    "POST", "/streams",
    R"([{"id":1,"url":"u","metadata":{"a":1,"a":2}}])");
  BOOST_TEST(nested.status == 400u);
  BOOST_TEST(s.worker().get("/instances/w2").status == 404u);
  BOOST_TEST(s.worker().get("/streams").json()["total"].get<int>() == 0);
}

BOOST_AUTO_TEST_CASE(paths_and_queries_are_checked) {
  secured_server s;
  auto client = s.worker();
  // Invalid UTF-8, a control character, and a repeated parameter.
  BOOST_TEST(client.get("/instances/%FF").status == 400u);
  BOOST_TEST(client.get("/instances/a%01b").status == 400u);
  BOOST_TEST(client.get("/streams?limit=%C0%80").status == 400u);
  BOOST_TEST(client.get("/streams?limit=5&limit=6").status == 400u);
  // Numbers are decimal, without spaces or a sign.
  BOOST_TEST(client.get("/streams?limit=0x10").status == 422u);
  BOOST_TEST(client.get("/streams?limit=%205").status == 422u);
  BOOST_TEST(client.get("/streams?limit=+5").status == 422u);
  BOOST_TEST(client.get("/streams?limit=5").status == 200u);
  BOOST_TEST(client.get("/instances/w1/metrics?hours=1e9").status == 422u);
  auto admin = s.admin();
  BOOST_TEST(admin.request("DELETE", "/streams/+5").status == 422u);
  BOOST_TEST(admin.request("DELETE", "/streams/05").status == 422u);
  auto long_reason = "/resilience/emergency/w1?reason=" + std::string(129, 'x');
  BOOST_TEST(admin.request("POST", long_reason).status == 422u);
  // UTF-8 text is fine where free text is allowed; the worker is unknown.
  auto accented = admin.request("POST", "/resilience/emergency/w1?reason=d%C3%A9faut");
  BOOST_TEST(accented.status == 404u);
}

BOOST_AUTO_TEST_CASE(bodies_are_checked) {
  secured_server s;
  auto client = s.worker();
  auto control = client.request(
    "POST", "/register",
    R"({"server_id":"w1","ip":"127.0.0.1\n","port":9000})");
  BOOST_TEST(control.status == 422u);
  BOOST_TEST(control.json()["detail"][0]["loc"][1].get<std::string>() == "ip");
  auto zero_id = client.request("POST", "/heartbeat",
                                R"({"server_id":"w1","current_streams":0,"stream_ids":[0]})");
  BOOST_TEST(zero_id.status == 422u);
  auto bad_utf8 = client.request("POST", "/register",
                                 "{\"server_id\":\"w\xff\",\"ip\":\"h\",\"port\":1}");
  BOOST_TEST(bad_utf8.status == 422u);
}

BOOST_AUTO_TEST_SUITE_END()
