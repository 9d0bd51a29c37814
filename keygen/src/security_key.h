// FIDO security keys in tessera-keygen, as ssh-keygen 9.2: enrolment for
// -t ed25519-sk / ecdsa-sk with its -O options, and -K (resident keys, in
// run_download_resident_keys). The authenticator is reached only through
// tessera-sk-helper and the middleware -w names (else $SSH_SK_PROVIDER,
// else tessera's own on libfido2).
#ifndef TESSERA_KEYGEN_SECURITY_KEY_H_
#define TESSERA_KEYGEN_SECURITY_KEY_H_

#include <optional>
#include <string>

#include "options.h"
#include "tessera/key/key.h"

namespace tessera::keygen {

struct EnrolledKey {
  key::PrivateKey key;
  key::Bytes attestation;                       // ssh-sk-attest-v01
  std::optional<std::string> attestation_file;  // -O write-attestation=
};

// Makes a credential of `type` (an sk-* type) on the authenticator, asking
// for its PIN when it wants one (three tries) and whether to replace a
// resident credential that exists. Failures carry ssh-keygen's message and
// exit status (fatal_failure), to print with report_failure.
key::Result<EnrolledKey> enroll_security_key(const Options& options, key::KeyType type);

// Writes the attestation where -O write-attestation= said (nothing without
// it), as ssh-keygen does once the key files are saved.
key::Status save_attestation(const EnrolledKey& enrolled, bool quiet);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_SECURITY_KEY_H_
