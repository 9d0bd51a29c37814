// Account lookups and the permanent, checked drop from root.
#include "server/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

namespace tessera::ssh::server {
namespace {

using key::Errc;
using key::Error;

// getpwnam_r's buffer grows from the system's hint up to this; an entry
// larger than that is not an account anyone logs in to.
constexpr size_t kMaxPasswdEntryBytes = 1 << 20;
// getgrouplist's answer is capped at the kernel's limit (NGROUPS_MAX).
constexpr size_t kMaxGroups = 65536;

std::string errno_text(int error) { return std::strerror(error); }

Error sys_error(const UserIdentity& user, std::string_view call, int error) {
  return Error(Errc::kIo, "changing to user '" + user.name + "' (uid " + std::to_string(user.uid) + "): " +
                              std::string(call) + ": " + errno_text(error));
}

Error incomplete(const UserIdentity& user, const std::string& what) {
  return Error(Errc::kIo, "changing to user '" + user.name + "' (uid " + std::to_string(user.uid) +
                              ") did not hold: " + what + "; the process must not go on");
}

std::vector<gid_t> sorted_unique(std::span<const gid_t> groups) {
  std::vector<gid_t> out(groups.begin(), groups.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Whether the process holds any capability in its effective, permitted or
// inheritable sets (ambient ones need permitted ones, so they are covered).
key::Result<bool> holds_capabilities() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, data) != 0) {
    return Error(Errc::kIo, "capget: " + errno_text(errno));
  }
  for (const auto& word : data) {
    if (word.effective != 0 || word.permitted != 0 || word.inheritable != 0) return true;
  }
  return false;
}

// The checks that make a drop permanent; see privileges.h.
key::Status verify_dropped(const UserIdentity& user, std::span<const gid_t> groups) {
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0) return sys_error(user, "getresuid", errno);
  if (::getresgid(&rgid, &egid, &sgid) != 0) return sys_error(user, "getresgid", errno);
  if (ruid != user.uid || euid != user.uid || suid != user.uid) {
    return incomplete(user, "uids are " + std::to_string(ruid) + "/" + std::to_string(euid) + "/" +
                                std::to_string(suid) + " (real/effective/saved)");
  }
  if (rgid != user.gid || egid != user.gid || sgid != user.gid) {
    return incomplete(user, "gids are " + std::to_string(rgid) + "/" + std::to_string(egid) + "/" +
                                std::to_string(sgid) + " (real/effective/saved), not " + std::to_string(user.gid));
  }

  const int count = ::getgroups(0, nullptr);
  if (count < 0) return sys_error(user, "getgroups", errno);
  std::vector<gid_t> have(static_cast<size_t>(count));
  if (count > 0 && ::getgroups(count, have.data()) != count) return sys_error(user, "getgroups", errno);
  if (sorted_unique(have) != sorted_unique(groups)) {
    return incomplete(user, "supplementary groups are not the " + std::to_string(groups.size()) + " asked for");
  }

  if (user.uid != 0) {
    // Each of these must fail with EPERM; success would mean root is back.
    if (::setuid(0) == 0) return incomplete(user, "setuid(0) succeeded");
    if (::seteuid(0) == 0) return incomplete(user, "seteuid(0) succeeded");
    if (user.gid != 0) {
      if (::setgid(0) == 0) return incomplete(user, "setgid(0) succeeded");
      if (::setegid(0) == 0) return incomplete(user, "setegid(0) succeeded");
    }
    TESSERA_ASSIGN_OR_RETURN(bool caps, holds_capabilities());
    if (caps) return incomplete(user, "capabilities remain (securebits keep them?)");
  }

  const int dumpable = ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (dumpable != 0) return incomplete(user, "the process is still dumpable");
  return key::ok_status();
}

}  // namespace

key::Result<UserIdentity> lookup_user(std::string_view name) {
  if (name.empty()) return Error(Errc::kInvalidArgument, "empty user name");
  if (name.size() > kMaxUserNameBytes) {
    return Error(Errc::kInvalidArgument, "user name of " + std::to_string(name.size()) + " bytes is longer than " +
                                             std::to_string(kMaxUserNameBytes));
  }
  if (name.find('\0') != std::string_view::npos) {
    return Error(Errc::kInvalidArgument, "user name holds a NUL byte");
  }
  const std::string cname(name);
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  size_t size = hint > 0 ? static_cast<size_t>(hint) : 16384;
  for (;;) {
    std::string buffer(size, '\0');
    passwd entry{};
    passwd* found = nullptr;
    const int rc = ::getpwnam_r(cname.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && size < kMaxPasswdEntryBytes) {
      size = std::min(size * 2, kMaxPasswdEntryBytes);
      continue;
    }
    // "Not found" is 0 with no entry, or one of the codes getpwnam_r(3)
    // lists for it, depending on the NSS backend.
    if (found == nullptr && (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM)) {
      return Error(Errc::kInvalidArgument, "no such user '" + cname + "'");
    }
    if (rc != 0 || found == nullptr) {
      return Error(Errc::kIo, "looking up user '" + cname + "': " + errno_text(rc));
    }
    UserIdentity user;
    user.name = found->pw_name != nullptr ? found->pw_name : cname;
    user.uid = found->pw_uid;
    user.gid = found->pw_gid;
    user.home = found->pw_dir != nullptr ? found->pw_dir : "";
    user.shell = found->pw_shell != nullptr ? found->pw_shell : "";
    user.gecos = found->pw_gecos != nullptr ? found->pw_gecos : "";
    return user;
  }
}

key::Result<std::vector<gid_t>> user_groups(const UserIdentity& user) {
  if (user.name.empty() || user.name.find('\0') != std::string::npos) {
    return Error(Errc::kInvalidArgument, "groups of an account with no valid name");
  }
  std::vector<gid_t> groups(32);
  for (;;) {
    int count = static_cast<int>(groups.size());
    if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) >= 0) {
      groups.resize(static_cast<size_t>(count));
      return groups;
    }
    // -1 with count raised to the number needed; anything else is a failure.
    if (count <= static_cast<int>(groups.size()) || static_cast<size_t>(count) > kMaxGroups) {
      return Error(Errc::kIo, "looking up the groups of user '" + user.name + "' failed");
    }
    groups.resize(static_cast<size_t>(count));
  }
}

key::Status drop_to_user_with_groups(const UserIdentity& user, std::span<const gid_t> groups) {
  if (::geteuid() != 0) {
    return Error(Errc::kInvalidArgument, "changing to user '" + user.name + "' needs root (running as uid " +
                                             std::to_string(::geteuid()) + ")");
  }
  if (groups.size() > kMaxGroups) {
    return Error(Errc::kInvalidArgument, "user '" + user.name + "' is in " + std::to_string(groups.size()) +
                                             " groups, more than the kernel allows");
  }
  // Groups first, while root may still set them; then gid, then uid (after
  // which nothing else can be changed).
  if (::setgroups(groups.size(), groups.empty() ? nullptr : groups.data()) != 0) {
    return sys_error(user, "setgroups", errno);
  }
  if (::setresgid(user.gid, user.gid, user.gid) != 0) return sys_error(user, "setresgid", errno);
  if (::setresuid(user.uid, user.uid, user.uid) != 0) return sys_error(user, "setresuid", errno);
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return sys_error(user, "prctl(PR_SET_DUMPABLE)", errno);
  return verify_dropped(user, groups);
}

key::Status drop_to_user(const UserIdentity& user) {
  if (::geteuid() != 0) {
    return Error(Errc::kInvalidArgument, "changing to user '" + user.name + "' needs root (running as uid " +
                                             std::to_string(::geteuid()) + ")");
  }
  TESSERA_ASSIGN_OR_RETURN(std::vector<gid_t> groups, user_groups(user));
  return drop_to_user_with_groups(user, groups);
}

}  // namespace tessera::ssh::server
