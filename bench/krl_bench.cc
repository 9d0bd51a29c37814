// KRL build, size and query: libkey and the tessera-keygen command line
// against OpenSSH's ssh-keygen, in the same run, for large sets of revoked
// certificate serials.
//
//   krl_bench [--serials N] [--runs R]
//
// Two sets of N serials (default 1,000,000) under one CA: N random 40-bit
// serials, and a random half of the serials 1..N. For each, libkey builds the
// KRL (KrlBuilder, then serialize) and ssh-keygen builds it from a spec file
// (`ssh-keygen -k -s ca.pub spec`; writing the spec is not timed). A query is
// one certificate checked against the file, reading the file included:
// Krl::parse + is_revoked for libkey, `ssh-keygen -Q -f krl cert.pub` for
// OpenSSH (the median of R runs, default 3). Each tool also reads the other's
// file, when it can. tessera-keygen runs as ssh-keygen does, one process per
// run: `tessera-keygen -k` from the same spec file and `tessera-keygen -Q`;
// its ratios are against ssh-keygen.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/krl.h"

extern char** environ;

namespace {

using namespace tessera::key;
using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "krl_bench: %s\n", why.c_str());
  std::exit(1);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void write_file(const std::string& path, std::string_view data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f) die("cannot write " + path);
}

std::optional<Bytes> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return std::nullopt;
  Bytes data(static_cast<size_t>(f.tellg()));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) return std::nullopt;
  return data;
}

struct RunResult {
  int exit_code = -1;
  std::string err;
};

// Runs a program with stdout discarded and stderr kept.
RunResult run(const std::vector<std::string>& argv, const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) die("cannot run " + argv[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (auto err = read_file(err_path)) r.err.assign(err->begin(), err->end());
  while (!r.err.empty() && r.err.back() == '\n') r.err.pop_back();
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Figures {
  double build = 0;
  size_t size = 0;
  std::optional<double> query;   // nullopt: the tool refused its own file
  std::string refusal;
  bool revoked = false;
};

struct Setup {
  std::string dir;
  PrivateKey ca;
  std::string ca_pub;
  Certificate cert;
  std::string cert_path;
};

Certificate make_cert(const PrivateKey& ca, uint64_t serial) {
  auto subject = PrivateKey::generate(KeyType::kEd25519);
  if (!subject.ok()) die("key generation failed");
  Certificate cert{.key = subject->public_key(), .nonce = Bytes(32, 9), .serial = serial, .key_id = "bench",
                   .principals = {"bench"}, .critical_options = {}, .extensions = {}, .reserved = {},
                   .signature_key = ca.public_key(), .signature = {}};
  auto sig = ca.sign(certificate_signed_data(cert));
  if (!sig.ok()) die("signing failed");
  cert.signature = *sig;
  return cert;
}

// One query by libkey: read the file, parse, check.
std::optional<double> libkey_query(const std::string& path, const Certificate& cert, int runs, bool* revoked,
                                   const KrlParseOptions& options = {}) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    auto data = read_file(path);
    if (!data) die("cannot read " + path);
    auto krl = Krl::parse(std::move(*data), options);
    if (!krl.ok()) return std::nullopt;
    *revoked = krl->is_revoked(cert);
    times.push_back(seconds_since(start));
  }
  return median(times);
}

// The tessera-keygen program beside this build's.
const std::string kTesseraKeygen = std::string(TESSERA_BIN_DIR) + "/tessera-keygen";

// One query by a command line tool (ssh-keygen or tessera-keygen), one process per run.
std::optional<double> keygen_query(const std::string& program, const Setup& s, const std::string& path, int runs,
                                   bool* revoked, std::string* refusal) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    RunResult r = run({program, "-Q", "-f", path, s.cert_path}, s.dir + "/err");
    times.push_back(seconds_since(start));
    if (r.exit_code != 0 && r.exit_code != 1) {
      *refusal = r.err;
      return std::nullopt;
    }
    *revoked = r.exit_code == 1;
  }
  return median(times);
}

std::string millis_text(const std::optional<double>& seconds) {
  if (!seconds) return "refused";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f ms", *seconds * 1000);
  return buf;
}

void report(const char* title, size_t count, const Figures& ours, const Figures& theirs, const Figures& cli,
            const std::optional<double>& ours_reads_theirs, const std::optional<double>& theirs_reads_ours,
            const std::optional<double>& theirs_reads_cli) {
  std::printf("\n%s (%zu serials)\n", title, count);
  std::printf("  %-36s %14s %14s %9s\n", "", "tessera", "ssh-keygen", "ratio");
  std::printf("  %-36s %12.3f s %12.3f s %8.3fx\n", "build", ours.build, theirs.build, ours.build / theirs.build);
  std::printf("  %-36s %12zu B %12zu B %8.3fx\n", "file size", ours.size, theirs.size,
              static_cast<double>(ours.size) / static_cast<double>(theirs.size));
  std::printf("  %-36s %14s %14s", "one query, own file (read + check)", millis_text(ours.query).c_str(),
              millis_text(theirs.query).c_str());
  if (ours.query && theirs.query) std::printf(" %8.4fx", *ours.query / *theirs.query);
  std::printf("\n  %-36s %14s %14s\n", "one query, the other's file", millis_text(ours_reads_theirs).c_str(),
              millis_text(theirs_reads_ours).c_str());
  std::printf("  %-36s %14s %14s %9s\n", "", "tessera-keygen", "ssh-keygen", "ratio");
  std::printf("  %-36s %12.3f s %12.3f s %8.3fx\n", "build (-k, one process)", cli.build, theirs.build,
              cli.build / theirs.build);
  std::printf("  %-36s %12zu B %12zu B %8.3fx\n", "file size", cli.size, theirs.size,
              static_cast<double>(cli.size) / static_cast<double>(theirs.size));
  std::printf("  %-36s %14s %14s", "one query (-Q, one process)", millis_text(cli.query).c_str(),
              millis_text(theirs.query).c_str());
  if (cli.query && theirs.query) std::printf(" %8.4fx", *cli.query / *theirs.query);
  // The same file for both (ssh-keygen may refuse its own).
  std::printf("\n  %-36s %14s %14s", "one query (-Q), tessera-keygen's file", millis_text(cli.query).c_str(),
              millis_text(theirs_reads_cli).c_str());
  if (cli.query && theirs_reads_cli) std::printf(" %8.4fx", *cli.query / *theirs_reads_cli);
  std::printf("\n");
  if (!theirs.refusal.empty()) std::printf("  ssh-keygen -Q on its own file: %s\n", theirs.refusal.c_str());
  if (!cli.refusal.empty()) std::printf("  tessera-keygen -Q on its own file: %s\n", cli.refusal.c_str());
  if (ours.query && theirs.query && ours.revoked != theirs.revoked) std::printf("  ANSWERS DIFFER\n");
  if (ours.query && cli.query && ours.revoked != cli.revoked) std::printf("  TESSERA-KEYGEN ANSWERS DIFFER\n");
}

void bench_set(const Setup& s, const char* title, const std::vector<uint64_t>& serials, int runs) {
  const std::string ours_path = s.dir + "/tessera.krl";
  const std::string theirs_path = s.dir + "/ssh-keygen.krl";
  const std::string spec_path = s.dir + "/spec";
  const std::string cli_path = s.dir + "/tessera-keygen.krl";
  Figures ours, theirs, cli;

  auto start = Clock::now();
  KrlBuilder builder;
  for (uint64_t serial : serials) {
    if (!builder.revoke_serial(s.ca.public_key(), serial).ok()) die("revoke_serial failed");
  }
  Bytes krl = builder.serialize();
  ours.build = seconds_since(start);
  ours.size = krl.size();
  write_file(ours_path, std::string_view(reinterpret_cast<const char*>(krl.data()), krl.size()));

  std::string spec;
  spec.reserve(serials.size() * 22);
  for (uint64_t serial : serials) spec += "serial: " + std::to_string(serial) + "\n";
  write_file(spec_path, spec);
  start = Clock::now();
  RunResult made = run({"ssh-keygen", "-q", "-k", "-f", theirs_path, "-s", s.ca_pub, spec_path}, s.dir + "/err");
  theirs.build = seconds_since(start);
  if (made.exit_code != 0) die("ssh-keygen -k failed: " + made.err);
  theirs.size = std::filesystem::file_size(theirs_path);

  start = Clock::now();
  made = run({kTesseraKeygen, "-q", "-k", "-f", cli_path, "-s", s.ca_pub, spec_path}, s.dir + "/err");
  cli.build = seconds_since(start);
  if (made.exit_code != 0) die("tessera-keygen -k failed: " + made.err);
  cli.size = std::filesystem::file_size(cli_path);

  ours.query = libkey_query(ours_path, s.cert, runs, &ours.revoked);
  theirs.query = keygen_query("ssh-keygen", s, theirs_path, runs, &theirs.revoked, &theirs.refusal);
  cli.query = keygen_query(kTesseraKeygen, s, cli_path, runs, &cli.revoked, &cli.refusal);
  bool ignored = false;
  std::string refusal;
  auto ours_reads_theirs = libkey_query(theirs_path, s.cert, 1, &ignored);
  if (!ours_reads_theirs) {
    // ssh-keygen's over-long bitmaps, which OpenSSH itself refuses: read them anyway.
    ours_reads_theirs = libkey_query(theirs_path, s.cert, 1, &ignored, KrlParseOptions{.max_bitmap_bits = 1ull << 24});
  }
  auto theirs_reads_ours = keygen_query("ssh-keygen", s, ours_path, 1, &ignored, &refusal);
  auto theirs_reads_cli = keygen_query("ssh-keygen", s, cli_path, runs, &ignored, &refusal);
  report(title, serials.size(), ours, theirs, cli, ours_reads_theirs, theirs_reads_ours, theirs_reads_cli);
}

}  // namespace

int main(int argc, char** argv) {
  size_t count = 1000000;
  int runs = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--serials" && i + 1 < argc) {
      count = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else {
      die("usage: krl_bench [--serials N] [--runs R]");
    }
  }
  char tmpl[] = "/tmp/krl_bench.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) die("mkdtemp failed");
  auto ca = PrivateKey::generate(KeyType::kEd25519);
  if (!ca.ok()) die("key generation failed");

  std::mt19937_64 rng(42);
  std::vector<uint64_t> random40(count);
  for (auto& s : random40) s = (rng() & ((1ull << 40) - 1)) + 1;
  std::vector<uint64_t> half;
  for (uint64_t s = 1; s <= count; ++s) {
    if (rng() & 1) half.push_back(s);
  }

  // The query certificate's serial: a revoked one from the random set.
  Certificate cert = make_cert(*ca, random40[count / 2]);
  Setup s{tmpl, std::move(*ca), std::string(tmpl) + "/ca.pub", std::move(cert), std::string(tmpl) + "/cert-cert.pub"};
  write_file(s.ca_pub, format_public_key_line(s.ca.public_key(), "bench-ca") + "\n");
  write_file(s.cert_path, std::string(s.cert.type_name()) + " " + base64_encode(s.cert.blob()) + "\n");

  std::printf("krl_bench: KRL of revoked certificate serials, tessera (libkey and tessera-keygen) vs OpenSSH "
              "ssh-keygen\n");
  bench_set(s, "random 40-bit serials", random40, runs);
  bench_set(s, "random half of 1..N", half, runs);
  std::filesystem::remove_all(tmpl);
  return 0;
}
