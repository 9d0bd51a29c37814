// known_hosts modes and SSHFP records, as ssh-keygen 9.2's do_known_hosts()
// and do_print_resource_record():
//   -F host   print the lines for a host ("# Host h found: line N" before
//             each; -H: hashed; -l: fingerprints, -v: and randomart)
//   -H        hash every plain host name of the file in place (FILE.old kept)
//   -R host   remove the host's lines in place (FILE.old kept)
//   -r host   SSHFP records of -f's key, or of the default host keys (-g:
//             RFC 3597 generic form)
// The file is -f or ~/.ssh/known_hosts. Lines go through libkey's
// known_hosts parser (tessera/key/known_hosts.h) without decoding the key,
// as OpenSSH does (only -F -l decodes it), so lines with keys tessera cannot
// decode (DSA) are found, kept and hashed like any other.
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/known_hosts.h"

namespace tessera::keygen {
namespace {

using key::KnownHostsLine;
using key::KnownHostsMarker;

constexpr std::string_view kDefaultKnownHostsFile = "~/.ssh/known_hosts";
// ssh-keygen -r without -f: the host keys sshd uses by default, in this order.
constexpr std::array<std::string_view, 5> kDefaultHostKeyFiles = {
    "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_dsa_key", "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_xmss_key"};
// logit()'s "%.64s" for host names in messages.
constexpr size_t kLoggedHostsBytes = 64;

// hostkeys_foreach()'s view of a line.
enum class LineStatus : uint8_t { kComment, kInvalid, kOk, kMatched };

struct Run {
  Run(const Options& o, const std::string& file) : options(o), path(file) {}
  const Options& options;
  const std::string& path;
  std::optional<std::string> host;  // -F / -R
  bool find = false;                // -F
  bool remove = false;              // -R
  bool hash = false;                // -H
  bool in_place = false;            // -H or -R without -F: out is the new file
  std::string out;
  bool found = false;
  bool invalid = false;
  bool has_unhashed = false;
};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A line of output: to the new file, or (-F) to stdout.
void emit(Run& run, std::string_view text) {
  if (run.in_place) {
    run.out.append(text).append("\n");
  } else {
    print_out(std::string(text) + "\n");
  }
}

void log_invalid(Run& run, size_t number, const KnownHostsLine& line) {
  run.invalid = true;
  std::string message = run.path + ":" + std::to_string(number) + ": invalid line";
  // Beyond ssh-keygen: the one problem OpenSSH does not have (it has no line limit).
  if (line.problem.starts_with("line longer")) message += " (" + line.problem + ")";
  print_error(message);
}

// known_hosts_hash(): the line with each plain host name hashed on a line of
// its own; hashed names, patterns with wildcards and marker lines as they are.
void hash_line(Run& run, LineStatus status, size_t number, std::string_view text, const KnownHostsLine& line) {
  if (status == LineStatus::kInvalid) log_invalid(run, number, line);
  if (status != LineStatus::kOk && status != LineStatus::kMatched) {
    emit(run, text);
    return;
  }
  const bool has_wild = line.hosts.find_first_of("*?!") != std::string_view::npos;
  if (line.hosts.starts_with('|') || has_wild || line.marker != KnownHostsMarker::kNone) {
    emit(run, text);
    if (has_wild && !run.find) {
      print_error(run.path + ":" + std::to_string(number) +
                  ": ignoring host name with wildcard: " + std::string(line.hosts.substr(0, kLoggedHostsBytes)));
    }
    return;
  }
  // As strsep(): the names up to the first empty one.
  std::string_view names = line.hosts;
  while (true) {
    const size_t comma = names.find(',');
    const std::string_view name = names.substr(0, comma);
    if (name.empty()) break;
    auto hashed = key::hash_known_host_name(lowercase(name));
    if (!hashed.ok()) {
      // Only OpenSSL failing gets here; keep the line rather than lose it.
      run.invalid = true;
      print_error(run.path + ":" + std::to_string(number) + ": " + hashed.error().message());
      emit(run, text);
      return;
    }
    emit(run, *hashed + " " + std::string(line.key_text));
    run.has_unhashed = true;
    if (comma == std::string_view::npos) break;
    names.remove_prefix(comma + 1);
  }
}

// -F -l: "host TYPE fingerprint[ comment]" (and the randomart with -v).
void print_fingerprint(const Run& run, const key::KnownHostsKey& parsed) {
  const Options& o = run.options;
  const std::string fp = o.bubblebabble ? key::bubblebabble(parsed.key.key) : parsed.key.fingerprint(o.fingerprint_hash);
  std::string line = *run.host + " " + parsed.key.display_type() + " " + fp;
  if (!parsed.comment.empty()) line += " " + std::string(parsed.comment);
  print_out(printable(line) + "\n");
  if (o.verbosity > 0) print_out(key::randomart(parsed.key.key, o.fingerprint_hash) + "\n");
}

// known_hosts_find_delete().
void find_or_delete(Run& run, LineStatus status, size_t number, std::string_view text, const KnownHostsLine& line,
                    const std::optional<key::KnownHostsKey>& parsed) {
  if (status == LineStatus::kMatched) {
    if (run.remove) {
      if (line.marker != KnownHostsMarker::kNone) {
        emit(run, text);  // CA and revocation lines stay
        return;
      }
      run.found = true;
      if (!run.options.quiet) print_out("# Host " + *run.host + " found: line " + std::to_string(number) + "\n");
      return;
    }
    run.found = true;
    if (!run.options.quiet) {
      const char* what = line.marker == KnownHostsMarker::kCertAuthority ? "CA"
                         : line.marker == KnownHostsMarker::kRevoked     ? "REVOKED"
                                                                         : "";
      print_out("# Host " + *run.host + " found: line " + std::to_string(number) + " " + what + "\n");
    }
    if (run.hash) {
      hash_line(run, status, number, text, line);
    } else if (parsed) {
      print_fingerprint(run, *parsed);
    } else {
      print_out(std::string(text) + "\n");
    }
    return;
  }
  if (run.remove) {
    if (status == LineStatus::kInvalid) log_invalid(run, number, line);
    emit(run, text);
  }
}

// hostkeys_foreach(): each line with its status, to the mode's callback.
void for_each_line(Run& run, std::string_view contents) {
  const bool want_match = run.find;
  const bool want_key = run.find && run.options.print_fingerprint;
  key::KnownHostsLineReader reader(contents);
  std::string_view text;
  while (reader.next(text)) {
    const size_t number = reader.line_number();
    const KnownHostsLine line = key::parse_known_hosts_line(text);
    LineStatus status = LineStatus::kOk;
    if (line.kind == KnownHostsLine::Kind::kComment) {
      if (want_match) continue;
      status = LineStatus::kComment;
    } else if (line.kind == KnownHostsLine::Kind::kInvalid) {
      status = LineStatus::kInvalid;
    } else if (run.host) {
      const key::HostMatch match = key::match_known_hosts_hosts(line.hosts, *run.host);
      if (match == key::HostMatch::kBadHash) status = LineStatus::kInvalid;
      if (match == key::HostMatch::kMatch) status = LineStatus::kMatched;
    }
    if (want_match && status != LineStatus::kMatched) continue;
    std::optional<key::KnownHostsKey> parsed;
    if (want_key) {
      auto read = key::parse_known_hosts_key(line.key_text);
      if (read.ok()) {
        parsed = std::move(*read);
      } else {
        status = LineStatus::kInvalid;
      }
    }
    if (run.find || !run.hash) {
      find_or_delete(run, status, number, text, line, parsed);
    } else {
      hash_line(run, status, number, text, line);
    }
  }
}

// -H and -R: FILE.old becomes a link to the old file, then the new one
// replaces FILE (written beside it, synced, renamed into place).
int replace_file(const Run& run, mode_t mode) {
  const std::string old = run.path + ".old";
  if (::unlink(old.c_str()) != 0 && errno != ENOENT) {
    return fatal("unlink " + old.substr(0, 100) + ": " + std::strerror(errno));
  }
  if (::link(run.path.c_str(), old.c_str()) != 0) {
    return fatal("link " + run.path.substr(0, 100) + " to " + old.substr(0, 100) + ": " + std::strerror(errno));
  }
  key::Status written = write_file_atomically(run.path, run.out, mode & 0644);
  if (!written.ok()) {
    ::unlink(old.c_str());
    return failure("could not write the new " + run.path + ": " + written.error().message() + " (left unchanged)");
  }
  print_out(run.path + " updated.\n");
  print_out("Original contents retained as " + old + "\n");
  if (run.has_unhashed) {
    print_error("WARNING: " + old + " contains unhashed entries");
    print_error("Delete this file to ensure privacy of hostnames");
  }
  return kExitOk;
}

// ---- SSHFP (RFC 4255, 6594, 7479) ----

// The SSHFP algorithm number of a key; 0 for keys SSHFP has none for.
int sshfp_algorithm(const key::KeyOrCertificate& key) {
  if (key.is_certificate()) return 0;
  switch (key.key.type()) {
    case key::KeyType::kRsa: return 1;
    case key::KeyType::kEcdsaP256:
    case key::KeyType::kEcdsaP384:
    case key::KeyType::kEcdsaP521: return 3;
    case key::KeyType::kEd25519: return 4;
    default: return 0;
  }
}

// export_dns_rr(): one record per digest type, SHA-1 (1) then SHA-256 (2).
void print_sshfp(const std::string& host, const key::KeyOrCertificate& key, bool generic) {
  const int algorithm = sshfp_algorithm(key);
  if (algorithm == 0) {
    print_error("export_dns_rr: unsupported algorithm and/or digest_type");
    return;
  }
  const key::Bytes blob = key.key.blob();
  struct Digest {
    int type;
    const EVP_MD* md;
  };
  for (const Digest& d : {Digest{1, EVP_sha1()}, Digest{2, EVP_sha256()}}) {
    std::array<uint8_t, EVP_MAX_MD_SIZE> digest{};
    unsigned int len = 0;
    if (EVP_Digest(blob.data(), blob.size(), digest.data(), &len, d.md, nullptr) != 1) {
      print_error("export_dns_rr: digest failed");
      return;
    }
    char head[64];
    if (generic) {
      std::snprintf(head, sizeof head, " IN TYPE44 \\# %u %02x %02x ", len + 2, algorithm, d.type);
    } else {
      std::snprintf(head, sizeof head, " IN SSHFP %d %d ", algorithm, d.type);
    }
    print_out(host + head + key::hex_encode(std::span<const uint8_t>(digest.data(), len)) + "\n");
  }
}

// do_print_resource_record(): false if the file does not exist; fatal if it
// is there but holds no public key.
key::Result<bool> print_resource_record(const std::string& path, const Options& o) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return fatal_failure(path + ": " + std::strerror(errno));
  }
  std::optional<KeyOrCertificateWithComment> loaded = load_key_or_certificate(path);
  if (!loaded) {
    // sshkey_load_public() reports every failure as a missing file.
    return fatal_failure("Failed to read v2 public key from \"" + path + "\": " + std::strerror(ENOENT));
  }
  key::KeyOrCertificate key = loaded->certificate ? key::KeyOrCertificate::certified(std::move(*loaded->certificate))
                                                  : key::KeyOrCertificate::plain(std::move(*loaded->key));
  print_sshfp(*o.host_name, key, o.print_generic);
  return true;
}

}  // namespace

int run_known_hosts(const Options& options) {
  std::optional<std::string> path = options.file;
  if (!path) {
    auto expanded = expanded_path(std::string(kDefaultKnownHostsFile));
    if (!expanded.ok()) return report_failure(expanded.error());
    path = std::move(*expanded);
  }
  struct stat st {};
  if (::stat(path->c_str(), &st) != 0) return fatal("Cannot stat " + *path + ": " + std::strerror(errno));

  Run run(options, *path);
  run.find = options.find_host;
  run.remove = options.delete_host;
  run.hash = options.hash_hosts;
  if (run.find || run.remove) run.host = options.host_name;
  // -F prints; -H and -R rewrite the file (and -H with -F prints).
  run.in_place = !run.find && (run.hash || run.remove);

  auto contents = key::read_known_hosts_file(*path);
  if (!contents.ok()) return fatal(contents.error().message());
  if (!*contents) return fatal("Cannot stat " + *path + ": " + std::strerror(ENOENT));  // gone since the stat
  for_each_line(run, **contents);

  if (run.invalid) {
    print_error(*path + " is not a valid known_hosts file.");
    if (run.in_place) print_error("Not replacing existing known_hosts file because of errors");
    return kExitFailure;
  }
  if (run.remove && !run.found) {
    print_error("Host " + *run.host + " not found in " + *path);
  } else if (run.in_place) {
    if (int replaced = replace_file(run, st.st_mode); replaced != kExitOk) return replaced;
  }
  return run.find && !run.found ? kExitFailure : kExitOk;
}

int run_print_resource_record(const Options& options) {
  if (options.file) {
    auto printed = print_resource_record(*options.file, options);
    if (!printed.ok()) return report_failure(printed.error());
    if (!*printed) return fatal(*options.file + ": " + std::strerror(ENOENT));
    return kExitOk;
  }
  unsigned printed_files = 0;
  for (std::string_view file : kDefaultHostKeyFiles) {
    auto printed = print_resource_record(std::string(file), options);
    if (!printed.ok()) return report_failure(printed.error());
    if (*printed) ++printed_files;
  }
  if (printed_files == 0) return fatal("no keys found.");
  return kExitOk;
}

}  // namespace tessera::keygen
