// -Y: SSH signatures (PROTOCOL.sshsig) as ssh-keygen 9.2 makes and checks
// them. libkey's sshsig.h does the work; these files are the command line
// around it: signature.cc (verify, check-novalidate, find-principals,
// match-principals) and signature_sign.cc (sign).
#ifndef TESSERA_KEYGEN_SIGNATURE_H_
#define TESSERA_KEYGEN_SIGNATURE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "options.h"
#include "tessera/key/sshsig.h"

namespace tessera::keygen {

// What -O says to a -Y operation, as ssh-keygen's sig_process_opts().
struct SignatureOptions {
  std::optional<std::string> hash_algorithm;  // hashalg=
  uint64_t verify_time = 0;                   // verify-time=, else now
  bool print_pubkey = false;                  // print-pubkey
};

// Which -O names the operation takes.
struct AcceptedSignatureOptions {
  bool hash_algorithm = false;
  bool verify_time = false;
  bool print_pubkey = false;
};

// nullopt, after printing ssh-keygen's message ("Invalid option \"...\""),
// for an option the operation does not take or a bad verify-time.
std::optional<SignatureOptions> parse_signature_options(const Options& options, AcceptedSignatureOptions accepted);

// -Y sign: signature_sign.cc.
int run_signature_sign(const Options& options);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_SIGNATURE_H_
