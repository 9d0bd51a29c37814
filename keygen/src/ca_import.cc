// --import-log: moves a file store (an --issuance-log and, with -s, the CA's
// --serial-file) into the --ca-store database, so that a CA that issued from
// one host goes on from a fleet's database without reusing a serial:
//   tessera-keygen --ca-store DB --import-log LOG [-s CA.pub --serial-file STATE]
// Idempotent: records already in the database are skipped (ca_store_pg.h).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "ca_store_pg.h"
#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "serial_state.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"

namespace tessera::keygen {
namespace {

// Longest serial state file read (it holds a comment and one number).
constexpr std::streamsize kMaxStateBytes = 4096;

key::Result<ImportedSerialState> read_state(const Options& o) {
  TESSERA_ASSIGN_OR_RETURN(const std::string ca_path, expanded_path(*o.ca_key));
  std::optional<PublicKeyWithComment> ca = load_public_key(ca_path);
  if (!ca) return fatal_failure("Cannot load CA public key " + ca_path + ": " + std::strerror(ENOENT));
  std::ifstream in(*o.serial_file, std::ios::binary);
  if (!in) {
    return fatal_failure("tessera-keygen: serial state " + *o.serial_file + ": " + std::strerror(errno) +
                         "; nothing imported");
  }
  std::string text(kMaxStateBytes, '\0');
  in.read(text.data(), kMaxStateBytes);
  text.resize(static_cast<size_t>(in.gcount()));
  auto next = parse_serial_state(text);
  if (!next.ok()) {
    return fatal_failure("tessera-keygen: serial state " + *o.serial_file + ": " + next.error().message() +
                         "; nothing imported");
  }
  return ImportedSerialState{.ca_fingerprint = key::fingerprint(ca->key, key::FingerprintHash::kSha256),
                             .ca_public_key = key::format_public_key_line(ca->key, ""),
                             .next_serial = *next};
}

}  // namespace

int run_import_log(const Options& o) {
  std::optional<ImportedSerialState> state;
  if (o.serial_file) {
    auto read = read_state(o);
    if (!read.ok()) return report_failure(read.error());
    state = std::move(*read);
  }
  auto summary = import_into_database(*o.ca_store, *o.import_log, state);
  if (!summary.ok()) return report_failure(summary.error());
  for (const std::string& problem : summary->problems) print_error("tessera-keygen: warning: " + problem);
  if (!o.quiet) {
    print_error("Imported " + std::to_string(summary->imported) + " record" + (summary->imported == 1 ? "" : "s") +
                " from " + *o.import_log + " (" + std::to_string(summary->already_present) +
                " already in the database); serial counters of " + std::to_string(summary->cas) + " CA" +
                (summary->cas == 1 ? "" : "s") + " moved past them");
  }
  return kExitOk;
}

}  // namespace tessera::keygen
