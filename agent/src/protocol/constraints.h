// Key constraints of ADD_ID_CONSTRAINED and ADD_SMARTCARD_KEY_CONSTRAINED,
// encoded as OpenSSH's authfd.c writes them and checked as its ssh-agent.c
// reads them. Internal to the protocol codec.
#ifndef TESSERA_AGENT_PROTOCOL_CONSTRAINTS_H_
#define TESSERA_AGENT_PROTOCOL_CONSTRAINTS_H_

#include "tessera/agent/protocol.h"

namespace tessera::agent::detail {

enum class ConstraintContext : uint8_t {
  kIdentity,   // file-based keys: sk-provider allowed, associated-certs not
  kSmartcard,  // provider keys: associated-certs allowed, sk-provider not
};

// Reads constraints until the reader is empty. Unknown constraint types and
// extensions and the XMSS maxsign constraint are kUnsupported; a constraint
// given twice, or one not valid in this context, is kMalformed.
Status parse_constraints(key::Reader& in, ConstraintContext context, Constraints& out);

// Writes lifetime, confirm, sk-provider, restrict-destination and
// associated-certs in that order (authfd.c's order); nothing for an empty set.
void serialize_constraints(const Constraints& constraints, key::Writer& out);

}  // namespace tessera::agent::detail

#endif  // TESSERA_AGENT_PROTOCOL_CONSTRAINTS_H_
