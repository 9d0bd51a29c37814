// -Y sign, as ssh-keygen 9.2's sig_sign(): each file FILE is signed into
// FILE.sig ("-", or no file, signs standard input to standard output), with
// "Signing file FILE" and "Write signature to FILE.sig" on stderr unless -q.
// The first failure ends the run (exit 255).
//
// The key: -f names a private key, or a public key or certificate whose
// private key is beside it (FILE.pub, FILE-cert.pub). As ssh-keygen, a key
// the agent ($SSH_AUTH_SOCK) holds signs there; -U requires it. Beyond
// ssh-keygen, -D PROVIDER signs with the matching key on a PKCS#11 token.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "keyfile.h"
#include "output.h"
#include "signature.h"
#include "tessera/agent/client.h"
#include "token.h"

namespace tessera::keygen {
namespace {

// The key that signs and the function that signs with it. A failure to set
// it up has been printed; `status` is then the exit status.
struct Signer {
  key::KeyOrCertificate key;
  key::SignFunction sign;
};

std::string_view signature_algorithm_name(const key::PublicKey& key, key::SignatureAlgorithm alg) {
  switch (alg) {
    case key::SignatureAlgorithm::kRsaSha512: return "rsa-sha2-512";
    case key::SignatureAlgorithm::kRsaSha256: return "rsa-sha2-256";
    case key::SignatureAlgorithm::kRsaSha1: return "ssh-rsa";
    case key::SignatureAlgorithm::kDefault: break;
  }
  return key.ssh_name();
}

// sshkey_load_public() for -f, certificates included.
std::optional<key::KeyOrCertificate> load_signing_public(const std::string& path) {
  std::ifstream in(path);
  for (std::string line; in && std::getline(in, line);) {
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty() || line.starts_with('#')) continue;
    if (line.find("-cert-v01@openssh.com") != std::string::npos) {
      if (auto cert = key::KeyOrCertificate::from_line(line); cert.ok()) return std::move(*cert);
    }
    break;
  }
  if (auto plain = load_public_key(path)) return key::KeyOrCertificate::plain(std::move(plain->key));
  return std::nullopt;
}

// The agent, if it holds the key (none if it does not); with -U (require) it must.
key::Result<std::optional<Signer>> agent_signer(const key::KeyOrCertificate& public_key, bool require) {
  const char* socket = std::getenv(std::string(agent::kAuthSockEnv).c_str());
  std::optional<agent::AgentClient> client;
  if (socket != nullptr && *socket != '\0') {
    if (auto connected = agent::AgentClient::connect(socket); connected.ok()) client.emplace(std::move(*connected));
  }
  if (!client) {
    if (require) return fatal_failure("Couldn't get agent socket");
    return std::optional<Signer>();
  }
  const key::Bytes blob = public_key.blob();
  auto identities = client->list_identities();
  bool held = false;
  if (identities.ok()) {
    for (const agent::Identity& id : *identities) held = held || id.key_blob == blob;
  }
  if (!held) {
    if (require) return fatal_failure("Couldn't find key in agent");
    return std::optional<Signer>();
  }
  auto shared = std::make_shared<agent::AgentClient>(std::move(*client));
  return std::optional<Signer>(
      Signer{public_key, [shared, blob](std::span<const uint8_t> data, key::SignatureAlgorithm alg) {
               uint32_t flags = alg == key::SignatureAlgorithm::kRsaSha512   ? agent::kSignFlagRsaSha512
                                : alg == key::SignatureAlgorithm::kRsaSha256 ? agent::kSignFlagRsaSha256
                                                                             : 0;
               return shared->sign(blob, data, flags);
             }});
}

// -D: the token key whose public key -f names.
key::Result<Signer> token_signer(const Options& o, const key::KeyOrCertificate& public_key) {
  TESSERA_ASSIGN_OR_RETURN(TokenSession token, TokenSession::open(*o.pkcs11_provider));
  const pkcs11::KeyInfo* found = token.find(public_key.key.blob());
  if (found == nullptr) {
    return fatal_failure("Key " + *o.file + " is not on a token of " + *o.pkcs11_provider + " (tessera-keygen -D " +
                       *o.pkcs11_provider + " lists the keys there)");
  }
  pkcs11::KeyInfo key_info = *found;
  auto shared = std::make_shared<TokenSession>(std::move(token));
  key::PublicKey plain = public_key.key;
  return Signer{public_key, [shared, key_info, plain](std::span<const uint8_t> data, key::SignatureAlgorithm alg) {
                  return shared->sign(key_info, data, std::string(signature_algorithm_name(plain, alg)));
                }};
}

// ssh-keygen's load_sign_key(): the private key beside a public key file.
key::Result<Signer> file_signer(const Options& o, const key::KeyOrCertificate& public_key) {
  const std::string& path = *o.file;
  std::string private_path = path;
  bool was_public = false;
  for (std::string_view suffix : {"-cert.pub", ".pub"}) {
    if (private_path.size() > suffix.size() && private_path.ends_with(suffix)) {
      private_path.resize(private_path.size() - suffix.size());
      was_public = true;
    }
  }
  if (was_public && ::access(private_path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return fatal_failure("No private key found for public key \"" + path + "\"");
  }
  const key::SecretBytes* passphrase = o.passphrase ? &*o.passphrase : nullptr;
  auto loaded = load_private_key(private_path, passphrase, "Enter passphrase: ");
  if (!loaded.ok()) {
    return loaded.error().code() == key::Errc::kWrongPassphrase
               ? fatal_failure("Load key \"" + private_path + "\": " + describe(loaded.error()))
               : fatal_failure("No private key found for \"" + private_path + "\"");
  }
  if (!(loaded->key.public_key() == public_key.key)) {
    return fatal_failure("Public key " + path + " doesn't match private " + private_path);
  }
  auto shared = std::make_shared<key::PrivateKey>(std::move(loaded->key));
  return Signer{public_key, [shared](std::span<const uint8_t> data, key::SignatureAlgorithm alg) {
                  return key::sign_with(*shared)(data, alg);
                }};
}

key::Result<Signer> load_signer(const Options& o) {
  std::optional<key::KeyOrCertificate> public_key = load_signing_public(*o.file);
  if (!public_key) {
    bool exists = ::access(o.file->c_str(), F_OK) == 0;
    return fatal_failure("Couldn't load public key " + *o.file + ": " +
                       (exists ? std::string("invalid format") : std::string(std::strerror(ENOENT))));
  }
  if (o.pkcs11_provider) return token_signer(o, *public_key);
  TESSERA_ASSIGN_OR_RETURN(std::optional<Signer> agent, agent_signer(*public_key, o.ca_in_agent));
  if (agent) return std::move(*agent);
  return file_signer(o, *public_key);
}

// Writes the armored signature to path.sig, as ssh-keygen's sign_one().
int write_signature(const std::string& path, const std::string& armored, bool quiet) {
  const std::string out = path + ".sig";
  if (!confirm_overwrite(out)) return kExitOk;
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return fatal("Cannot open " + out + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < armored.size()) {
    ssize_t n = ::write(fd, armored.data() + written, armored.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = errno;
      ::close(fd);
      return fatal("Cannot write to " + out + ": " + std::strerror(saved));
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return fatal("Cannot write to " + out + ": " + std::strerror(errno));
  if (!quiet) print_error("Write signature to " + out);
  return kExitOk;
}

int sign_one(const Options& o, const Signer& signer, const std::optional<std::string>& hash_name,
             const std::string& name, std::istream& message, bool from_stdin) {
  if (!o.quiet) print_error(from_stdin ? "Signing data on standard input" : "Signing file " + name);
  auto hash = hash_name ? key::parse_sshsig_hash(*hash_name) : key::Result<key::SshsigHash>(key::kDefaultSshsigHash);
  if (!hash.ok()) return fatal("Signing " + name + " failed: signature algorithm not supported");
  auto digest = key::sshsig_digest(*hash, message);
  if (!digest.ok()) return fatal("Signing " + name + " failed: " + digest.error().message());
  auto sig = key::sshsig_sign(signer.key, signer.sign, *o.principals, *hash, *digest);
  if (!sig.ok()) {
    std::string problem = agent::is_agent_refusal(sig.error()) ? std::string(agent::kAgentRefusedText)
                                                               : sig.error().message();
    return fatal("Signing " + name + " failed: " + problem);
  }
  std::string armored = key::sshsig_armor(sig->blob());
  if (from_stdin) {
    print_out(armored);
    return kExitOk;
  }
  return write_signature(name, armored, o.quiet);
}

}  // namespace

int run_signature_sign(const Options& o) {
  const std::vector<std::string>& files = o.files;
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i] == "-" && (i > 0 || files.size() > 1)) return fatal("Cannot sign mix of paths and standard input");
  }
  std::optional<SignatureOptions> sig_options =
      parse_signature_options(o, {.hash_algorithm = true, .verify_time = false, .print_pubkey = false});
  if (!sig_options) return kExitFatal;
  auto loaded_signer = load_signer(o);
  if (!loaded_signer.ok()) return report_failure(loaded_signer.error());
  std::optional<Signer> signer = std::move(*loaded_signer);
  int status = kExitOk;

  if (files.empty()) return sign_one(o, *signer, sig_options->hash_algorithm, "(stdin)", std::cin, true);
  for (const std::string& file : files) {
    if (file == "-") {
      status = sign_one(o, *signer, sig_options->hash_algorithm, file, std::cin, true);
    } else {
      std::ifstream in(file, std::ios::binary);
      if (!in) return fatal("Cannot open " + file + " for signing: " + std::strerror(errno));
      status = sign_one(o, *signer, sig_options->hash_algorithm, file, in, false);
    }
    if (status != kExitOk) return status;
  }
  return kExitOk;
}

}  // namespace tessera::keygen
