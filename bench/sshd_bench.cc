// tessera-sshd against OpenSSH's sshd, side by side in one run, with the
// same client (OpenSSH's ssh) logging in to each on 127.0.0.1.
//
//   sshd_bench [--runs N] [--mib M] [--logins N] [--conns N] [--mem-runs N] [--only SECTIONS] [--keep]
//              [--tessera-sshd PATH] [--sshd PATH] [--ssh PATH]
//
// Needs root: it starts both servers (each on a free port, with a temporary
// config and the same ed25519 host key) and logs in as the account
// tessera-bench, made when missing (shell /bin/sh, so that no slow .bashrc
// runs), with a fresh ed25519 key. The two configs are the same file but for
// the port, pid file and log:
//   ListenAddress 127.0.0.1, HostKey (ed25519), AuthorizedKeysFile,
//   StrictModes no, UsePAM no, PasswordAuthentication no,
//   KbdInteractiveAuthentication no, MaxStartups 300,
//   Ciphers chacha20-poly1305@openssh.com,aes128-gcm@openssh.com
// (every other setting, key exchange included, is each server's default,
// which is OpenSSH 9.2's for both). The client gets, for both:
//   -F none -i KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
//   -o IdentityAgent=none -o BatchMode=yes -q -p PORT
//
// Figures (each a median over interleaved runs, with the spread min-max, and
// the ratio tessera-sshd/OpenSSH sshd):
//  1. Connections per second: connect, authenticate and run `true`, with 1
//     and with 8 clients at once; a run is N logins (default 40) and lasts
//     from the first client's start until the last client has exited and the
//     server has no process of those connections left (so the servers' work
//     at the end of a connection is counted). Server CPU per login is the
//     user+sys time of every process of the connections (see below).
//  2. Bulk: M MiB (default 1024) into `cat > /dev/null` with -c
//     aes128-gcm@openssh.com and -c chacha20-poly1305@openssh.com, the
//     client's stdin fed from this process's memory through a pipe. MB/s is
//     10^6 bytes per second of the whole client process (login included).
//  3. Memory: C (default 200) idle authenticated connections to one server
//     (`ssh -f -N`: the client goes to the background once logged in, and
//     opens no session), then the sum of the resident set (Rss, and Pss,
//     which shares pages out among the processes that map them) of each
//     connection's processes: every child of the server's listener (the
//     connection's monitor) and everything under it, from
//     /proc/PID/smaps_rollup; divided by C. Then the connections are closed
//     and the other server gets its C. The table also gives the mean Rss by
//     depth in the connection's tree (0: the monitor).
// Server CPU: user+sys of the children the listener reaped (tessera-sshd's
// monitors wait for their session processes), plus that of OpenSSH's session
// processes, which their monitors leave to be reaped by this process (a
// child subreaper).
// Runs alternate between the servers, and which goes first. Figures move
// with the machine's load: compare the ratios of one run. The load average
// is printed before and after.
//
// --only takes a comma-separated list of cps, bulk and mem. --runs is the
// number of runs per server in each section (default 5; memory: --mem-runs,
// default 1). --logins 0, --mib 0 or --conns 0 skip a section too.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_process.h"

namespace {

using namespace tessera::bench;

using Clock = std::chrono::steady_clock;

constexpr const char* kOpenSshdPath = "/usr/sbin/sshd";
constexpr const char* kSshPath = "/usr/bin/ssh";
// A client that has not finished after this long is killed.
constexpr unsigned kRunTimeoutSeconds = 300;
// Clients started at once while the idle connections are being made.
constexpr int kMemoryStartBatch = 8;

struct ClientSetup {
  std::string ssh;
  std::string key;
  std::string dir;
};

std::vector<std::string> client_argv(const ClientSetup& c, const Server& s, const std::vector<std::string>& extra,
                                     const char* command) {
  std::vector<std::string> argv = base_client_argv(c.ssh, c.key);
  argv.insert(argv.end(), {"-o", "BatchMode=yes", "-q", "-p", std::to_string(s.port())});
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(std::string(kAccount) + "@127.0.0.1");
  if (command != nullptr) argv.push_back(command);
  return argv;
}

// Runs one client to its end in slot `slot` (one per thread that starts
// clients); feed > 0 bytes go to its stdin from memory. Dies if it fails.
ClientRun run_ssh(const Server& s, const std::vector<std::string>& argv, size_t slot, const std::string& err_log,
                  const std::vector<uint8_t>& chunk, uint64_t feed) {
  const ClientRun run = run_client(argv, slot, err_log, chunk, feed);
  if (!run.ok()) {
    die(std::string("ssh to ") + s.name() + " failed (status " + std::to_string(run.status) + "): " +
        read_text(err_log) + "\nserver log:\n" + s.log());
  }
  return run;
}

// ---- 1. connections per second ----------------------------------------

struct CpsRun {
  double per_second = 0;
  double server_cpu_ms = 0;  // per login
};

CpsRun cps_run(const ClientSetup& c, const Server& s, const std::vector<const Server*>& all, int logins,
               int concurrency) {
  const double cpu_before = s.reaped_cpu();
  std::atomic<int> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&, w] {
      const std::string err_log = c.dir + "/client" + std::to_string(w) + ".log";
      const std::vector<uint8_t> none;
      while (next.fetch_add(1) < logins) run_ssh(s, client_argv(c, s, {}, "true"), static_cast<size_t>(w), err_log, none, 0);
    });
  }
  for (std::thread& t : workers) t.join();
  const double orphans = reap_until_quiet(all);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  CpsRun r;
  r.per_second = logins / wall;
  r.server_cpu_ms = (s.reaped_cpu() - cpu_before + orphans) * 1000 / logins;
  return r;
}

// ---- 3. memory ---------------------------------------------------------

struct MemoryFigures {
  double rss_kib = 0, pss_kib = 0;         // per connection
  double processes = 0;                    // per connection
  std::map<int, std::pair<double, int>> rss_by_depth;  // depth -> (sum KiB, count)
};

// "Rss:" and "Pss:" of /proc/PID/smaps_rollup, in KiB.
std::pair<double, double> rss_pss(pid_t pid) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/smaps_rollup"));
  double rss = 0, pss = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Rss:", 0) == 0) rss = std::atof(line.c_str() + 4);
    if (line.rfind("Pss:", 0) == 0) pss = std::atof(line.c_str() + 4);
  }
  return {rss, pss};
}

void add_tree(pid_t pid, int depth, MemoryFigures& m) {
  const auto [rss, pss] = rss_pss(pid);
  m.rss_kib += rss;
  m.pss_kib += pss;
  m.processes += 1;
  auto& d = m.rss_by_depth[depth];
  d.first += rss;
  d.second += 1;
  for (pid_t child : children_of(pid)) add_tree(child, depth + 1, m);
}

MemoryFigures memory_run(const ClientSetup& c, const Server& s, const std::vector<const Server*>& all, int conns) {
  // ssh -f -N: the client forks into the background once authenticated and
  // its first process exits 0, so each wait below ends at a login.
  const std::vector<uint8_t> none;
  for (int started = 0; started < conns;) {
    const int batch = std::min(kMemoryStartBatch, conns - started);
    std::vector<std::thread> workers;
    for (int w = 0; w < batch; ++w) {
      workers.emplace_back([&, w] {
        run_ssh(s, client_argv(c, s, {"-f", "-N"}, nullptr), static_cast<size_t>(w), c.dir + "/client" + std::to_string(w) + ".log",
                   none, 0);
      });
    }
    for (std::thread& t : workers) t.join();
    started += batch;
  }
  // Until every connection has settled into its after-login processes
  // (the pre-authentication children gone).
  size_t last = 0;
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    size_t n = 0;
    for (pid_t monitor : children_of(s.pid())) n += 1 + children_of(monitor).size();
    if (i > 2 && n == last) break;
    last = n;
  }
  const std::vector<pid_t> monitors = children_of(s.pid());
  if (static_cast<int>(monitors.size()) != conns) {
    std::fprintf(stderr, "sshd_bench: note: %s has %zu connections, not %d\n", s.name(), monitors.size(), conns);
  }
  MemoryFigures m;
  for (pid_t monitor : monitors) add_tree(monitor, 0, m);
  const double n = static_cast<double>(std::max<size_t>(1, monitors.size()));
  m.rss_kib /= n;
  m.pss_kib /= n;
  m.processes /= n;
  // The background clients are our children now (this process is a
  // subreaper): ending them ends the connections.
  std::set<pid_t> servers;
  for (const Server* x : all) servers.insert(x->pid());
  for (pid_t p : children_of(::getpid())) {
    if (servers.count(p) == 0) ::kill(p, SIGTERM);
  }
  reap_until_quiet(all);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  int mem_runs = 1;
  uint64_t mib = 1024;
  int logins = 40;
  int conns = 200;
  bool keep = false;
  std::string only = "cps,bulk,mem";
  std::string tessera_path = std::string(TESSERA_BIN_DIR) + "/tessera-sshd";
  std::string openssh_path = kOpenSshdPath;
  std::string ssh_path = kSshPath;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--runs" && has_value) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--mem-runs" && has_value) {
      mem_runs = std::atoi(argv[++i]);
    } else if (a == "--mib" && has_value) {
      mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--logins" && has_value) {
      logins = std::atoi(argv[++i]);
    } else if (a == "--conns" && has_value) {
      conns = std::atoi(argv[++i]);
    } else if (a == "--only" && has_value) {
      only = argv[++i];
    } else if (a == "--tessera-sshd" && has_value) {
      tessera_path = argv[++i];
    } else if (a == "--sshd" && has_value) {
      openssh_path = argv[++i];
    } else if (a == "--ssh" && has_value) {
      ssh_path = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: sshd_bench [--runs N] [--mib M] [--logins N] [--conns N] [--mem-runs N] "
                   "[--only cps,bulk,mem] [--keep] [--tessera-sshd PATH] [--sshd PATH] [--ssh PATH]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (runs < 1 || mem_runs < 1 || logins < 0 || conns < 0) {
    die("--runs and --mem-runs must be at least 1, --logins and --conns at least 0");
  }
  const auto wanted = [&](const char* section) { return ("," + only + ",").find(std::string(",") + section + ",") != std::string::npos; };
  if (::geteuid() != 0) die("needs root: it starts two servers and logs in as " + std::string(kAccount));
  for (const std::string& p : {tessera_path, openssh_path, ssh_path}) {
    if (::access(p.c_str(), X_OK) != 0) die(p + " is missing (openssh-server and openssh-client are needed)");
  }
  ::mkdir("/run/sshd", 0755);  // both servers' privilege separation directory
  ::signal(SIGPIPE, SIG_IGN);
  // OpenSSH's session processes outlive their monitors, and ssh -f's
  // background clients their parents: they come to us to be reaped.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die("prctl(PR_SET_CHILD_SUBREAPER) failed");
  kill_clients_on_alarm();
  // 2 x 200 idle clients, their connections' descriptors, and the servers'.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 8192) {
    files.rlim_cur = std::min<rlim_t>(8192, files.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  ScratchDir scratch("sshd-bench", keep);
  const std::string& dir = scratch.path();
  if (keep) std::printf("scratch directory: %s\n", dir.c_str());
  ensure_account(dir);
  const ClientSetup client{ssh_path, make_login_key(dir), dir};
  make_ed25519_key(dir + "/host_ed25519", dir + "/keygen.log");
  const std::string common_config = "ListenAddress 127.0.0.1\nHostKey " + dir + "/host_ed25519\nAuthorizedKeysFile " +
                                    dir + "/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                                    "KbdInteractiveAuthentication no\nMaxStartups 300\n"
                                    "Ciphers chacha20-poly1305@openssh.com,aes128-gcm@openssh.com\n";
  Server tessera("tessera-sshd", tessera_path, dir + "/tessera", common_config);
  // --sshd may name another build of tessera-sshd, to compare two builds.
  Server openssh(openssh_path == kOpenSshdPath ? "OpenSSH sshd" : "other", openssh_path, dir + "/openssh", common_config);
  const std::array<const Server*, 2> servers = {&tessera, &openssh};
  const char* ratio_label = openssh_path == kOpenSshdPath ? "tessera/OpenSSH" : "tessera/other";
  const std::vector<const Server*> all(servers.begin(), servers.end());

  std::printf("%s against %s; client %s (%s); %u CPUs; load average %s\n", tessera_path.c_str(), openssh_path.c_str(),
              ssh_path.c_str(), first_line_of(ssh_path + " -V 2>&1").c_str(), std::thread::hardware_concurrency(),
              load_average().c_str());

  // Warm-up: a few logins each (page cache, the servers' first forks).
  const std::vector<uint8_t> chunk = feed_chunk();
  for (int i = 0; i < 3; ++i) {
    for (const Server* s : servers) run_ssh(*s, client_argv(client, *s, {}, "true"), 0, dir + "/client.log", chunk, 0);
  }
  reap_until_quiet(all);
  ::alarm(0);

  // 1. Connections per second.
  if (wanted("cps") && logins > 0) {
    std::printf("\n1. connections per second: connect, authenticate, `true`; %d logins per run, %d runs per server, "
                "interleaved; median (min-max)\n",
                logins, runs);
    std::printf("%-8s %-15s | %-22s | %s\n", "clients", "server", "logins/s", "server CPU ms per login");
    std::fflush(stdout);
    for (int concurrency : {1, 8}) {
      std::vector<double> rate[2], cpu[2];
      for (int r = 0; r < runs; ++r) {
        for (size_t k = 0; k < 2; ++k) {
          const size_t which = turn(r, k);
          ::alarm(kRunTimeoutSeconds);
          const CpsRun run = cps_run(client, *servers[which], all, logins, concurrency);
          ::alarm(0);
          rate[which].push_back(run.per_second);
          cpu[which].push_back(run.server_cpu_ms);
        }
      }
      Summary sr[2], sc[2];
      for (size_t k = 0; k < 2; ++k) {
        sr[k] = summarize(rate[k]);
        sc[k] = summarize(cpu[k]);
        std::printf("%-8s %-15s | %6.1f (%6.1f-%6.1f) | %5.1f (%5.1f-%5.1f)\n",
                    k == 0 ? std::to_string(concurrency).c_str() : "", servers[k]->name(), sr[k].median, sr[k].min,
                    sr[k].max, sc[k].median, sc[k].min, sc[k].max);
      }
      std::printf("%-8s %-15s | %6.2fx                | %5.2fx\n", "", ratio_label, sr[0].median / sr[1].median,
                  sc[0].median / sc[1].median);
      std::fflush(stdout);
    }
  }

  // 2. Bulk.
  if (wanted("bulk") && mib > 0) {
    struct CipherCase {
      const char* wire_name;
      const char* short_name;
    };
    const CipherCase ciphers[] = {{"aes128-gcm@openssh.com", "aes128-gcm"},
                                  {"chacha20-poly1305@openssh.com", "chacha20-poly1305"}};
    const uint64_t bytes = mib * 1024 * 1024;
    std::printf("\n2. bulk: %llu MiB into `cat > /dev/null`, %d runs per server and cipher, interleaved; "
                "median (min-max)\n",
                static_cast<unsigned long long>(mib), runs);
    std::printf("   MB/s = 10^6 bytes/s over the whole client process (login included); CPU = user+sys seconds\n");
    std::printf("%-18s %-15s | %-22s | %-19s | %s\n", "cipher", "server", "MB/s", "server CPU s", "client CPU s");
    std::fflush(stdout);
    for (const CipherCase& cc : ciphers) {
      std::vector<double> mbps[2], scpu[2], ccpu[2];
      for (int r = 0; r < runs; ++r) {
        for (size_t k = 0; k < 2; ++k) {
          const size_t which = turn(r, k);
          const Server& s = *servers[which];
          const double before = s.reaped_cpu();
          ::alarm(kRunTimeoutSeconds);
          const ClientRun run = run_ssh(s, client_argv(client, s, {"-c", cc.wire_name}, "cat > /dev/null"), 0,
                                           dir + "/client.log", chunk, bytes);
          ::alarm(0);
          const double orphans = reap_until_quiet(all);
          mbps[which].push_back(static_cast<double>(bytes) / run.wall / 1e6);
          scpu[which].push_back(s.reaped_cpu() - before + orphans);
          ccpu[which].push_back(run.cpu);
        }
      }
      Summary sm[2], ss[2], sc[2];
      for (size_t k = 0; k < 2; ++k) {
        sm[k] = summarize(mbps[k]);
        ss[k] = summarize(scpu[k]);
        sc[k] = summarize(ccpu[k]);
        std::printf("%-18s %-15s | %6.1f (%6.1f-%6.1f) | %5.2f (%5.2f-%5.2f) | %5.2f (%5.2f-%5.2f)\n",
                    k == 0 ? cc.short_name : "", servers[k]->name(), sm[k].median, sm[k].min, sm[k].max, ss[k].median,
                    ss[k].min, ss[k].max, sc[k].median, sc[k].min, sc[k].max);
      }
      std::printf("%-18s %-15s | %6.2fx                | %5.2fx              | %5.2fx\n", "", ratio_label,
                  sm[0].median / sm[1].median, ss[0].median / ss[1].median, sc[0].median / sc[1].median);
      std::fflush(stdout);
    }
  }

  // 3. Memory.
  if (wanted("mem") && conns > 0) {
    std::printf("\n3. memory: %d idle authenticated connections (ssh -f -N) per server, one server at a time, "
                "%d run(s) each; KiB per connection\n",
                conns, mem_runs);
    std::printf("%-15s | %9s | %9s | %9s | %s\n", "server", "Rss", "Pss", "processes", "mean Rss by depth (0: monitor)");
    std::fflush(stdout);
    std::vector<MemoryFigures> figures[2];
    for (int r = 0; r < mem_runs; ++r) {
      for (size_t k = 0; k < 2; ++k) {
        const size_t which = turn(r, k);
        ::alarm(kRunTimeoutSeconds);
        figures[which].push_back(memory_run(client, *servers[which], all, conns));
        ::alarm(0);
      }
    }
    double rss[2], pss[2];
    for (size_t k = 0; k < 2; ++k) {
      std::vector<double> rv, pv;
      for (const MemoryFigures& m : figures[k]) {
        rv.push_back(m.rss_kib);
        pv.push_back(m.pss_kib);
      }
      rss[k] = summarize(rv).median;
      pss[k] = summarize(pv).median;
      const MemoryFigures& last = figures[k].back();
      std::string depths;
      for (const auto& [depth, sum_count] : last.rss_by_depth) {
        char part[64];
        std::snprintf(part, sizeof part, "%s%d: %.0f", depths.empty() ? "" : ", ", depth,
                      sum_count.first / std::max(1, sum_count.second));
        depths += part;
      }
      std::printf("%-15s | %9.0f | %9.0f | %9.1f | %s\n", servers[k]->name(), rss[k], pss[k], last.processes,
                  depths.c_str());
    }
    std::printf("%-15s | %8.2fx | %8.2fx |\n", ratio_label, rss[0] / rss[1], pss[0] / pss[1]);
  }
  std::printf("\nload average after: %s\n", load_average().c_str());
  return 0;
}
