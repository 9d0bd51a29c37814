// Session binding (session-bind@openssh.com) and destination constraints
// (restrict-destination-v00@openssh.com), enforced with the same rules as
// OpenSSH's ssh-agent: a key restricted to destinations may only be listed
// and used on connections whose recorded hops its constraints allow.
//
// Pure logic: no sockets, no clock except through `now` parameters.
#ifndef TESSERA_AGENT_DAEMON_DESTINATION_H_
#define TESSERA_AGENT_DAEMON_DESTINATION_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tessera/agent/protocol.h"

namespace tessera::agent::daemon {

// Most bindings one connection may record, and the longest session id (as OpenSSH).
inline constexpr size_t kMaxSessionBindings = 16;
inline constexpr size_t kMaxSessionIdBytes = 128;

struct SessionBinding {
  key::PublicKey host_key;                           // the certified key when host_certificate is set
  std::optional<key::Certificate> host_certificate;  // when the server presented a host certificate
  Bytes session_id;
  bool forwarding = false;
};

// The bindings recorded on one agent connection, oldest (nearest hop) first.
class ConnectionBindings {
 public:
  // Verifies the host key's signature over the session id and records the
  // binding. Refuses (with a reason) a bad signature, an over-long session
  // id, too many bindings, a conflicting duplicate, or binding after the
  // connection was bound for authentication. An identical repeat is accepted.
  // Any attempt, good or bad, marks the connection as having tried to bind.
  Status bind(const SessionBind& request);

  bool bind_attempted() const { return bind_attempted_; }
  const std::vector<SessionBinding>& hops() const { return hops_; }

 private:
  std::vector<SessionBinding> hops_;
  bool bind_attempted_ = false;
};

// Whether a key with these destination constraints is listed on this
// connection (OpenSSH hides keys that could not be used from here).
// Unconstrained keys (empty list) are always visible.
bool identity_visible(const std::vector<DestinationConstraint>& constraints, const ConnectionBindings& bindings,
                      uint64_t now);

// Whether a sign request over `data` may use a key with these constraints on
// this connection. `identity_blob` is the public key (or certificate) blob the
// request names. For a constrained key, data must be an SSH userauth request
// (publickey or publickey-hostbound-v00@openssh.com) for that key, whose
// session id is the connection's most recent binding. On success,
// `description` (if not null) gets a text for a confirmation prompt, e.g.
// "public key authentication request for user \"bob\" to listed host".
// `now` (seconds since the epoch) is used to check host certificates of CA hop keys.
Status sign_permitted(const std::vector<DestinationConstraint>& constraints, const ConnectionBindings& bindings,
                      std::span<const uint8_t> identity_blob, std::span<const uint8_t> data, uint64_t now,
                      std::string* description);

// Whether `data` is an SSH publickey userauth request (plain or hostbound)
// for the key `identity_blob` names: what a security key whose application
// is not "ssh:" may sign (anything else could be a web sign-in challenge).
bool is_userauth_request(std::span<const uint8_t> data, std::span<const uint8_t> identity_blob);

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_DESTINATION_H_
