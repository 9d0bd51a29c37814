// Message codecs of the agent protocol. Requests are encoded as OpenSSH's
// authfd.c encodes them and decoded with the checks of its ssh-agent.c, plus
// strictness OpenSSH leaves out: every message must be consumed completely.
#include "tessera/agent/protocol.h"

#include <string>
#include <type_traits>

#include "constraints.h"
#include "fields.h"

namespace tessera::agent {

using key::Reader;
using key::Writer;
using key::ok_status;
using detail::in_field;

namespace {

// Legacy failure codes that OpenSSH's client also treats as failure
// (SSH_COM_AGENT2_FAILURE and SSH2_AGENT_FAILURE).
constexpr uint8_t kLegacyFailureCom = 102;
constexpr uint8_t kLegacyFailureSsh2 = 30;

// Most extension names a query answer may carry (the same bound as a name-list).
constexpr size_t kMaxQueryNames = key::kMaxNameListEntries;

Status check_size(std::span<const uint8_t> payload) {
  if (payload.empty()) return Error(Errc::kTruncated, "empty agent message");
  if (payload.size() > kMaxMessageBytes) {
    return Error(Errc::kTooLarge, "agent message of " + std::to_string(payload.size()) + " bytes exceeds the " +
                                      std::to_string(kMaxMessageBytes) + "-byte limit");
  }
  return ok_status();
}

// ---- requests ----

Result<Request> parse_sign(Reader& in) {
  SignRequest s;
  TESSERA_ASSIGN_OR_RETURN(auto blob, in_field(in.string(), "sign request key"));
  TESSERA_ASSIGN_OR_RETURN(auto data, in_field(in.string(), "sign request data"));
  TESSERA_ASSIGN_OR_RETURN(s.flags, in_field(in.u32(), "sign request flags"));
  s.key_blob.assign(blob.begin(), blob.end());
  s.data.assign(data.begin(), data.end());
  return Request(std::move(s));
}

// The private key of ADD_IDENTITY: a plain key (PROTOCOL.key private fields)
// or, when its type name is a certificate type, a certified key.
Result<Request> parse_add_identity(Reader& in) {
  Reader probe = in;
  TESSERA_ASSIGN_OR_RETURN(std::string_view type_name, in_field(probe.text(), "private key type"));
  std::optional<key::PrivateKey> private_key;
  std::optional<key::Certificate> certificate;
  if (key::find_certificate_type(type_name) != nullptr) {
    TESSERA_ASSIGN_OR_RETURN(key::CertifiedPrivateKey ck, in_field(key::parse_certified_private_key(in), "private key"));
    private_key = std::move(ck.key);
    certificate = std::move(ck.certificate);
  } else {
    TESSERA_ASSIGN_OR_RETURN(key::PrivateKey k, in_field(key::PrivateKey::parse(in), "private key"));
    private_key = std::move(k);
  }
  TESSERA_ASSIGN_OR_RETURN(std::string_view comment, in_field(in.text(), "key comment"));
  Constraints constraints;
  // OpenSSH reads constraints after either message number; so does tessera.
  TESSERA_TRY(in_field(detail::parse_constraints(in, detail::ConstraintContext::kIdentity, constraints),
                       "key constraints"));
  return Request(AddIdentity{std::move(*private_key), std::move(certificate), std::string(comment),
                             std::move(constraints)});
}

Result<Request> parse_smartcard(Reader& in, MessageType type) {
  SmartcardRequest s;
  s.add = type != MessageType::kRemoveSmartcardKey;
  TESSERA_ASSIGN_OR_RETURN(std::string_view provider, in_field(in.text(), "provider"));
  TESSERA_ASSIGN_OR_RETURN(std::string_view pin, in_field(in.text(), "PIN"));
  s.provider = std::string(provider);
  s.pin = key::SecretBytes::copy_of(pin);
  if (s.add) {
    TESSERA_TRY(in_field(detail::parse_constraints(in, detail::ConstraintContext::kSmartcard, s.constraints),
                         "key constraints"));
  }
  return Request(std::move(s));
}

Result<Request> parse_session_bind(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(auto host_blob, in_field(in.string(), "session-bind host key"));
  // The server's host key may be a host certificate (ssh sends the key it
  // verified in the key exchange, certificate included).
  Reader probe(host_blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view host_type, in_field(probe.text(), "session-bind host key"));
  std::optional<key::Certificate> host_cert;
  std::optional<key::PublicKey> host_key;
  if (key::find_certificate_type(host_type) != nullptr) {
    TESSERA_ASSIGN_OR_RETURN(key::Certificate c, in_field(key::Certificate::from_blob(host_blob), "session-bind host certificate"));
    host_key = c.key;
    host_cert = std::move(c);
  } else {
    TESSERA_ASSIGN_OR_RETURN(key::PublicKey k, in_field(key::PublicKey::from_blob(host_blob), "session-bind host key"));
    host_key = std::move(k);
  }
  TESSERA_ASSIGN_OR_RETURN(auto session_id, in_field(in.string(), "session-bind session id"));
  TESSERA_ASSIGN_OR_RETURN(auto signature, in_field(in.string(), "session-bind signature"));
  TESSERA_ASSIGN_OR_RETURN(bool forwarding, in_field(in.boolean(), "session-bind forwarding flag"));
  SessionBind bind{std::move(*host_key), std::move(host_cert), Bytes(session_id.begin(), session_id.end()),
                   Bytes(signature.begin(), signature.end()), forwarding};
  return Request(std::move(bind));
}

Result<Request> parse_extension(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, in_field(in.text(), "extension name"));
  if (name == kExtSessionBind) return parse_session_bind(in);
  if (name == kExtQuery) {
    // OpenSSH sends nothing after the name; the IETF draft's older form
    // wrapped the (empty) contents in a string. Accept both.
    if (in.remaining() == 4) {
      TESSERA_ASSIGN_OR_RETURN(uint32_t len, in.u32());
      if (len != 0) return Error(Errc::kTrailingData, "query request carries contents");
    }
    return Request(QueryRequest{});
  }
  if (name == kExtStatus) {
    // uint32 version: the newest answer format the client reads.
    TESSERA_ASSIGN_OR_RETURN(uint32_t version, in_field(in.u32(), "status request version"));
    if (version == 0) return Error(Errc::kUnsupported, "status request for version 0");
    return Request(StatusRequest{version});
  }
  // Contents of extensions tessera does not know are not interpreted.
  UnknownExtension u{std::string(name)};
  (void)in.bytes(in.remaining());
  return Request(std::move(u));
}

Result<Request> parse_request_body(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in_field(in.u8(), "message type"));
  switch (static_cast<MessageType>(type)) {
    case MessageType::kRequestIdentities:
      return Request(RequestIdentities{});
    case MessageType::kSignRequest:
      return parse_sign(in);
    case MessageType::kAddIdentity:
    case MessageType::kAddIdConstrained:
      return parse_add_identity(in);
    case MessageType::kRemoveIdentity: {
      TESSERA_ASSIGN_OR_RETURN(auto blob, in_field(in.string(), "key to remove"));
      return Request(RemoveIdentity{Bytes(blob.begin(), blob.end())});
    }
    case MessageType::kRemoveAllRsaIdentities:
      return Request(RemoveAllIdentities{true});
    case MessageType::kRemoveAllIdentities:
      return Request(RemoveAllIdentities{false});
    case MessageType::kAddSmartcardKey:
    case MessageType::kAddSmartcardKeyConstrained:
    case MessageType::kRemoveSmartcardKey:
      return parse_smartcard(in, static_cast<MessageType>(type));
    case MessageType::kLock:
    case MessageType::kUnlock: {
      TESSERA_ASSIGN_OR_RETURN(std::string_view pass, in_field(in.text(), "passphrase"));
      return Request(LockRequest{static_cast<MessageType>(type) == MessageType::kLock, key::SecretBytes::copy_of(pass)});
    }
    case MessageType::kExtension:
      return parse_extension(in);
    default:
      return Error(Errc::kUnsupported, "unknown agent request type " + std::to_string(type));
  }
}

void write_add_identity(const AddIdentity& a, Writer& out) {
  out.u8(static_cast<uint8_t>(a.constraints.empty() ? MessageType::kAddIdentity : MessageType::kAddIdConstrained));
  if (a.certificate) {
    key::serialize_certified_private_key(a.key, *a.certificate, out);
  } else {
    a.key.serialize(out);
  }
  out.string(a.comment);
  detail::serialize_constraints(a.constraints, out);
}

void write_smartcard(const SmartcardRequest& s, Writer& out) {
  MessageType type = MessageType::kRemoveSmartcardKey;
  if (s.add) type = s.constraints.empty() ? MessageType::kAddSmartcardKey : MessageType::kAddSmartcardKeyConstrained;
  out.u8(static_cast<uint8_t>(type));
  out.string(s.provider);
  out.string(s.pin.reveal());
  if (s.add) detail::serialize_constraints(s.constraints, out);
}

// ---- responses ----

Result<Response> parse_identities(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t count, in_field(in.u32(), "identity count"));
  if (count > kMaxIdentities) {
    return Error(Errc::kTooLarge, "agent lists " + std::to_string(count) + " identities; at most " +
                                      std::to_string(kMaxIdentities) + " are accepted");
  }
  IdentitiesAnswer answer;
  // Each identity takes at least 8 bytes: never reserve more than can be there.
  answer.identities.reserve(std::min<size_t>(count, in.remaining() / 8));
  for (uint32_t i = 0; i < count; ++i) {
    TESSERA_ASSIGN_OR_RETURN(auto blob, in_field(in.string(), "identity key"));
    TESSERA_ASSIGN_OR_RETURN(std::string_view comment, in_field(in.text(), "identity comment"));
    answer.identities.push_back(Identity{Bytes(blob.begin(), blob.end()), std::string(comment)});
  }
  return Response(std::move(answer));
}

Result<Response> parse_response_body(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in_field(in.u8(), "message type"));
  if (type == kLegacyFailureCom || type == kLegacyFailureSsh2) return Response(Failure{});
  switch (static_cast<MessageType>(type)) {
    case MessageType::kFailure:
      return Response(Failure{});
    case MessageType::kSuccess:
      return Response(Success{});
    case MessageType::kIdentitiesAnswer:
      return parse_identities(in);
    case MessageType::kSignResponse: {
      TESSERA_ASSIGN_OR_RETURN(auto sig, in_field(in.string(), "signature"));
      return Response(SignResponse{Bytes(sig.begin(), sig.end())});
    }
    case MessageType::kExtensionFailure:
      return Response(ExtensionFailure{});
    case MessageType::kExtensionResponse: {
      auto rest = in.rest();
      (void)in.bytes(rest.size());
      return Response(ExtensionResponse{Bytes(rest.begin(), rest.end())});
    }
    default:
      return Error(Errc::kUnsupported, "unknown agent response type " + std::to_string(type));
  }
}

}  // namespace

Result<Request> parse_request(std::span<const uint8_t> payload) {
  TESSERA_TRY(check_size(payload));
  Reader in(payload);
  TESSERA_ASSIGN_OR_RETURN(Request request, parse_request_body(in));
  TESSERA_TRY(in_field(in.expect_end(), "agent request"));
  return request;
}

Bytes serialize_request(const Request& request) {
  Writer out;
  std::visit(
      [&out](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, RequestIdentities>) {
          out.u8(static_cast<uint8_t>(MessageType::kRequestIdentities));
        } else if constexpr (std::is_same_v<T, SignRequest>) {
          out.u8(static_cast<uint8_t>(MessageType::kSignRequest));
          out.string(r.key_blob);
          out.string(r.data);
          out.u32(r.flags);
        } else if constexpr (std::is_same_v<T, AddIdentity>) {
          write_add_identity(r, out);
        } else if constexpr (std::is_same_v<T, RemoveIdentity>) {
          out.u8(static_cast<uint8_t>(MessageType::kRemoveIdentity));
          out.string(r.key_blob);
        } else if constexpr (std::is_same_v<T, RemoveAllIdentities>) {
          out.u8(static_cast<uint8_t>(r.legacy_rsa1 ? MessageType::kRemoveAllRsaIdentities
                                                    : MessageType::kRemoveAllIdentities));
        } else if constexpr (std::is_same_v<T, SmartcardRequest>) {
          write_smartcard(r, out);
        } else if constexpr (std::is_same_v<T, LockRequest>) {
          out.u8(static_cast<uint8_t>(r.lock ? MessageType::kLock : MessageType::kUnlock));
          out.string(r.passphrase.reveal());
        } else if constexpr (std::is_same_v<T, SessionBind>) {
          out.u8(static_cast<uint8_t>(MessageType::kExtension));
          out.string(kExtSessionBind);
          out.string(r.host_certificate ? r.host_certificate->blob() : r.host_key.blob());
          out.string(r.session_id);
          out.string(r.signature);
          out.boolean(r.forwarding);
        } else if constexpr (std::is_same_v<T, QueryRequest>) {
          out.u8(static_cast<uint8_t>(MessageType::kExtension));
          out.string(kExtQuery);
        } else if constexpr (std::is_same_v<T, StatusRequest>) {
          out.u8(static_cast<uint8_t>(MessageType::kExtension));
          out.string(kExtStatus);
          out.u32(r.version);
        } else {
          static_assert(std::is_same_v<T, UnknownExtension>);
          out.u8(static_cast<uint8_t>(MessageType::kExtension));
          out.string(r.name);
        }
      },
      request);
  // The request may hold a private key, PIN or passphrase: the Writer wipes
  // its own buffer, and the copy returned here is the caller's to protect.
  return out.take();
}

Result<Response> parse_response(std::span<const uint8_t> payload) {
  TESSERA_TRY(check_size(payload));
  Reader in(payload);
  TESSERA_ASSIGN_OR_RETURN(Response response, parse_response_body(in));
  TESSERA_TRY(in_field(in.expect_end(), "agent response"));
  return response;
}

Bytes serialize_response(const Response& response) {
  Writer out;
  std::visit(
      [&out](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, Failure>) {
          out.u8(static_cast<uint8_t>(MessageType::kFailure));
        } else if constexpr (std::is_same_v<T, Success>) {
          out.u8(static_cast<uint8_t>(MessageType::kSuccess));
        } else if constexpr (std::is_same_v<T, IdentitiesAnswer>) {
          out.u8(static_cast<uint8_t>(MessageType::kIdentitiesAnswer));
          out.u32(static_cast<uint32_t>(r.identities.size()));
          for (const auto& id : r.identities) {
            out.string(id.key_blob);
            out.string(id.comment);
          }
        } else if constexpr (std::is_same_v<T, SignResponse>) {
          out.u8(static_cast<uint8_t>(MessageType::kSignResponse));
          out.string(r.signature);
        } else if constexpr (std::is_same_v<T, ExtensionFailure>) {
          out.u8(static_cast<uint8_t>(MessageType::kExtensionFailure));
        } else {
          static_assert(std::is_same_v<T, ExtensionResponse>);
          out.u8(static_cast<uint8_t>(MessageType::kExtensionResponse));
          out.bytes(r.contents);
        }
      },
      response);
  return out.take();
}

// The query answer as the IETF agent draft (draft-ietf-sshm-ssh-agent, the
// "query" extension) and current OpenSSH's process_ext_query write it: the
// extension name "query" echoed as a string, then one string per supported
// extension name.
ExtensionResponse make_query_response(const std::vector<std::string>& extension_names) {
  Writer w;
  w.string(kExtQuery);
  for (const auto& name : extension_names) w.string(name);
  return ExtensionResponse{w.take()};
}

Result<std::vector<std::string>> parse_query_response(const ExtensionResponse& response) {
  Reader in(response.contents);
  TESSERA_ASSIGN_OR_RETURN(std::string_view echoed, in_field(in.text(), "query answer"));
  if (echoed != kExtQuery) {
    return Error(Errc::kMalformed, "query answer names extension \"" + std::string(echoed) + "\", not \"query\"");
  }
  std::vector<std::string> names;
  while (!in.empty()) {
    if (names.size() >= kMaxQueryNames) {
      return Error(Errc::kTooLarge, "query answer lists more than " + std::to_string(kMaxQueryNames) + " extensions");
    }
    TESSERA_ASSIGN_OR_RETURN(std::string_view name, in_field(in.text(), "query answer extension name"));
    names.emplace_back(name);
  }
  return names;
}

Bytes frame(std::span<const uint8_t> payload) {
  Writer w;
  w.u32(static_cast<uint32_t>(payload.size()));
  w.bytes(payload);
  return w.take();
}

}  // namespace tessera::agent
