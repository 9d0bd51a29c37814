// FIDO security keys: enrolment (-t ed25519-sk / ecdsa-sk) and -K, with
// ssh-keygen 9.2's options, prompts, messages and file names.
#include "security_key.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "tessera/fido/client.h"
#include "tessera/fido/sk_api.h"
#include "tessera/key/fingerprint.h"
#include "tessera/sys/file.h"

namespace tessera::keygen {
namespace {

constexpr int kPinTries = 3;  // as ssh-keygen
constexpr size_t kRandomChallengeBytes = 32;
constexpr size_t kMaxChallengeBytes = 64 * 1024;

// -w, else $SSH_SK_PROVIDER, else the built-in middleware.
std::string provider(const Options& options) {
  if (options.sk_provider) return *options.sk_provider;
  const char* env = std::getenv("SSH_SK_PROVIDER");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string("internal");
}

fido::Algorithm algorithm_of(key::KeyType type) {
  return type == key::KeyType::kSkEd25519 ? fido::Algorithm::kEd25519 : fido::Algorithm::kEcdsaP256;
}

bool starts_with_ignore_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && strncasecmp(text.data(), prefix.data(), prefix.size()) == 0;
}

// The -O options of an enrolment, as ssh-keygen reads them.
struct EnrolmentOptions {
  uint8_t flags = SSH_SK_USER_PRESENCE_REQD;
  std::string application = "ssh:";
  std::optional<std::string> device;
  std::optional<std::string> user;
  std::optional<key::Bytes> challenge;
  std::optional<std::string> attestation_file;
};

key::Result<EnrolmentOptions> enrolment_options(const Options& options) {
  EnrolmentOptions e;
  for (const std::string& o : options.extra_options) {
    if (strcasecmp(o.c_str(), "no-touch-required") == 0) {
      e.flags &= static_cast<uint8_t>(~SSH_SK_USER_PRESENCE_REQD);
    } else if (strcasecmp(o.c_str(), "verify-required") == 0) {
      e.flags |= SSH_SK_USER_VERIFICATION_REQD;
    } else if (strcasecmp(o.c_str(), "resident") == 0) {
      e.flags |= SSH_SK_RESIDENT_KEY;
    } else if (starts_with_ignore_case(o, "device=")) {
      e.device = o.substr(7);
    } else if (starts_with_ignore_case(o, "user=")) {
      e.user = o.substr(5);
    } else if (starts_with_ignore_case(o, "challenge=")) {
      const std::string path = o.substr(10);
      auto text = sys::read_file(path, kMaxChallengeBytes);
      if (!text.ok()) {
        return fatal_failure("Unable to load FIDO enrollment challenge \"" + path + "\": " + describe(text.error()));
      }
      e.challenge = key::Bytes(text->begin(), text->end());
    } else if (starts_with_ignore_case(o, "write-attestation=")) {
      e.attestation_file = o.substr(18);
    } else if (starts_with_ignore_case(o, "application=")) {
      e.application = o.substr(12);
      if (!e.application.starts_with("ssh:")) {
        return fatal_failure("FIDO application string must begin with \"ssh:\"");
      }
    } else {
      return fatal_failure("Option \"" + o + "\" is unsupported for FIDO authenticator enrollment");
    }
  }
  if (e.challenge && e.challenge->empty()) return fatal_failure("Missing enrollment challenge");
  return e;
}

// ssh-sk-attest-v01, as ssh-keygen writes it.
key::Bytes attestation_blob(const fido::Enrolment& enrolment) {
  key::Writer w;
  w.string("ssh-sk-attest-v01");
  w.string(enrolment.attestation_certificate);
  w.string(enrolment.attestation_signature);
  w.string(enrolment.authdata);
  w.u32(0);       // reserved flags
  w.string("");  // reserved
  return w.take();
}

// ssh-keygen's confirm_sk_overwrite().
bool confirm_resident_overwrite(const EnrolmentOptions& e) {
  print_out("A resident key scoped to '" + e.application + "' with user id '" + e.user.value_or("null") +
            "' already exists.\nOverwrite key in token (y/n)? ");
  std::fflush(stdout);
  std::optional<std::string> answer = read_stdin_line();
  return answer && !answer->empty() && ((*answer)[0] == 'y' || (*answer)[0] == 'Y');
}

// ssh-keygen's sk_suffix(): the application without "ssh:" (or "ssh://"),
// then "_" and the user id when it is not all zeros (hex when it holds a
// path or control character).
std::string resident_suffix(std::string_view application, std::span<const uint8_t> user_id) {
  std::string out(application);
  if (application.starts_with("ssh://")) {
    out = std::string(application.substr(6));
  } else if (application.starts_with("ssh:")) {
    out = std::string(application.substr(4));
  }
  size_t length = user_id.size();
  while (length > 0 && user_id[length - 1] == 0) --length;
  if (length == 0) return out;
  std::string user(reinterpret_cast<const char*>(user_id.data()), length);
  bool plain = user.find('/') == std::string::npos && user.find("..") == std::string::npos &&
               user.find('\\') == std::string::npos;
  for (unsigned char c : user) plain = plain && c >= 0x20 && c != 0x7f;
  if (!plain) {
    static constexpr char kHex[] = "0123456789abcdef";
    user.clear();
    for (size_t i = 0; i < length; ++i) {
      user += kHex[user_id[i] >> 4];
      user += kHex[user_id[i] & 0xf];
    }
  }
  return out + (out.empty() ? "" : "_") + user;
}


}  // namespace

key::Result<EnrolledKey> enroll_security_key(const Options& options, key::KeyType type) {
  TESSERA_ASSIGN_OR_RETURN(EnrolmentOptions e, enrolment_options(options));
  key::Bytes challenge;
  if (e.challenge) {
    challenge = *e.challenge;
  } else {
    challenge.resize(kRandomChallengeBytes);
    if (RAND_bytes(challenge.data(), static_cast<int>(challenge.size())) != 1) {
      return fatal_failure("cannot make a random enrollment challenge");
    }
  }
  fido::Target target;
  target.provider = provider(options);
  if (e.device) target.device = *e.device;
  key::Bytes user_id;
  if (e.user) user_id.assign(e.user->begin(), e.user->end());

  uint8_t flags = e.flags;
  int attempts = 0;  // as ssh-keygen: the first, PIN-less, try counts
  bool again = false;
  for (;;) {
    if (!options.quiet) {
      print_out(std::string("You may need to touch your authenticator") + (again ? " again" : "") +
                " to authorize key generation.\n");
    }
    std::fflush(stdout);
    auto enrolled = fido::enroll(target, algorithm_of(type), e.application, flags, challenge, user_id);
    if (enrolled.ok()) {
      // The authenticator may have made the credential stricter than asked
      // (a PIN for every use): the key keeps what it reports.
      enrolled->credential.application = e.application;
      auto key = fido::private_key(enrolled->credential);
      if (!key.ok()) return fatal_failure("Key enrollment failed: " + key.error().message());
      return EnrolledKey{std::move(*key), attestation_blob(*enrolled), e.attestation_file};
    }
    again = true;
    const auto code = fido::sk_error_code(enrolled.error());
    if (code == fido::ErrorCode::kCredentialExists && (flags & SSH_SK_RESIDENT_KEY) != 0 && (flags & SSH_SK_FORCE_OPERATION) == 0 &&
        confirm_resident_overwrite(e)) {
      flags |= SSH_SK_FORCE_OPERATION;
      continue;
    }
    if (code != fido::ErrorCode::kPinRequired) return fatal_failure("Key enrollment failed: " + enrolled.error().message());
    if (target.pin) {
      print_error("PIN incorrect");
      target.pin.reset();
    }
    if (++attempts >= kPinTries) return fatal_failure("Too many incorrect PINs");
    target.pin = read_passphrase("Enter PIN for authenticator: ");
  }
}

key::Status save_attestation(const EnrolledKey& enrolled, bool quiet) {
  if (!enrolled.attestation_file) return {};
  const std::string& path = *enrolled.attestation_file;
  const std::string_view data(reinterpret_cast<const char*>(enrolled.attestation.data()), enrolled.attestation.size());
  if (auto s = write_file_atomically(path, data, 0600); !s.ok()) {
    return fatal_failure("Unable to write attestation data \"" + path + "\": " + describe(s.error()));
  }
  if (!quiet) print_out("Your FIDO attestation certificate has been saved in " + path + "\n");
  return {};
}

// ssh-keygen -K: every resident credential, saved as id_<type>_rk[_<suffix>]
// in the current directory, with its application as the comment.
int run_download_resident_keys(const Options& options) {
  fido::Target target;
  target.provider = provider(options);
  for (const std::string& o : options.extra_options) {
    if (starts_with_ignore_case(o, "device=")) {
      target.device = o.substr(7);
    } else {
      return fatal("Option \"" + o + "\" is unsupported for FIDO authenticator download");
    }
  }
  target.pin = read_passphrase("Enter PIN for authenticator: ");
  if (!options.quiet) print_out("You may need to touch your authenticator to authorize key download.\n");
  auto credentials = fido::load_resident_keys(target);
  target.pin.reset();
  if (!credentials.ok()) {
    print_error("Unable to load resident keys: " + credentials.error().message());
    return kExitFailure;
  }
  if (credentials->empty()) print_error("No keys to download");

  std::optional<key::SecretBytes> passphrase;
  for (const fido::Credential& c : *credentials) {
    auto private_key = fido::private_key(c);
    if (!private_key.ok()) {
      print_error("Skipping a resident key for " + printable(c.application) + ": " + private_key.error().message());
      continue;
    }
    const std::string suffix = resident_suffix(c.application, c.user_id);
    const std::string path = std::string("id_") + (c.alg == fido::Algorithm::kEd25519 ? "ed25519_sk" : "ecdsa_sk") +
                             "_rk" + (suffix.empty() ? "" : "_" + suffix);
    if (!confirm_overwrite(path)) return kExitFailure;
    if (!passphrase) passphrase = new_key_passphrase(options);
    if (auto s = save_private_key(path, *private_key, c.application, *passphrase, options); !s.ok()) {
      print_error("Saving key \"" + path + "\" failed: " + describe(s.error()));
      return kExitFailure;
    }
    if (!options.quiet) {
      print_out("Saved " + std::string(private_key->public_key().info().display_name) + " key " +
                printable(c.application) + " to " + path + "\n");
    }
    if (auto s = save_public_key(path + ".pub", private_key->public_key(), c.application); !s.ok()) {
      print_error("Saving public key \"" + path + ".pub\" failed: " + describe(s.error()));
      return kExitFailure;
    }
  }
  return kExitOk;
}

}  // namespace tessera::keygen
