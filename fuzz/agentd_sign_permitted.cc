// Fuzzes tessera-agent's parse of the data of a sign request for a key with
// destination constraints (agent/src/daemon/destination.cc): an SSH userauth
// request (publickey or publickey-hostbound-v00@openssh.com) whose session
// id must be the connection's last binding, user and host keys checked
// against the constraints. The connection is bound to a fixed host key and
// session id; the input is the data to sign.
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "daemon/destination.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"

using namespace tessera;
using namespace tessera::agent;
using namespace tessera::agent::daemon;

namespace {

// Fixed keys, so that the seed corpus holds requests for them.
constexpr std::string_view kHostKey =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACD9HxLCygfRSg2n7hh/iaPbshBbQJkzMLksbrzdU0m65AAAAIiwKRPCsCkT\n"
    "wgAAAAtzc2gtZWQyNTUxOQAAACD9HxLCygfRSg2n7hh/iaPbshBbQJkzMLksbrzdU0m65A\n"
    "AAAEBA6zTsUOft08FOk452WgltO3VWhOTlvWbUb8QselXU+f0fEsLKB9FKDafuGH+Jo9uy\n"
    "EFtAmTMwuSxuvN1TSbrkAAAABGhvc3QB\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
constexpr std::string_view kUserKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH2KGjvNnes44Ih7WCV12srGqxc4bTmnTdC3wcMj5pSi user";

struct Setup {
  key::PrivateKey host = key::parse_openssh_private_key(kHostKey, key::SecretBytes())->key;
  key::PublicKey user = key::parse_public_key_line(kUserKey)->key;
  Bytes session_id = Bytes(32, 0x5a);
  ConnectionBindings bindings;
  std::vector<DestinationConstraint> constraints;

  Setup() {
    if (!bindings.bind(SessionBind{host.public_key(), std::nullopt, session_id, *host.sign(session_id), false}).ok()) {
      std::abort();  // the fuzzer's own set-up
    }
    constraints.push_back(
        DestinationConstraint{DestinationHop{}, DestinationHop{"al*", "server", {{host.public_key(), false}}}});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup setup;
  const Bytes blob = setup.user.blob();
  std::string description;
  auto permitted = sign_permitted(setup.constraints, setup.bindings, blob, std::span(data, size),
                                  static_cast<uint64_t>(std::time(nullptr)), &description);
  if (permitted.ok() && description.empty()) __builtin_trap();
  return 0;
}
