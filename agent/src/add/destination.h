// ssh-add's -h destination constraints: "[user@]host" or "from>to", with the
// host keys of each named host looked up in known_hosts files (-H).
#ifndef TESSERA_AGENT_ADD_DESTINATION_H_
#define TESSERA_AGENT_ADD_DESTINATION_H_

#include <string>
#include <vector>

#include "tessera/agent/protocol.h"

namespace tessera::add {

// The known_hosts files ssh-add reads when no -H is given.
std::vector<std::string> default_known_hosts_files();

// Parses one -h argument as ssh-add 9.2 does. Errors carry ssh-add's own
// message ("No host keys found for destination \"x\"").
key::Result<agent::DestinationConstraint> parse_destination_constraint(const std::string& spec,
                                                                       const std::vector<std::string>& hostkey_files);

}  // namespace tessera::add

#endif  // TESSERA_AGENT_ADD_DESTINATION_H_
