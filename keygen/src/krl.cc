// -k and -Q: key revocation lists, as ssh-keygen 9.2's do_gen_krl() and
// do_check_krl():
//   -k -f krl [-u] [-s ca_public|none] [-z version] [-C comment] spec ...
//      writes the KRL (-u: adds to the existing one) from revocation spec
//      files ("-" is stdin); prints "Revoking from <file>" for each unless -q.
//   -Q [-l] -f krl key ...
//      prints "<file> (<comment>): ok" or "...: REVOKED" for each key or
//      certificate file and exits 1 if any is revoked; -l first prints the
//      KRL as ssh-keygen -Q -l does.
// Beyond ssh-keygen: --sign-krl (sign the KRL with a CA private key),
// --verify-krl (-Q refuses a KRL that CA did not sign) and --revoke-from-log
// with --revoke-id / --revoke-serial (revoke what an --issuance-log records).
#include <fcntl.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ca_store_pg.h"
#include "issuance_log.h"
#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/krl.h"

namespace tessera::keygen {
namespace {

// Reads a whole file (a KRL or a spec file) of at most max_bytes, or stdin.
// The error is strerror's text, as OpenSSH's sshbuf_load_file() reports it.
key::Result<std::string> read_whole_file(const std::string& path, size_t max_bytes, bool from_stdin = false) {
  int fd = from_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return key::Error(key::Errc::kIo, std::strerror(errno));
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      if (!from_stdin) ::close(fd);
      return key::Error(key::Errc::kIo, std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      if (!from_stdin) ::close(fd);
      return key::Error(key::Errc::kTooLarge, "file too large");
    }
  }
  if (!from_stdin) ::close(fd);
  return data;
}

// Longest revocation spec file read (ssh-keygen has no limit; a spec line per
// revoked serial of a large CA stays far below).
constexpr size_t kMaxSpecFileBytes = 1024 * 1024 * 1024;

// ssh-keygen's load_krl(), with its messages.
key::Result<key::Krl> load_krl(const std::string& path) {
  auto data = read_whole_file(path, key::kMaxKrlBytes);
  if (!data.ok()) return fatal_failure("Unable to load KRL " + path + ": " + data.error().message());
  auto krl = key::Krl::parse(std::span(reinterpret_cast<const uint8_t*>(data->data()), data->size()));
  if (!krl.ok()) {
    // OpenSSH's words for the common case, libkey's (which name the section) otherwise.
    const bool bad_magic = krl.error().detail().starts_with("not a KRL");
    return fatal_failure("Invalid KRL file " + path + ": " +
                       (bad_magic ? std::string("KRL file has invalid magic number") : krl.error().message()));
  }
  return std::move(*krl);
}

// -s for -k and --verify-krl: a CA public key file, ~ expanded.
key::Result<key::PublicKey> load_ca_public(const std::string& file) {
  TESSERA_ASSIGN_OR_RETURN(const std::string path, expanded_path(file));
  std::optional<PublicKeyWithComment> ca = load_public_key(path);
  if (!ca) return fatal_failure("Cannot load CA public key " + path + ": " + std::strerror(ENOENT));
  return std::move(ca->key);
}

// One spec file, as ssh-keygen's update_krl_from_file(). Errors name the
// file and line, except the two that ssh-keygen reports without them.
int add_spec_file(key::KrlBuilder& krl, const std::string& file, const key::KrlSpecCa& ca, std::string& progress,
                  bool quiet) {
  auto expanded = expanded_path(file);
  if (!expanded.ok()) return report_failure(expanded.error());
  const std::string& path = *expanded;
  const std::string source = path == "-" ? "(standard input)" : path;
  auto text = read_whole_file(path, kMaxSpecFileBytes, path == "-");
  if (!text.ok()) return fatal("fopen " + source + ": " + text.error().message());
  if (!quiet) progress += "Revoking from " + source + "\n";
  std::string_view rest = *text;
  for (size_t line_number = 1; !rest.empty(); ++line_number) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    auto added = key::add_krl_spec_line(krl, line, ca);
    if (added.ok()) continue;
    const std::string& problem = added.error().detail();
    if (problem.ends_with("requires specification of a CA key")) return fatal(problem);
    return fatal(source + ":" + std::to_string(line_number) + ": " + added.error().message());
  }
  return kExitOk;
}

// --revoke-from-log: every certificate of the log, issued by `ca`, whose key
// id or serial was asked for, revoked by serial (by key id if it has none).
// An id or serial that names no certificate of this CA in the log ends the
// run: a revocation that silently does nothing is worse than none.
int revoke_from_log(key::KrlBuilder& krl, const Options& o, const key::PublicKey& ca, std::string& progress) {
  auto log = read_issuance_log(*o.revoke_from_log);
  if (!log.ok()) return fatal(log.error().message());
  // Lines that are not records are skipped, each said: the rest of the log
  // still revokes what it records.
  for (const std::string& problem : log->problems) print_error("tessera-keygen: warning: " + problem);
  const std::vector<IssuedCertificate>* entries = &log->records;
  const std::string ca_fingerprint = key::fingerprint(ca, key::FingerprintHash::kSha256);
  const std::set<std::string> ids(o.revoke_ids.begin(), o.revoke_ids.end());
  const std::set<uint64_t> serials(o.revoke_serials.begin(), o.revoke_serials.end());
  std::set<std::string> ids_found;
  std::set<uint64_t> serials_found;
  size_t revoked = 0;
  for (const IssuedCertificate& issued : *entries) {
    if (issued.ca_fingerprint != ca_fingerprint) continue;
    const bool by_id = ids.contains(issued.key_id);
    const bool by_serial = serials.contains(issued.serial);
    if (!by_id && !by_serial) continue;
    if (by_id) ids_found.insert(issued.key_id);
    if (by_serial) serials_found.insert(issued.serial);
    auto done = issued.serial != 0 ? krl.revoke_serial(ca, issued.serial) : krl.revoke_key_id(ca, issued.key_id);
    if (!done.ok()) return fatal(*o.revoke_from_log + ": " + done.error().message());
    ++revoked;
  }
  for (const std::string& id : ids) {
    if (!ids_found.contains(id)) {
      return fatal("tessera-keygen: " + *o.revoke_from_log + " records no certificate with key id \"" +
                   printable(id) + "\" signed by CA " + ca_fingerprint + "; nothing written");
    }
  }
  for (uint64_t serial : serials) {
    if (!serials_found.contains(serial)) {
      return fatal("tessera-keygen: " + *o.revoke_from_log + " records no certificate with serial " +
                   std::to_string(serial) + " signed by CA " + ca_fingerprint + "; nothing written");
    }
  }
  if (!o.quiet) {
    progress += "Revoking " + std::to_string(revoked) + " certificate" + (revoked == 1 ? "" : "s") + " from " +
                *o.revoke_from_log + "\n";
  }
  return kExitOk;
}

// --revoke-* with --ca-store: what to record in the database.
key::Result<std::vector<DatabaseRevocation>> database_requests(const Options& o) {
  std::vector<DatabaseRevocation> requests;
  for (uint64_t serial : o.revoke_serials) {
    requests.push_back({.kind = DatabaseRevocation::Kind::kSerial, .serial = serial, .text = {}});
  }
  for (const std::string& id : o.revoke_ids) {
    requests.push_back({.kind = DatabaseRevocation::Kind::kKeyId, .serial = 0, .text = id});
  }
  for (const std::string& file : o.revoke_keys) {
    TESSERA_ASSIGN_OR_RETURN(const std::string path, expanded_path(file));
    std::optional<KeyOrCertificateWithComment> loaded = load_key_or_certificate(path);
    if (!loaded) return fatal_failure("Cannot load public key " + path + ": " + std::strerror(ENOENT));
    if (loaded->certificate) {
      return fatal_failure("tessera-keygen: --revoke-key " + path +
                           " is a certificate: revoke it by its serial (--revoke-serial), or its key by the key's "
                           "own .pub file");
    }
    requests.push_back(
        {.kind = DatabaseRevocation::Kind::kKey, .serial = 0, .text = key::format_public_key_line(*loaded->key, "")});
  }
  for (const std::string& fingerprint : o.revoke_fingerprints) {
    key::KrlBuilder scratch;  // the spec line's parser checks the fingerprint
    if (auto checked = key::add_krl_spec_line(scratch, "hash: " + fingerprint, key::KrlSpecCa::none());
        !checked.ok()) {
      return fatal_failure("tessera-keygen: --revoke-fingerprint " + printable(fingerprint) + ": " +
                           checked.error().message());
    }
    requests.push_back({.kind = DatabaseRevocation::Kind::kSha256, .serial = 0, .text = fingerprint});
  }
  return requests;
}

// "user@host" of whoever runs this: --revoked-by's default.
std::string current_user_at_host() {
  std::string user = "uid " + std::to_string(::getuid());
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr) user = pw->pw_name;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') user += std::string("@") + host;
  return user;
}

// -k --ca-store: records the new revocations, then puts every revocation the
// database holds for the CA into the KRL, as the spec lines "serial: N",
// "id: ID", "key: LINE" and "hash: SHA256:..." would.
int add_database_revocations(key::KrlBuilder& krl, const Options& o, const key::PublicKey& ca,
                             std::string& progress) {
  auto requests = database_requests(o);
  if (!requests.ok()) return report_failure(requests.error());
  auto all = revoke_in_database(*o.ca_store, ca, *requests, o.revoked_by.value_or(current_user_at_host()),
                                o.revoke_reason.value_or(""));
  if (!all.ok()) return report_failure(all.error());
  for (const DatabaseRevocation& r : *all) {
    key::Status added;
    switch (r.kind) {
      case DatabaseRevocation::Kind::kSerial: added = krl.revoke_serial(ca, r.serial); break;
      case DatabaseRevocation::Kind::kKeyId: added = krl.revoke_key_id(ca, r.text); break;
      case DatabaseRevocation::Kind::kKey: added = key::add_krl_spec_line(krl, "key: " + r.text, key::KrlSpecCa::none()); break;
      case DatabaseRevocation::Kind::kSha256:
        added = key::add_krl_spec_line(krl, "hash: " + r.text, key::KrlSpecCa::none());
        break;
    }
    if (!added.ok()) {
      return fatal("tessera-keygen: a revocation in the CA database cannot go into a KRL: " +
                   added.error().message() + "; nothing written");
    }
  }
  if (!o.quiet) {
    progress += "Recorded " + std::to_string(requests->size()) + " revocation" + (requests->size() == 1 ? "" : "s") +
                "; the KRL holds the database's " + std::to_string(all->size()) + " for CA " +
                key::fingerprint(ca, key::FingerprintHash::kSha256) + "\n";
  }
  return kExitOk;
}

// The text of krl_dump() made safe as ssh-keygen's asmprintf() makes it in
// the user's locale: printable() escapes control characters, and a KRL dump
// escapes TAB as well.
std::string escape_krl_text(std::string_view text) {
  std::string safe = printable(text);
  std::string out;
  for (char c : safe) {
    if (c == '\t') {
      out += "\\011";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

int run_generate_krl(const Options& o) {
  if (!o.file) return fatal("KRL generation requires an output file");
  const std::string& krl_path = *o.file;
  struct stat st;
  if (::stat(krl_path.c_str(), &st) == -1) {
    if (errno != ENOENT) return fatal("Cannot access KRL \"" + krl_path + "\": " + std::strerror(errno));
    if (o.update_krl) return fatal("KRL \"" + krl_path + "\" does not exist");
  }
  key::KrlSpecCa ca = key::KrlSpecCa::none();
  if (o.ca_key) {
    if (strcasecmp(o.ca_key->c_str(), "none") == 0) {
      ca = key::KrlSpecCa::any_ca();
    } else {
      auto ca_key = load_ca_public(*o.ca_key);
      if (!ca_key.ok()) return report_failure(ca_key.error());
      ca = key::KrlSpecCa::ca_key(std::move(*ca_key));
    }
  }
  if (o.revoke_from_log && ca.kind != key::KrlSpecCa::Kind::kKey) {
    return failure("tessera-keygen: --revoke-from-log needs the CA public key file (-s), not \"none\"");
  }

  // The signing key is loaded first, so that its passphrase is asked before any work.
  std::vector<key::KrlSigner> signers;
  if (o.krl_signing_key) {
    auto expanded = expanded_path(*o.krl_signing_key);
    if (!expanded.ok()) return report_failure(expanded.error());
    const std::string& path = *expanded;
    auto loaded = load_private_key(path, o.passphrase ? &*o.passphrase : nullptr, "Enter passphrase: ");
    if (!loaded.ok()) return fatal("Load key \"" + path + "\": " + describe(loaded.error()));
    signers.push_back(key::make_krl_signer(std::move(loaded->key)));
  }

  key::KrlBuilder krl;
  if (o.update_krl) {
    auto existing = load_krl(krl_path);
    if (!existing.ok()) return report_failure(existing.error());
    krl = key::KrlBuilder(existing->contents());
  }
  if (o.serial_given && o.serial != 0) krl.set_version(o.serial);
  if (o.comment) {
    if (auto set = krl.set_comment(*o.comment); !set.ok()) return fatal(set.error().message());
  }

  // ssh-keygen's progress lines go to a buffered stdout that its fatal()
  // discards: they are printed only when the KRL is written.
  std::string progress;
  if (o.ca_store) {
    if (int added = add_database_revocations(krl, o, *ca.key, progress); added != kExitOk) return added;
  }
  for (const std::string& file : o.files) {
    if (int added = add_spec_file(krl, file, ca, progress, o.quiet); added != kExitOk) return added;
  }
  if (o.revoke_from_log) {
    if (int revoked = revoke_from_log(krl, o, *ca.key, progress); revoked != kExitOk) return revoked;
  }

  key::Bytes data;
  if (signers.empty()) {
    data = krl.serialize();
  } else {
    auto signed_krl = krl.serialize_signed(signers);
    if (!signed_krl.ok()) return fatal("Couldn't generate KRL: " + signed_krl.error().message());
    data = std::move(*signed_krl);
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data.data()), data.size());
  auto written = write_file_atomically(krl_path, bytes, 0644);
  if (!written.ok()) return fatal("write " + krl_path + ": " + written.error().message());
  print_out(progress);
  return kExitOk;
}

int run_query_krl(const Options& o) {
  if (!o.file) return fatal("KRL checking requires an input file");
  auto krl = load_krl(*o.file);
  if (!krl.ok()) return report_failure(krl.error());
  if (o.krl_verify_key) {
    auto ca = load_ca_public(*o.krl_verify_key);
    if (!ca.ok()) return report_failure(ca.error());
    if (auto verified = krl->verify_signed_by(*ca); !verified.ok()) {
      return fatal("tessera-keygen: KRL " + *o.file + " refused: " + verified.error().message() +
                   " (--verify-krl " + *o.krl_verify_key + ")");
    }
  }
  if (o.print_krl) {
    key::KrlDump dump = key::krl_dump(*krl, escape_krl_text);
    print_out(dump.text);
    for (const std::string& problem : dump.problems) print_error(problem);
  }
  int result = kExitOk;
  for (const std::string& file : o.files) {
    std::optional<KeyOrCertificateWithComment> loaded = load_key_or_certificate(file);
    if (!loaded) return fatal("Cannot load public key " + file + ": " + std::strerror(ENOENT));
    const bool revoked = loaded->certificate ? krl->is_revoked(*loaded->certificate) : krl->is_revoked(*loaded->key);
    const std::string& comment = loaded->comment.value_or("");
    print_out(file + (comment.empty() ? "" : " (" + comment + ")") + ": " + (revoked ? "REVOKED" : "ok") + "\n");
    if (revoked) result = kExitFailure;
  }
  return result;
}

}  // namespace tessera::keygen
