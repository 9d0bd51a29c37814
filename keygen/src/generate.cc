// Key generation (no mode flag), as ssh-keygen 9.2: validate -t/-b, generate,
// ask for the file (unless -f), confirm an overwrite, ask for the passphrase
// twice (unless -N/-P), save FILE (0600) and FILE.pub, show the fingerprint.
// Security key types are made on an authenticator (security_key.cc).
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <variant>

#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "security_key.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"

namespace tessera::keygen {
namespace {

// ssh-keygen's default without -t (OpenSSH 9.2 built with OpenSSL).
constexpr std::string_view kDefaultKeyTypeName = "rsa";
constexpr unsigned kDefaultEcdsaBits = 256;

// The key type and size to generate, or the message that refuses them.
struct Plan {
  key::KeyType type;
  unsigned bits;  // for RSA; 0 otherwise
};

std::variant<Plan, std::string> plan_key(std::string_view name, unsigned bits) {
  std::optional<NamedKeyType> named = parse_key_type_name(name);
  if (!named) return "unknown key type " + std::string(name);
  if (!named->type) {
    return "DSA keys are not supported: generate an ed25519, ecdsa or rsa key instead";
  }
  switch (*named->type) {
    case key::KeyType::kRsa:
      if (bits == 0) bits = key::kDefaultRsaBits;
      if (bits < key::kMinRsaGenerateBits) {
        return "Invalid RSA key length: minimum is " + std::to_string(key::kMinRsaGenerateBits) +
               " bits (tessera-keygen does not generate weaker RSA keys)";
      }
      if (bits > key::kMaxRsaBits) {
        return "Invalid RSA key length: maximum is " + std::to_string(key::kMaxRsaBits) + " bits";
      }
      return Plan{key::KeyType::kRsa, bits};
    case key::KeyType::kEcdsaP256:
    case key::KeyType::kEcdsaP384:
    case key::KeyType::kEcdsaP521:
      if (bits == 0) bits = named->curve_bits != 0 ? named->curve_bits : kDefaultEcdsaBits;
      if (bits == 256) return Plan{key::KeyType::kEcdsaP256, 0};
      if (bits == 384) return Plan{key::KeyType::kEcdsaP384, 0};
      if (bits == 521) return Plan{key::KeyType::kEcdsaP521, 0};
      return std::string("Invalid ECDSA key length: valid lengths are 256, 384 or 521 bits");
    default:
      return Plan{*named->type, 0};
  }
}

// ssh-keygen's hostfile_create_user_ssh_dir(): creates ~/.ssh (0700) when the
// key goes there and it does not exist yet.
void create_ssh_directory(const std::string& file, const UserInfo& user, bool notify) {
  size_t slash = file.rfind('/');
  if (slash == std::string::npos) return;
  std::string dir = user.home + "/.ssh";
  if (dir.size() > slash || file.compare(0, slash, dir, 0, slash) != 0) return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return;
  if (errno != ENOENT) {
    print_error("Could not stat " + dir + ": " + std::strerror(errno));
  } else if (::mkdir(dir.c_str(), 0700) != 0) {
    print_error("Could not create directory '" + dir + "' (" + std::strerror(errno) + ").");
  } else if (notify) {
    print_error("Created directory '" + dir + "'.");
  }
}

}  // namespace

int run_generate(const Options& options) {
  std::string type_name(options.key_type_name.value_or(std::string(kDefaultKeyTypeName)));
  auto planned = plan_key(type_name, options.bits);
  if (auto* refusal = std::get_if<std::string>(&planned)) return fatal(*refusal);
  const Plan plan = std::get<Plan>(planned);

  auto user = current_user();
  if (!user.ok()) return fatal(user.error().message());

  if (!options.quiet) print_out("Generating public/private " + type_name + " key pair.\n");
  std::optional<EnrolledKey> enrolled;
  std::optional<key::PrivateKey> generated;
  if (key::key_type_info(plan.type).security_key) {
    auto made = enroll_security_key(options, plan.type);
    if (!made.ok()) return report_failure(made.error());
    enrolled = std::move(*made);
  } else {
    auto made = key::PrivateKey::generate(plan.type, plan.bits);
    if (!made.ok()) return fatal("Key generation failed: " + made.error().message());
    generated = std::move(*made);
  }
  const key::PrivateKey& private_key = enrolled ? enrolled->key : *generated;

  std::string file;
  if (options.file) {
    file = *options.file;
  } else {
    auto default_path = default_key_path(options, *user);
    if (!default_path.ok()) return fatal(default_path.error().message());
    auto answer = ask_filename(*default_path, "Enter file in which to save the key");
    if (!answer) return kExitFailure;
    file = *answer;
  }
  create_ssh_directory(file, *user, !options.quiet);
  if (!confirm_overwrite(file)) return kExitFailure;

  key::SecretBytes passphrase = new_key_passphrase(options);
  std::string comment = options.comment.value_or(default_comment(*user));

  key::Status saved = save_private_key(file, private_key, comment, passphrase, options);
  if (!saved.ok()) return failure("Saving key \"" + file + "\" failed: " + describe(saved.error()));
  if (!options.quiet) print_out("Your identification has been saved in " + file + "\n");

  const std::string public_file = file + ".pub";
  key::Status saved_public = save_public_key(public_file, private_key.public_key(), comment);
  if (!saved_public.ok()) {
    return fatal("Unable to save public key to " + public_file + ": " + describe(saved_public.error()));
  }
  if (!options.quiet) print_out("Your public key has been saved in " + public_file + "\n");
  if (enrolled) {
    if (auto s = save_attestation(*enrolled, options.quiet); !s.ok()) return report_failure(s.error());
  }
  if (!options.quiet) {
    const key::PublicKey& pub = private_key.public_key();
    print_out("The key fingerprint is:\n");
    print_out(key::fingerprint(pub, options.fingerprint_hash) + " " + printable(comment) + "\n");
    print_out("The key's randomart image is:\n");
    print_out(key::randomart(pub, options.fingerprint_hash) + "\n");
  }
  return kExitOk;
}

}  // namespace tessera::keygen
