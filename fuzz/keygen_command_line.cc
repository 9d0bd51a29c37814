// Fuzzes tessera-keygen's command line (keygen/src/options.cc): the input is
// the arguments, separated by NUL bytes. Whatever they are, the parser
// answers with Options or a CommandLineError, never more; and what it accepts
// for the fleet CA (--ca-store, -z FIRST-LAST, --revoke-*) is consistent.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "options.h"

using namespace tessera::keygen;

namespace {
// More arguments than any real command line of the fuzzer's size needs.
constexpr size_t kMaxArguments = 64;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  // The parser blanks -N/-P/--ca-store values in argv: it gets writable copies.
  std::vector<std::string> args = {"tessera-keygen"};
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\0') {
      args.push_back(current);
      current.clear();
      if (args.size() > kMaxArguments) return 0;
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  if (!current.empty()) args.push_back(current);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto parsed = parse_command_line(static_cast<int>(args.size()), argv.data());
  // --help is answered before the other options are checked together.
  if (const auto* o = std::get_if<Options>(&parsed); o != nullptr && !o->show_help) {
    if (o->serial_range_given && (o->serial_range_first == 0 || o->serial_range_first > o->serial_range_last)) {
      __builtin_trap();
    }
    if (o->ca_store && o->ca_store->empty()) __builtin_trap();
    if (o->operation == Operation::kImportLog && (!o->ca_store || !o->import_log)) __builtin_trap();
    const bool database_revocations = !o->revoke_keys.empty() || !o->revoke_fingerprints.empty();
    if (database_revocations && (!o->ca_store || o->operation != Operation::kGenerateKrl)) __builtin_trap();
    if (o->operation == Operation::kCertify && o->ca_store && (o->serial_file || o->issuance_log)) __builtin_trap();
  }
  return 0;
}
