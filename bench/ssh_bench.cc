// tessera-ssh against OpenSSH's ssh, side by side in one run, both talking
// to the same OpenSSH sshd on 127.0.0.1.
//
//   ssh_bench [--runs N] [--mib M] [--logins N] [--keep] [--tessera PATH] [--ssh PATH]
//             [--pipe-size BYTES]
//
// Needs root: it starts its own sshd (a free port, a temporary config and
// host key) and logs in as the account tessera-bench, made when missing
// (shell /bin/sh, so that no slow .bashrc runs), with a fresh ed25519 key.
// Both clients get the same options:
//   -F none -i KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
//   -o IdentityAgent=none -q -p PORT
//
// Figures:
//  1. Bulk: M MiB (default 1024) into `cat > /dev/null` with -c
//     aes128-gcm@openssh.com and -c chacha20-poly1305@openssh.com, the
//     client's stdin fed from this process's memory through a pipe. MB/s is
//     10^6 bytes per second of the whole client process (connect and login
//     included); the client's user+sys CPU seconds come from wait4; sshd's
//     for the connection (monitor, session process, shell and cat) from the
//     times of the children the sshd we started reaped, plus those of the
//     session process, which its monitor leaves for us to reap. The share
//     of raw cipher speed compares MB/s with OpenSSL's EVP AEAD of the same
//     cipher on 32 KiB buffers, one core, in this process (the best of a
//     short measurement before each round; for chacha20-poly1305 OpenSSL's
//     RFC 8439 AEAD, which does the same ChaCha20 and Poly1305 work per byte
//     as the OpenSSH variant).
//  2. Latency: connect + authenticate + `true`, N logins (default 50) per
//     client, p50 and p99.
// Runs alternate between the clients (and which goes first), N (default 5)
// bulk runs per client and cipher; the table gives the median and the
// spread (min-max). Figures move with the machine's load: compare the
// ratios of one run. The load average is printed before and after.
//
// --tessera and --ssh replace the two clients (default: the tessera-ssh
// built with this benchmark, and /usr/bin/ssh), e.g. to compare two builds
// of tessera-ssh. --logins 0 skips the latency figures. --pipe-size sets
// the capacity of the pipe on the clients' stdin before they start (the
// default leaves Linux's 64 KiB, which tessera-ssh grows to 1 MiB itself
// and OpenSSH's ssh keeps): to see what each client makes of a large pipe.
#include <openssl/evp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"

namespace {

using namespace tessera::bench;

using Clock = std::chrono::steady_clock;

constexpr const char* kSshdPath = "/usr/sbin/sshd";
constexpr const char* kOpenSshPath = "/usr/bin/ssh";
// A client that has not finished a bulk run after this long is killed.
constexpr unsigned kRunTimeoutSeconds = 300;

struct Client {
  const char* name;
  std::string path;
};

std::vector<std::string> client_argv(const Client& c, const std::string& key, int port, const char* cipher,
                                     const char* command) {
  std::vector<std::string> argv = base_client_argv(c.path, key);
  argv.insert(argv.end(), {"-q", "-p", std::to_string(port)});
  if (cipher != nullptr) {
    argv.push_back("-c");
    argv.push_back(cipher);
  }
  argv.push_back(std::string(kAccount) + "@127.0.0.1");
  argv.push_back(command);
  return argv;
}

int g_pipe_size = 0;  // --pipe-size (0: the system's default)

struct RunResult {
  double wall = 0;        // seconds, start to exit
  double client_cpu = 0;  // user + system seconds of the client process
  double server_cpu = 0;  // user + system seconds of sshd's session, shell and command
};

// Runs the client; with `feed` bytes > 0 they go to its stdin from memory.
// sshd's monitor does not wait for the session process it forked (which
// runs the shell and cat): when a connection ends that process is orphaned
// and, this process being a child subreaper, becomes ours; its CPU time
// counts with that of the children sshd reaped.
RunResult run_measured(const Client& c, const Server& sshd, const std::vector<std::string>& argv,
                       const std::string& err_log, const std::vector<uint8_t>& chunk, uint64_t feed) {
  const double server_before = sshd.reaped_cpu();
  ::alarm(kRunTimeoutSeconds);
  const ClientRun run = run_client(argv, 0, err_log, chunk, feed, g_pipe_size);
  ::alarm(0);
  if (!run.ok()) {
    die(std::string(c.name) + " failed (status " + std::to_string(run.status) + "): " + read_text(err_log) +
        "\nsshd log:\n" + sshd.log());
  }
  const double orphans = reap_until_quiet({&sshd});
  RunResult r;
  r.wall = run.wall;
  r.client_cpu = run.cpu;
  r.server_cpu = sshd.reaped_cpu() - server_before + orphans;
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// OpenSSL's AEAD on 32 KiB buffers (a 4-byte AAD, a 16-byte tag), one core:
// MB/s (10^6 bytes).
double raw_aead_mb_per_s(const char* cipher_name, size_t key_bytes, size_t iv_bytes, double seconds) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, cipher_name, nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (cipher == nullptr || ctx == nullptr) die(std::string("OpenSSL lacks ") + cipher_name);
  std::vector<uint8_t> key(key_bytes, 0x42), iv(iv_bytes, 0x17), buf(32 * 1024, 0x5a);
  uint8_t aad[4] = {0, 0, 0x80, 0x10}, tag[16];
  if (EVP_EncryptInit_ex2(ctx, cipher, key.data(), nullptr, nullptr) != 1) die("EVP init");
  uint64_t bytes = 0;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    for (int i = 0; i < 16; ++i) {
      int len = 0;
      iv[iv_bytes - 1]++;
      if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, iv.data(), nullptr) != 1 ||
          EVP_EncryptUpdate(ctx, nullptr, &len, aad, sizeof aad) != 1 ||
          EVP_EncryptUpdate(ctx, buf.data(), &len, buf.data(), static_cast<int>(buf.size())) != 1 ||
          EVP_EncryptFinal_ex(ctx, tag, &len) != 1 ||
          EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, sizeof tag, tag) != 1) {
        die(std::string("EVP ") + cipher_name + " failed");
      }
      bytes += buf.size();
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return static_cast<double>(bytes) / elapsed / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  uint64_t mib = 1024;
  int logins = 50;
  bool keep = false;
  std::string tessera_path = std::string(TESSERA_BIN_DIR) + "/tessera-ssh";
  std::string openssh_path = kOpenSshPath;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--mib" && i + 1 < argc) {
      mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--logins" && i + 1 < argc) {
      logins = std::atoi(argv[++i]);
    } else if (a == "--tessera" && i + 1 < argc) {
      tessera_path = argv[++i];
    } else if (a == "--ssh" && i + 1 < argc) {
      openssh_path = argv[++i];
    } else if (a == "--pipe-size" && i + 1 < argc) {
      g_pipe_size = std::atoi(argv[++i]);
    } else if (a == "--keep") {
      keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: ssh_bench [--runs N] [--mib M] [--logins N] [--keep] [--tessera PATH] [--ssh PATH] "
                   "[--pipe-size BYTES]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (runs < 1 || logins < 0) die("--runs must be at least 1 and --logins at least 0");
  if (::geteuid() != 0) die("needs root: it starts its own sshd and logs in as " + std::string(kAccount));
  if (::access(kSshdPath, X_OK) != 0) die("openssh-server is not installed (apt-get install openssh-server)");
  ::signal(SIGPIPE, SIG_IGN);
  // sshd's session processes outlive their monitors: they come to us to be
  // reaped, with their CPU time.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl(PR_SET_CHILD_SUBREAPER) failed");
  kill_clients_on_alarm();

  ScratchDir scratch("ssh-bench", keep);
  const std::string& dir = scratch.path();
  if (keep) std::printf("scratch directory: %s\n", dir.c_str());
  ensure_account(dir);
  const std::string user_key = make_login_key(dir);
  ::mkdir("/run/sshd", 0755);  // sshd refuses to start without its privilege separation directory
  make_ed25519_key(dir + "/host_ed25519", dir + "/keygen.log");
  const Server sshd("OpenSSH sshd", kSshdPath, dir,
                    "ListenAddress 127.0.0.1\nHostKey " + dir + "/host_ed25519\nAuthorizedKeysFile " + dir +
                        "/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                        "KbdInteractiveAuthentication no\nMaxStartups 100\n");

  const Client tessera{"tessera-ssh", tessera_path};
  const Client openssh{openssh_path == kOpenSshPath ? "OpenSSH ssh" : "other", openssh_path};
  const std::array<const Client*, 2> clients = {&tessera, &openssh};

  std::printf("%s against %s (%s); sshd: %s; %u CPUs; load average %s\n", tessera.path.c_str(),
              openssh.path.c_str(), first_line_of(openssh.path + " -V 2>&1").c_str(), kSshdPath,
              std::thread::hardware_concurrency(), load_average().c_str());

  // Warm-up: one login each (caches, sshd's first fork).
  const std::vector<uint8_t> chunk = feed_chunk();
  for (const Client* c : clients) {
    run_measured(*c, sshd, client_argv(*c, user_key, sshd.port(), nullptr, "true"), dir + "/client.log", chunk, 0);
  }

  // 1. Bulk.
  struct CipherCase {
    const char* wire_name;
    const char* short_name;
    const char* evp_name;
    size_t key_bytes, iv_bytes;
  };
  const CipherCase ciphers[] = {{"aes128-gcm@openssh.com", "aes128-gcm", "AES-128-GCM", 16, 12},
                                {"chacha20-poly1305@openssh.com", "chacha20-poly1305", "ChaCha20-Poly1305", 32, 12}};
  const uint64_t bytes = mib * 1024 * 1024;
  std::printf("\n1. bulk: %llu MiB into `cat > /dev/null`, %d runs per client and cipher, interleaved; "
              "median (min-max); stdin pipe %s\n",
              static_cast<unsigned long long>(mib), runs,
              g_pipe_size > 0 ? (std::to_string(g_pipe_size) + " bytes").c_str() : "as the system makes it");
  std::printf("   MB/s = 10^6 bytes/s over the whole client process (login included); CPU = user+sys seconds\n");
  std::printf("%-18s %-12s | %-22s | %-19s | %-19s | %s\n", "cipher", "client", "MB/s", "client CPU s",
              "sshd+cat CPU s", "of raw cipher");
  std::fflush(stdout);
  struct Figures {
    std::vector<double> mbps, client_cpu, server_cpu;
  };
  struct CipherResult {
    Figures f[2];
    double raw = 0;
  };
  std::vector<CipherResult> results(std::size(ciphers));
  for (int r = 0; r < runs; ++r) {
    for (size_t ci = 0; ci < std::size(ciphers); ++ci) {
      // The raw speed is the best of one short measurement per round: other
      // work on the machine only ever slows it down.
      results[ci].raw = std::max(results[ci].raw, raw_aead_mb_per_s(ciphers[ci].evp_name, ciphers[ci].key_bytes,
                                                                    ciphers[ci].iv_bytes, 0.3));
      for (size_t k = 0; k < clients.size(); ++k) {
        const size_t which = turn(r, k);
        const Client& c = *clients[which];
        RunResult rr = run_measured(c, sshd, client_argv(c, user_key, sshd.port(), ciphers[ci].wire_name,
                                                       "cat > /dev/null"),
                                  dir + "/client.log", chunk, bytes);
        Figures& f = results[ci].f[which];
        f.mbps.push_back(static_cast<double>(bytes) / rr.wall / 1e6);
        f.client_cpu.push_back(rr.client_cpu);
        f.server_cpu.push_back(rr.server_cpu);
      }
    }
  }
  for (size_t ci = 0; ci < std::size(ciphers); ++ci) {
    Summary mbps[2], ccpu[2], scpu[2];
    for (size_t k = 0; k < 2; ++k) {
      mbps[k] = summarize(results[ci].f[k].mbps);
      ccpu[k] = summarize(results[ci].f[k].client_cpu);
      scpu[k] = summarize(results[ci].f[k].server_cpu);
      std::printf("%-18s %-12s | %6.1f (%6.1f-%6.1f) | %5.2f (%5.2f-%5.2f) | %5.2f (%5.2f-%5.2f) | %4.1f%% of %.0f\n",
                  k == 0 ? ciphers[ci].short_name : "", clients[k]->name, mbps[k].median, mbps[k].min, mbps[k].max,
                  ccpu[k].median, ccpu[k].min, ccpu[k].max, scpu[k].median, scpu[k].min, scpu[k].max,
                  100.0 * mbps[k].median / results[ci].raw, results[ci].raw);
    }
    std::printf("%-18s %-12s | %6.2fx                | %5.2fx              | %5.2fx              |\n", "",
                "tessera/ssh", mbps[0].median / mbps[1].median, ccpu[0].median / ccpu[1].median,
                scpu[0].median / scpu[1].median);
  }
  std::fflush(stdout);

  // 2. Latency.
  if (logins > 0) {
    std::vector<double> latency[2];
    for (int i = 0; i < logins; ++i) {
      for (size_t k = 0; k < clients.size(); ++k) {
        const size_t which = turn(i, k);
        const Client& c = *clients[which];
        RunResult rr =
            run_measured(c, sshd, client_argv(c, user_key, sshd.port(), nullptr, "true"), dir + "/client.log", chunk, 0);
        latency[which].push_back(rr.wall * 1000);
      }
    }
    std::printf("\n2. latency: connect + authenticate + `true`, %d logins per client, interleaved (ms)\n", logins);
    std::printf("%-12s | %7s | %7s | %7s | %7s\n", "client", "p50", "p99", "min", "max");
    double p50[2], p99[2];
    for (size_t k = 0; k < 2; ++k) {
      p50[k] = percentile(latency[k], 50);
      p99[k] = percentile(latency[k], 99);
      const Summary s = summarize(latency[k]);
      std::printf("%-12s | %7.1f | %7.1f | %7.1f | %7.1f\n", clients[k]->name, p50[k], p99[k], s.min, s.max);
    }
    std::printf("%-12s | %6.2fx | %6.2fx |\n", "tessera/ssh", p50[0] / p50[1], p99[0] / p99[1]);
  }
  std::printf("\nload average after: %s\n", load_average().c_str());
  return 0;
}
