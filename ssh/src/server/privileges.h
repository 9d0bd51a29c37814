// Local accounts and giving up root for good: how tessera-sshd's processes
// become the account they run as (the session process becomes the user who
// logged in, the pre-auth child the unprivileged "sshd" account).
//
// A drop is permanent and checked: after it the real, effective and saved
// ids are all the target's, the supplementary groups are exactly the ones
// asked for, no capability is left, and trying to get uid 0 or gid 0 back
// fails. Anything else is an error, and the caller must then exit at once:
// the process's credentials are in an unknown state.
//
// The process is left non-dumpable (PR_SET_DUMPABLE 0) whatever the
// fs.suid_dumpable sysctl says. The kernel already clears the flag when the
// credentials change and the sysctl is 0 (its default), but an admin may set
// it to 1. A dropped process still holds secrets of its connection (the
// transport's keys) and the socket to the monitor, and it runs as an account
// that other processes also run as: the user's shell and programs, or every
// other connection's pre-auth child. Non-dumpable keeps them from attaching
// to it with ptrace or reading /proc/PID/mem, and makes no core file. A
// program the session process later executes (the user's shell) is dumpable
// again as usual: execve resets the flag for a program that is not set-id.
#ifndef TESSERA_SSH_SERVER_PRIVILEGES_H_
#define TESSERA_SSH_SERVER_PRIVILEGES_H_

#include <sys/types.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"

namespace tessera::ssh::server {

// A local account as the password database (NSS) has it.
struct UserIdentity {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // the primary group
  std::string home;
  std::string shell;
  std::string gecos;
};

// Account names longer than this are refused before any lookup (Linux
// useradd allows 32 bytes; NSS backends may allow more).
inline constexpr size_t kMaxUserNameBytes = 256;

// Looks `name` up in the password database (getpwnam_r). kInvalidArgument
// when there is no such account or the name cannot be one (empty, longer than
// kMaxUserNameBytes, or holding a NUL byte); kIo when the lookup itself fails
// (an NSS backend's error), with the system's reason.
key::Result<UserIdentity> lookup_user(std::string_view name);

// The supplementary groups `user` has by the group database, its primary
// group included (getgrouplist). kIo when the lookup fails.
key::Result<std::vector<gid_t>> user_groups(const UserIdentity& user);

// Becomes `user` for good, with the supplementary groups the group database
// gives it (as initgroups(3) would set them), then setresgid and setresuid
// to its gid and uid, then the checks above. Needs root: kInvalidArgument
// otherwise. kIo when a call fails or a check finds the drop incomplete; the
// message names what is wrong. After an error the caller must exit.
key::Status drop_to_user(const UserIdentity& user);

// As drop_to_user, with exactly `groups` as the supplementary groups (empty:
// none). The pre-auth child passes only its account's own group: it has no
// business with any other, and the group database cannot be read any more
// once it is in its chroot.
key::Status drop_to_user_with_groups(const UserIdentity& user, std::span<const gid_t> groups);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_PRIVILEGES_H_
