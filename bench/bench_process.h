// What the SSH benchmarks (ssh_bench, sshd_bench) share: processes started
// with chosen descriptors, scratch directories, the benchmark account and
// its key, TCP ports on 127.0.0.1, SSH servers started for a run, clients
// run to their end with stdin fed from memory, the reaping of connections'
// orphans, and the medians and turns of the tables. Failures end the
// program with a message ("PROGRAM: why"), as a benchmark has nothing to
// fall back on.
#ifndef TESSERA_BENCH_BENCH_PROCESS_H_
#define TESSERA_BENCH_BENCH_PROCESS_H_

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::bench {

// The account the benchmarks log in as.
inline constexpr const char* kAccount = "tessera-bench";

[[noreturn]] void die(const std::string& why);

std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text, std::filesystem::perms perms);
double seconds_of(const timeval& tv);

// Starts argv with the given descriptors as 0, 1 and 2 (every other
// descriptor of ours is close-on-exec). Returns the pid.
pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err);
int open_or_die(const std::string& path, int flags);
// Reaps pid (its resource use into *usage when not null); its wait status.
int wait_for(pid_t pid, rusage* usage = nullptr);
// Runs a short helper command (ssh-keygen, useradd), dying if it fails;
// its output goes to `log`.
void run_or_die(const std::vector<std::string>& argv, const std::string& log);

// A temporary directory "<tmp>/<prefix>-XXXXXX", readable by all (the
// servers read authorized keys as the account logging in), removed at the
// end unless kept.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix, bool keep = false);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool keep_;
};

// kAccount with /bin/sh as its shell, and a password field sshd accepts
// for key logins with UsePAM no (a locked account's "!" is refused).
void ensure_account(const std::string& dir);

// A fresh ed25519 key without a passphrase at `path` (and path.pub).
void make_ed25519_key(const std::string& path, const std::string& log);
// kAccount's login key: a fresh ed25519 key dir/id_ed25519, the only line of
// dir/authorized_keys (the servers' AuthorizedKeysFile). Returns its path.
std::string make_login_key(const std::string& dir);

int free_tcp_port();
bool port_open(int port);

// The children of every thread of a process, from /proc.
std::vector<pid_t> children_of(pid_t pid);
// User + system CPU seconds of the children a process has reaped.
double reaped_children_cpu(pid_t pid);

// One SSH server (OpenSSH's sshd or tessera-sshd) in the foreground on a
// free port: its config is "Port", "PidFile" and then `config`, written to
// dir/sshd_config; its log dir/sshd.log. Stopped and reaped on destruction.
// The caller makes /run/sshd first.
class Server {
 public:
  Server(const char* name, const std::string& program, const std::string& dir, const std::string& config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const char* name() const { return name_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const;
  // User + system CPU seconds of the children the listener has reaped so far
  // (each connection's monitor, with what that monitor reaped).
  double reaped_cpu() const { return reaped_children_cpu(pid_); }

 private:
  const char* name_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Waits (up to 20 s) until no server has a connection left and every
// process that came to this one as an orphan (it is a child subreaper:
// OpenSSH's session processes, ssh -f's background clients once killed) has
// been reaped; returns the orphans' user + system CPU seconds (with their
// reaped children's: the shell and the command).
double reap_until_quiet(const std::vector<const Server*>& servers);

// The client options both benchmarks give first: no config, the login key,
// no host key checks, no agent.
std::vector<std::string> base_client_argv(const std::string& client, const std::string& key);

// Clients run in slots, one per thread that starts them; after
// kill_clients_on_alarm(), SIGALRM (::alarm(seconds) around a run) kills
// the clients running then.
inline constexpr size_t kClientSlots = 16;
void kill_clients_on_alarm();

// What feeds the clients' stdin: 1 MiB of a fixed pattern, written again and
// again.
std::vector<uint8_t> feed_chunk();

struct ClientRun {
  double wall = 0;  // seconds, start to exit
  double cpu = 0;   // user + system seconds of the client process
  int status = 0;   // as waitpid gives it
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

// Runs one client to its end in slot `slot`, its stderr into err_log; with
// `feed` bytes > 0 they go to its stdin from memory (`chunk` written again
// and again; pipe_size > 0 sets the pipe's capacity first), else its stdin
// is /dev/null.
ClientRun run_client(const std::vector<std::string>& argv, size_t slot, const std::string& err_log,
                     const std::vector<uint8_t>& chunk, uint64_t feed, int pipe_size = 0);

// Median and spread of a sample.
struct Summary {
  double median = 0, min = 0, max = 0;
};
Summary summarize(std::vector<double> v);

// Which of the two compared programs goes in turn k of run r: alternating,
// and which starts too.
inline size_t turn(int r, size_t k) { return (static_cast<size_t>(r) + k) % 2; }

// The 1, 5 and 15 minute load averages.
std::string load_average();
// The first line a shell command prints ("?" if it cannot run).
std::string first_line_of(const std::string& command);

}  // namespace tessera::bench

#endif  // TESSERA_BENCH_BENCH_PROCESS_H_
