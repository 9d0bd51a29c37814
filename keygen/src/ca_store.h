// Where a CA keeps what it has issued: the serial numbers it handed out and
// a record of every certificate. Two stores:
//   - files (the default): --serial-file / -z for serials, --issuance-log for
//     records, on one host (serial_state.h, issuance_log.h);
//   - a PostgreSQL database shared by a fleet of issuing hosts (--ca-store,
//     ca_store_pg.h).
// Whatever the store, a certificate file is written only after the store has
// recorded the certificate durably, so that every certificate that can have
// reached its holder is on record; a crash may leave a serial unused, never
// one issued twice.
#ifndef TESSERA_KEYGEN_CA_STORE_H_
#define TESSERA_KEYGEN_CA_STORE_H_

#include <functional>
#include <optional>
#include <span>
#include <string>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"

namespace tessera::keygen {

// One certificate of a run, from its key file to its -cert.pub.
struct CertificateToIssue {
  std::string path;                    // the key file, ~ expanded
  std::optional<std::string> comment;  // the key file's comment, kept in the certificate file
  key::Certificate cert;               // serial 0 until the store gives it one
  key::Status signed_ok;               // set by the signing step
  std::optional<std::string> refused;  // set by a store that could give it no serial: why (not signed then)
};

// "<path without .pub>-cert.pub": where the certificate of a key file goes.
std::string certificate_path(const std::string& key_path);

// Signs the certificates of a batch in place, setting each signed_ok.
using SignBatch = std::function<void(std::span<CertificateToIssue>)>;

class CaStore {
 public:
  virtual ~CaStore() = default;

  // Gives every certificate of the batch its serial, has `sign` sign them,
  // and records durably each one that was signed, up to the first whose
  // signed_ok is an error. When it returns ok, those recorded certificates
  // may be written; a certificate the store could not give a serial to
  // (the serial space ran out) is not signed and says why in `refused`. An error return means that no certificate of the
  // batch may be written (its message says why and what to do).
  virtual key::Status issue(std::span<CertificateToIssue> batch, const SignBatch& sign) = 0;

  // Ends the run: gives back serials reserved and not used, where the store
  // can, and closes what it holds open.
  virtual key::Status finish() = 0;
};

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_CA_STORE_H_
