// A throwaway PostgreSQL 15 server for tests (and the CA-store benchmark):
// initdb into a temporary directory (owned by the postgres account when we
// run as root, since postgres refuses to run as root), pg_ctl on a free port
// on 127.0.0.1 with its socket in that directory, stopped on destruction.
#ifndef TESSERA_TESTS_KEYGEN_PG_PG_SERVER_H_
#define TESSERA_TESTS_KEYGEN_PG_PG_SERVER_H_

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "test_support.h"

namespace tessera::test {

inline constexpr const char* kPostgresBin = "/usr/lib/postgresql/15/bin";

class PostgresServer {
 public:
  // Why no server can run here ("" when one can): the binaries missing.
  static std::string unavailable() {
    if (::access((std::string(kPostgresBin) + "/initdb").c_str(), X_OK) != 0 ||
        ::access((std::string(kPostgresBin) + "/pg_ctl").c_str(), X_OK) != 0) {
      return "PostgreSQL 15 is not installed (apt-get install postgresql)";
    }
    if (::geteuid() == 0 && ::getpwnam("postgres") == nullptr) return "no postgres account to run the server as";
    if (!have_program("psql")) return "psql is not installed (postgresql-client)";
    return {};
  }

  PostgresServer() : port_(free_tcp_port()) {
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr || ::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) return;
    }
    CommandResult r = as_server_user({std::string(kPostgresBin) + "/initdb", "-D", data(), "-A", "trust", "-U",
                                      "postgres", "--no-sync", "-E", "UTF8", "--locale=C"});
    if (r.exit_code != 0) {
      error_ = "initdb: " + r.out + r.err;
      return;
    }
    started_ = start();
  }

  ~PostgresServer() {
    if (started_) stop();
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool started() const { return started_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }

  // Starts the server (again) on the same port and data.
  bool start() {
    CommandResult r = as_server_user({std::string(kPostgresBin) + "/pg_ctl", "-D", data(), "-l", data() + "/log",
                                      "-o",
                                      "-p " + std::to_string(port_) + " -k " + dir_.path().string() +
                                          " -c listen_addresses=127.0.0.1 -c max_connections=200",
                                      "-w", "start"});
    started_ = r.exit_code == 0;
    if (!started_) error_ = "pg_ctl start: " + r.out + r.err + read_file(data() + "/log");
    return started_;
  }

  // Stops the server (fast: open sessions are ended).
  bool stop() {
    CommandResult r = as_server_user({std::string(kPostgresBin) + "/pg_ctl", "-D", data(), "-m", "fast", "-w", "stop"});
    started_ = false;
    return r.exit_code == 0;
  }

  // A libpq connection string for a database of this server.
  std::string conninfo(const std::string& database = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + database;
  }

  // Runs SQL with psql; the output unaligned, tuples only.
  CommandResult psql(const std::string& sql, const std::string& database = "postgres") const {
    return run({"psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", std::to_string(port_),
                "-U", "postgres", "-d", database, "-c", sql});
  }

  // A fresh database; returns its connection string.
  std::string create_database(const std::string& name) {
    CommandResult r = psql("CREATE DATABASE " + name);
    if (r.exit_code != 0) error_ = "CREATE DATABASE " + name + ": " + r.err;
    return conninfo(name);
  }

 private:
  std::string data() const { return dir_.path().string() + "/data"; }

  static CommandResult as_server_user(std::vector<std::string> argv) {
    if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
    return run(argv);
  }

  TempDir dir_;
  int port_;
  bool started_ = false;
  std::string error_;
};

}  // namespace tessera::test

#endif  // TESSERA_TESTS_KEYGEN_PG_PG_SERVER_H_
