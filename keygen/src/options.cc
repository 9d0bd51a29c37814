#include "options.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

#include "output.h"

namespace tessera::keygen {
namespace {

// ssh-keygen 9.2's getopt string, split by what tessera-keygen does with each letter.
constexpr std::string_view kFlags = "BHKLQUXceghiklopquvy";         // implemented, no argument
constexpr std::string_view kArgumentOptions = "CDEFINOPRVZabfmnstwz";  // implemented, one argument
constexpr std::string_view kOtherFlags = "A";                        // ssh-keygen's, not implemented yet
constexpr std::string_view kOtherArgumentOptions = "MYr";

// Of kOtherArgumentOptions, -Y and -r are implemented: -r is the KRL of -Y
// verify, or else the host name of SSHFP records.
constexpr std::string_view kSignatureOptions = "Yr";

// tessera-keygen's own long options, each with one argument (--name VALUE or --name=VALUE).
constexpr std::string_view kSerialFileOption = "--serial-file";
constexpr std::string_view kNewSerialFileOption = "--new-serial-file";
constexpr std::string_view kIssuanceLogOption = "--issuance-log";
// Key revocation lists (-k, -Q).
constexpr std::string_view kSignKrlOption = "--sign-krl";
constexpr std::string_view kVerifyKrlOption = "--verify-krl";
constexpr std::string_view kRevokeFromLogOption = "--revoke-from-log";
constexpr std::string_view kRevokeIdOption = "--revoke-id";
constexpr std::string_view kRevokeSerialOption = "--revoke-serial";
// The fleet CA's database (--ca-store) and what goes into it.
constexpr std::string_view kCaStoreOption = "--ca-store";
constexpr std::string_view kImportLogOption = "--import-log";
constexpr std::string_view kRevokeKeyOption = "--revoke-key";
constexpr std::string_view kRevokeFingerprintOption = "--revoke-fingerprint";
constexpr std::string_view kRevokedByOption = "--revoked-by";
constexpr std::string_view kReasonOption = "--reason";
constexpr std::string_view kLongOptions[] = {
    kSerialFileOption,    kNewSerialFileOption, kIssuanceLogOption,       kSignKrlOption,    kVerifyKrlOption,
    kRevokeFromLogOption, kRevokeIdOption,      kRevokeSerialOption,      kCaStoreOption,    kImportLogOption,
    kRevokeKeyOption,     kRevokeFingerprintOption, kRevokedByOption,     kReasonOption};
// --ca-store env: the connection string comes from this variable, so that a
// password in it stays out of argv (and ps).
constexpr std::string_view kCaStoreEnvironmentValue = "env";
constexpr const char* kCaStoreEnvironmentVariable = "TESSERA_CA_STORE";

bool contains(std::string_view set, char c) { return set.find(c) != std::string_view::npos; }

// OpenBSD strtonum(3): the value, or why it is not one ("invalid", "too small", "too large").
struct Number {
  long long value = 0;
  const char* problem = nullptr;
};

Number strtonum(const char* text, long long min, long long max) {
  Number n;
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0') {
    n.problem = "invalid";
  } else if ((value == LLONG_MIN && errno == ERANGE) || value < min) {
    n.problem = "too small";
  } else if ((value == LLONG_MAX && errno == ERANGE) || value > max) {
    n.problem = "too large";
  } else {
    n.value = value;
  }
  return n;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// Copies a passphrase argument into wiped memory and blanks it in argv.
key::SecretBytes take_secret_argument(char* arg) {
  size_t len = std::strlen(arg);
  key::SecretBytes secret = key::SecretBytes::copy_of(std::string_view(arg, len));
  key::secure_wipe(arg, len);
  return secret;
}

// The mode flags seen; Options::operation is chosen from them at the end.
struct ModeFlags {
  bool fingerprint = false;
  bool change_passphrase = false;
  bool change_comment = false;
  bool export_key = false;
  bool import_key = false;
  bool print_public = false;
  bool show_certificate = false;
  bool gen_krl = false;    // -k
  bool check_krl = false;  // -Q
  bool download_resident = false;  // -K
};

CommandLineError usage_error(std::string message) { return {std::move(message), kExitFailure, true}; }
CommandLineError fatal_error(std::string message) { return {std::move(message), kExitFatal, false}; }

// -Y OPERATION: ssh-keygen compares prefixes ("signature" is "sign").
std::variant<Options, CommandLineError> choose_signature_operation(Options& o) {
  for (std::string_view name : {"find-principals", "match-principals", "sign", "check-novalidate", "verify"}) {
    if (o.signature_operation->starts_with(name)) {
      *o.signature_operation = std::string(name);
      o.operation = Operation::kSignature;
      return std::move(o);
    }
  }
  return usage_error("Unsupported operation for -Y: \"" + *o.signature_operation + "\"");
}

// Applies one option with its argument (nullptr for flags). Returns an error
// for a value ssh-keygen would refuse.
std::optional<CommandLineError> apply(Options& o, ModeFlags& modes, char opt, char* arg) {
  switch (opt) {
    case 'B': o.bubblebabble = true; break;
    case 'X':
    case 'i': modes.import_key = true; break;
    case 'c': modes.change_comment = true; break;
    case 'e': modes.export_key = true; break;
    case 'l': modes.fingerprint = true; break;
    case 'o': break;  // ssh-keygen: no-op, the new format is the default
    case 'p': modes.change_passphrase = true; break;
    case 'q': o.quiet = true; break;
    case 'v': ++o.verbosity; break;
    case 'y': modes.print_public = true; break;
    case 'L': modes.show_certificate = true; break;
    case 'k': modes.gen_krl = true; break;
    case 'Q': modes.check_krl = true; break;
    case 'u': o.update_krl = true; break;
    case 'U': o.ca_in_agent = true; break;
    case 'h':
      o.host_certificate = true;
      o.sections.clear_permissions();
      break;
    case 'D': o.pkcs11_provider = std::string(arg); break;
    case 'K': modes.download_resident = true; break;
    case 'w': o.sk_provider = std::string(arg); break;
    case 'I': o.key_id = std::string(arg); break;
    case 'n': o.principals = std::string(arg); break;
    case 'O': o.extra_options.emplace_back(arg); break;
    case 'Y': o.signature_operation = std::string(arg); break;
    case 'r':
      o.revocation_file = std::string(arg);
      o.host_name = std::string(arg);
      break;
    case 'F':
    case 'R':
      (opt == 'F' ? o.find_host : o.delete_host) = true;
      o.host_name = std::string(arg);
      break;
    case 'H': o.hash_hosts = true; break;
    case 'g': o.print_generic = true; break;
    case 's': o.ca_key = std::string(arg); break;
    case 'V': {
      auto validity = parse_validity(arg, std::time(nullptr));
      if (!validity.ok()) return fatal_error(validity.error().detail());
      o.validity = *validity;
      break;
    }
    case 'z': {
      std::string_view text = arg;
      // FIRST-LAST (for --ca-store): the serial range this run takes from the CA.
      if (size_t dash = text.find('-'); dash != std::string_view::npos && dash > 0) {
        auto bound = [](std::string_view digits) -> std::optional<uint64_t> {
          uint64_t v = 0;
          auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
          if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
          return v;
        };
        std::optional<uint64_t> first = bound(text.substr(0, dash)), last = bound(text.substr(dash + 1));
        if (!first || !last || *first == 0 || *first > *last) {
          return fatal_error("Invalid serial range \"" + std::string(text) +
                             "\" (FIRST-LAST, 1 <= FIRST <= LAST < 2^64, for --ca-store)");
        }
        o.serial_range_first = *first;
        o.serial_range_last = *last;
        o.serial_range_given = true;
        break;
      }
      if (text.starts_with('+')) {
        o.serial_increments = true;
        text.remove_prefix(1);
      }
      // As ssh-keygen: decimal digits only, no sign, no blanks, within 64 bits.
      std::string digits(text);
      errno = 0;
      char* end = nullptr;
      unsigned long long serial = std::strtoull(digits.c_str(), &end, 10);
      if (digits.empty() || digits[0] < '0' || digits[0] > '9' || *end != '\0' ||
          (errno == ERANGE && serial == ULLONG_MAX)) {
        return fatal_error("Invalid serial number \"" + digits + "\"");
      }
      o.serial = serial;
      o.serial_given = true;
      break;
    }
    case 'C': o.comment = std::string(arg); break;
    case 'E': {
      auto hash = key::parse_fingerprint_hash(arg);
      if (!hash.ok()) {
        std::string message = "Invalid hash algorithm \"" + std::string(arg) + "\"";
        // ssh-keygen also takes these; tessera's fingerprints are MD5 and SHA256 only.
        for (std::string_view other : {"sha1", "sha384", "sha512"}) {
          if (iequals(arg, other)) message += " (tessera-keygen supports md5 and sha256)";
        }
        return fatal_error(message);
      }
      o.fingerprint_hash = *hash;
      break;
    }
    case 'N': o.new_passphrase = take_secret_argument(arg); break;
    case 'P': o.passphrase = take_secret_argument(arg); break;
    case 'Z': {
      bool known = false;
      for (std::string_view name : key::supported_key_ciphers()) known = known || name == arg;
      if (!known) return fatal_error("Invalid OpenSSH-format cipher '" + std::string(arg) + "'");
      o.cipher = std::string(arg);
      break;
    }
    case 'a': {
      Number n = strtonum(arg, 1, INT_MAX);
      if (n.problem != nullptr) {
        return fatal_error("Invalid number: " + std::string(arg) + " (" + n.problem + ")");
      }
      o.kdf_rounds = static_cast<uint32_t>(n.value);
      break;
    }
    case 'b': {
      Number n = strtonum(arg, 1, UINT32_MAX);
      if (n.problem != nullptr) {
        return fatal_error("Bits has bad value " + std::string(arg) + " (" + n.problem + ")");
      }
      o.bits = static_cast<uint32_t>(n.value);
      break;
    }
    case 'f': o.file = std::string(arg); break;
    case 'm':
      if (iequals(arg, "RFC4716") || iequals(arg, "ssh2")) {
        o.format = KeyFormat::kRfc4716;
      } else if (iequals(arg, "PKCS8")) {
        o.format = KeyFormat::kPkcs8;
      } else if (iequals(arg, "PEM")) {
        o.format = KeyFormat::kPem;
      } else {
        return fatal_error("Unsupported conversion format \"" + std::string(arg) + "\"");
      }
      o.format_given = true;
      break;
    case 't': o.key_type_name = std::string(arg); break;
    default: break;
  }
  return std::nullopt;
}

// Applies one of tessera-keygen's long options (all take a value).
std::optional<CommandLineError> apply_long(Options& o, std::string_view name, const std::string& value) {
  const std::string option(name);
  if (name == kRevokeIdOption) {
    o.revoke_ids.push_back(value);
    return std::nullopt;
  }
  if (name == kRevokeSerialOption) {
    errno = 0;
    char* end = nullptr;
    unsigned long long serial = std::strtoull(value.c_str(), &end, 0);
    if (value.empty() || value[0] < '0' || value[0] > '9' || *end != '\0' || serial == 0 ||
        (errno == ERANGE && serial == ULLONG_MAX)) {
      return fatal_error("Invalid serial number \"" + value + "\" for " + option + " (1 to 2^64-1)");
    }
    o.revoke_serials.push_back(serial);
    return std::nullopt;
  }
  if (name == kRevokedByOption || name == kReasonOption) {
    (name == kRevokedByOption ? o.revoked_by : o.revoke_reason) = value;
    return std::nullopt;
  }
  if (name == kRevokeFingerprintOption) {
    if (!value.starts_with("SHA256:")) {
      return fatal_error("--revoke-fingerprint takes a key's SHA256 fingerprint (SHA256:..., as ssh-keygen -l "
                         "prints it), not \"" + value + "\"");
    }
    o.revoke_fingerprints.push_back(value);
    return std::nullopt;
  }
  if (name == kCaStoreOption) {
    if (value == kCaStoreEnvironmentValue) {
      const char* from_env = std::getenv(kCaStoreEnvironmentVariable);
      if (from_env == nullptr || *from_env == '\0') {
        return fatal_error(std::string("tessera-keygen: --ca-store env: $") + kCaStoreEnvironmentVariable +
                           " is not set: set it to the CA database's connection string (postgresql://...)");
      }
      o.ca_store = std::string(from_env);
      return std::nullopt;
    }
    if (!value.starts_with("postgresql://") && !value.starts_with("postgres://") &&
        value.find('=') == std::string::npos) {
      return usage_error("--ca-store takes a PostgreSQL connection string (postgresql://... or host=... dbname=...) "
                         "or \"env\" (the string in $TESSERA_CA_STORE)");
    }
    o.ca_store = value;
    return std::nullopt;
  }
  if (value.empty()) return usage_error("option " + option + " needs a file name");
  if (name == kImportLogOption) o.import_log = value;
  if (name == kRevokeKeyOption) o.revoke_keys.push_back(value);
  if (name == kSerialFileOption || name == kNewSerialFileOption) {  // the last one given counts
    o.serial_file = value;
    o.new_serial_file = name == kNewSerialFileOption;
  }
  if (name == kIssuanceLogOption) o.issuance_log = value;
  if (name == kSignKrlOption) o.krl_signing_key = value;
  if (name == kVerifyKrlOption) o.krl_verify_key = value;
  if (name == kRevokeFromLogOption) o.revoke_from_log = value;
  return std::nullopt;
}

// -k and -Q, which take precedence over -s (there the CA public key for
// "serial:" and "id:" lines) and every other mode but -Y.
std::variant<Options, CommandLineError> krl_operation(Options o, const ModeFlags& modes) {
  const bool generate = modes.gen_krl;
  auto misplaced = [](std::string_view option, std::string_view mode) {
    return usage_error(std::string(option) + " is for " + std::string(mode));
  };
  if (o.serial_file || o.issuance_log) {
    return misplaced(o.serial_file ? kSerialFileOption : kIssuanceLogOption, "signing certificates (-s)");
  }
  if (!generate) {
    if (o.krl_signing_key) return misplaced(kSignKrlOption, "making a KRL (-k)");
    if (o.revoke_from_log) return misplaced(kRevokeFromLogOption, "making a KRL (-k)");
    if (!o.revoke_ids.empty()) return misplaced(kRevokeIdOption, "making a KRL (-k)");
    if (!o.revoke_serials.empty()) return misplaced(kRevokeSerialOption, "making a KRL (-k)");
  }
  if (generate && o.krl_verify_key) return misplaced(kVerifyKrlOption, "checking a KRL (-Q)");
  if (o.import_log) return misplaced(kImportLogOption, "--ca-store, without -k or -Q");
  const bool database_revocations = !o.revoke_keys.empty() || !o.revoke_fingerprints.empty() || o.revoked_by ||
                                    o.revoke_reason;
  if (o.ca_store) {
    if (!generate) return misplaced(kCaStoreOption, "making a KRL (-k), signing (-s) and --import-log");
    if (!o.ca_key || strcasecmp(o.ca_key->c_str(), "none") == 0) {
      return usage_error("-k --ca-store needs the CA public key (-s) whose revocations the KRL holds");
    }
    if (o.update_krl || !o.files.empty() || o.revoke_from_log) {
      return usage_error("-k --ca-store writes the KRL from the database's revocations alone: add revocations with "
                         "--revoke-serial, --revoke-id, --revoke-key or --revoke-fingerprint (no -u, spec files or "
                         "--revoke-from-log)");
    }
    o.operation = Operation::kGenerateKrl;
    return o;
  }
  if (database_revocations) {
    return usage_error("--revoke-key, --revoke-fingerprint, --revoked-by and --reason record revocations in the "
                       "CA database: they need -k --ca-store");
  }
  if (o.revoke_from_log.has_value() != (!o.revoke_ids.empty() || !o.revoke_serials.empty())) {
    return usage_error(o.revoke_from_log ? "--revoke-from-log needs --revoke-id or --revoke-serial"
                                         : "--revoke-id and --revoke-serial need --revoke-from-log or --ca-store");
  }
  if (o.revoke_from_log && !o.ca_key) {
    return usage_error("--revoke-from-log needs the CA public key (-s) whose certificates the log records");
  }
  o.print_krl = modes.fingerprint;
  o.operation = generate ? Operation::kGenerateKrl : Operation::kQueryKrl;
  return o;
}

}  // namespace

key::OpensshKeyEncryption Options::encryption() const {
  key::OpensshKeyEncryption e;
  if (cipher) e.cipher = *cipher;
  if (kdf_rounds != 0) e.kdf_rounds = kdf_rounds;
  return e;
}

std::variant<Options, CommandLineError> parse_command_line(int argc, char** argv) {
  Options o;
  ModeFlags modes;
  std::string not_implemented;  // ssh-keygen flags tessera-keygen does not have yet

  int index = 1;
  for (; index < argc; ++index) {
    char* arg = argv[index];
    if (arg[0] != '-' || arg[1] == '\0') break;  // first operand
    if (std::strcmp(arg, "--") == 0) {
      ++index;
      break;
    }
    if (std::strcmp(arg, "--help") == 0) {
      o.show_help = true;
      continue;
    }
    if (std::string_view(arg).starts_with("--")) {
      std::string_view name = arg;
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string_view::npos) {
        value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
      }
      if (std::find(std::begin(kLongOptions), std::end(kLongOptions), name) == std::end(kLongOptions)) {
        return usage_error("unknown option " + std::string(name));
      }
      char* value_in_argv = arg + name.size() + 1;
      if (!value) {
        if (index + 1 >= argc) return usage_error("option " + std::string(name) + " requires an argument");
        value = std::string(argv[++index]);
        value_in_argv = argv[index];
      }
      // A connection string may hold a password: it no longer shows in ps(1).
      if (name == kCaStoreOption) key::secure_wipe(value_in_argv, std::strlen(value_in_argv));
      if (auto error = apply_long(o, name, *value)) return *error;
      continue;
    }
    for (size_t pos = 1; arg[pos] != '\0'; ++pos) {
      char opt = arg[pos];
      bool takes_argument = contains(kArgumentOptions, opt) || contains(kOtherArgumentOptions, opt);
      if (!takes_argument && !contains(kFlags, opt) && !contains(kOtherFlags, opt)) {
        return usage_error(std::string("unknown option -- ") + opt);
      }
      char* value = nullptr;
      if (takes_argument) {
        if (arg[pos + 1] != '\0') {
          value = arg + pos + 1;
        } else if (index + 1 < argc) {
          value = argv[++index];
        } else {
          return usage_error(std::string("option requires an argument -- ") + opt);
        }
      }
      if ((contains(kOtherFlags, opt) || contains(kOtherArgumentOptions, opt)) && !contains(kSignatureOptions, opt)) {
        if (not_implemented.empty()) not_implemented = std::string("-") + opt;
      } else if (auto error = apply(o, modes, opt, value)) {
        return *error;
      }
      if (takes_argument) break;  // the rest of this argument was the value
    }
  }
  if (o.show_help) return o;
  if (!not_implemented.empty()) {
    return CommandLineError{"tessera-keygen: " + not_implemented +
                                " is an ssh-keygen option that tessera-keygen does not implement yet "
                                "(see tessera-keygen --help)",
                            kExitFailure, false};
  }
  // -Y comes first, as in ssh-keygen's main(): the other mode flags and the
  // operand checks below do not apply to it.
  if (o.signature_operation) {
    if (o.ca_store || o.import_log || !o.revoke_keys.empty() || !o.revoke_fingerprints.empty() || o.revoked_by ||
        o.revoke_reason) {
      return usage_error("--ca-store, --import-log, --revoke-key, --revoke-fingerprint, --revoked-by and --reason "
                         "are not for signatures (-Y)");
    }
    o.files.assign(argv + index, argv + argc);
    return choose_signature_operation(o);
  }
  const bool krl_mode = modes.gen_krl || modes.check_krl;
  if ((!o.revoke_keys.empty() || !o.revoke_fingerprints.empty() || o.revoked_by || o.revoke_reason) &&
      !(modes.gen_krl && o.ca_store)) {
    return usage_error("--revoke-key, --revoke-fingerprint, --revoked-by and --reason record revocations in the "
                       "CA database: they need -k --ca-store");
  }
  if (o.import_log && !krl_mode) {
    if (o.krl_signing_key || o.krl_verify_key || o.revoke_from_log || !o.revoke_ids.empty() ||
        !o.revoke_serials.empty() || o.issuance_log) {
      return usage_error("--import-log takes --ca-store, and -s with --serial-file, alone");
    }
    if (!o.ca_store) return usage_error("--import-log moves an issuance log into the CA database: it needs --ca-store");
    if (index < argc) return usage_error("Too many arguments.");
    if (o.serial_file && !o.ca_key) {
      return usage_error("--import-log with --serial-file needs the CA public key (-s) whose serial state it is");
    }
    if (o.new_serial_file) return usage_error("--import-log reads an existing --serial-file");
    o.operation = Operation::kImportLog;
    return o;
  }
  if (o.ca_key) {
    if (index >= argc && !modes.gen_krl) return usage_error("Too few arguments.");
    o.files.assign(argv + index, argv + argc);
  } else if (index < argc && !krl_mode) {
    return usage_error("Too many arguments.");
  }
  if (modes.change_passphrase && modes.change_comment) return usage_error("Can only have one of -p and -c.");
  if (modes.fingerprint && (o.delete_host || o.hash_hosts)) return usage_error("Cannot use -l with -H or -R.");
  if (krl_mode) {
    o.files.assign(argv + index, argv + argc);
    return krl_operation(std::move(o), modes);
  }
  if (o.krl_signing_key || o.krl_verify_key || o.revoke_from_log || !o.revoke_ids.empty() ||
      !o.revoke_serials.empty()) {
    return usage_error("--sign-krl, --verify-krl and --revoke-* are for key revocation lists (-k, -Q)");
  }
  if (!o.revoke_keys.empty() || !o.revoke_fingerprints.empty() || o.revoked_by || o.revoke_reason) {
    return usage_error("--revoke-key, --revoke-fingerprint, --revoked-by and --reason are for -k --ca-store");
  }
  if (o.ca_store && !o.ca_key) {
    return usage_error("--ca-store is for signing certificates (-s), making a KRL (-k) and --import-log");
  }
  if (!o.ca_key && (o.serial_file || o.issuance_log)) {
    return usage_error(std::string(o.serial_file ? kSerialFileOption : kIssuanceLogOption) +
                       " is for signing certificates (-s)");
  }

  if (o.ca_key) {
    if (!o.key_id) return fatal_error("Must specify key id (-I) when certifying");
    for (const std::string& cert_option : o.extra_options) {
      if (auto applied = o.sections.apply(cert_option); !applied.ok()) return fatal_error(applied.error().detail());
    }
    if (o.serial_file && o.serial_given) {
      return fatal_error("tessera-keygen: -z and --serial-file both choose serial numbers: give one of them");
    }
    if (o.ca_store && (o.serial_file || o.issuance_log)) {
      return fatal_error("tessera-keygen: --ca-store keeps serials and issuance records in the database: "
                         "--serial-file and --issuance-log are for the file store (import them once with "
                         "--import-log)");
    }
    if (o.ca_store && o.serial_given) {
      return fatal_error("tessera-keygen: with --ca-store the database chooses serial numbers; -z FIRST-LAST "
                         "limits them to a range");
    }
    if (o.serial_range_given && !o.ca_store) {
      return fatal_error("tessera-keygen: -z FIRST-LAST is for --ca-store; without it, -z N or -z +N");
    }
    o.operation = Operation::kCertify;
  } else if (modes.show_certificate) {
    o.operation = Operation::kShowCertificate;
  } else if (o.find_host || o.delete_host || o.hash_hosts) {
    o.print_fingerprint = modes.fingerprint;
    o.operation = Operation::kKnownHosts;
  } else if (o.pkcs11_provider) {
    if (modes.fingerprint || o.bubblebabble) {
      return CommandLineError{"tessera-keygen: -l/-B with -D is not implemented yet: run "
                              "tessera-keygen -D PROVIDER | tessera-keygen -l -f -",
                              kExitFailure, false};
    }
    o.operation = Operation::kListTokenKeys;
  } else if (modes.download_resident) {
    o.operation = Operation::kDownloadResidentKeys;
  } else if (modes.fingerprint || o.bubblebabble) {
    o.operation = Operation::kFingerprint;
  } else if (modes.change_passphrase) {
    o.operation = Operation::kChangePassphrase;
  } else if (modes.change_comment) {
    o.operation = Operation::kChangeComment;
  } else if (modes.export_key) {
    o.operation = Operation::kExport;
  } else if (modes.import_key) {
    o.operation = Operation::kImport;
  } else if (modes.print_public) {
    o.operation = Operation::kPrintPublic;
  } else if (o.host_name) {
    o.operation = Operation::kPrintResourceRecord;
  } else {
    o.operation = Operation::kGenerate;
  }
  return o;
}

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: tessera-keygen [-q] [-a rounds] [-b bits] [-C comment] [-f output_keyfile]\n"
      "                      [-m format] [-N new_passphrase] [-O option] [-P passphrase]\n"
      "                      [-t ecdsa | ecdsa-sk | ed25519 | ed25519-sk | rsa]\n"
      "                      [-w provider] [-Z cipher]\n"
      "       tessera-keygen -p [-a rounds] [-f keyfile] [-m format] [-N new_passphrase]\n"
      "                       [-P old_passphrase] [-Z cipher]\n"
      "       tessera-keygen -i [-f input_keyfile] [-m key_format]\n"
      "       tessera-keygen -e [-f input_keyfile] [-m key_format] [-P passphrase]\n"
      "       tessera-keygen -y [-f input_keyfile] [-P passphrase]\n"
      "       tessera-keygen -c [-a rounds] [-C comment] [-f keyfile] [-P passphrase]\n"
      "       tessera-keygen -l [-v] [-E fingerprint_hash] [-f input_keyfile]\n"
      "       tessera-keygen -B [-f input_keyfile]\n"
      "       tessera-keygen -I certificate_identity -s ca_key [-hU] [-D pkcs11_provider]\n"
      "                      [-n principals] [-O option] [-V validity_interval]\n"
      "                      [-z serial_number] [--[new-]serial-file path] [--issuance-log path]\n"
      "                      [--ca-store conninfo|env [-z first-last]] file ...\n"
      "       tessera-keygen --ca-store conninfo|env --import-log log [-s ca_public --serial-file path]\n"
      "       tessera-keygen -L [-f input_keyfile]\n"
      "       tessera-keygen -k -f krl_file [-u] [-s ca_public] [-z version_number]\n"
      "                      [--sign-krl ca_key] [--revoke-from-log log\n"
      "                      --revoke-id key_id | --revoke-serial serial ...] file ...\n"
      "       tessera-keygen -k -f krl_file -s ca_public --ca-store conninfo|env [--sign-krl ca_key]\n"
      "                      [--revoke-serial serial] [--revoke-id key_id] [--revoke-key file]\n"
      "                      [--revoke-fingerprint SHA256:...] [--revoked-by who] [--reason text]\n"
      "       tessera-keygen -Q [-l] -f krl_file [--verify-krl ca_public] [file ...]\n"
      "       tessera-keygen -D pkcs11_provider\n"
      "       tessera-keygen -K [-a rounds] [-w provider]\n"
      "       tessera-keygen -F hostname [-lv] [-f known_hosts_file]\n"
      "       tessera-keygen -H [-f known_hosts_file]\n"
      "       tessera-keygen -R hostname [-f known_hosts_file]\n"
      "       tessera-keygen -r hostname [-g] [-f input_keyfile]\n"
      "       tessera-keygen -Y find-principals -s signature_file -f allowed_signers_file\n"
      "       tessera-keygen -Y match-principals -I signer_identity -f allowed_signers_file\n"
      "       tessera-keygen -Y check-novalidate -n namespace -s signature_file\n"
      "       tessera-keygen -Y sign -f key_file -n namespace [-U | -D pkcs11_provider]\n"
      "                      [-O option] file ...\n"
      "       tessera-keygen -Y verify -f allowed_signers_file -I signer_identity\n"
      "                      -n namespace -s signature_file [-r krl_file] [-O option]\n"
      "       tessera-keygen --help\n",
      out);
}

void print_help(std::FILE* out) {
  print_usage(out);
  std::fputs(
      "\n"
      "tessera-keygen creates, converts and inspects SSH keys; it accepts\n"
      "ssh-keygen's flags for these modes, with the same output and exit codes.\n"
      "\n"
      "Modes (without one, a new key pair is generated):\n"
      "  -l         show the fingerprint of each key in a public, private,\n"
      "             authorized_keys, known_hosts or RFC 4716 file (-f - reads stdin)\n"
      "  -B         show the bubblebabble digest instead of the fingerprint\n"
      "  -y         read a private key file and print its public key line\n"
      "  -p         change the passphrase of a private key file (with -m, -Z, -a:\n"
      "             rewrite it in that format, cipher or KDF rounds)\n"
      "  -c         change the comment of a private key file and its .pub file\n"
      "  -e         export a key as RFC 4716 (default), PKCS8 or PEM public key\n"
      "  -i         import an RFC 4716, PKCS8 or PEM public key as an OpenSSH line\n"
      "  -s ca_key  sign each public key file with the CA key: writes <name>-cert.pub\n"
      "  -L         print the certificates in a file (-f) as ssh-keygen -L does\n"
      "  -k         write the key revocation list -f from revocation spec files\n"
      "             (\"-\" reads stdin); with -u add to the existing KRL\n"
      "  -Q         check public key and certificate files against the KRL -f:\n"
      "             \"<file> (<comment>): ok\" or \"REVOKED\", exit 1 if any is revoked;\n"
      "             with -l first print the KRL\n"
      "  -D provider  list the public keys on a PKCS#11 token, one key line each;\n"
      "             the provider is named as for -s ... -D below\n"
      "  -K         save the resident keys of a FIDO authenticator (its PIN is asked)\n"
      "             as id_<type>_rk[_<application>][_<user>] in the current directory\n"
      "  -Y op      SSH signatures (see \"Signatures\" below)\n"
      "  -F host    print the known_hosts lines for host (-f file, default\n"
      "             ~/.ssh/known_hosts), each after \"# Host host found: line N\";\n"
      "             with -H hashed, with -l as fingerprints; exit 1 if none\n"
      "  -H         hash the host names of the known_hosts file -f; FILE.old keeps\n"
      "             the original\n"
      "  -R host    remove the host's lines from the known_hosts file -f (not\n"
      "             @cert-authority or @revoked lines); FILE.old keeps the original\n"
      "  -r host    print SSHFP DNS records for the public key -f (default: the\n"
      "             host keys in /etc/ssh); -g in the generic (RFC 3597) form\n"
      "\n"
      "Options:\n"
      "  -t type    key type to generate: ed25519, ecdsa, rsa (default rsa, as\n"
      "             ssh-keygen 9.2), or ed25519-sk, ecdsa-sk on a FIDO authenticator\n"
      "  -w provider  security key middleware: \"internal\" (tessera's own on libfido2,\n"
      "             the default unless $SSH_SK_PROVIDER names another) or a library path\n"
      "  -O option  for -t *-sk: resident, verify-required, no-touch-required,\n"
      "             application=ssh:..., user=NAME, device=PATH, challenge=FILE,\n"
      "             write-attestation=FILE (as ssh-keygen)\n"
      "  -b bits    RSA: 2048..16384 (default 3072); ECDSA: 256, 384 or 521 (default 256)\n"
      "  -C text    comment (default user@host)\n"
      "  -f file    key file (default ~/.ssh/id_<type>; asked for when not given)\n"
      "  -N phrase  new passphrase ('' for none); asked for when not given\n"
      "  -P phrase  current passphrase; asked for when needed and not given\n"
      "  -a rounds  bcrypt KDF rounds for encrypted OpenSSH-format keys (default 16)\n"
      "  -Z cipher  cipher for encrypted OpenSSH-format keys (default aes256-ctr;\n"
      "             `ssh -Q cipher` lists the names)\n"
      "  -m format  RFC4716 | PKCS8 | PEM: for -e/-i the public key format; for\n"
      "             generation and -p the private key format (ed25519 keys stay in\n"
      "             OpenSSH format, as in ssh-keygen 9.2)\n"
      "  -E hash    md5 | sha256 (default) fingerprints\n"
      "  -v         with -l: also draw the randomart picture\n"
      "  -q         quiet: no progress messages when generating or signing\n"
      "\n"
      "Certificates (with -s):\n"
      "  -I key_id  the certificate's key identity (required)\n"
      "  -h         a host certificate (default: a user certificate)\n"
      "  -n names   principals, comma-separated (user or host names)\n"
      "  -V range   validity: +52w, -1d:+4w, 20250101:20260101, 202501011200Z:forever,\n"
      "             always:forever, 0x<seconds>:0x<seconds> (default forever)\n"
      "  -z serial  serial number; -z +N gives N, N+1, ... to the files in turn\n"
      "  -O option  clear, force-command=CMD, source-address=CIDR[,...], verify-required,\n"
      "             no-touch-required, no-/permit- x11-forwarding, agent-forwarding,\n"
      "             port-forwarding, pty, user-rc; critical:NAME[=VALUE],\n"
      "             extension:NAME[=VALUE]\n"
      "  -t alg     the CA signature: rsa-sha2-512 (default for RSA CAs), rsa-sha2-256\n"
      "             or ssh-rsa\n"
      "  -U         the CA private key is in the agent ($SSH_AUTH_SOCK); -s names its\n"
      "             public key\n"
      "  -D provider  the CA private key is on a PKCS#11 token; -s names its public\n"
      "             key. The provider is a module path, a p11-kit module name\n"
      "             (softhsm2) or a pkcs11: URI; the PIN is asked for once per run\n"
      "  --serial-file path\n"
      "             take serial numbers from a state file: each certificate gets the\n"
      "             next one; concurrent runs never share a serial, a crashed run may\n"
      "             skip some but none is ever issued twice\n"
      "  --new-serial-file path\n"
      "             the same, starting a new serial space at 1 in a new state file\n"
      "  --issuance-log path\n"
      "             append one JSON line per certificate issued (serial, key id,\n"
      "             principals, type, validity, key and CA fingerprints)\n"
      "  --ca-store conninfo\n"
      "             a fleet CA: serials and issuance records in a PostgreSQL database\n"
      "             (postgresql://user@host/db or \"host=... dbname=...\"; \"env\" reads\n"
      "             it from $TESSERA_CA_STORE; passwords also from PGPASSWORD or\n"
      "             ~/.pgpass). Serials come from the database, one record per\n"
      "             certificate is committed before its file is written; tables are\n"
      "             created on first use. -z first-last limits this run's serials\n"
      "  --import-log log  (with --ca-store, alone)\n"
      "             move an --issuance-log (and with -s CA.pub --serial-file, that\n"
      "             CA's serial state) into the database; records already there\n"
      "             are skipped, so importing again is harmless\n"
      "\n"
      "Key revocation lists (with -k or -Q; -k and -Q take precedence over -s):\n"
      "  spec lines serial: N[-M], id: KEY_ID (both need -s), key:, sha1:, sha256:\n"
      "             (a public key line), hash: SHA256:..., or a key or certificate line\n"
      "  -s file    the CA public key for serial: and id: lines; \"none\": any CA\n"
      "  -z number  the KRL version number;  -C text  the KRL comment\n"
      "  --sign-krl ca_key\n"
      "             sign the KRL with this CA private key (sshd and ssh-keygen -Q\n"
      "             check the signature)\n"
      "  --revoke-from-log log\n"
      "             revoke certificates recorded by -s ... --issuance-log log and\n"
      "             signed by the CA -s, chosen with --revoke-id key_id and\n"
      "             --revoke-serial serial (each repeatable; one that matches no\n"
      "             certificate of that CA is an error)\n"
      "  --ca-store conninfo\n"
      "             the KRL holds every revocation the database records for the CA\n"
      "             -s (no spec files, no -u); first records, with who and why:\n"
      "  --revoke-serial N, --revoke-id key_id (with --ca-store)\n"
      "             a certificate of the CA by serial (one the database recorded),\n"
      "             every certificate of the CA with this key ID\n"
      "  --revoke-key file, --revoke-fingerprint SHA256:...\n"
      "             a key outright, by its public key file or its fingerprint\n"
      "  --revoked-by who, --reason text\n"
      "             recorded with the revocations (default who: user@host)\n"
      "  --verify-krl ca_public\n"
      "             with -Q: refuse (exit 255) a KRL this CA key did not sign\n"
      "Signatures (-Y), as ssh-keygen -Y:\n"
      "  -Y sign -f key -n namespace [file ...]\n"
      "             sign each file into file.sig (- or no file: stdin to stdout);\n"
      "             -f names a private key, or with -U (the agent) or -D provider\n"
      "             (a PKCS#11 token) its public key; a key in $SSH_AUTH_SOCK's agent\n"
      "             is used even without -U. -O hashalg=sha256|sha512 (default sha512)\n"
      "  -Y verify -f allowed_signers -I identity -n namespace -s file.sig\n"
      "             check the message on stdin; -r: a KRL or a file of public keys\n"
      "             whose signatures are refused. -O verify-time=YYYYMMDD[HHMM[SS]][Z],\n"
      "             -O print-pubkey\n"
      "  -Y check-novalidate -n namespace -s file.sig\n"
      "             check the signature over stdin without an allowed_signers file\n"
      "  -Y find-principals -s file.sig -f allowed_signers [-O verify-time=...]\n"
      "             print the principals allowed to have made the signature\n"
      "  -Y match-principals -I identity -f allowed_signers\n"
      "             print the principals fields that match the identity\n"
      "  Exit status: 0 when good; 255 for a bad signature or error (as ssh-keygen);\n"
      "  1 for missing arguments\n"
      "\n"
      "Exit status: 0 on success; 1 for bad usage, a declined overwrite, mismatched\n"
      "passphrases, a key that could not be saved or a revoked key (-Q); 255 for\n"
      "other errors (a missing file, a file that is not a key, a wrong passphrase,\n"
      "a KRL refused by --verify-krl), as ssh-keygen.\n",
      out);
}

}  // namespace tessera::keygen
