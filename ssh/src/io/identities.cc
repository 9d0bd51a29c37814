#include "io/identities.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "tessera/agent/protocol.h"
#include "tessera/fido/client.h"
#include "tessera/key/cert.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/known_hosts.h"
#include "tessera/prompts/askpass.h"
#include "tessera/prompts/readpass.h"
#include "tessera/sys/file.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;

namespace {

constexpr size_t kMaxKeyFileBytes = 1024 * 1024;
constexpr int kPassphraseTries = 3;

bool file_exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

key::SignatureAlgorithm signature_algorithm(std::string_view name) {
  if (name == "rsa-sha2-256") return key::SignatureAlgorithm::kRsaSha256;
  if (name == "rsa-sha2-512") return key::SignatureAlgorithm::kRsaSha512;
  return key::SignatureAlgorithm::kDefault;
}

uint32_t agent_flags(std::string_view name) {
  if (name == "rsa-sha2-256") return agent::kSignFlagRsaSha256;
  if (name == "rsa-sha2-512") return agent::kSignFlagRsaSha512;
  return 0;
}

std::string describe(const key::PublicKey& key, const std::string& where, bool certificate) {
  return where + " " + std::string(key.info().display_name) + (certificate ? "-CERT " : " ") +
         key::fingerprint(key, key::FingerprintHash::kSha256);
}

// A public key or certificate from a one-line file (.pub, -cert.pub).
std::optional<std::pair<key::Bytes, key::PublicKey>> read_public_file(const std::string& path, bool& certificate) {
  auto text = sys::read_file(path, kMaxKeyFileBytes);
  if (!text.ok()) return std::nullopt;
  std::string_view line = *text;
  line = line.substr(0, line.find('\n'));
  // The blob is the second field: "type base64 [comment]".
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  const std::string_view type = line.substr(0, sp);
  if (key::find_certificate_type(type) != nullptr) {
    // Decode by parsing the line as a known_hosts key, which takes certificates.
    auto parsed = key::parse_known_hosts_key(line);
    if (!parsed.ok() || !parsed->key.certificate) return std::nullopt;
    certificate = true;
    return std::make_pair(parsed->key.certificate->blob(), parsed->key.key);
  }
  auto parsed = key::parse_public_key_line(line);
  if (!parsed.ok()) return std::nullopt;
  certificate = false;
  return std::make_pair(parsed->key.blob(), parsed->key);
}

// A file key, decrypted the first time it must sign.
struct FileKey {
  std::string path;
  std::optional<key::PrivateKey> loaded;

  key::Result<const key::PrivateKey*> load() {
    if (loaded) return &*loaded;
    auto text = sys::read_file(path, kMaxKeyFileBytes);
    if (!text.ok()) return text.error();
    auto plain = key::parse_private_key(*text, key::SecretBytes());
    if (plain.ok()) {
      loaded = std::move(plain->key);
      return &*loaded;
    }
    if (plain.error().code() != Errc::kPassphraseRequired && plain.error().code() != Errc::kWrongPassphrase) {
      return plain.error().with_context(path);
    }
    std::string prompt = "Enter passphrase for key '" + path + "': ";
    for (int i = 0; i < kPassphraseTries; ++i) {
      auto pass = prompts::read_passphrase(prompt, prompts::kReadAllowEof);
      if (!pass || pass->empty()) return Error(Errc::kPassphraseRequired, "no passphrase given for " + path);
      auto key = key::parse_private_key(*text, *pass);
      if (key.ok()) {
        loaded = std::move(key->key);
        return &*loaded;
      }
      if (key.error().code() != Errc::kWrongPassphrase) return key.error().with_context(path);
      prompt = "Bad passphrase, try again for " + path + ": ";
    }
    return Error(Errc::kWrongPassphrase, "wrong passphrase for " + path);
  }
};

// As ssh's identity_sign() for a security key file: its PIN first when the
// key wants one, "Confirm user presence for key ..." while the authenticator
// waits for a touch (on the terminal, else through askpass), the signature
// through tessera-sk-helper, and a PIN asked once more if the authenticator
// turned out to want one.
key::Result<key::Bytes> sign_with_authenticator(const key::PrivateKey& k, std::span<const uint8_t> data,
                                                const std::string& provider, bool batch_mode) {
  const key::SecurityKeyCredential& credential = *k.security_key();
  const key::PublicKey& pub = k.public_key();
  const std::string described = std::string(pub.info().display_name) + " key " +
                                key::fingerprint(pub, key::FingerprintHash::kSha256);
  fido::Target target;
  target.provider = provider.empty() ? std::string("internal") : provider;
  const fido::Algorithm alg =
      pub.type() == key::KeyType::kSkEd25519 ? fido::Algorithm::kEd25519 : fido::Algorithm::kEcdsaP256;
  auto ask_pin = [&]() -> key::Status {
    auto pin = prompts::read_passphrase("Enter PIN for " + described + ": ", 0);
    if (!pin || pin->empty()) return Error(Errc::kPassphraseRequired, "no PIN given for " + described);
    target.pin = std::move(*pin);
    return {};
  };
  if ((credential.flags & key::kSkUserVerificationRequired) != 0) TESSERA_TRY(ask_pin());
  const bool presence = (credential.flags & key::kSkUserPresenceRequired) != 0;
  const bool on_terminal = !batch_mode && ::isatty(STDERR_FILENO) == 1;
  for (bool retried = false;;) {
    prompts::Notice notice;
    if (presence) {
      const std::string text = "Confirm user presence for key " + std::string(pub.info().display_name) + " " +
                               key::fingerprint(pub, key::FingerprintHash::kSha256);
      if (on_terminal) {
        std::fprintf(stderr, "%s\r\n", text.c_str());
      } else {
        notice = prompts::Notice::show(prompts::AskpassConfig::from_environment(), text);
      }
    }
    auto assertion = fido::sign(target, alg, pub.sk_application(), credential.key_handle.reveal(), credential.flags,
                                data);
    notice.close();
    if (!assertion.ok()) {
      if (!retried && !target.pin && fido::sk_error_code(assertion.error()) == fido::ErrorCode::kPinRequired) {
        retried = true;
        TESSERA_TRY(ask_pin());
        continue;
      }
      return assertion.error();
    }
    if (presence && on_terminal) std::fprintf(stderr, "User presence confirmed\r\n");
    return key::security_key_signature(pub, data, assertion->flags, assertion->counter, assertion->sig_r,
                                       assertion->sig_s);
  }
}

}  // namespace

Identities::Identities(IdentitySettings settings, std::function<void(const std::string&)> warn,
                       std::function<void(const std::string&)> debug)
    : settings_(std::move(settings)), warn_(std::move(warn)), debug_(std::move(debug)) {
  if (settings_.agent_socket && !settings_.agent_socket->empty()) {
    auto agent = agent::AgentClient::connect(*settings_.agent_socket);
    if (agent.ok()) {
      agent_ = std::move(*agent);
    } else {
      debug_("agent " + *settings_.agent_socket + ": " + agent.error().message());
    }
  }
}

std::vector<auth::ClientIdentity> Identities::list() {
  std::vector<auth::ClientIdentity> out;

  // The public halves the configuration names: key files and certificates.
  struct Named {
    std::string path;         // the private key file ("" for a lone certificate)
    key::Bytes blob;
    key::PublicKey key;
    bool certificate;
  };
  std::vector<Named> named;
  for (const std::string& path : settings_.identity_files) {
    bool cert = false;
    std::optional<std::pair<key::Bytes, key::PublicKey>> pub;
    if (file_exists(path + ".pub")) pub = read_public_file(path + ".pub", cert);
    if (!pub && file_exists(path)) {
      auto text = sys::read_file(path, kMaxKeyFileBytes);
      if (text.ok() && key::is_openssh_private_key(*text)) {
        if (auto info = key::inspect_openssh_private_key(*text); info.ok()) {
          pub = std::make_pair(info->public_key.blob(), info->public_key);
        }
      } else if (text.ok()) {
        if (auto k = key::parse_private_key(*text, key::SecretBytes()); k.ok()) {
          pub = std::make_pair(k->key.public_key().blob(), k->key.public_key());
        }
      }
    }
    if (!pub) {
      if (!file_exists(path)) {
        if (!settings_.identity_files_are_defaults) warn_("no such identity: " + path + ": No such file or directory");
      } else {
        debug_("cannot read the public key of " + path);
      }
      continue;
    }
    named.push_back({path, pub->first, pub->second, false});
    bool cert_flag = false;
    if (file_exists(path + "-cert.pub")) {
      if (auto c = read_public_file(path + "-cert.pub", cert_flag); c && cert_flag && c->second == pub->second) {
        named.push_back({path, c->first, c->second, true});
      }
    }
  }
  for (const std::string& path : settings_.certificate_files) {
    bool cert = false;
    auto c = read_public_file(path, cert);
    if (!c || !cert) {
      warn_("no such certificate or not a certificate: " + path);
      continue;
    }
    // Signed by the matching key file, if one was named.
    std::string key_path;
    for (const Named& n : named) {
      if (!n.certificate && n.key == c->second) key_path = n.path;
    }
    named.push_back({key_path, c->first, c->second, true});
  }

  // The PKCS11Provider's keys, listed once per connection.
  if (!tokens_ && settings_.pkcs11_provider) {
    tokens_ = TokenIdentities::open(TokenSettings{*settings_.pkcs11_provider, settings_.batch_mode}, warn_, debug_);
  }
  static const std::vector<TokenKey> kNoTokenKeys;
  const std::vector<TokenKey>& token_keys = tokens_ ? tokens_->keys() : kNoTokenKeys;
  std::vector<bool> token_in_agent(token_keys.size(), false);

  // The agent's keys: first, in the agent's order; those the configuration
  // names are signed by the agent rather than from the file (or the token).
  std::vector<bool> covered(named.size(), false);
  if (agent_) {
    auto ids = agent_->list_identities();
    if (!ids.ok()) {
      warn_("error fetching identities: " + ids.error().message());
    } else {
      for (const agent::Identity& id : *ids) {
        bool cert = false;
        std::optional<key::PublicKey> key;
        if (auto k = key::PublicKey::from_blob(id.key_blob); k.ok()) {
          key = *k;
        } else if (auto c = key::Certificate::from_blob(id.key_blob); c.ok()) {
          key = c->key;
          cert = true;
        } else {
          continue;  // a key type tessera does not know
        }
        bool wanted = !settings_.identities_only;
        for (size_t i = 0; i < named.size(); ++i) {
          if (named[i].blob == id.key_blob) {
            covered[i] = true;
            wanted = true;
          }
        }
        // As OpenSSH, a token key counts as configured (even with IdentitiesOnly).
        for (size_t t = 0; t < token_keys.size(); ++t) {
          if (token_keys[t].blob == id.key_blob) {
            token_in_agent[t] = true;
            wanted = true;
          }
        }
        if (!wanted) continue;
        auth::ClientIdentity ci{.blob = id.key_blob,
                                .key = *key,
                                .certificate = cert,
                                .description = describe(*key, id.comment, cert) + " agent",
                                .sign = {}};
        agent::AgentClient* agent = &*agent_;
        ci.sign = [agent, blob = id.key_blob](std::span<const uint8_t> data, std::string_view alg) {
          return agent->sign(blob, data, agent_flags(alg));
        };
        out.push_back(std::move(ci));
        // A plain key in the agent also signs the certificates named for it.
        for (size_t i = 0; i < named.size(); ++i) {
          if (covered[i] || !named[i].certificate || cert || !(named[i].key == *key)) continue;
          covered[i] = true;
          auth::ClientIdentity cc{.blob = named[i].blob,
                                  .key = *key,
                                  .certificate = true,
                                  .description = describe(*key, named[i].path, true) + " agent",
                                  .sign = {}};
          cc.sign = [agent, blob = id.key_blob](std::span<const uint8_t> data, std::string_view alg) {
            return agent->sign(blob, data, agent_flags(alg));
          };
          out.push_back(std::move(cc));
        }
      }
    }
  }

  // Then the token keys the agent does not hold: first those an IdentityFile
  // names, then (without IdentitiesOnly) the others, as OpenSSH 9.2 orders
  // them. The certificates named for a token key are signed by the token.
  for (const bool named_pass : {true, false}) {
    for (size_t t = 0; t < token_keys.size(); ++t) {
      const TokenKey& tk = token_keys[t];
      if (token_in_agent[t]) continue;
      bool in_files = false;
      for (const Named& n : named) in_files = in_files || (!n.certificate && !n.path.empty() && n.key == tk.key);
      if (in_files != named_pass) continue;
      if (in_files || !settings_.identities_only) {
        out.push_back(auth::ClientIdentity{.blob = tk.blob,
                                           .key = tk.key,
                                           .certificate = false,
                                           .description = describe(tk.key, tk.label, false) + " token",
                                           .sign = tokens_->signer(t)});
      }
      for (size_t i = 0; i < named.size(); ++i) {
        if (covered[i] || !(named[i].key == tk.key)) continue;
        covered[i] = true;  // the key file is the token's key: the token signs
        if (!named[i].certificate) continue;
        out.push_back(auth::ClientIdentity{.blob = named[i].blob,
                                           .key = tk.key,
                                           .certificate = true,
                                           .description = describe(tk.key, tk.label, true) + " token",
                                           .sign = tokens_->signer(t)});
      }
    }
  }

  // Then the files the agent and the token do not hold.
  for (size_t i = 0; i < named.size(); ++i) {
    if (covered[i] || named[i].path.empty()) continue;
    auto file = std::make_shared<FileKey>(FileKey{named[i].path, std::nullopt});
    auth::ClientIdentity ci{.blob = named[i].blob,
                            .key = named[i].key,
                            .certificate = named[i].certificate,
                            .description = describe(named[i].key, named[i].path, named[i].certificate),
                            .sign = {}};
    ci.sign = [file, provider = settings_.security_key_provider, batch = settings_.batch_mode](
                  std::span<const uint8_t> data, std::string_view alg) -> key::Result<key::Bytes> {
      TESSERA_ASSIGN_OR_RETURN(const key::PrivateKey* k, file->load());
      if (k->security_key() != nullptr) return sign_with_authenticator(*k, data, provider, batch);
      return k->sign(data, signature_algorithm(alg));
    };
    out.push_back(std::move(ci));
  }
  return out;
}

}  // namespace tessera::ssh::io
