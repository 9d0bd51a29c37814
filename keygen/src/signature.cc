// -Y verify, check-novalidate, find-principals and match-principals, with
// ssh-keygen 9.2's output and exit statuses: "Good ..." or "Could not verify
// signature." on stdout (exit 0 or 255), principals one per line on stdout or
// "No principal matched." on stderr, and for missing arguments
// "Too few arguments for OP: missing ..." (exit 1).
#include "signature.h"

#include <strings.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>

#include "modes.h"
#include "output.h"
#include "tessera/key/krl.h"
#include "tessera/sys/file.h"

namespace tessera::keygen {
namespace {

// ssh-keygen's error() and exit(1) for an operation without its arguments;
// `operation` ends with ":" or ": " as in ssh-keygen's messages.
int too_few(std::string_view operation, std::string_view missing) {
  return failure("Too few arguments for " + std::string(operation) + "missing " + std::string(missing));
}

// As sshsig.c when it cannot open the allowed_signers file.
void print_unreadable_allowed_signers(const std::string& path, const key::Error& error) {
  print_error("Unable to open allowed keys file \"" + path + "\": " + error.message());
}

bool has_prefix_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && strncasecmp(text.data(), prefix.data(), prefix.size()) == 0;
}

// The signature file of -s, as sshbuf_load_file() and sshsig_dearmor().
std::optional<key::Sshsig> load_signature(const std::string& path) {
  auto text = sys::read_file(path, key::kMaxSshsigArmoredBytes);
  if (!text.ok()) {
    print_error("Couldn't read signature file: " + text.error().message());
    return std::nullopt;
  }
  auto sig = key::parse_armored_sshsig(*text);
  if (!sig.ok()) {
    print_error("Couldn't parse signature " + path + ": " + sig.error().message());
    return std::nullopt;
  }
  return std::move(*sig);
}

void print_diagnostics(const key::Diagnostics& diagnostics) {
  for (const std::string& line : diagnostics) print_error(printable(line));
}

// A file of public keys for -r, as OpenSSH's sshkey_in_file(key, file, 0, 1):
// the key is listed (as a key or a certificate), or, for a certificate, its CA is.
bool listed_in(const key::KeyOrCertificate& signer, std::string_view text) {
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
    if (line.empty() || line.starts_with('#')) continue;
    auto listed = key::KeyOrCertificate::from_line(line);
    if (!listed.ok()) continue;  // as sshkey_in_file(): a line that is not a key is skipped
    if (listed->key == signer.key) return true;
    if (signer.certificate && listed->key == signer.certificate->signature_key) return true;
  }
  return false;
}

// -r: a KRL (by its magic), else a list of public keys, as OpenSSH's sshkey_check_revoked().
key::RevocationCheck revocation_check(const std::string& path) {
  return [path](const key::KeyOrCertificate& signer) -> key::Result<bool> {
    auto text = sys::read_file(path, key::kMaxAllowedSignersBytes);
    if (!text.ok()) return text.error().with_context(path);
    if (!text->starts_with(key::kKrlMagic)) return listed_in(signer, *text);
    auto krl = key::Krl::parse(std::span(reinterpret_cast<const uint8_t*>(text->data()), text->size()));
    if (!krl.ok()) return krl.error().with_context("KRL " + path);
    return signer.certificate ? krl->is_revoked(*signer.certificate) : krl->is_revoked(signer.key);
  };
}

// sshsig_check's refusals that ssh-keygen reports only through "Could not
// verify signature.": a revoked key, or no allowed_signers line for it.
bool reported_by_outcome_only(const key::Error& error) {
  return (error.code() == key::Errc::kBadSignature && error.detail().starts_with("no line of ")) ||
         (error.code() == key::Errc::kInvalidKey && error.detail().ends_with(" is revoked"));
}

// A verification failure in ssh-keygen's words: libkey's texts start as
// OpenSSH's and add what it found ("... (signature is for \"git\", ...)");
// ssh-keygen prints only the start.
std::string verification_problem(const key::Error& error) {
  constexpr std::string_view kFailed = "Signature verification failed: ";
  constexpr std::string_view kNamespace = "Couldn't verify signature: namespace does not match";
  const std::string message = error.message();
  if (error.code() == key::Errc::kBadSignature && message.starts_with(kFailed)) {
    return std::string(kFailed) + "incorrect signature";
  }
  if (message.starts_with(kNamespace)) return std::string(kNamespace);
  return message;
}

// -Y verify (with an allowed_signers file) and -Y check-novalidate (without).
int verify(const Options& o, bool check_allowed_signers) {
  std::optional<key::SshsigVerified> verified;
  std::optional<SignatureOptions> sig_options =
      parse_signature_options(o, {.hash_algorithm = false, .verify_time = true, .print_pubkey = true});
  std::optional<key::Sshsig> sig;
  if (sig_options) sig = load_signature(*o.ca_key);
  std::string allowed_text;
  bool allowed_ok = true;
  if (sig && check_allowed_signers) {
    auto text = sys::read_file(*o.file, key::kMaxAllowedSignersBytes);
    if (text.ok()) {
      allowed_text = std::move(*text);
    } else {
      print_unreadable_allowed_signers(*o.file, text.error());
      allowed_ok = false;
    }
  }
  if (sig && allowed_ok) {
    key::SshsigVerifyRequest request{*o.principals, std::nullopt, std::nullopt, {}, sig_options->verify_time};
    if (check_allowed_signers) {
      request.principal = *o.key_id;
      request.allowed_signers = key::AllowedSignersFile{*o.file, allowed_text};
      if (o.revocation_file) request.is_revoked = revocation_check(*o.revocation_file);
    }
    key::Diagnostics diagnostics;
    auto checked = key::sshsig_check(*sig, std::cin, request, &diagnostics);
    print_diagnostics(diagnostics);
    if (checked.ok()) {
      verified = std::move(*checked);
    } else if (!reported_by_outcome_only(checked.error())) {
      print_error(printable(verification_problem(checked.error())));
    }
  }
  if (!o.quiet) {
    print_out(verified ? key::sshsig_good_message(*o.principals, *verified, o.fingerprint_hash) + "\n"
                       : std::string(key::kSshsigBadMessage) + "\n");
  }
  if (!verified) return kExitFatal;
  if (sig_options->print_pubkey) print_out(verified->key.public_line() + "\n");
  return kExitOk;
}

int find_principals(const Options& o) {
  std::optional<std::vector<std::string>> found;
  std::optional<SignatureOptions> sig_options =
      parse_signature_options(o, {.hash_algorithm = false, .verify_time = true, .print_pubkey = false});
  std::optional<key::Sshsig> sig;
  if (sig_options) sig = load_signature(*o.ca_key);
  if (sig) {
    auto text = sys::read_file(*o.file, key::kMaxAllowedSignersBytes);
    if (!text.ok()) {
      print_unreadable_allowed_signers(*o.file, text.error());
    } else {
      key::Diagnostics diagnostics;
      auto principals = key::sshsig_find_principals(sig->signer, {*o.file, *text}, sig_options->verify_time,
                                                    &diagnostics);
      print_diagnostics(diagnostics);
      if (!principals.ok()) {
        print_error(printable(principals.error().message()));
      } else if (!principals->empty()) {
        found = std::move(*principals);
      }
    }
  }
  if (!found) {
    print_error(key::kSshsigNoPrincipalMessage);
    return kExitFatal;
  }
  for (const std::string& principal : *found) print_out(principal + "\n");
  return kExitOk;
}

// ssh-keygen's main() returns sig_match_principals()'s OpenSSH error code, so
// the exit status is that negative code's low byte.
constexpr int kExitNoPrincipalMatched = 256 - 46;  // SSH_ERR_KEY_NOT_FOUND
constexpr int kExitUnreadableFile = 256 - 24;      // SSH_ERR_SYSTEM_ERROR
constexpr int kExitInvalidOption = 256 - 10;       // SSH_ERR_INVALID_ARGUMENT
constexpr int kExitMalformedLine = 256 - 4;        // SSH_ERR_INVALID_FORMAT

int match_principals(const Options& o) {
  if (!parse_signature_options(o, {})) return kExitInvalidOption;
  auto text = sys::read_file(*o.file, key::kMaxAllowedSignersBytes);
  if (!text.ok()) {
    print_unreadable_allowed_signers(*o.file, text.error());
    print_error(key::kSshsigNoPrincipalMessage);
    return kExitUnreadableFile;
  }
  auto matched = key::sshsig_match_principals({*o.file, *text}, *o.key_id);
  if (!matched.ok() || matched->empty()) {
    if (!matched.ok()) print_error(printable(matched.error().message()));
    print_error(key::kSshsigNoPrincipalMessage);
    return matched.ok() ? kExitNoPrincipalMatched : kExitMalformedLine;
  }
  for (const std::string& principals : *matched) print_out(principals + "\n");
  return kExitOk;
}

}  // namespace

std::optional<SignatureOptions> parse_signature_options(const Options& options, AcceptedSignatureOptions accepted) {
  SignatureOptions out;
  for (const std::string& option : options.extra_options) {
    if (accepted.hash_algorithm && has_prefix_ignoring_case(option, "hashalg=")) {
      out.hash_algorithm = option.substr(8);
    } else if (accepted.verify_time && has_prefix_ignoring_case(option, "verify-time=")) {
      auto time = key::parse_absolute_time(std::string_view(option).substr(12));
      if (!time.ok() || *time == 0) {
        print_error("Invalid \"verify-time\" option");
        return std::nullopt;
      }
      out.verify_time = *time;
    } else if (accepted.print_pubkey && strcasecmp(option.c_str(), "print-pubkey") == 0) {
      out.print_pubkey = true;
    } else {
      print_error("Invalid option \"" + option + "\"");
      return std::nullopt;
    }
  }
  if (accepted.verify_time && out.verify_time == 0) out.verify_time = static_cast<uint64_t>(std::time(nullptr));
  return out;
}

int run_signature(const Options& o) {
  const std::string& operation = *o.signature_operation;
  // -n is the namespace, -s the signature file, -f the key or allowed_signers
  // file, -I the signer identity; checked in ssh-keygen's order.
  bool has_namespace = o.principals && !o.principals->empty();
  if (operation == "find-principals") {
    if (!o.ca_key) return too_few("find-principals:", "signature file");
    if (!o.file) return too_few("find-principals:", "allowed keys file");
    return find_principals(o);
  }
  if (operation == "match-principals") {
    if (!o.file) return too_few("match-principals:", "allowed keys file");
    if (!o.key_id) return too_few("match-principals: ", "principal ID");
    return match_principals(o);
  }
  if (operation == "sign") {
    if (!has_namespace) return too_few("sign: ", "namespace");
    if (!o.file) return too_few("sign: ", "key");
    return run_signature_sign(o);
  }
  if (operation == "check-novalidate") {
    if (!has_namespace) return too_few("check-novalidate: ", "namespace");
    if (!o.ca_key) return too_few("check-novalidate: ", "signature file");
    return verify(o, false);
  }
  if (!has_namespace) return too_few("verify: ", "namespace");
  if (!o.ca_key) return too_few("verify: ", "signature file");
  if (!o.file) return too_few("sign: ", "allowed keys file");  // sic: ssh-keygen 9.2's words
  if (!o.key_id) return too_few("verify: ", "principal identity");
  return verify(o, true);
}

}  // namespace tessera::keygen
