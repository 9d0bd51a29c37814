// What the monitor hands the session process it starts: the connection's
// transport state, the I/O settings, what the session may do, and the log
// level. One frame on the monitor socket; the session process runs as the
// user and checks it as it would any input.
#ifndef TESSERA_SSH_SSHD_SESSION_SETUP_H_
#define TESSERA_SSH_SSHD_SESSION_SETUP_H_

#include "io/server_connection.h"
#include "server/session_policy.h"
#include "sshd/sshd.h"
#include "tessera/key/error.h"
#include "tessera/key/secret.h"

namespace tessera::ssh::sshd {

struct SessionSetup {
  key::SecretBytes state;  // Transport::export_state()
  io::ServerIoConfig io;   // rekey and ClientAlive settings
  server::SessionPolicy policy;  // record_login is set by the session process
  Level log_level = Level::kInfo;

  key::SecretBytes serialize() const;
  static key::Result<SessionSetup> parse(std::span<const uint8_t> bytes);
};

}  // namespace tessera::ssh::sshd

#endif  // TESSERA_SSH_SSHD_SESSION_SETUP_H_
