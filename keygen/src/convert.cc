// -e (export), -i (import) and -y (print the public key of a private key file),
// as ssh-keygen 9.2's do_convert_to(), do_convert_from() and do_print_public().
#include <optional>
#include <string>

#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"

namespace tessera::keygen {
namespace {

// ssh-keygen's RFC 4716 Comment header is cut to 60 bytes so that the line fits
// in 72 (RFC 4716 section 3.3).
constexpr size_t kMaxExportCommentBytes = 60;

const key::SecretBytes* given(const std::optional<key::SecretBytes>& passphrase) {
  return passphrase ? &*passphrase : nullptr;
}

}  // namespace

int run_print_public(const Options& options) {
  auto chosen = input_file(options);
  if (!chosen.ok()) return report_failure(chosen.error());
  std::optional<std::string> file = std::move(*chosen);
  if (!file_exists(*file, false)) return kExitFatal;
  auto loaded = load_private_key(*file, given(options.passphrase), "Enter passphrase: ");
  if (!loaded.ok()) return fatal("Load key \"" + *file + "\": " + describe(loaded.error()));
  print_out(key::format_public_key_line(loaded->key.public_key(), loaded->comment.value_or("")) + "\n");
  return kExitOk;
}

int run_export(const Options& options) {
  auto chosen = input_file(options);
  if (!chosen.ok()) return report_failure(chosen.error());
  std::optional<std::string> file = std::move(*chosen);
  if (!file_exists(*file, true)) return kExitFatal;

  std::optional<key::PublicKey> pub;
  if (auto found = load_public_key(*file)) {
    pub = std::move(found->key);
  } else {
    auto loaded = load_private_key(*file, given(options.passphrase), "Enter passphrase: ");
    if (!loaded.ok()) return fatal("Load key \"" + *file + "\": " + describe(loaded.error()));
    pub = loaded->key.public_key();
  }

  if (options.format == KeyFormat::kRfc4716) {
    auto user = current_user();
    if (!user.ok()) return fatal(user.error().message());
    std::string comment = std::to_string(pub->bits()) + "-bit " + std::string(pub->info().display_name) +
                          ", converted by " + default_comment(*user) + " from OpenSSH";
    if (comment.size() > kMaxExportCommentBytes) comment.resize(kMaxExportCommentBytes);
    print_out(key::format_rfc4716(*pub, comment));
    return kExitOk;
  }
  auto flavor = options.format == KeyFormat::kPem ? key::PemFlavor::kTraditional : key::PemFlavor::kPkcs8;
  auto pem = key::format_pem_public_key(*pub, flavor);
  if (!pem.ok()) return fatal(std::string(kProgramName) + ": " + *file + ": " + pem.error().message());
  print_out(*pem);
  return kExitOk;
}

int run_import(const Options& options) {
  auto chosen = input_file(options);
  if (!chosen.ok()) return report_failure(chosen.error());
  std::optional<std::string> file = std::move(*chosen);
  if (!file_exists(*file, true)) return kExitFatal;

  auto contents = read_key_file(*file, false);
  if (!contents.ok()) return fatal(std::string(kProgramName) + ": " + *file + ": " + contents.error().message());
  std::string_view text = contents->reveal_text();

  std::optional<key::PublicKey> pub;
  if (options.format == KeyFormat::kRfc4716) {
    auto parsed = key::parse_rfc4716(text);
    if (!parsed.ok()) return fatal(*file + " is not an RFC 4716 public key: " + parsed.error().message());
    pub = std::move(parsed->key);
  } else {
    // Both PEM forms ("PUBLIC KEY" and "RSA PUBLIC KEY") are read for either -m.
    auto parsed = key::parse_pem_public_key(text);
    if (!parsed.ok()) return fatal(*file + " is not a recognised public key format: " + parsed.error().message());
    pub = std::move(*parsed);
  }
  print_out(key::format_public_key_line(*pub, "") + "\n");
  return kExitOk;
}

}  // namespace tessera::keygen
