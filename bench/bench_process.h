// What the SSH benchmarks (ssh_bench, sshd_bench) share: processes started
// with chosen descriptors, scratch directories, the benchmark account, and
// TCP ports on 127.0.0.1. Failures end the program with a message
// ("PROGRAM: why"), as a benchmark has nothing to fall back on.
#ifndef TESSERA_BENCH_BENCH_PROCESS_H_
#define TESSERA_BENCH_BENCH_PROCESS_H_

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>

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
  ScratchDir(const std::string& prefix, bool keep);
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

int free_tcp_port();
bool port_open(int port);

}  // namespace tessera::bench

#endif  // TESSERA_BENCH_BENCH_PROCESS_H_
