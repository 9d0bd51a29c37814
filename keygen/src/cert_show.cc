// -L: print the certificates of a file exactly as ssh-keygen 9.2's
// do_show_cert() and print_cert() do:
//   id_ed25519-cert.pub:
//           Type: ssh-ed25519-cert-v01@openssh.com user certificate
//           Public key: ED25519-CERT SHA256:...
//           Signing CA: ED25519 SHA256:... (using ssh-ed25519)
//           Key ID: "alice"
//           Serial: 7
//           Valid: from 2025-01-01T00:00:00 to 2026-01-01T00:00:00
//           Principals: ...
//           Critical Options: ...
//           Extensions: ...
// Every line of the file that is not blank-prefixed '#' or empty is read as
// a key; lines that are not certificates are reported on stderr and skipped.
// The exit status is 0 if at least one certificate was printed, else 1.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "cert_options.h"
#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"

namespace tessera::keygen {
namespace {

constexpr std::string_view kIndent = "        ";
constexpr std::string_view kItemIndent = "                ";

bool is_flag_extension(std::string_view name) {
  return name == "permit-X11-forwarding" || name == "permit-agent-forwarding" ||
         name == "permit-port-forwarding" || name == "permit-pty" || name == "permit-user-rc" ||
         name == "no-touch-required";
}

// show_options(): known options by name, others as hex or "UNKNOWN FLAG OPTION".
// Returns false (after printing what ssh-keygen prints) for a known option
// whose data is not what it should be.
bool show_options(const std::vector<key::CertOption>& options, bool critical, std::string& out) {
  for (const key::CertOption& option : options) {
    out += kItemIndent;
    out += option.name;
    if (!critical && is_flag_extension(option.name)) {
      out += '\n';
      if (!option.data.empty()) return false;
    } else if (critical && (option.name == "force-command" || option.name == "source-address")) {
      key::Reader data(option.data);
      auto value = data.text();
      if (!value.ok() || !data.empty()) return false;
      out += ' ';
      out += *value;
      out += '\n';
    } else if (critical && option.name == "verify-required") {
      out += '\n';
      if (!option.data.empty()) return false;
    } else if (!option.data.empty()) {
      out += " UNKNOWN OPTION: " + key::hex_encode(option.data) + " (len " + std::to_string(option.data.size()) + ")\n";
    } else {
      out += " UNKNOWN FLAG OPTION\n";
    }
  }
  return true;
}

// print_cert(). Returns false if an option was corrupt (ssh-keygen then exits 255).
bool print_certificate(const Options& options, const key::Certificate& cert) {
  const bool is_host = cert.type == key::CertType::kHost;
  auto signature_alg = key::signature_algorithm_name(cert.signature);
  std::string out;
  out += std::string(kIndent) + "Type: " + std::string(cert.type_name()) + (is_host ? " host" : " user") +
         " certificate\n";
  out += std::string(kIndent) + "Public key: " + std::string(cert.key.info().display_name) + "-CERT " +
         key::fingerprint(cert.key, options.fingerprint_hash) + "\n";
  out += std::string(kIndent) + "Signing CA: " + std::string(cert.signature_key.info().display_name) + " " +
         key::fingerprint(cert.signature_key, options.fingerprint_hash) + " (using " +
         (signature_alg.ok() ? *signature_alg : std::string("(null)")) + ")\n";
  out += std::string(kIndent) + "Key ID: \"" + cert.key_id + "\"\n";
  out += std::string(kIndent) + "Serial: " + std::to_string(cert.serial) + "\n";
  out += std::string(kIndent) + "Valid: " + format_validity(cert.valid_after, cert.valid_before) + "\n";
  out += std::string(kIndent) + "Principals: ";
  if (cert.principals.empty()) {
    out += "(none)\n";
  } else {
    for (const std::string& p : cert.principals) out += "\n" + std::string(kItemIndent) + p;
    out += "\n";
  }
  auto section = [&](std::string_view title, const std::vector<key::CertOption>& options_in_section, bool critical) {
    out += std::string(kIndent) + std::string(title) + ": ";
    if (options_in_section.empty()) {
      out += "(none)\n";
      return true;
    }
    out += "\n";
    return show_options(options_in_section, critical, out);
  };
  bool intact = section("Critical Options", cert.critical_options, true) && section("Extensions", cert.extensions, false);
  print_out(out);
  return intact;
}

}  // namespace

int run_show_certificate(const Options& options) {
  auto opened = open_text_input(options);
  if (!opened.ok()) return report_failure(opened.error());
  std::optional<TextInput> input = std::move(*opened);
  const bool from_stdin = input->from_stdin;
  const std::string& path = input->name;

  bool printed = false;
  char* buf = nullptr;
  size_t cap = 0;
  unsigned long line_number = 0;
  for (ssize_t len; (len = ::getline(&buf, &cap, input->file.get())) != -1;) {
    ++line_number;
    std::string_view line(buf, static_cast<size_t>(len));
    line = line.substr(0, line.find('\0'));  // a C string ends at NUL
    line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
    // Only '#' lines and lines with nothing at all are skipped: a lone line
    // break is reported as an invalid key, as ssh-keygen does.
    if (line.empty() || line.front() == '#') continue;
    const std::string where = path + ":" + std::to_string(line_number);
    auto parsed = read_any_key_text(line);
    if (!parsed.ok()) {
      print_error(where + ": invalid key: " + parsed.error().detail());
      continue;
    }
    if (!parsed->certificate) {
      print_error(where + " is not a certificate");
      continue;
    }
    printed = true;
    print_out(!from_stdin && line_number == 1 ? path + ":\n" : where + ":\n");
    if (!print_certificate(options, *parsed->certificate)) {
      std::free(buf);
      return fatal("Option corrupt: extra data at end");
    }
  }
  std::free(buf);
  return printed ? kExitOk : kExitFailure;
}

}  // namespace tessera::keygen
