// --ca-store: a fleet CA's serial numbers, issuance records and revocations
// in one PostgreSQL database, shared by every host that issues for the CA
// (docs/ca.md, "A CA for a fleet").
//
// The tool creates and migrates its tables itself (tessera_schema_version
// holds the version; a database of a newer version is refused). Several CAs
// share one database, each known by its key's SHA256 fingerprint.
//
// Issuing takes one transaction per batch of certificates: the CA's counter
// row is locked and advanced (SELECT ... FOR UPDATE, UPDATE), the
// certificates are signed with their serials, their records are inserted,
// and the transaction commits; only then are the certificate files written.
// A crash or a lost connection before COMMIT rolls everything back (the
// counter too); after it, the records exist and at worst a file is missing.
// So a serial is never issued twice and no certificate exists without its
// record. Serialization failures and deadlocks are retried (kMaxAttempts).
//
// Errors name the database (host, port, database, user; never the password)
// and say what to do. libpq is linked into tessera-keygen only: this file's
// functions live outside keygencore.
#ifndef TESSERA_KEYGEN_CA_STORE_PG_H_
#define TESSERA_KEYGEN_CA_STORE_PG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ca_store.h"
#include "tessera/key/error.h"
#include "tessera/key/key.h"

namespace tessera::keygen {

// The schema version this tessera-keygen creates and understands.
inline constexpr int kCaStoreSchemaVersion = 1;

// The serials a run may take from its CA's counter (-z FIRST-LAST).
struct DatabaseSerialRange {
  uint64_t first = 1;
  uint64_t last = UINT64_MAX;
};

// Connects to the database named by `conninfo` (a libpq connection string;
// passwords may also come from PGPASSWORD or ~/.pgpass), creates or migrates
// the schema, and registers the CA (a new CA's serials start at 1, which it
// says on stderr). Errors: the database unreachable, a schema newer than
// kCaStoreSchemaVersion, a CA whose counter is past `range`.
key::Result<std::unique_ptr<CaStore>> open_database_ca_store(const std::string& conninfo, const key::PublicKey& ca,
                                                             DatabaseSerialRange range);

// One revocation as the database keeps it.
struct DatabaseRevocation {
  enum class Kind : uint8_t {
    kSerial,  // the CA's certificate with this serial
    kKeyId,   // every certificate of the CA with this key ID
    kKey,     // a key outright (`text`: its public key line, "type base64")
    kSha256,  // a key by its SHA256 fingerprint (`text`: "SHA256:...")
  };
  Kind kind = Kind::kSerial;
  uint64_t serial = 0;  // kSerial
  std::string text;     // kKeyId, kKey, kSha256
};

// In one transaction: records `requests` for the CA (with who revoked and
// why; one already recorded is not recorded twice) and returns every
// revocation the database holds for the CA, for its KRL. A serial the
// database records no certificate of (for this CA) is refused and nothing is
// recorded.
key::Result<std::vector<DatabaseRevocation>> revoke_in_database(const std::string& conninfo,
                                                                const key::PublicKey& ca,
                                                                std::span<const DatabaseRevocation> requests,
                                                                const std::string& revoked_by,
                                                                const std::string& reason);

// What --import-log did.
struct ImportSummary {
  size_t imported = 0;         // records added
  size_t already_present = 0;  // records the database held already (an earlier import)
  size_t cas = 0;              // CAs whose counters were moved past their imported serials
  std::vector<std::string> problems;  // lines of the log that are not records, skipped
};

// The serial state of one CA (--serial-file with -s): its next free serial.
struct ImportedSerialState {
  std::string ca_fingerprint;
  std::string ca_public_key;  // the CA's key line
  uint64_t next_serial = 1;
};

// Imports an issuance log (and a serial state) in one transaction. Idempotent:
// a record already in the database (same CA, serial, key ID, key fingerprint
// and time of issue) is skipped, so a log imported again, or after it grew,
// adds only what is new. Every CA's counter is moved above the highest
// serial the log records for it and the state's next serial.
key::Result<ImportSummary> import_into_database(const std::string& conninfo, const std::string& log_path,
                                                const std::optional<ImportedSerialState>& state);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_CA_STORE_PG_H_
