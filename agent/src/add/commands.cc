#include "commands.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "keyfile.h"
#include "tessera/fido/client.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/prompts/readpass.h"
#include "tessera/sys/convtime.h"

namespace tessera::add {

using prompts::kReadAllowStdin;
using prompts::read_passphrase;

using agent::AgentClient;
using key::Errc;
using key::Error;
using key::Status;

namespace {

// Bytes of random data signed by -T, as ssh-add.
constexpr size_t kTestDataBytes = 1024;

struct LoadedPrivate {
  key::PrivateKey key;
  std::string comment;
};

// What ssh-add prints for a key file it cannot use.
std::string load_error_text(const Error& e) {
  switch (e.code()) {
    case Errc::kTruncated:
    case Errc::kTrailingData:
    case Errc::kMalformed:
      return "invalid format";
    default:
      return e.message();
  }
}

void print_constraint_notes(const Options& o) {
  if (o.lifetime != 0) std::fprintf(stderr, "Lifetime set to %u seconds\n", o.lifetime);
  if (o.confirm) std::fprintf(stderr, "The user must confirm each use of the key\n");
}

bool random_bytes(std::vector<uint8_t>& out) { return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1; }

// Signs random data with the agent and verifies the answer with the public
// key; returns an empty string on success, else ssh-add's reason.
std::string sign_and_verify(AgentClient& agent, const AnyPublic& pub, std::string* failed_step) {
  std::vector<uint8_t> data(kTestDataBytes);
  if (!random_bytes(data)) {
    *failed_step = "random";
    return "cannot get random bytes";
  }
  const bool rsa = pub.key.type() == key::KeyType::kRsa;
  auto sig = agent.sign(pub.blob, data, rsa ? agent::kSignFlagRsaSha256 : 0);
  if (!sig.ok()) {
    *failed_step = "sign";
    return agent_error_text(sig.error());
  }
  *failed_step = "verify";
  if (rsa) {
    auto alg = key::signature_algorithm_name(*sig);
    if (!alg.ok() || *alg != "rsa-sha2-256") return "signature type mismatch";
  }
  if (auto v = pub.key.verify(*sig, data); !v.ok()) return "incorrect signature";
  return {};
}

}  // namespace

std::string agent_error_text(const Error& error) {
  if (agent::is_agent_refusal(error)) return std::string(agent::kAgentRefusedText);
  if (error.code() == Errc::kIo) return "communication with agent failed";
  return "invalid format";
}

void log_message(const char* format, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  std::fprintf(stderr, "%s\r\n", buf);
}

long convert_time(const std::string& text) {
  const std::optional<int> seconds = sys::parse_convtime(text);
  return seconds ? *seconds : -1;
}

void Adder::debug(int level, const std::string& text) const {
  if (o_.verbose >= level) log_message("debug%d: %s", level, text.c_str());
}

agent::Constraints Adder::constraints(const key::PrivateKey* key) const {
  agent::Constraints c;
  // The middleware only goes with a security key (as ssh-add).
  if (key != nullptr && key->security_key() != nullptr) c.sk_provider = o_.sk_provider;
  if (o_.lifetime != 0) c.lifetime_seconds = o_.lifetime;
  c.confirm = o_.confirm;
  c.destinations = o_.destinations;
  return c;
}

bool Adder::load_resident_keys() {
  auto pin = read_passphrase("Enter PIN for authenticator: ", kReadAllowStdin);
  fido::Target target;
  target.provider = o_.sk_provider;
  if (pin && !pin->empty()) target.pin = std::move(*pin);
  auto credentials = fido::load_resident_keys(target);
  target.pin.reset();
  if (!credentials.ok()) {
    log_message("Unable to load resident keys: %s", credentials.error().message().c_str());
    return false;
  }
  if (credentials->empty()) {
    log_message("Unable to load resident keys: no resident keys on the authenticator");
    return false;
  }
  bool all_added = true;
  for (const fido::Credential& c : *credentials) {
    auto private_key = fido::private_key(c);
    if (!private_key.ok()) {
      log_message("Skipping a resident key for %s: %s", c.application.c_str(), private_key.error().message().c_str());
      all_added = false;
      continue;
    }
    const std::string described = std::string(private_key->public_key().info().display_name) + " " +
                                   key::fingerprint(private_key->public_key(), o_.hash);
    Status s = agent_.add_identity(agent::AddIdentity{*private_key, std::nullopt, "", constraints(&*private_key)});
    if (!s.ok()) {
      log_message("Unable to add key %s", described.c_str());
      debug(1, s.error().message());
      all_added = false;
      continue;
    }
    if (!o_.quiet) {
      std::fprintf(stderr, "Resident identity added: %s\n", described.c_str());
      print_constraint_notes(o_);
    }
  }
  return all_added;
}

bool Adder::list(bool fingerprints) {
  auto ids = agent_.list_identities();
  if (!ids.ok()) {
    std::fprintf(stderr, "error fetching identities: %s\n", agent_error_text(ids.error()).c_str());
    return false;
  }
  if (ids->empty()) {
    std::printf("The agent has no identities.\n");
    return false;
  }
  for (const auto& id : *ids) {
    auto pub = AnyPublic::from_blob(id.key_blob);
    if (!pub.ok()) {
      // ssh-add skips key types it does not know; -L can still show the line.
      debug(1, "skipping identity \"" + id.comment + "\": " + pub.error().message());
      if (!fingerprints) {
        key::Reader r(id.key_blob);
        if (auto type = r.text(); type.ok()) {
          std::printf("%s %s %s\n", std::string(*type).c_str(), key::base64_encode(id.key_blob).c_str(),
                      id.comment.c_str());
        }
      }
      continue;
    }
    if (fingerprints) {
      std::printf("%u %s %s (%s)\n", pub->key.bits(), pub->fingerprint(o_.hash).c_str(), id.comment.c_str(),
                  pub->type_label().c_str());
    } else {
      std::printf("%s %s\n", pub->line().c_str(), id.comment.c_str());
    }
  }
  return true;
}

bool Adder::delete_all() {
  Status s = agent_.remove_all();
  if (!s.ok()) {
    std::fprintf(stderr, "Failed to remove all identities.\n");
    return false;
  }
  if (!o_.quiet) std::fprintf(stderr, "All identities removed.\n");
  return true;
}

bool Adder::lock(bool lock) {
  auto p1 = read_passphrase("Enter lock password: ", kReadAllowStdin);
  bool pass_ok = true;
  if (lock) {
    auto p2 = read_passphrase("Again: ", kReadAllowStdin);
    if (!p1->equals(*p2)) {
      std::fprintf(stderr, "Passwords do not match.\n");
      pass_ok = false;
    }
  }
  if (!pass_ok) return false;
  Status s = lock ? agent_.lock(*p1) : agent_.unlock(*p1);
  if (s.ok()) {
    std::fprintf(stderr, "Agent %slocked.\n", lock ? "" : "un");
    return true;
  }
  std::fprintf(stderr, "Failed to %slock agent: %s\n", lock ? "" : "un", agent_error_text(s.error()).c_str());
  return false;
}

bool Adder::add_file(const std::string& path) {
  std::string name = path;
  int fd = STDIN_FILENO;
  if (path == "-") {
    name = "(stdin)";
  } else {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), std::strerror(errno));
      return false;
    }
    if (!private_key_permissions_ok(fd, path)) {
      ::close(fd);
      return false;
    }
  }
  auto contents = read_key_file(fd);
  if (fd != STDIN_FILENO) ::close(fd);
  if (!contents.ok()) {
    std::fprintf(stderr, "Error loading key \"%s\": %s\n", name.c_str(), contents.error().message().c_str());
    return false;
  }
  const std::string_view text = contents->reveal_text();
  auto needs_passphrase = [](const Error& e) {
    return e.code() == Errc::kPassphraseRequired || e.code() == Errc::kWrongPassphrase;
  };
  auto report = [&](const Error& e) {
    std::fprintf(stderr, "Error loading key \"%s\": %s\n", name.c_str(), load_error_text(e).c_str());
    debug(1, "loading " + name + ": " + e.message());
  };

  auto parsed = key::parse_private_key(text, key::SecretBytes());
  if (!parsed.ok() && !needs_passphrase(parsed.error())) {
    report(parsed.error());
    return false;
  }
  if (!parsed.ok() && !last_passphrase_.empty()) {
    parsed = key::parse_private_key(text, last_passphrase_);
    if (!parsed.ok() && !needs_passphrase(parsed.error())) {
      report(parsed.error());
      return false;
    }
  }
  if (!parsed.ok()) {
    last_passphrase_.clear();
    const std::string suffix = o_.confirm ? " (will confirm each use)" : "";
    std::string prompt = "Enter passphrase for " + name + suffix + ": ";
    for (;;) {
      auto pass = read_passphrase(prompt, kReadAllowStdin);
      if (!pass || pass->empty()) return false;
      parsed = key::parse_private_key(text, *pass);
      if (parsed.ok()) {
        last_passphrase_ = std::move(*pass);
        break;
      }
      if (parsed.error().code() != Errc::kWrongPassphrase) {
        report(parsed.error());
        return false;
      }
      prompt = "Bad passphrase, try again for " + name + suffix + ": ";
    }
  }
  LoadedPrivate loaded{std::move(parsed->key), std::move(parsed->comment)};
  if (loaded.comment.empty()) loaded.comment = name;

  bool ok = false;
  if (!o_.cert_only) {
    Status s = agent_.add_identity(agent::AddIdentity{loaded.key, std::nullopt, loaded.comment, constraints(&loaded.key)});
    if (s.ok()) {
      ok = true;
      if (!o_.quiet) {
        std::fprintf(stderr, "Identity added: %s (%s)\n", name.c_str(), loaded.comment.c_str());
        print_constraint_notes(o_);
      }
    } else {
      std::fprintf(stderr, "Could not add identity \"%s\": %s\n", name.c_str(), agent_error_text(s.error()).c_str());
      debug(1, s.error().message());
    }
  }
  if (o_.key_only) return ok;

  // A certificate next to the key is added as well.
  const std::string cert_path = name + "-cert.pub";
  int cfd = ::open(cert_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (cfd < 0) {
    if (errno != ENOENT) {
      log_message("Failed to load certificate \"%s\": %s", cert_path.c_str(), std::strerror(errno));
    }
    return ok;
  }
  auto cert_text = read_key_file(cfd);
  ::close(cfd);
  std::optional<LoadedPublic> cert;
  if (cert_text.ok()) {
    if (auto line = parse_public_line(cert_text->reveal_text()); line.ok()) cert = std::move(*line);
  }
  if (!cert || !cert->pub.cert) {
    log_message("Failed to load certificate \"%s\": %s", cert_path.c_str(),
                 cert ? "not a certificate" : "invalid format");
    return ok;
  }
  if (!(cert->pub.key == loaded.key.public_key())) {
    log_message("Certificate %s does not match private key %s", cert_path.c_str(), name.c_str());
    return ok;
  }
  const std::string& key_id = cert->pub.cert->key_id;
  Status s = agent_.add_identity(agent::AddIdentity{loaded.key, *cert->pub.cert, loaded.comment, constraints(&loaded.key)});
  if (!s.ok()) {
    log_message("Certificate %s (%s) add failed: %s", cert_path.c_str(), key_id.c_str(),
                 agent_error_text(s.error()).c_str());
    return ok;
  }
  if (!o_.quiet) {
    std::fprintf(stderr, "Certificate added: %s (%s)\n", cert_path.c_str(), key_id.c_str());
    print_constraint_notes(o_);
  }
  // With -C the certificate is what was asked for.
  return o_.cert_only ? true : ok;
}

bool Adder::delete_one(const std::vector<uint8_t>& blob, const std::string& type_label, const std::string& comment,
                       const std::string& path) {
  Status s = agent_.remove_identity(blob);
  if (!s.ok()) {
    std::fprintf(stderr, "Could not remove identity \"%s\": %s\n", path.c_str(), agent_error_text(s.error()).c_str());
    return false;
  }
  if (!o_.quiet) std::fprintf(stderr, "Identity removed: %s %s (%s)\n", path.c_str(), type_label.c_str(), comment.c_str());
  return true;
}

bool Adder::delete_stdin() {
  bool ok = false;
  std::string line;
  size_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    auto parsed = parse_public_line(std::string_view(line).substr(start));
    if (!parsed.ok()) {
      log_message("(stdin):%zu: invalid key: %s", line_no, load_error_text(parsed.error()).c_str());
      continue;
    }
    const bool is_cert = parsed->pub.cert.has_value();
    if ((!o_.key_only && !o_.cert_only) || (o_.key_only && !is_cert) || (o_.cert_only && is_cert)) {
      if (delete_one(parsed->pub.blob, parsed->pub.type_label(), parsed->comment.value_or(""), "(stdin)")) ok = true;
    }
  }
  return ok;
}

bool Adder::delete_file(const std::string& path) {
  if (path == "-") return delete_stdin();
  auto pub = load_public(path);
  if (!pub.ok()) {
    std::printf("Bad key file %s: %s\n", path.c_str(), pub.error().message().c_str());
    return false;
  }
  bool ok = false;
  const bool is_cert = pub->pub.cert.has_value();
  if ((!o_.key_only && !o_.cert_only) || (o_.key_only && !is_cert) || (o_.cert_only && is_cert)) {
    ok = delete_one(pub->pub.blob, pub->pub.type_label(), pub->comment.value_or("no comment"), path);
  }
  if (o_.key_only) return ok;
  const std::string cert_path = path + "-cert.pub";
  auto cert = load_public(cert_path);
  if (!cert.ok()) {
    if (::access(cert_path.c_str(), F_OK) == 0) {
      log_message("Failed to load certificate \"%s\": %s", cert_path.c_str(),
                   cert.error().message().c_str());
    }
    return ok;
  }
  if (!(cert->pub.key == pub->pub.key)) {
    log_message("Certificate %s does not match private key %s", cert_path.c_str(), path.c_str());
    std::exit(255);
  }
  if (delete_one(cert->pub.blob, cert->pub.type_label(), cert->comment.value_or("no comment"), cert_path)) ok = true;
  return ok;
}

bool Adder::update_card(bool add, const std::string& provider, const std::vector<key::Certificate>& certs) {
  key::SecretBytes pin;
  if (add) pin = *read_passphrase("Enter passphrase for PKCS#11: ", kReadAllowStdin);
  agent::Constraints c = constraints();
  if (!o_.key_only && !certs.empty()) c.associated_certs = agent::AssociatedCerts{o_.cert_only, certs};
  Status s = add ? agent_.add_smartcard(provider, pin, c) : agent_.remove_smartcard(provider);
  if (!s.ok()) {
    std::fprintf(stderr, "Could not %s card \"%s\": %s\n", add ? "add" : "remove", provider.c_str(),
                 agent_error_text(s.error()).c_str());
    return false;
  }
  if (!o_.quiet) std::fprintf(stderr, "Card %s: %s\n", add ? "added" : "removed", provider.c_str());
  return true;
}

bool Adder::test_key_file(const std::string& path) {
  auto pub = load_public(path);
  if (!pub.ok()) {
    log_message("Couldn't read public key %s: %s", path.c_str(), pub.error().message().c_str());
    return false;
  }
  std::string step;
  std::string reason = sign_and_verify(agent_, pub->pub, &step);
  if (reason.empty()) return true;
  if (step == "verify") {
    log_message("Signature verification failed for %s: %s", path.c_str(), reason.c_str());
  } else {
    log_message("Agent signature failed for %s: %s", path.c_str(), reason.c_str());
  }
  return false;
}

bool Adder::test_all_keys() {
  auto ids = agent_.list_identities();
  if (!ids.ok()) {
    std::fprintf(stderr, "error fetching identities: %s\n", agent_error_text(ids.error()).c_str());
    return false;
  }
  if (ids->empty()) {
    std::printf("The agent has no identities.\n");
    return false;
  }
  bool all_ok = true;
  for (const auto& id : *ids) {
    const auto start = std::chrono::steady_clock::now();
    std::string fp, label, reason, step;
    auto pub = AnyPublic::from_blob(id.key_blob);
    if (pub.ok()) {
      fp = pub->fingerprint(o_.hash);
      label = pub->type_label();
      reason = sign_and_verify(agent_, *pub, &step);
      if (step == "verify" && !reason.empty()) reason = "signature verification failed: " + reason;
    } else {
      fp = key::fingerprint(id.key_blob, o_.hash);
      label = "UNKNOWN";
      reason = "cannot read the agent's key: " + pub.error().message();
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (reason.empty()) {
      std::printf("%s %s (%s): ok, %.1f ms\n", fp.c_str(), id.comment.c_str(), label.c_str(), ms);
    } else {
      all_ok = false;
      std::printf("%s %s (%s): FAILED: %s, %.1f ms\n", fp.c_str(), id.comment.c_str(), label.c_str(), reason.c_str(),
                  ms);
    }
    std::fflush(stdout);
  }
  return all_ok;
}

}  // namespace tessera::add
