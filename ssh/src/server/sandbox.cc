// The pre-auth child's sandbox: chroot, unprivileged account, resource
// limits, no-new-privs and a seccomp filter (see sandbox.h for the order and
// what the caller must do first).
#include "server/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "server/privileges.h"
#include "tessera/key/ossl.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::server {
namespace {

using key::Errc;
using key::Error;

// How the filter treats one system call.
enum class Allow : uint8_t {
  kAlways,
  kIfArgZero,   // only when argument `arg` is 0 (a null address)
  kIfNoExec,    // only when argument `arg` (a protection) has no bit but PROT_READ | PROT_WRITE
  kFailEacces,  // not performed: fails with EACCES instead of killing
};

struct SyscallRule {
  int number;  // negative: libseccomp's pseudo number, the call does not exist on this architecture
  const char* name;
  Allow how;
  unsigned arg = 0;
};

#define TESSERA_SYSCALL(name) SCMP_SYS(name), #name

// Everything the pre-auth child may do, and who needs it. A call missing
// here kills the child; add one only with the reason beside it.
const SyscallRule kPreauthRules[] = {
    // The connection's socket and the monitor's socketpair: the transport's
    // I/O and the monitor protocol (sys::write_all / read loops).
    {TESSERA_SYSCALL(read), Allow::kAlways},
    {TESSERA_SYSCALL(write), Allow::kAlways},
    {TESSERA_SYSCALL(readv), Allow::kAlways},
    {TESSERA_SYSCALL(writev), Allow::kAlways},
    // recv(2)/send(2) (sys::send_all's MSG_NOSIGNAL) are these calls in
    // glibc, with no address (argument 4); a call with one is an attempt to
    // reach somewhere else and kills.
    {TESSERA_SYSCALL(recvfrom), Allow::kIfArgZero, 4},
    {TESSERA_SYSCALL(sendto), Allow::kIfArgZero, 4},
    // Messages to and from the monitor over the socketpair (the address in
    // a msghdr cannot be seen by a filter, but the child owns no socket that
    // is not connected and cannot make one).
    {TESSERA_SYSCALL(recvmsg), Allow::kAlways},
    {TESSERA_SYSCALL(sendmsg), Allow::kAlways},
    {TESSERA_SYSCALL(shutdown), Allow::kAlways},  // half-closing the connection
    {TESSERA_SYSCALL(close), Allow::kAlways},     // dropping descriptors it holds
    // Waiting: sys::EventLoop (epoll_wait, epoll_ctl to change what it
    // watches; glibc may use epoll_pwait), and poll/ppoll for a single wait.
    {TESSERA_SYSCALL(epoll_wait), Allow::kAlways},
    {TESSERA_SYSCALL(epoll_pwait), Allow::kAlways},
    {TESSERA_SYSCALL(epoll_ctl), Allow::kAlways},
    {TESSERA_SYSCALL(poll), Allow::kAlways},
    {TESSERA_SYSCALL(ppoll), Allow::kAlways},
    // Clocks: the event loop's steady clock, LoginGraceTime, re-key by time,
    // log time stamps. Normally served by the vDSO; these are its fallbacks.
    {TESSERA_SYSCALL(clock_gettime), Allow::kAlways},
    {TESSERA_SYSCALL(gettimeofday), Allow::kAlways},
    {TESSERA_SYSCALL(time), Allow::kAlways},
    // Sleeps (a back-off, usleep) and the kernel's restart of an interrupted
    // sleep or poll after a stop/continue.
    {TESSERA_SYSCALL(nanosleep), Allow::kAlways},
    {TESSERA_SYSCALL(clock_nanosleep), Allow::kAlways},
    {TESSERA_SYSCALL(restart_syscall), Allow::kAlways},
    // OpenSSL's DRBG reseeds from getrandom (seeded once before the filter,
    // so no /dev/urandom is needed).
    {TESSERA_SYSCALL(getrandom), Allow::kAlways},
    // malloc: brk for the main arena, mmap/munmap/mremap for large blocks,
    // madvise when free() trims. mmap never executable: no new code.
    {TESSERA_SYSCALL(brk), Allow::kAlways},
    {TESSERA_SYSCALL(mmap), Allow::kIfNoExec, 2},
    {TESSERA_SYSCALL(munmap), Allow::kAlways},
    {TESSERA_SYSCALL(mremap), Allow::kAlways},
    {TESSERA_SYSCALL(madvise), Allow::kAlways},
    // glibc's and OpenSSL's locks (pthread mutexes, once-initialisation).
    {TESSERA_SYSCALL(futex), Allow::kAlways},
    // Returning from a signal handler the caller installed (SIGTERM, SIGALRM),
    // and glibc masking signals around its own critical sections.
    {TESSERA_SYSCALL(rt_sigreturn), Allow::kAlways},
    {TESSERA_SYSCALL(rt_sigprocmask), Allow::kAlways},
    // OpenSSL's fork detection and glibc's thread bookkeeping.
    {TESSERA_SYSCALL(getpid), Allow::kAlways},
    {TESSERA_SYSCALL(gettid), Allow::kAlways},
    {TESSERA_SYSCALL(exit), Allow::kAlways},
    {TESSERA_SYSCALL(exit_group), Allow::kAlways},
    // A library probing a file (glibc's locale catalogues and time zone,
    // OpenSSL's configuration) must fail softly, not kill: there is nothing
    // in the chroot to find anyway.
    {TESSERA_SYSCALL(open), Allow::kFailEacces},
    {TESSERA_SYSCALL(openat), Allow::kFailEacces},
    // stdio asks fstat about a stream's descriptor to size its buffer, and
    // copes when it fails.
    {TESSERA_SYSCALL(fstat), Allow::kFailEacces},
    {TESSERA_SYSCALL(newfstatat), Allow::kFailEacces},
#if TESSERA_SANITIZER_BUILD
    // ASan/UBSan builds only (tests, never a release): the sanitizer runtime
    // takes down its alternate signal stack in _exit, and UBSan's vptr check
    // probes whether a vtable is readable by writing it into a pipe
    // (IsAccessibleMemoryRange), for which RLIMIT_NOFILE leaves room.
    {TESSERA_SYSCALL(sigaltstack), Allow::kAlways},
    {TESSERA_SYSCALL(pipe2), Allow::kAlways},
#endif
};

#undef TESSERA_SYSCALL

std::string errno_text(int error) { return std::strerror(error); }

Error sys_error(std::string_view what, int error) {
  return Error(Errc::kIo, "pre-auth sandbox: " + std::string(what) + ": " + errno_text(error));
}

struct SeccompRelease {
  void operator()(void* ctx) const noexcept { seccomp_release(ctx); }
};
using SeccompCtx = std::unique_ptr<void, SeccompRelease>;

key::Result<SeccompCtx> build_filter(ViolationAction on_violation) {
  const uint32_t deny = on_violation == ViolationAction::kTrap ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS;
  SeccompCtx ctx(seccomp_init(deny));
  if (!ctx) return Error(Errc::kIo, "pre-auth sandbox: seccomp_init failed (kernel without seccomp?)");
  // A call made through another architecture's entry (an x32 or i386 call
  // from an x86_64 process) is never what the child means: always kill.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) return sys_error("seccomp_attr_set(ACT_BADARCH)", -rc);
  rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1);
  if (rc != 0) return sys_error("seccomp_attr_set(CTL_TSYNC)", -rc);

  for (const SyscallRule& rule : kPreauthRules) {
    if (rule.number < 0) continue;  // not a call of this architecture
    switch (rule.how) {
      case Allow::kAlways:
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, rule.number, 0);
        break;
      case Allow::kIfArgZero:
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, rule.number, 1,
                              scmp_arg_cmp{rule.arg, SCMP_CMP_EQ, uint64_t{0}, uint64_t{0}});
        break;
      case Allow::kIfNoExec:
        // (argument & mask) == 0, the mask being every bit but read and write.
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, rule.number, 1,
                              scmp_arg_cmp{rule.arg, SCMP_CMP_MASKED_EQ,
                                           ~static_cast<uint64_t>(PROT_READ | PROT_WRITE), uint64_t{0}});
        break;
      case Allow::kFailEacces:
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EACCES), rule.number, 0);
        break;
    }
    if (rc != 0) return sys_error(std::string("seccomp rule for ") + rule.name, -rc);
  }
  return ctx;
}

// Loads OpenSSL's configuration and providers and seeds both DRBGs while
// files can still be opened, so that inside the sandbox RAND_bytes and the
// ciphers need nothing but memory and getrandom.
key::Status prepare_openssl() {
  if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_ADD_ALL_CIPHERS | OPENSSL_INIT_ADD_ALL_DIGESTS |
                              OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
                          nullptr) != 1) {
    return key::ossl::crypto_error("pre-auth sandbox: initialising OpenSSL");
  }
  unsigned char byte[1];
  if (RAND_bytes(byte, sizeof byte) != 1 || RAND_priv_bytes(byte, sizeof byte) != 1) {
    return key::ossl::crypto_error("pre-auth sandbox: seeding OpenSSL's RNG");
  }
  OPENSSL_cleanse(byte, sizeof byte);
  return key::ok_status();
}

// The highest descriptor open now, not counting `ignore` (-1 when none is
// open). Read from /proc/self/fd; without /proc, every descriptor below the
// current limit is tried.
key::Result<int> highest_open_fd(int ignore) {
  int highest = -1;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    while (const dirent* entry = ::readdir(dir)) {
      char* end = nullptr;
      errno = 0;
      const long fd = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0' || errno != 0 || fd < 0 || fd > INT32_MAX) continue;
      const int n = static_cast<int>(fd);
      if (n != own && n != ignore && n > highest) highest = n;
    }
    ::closedir(dir);
    return highest;
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return sys_error("getrlimit(RLIMIT_NOFILE)", errno);
  // A limit in the millions would make this slow but not wrong.
  const rlim_t cap = limit.rlim_cur == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_cur;
  for (rlim_t fd = 0; fd < cap && fd <= INT32_MAX; ++fd) {
    const int n = static_cast<int>(fd);
    if (n != ignore && ::fcntl(n, F_GETFD) != -1) highest = n;
  }
  return highest;
}

key::Status set_limit(int resource, const char* name, rlim_t value) {
  const rlimit limit{value, value};
  if (::setrlimit(resource, &limit) != 0) return sys_error(std::string("setrlimit(") + name + ")", errno);
  return key::ok_status();
}

Error bad_dir(const std::string& path, const std::string& what) {
  return Error(Errc::kInvalidArgument, "pre-auth chroot directory " + path + " " + what);
}

// check_chroot_dir, also returning the canonical path and what fstat says of
// the final directory (so the caller can tell it is the one it opens).
key::Status check_chroot_dir_detail(const std::string& path, std::string* canonical, struct stat* final_stat) {
  if (path.empty() || path[0] != '/') return bad_dir("'" + path + "'", "must be an absolute path");
  if (path.find('\0') != std::string::npos) return bad_dir("'" + path + "'", "holds a NUL byte");
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr), &std::free);
  if (!resolved) {
    if (errno == ENOENT || errno == ENOTDIR) return bad_dir(path, "does not exist: create it, owned by root, mode 0755");
    return sys_error("realpath(" + path + ")", errno);
  }
  const std::string real = resolved.get();

  // Every directory from "/" down: root's, and not writable by others
  // (sticky ancestors excepted; the chroot itself has no exception).
  std::vector<std::string> chain{"/"};
  for (size_t pos = 1; pos < real.size();) {
    size_t slash = real.find('/', pos);
    if (slash == std::string::npos) slash = real.size();
    chain.push_back(real.substr(0, slash));
    pos = slash + 1;
  }
  for (size_t i = 0; i < chain.size(); ++i) {
    const std::string& dir_path = chain[i];
    const bool last = i + 1 == chain.size();
    struct stat st{};
    if (::lstat(dir_path.c_str(), &st) != 0) return sys_error("lstat(" + dir_path + ")", errno);
    const std::string who = last ? real : real + " (its parent " + dir_path + ")";
    if (!S_ISDIR(st.st_mode)) return bad_dir(who, "is not a directory");
    if (st.st_uid != 0) return bad_dir(who, "must be owned by root, not uid " + std::to_string(st.st_uid));
    const bool writable_by_others = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    if (writable_by_others && (last || (st.st_mode & S_ISVTX) == 0)) {
      char mode[16];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return bad_dir(who, std::string("must not be writable by group or others (mode ") + mode + ")");
    }
    if (last && final_stat != nullptr) *final_stat = st;
  }

  DIR* dir = ::opendir(real.c_str());
  if (dir == nullptr) return sys_error("opendir(" + real + ")", errno);
  std::string found;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") {
      found = name;
      break;
    }
  }
  ::closedir(dir);
  if (!found.empty()) return bad_dir(real, "must be empty but holds '" + found + "'");
  if (canonical != nullptr) *canonical = real;
  return key::ok_status();
}

}  // namespace

key::Status check_chroot_dir(const std::string& path) { return check_chroot_dir_detail(path, nullptr, nullptr); }

key::Status enter_preauth_sandbox(const SandboxOptions& options) {
  const bool full = options.mode == SandboxMode::kFull;
  UserIdentity account;
  if (full) {
    if (::geteuid() != 0) {
      return Error(Errc::kInvalidArgument, "the pre-auth sandbox needs root (running as uid " +
                                               std::to_string(::geteuid()) + ")");
    }
    // Before the chroot: the password database is not in it.
    auto looked_up = lookup_user(options.user);
    if (!looked_up.ok()) return looked_up.error().with_context("pre-auth sandbox account");
    account = std::move(looked_up).value();
    if (account.uid == 0) {
      return Error(Errc::kInvalidArgument, "pre-auth sandbox account '" + account.name + "' is uid 0: it must be an "
                                           "unprivileged account of its own");
    }
  }
  TESSERA_TRY(prepare_openssl());
  ::tzset();  // log time stamps keep the local zone: /etc/localtime is read now

  // Built before anything changes, so that a failure leaves the process as it was.
  TESSERA_ASSIGN_OR_RETURN(SeccompCtx filter, build_filter(options.on_violation));

  sys::Fd root_dir;
  struct stat checked{};
  if (full) {
    std::string canonical;
    TESSERA_TRY(check_chroot_dir_detail(options.chroot_dir, &canonical, &checked));
    root_dir.reset(::open(canonical.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root_dir) return sys_error("open(" + canonical + ")", errno);
    struct stat opened{};
    if (::fstat(root_dir.get(), &opened) != 0) return sys_error("fstat(" + canonical + ")", errno);
    if (opened.st_dev != checked.st_dev || opened.st_ino != checked.st_ino) {
      return bad_dir(canonical, "changed while it was being checked");
    }
  }
  TESSERA_ASSIGN_OR_RETURN(int highest_fd, highest_open_fd(root_dir.get()));

  if (full) {
    if (::fchdir(root_dir.get()) != 0) return sys_error("fchdir(" + options.chroot_dir + ")", errno);
    if (::chroot(".") != 0) return sys_error("chroot(" + options.chroot_dir + ")", errno);
    if (::chdir("/") != 0) return sys_error("chdir(/) in the chroot", errno);
    root_dir.reset();
    struct stat now_root{};
    if (::stat("/", &now_root) != 0) return sys_error("stat(/) in the chroot", errno);
    if (now_root.st_dev != checked.st_dev || now_root.st_ino != checked.st_ino) {
      return Error(Errc::kIo, "pre-auth sandbox: after chroot, / is not " + options.chroot_dir);
    }
    const gid_t own_group[] = {account.gid};
    auto dropped = drop_to_user_with_groups(account, own_group);
    if (!dropped.ok()) return dropped.error().with_context("pre-auth sandbox");
  }

  TESSERA_TRY(set_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", 0));
  TESSERA_TRY(set_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", static_cast<rlim_t>(highest_fd + 1 + kPreauthSpareDescriptors)));
  TESSERA_TRY(set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", 0));

  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sys_error("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
    return Error(Errc::kIo, "pre-auth sandbox: PR_SET_NO_NEW_PRIVS did not hold");
  }
  const int rc = seccomp_load(filter.get());
  if (rc != 0) return sys_error("loading the seccomp filter", -rc);
  return key::ok_status();
}

}  // namespace tessera::ssh::server
