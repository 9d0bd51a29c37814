// Who is on the other end of an agent connection: kernel-supplied
// credentials (SO_PEERCRED) and the executable of the connecting process.
#ifndef TESSERA_AGENT_DAEMON_PEER_H_
#define TESSERA_AGENT_DAEMON_PEER_H_

#include <sys/types.h>

#include <string>

#include "tessera/key/error.h"

namespace tessera::agent::daemon {

struct PeerInfo {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::string exe;  // /proc/PID/exe at connect time; empty if unreadable
};

// The credentials of a connected Unix socket's peer, as of connect(2).
// Fails (kIo) only if the kernel gives none.
key::Result<PeerInfo> peer_info(int fd);

// The executable path of a process, or "" if it cannot be read (gone, or
// not ours to inspect).
std::string process_executable(pid_t pid);

// The agent's rule (as ssh-agent): only our own uid, or root, may connect.
inline bool peer_uid_allowed(uid_t peer_uid, uid_t agent_uid) { return peer_uid == 0 || peer_uid == agent_uid; }

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_PEER_H_
