// Session binding and destination constraints, with OpenSSH ssh-agent's
// rules (identity_permitted, permitted_by_dest_constraints, match_key_hop,
// parse_userauth_request, process_ext_session_bind).
#include "daemon/destination.h"

#include <openssl/crypto.h>

#include <string_view>

#include "tessera/key/match.h"

namespace tessera::agent::daemon {
namespace {

constexpr uint8_t kMsgUserauthRequest = 50;  // SSH2_MSG_USERAUTH_REQUEST
constexpr std::string_view kMethodPublickey = "publickey";
constexpr std::string_view kMethodHostbound = "publickey-hostbound-v00@openssh.com";

bool same_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && (a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

// The blob a binding's server presented: its certificate, or its plain key.
Bytes presented_blob(const SessionBinding& hop) {
  return hop.host_certificate ? hop.host_certificate->blob() : hop.host_key.blob();
}

// CA signature algorithms OpenSSH accepts on host certificates
// (SSH_ALLOWED_CA_SIGALGS): everything but SHA-1 RSA.
bool allowed_ca_signature(const key::Certificate& cert) {
  auto alg = key::signature_algorithm_name(cert.signature);
  return alg.ok() && *alg != "ssh-rsa";
}

// sshkey_cert_check_host(): a host certificate, valid now, whose principals
// (if any) match the hop's hostname, signed with an allowed algorithm by a
// signature that verifies.
bool host_certificate_valid(const key::Certificate& cert, std::string_view hostname, uint64_t now) {
  if (cert.type != key::CertType::kHost) return false;
  if (now < cert.valid_after || now >= cert.valid_before) return false;
  if (!cert.principals.empty()) {
    bool matched = false;
    for (const auto& principal : cert.principals) {
      if (key::match_pattern(hostname, principal)) matched = true;
    }
    if (!matched) return false;
  }
  return allowed_ca_signature(cert) && cert.verify_signature().ok();
}

// match_key_hop(): does the host a binding reached match this hop's keys?
bool match_key_hop(const SessionBinding& hop, const DestinationHop& spec, uint64_t now) {
  std::string_view hostname = spec.hostname.empty() ? std::string_view("(ORIGIN)") : spec.hostname;
  for (const auto& candidate : spec.keys) {
    if (!hop.host_certificate) {
      if (!candidate.is_ca && candidate.key == hop.host_key) return true;
      continue;
    }
    if (!candidate.is_ca || !(hop.host_certificate->signature_key == candidate.key)) continue;
    if (host_certificate_valid(*hop.host_certificate, hostname, now)) return true;
  }
  return false;
}

// permitted_by_dest_constraints(): is there one constraint that allows going
// from `from` (nullptr: the agent's own host) to `to` (nullptr: anywhere), as `user`?
bool permitted_by(const std::vector<DestinationConstraint>& constraints, const SessionBinding* from,
                  const SessionBinding* to, const std::string* user, uint64_t now) {
  for (const auto& dc : constraints) {
    if (from == nullptr) {
      if (!dc.from.hostname.empty() || !dc.from.keys.empty()) continue;
    } else if (!match_key_hop(*from, dc.from, now)) {
      continue;
    }
    if (to != nullptr && !match_key_hop(*to, dc.to, now)) continue;
    if (!dc.to.user.empty() && user != nullptr && !key::match_pattern(*user, dc.to.user)) continue;
    return true;
  }
  return false;
}

// identity_permitted(): every recorded hop must be allowed by some
// constraint. `user` is set only when checking a signature request.
Status identity_permitted(const std::vector<DestinationConstraint>& constraints,
                          const ConnectionBindings& bindings, const std::string* user, uint64_t now) {
  if (constraints.empty()) return {};
  const auto& hops = bindings.hops();
  if (hops.empty()) {
    if (bindings.bind_attempted()) {
      return Error(Errc::kInvalidArgument, "a session bind failed on this connection earlier");
    }
    return {};  // local use
  }
  const SessionBinding* from = nullptr;
  for (size_t i = 0; i < hops.size(); ++i) {
    const std::string* test_user = nullptr;
    if (i + 1 == hops.size()) {
      test_user = user;
      if (hops[i].forwarding && user != nullptr) {
        return Error(Errc::kInvalidArgument, "signature requested on a connection bound for forwarding");
      }
    } else if (!hops[i].forwarding) {
      return Error(Errc::kInvalidArgument, "forwarding through a connection bound for authentication");
    }
    if (!permitted_by(constraints, from, &hops[i], test_user, now)) {
      return Error(Errc::kInvalidArgument, "key not permitted for this destination");
    }
    from = &hops[i];
  }
  // A key allowed to reach the last forwarded host but not to be used
  // beyond it stays hidden there.
  const SessionBinding& last = hops.back();
  if (last.forwarding && user == nullptr && !permitted_by(constraints, &last, nullptr, nullptr, now)) {
    return Error(Errc::kInvalidArgument, "key permitted at this host but not beyond it");
  }
  return {};
}

struct UserauthRequest {
  std::string user;
  std::span<const uint8_t> session_id;
  std::span<const uint8_t> host_key;  // empty unless publickey-hostbound
};

// The key type name a userauth public key algorithm stands for.
std::string_view key_type_of_algorithm(std::string_view alg) {
  if (alg == "rsa-sha2-256" || alg == "rsa-sha2-512") return "ssh-rsa";
  if (alg == "rsa-sha2-256-cert-v01@openssh.com" || alg == "rsa-sha2-512-cert-v01@openssh.com") {
    return "ssh-rsa-cert-v01@openssh.com";
  }
  return alg;
}

// parse_userauth_request(): data must be an SSH publickey userauth request
// (RFC 4252 section 7, or OpenSSH's hostbound variant) for the identity's key.
Result<UserauthRequest> parse_userauth_request(std::span<const uint8_t> data,
                                               std::span<const uint8_t> identity_blob) {
  key::Reader r(data);
  UserauthRequest req;
  TESSERA_ASSIGN_OR_RETURN(req.session_id, r.string());
  if (req.session_id.empty()) return Error(Errc::kMalformed, "empty session id");
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, r.u8());
  TESSERA_ASSIGN_OR_RETURN(std::string_view user, r.text());
  TESSERA_ASSIGN_OR_RETURN(std::string_view service, r.text());
  TESSERA_ASSIGN_OR_RETURN(std::string_view method, r.text());
  TESSERA_ASSIGN_OR_RETURN(uint8_t sig_follows, r.u8());
  TESSERA_ASSIGN_OR_RETURN(std::string_view alg, r.text());
  TESSERA_ASSIGN_OR_RETURN(auto blob, r.string());
  if (type != kMsgUserauthRequest || sig_follows != 1 || service != "ssh-connection" ||
      !same_bytes(blob, identity_blob)) {
    return Error(Errc::kMalformed, "not a publickey userauth request for this key");
  }
  key::Reader name_reader(identity_blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view key_type, name_reader.text());
  if (key_type_of_algorithm(alg) != key_type) {
    return Error(Errc::kMalformed, "userauth request algorithm does not match the key");
  }
  if (method == kMethodHostbound) {
    TESSERA_ASSIGN_OR_RETURN(req.host_key, r.string());
  } else if (method != kMethodPublickey) {
    return Error(Errc::kMalformed, "userauth method is not publickey");
  }
  TESSERA_TRY(r.expect_end());
  req.user = std::string(user);
  return req;
}

}  // namespace

bool is_userauth_request(std::span<const uint8_t> data, std::span<const uint8_t> identity_blob) {
  return parse_userauth_request(data, identity_blob).ok();
}

Status ConnectionBindings::bind(const SessionBind& request) {
  bind_attempted_ = true;
  if (request.session_id.size() > kMaxSessionIdBytes) {
    return Error(Errc::kTooLarge, "session id longer than " + std::to_string(kMaxSessionIdBytes) + " bytes");
  }
  if (request.session_id.empty()) return Error(Errc::kMalformed, "empty session id");
  if (request.host_certificate && !(request.host_certificate->key == request.host_key)) {
    return Error(Errc::kInvalidArgument, "host certificate does not certify the host key");
  }
  if (auto v = request.host_key.verify(request.signature, request.session_id); !v.ok()) {
    return v.error().with_context("session-bind: host key signature over the session id");
  }
  SessionBinding binding{request.host_key, request.host_certificate, request.session_id, request.forwarding};
  Bytes presented = presented_blob(binding);
  for (const auto& hop : hops_) {
    if (!hop.forwarding) {
      return Error(Errc::kInvalidArgument, "connection already bound for authentication");
    }
    bool sid_match = same_bytes(hop.session_id, request.session_id);
    bool key_match = same_bytes(presented_blob(hop), presented);
    if (sid_match && key_match) return {};  // a repeat of an existing binding
    if (sid_match) return Error(Errc::kInvalidArgument, "session id already bound to another host key");
    // A new session id with a host key seen before: another connection to the same host.
  }
  if (hops_.size() >= kMaxSessionBindings) {
    return Error(Errc::kTooLarge, "too many session bindings on this connection");
  }
  hops_.push_back(std::move(binding));
  return {};
}

bool identity_visible(const std::vector<DestinationConstraint>& constraints, const ConnectionBindings& bindings,
                      uint64_t now) {
  return identity_permitted(constraints, bindings, nullptr, now).ok();
}

Status sign_permitted(const std::vector<DestinationConstraint>& constraints, const ConnectionBindings& bindings,
                      std::span<const uint8_t> identity_blob, std::span<const uint8_t> data, uint64_t now,
                      std::string* description) {
  if (description != nullptr) description->clear();
  if (constraints.empty()) return {};
  const auto& hops = bindings.hops();
  if (hops.empty()) {
    return Error(Errc::kInvalidArgument,
                 "refusing use of destination-constrained key to sign on an unbound connection");
  }
  auto request = parse_userauth_request(data, identity_blob);
  if (!request.ok()) {
    return request.error().with_context(
        "refusing use of destination-constrained key to sign an unidentified signature");
  }
  TESSERA_TRY(identity_permitted(constraints, bindings, &request->user, now));
  const SessionBinding& last = hops.back();
  if (!same_bytes(request->session_id, last.session_id)) {
    return Error(Errc::kInvalidArgument, "signature request is not for the most recently bound session");
  }
  if (hops.size() > 1 && request->host_key.empty()) {
    return Error(Errc::kInvalidArgument, "no host key in the signature request on a forwarded connection");
  }
  if (!request->host_key.empty() && !same_bytes(request->host_key, presented_blob(last))) {
    return Error(Errc::kInvalidArgument, "host key in the request differs from the most recently bound one");
  }
  if (description != nullptr) {
    *description = "public key authentication request for user \"" + request->user + "\" to listed host";
  }
  return {};
}

}  // namespace tessera::agent::daemon
