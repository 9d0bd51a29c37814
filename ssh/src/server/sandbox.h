// The pre-auth sandbox: the state tessera-sshd's pre-auth child enters
// before it reads a byte from the network, so that a fault in version,
// packet, cipher or message parsing gains an attacker nothing.
//
// enter_preauth_sandbox() does, in this order:
//  1. looks up the unprivileged account (default "sshd") while the password
//     database can still be read, and initialises OpenSSL (configuration,
//     providers, and the RNG by one RAND_bytes and one RAND_priv_bytes) so
//     that nothing later needs a file;
//  2. checks the chroot directory (default /run/sshd; see check_chroot_dir),
//     chroots to it and changes to its "/";
//  3. becomes the account for good, with only its own group
//     (drop_to_user_with_groups: checked, irreversible, non-dumpable);
//  4. sets RLIMIT_FSIZE to 0 (no file may grow), RLIMIT_NOFILE to one past
//     the highest descriptor open at that moment (no new descriptor above
//     them; poll(2) over the open ones still works, which a limit of 0 would
//     refuse), and RLIMIT_NPROC to 0 (no new process);
//  5. sets PR_SET_NO_NEW_PRIVS and loads a seccomp filter (libseccomp) whose
//     default action kills the whole process. The filter allows the few
//     system calls listed, with a reason each, in sandbox.cc: reading and
//     writing the descriptors it has, epoll and poll, the clocks and sleeps,
//     getrandom, memory (mmap never with PROT_EXEC), futex, signal returns
//     and masks, getpid/gettid, exit. sendto and recvfrom only without an
//     address. open and openat fail with EACCES, and fstat and newfstatat
//     too, so that a library probing a file (a locale catalogue, a time zone)
//     fails softly; any other call kills the process with SIGSYS.
//
// What the caller must do first, since none of it is allowed afterwards:
// create its sockets and its EventLoop (epoll_create1, eventfd), set every
// descriptor non-blocking (fcntl), set socket options, install signal
// handlers (rt_sigaction), close every descriptor it does not need, and
// start no thread (seccomp's TSYNC puts the filter on any thread there is,
// but the child is meant to be single-threaded). abort() inside the sandbox
// still ends the process, by SIGSYS rather than SIGABRT (raise(3) is not
// allowed).
#ifndef TESSERA_SSH_SERVER_SANDBOX_H_
#define TESSERA_SSH_SERVER_SANDBOX_H_

#include <string>

#include "tessera/key/error.h"

// Whether a sanitizer runtime is linked in (GCC defines __SANITIZE_ADDRESS__,
// clang answers __has_feature). Such a build (tests only) allows the few
// extra calls the runtime makes; see kPreauthRules in sandbox.cc.
#if defined(__SANITIZE_ADDRESS__)
#define TESSERA_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TESSERA_SANITIZER_BUILD 1
#endif
#endif
#ifndef TESSERA_SANITIZER_BUILD
#define TESSERA_SANITIZER_BUILD 0
#endif

namespace tessera::ssh::server {

inline constexpr const char* kDefaultPreauthChroot = "/run/sshd";
inline constexpr const char* kDefaultPreauthUser = "sshd";

enum class SandboxMode {
  kFull,        // chroot, account change, limits, no-new-privs, filter: needs root
  kFilterOnly,  // for tests without root: limits, no-new-privs and the filter only
};

// What the filter does with a system call that is not allowed.
enum class ViolationAction {
  kKillProcess,  // the kernel kills the whole process with SIGSYS (production)
  kTrap,         // SIGSYS is delivered to the process, si_syscall naming the call,
                 // for a handler to report it (debugging a missing entry; tests)
};

// Descriptors RLIMIT_NOFILE leaves free above those open when the filter
// goes in: none, but two in a sanitizer build for the pipe UBSan's vptr
// check makes to probe memory.
inline constexpr int kPreauthSpareDescriptors = TESSERA_SANITIZER_BUILD ? 2 : 0;

struct SandboxOptions {
  std::string chroot_dir = kDefaultPreauthChroot;
  std::string user = kDefaultPreauthUser;
  SandboxMode mode = SandboxMode::kFull;
  ViolationAction on_violation = ViolationAction::kKillProcess;
};

// Enters the sandbox described above, for good. Returns ok inside the
// sandbox. Errors: kInvalidArgument for options that cannot work (full mode
// without root, an account that is root or does not exist, a chroot
// directory that check_chroot_dir refuses); kCrypto when OpenSSL cannot be
// initialised; kIo when a system call fails, with its reason. After an error
// the process may be part-way in (chrooted, or no longer root): the caller
// must exit, never go on unsandboxed.
key::Status enter_preauth_sandbox(const SandboxOptions& options = {});

// Whether `path` may be the pre-auth chroot: an existing directory, owned by
// root, writable by neither group nor others, and empty; and every directory
// above it owned by root and not writable by group or others unless sticky
// (as /tmp is: nobody else can then rename a directory root owns in it).
// kInvalidArgument naming the directory and what is wrong; kIo when it
// cannot be examined. tessera-sshd -t can use it to check the configuration.
key::Status check_chroot_dir(const std::string& path);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_SANDBOX_H_
