// -c: change the comment of a private key file and rewrite FILE.pub, as
// ssh-keygen 9.2's do_change_comment(). Only openssh-key-v1 files hold a
// comment, so a PEM/PKCS#8 key is rewritten in that format (as ssh-keygen).
#include <optional>
#include <string>

#include "keyfile.h"
#include "modes.h"
#include "output.h"

namespace tessera::keygen {

int run_change_comment(const Options& options) {
  auto chosen = input_file(options);
  if (!chosen.ok()) return report_failure(chosen.error());
  std::optional<std::string> file = std::move(*chosen);
  if (!file_exists(*file, false)) return kExitFatal;

  // ssh-keygen takes -P, else -N, as the current passphrase here.
  const std::optional<key::SecretBytes>& given = options.passphrase ? options.passphrase : options.new_passphrase;
  auto loaded = load_private_key(*file, given ? &*given : nullptr, "Enter passphrase: ");
  if (!loaded.ok()) return fatal("Cannot load private key \"" + *file + "\": " + describe(loaded.error()));

  bool pem_requested = options.format_given && options.format != KeyFormat::kRfc4716;
  if (pem_requested && loaded->key.type() != key::KeyType::kEd25519) {
    return failure("Comments are only supported for keys stored in the new format (-o).");
  }
  if (loaded->comment) {
    print_out("Old comment: " + printable(*loaded->comment) + "\n");
  } else {
    print_out("No existing comment\n");
  }

  std::string comment;
  if (options.comment) {
    comment = *options.comment;
  } else {
    print_out("New comment: ");
    std::optional<std::string> typed = read_stdin_line();
    if (!typed) return kExitFailure;
    comment = *typed;
  }
  if (loaded->comment && *loaded->comment == comment) {
    print_out("No change to comment\n");
    return kExitOk;
  }

  key::Status saved = save_private_key(*file, loaded->key, comment, loaded->passphrase, options);
  if (!saved.ok()) return failure("Saving key \"" + *file + "\" failed: " + describe(saved.error()));
  const std::string public_file = *file + ".pub";
  key::Status saved_public = save_public_key(public_file, loaded->key.public_key(), comment);
  if (!saved_public.ok()) {
    return fatal("Unable to save public key to " + public_file + ": " + describe(saved_public.error()));
  }
  if (!comment.empty()) {
    print_out("Comment '" + printable(comment) + "' applied\n");
  } else {
    print_out("Comment removed\n");
  }
  return kExitOk;
}

}  // namespace tessera::keygen
