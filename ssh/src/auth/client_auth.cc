#include "auth/client_auth.h"

#include <algorithm>
#include <string>

#include "tessera/key/cert.h"
#include "transport/messages.h"

namespace tessera::ssh::auth {

using key::Errc;
using key::Error;

namespace {

constexpr std::string_view kConnectionService = "ssh-connection";
constexpr std::string_view kUserauthService = "ssh-userauth";
// Most keyboard-interactive prompts in one round, and rounds in all (a
// server that asks forever gets no more answers).
constexpr uint32_t kMaxKbdPrompts = 64;
constexpr int kMaxKbdRounds = 32;

std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 8192)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f ? '?' : c);
  }
  return out;
}

bool contains(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ',';
    out += n;
  }
  return out;
}

// The request's algorithm name for a signature algorithm and identity.
std::string request_algorithm(const ClientIdentity& id, std::string_view signature_algorithm) {
  if (!id.certificate) return std::string(signature_algorithm);
  if (id.key.type() == key::KeyType::kRsa) return std::string(signature_algorithm) + "-cert-v01@openssh.com";
  return std::string(key::certificate_type_name(id.key.type()));
}

}  // namespace

std::vector<std::string> default_pubkey_algorithms() {
  return {"ssh-ed25519-cert-v01@openssh.com",
          "ecdsa-sha2-nistp256-cert-v01@openssh.com",
          "ecdsa-sha2-nistp384-cert-v01@openssh.com",
          "ecdsa-sha2-nistp521-cert-v01@openssh.com",
          "sk-ssh-ed25519-cert-v01@openssh.com",
          "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
          "rsa-sha2-512-cert-v01@openssh.com",
          "rsa-sha2-256-cert-v01@openssh.com",
          "ssh-ed25519",
          "ecdsa-sha2-nistp256",
          "ecdsa-sha2-nistp384",
          "ecdsa-sha2-nistp521",
          "sk-ssh-ed25519@openssh.com",
          "sk-ecdsa-sha2-nistp256@openssh.com",
          "rsa-sha2-512",
          "rsa-sha2-256"};
}

key::Bytes publickey_signed_data(std::span<const uint8_t> session_id, std::string_view user,
                                 std::string_view algorithm, std::span<const uint8_t> key_blob) {
  key::Writer w;
  w.string(session_id);
  w.u8(msg::kUserauthRequest);
  w.string(user);
  w.string(kConnectionService);
  w.string("publickey");
  w.boolean(true);
  w.string(algorithm);
  w.string(key_blob);
  return w.take();
}

ClientAuth::ClientAuth(ClientAuthConfig config, transport::Transport& transport, ClientAuthDelegate& delegate)
    : config_(std::move(config)), transport_(transport), delegate_(delegate) {
  if (config_.pubkey_algorithms.empty()) config_.pubkey_algorithms = default_pubkey_algorithms();
}

void ClientAuth::start() {
  key::Writer w;
  w.u8(msg::kServiceRequest);
  w.string(kUserauthService);
  transport_.send(w.data());
}

bool ClientAuth::server_allows(std::string_view method) const { return contains(server_methods_, method); }

std::optional<std::string> ClientAuth::signature_algorithm(const ClientIdentity& id) const {
  if (id.key.type() != key::KeyType::kRsa) {
    const std::string name = request_algorithm(id, id.key.ssh_name());
    if (!contains(config_.pubkey_algorithms, name)) return std::nullopt;
    return std::string(id.key.ssh_name());
  }
  // RSA: the first SHA-2 algorithm we accept that the server says it
  // verifies (RFC 8332 with RFC 8308's server-sig-algs). Without the
  // extension, rsa-sha2-512.
  const auto& server = transport_.server_sig_algs();
  for (const std::string& alg : config_.pubkey_algorithms) {
    std::string base = alg;
    if (id.certificate) {
      static constexpr std::string_view kCertSuffix = "-cert-v01@openssh.com";
      if (!alg.ends_with(kCertSuffix)) continue;
      base = alg.substr(0, alg.size() - kCertSuffix.size());
    } else if (alg.ends_with("-cert-v01@openssh.com")) {
      continue;
    }
    if (base != "rsa-sha2-512" && base != "rsa-sha2-256") continue;
    if (!server || contains(*server, base)) return base;
  }
  return std::nullopt;
}

key::Status ClientAuth::on_message(std::span<const uint8_t> payload) {
  key::Reader in(payload.subspan(1));
  const uint8_t type = payload[0];
  if (!service_accepted_) {
    if (type != msg::kServiceAccept) {
      return Error(Errc::kMalformed, "server answered the ssh-userauth request with message " + std::to_string(type));
    }
    service_accepted_ = true;
    // "none" first: its failure lists the methods the server offers.
    key::Writer w;
    w.u8(msg::kUserauthRequest);
    w.string(config_.user);
    w.string(kConnectionService);
    w.string("none");
    transport_.send(w.data());
    current_ = Method::kNone;
    return key::ok_status();
  }
  switch (type) {
    case msg::kUserauthSuccess:
      succeeded_ = true;
      return key::ok_status();
    case msg::kUserauthFailure:
      return on_failure(in);
    case msg::kUserauthBanner: {
      auto text = in.string();
      if (!text.ok()) return Error(Errc::kMalformed, "malformed USERAUTH_BANNER");
      delegate_.banner(printable(key::as_text(*text)));
      return key::ok_status();
    }
    case msg::kUserauthPkOk:  // also INFO_REQUEST and PASSWD_CHANGEREQ
      if (current_ == Method::kPublickey) return on_pk_ok(in);
      if (current_ == Method::kKeyboardInteractive) return on_info_request(in);
      if (current_ == Method::kPassword) {
        return Error(Errc::kUnsupported, "the server asks for a password change; change it with another client");
      }
      return Error(Errc::kMalformed, "unexpected message 60 during authentication");
    default:
      return Error(Errc::kMalformed, "unexpected message " + std::to_string(type) + " during authentication");
  }
}

key::Status ClientAuth::on_failure(key::Reader& in) {
  auto methods = in.name_list();
  auto partial = in.boolean();
  if (!methods.ok() || !partial.ok()) return Error(Errc::kMalformed, "malformed USERAUTH_FAILURE");
  server_methods_ = std::move(*methods);
  if (*partial) delegate_.debug("Authenticated with partial success.");
  if (current_ == Method::kPublickey) {
    if (pending_identity_ != nullptr) delegate_.debug("Server refused key " + pending_identity_->description);
    pending_identity_ = nullptr;
    return try_next_identity();
  }
  if (current_ == Method::kKeyboardInteractive) {
    // One keyboard-interactive conversation per method attempt.
    current_ = Method::kNone;
  }
  if (current_ == Method::kPassword && password_attempts_ < config_.password_prompts && server_allows("password")) {
    delegate_.debug("Permission denied, please try again.");
    current_ = Method::kNone;
    --next_method_;  // ask for the password again
  }
  return next_attempt();
}

key::Status ClientAuth::next_attempt() {
  while (next_method_ < config_.methods.size()) {
    const std::string& method = config_.methods[next_method_++];
    if (!server_allows(method)) continue;
    if (method == "publickey") {
      current_ = Method::kPublickey;
      if (!identities_) identities_ = delegate_.identities();
      next_identity_ = 0;
      return try_next_identity();
    }
    if (method == "keyboard-interactive") {
      current_ = Method::kKeyboardInteractive;
      kbd_rounds_ = 0;
      key::Writer w;
      w.u8(msg::kUserauthRequest);
      w.string(config_.user);
      w.string(kConnectionService);
      w.string("keyboard-interactive");
      w.string("");  // language
      w.string("");  // submethods
      transport_.send(w.data());
      return key::ok_status();
    }
    if (method == "password") {
      auto password = delegate_.password(password_attempts_++);
      if (!password) continue;
      current_ = Method::kPassword;
      key::Writer w;
      w.u8(msg::kUserauthRequest);
      w.string(config_.user);
      w.string(kConnectionService);
      w.string("password");
      w.boolean(false);
      w.string(password->reveal());
      transport_.send(w.data());
      return key::ok_status();
    }
  }
  return Error(Errc::kInvalidArgument, no_more_methods_message());
}

std::string ClientAuth::no_more_methods_message() const {
  return "Permission denied (" + join(server_methods_) + ").";
}

key::Status ClientAuth::try_next_identity() {
  while (identities_ && next_identity_ < identities_->size()) {
    const ClientIdentity& id = (*identities_)[next_identity_++];
    const auto sig_alg = signature_algorithm(id);
    if (!sig_alg) {
      delegate_.debug("Skipping " + id.description + ": no accepted signature algorithm");
      continue;
    }
    const std::string algorithm = request_algorithm(id, *sig_alg);
    pending_identity_ = &id;
    pending_algorithm_ = *sig_alg;
    if (id.sign_without_query) {
      delegate_.debug("Offering public key: " + id.description);
      auto sent = send_signed(id, *sig_alg);
      if (!sent.ok()) {
        delegate_.debug("Signing with " + id.description + " failed: " + sent.error().message());
        continue;
      }
      return key::ok_status();
    }
    delegate_.debug("Offering public key: " + id.description);
    key::Writer w;
    w.u8(msg::kUserauthRequest);
    w.string(config_.user);
    w.string(kConnectionService);
    w.string("publickey");
    w.boolean(false);
    w.string(algorithm);
    w.string(id.blob);
    transport_.send(w.data());
    return key::ok_status();
  }
  pending_identity_ = nullptr;
  current_ = Method::kNone;
  return next_attempt();
}

key::Status ClientAuth::on_pk_ok(key::Reader& in) {
  auto algorithm = in.text();
  auto blob = in.string();
  if (!algorithm.ok() || !blob.ok() || !in.expect_end().ok()) return Error(Errc::kMalformed, "malformed PK_OK");
  if (pending_identity_ == nullptr ||
      *algorithm != request_algorithm(*pending_identity_, pending_algorithm_) ||
      !std::equal(blob->begin(), blob->end(), pending_identity_->blob.begin(), pending_identity_->blob.end())) {
    return Error(Errc::kMalformed, "server accepted a key that was not offered");
  }
  delegate_.debug("Server accepts key: " + pending_identity_->description);
  auto sent = send_signed(*pending_identity_, pending_algorithm_);
  if (!sent.ok()) {
    delegate_.debug("Signing with " + pending_identity_->description + " failed: " + sent.error().message());
    pending_identity_ = nullptr;
    return try_next_identity();
  }
  return key::ok_status();
}

key::Status ClientAuth::send_signed(const ClientIdentity& id, const std::string& signature_alg) {
  const std::string algorithm = request_algorithm(id, signature_alg);
  const key::Bytes data = publickey_signed_data(transport_.session_id(), config_.user, algorithm, id.blob);
  TESSERA_ASSIGN_OR_RETURN(key::Bytes signature, id.sign(data, signature_alg));
  key::Writer w;
  w.u8(msg::kUserauthRequest);
  w.string(config_.user);
  w.string(kConnectionService);
  w.string("publickey");
  w.boolean(true);
  w.string(algorithm);
  w.string(id.blob);
  w.string(signature);
  transport_.send(w.data());
  return key::ok_status();
}

key::Status ClientAuth::on_info_request(key::Reader& in) {
  auto name = in.string();
  auto instruction = in.string();
  auto language = in.string();
  auto count = in.u32();
  if (!name.ok() || !instruction.ok() || !language.ok() || !count.ok() || *count > kMaxKbdPrompts) {
    return Error(Errc::kMalformed, "malformed keyboard-interactive request");
  }
  std::vector<KbdPrompt> prompts;
  for (uint32_t i = 0; i < *count; ++i) {
    auto text = in.string();
    auto echo = in.boolean();
    if (!text.ok() || !echo.ok()) return Error(Errc::kMalformed, "malformed keyboard-interactive prompt");
    prompts.push_back({printable(key::as_text(*text)), *echo});
  }
  if (!in.expect_end().ok()) return Error(Errc::kMalformed, "trailing data in keyboard-interactive request");
  if (++kbd_rounds_ > kMaxKbdRounds) return Error(Errc::kMalformed, "too many keyboard-interactive rounds");
  auto answers = delegate_.keyboard_interactive(printable(key::as_text(*name)),
                                                printable(key::as_text(*instruction)), prompts);
  if (!answers || answers->size() != prompts.size()) {
    return Error(Errc::kInvalidArgument, "keyboard-interactive authentication cancelled");
  }
  key::Writer w;
  w.u8(msg::kUserauthInfoResponse);
  w.u32(static_cast<uint32_t>(answers->size()));
  for (const key::SecretBytes& a : *answers) w.string(a.reveal());
  transport_.send(w.data());
  return key::ok_status();
}

}  // namespace tessera::ssh::auth
