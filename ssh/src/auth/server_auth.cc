#include "auth/server_auth.h"

#include <algorithm>
#include <iterator>
#include <string>

#include "auth/client_auth.h"
#include "tessera/key/cert.h"
#include "tessera/key/key.h"
#include "transport/host_key_algorithms.h"
#include "transport/messages.h"

namespace tessera::ssh::auth {

using key::Errc;
using key::Error;

namespace {

constexpr std::string_view kUserauthService = "ssh-userauth";
// User names longer than this are refused (OpenSSH keeps them far shorter
// in practice; the limit only bounds what is logged and passed on).
constexpr size_t kMaxUserName = 256;
constexpr size_t kMaxPasswordBytes = 1024;

}  // namespace

key::Status verify_publickey_signature(std::span<const uint8_t> session_id, const PublickeyAttempt& attempt) {
  if (!attempt.signature) return Error(Errc::kInvalidArgument, "a query has no signature");
  // The host key algorithm table names every user key algorithm but the
  // security key ones.
  struct SkAlgorithm {
    std::string_view name, signature_name;
    bool certificate;
  };
  static constexpr SkAlgorithm kSk[] = {
      {"sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519@openssh.com", false},
      {"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", false},
      {"sk-ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com", true},
      {"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", true},
  };
  std::string_view signature_name;
  bool certificate = false;
  key::KeyType type{};
  if (const transport::HostKeyAlgorithm* alg = transport::find_host_key_algorithm(attempt.algorithm)) {
    signature_name = alg->signature_name;
    certificate = alg->certificate;
    type = alg->key_type;
  } else {
    const auto sk = std::find_if(std::begin(kSk), std::end(kSk),
                                 [&](const SkAlgorithm& a) { return a.name == attempt.algorithm; });
    if (sk == std::end(kSk)) {
      return Error(Errc::kUnsupported, "unsupported public key algorithm " + attempt.algorithm.substr(0, 64));
    }
    signature_name = sk->signature_name;
    certificate = sk->certificate;
    type = key::find_key_type(sk->signature_name)->type;
  }
  key::Result<key::PublicKey> signer = key::Error(Errc::kMalformed);
  if (certificate) {
    auto cert = key::Certificate::from_blob(attempt.key_blob);
    if (!cert.ok()) return cert.error();
    signer = cert->key;
  } else {
    signer = key::PublicKey::from_blob(attempt.key_blob);
  }
  if (!signer.ok()) return signer.error();
  if (signer->type() != type) {
    return Error(Errc::kInvalidKey, "key type does not match algorithm " + attempt.algorithm.substr(0, 64));
  }
  TESSERA_ASSIGN_OR_RETURN(std::string made_with, key::signature_algorithm_name(*attempt.signature));
  if (made_with != signature_name) {
    return Error(Errc::kBadSignature, "signature algorithm " + made_with.substr(0, 64) + " is not " +
                                          std::string(signature_name));
  }
  const key::Bytes data = publickey_signed_data(session_id, attempt.user, attempt.algorithm, attempt.key_blob);
  return signer->verify(*attempt.signature, data);
}

std::optional<uint8_t> security_key_signature_flags(std::span<const uint8_t> signature_blob) {
  key::Reader in(signature_blob);
  auto name = in.text();
  if (!name.ok() || !name->starts_with("sk-")) return std::nullopt;
  auto signature = in.string();
  auto flags = in.u8();
  auto counter = in.u32();
  if (!signature.ok() || !flags.ok() || !counter.ok()) return std::nullopt;
  return *flags;
}

key::Status ServerAuth::protocol_error(std::string message) {
  transport_.disconnect(DisconnectReason::kProtocolError, message);
  return Error(Errc::kMalformed, std::move(message));
}

key::Status ServerAuth::on_message(std::span<const uint8_t> payload) {
  key::Reader in(payload.subspan(1));
  const uint8_t type = payload[0];
  if (type == msg::kServiceRequest) {
    auto service = in.text();
    if (!service.ok() || !in.expect_end().ok()) return protocol_error("malformed SERVICE_REQUEST");
    if (*service != kUserauthService || service_accepted_) {
      transport_.disconnect(DisconnectReason::kServiceNotAvailable, "bad service request");
      return Error(Errc::kUnsupported, "client asked for service " + std::string(*service).substr(0, 64));
    }
    service_accepted_ = true;
    key::Writer accept;
    accept.u8(msg::kServiceAccept);
    accept.string(kUserauthService);
    transport_.send(accept.data());
    return key::ok_status();
  }
  if (!service_accepted_) return protocol_error("message " + std::to_string(type) + " before ssh-userauth");
  if (succeeded_) {
    // After success the connection protocol owns the connection; a late
    // request is ignored, as RFC 4252 section 5.1 allows.
    if (type == msg::kUserauthRequest) return key::ok_status();
    return protocol_error("unexpected message " + std::to_string(type) + " after authentication");
  }
  if (type != msg::kUserauthRequest) {
    return protocol_error("unexpected message " + std::to_string(type) + " during authentication");
  }
  return on_request(in);
}

key::Status ServerAuth::on_request(key::Reader& in) {
  auto user = in.text();
  auto service = in.text();
  auto method = in.text();
  if (!user.ok() || !service.ok() || !method.ok()) return protocol_error("malformed USERAUTH_REQUEST");
  if (user->size() > kMaxUserName) return protocol_error("user name too long");
  if (*service != kConnectionService) {
    transport_.disconnect(DisconnectReason::kServiceNotAvailable, "no such service");
    return Error(Errc::kUnsupported, "authentication for an unknown service");
  }
  if (user_.empty()) {
    user_ = std::string(*user);
    decider_.on_first_request(user_);
  } else if (*user != user_) {
    // As OpenSSH: the user cannot change from one request to the next.
    return protocol_error("Change of username or service not allowed: (" + user_ + ",ssh-connection) -> (" +
                          std::string(*user) + ",ssh-connection)");
  }
  if (!banner_sent_ && !config_.banner.empty()) {
    banner_sent_ = true;
    key::Writer banner;
    banner.u8(msg::kUserauthBanner);
    banner.string(config_.banner);
    banner.string("");
    transport_.send(banner.data());
  }
  if (*method == "publickey") return on_publickey(in);
  if (*method == "password" && decider_.allows_password()) return on_password(in);
  // "none" and every method we do not offer: the list of what may continue.
  // "none" does not count as an attempt (OpenSSH counts it only when it is
  // not the first request).
  return refuse(*method, *method != "none");
}

key::Status ServerAuth::on_publickey(key::Reader& in) {
  auto has_signature = in.boolean();
  auto algorithm = in.text();
  auto blob = in.string();
  if (!has_signature.ok() || !algorithm.ok() || !blob.ok()) return protocol_error("malformed publickey request");
  PublickeyAttempt attempt{.user = user_, .algorithm = std::string(*algorithm),
                           .key_blob = key::Bytes(blob->begin(), blob->end()), .signature = std::nullopt};
  if (*has_signature) {
    auto signature = in.string();
    if (!signature.ok()) return protocol_error("malformed publickey request");
    attempt.signature = key::Bytes(signature->begin(), signature->end());
  }
  if (!in.expect_end().ok()) return protocol_error("trailing data in publickey request");
  const AuthDecision decision = decider_.publickey(attempt);
  if (decision.disconnect) {
    transport_.disconnect(DisconnectReason::kByApplication, *decision.disconnect);
    return Error(Errc::kIo, *decision.disconnect);
  }
  if (!decision.accepted) return refuse("publickey");
  if (!attempt.signature) {
    key::Writer ok;
    ok.u8(msg::kUserauthPkOk);
    ok.string(attempt.algorithm);
    ok.string(attempt.key_blob);
    transport_.send(ok.data());
    return key::ok_status();
  }
  accepted_key_ = std::move(attempt);
  succeed();
  return key::ok_status();
}

key::Status ServerAuth::on_password(key::Reader& in) {
  auto change = in.boolean();
  auto password = in.string();
  if (!change.ok() || !password.ok() || password->size() > kMaxPasswordBytes) {
    return protocol_error("malformed password request");
  }
  if (*change) return refuse("password");  // no password changes
  const std::string_view text(reinterpret_cast<const char*>(password->data()), password->size());
  const AuthDecision decision = decider_.password(user_, text);
  if (decision.disconnect) {
    transport_.disconnect(DisconnectReason::kByApplication, *decision.disconnect);
    return Error(Errc::kIo, *decision.disconnect);
  }
  if (!decision.accepted) return refuse("password");
  succeed();
  return key::ok_status();
}

key::Status ServerAuth::refuse(std::string_view method, bool counts) {
  if (counts) {
    decider_.on_failure(user_, method);
    if (++failures_ >= config_.max_auth_tries) {
      // OpenSSH's words and reason.
      transport_.disconnect(DisconnectReason::kProtocolError, "Too many authentication failures");
      return Error(Errc::kIo, "Too many authentication failures for " + user_);
    }
  }
  key::Writer failure;
  failure.u8(msg::kUserauthFailure);
  failure.string(decider_.allows_password() ? "publickey,password" : "publickey");
  failure.boolean(false);
  transport_.send(failure.data());
  return key::ok_status();
}

void ServerAuth::succeed() {
  succeeded_ = true;
  static constexpr uint8_t kSuccess[] = {msg::kUserauthSuccess};
  transport_.send(kSuccess);
  if (on_success) on_success();
}

}  // namespace tessera::ssh::auth
