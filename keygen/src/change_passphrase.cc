// -p: change (or add, or remove) the passphrase of a private key file, as
// ssh-keygen 9.2's do_change_passphrase(). The key is written back in the
// format -m asks for (openssh-key-v1 without -m, as ssh-keygen), with -Z/-a.
#include <optional>
#include <string>

#include "keyfile.h"
#include "modes.h"
#include "output.h"

namespace tessera::keygen {

int run_change_passphrase(const Options& options) {
  auto chosen = input_file(options);
  if (!chosen.ok()) return report_failure(chosen.error());
  std::optional<std::string> file = std::move(*chosen);
  if (!file_exists(*file, false)) return kExitFatal;

  auto loaded = load_private_key(*file, options.passphrase ? &*options.passphrase : nullptr,
                                 "Enter old passphrase: ");
  if (!loaded.ok()) return fatal("Failed to load key " + *file + ": " + describe(loaded.error()));
  if (loaded->comment) print_out(printable("Key has comment '" + *loaded->comment + "'") + "\n");

  key::SecretBytes passphrase;
  if (options.new_passphrase) {
    passphrase = options.new_passphrase->clone();
  } else {
    passphrase = read_passphrase("Enter new passphrase (empty for no passphrase): ");
    key::SecretBytes again = read_passphrase("Enter same passphrase again: ");
    if (!passphrase.equals(again)) {
      print_out("Pass phrases do not match.  Try again.\n");
      return kExitFailure;
    }
  }

  key::Status saved = save_private_key(*file, loaded->key, loaded->comment.value_or(""), passphrase, options);
  if (!saved.ok()) return failure("Saving key \"" + *file + "\" failed: " + describe(saved.error()));
  print_out("Your identification has been saved with the new passphrase.\n");
  return kExitOk;
}

}  // namespace tessera::keygen
