// A fleet CA's issuing speed: tessera-keygen --ca-store (PostgreSQL) beside
// the file store (--serial-file + --issuance-log) and OpenSSH's ssh-keygen -s
// (-z, no record at all) in the same run, with 1 and with 8 issuers at once.
//
//   ca_store_bench [--certs N] [--keep DIR]
//
// Starts its own PostgreSQL 15 on 127.0.0.1 (as the tests do: needs the
// postgresql package, and root to run it as the postgres account). Each
// issuer is a thread that runs tessera-keygen (or ssh-keygen) processes one
// after another over its share of N public key files (default 2,000), each
// process certifying `per run` files: 1 (one request, one process, as an
// online CA answers) and 100 (batches). 8 issuers share one serial space:
// one database, or one state file and log. Figures are certificates per
// second of wall time; the ratios compare the backends within one run.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "pg_server.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"

extern char** environ;

namespace {

using namespace tessera;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "ca_store_bench: %s\n", why.c_str());
  std::exit(1);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) die("cannot write " + path.string());
}

// Runs argv with stdout and stderr on /dev/null; false if it failed.
bool run_quietly(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return false;
  int status = 0;
  return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

enum class Backend { kOpenSsh, kFiles, kDatabase };

struct Setup {
  fs::path dir;
  std::string ca;
  std::string key_line;
  std::string tessera;
  std::string conninfo;
};

// Issues `total` certificates with `issuers` threads, `per_run` per process;
// returns certificates per second.
double measure(const Setup& s, Backend backend, size_t issuers, size_t per_run, size_t total, const std::string& name) {
  const fs::path root = s.dir / name;
  std::vector<std::vector<std::string>> files(issuers);
  for (size_t i = 0; i < total; ++i) {
    fs::path sub = root / ("i" + std::to_string(i % issuers));
    fs::create_directories(sub);
    fs::path f = sub / ("k" + std::to_string(i) + ".pub");
    write_text(f, s.key_line);
    files[i % issuers].push_back(f.string());
  }
  const std::string state = (root / "ca.serial").string(), log = (root / "ca.issued.jsonl").string();
  if (backend == Backend::kFiles) write_text(state, "next 1\n");
  ::sync();
  std::vector<int> failed(issuers, 0);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t t = 0; t < issuers; ++t) {
    threads.emplace_back([&, t] {
      for (size_t first = 0; first < files[t].size(); first += per_run) {
        std::vector<std::string> argv = {backend == Backend::kOpenSsh ? "ssh-keygen" : s.tessera,
                                         "-q", "-s", s.ca, "-I", "bench", "-n", "user", "-V", "+52w"};
        if (backend == Backend::kOpenSsh) {
          argv.insert(argv.end(), {"-z", "+" + std::to_string(1 + t * 1000000 + first)});
        } else if (backend == Backend::kFiles) {
          argv.insert(argv.end(), {"--serial-file", state, "--issuance-log", log});
        } else {
          argv.insert(argv.end(), {"--ca-store", s.conninfo});
        }
        for (size_t i = first; i < std::min(files[t].size(), first + per_run); ++i) argv.push_back(files[t][i]);
        if (!run_quietly(argv)) {
          failed[t] = 1;
          return;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (int f : failed) {
    if (f) die(name + ": an issuing process failed (run it by hand to see why)");
  }
  return static_cast<double>(total) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  size_t total = 2000;
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--certs" && i + 1 < argc) {
      total = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      die("usage: ca_store_bench [--certs N] [--keep DIR]");
    }
  }
  if (total < 8) die("--certs must be at least 8");
  if (std::string why = test::PostgresServer::unavailable(); !why.empty()) die(why);

  test::TempDir scratch;
  Setup s;
  s.dir = keep.empty() ? scratch.path() : fs::path(keep);
  fs::create_directories(s.dir);
  auto ca = key::PrivateKey::generate(key::KeyType::kEd25519);
  if (!ca.ok()) die("CA key: " + ca.error().message());
  auto ca_text = key::format_openssh_private_key(*ca, "bench-ca", key::SecretBytes());
  if (!ca_text.ok()) die("CA key: " + ca_text.error().message());
  s.ca = (s.dir / "ca").string();
  write_text(s.ca, *ca_text);
  fs::permissions(s.ca, fs::perms::owner_read | fs::perms::owner_write);
  auto user = key::PrivateKey::generate(key::KeyType::kEd25519);
  if (!user.ok()) die("user key: " + user.error().message());
  s.key_line = key::format_public_key_line(user->public_key(), "user") + "\n";
  s.tessera = std::string(TESSERA_BIN_DIR) + "/tessera-keygen";

  test::PostgresServer server;
  if (!server.started()) die("PostgreSQL did not start: " + server.error());
  s.conninfo = server.create_database("bench");
  // The schema and the CA's row exist before the clock runs, as on a fleet.
  write_text(s.dir / "first.pub", s.key_line);
  if (!run_quietly({s.tessera, "-q", "-s", s.ca, "-I", "first", "--ca-store", s.conninfo,
                    (s.dir / "first.pub").string()})) {
    die("tessera-keygen --ca-store failed (run it by hand to see why)");
  }

  std::printf("ca_store_bench: ed25519 CA and keys; certificates per second (wall)\n");
  std::printf("  %-10s %-8s %12s %12s %12s   %s\n", "per run", "issuers", "ssh-keygen", "files", "database",
              "database/files  database/ssh-keygen");
  for (size_t per_run : {size_t{1}, size_t{100}}) {
    // One process per certificate costs a process start each: fewer of them.
    const size_t n = per_run == 1 ? std::max<size_t>(8, total / 5) : total;
    for (size_t issuers : {size_t{1}, size_t{8}}) {
      const std::string tag = std::to_string(per_run) + "x" + std::to_string(issuers);
      double openssh = measure(s, Backend::kOpenSsh, issuers, per_run, n, "ssh-" + tag);
      double files = measure(s, Backend::kFiles, issuers, per_run, n, "files-" + tag);
      double database = measure(s, Backend::kDatabase, issuers, per_run, n, "db-" + tag);
      std::printf("  %-10zu %-8zu %12.0f %12.0f %12.0f   %13.2fx %19.2fx\n", per_run, issuers, openssh, files,
                  database, database / files, database / openssh);
    }
  }
  std::printf("  (%zu certificates per row with 100 per run, %zu with 1)\n", total, std::max<size_t>(8, total / 5));
  return 0;
}
