// Certificate issuing speed: tessera-keygen against OpenSSH's ssh-keygen in
// the same run, both given the same public key files on one command line.
//
//   cert_bench [--keys N] [--keep DIR]
//
// Makes an ed25519 CA and N (default 10,000) ed25519 public key files, then
// times each whole process, as wall clock and as CPU time (user + system):
//   ssh-keygen     -s ca -I bench -n user -V +52w -z +1 keys...
//   tessera-keygen the same
//   tessera-keygen the same, with --new-serial-file instead of -z (fresh state)
//   tessera-keygen the same, with --serial-file and --issuance-log
// The "Signed ..." lines both print go to /dev/null. Each run has its own
// copy of the key files and starts after a sync(2); the first certificate of
// each run is checked with ssh-keygen -L. Figures vary with the machine's
// load: compare the ratios of one run.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"

extern char** environ;

namespace {

using namespace tessera;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "cert_bench: %s\n", why.c_str());
  std::exit(1);
}

void write_text(const fs::path& path, const std::string& text, fs::perms perms) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) die("cannot write " + path.string());
  out.close();
  fs::permissions(path, perms);
}

struct Timing {
  double wall;  // seconds, start to exit
  double cpu;   // seconds of user + system time the process used (all its threads)
};

// Runs argv with stdout and stderr on /dev/null, dying if the program fails.
Timing timed_run(const std::vector<std::string>& argv) {
  // Earlier runs' certificates are flushed first: a run that syncs (the
  // serial state file) must not pay for another run's writes.
  ::sync();
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  auto start = Clock::now();
  if (posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ) != 0) die("cannot start " + argv[0]);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  rusage usage{};
  if (::wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    die(argv[0] + " failed (run it by hand to see why)");
  }
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return {wall, seconds(usage.ru_utime) + seconds(usage.ru_stime)};
}

void check_first(const std::vector<std::string>& keys, const char* label) {
  std::string cert = keys.front().substr(0, keys.front().size() - 4) + "-cert.pub";
  std::string cmd = "ssh-keygen -L -f '" + cert + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) die(std::string(label) + ": ssh-keygen -L refuses " + cert);
}

}  // namespace

int main(int argc, char** argv) {
  size_t count = 10000;
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--keys" && i + 1 < argc) {
      count = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      die("usage: cert_bench [--keys N] [--keep DIR]");
    }
  }
  if (count == 0) die("--keys must be at least 1");

  fs::path dir;
  if (keep.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "cert-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp failed");
    dir = tmpl;
  } else {
    dir = keep;
    fs::create_directories(dir);
  }

  auto ca = key::PrivateKey::generate(key::KeyType::kEd25519);
  if (!ca.ok()) die("CA key: " + ca.error().message());
  auto ca_text = key::format_openssh_private_key(*ca, "bench-ca", key::SecretBytes());
  if (!ca_text.ok()) die("CA key: " + ca_text.error().message());
  const fs::path ca_path = dir / "ca";
  write_text(ca_path, *ca_text, fs::perms::owner_read | fs::perms::owner_write);

  // Each run gets its own copy of the key files, all written before any run,
  // so that no run creates its certificates among inodes another run freed
  // (ext4 makes that much slower) and every run starts from the same state.
  const char* kRuns[] = {"openssh", "tessera", "tessera-state", "tessera-state-log"};
  std::vector<std::string> lines;
  for (size_t i = 0; i < count; ++i) {
    auto k = key::PrivateKey::generate(key::KeyType::kEd25519);
    if (!k.ok()) die("key: " + k.error().message());
    lines.push_back(key::format_public_key_line(k->public_key(), "user" + std::to_string(i)) + "\n");
  }
  std::vector<std::vector<std::string>> keys;
  for (const char* run : kRuns) {
    fs::create_directories(dir / run);
    keys.emplace_back();
    for (size_t i = 0; i < count; ++i) {
      fs::path path = dir / run / ("user" + std::to_string(i) + ".pub");
      write_text(path, lines[i],
                 fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
      keys.back().push_back(path.string());
    }
  }
  ::sync();

  const std::string tessera = std::string(TESSERA_BIN_DIR) + "/tessera-keygen";
  auto command = [&](const std::string& program, size_t run, const std::vector<std::string>& serial_args) {
    std::vector<std::string> args = {program, "-s", ca_path.string(), "-I", "bench", "-n", "user", "-V", "+52w"};
    args.insert(args.end(), serial_args.begin(), serial_args.end());
    args.insert(args.end(), keys[run].begin(), keys[run].end());
    return args;
  };

  std::printf("cert_bench: %zu ed25519 user certificates, ed25519 CA, one run each\n", count);
  Timing openssh = timed_run(command("ssh-keygen", 0, {"-z", "+1"}));
  check_first(keys[0], "ssh-keygen");
  Timing plain = timed_run(command(tessera, 1, {"-z", "+1"}));
  check_first(keys[1], "tessera-keygen");
  Timing with_state = timed_run(command(tessera, 2, {"--new-serial-file", (dir / "serial").string()}));
  check_first(keys[2], "tessera-keygen --new-serial-file");
  Timing with_log = timed_run(command(tessera, 3, {"--serial-file", (dir / "serial").string(), "--issuance-log",
                                                   (dir / "issued.jsonl").string()}));
  check_first(keys[3], "tessera-keygen --serial-file --issuance-log");

  std::printf("  %-44s %8s %9s %8s  %s\n", "", "wall", "certs/s", "cpu", "ssh-keygen/tessera (wall, cpu)");
  auto row = [&](const char* label, const Timing& t) {
    std::printf("  %-44s %7.3fs %9.0f %7.3fs", label, t.wall, static_cast<double>(count) / t.wall, t.cpu);
    if (&t != &openssh) std::printf("  %5.1fx %5.1fx", openssh.wall / t.wall, openssh.cpu / t.cpu);
    std::printf("\n");
  };
  row("ssh-keygen -z +1", openssh);
  row("tessera-keygen -z +1", plain);
  row("tessera-keygen --new-serial-file", with_state);
  row("tessera-keygen --serial-file --issuance-log", with_log);

  if (keep.empty()) fs::remove_all(dir);
  return 0;
}
