// Codecs of the caller <-> tessera-sk-helper protocol (tessera/fido/protocol.h).

#include "tessera/fido/protocol.h"

#include <string>
#include <type_traits>
#include <utility>

namespace tessera::fido {

using key::Reader;
using key::Writer;

namespace {

enum class MessageType : uint8_t {
  // caller -> helper
  kEnroll = 1,
  kSign = 2,
  kLoadResidentKeys = 3,
  // helper -> caller
  kEnrolled = 64,
  kSigned = 65,
  kResidentKeys = 66,
  kError = 67,
};

// The largest messages, at the field limits, must fit in a frame.
constexpr size_t kMaxSignRequestBytes = 4 + 1 + (4 + kMaxPathBytes) + 4 + (4 + kMaxSignDataBytes) +
                                        (4 + kMaxApplicationBytes) + (4 + kMaxKeyHandleBytes) + 1 +
                                        (1 + 4 + kMaxPinBytes) + (4 + kMaxPathBytes);
constexpr size_t kMaxResidentKeyBytes = 4 + 1 + (4 + kMaxApplicationBytes) + (4 + kEcdsaPublicKeyBytes) +
                                        (4 + kMaxKeyHandleBytes) + (4 + kMaxUserIdBytes);
constexpr size_t kMaxResidentKeysReplyBytes = 1 + 4 + kMaxResidentKeys * kMaxResidentKeyBytes;
constexpr size_t kMaxEnrollReplyBytes = 1 + 4 + 1 + (4 + kEcdsaPublicKeyBytes) + (4 + kMaxKeyHandleBytes) +
                                        (4 + kMaxAttestationSignatureBytes) + (4 + kMaxAttestationCertBytes) +
                                        (4 + kMaxAuthdataBytes);
static_assert(kMaxSignRequestBytes <= kMaxFrameBytes);
static_assert(kMaxResidentKeysReplyBytes <= kMaxFrameBytes);
static_assert(kMaxEnrollReplyBytes <= kMaxFrameBytes);
static_assert(4 + kMaxErrorTextBytes + 5 <= kMaxFrameBytes);

Error too_large(std::string_view what, size_t size, size_t limit) {
  return Error(Errc::kTooLarge, std::string(what) + " is " + std::to_string(size) +
                                    " bytes, over the limit of " + std::to_string(limit));
}

Result<std::string> read_text(Reader& in, std::string_view what, size_t limit) {
  auto text = in.text();
  if (!text.ok()) return text.error().with_context(what);
  if (text->size() > limit) return too_large(what, text->size(), limit);
  return std::string(*text);
}

Result<Bytes> read_bytes(Reader& in, std::string_view what, size_t min, size_t limit) {
  auto bytes = in.string();
  if (!bytes.ok()) return bytes.error().with_context(what);
  if (bytes->size() > limit) return too_large(what, bytes->size(), limit);
  if (bytes->size() < min) return Error(Errc::kMalformed, std::string(what) + " is empty");
  return Bytes(bytes->begin(), bytes->end());
}

Result<SecretBytes> read_secret(Reader& in, std::string_view what, size_t min, size_t limit) {
  auto bytes = in.string();
  if (!bytes.ok()) return bytes.error().with_context(what);
  if (bytes->size() > limit) return too_large(what, bytes->size(), limit);
  if (bytes->size() < min) return Error(Errc::kMalformed, std::string(what) + " is empty");
  return SecretBytes::copy_of(*bytes);
}

// An optional PIN: byte present (0 or 1), then (if present) the PIN string.
Result<std::optional<SecretBytes>> read_optional_pin(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t present, in.u8());
  if (present > 1) return Error(Errc::kMalformed, "PIN presence flag is not 0 or 1");
  if (present == 0) return std::optional<SecretBytes>();
  TESSERA_ASSIGN_OR_RETURN(SecretBytes pin, read_secret(in, "PIN", 0, kMaxPinBytes));
  return std::optional<SecretBytes>(std::move(pin));
}

void write_optional_pin(Writer& out, const std::optional<SecretBytes>& pin) {
  out.u8(pin ? 1 : 0);
  if (pin) out.string(pin->reveal());
}

Result<Algorithm> read_algorithm(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t alg, in.u32());
  if (alg != SSH_SK_ECDSA && alg != SSH_SK_ED25519) {
    return Error(Errc::kUnsupported, "unknown security key algorithm " + std::to_string(alg));
  }
  return static_cast<Algorithm>(alg);
}

Result<std::string> read_application(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(std::string application, read_text(in, "application", kMaxApplicationBytes));
  if (application.empty()) return Error(Errc::kMalformed, "the application is empty");
  return application;
}

Result<Bytes> read_public_key(Reader& in, Algorithm alg) {
  TESSERA_ASSIGN_OR_RETURN(Bytes public_key, read_bytes(in, "public key", 0, kEcdsaPublicKeyBytes));
  TESSERA_TRY(check_public_key(alg, public_key));
  return public_key;
}

Status check_signature_parts(Algorithm alg, std::span<const uint8_t> sig_r, std::span<const uint8_t> sig_s) {
  if (alg == Algorithm::kEd25519) {
    if (sig_r.size() != kEd25519SignatureBytes) {
      return Error(Errc::kMalformed, "an Ed25519 signature of " + std::to_string(sig_r.size()) +
                                         " bytes (it has " + std::to_string(kEd25519SignatureBytes) + ")");
    }
    if (!sig_s.empty()) return Error(Errc::kMalformed, "an Ed25519 signature with an s part");
    return {};
  }
  for (auto [part, name] : {std::pair{sig_r, "r"}, std::pair{sig_s, "s"}}) {
    if (part.empty() || part.size() > kMaxEcdsaScalarBytes) {
      return Error(Errc::kMalformed, std::string("an ECDSA signature whose ") + name + " is " +
                                         std::to_string(part.size()) + " bytes (1.." +
                                         std::to_string(kMaxEcdsaScalarBytes) + " allowed)");
    }
    if (part.size() == kMaxEcdsaScalarBytes && part[0] != 0) {
      return Error(Errc::kMalformed, std::string("an ECDSA signature whose ") + name + " is over 256 bits");
    }
  }
  return {};
}

Result<RequestBody> read_request_body(MessageType type, Reader& in) {
  switch (type) {
    case MessageType::kEnroll: {
      EnrollRequest r;
      TESSERA_ASSIGN_OR_RETURN(r.provider, read_text(in, "provider", kMaxPathBytes));
      TESSERA_ASSIGN_OR_RETURN(r.alg, read_algorithm(in));
      TESSERA_ASSIGN_OR_RETURN(r.application, read_application(in));
      TESSERA_ASSIGN_OR_RETURN(r.flags, in.u8());
      TESSERA_ASSIGN_OR_RETURN(r.challenge, read_bytes(in, "challenge", 1, kMaxChallengeBytes));
      TESSERA_ASSIGN_OR_RETURN(r.pin, read_optional_pin(in));
      TESSERA_ASSIGN_OR_RETURN(r.device, read_text(in, "device", kMaxPathBytes));
      TESSERA_ASSIGN_OR_RETURN(r.user, read_text(in, "user", kMaxUserIdBytes));
      return RequestBody(std::move(r));
    }
    case MessageType::kSign: {
      SignRequest r;
      TESSERA_ASSIGN_OR_RETURN(r.provider, read_text(in, "provider", kMaxPathBytes));
      TESSERA_ASSIGN_OR_RETURN(r.alg, read_algorithm(in));
      TESSERA_ASSIGN_OR_RETURN(r.data, read_bytes(in, "data", 0, kMaxSignDataBytes));
      TESSERA_ASSIGN_OR_RETURN(r.application, read_application(in));
      TESSERA_ASSIGN_OR_RETURN(r.key_handle, read_secret(in, "key handle", 1, kMaxKeyHandleBytes));
      TESSERA_ASSIGN_OR_RETURN(r.flags, in.u8());
      TESSERA_ASSIGN_OR_RETURN(r.pin, read_optional_pin(in));
      TESSERA_ASSIGN_OR_RETURN(r.device, read_text(in, "device", kMaxPathBytes));
      return RequestBody(std::move(r));
    }
    case MessageType::kLoadResidentKeys: {
      LoadResidentKeysRequest r;
      TESSERA_ASSIGN_OR_RETURN(r.provider, read_text(in, "provider", kMaxPathBytes));
      TESSERA_ASSIGN_OR_RETURN(r.pin, read_optional_pin(in));
      TESSERA_ASSIGN_OR_RETURN(r.device, read_text(in, "device", kMaxPathBytes));
      return RequestBody(std::move(r));
    }
    default:
      return Error(Errc::kMalformed, "unknown request type " + std::to_string(static_cast<unsigned>(type)));
  }
}

Result<ResidentKey> read_resident_key(Reader& in) {
  ResidentKey key;
  TESSERA_ASSIGN_OR_RETURN(key.alg, read_algorithm(in));
  TESSERA_ASSIGN_OR_RETURN(key.flags, in.u8());
  TESSERA_ASSIGN_OR_RETURN(key.application, read_application(in));
  if (!key.application.starts_with("ssh:")) {
    return Error(Errc::kMalformed, "a resident key for an application that is not \"ssh:\"");
  }
  TESSERA_ASSIGN_OR_RETURN(key.public_key, read_public_key(in, key.alg));
  TESSERA_ASSIGN_OR_RETURN(key.key_handle, read_secret(in, "key handle", 1, kMaxKeyHandleBytes));
  TESSERA_ASSIGN_OR_RETURN(key.user_id, read_bytes(in, "user id", 0, kMaxUserIdBytes));
  return key;
}

Result<ReplyBody> read_reply_body(MessageType type, Reader& in) {
  switch (type) {
    case MessageType::kEnrolled: {
      EnrollReply r;
      TESSERA_ASSIGN_OR_RETURN(r.alg, read_algorithm(in));
      TESSERA_ASSIGN_OR_RETURN(r.flags, in.u8());
      TESSERA_ASSIGN_OR_RETURN(r.public_key, read_public_key(in, r.alg));
      TESSERA_ASSIGN_OR_RETURN(r.key_handle, read_secret(in, "key handle", 1, kMaxKeyHandleBytes));
      TESSERA_ASSIGN_OR_RETURN(r.attestation_signature,
                               read_bytes(in, "attestation signature", 0, kMaxAttestationSignatureBytes));
      TESSERA_ASSIGN_OR_RETURN(r.attestation_certificate,
                               read_bytes(in, "attestation certificate", 0, kMaxAttestationCertBytes));
      TESSERA_ASSIGN_OR_RETURN(r.authdata, read_bytes(in, "authenticator data", 0, kMaxAuthdataBytes));
      return ReplyBody(std::move(r));
    }
    case MessageType::kSigned: {
      SignReply r;
      TESSERA_ASSIGN_OR_RETURN(r.alg, read_algorithm(in));
      TESSERA_ASSIGN_OR_RETURN(r.flags, in.u8());
      TESSERA_ASSIGN_OR_RETURN(r.counter, in.u32());
      TESSERA_ASSIGN_OR_RETURN(r.sig_r, read_bytes(in, "signature r", 0, kEd25519SignatureBytes));
      TESSERA_ASSIGN_OR_RETURN(r.sig_s, read_bytes(in, "signature s", 0, kMaxEcdsaScalarBytes));
      TESSERA_TRY(check_signature_parts(r.alg, r.sig_r, r.sig_s));
      return ReplyBody(std::move(r));
    }
    case MessageType::kResidentKeys: {
      ResidentKeysReply r;
      TESSERA_ASSIGN_OR_RETURN(uint32_t count, in.u32());
      if (count > kMaxResidentKeys) return too_large("the resident key list", count, kMaxResidentKeys);
      r.keys.reserve(count);
      for (uint32_t i = 0; i < count; ++i) {
        auto key = read_resident_key(in);
        if (!key.ok()) return key.error().with_context("resident key " + std::to_string(i));
        r.keys.push_back(std::move(key).value());
      }
      return ReplyBody(std::move(r));
    }
    case MessageType::kError: {
      ErrorReply r;
      TESSERA_ASSIGN_OR_RETURN(uint32_t code, in.u32());
      if (!is_reply_error_code(code)) return Error(Errc::kMalformed, "unknown error code " + std::to_string(code));
      r.code = static_cast<ErrorCode>(code);
      TESSERA_ASSIGN_OR_RETURN(r.message, read_text(in, "error message", kMaxErrorTextBytes));
      return ReplyBody(std::move(r));
    }
    default:
      return Error(Errc::kMalformed, "unknown reply type " + std::to_string(static_cast<unsigned>(type)));
  }
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string_view algorithm_name(Algorithm alg) { return alg == Algorithm::kEd25519 ? "Ed25519" : "ECDSA"; }

key::KeyType key_type(Algorithm alg) {
  return alg == Algorithm::kEd25519 ? key::KeyType::kSkEd25519 : key::KeyType::kSkEcdsaP256;
}

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kGeneral: return "general";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kPinRequired: return "pin_required";
    case ErrorCode::kDeviceNotFound: return "device_not_found";
    case ErrorCode::kCredentialExists: return "credential_exists";
    case ErrorCode::kBadRequest: return "bad_request";
    case ErrorCode::kProviderError: return "provider_error";
    case ErrorCode::kBadResponse: return "bad_response";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kCrashed: return "crashed";
    case ErrorCode::kHelperFailed: return "helper_failed";
  }
  return "unknown";
}

bool is_reply_error_code(uint32_t code) { return (code >= 1 && code <= 5) || (code >= 16 && code <= 18); }

ErrorCode error_code_from_sk(int sk_error) {
  switch (sk_error) {
    case SSH_SK_ERR_UNSUPPORTED: return ErrorCode::kUnsupported;
    case SSH_SK_ERR_PIN_REQUIRED: return ErrorCode::kPinRequired;
    case SSH_SK_ERR_DEVICE_NOT_FOUND: return ErrorCode::kDeviceNotFound;
    case SSH_SK_ERR_CREDENTIAL_EXISTS: return ErrorCode::kCredentialExists;
    default: return ErrorCode::kGeneral;
  }
}

Error sk_error(ErrorCode code, std::string message) {
  Errc errc = Errc::kIo;
  switch (code) {
    case ErrorCode::kPinRequired: errc = Errc::kPassphraseRequired; break;
    case ErrorCode::kUnsupported: errc = Errc::kUnsupported; break;
    case ErrorCode::kCredentialExists:
    case ErrorCode::kBadRequest: errc = Errc::kInvalidArgument; break;
    case ErrorCode::kBadResponse: errc = Errc::kMalformed; break;
    default: break;
  }
  return Error(errc, std::move(message)).with_subcode(static_cast<uint32_t>(code));
}

ErrorCode sk_error_code(const Error& error) {
  const uint32_t code = error.subcode();
  if (is_reply_error_code(code) || (code >= 32 && code <= 34)) return static_cast<ErrorCode>(code);
  return ErrorCode::kHelperFailed;
}

Result<Request> parse_request(std::span<const uint8_t> body) {
  Reader in(body);
  TESSERA_ASSIGN_OR_RETURN(uint32_t version, in.u32());
  if (version != kProtocolVersion) {
    return Error(Errc::kUnsupported, "protocol version " + std::to_string(version) + " (this helper speaks " +
                                         std::to_string(kProtocolVersion) + ")");
  }
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in.u8());
  TESSERA_ASSIGN_OR_RETURN(RequestBody request, read_request_body(static_cast<MessageType>(type), in));
  TESSERA_TRY(in.expect_end());
  return Request{version, std::move(request)};
}

SecretBytes serialize_request(const Request& request) {
  Writer out;
  out.u32(request.version);
  std::visit(Overloaded{
                 [&](const EnrollRequest& r) {
                   out.u8(static_cast<uint8_t>(MessageType::kEnroll));
                   out.string(r.provider);
                   out.u32(static_cast<uint32_t>(r.alg));
                   out.string(r.application);
                   out.u8(r.flags);
                   out.string(r.challenge);
                   write_optional_pin(out, r.pin);
                   out.string(r.device);
                   out.string(r.user);
                 },
                 [&](const SignRequest& r) {
                   out.u8(static_cast<uint8_t>(MessageType::kSign));
                   out.string(r.provider);
                   out.u32(static_cast<uint32_t>(r.alg));
                   out.string(r.data);
                   out.string(r.application);
                   out.string(r.key_handle.reveal());
                   out.u8(r.flags);
                   write_optional_pin(out, r.pin);
                   out.string(r.device);
                 },
                 [&](const LoadResidentKeysRequest& r) {
                   out.u8(static_cast<uint8_t>(MessageType::kLoadResidentKeys));
                   out.string(r.provider);
                   write_optional_pin(out, r.pin);
                   out.string(r.device);
                 },
             },
             request.body);
  return out.take_secret();
}

Result<Reply> parse_reply(std::span<const uint8_t> body) {
  Reader in(body);
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in.u8());
  TESSERA_ASSIGN_OR_RETURN(ReplyBody reply, read_reply_body(static_cast<MessageType>(type), in));
  TESSERA_TRY(in.expect_end());
  return Reply{std::move(reply)};
}

SecretBytes serialize_reply(const Reply& reply) {
  Writer out;
  std::visit(Overloaded{
                 [&](const EnrollReply& r) {
                   out.u8(static_cast<uint8_t>(MessageType::kEnrolled));
                   out.u32(static_cast<uint32_t>(r.alg));
                   out.u8(r.flags);
                   out.string(r.public_key);
                   out.string(r.key_handle.reveal());
                   out.string(r.attestation_signature);
                   out.string(r.attestation_certificate);
                   out.string(r.authdata);
                 },
                 [&](const SignReply& r) {
                   out.u8(static_cast<uint8_t>(MessageType::kSigned));
                   out.u32(static_cast<uint32_t>(r.alg));
                   out.u8(r.flags);
                   out.u32(r.counter);
                   out.string(r.sig_r);
                   out.string(r.sig_s);
                 },
                 [&](const ResidentKeysReply& r) {
                   out.u8(static_cast<uint8_t>(MessageType::kResidentKeys));
                   out.u32(static_cast<uint32_t>(r.keys.size()));
                   for (const ResidentKey& key : r.keys) {
                     out.u32(static_cast<uint32_t>(key.alg));
                     out.u8(key.flags);
                     out.string(key.application);
                     out.string(key.public_key);
                     out.string(key.key_handle.reveal());
                     out.string(key.user_id);
                   }
                 },
                 [&](const ErrorReply& r) {
                   out.u8(static_cast<uint8_t>(MessageType::kError));
                   out.u32(static_cast<uint32_t>(r.code));
                   out.string(r.message);
                 },
             },
             reply.body);
  return out.take_secret();
}

Result<SecretBytes> frame(const SecretBytes& body) {
  if (body.empty()) return Error(Errc::kMalformed, "an empty frame");
  if (body.size() > kMaxFrameBytes) return too_large("a frame", body.size(), kMaxFrameBytes);
  Writer out;
  out.u32(static_cast<uint32_t>(body.size()));
  out.bytes(body.reveal());
  return out.take_secret();
}

FrameStatus peek_frame(std::span<const uint8_t> buffer, std::span<const uint8_t>* body) {
  if (buffer.size() < 4) return FrameStatus::kNeedMore;
  const uint32_t length = (uint32_t{buffer[0]} << 24) | (uint32_t{buffer[1]} << 16) | (uint32_t{buffer[2]} << 8) |
                          uint32_t{buffer[3]};
  if (length == 0 || length > kMaxFrameBytes) return FrameStatus::kBadLength;
  if (buffer.size() - 4 < length) return FrameStatus::kNeedMore;
  *body = buffer.subspan(4, length);
  return FrameStatus::kComplete;
}

Status check_public_key(Algorithm alg, std::span<const uint8_t> public_key) {
  if (alg == Algorithm::kEd25519) {
    if (public_key.size() != kEd25519PublicKeyBytes) {
      return Error(Errc::kInvalidKey, "an Ed25519 public key of " + std::to_string(public_key.size()) +
                                          " bytes (it has " + std::to_string(kEd25519PublicKeyBytes) + ")");
    }
    return {};
  }
  if (public_key.size() != kEcdsaPublicKeyBytes || public_key[0] != 0x04) {
    return Error(Errc::kInvalidKey, "an ECDSA public key that is not an uncompressed P-256 point (" +
                                        std::to_string(public_key.size()) + " bytes)");
  }
  // The point must be on the curve: libkey checks it.
  auto key = key::security_key_public(key_type(alg), public_key, "ssh:");
  if (!key.ok()) return Error(Errc::kInvalidKey, "an ECDSA public key: " + key.error().message());
  return {};
}

Result<Bytes> ssh_signature(Algorithm alg, uint8_t flags, uint32_t counter, std::span<const uint8_t> sig_r,
                            std::span<const uint8_t> sig_s) {
  TESSERA_TRY(check_signature_parts(alg, sig_r, sig_s));
  return key::security_key_signature_blob(key_type(alg), flags, counter, sig_r, sig_s);
}

}  // namespace tessera::fido
