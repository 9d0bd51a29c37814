// Codecs of the agent <-> helper protocol (tessera/pkcs11/protocol.h).

#include "tessera/pkcs11/protocol.h"

#include <string>
#include <type_traits>
#include <utility>

namespace tessera::pkcs11 {

using key::Reader;
using key::Writer;

namespace {

Error too_large(std::string_view what, size_t size, size_t limit) {
  return Error(Errc::kTooLarge,
               std::string(what) + " is " + std::to_string(size) + " bytes, over the limit of " +
                   std::to_string(limit));
}

Result<std::string> read_text(Reader& in, std::string_view what, size_t limit) {
  TESSERA_ASSIGN_OR_RETURN(std::string_view text, in.text());
  if (text.size() > limit) return too_large(what, text.size(), limit);
  return std::string(text);
}

Result<Bytes> read_bytes(Reader& in, std::string_view what, size_t limit, bool allow_empty = true) {
  TESSERA_ASSIGN_OR_RETURN(auto bytes, in.string());
  if (bytes.size() > limit) return too_large(what, bytes.size(), limit);
  if (!allow_empty && bytes.empty()) return Error(Errc::kMalformed, std::string(what) + " is empty");
  return Bytes(bytes.begin(), bytes.end());
}

// An optional PIN: boolean present, then (if present) the PIN string.
Result<std::optional<SecretBytes>> read_optional_pin(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t present, in.u8());
  if (present > 1) return Error(Errc::kMalformed, "PIN presence flag is not 0 or 1");
  if (present == 0) return std::optional<SecretBytes>();
  TESSERA_ASSIGN_OR_RETURN(auto pin, in.string());
  if (pin.size() > kMaxPinBytes) return too_large("PIN", pin.size(), kMaxPinBytes);
  return std::optional<SecretBytes>(SecretBytes::copy_of(pin));
}

void write_optional_pin(Writer& out, const std::optional<SecretBytes>& pin) {
  out.u8(pin ? 1 : 0);
  if (pin) out.string(pin->reveal());
}

Result<TokenId> read_token_id(Reader& in) {
  TokenId token;
  TESSERA_ASSIGN_OR_RETURN(token.serial, read_text(in, "token serial", kMaxTextBytes));
  TESSERA_ASSIGN_OR_RETURN(token.slot_description, read_text(in, "slot description", kMaxTextBytes));
  return token;
}

void write_token_id(Writer& out, const TokenId& token) {
  out.string(token.serial);
  out.string(token.slot_description);
}

Result<KeyId> read_key_id(Reader& in) {
  KeyId id;
  TESSERA_ASSIGN_OR_RETURN(id.token, read_token_id(in));
  TESSERA_ASSIGN_OR_RETURN(id.cka_id, read_bytes(in, "CKA_ID", kMaxKeyIdBytes));
  return id;
}

void write_key_id(Writer& out, const KeyId& id) {
  write_token_id(out, id.token);
  out.string(id.cka_id);
}

Result<uint32_t> read_flags(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t flags, in.u32());
  if ((flags & ~kKnownFlags) != 0) return Error(Errc::kMalformed, "unknown flag bits");
  return flags;
}

Result<KeyInfo> read_key_info(Reader& in) {
  KeyInfo key;
  TESSERA_ASSIGN_OR_RETURN(key.id, read_key_id(in));
  TESSERA_ASSIGN_OR_RETURN(key.token_label, read_text(in, "token label", kMaxTextBytes));
  TESSERA_ASSIGN_OR_RETURN(key.label, read_text(in, "key label", kMaxTextBytes));
  TESSERA_ASSIGN_OR_RETURN(key.uri, read_text(in, "key URI", kMaxUriBytes));
  TESSERA_ASSIGN_OR_RETURN(key.public_key, read_bytes(in, "public key", kMaxKeyBlobBytes, false));
  TESSERA_ASSIGN_OR_RETURN(key.flags, read_flags(in));
  return key;
}

void write_key_info(Writer& out, const KeyInfo& key) {
  write_key_id(out, key.id);
  out.string(key.token_label);
  out.string(key.label);
  out.string(key.uri);
  out.string(key.public_key);
  out.u32(key.flags);
}

struct Header {
  MessageType type;
  uint32_t id;
};

Result<Header> read_header(Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, in.u8());
  TESSERA_ASSIGN_OR_RETURN(uint32_t id, in.u32());
  return Header{static_cast<MessageType>(type), id};
}

Result<RequestBody> read_request_body(MessageType type, Reader& in) {
  switch (type) {
    case MessageType::kHello: {
      Hello hello;
      TESSERA_ASSIGN_OR_RETURN(hello.version, in.u32());
      return RequestBody(hello);
    }
    case MessageType::kListKeys: {
      ListKeys list;
      TESSERA_ASSIGN_OR_RETURN(list.first, in.u32());
      TESSERA_ASSIGN_OR_RETURN(uint8_t rescan, in.u8());
      if (rescan > 1) return Error(Errc::kMalformed, "ListKeys rescan flag is not 0 or 1");
      list.rescan = rescan == 1;
      return RequestBody(list);
    }
    case MessageType::kLogin: {
      Login login;
      TESSERA_ASSIGN_OR_RETURN(login.token, read_token_id(in));
      TESSERA_ASSIGN_OR_RETURN(login.pin, read_optional_pin(in));
      return RequestBody(std::move(login));
    }
    case MessageType::kLogout: {
      Logout logout;
      TESSERA_ASSIGN_OR_RETURN(logout.token, read_token_id(in));
      return RequestBody(std::move(logout));
    }
    case MessageType::kSign: {
      Sign sign;
      TESSERA_ASSIGN_OR_RETURN(sign.key, read_key_id(in));
      TESSERA_ASSIGN_OR_RETURN(sign.data, read_bytes(in, "data", kMaxSignDataBytes));
      TESSERA_ASSIGN_OR_RETURN(sign.algorithm, read_text(in, "algorithm", kMaxTextBytes));
      TESSERA_ASSIGN_OR_RETURN(sign.context_pin, read_optional_pin(in));
      return RequestBody(std::move(sign));
    }
    default:
      return Error(Errc::kUnsupported, "unknown request type " + std::to_string(static_cast<int>(type)));
  }
}

Result<ReplyBody> read_reply_body(MessageType type, Reader& in) {
  switch (type) {
    case MessageType::kOk:
      return ReplyBody(Ok{});
    case MessageType::kHelloReply: {
      HelloReply hello;
      TESSERA_ASSIGN_OR_RETURN(hello.version, in.u32());
      TESSERA_ASSIGN_OR_RETURN(hello.module, read_text(in, "module description", kMaxMessageTextBytes));
      return ReplyBody(std::move(hello));
    }
    case MessageType::kKeyList: {
      KeyList list;
      TESSERA_ASSIGN_OR_RETURN(list.generation, in.u32());
      TESSERA_ASSIGN_OR_RETURN(list.total, in.u32());
      TESSERA_ASSIGN_OR_RETURN(list.first, in.u32());
      if (list.total > kMaxListedKeys) return too_large("listing", list.total, kMaxListedKeys);
      TESSERA_ASSIGN_OR_RETURN(uint32_t count, in.u32());
      if (count > list.total || list.first > list.total - count) {
        return Error(Errc::kMalformed, "key list page " + std::to_string(list.first) + "+" + std::to_string(count) +
                                           " lies outside its listing of " + std::to_string(list.total));
      }
      if (count > kMaxKeys) return too_large("key count", count, kMaxKeys);
      // Each key takes at least 33 bytes: do not reserve more than the input can hold.
      if (count > in.remaining() / 33) return Error(Errc::kTruncated, "key list shorter than its count");
      list.keys.reserve(count);
      for (uint32_t i = 0; i < count; ++i) {
        TESSERA_ASSIGN_OR_RETURN(KeyInfo key, read_key_info(in));
        list.keys.push_back(std::move(key));
      }
      return ReplyBody(std::move(list));
    }
    case MessageType::kSignature: {
      SignatureReply sig;
      TESSERA_ASSIGN_OR_RETURN(sig.signature, read_bytes(in, "signature", kMaxSignatureBytes, false));
      return ReplyBody(std::move(sig));
    }
    case MessageType::kError: {
      ErrorReply error;
      TESSERA_ASSIGN_OR_RETURN(uint32_t code, in.u32());
      if (code == 0 || code > kMaxErrorCode) {
        return Error(Errc::kMalformed, "unknown error code " + std::to_string(code));
      }
      error.code = static_cast<ErrorCode>(code);
      TESSERA_ASSIGN_OR_RETURN(error.token_flags, read_flags(in));
      TESSERA_ASSIGN_OR_RETURN(error.message, read_text(in, "error message", kMaxMessageTextBytes));
      return ReplyBody(std::move(error));
    }
    default:
      return Error(Errc::kUnsupported, "unknown reply type " + std::to_string(static_cast<int>(type)));
  }
}

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kTokenRemoved: return "token_removed";
    case ErrorCode::kNotLoggedIn: return "not_logged_in";
    case ErrorCode::kPinIncorrect: return "pin_incorrect";
    case ErrorCode::kPinLocked: return "pin_locked";
    case ErrorCode::kPinInvalid: return "pin_invalid";
    case ErrorCode::kKeyNotFound: return "key_not_found";
    case ErrorCode::kTokenNotFound: return "token_not_found";
    case ErrorCode::kDeviceError: return "device_error";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kBadRequest: return "bad_request";
    case ErrorCode::kModuleError: return "module_error";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

Error helper_error(ErrorCode code, std::string message, uint32_t token_flags) {
  Errc kind = Errc::kIo;
  switch (code) {
    case ErrorCode::kPinIncorrect:
    case ErrorCode::kPinInvalid: kind = Errc::kInvalidArgument; break;
    case ErrorCode::kUnsupported: kind = Errc::kUnsupported; break;
    case ErrorCode::kBadRequest: kind = Errc::kMalformed; break;
    default: break;
  }
  return Error(kind, std::move(message)).with_subcode(static_cast<uint32_t>(code), token_flags);
}

ErrorCode helper_code(const Error& error) {
  const uint32_t code = error.subcode();
  if (code == 0 || code > kMaxErrorCode) return ErrorCode::kInternal;
  return static_cast<ErrorCode>(code);
}

Result<Request> parse_request(std::span<const uint8_t> payload) {
  if (payload.size() > kMaxFrameBytes) return too_large("request", payload.size(), kMaxFrameBytes);
  Reader in(payload);
  TESSERA_ASSIGN_OR_RETURN(Header header, read_header(in));
  TESSERA_ASSIGN_OR_RETURN(RequestBody body, read_request_body(header.type, in));
  TESSERA_TRY(in.expect_end());
  return Request{header.id, std::move(body)};
}

SecretBytes serialize_request(const Request& request) {
  Writer out;
  std::visit(Overloaded{
                 [&](const Hello& m) {
                   out.u8(static_cast<uint8_t>(MessageType::kHello));
                   out.u32(request.id);
                   out.u32(m.version);
                 },
                 [&](const ListKeys& m) {
                   out.u8(static_cast<uint8_t>(MessageType::kListKeys));
                   out.u32(request.id);
                   out.u32(m.first);
                   out.u8(m.rescan ? 1 : 0);
                 },
                 [&](const Login& m) {
                   out.u8(static_cast<uint8_t>(MessageType::kLogin));
                   out.u32(request.id);
                   write_token_id(out, m.token);
                   write_optional_pin(out, m.pin);
                 },
                 [&](const Logout& m) {
                   out.u8(static_cast<uint8_t>(MessageType::kLogout));
                   out.u32(request.id);
                   write_token_id(out, m.token);
                 },
                 [&](const Sign& m) {
                   out.u8(static_cast<uint8_t>(MessageType::kSign));
                   out.u32(request.id);
                   write_key_id(out, m.key);
                   out.string(m.data);
                   out.string(m.algorithm);
                   write_optional_pin(out, m.context_pin);
                 },
             },
             request.body);
  return out.take_secret();
}

Result<Reply> parse_reply(std::span<const uint8_t> payload) {
  if (payload.size() > kMaxFrameBytes) return too_large("reply", payload.size(), kMaxFrameBytes);
  Reader in(payload);
  TESSERA_ASSIGN_OR_RETURN(Header header, read_header(in));
  TESSERA_ASSIGN_OR_RETURN(ReplyBody body, read_reply_body(header.type, in));
  TESSERA_TRY(in.expect_end());
  return Reply{header.id, std::move(body)};
}

Bytes serialize_reply(const Reply& reply) {
  Writer out;
  auto header = [&](MessageType type) {
    out.u8(static_cast<uint8_t>(type));
    out.u32(reply.id);
  };
  std::visit(Overloaded{
                 [&](const Ok&) { header(MessageType::kOk); },
                 [&](const HelloReply& m) {
                   header(MessageType::kHelloReply);
                   out.u32(m.version);
                   out.string(m.module);
                 },
                 [&](const KeyList& m) {
                   header(MessageType::kKeyList);
                   out.u32(m.generation);
                   out.u32(m.total);
                   out.u32(m.first);
                   out.u32(static_cast<uint32_t>(m.keys.size()));
                   for (const auto& key : m.keys) write_key_info(out, key);
                 },
                 [&](const SignatureReply& m) {
                   header(MessageType::kSignature);
                   out.string(m.signature);
                 },
                 [&](const ErrorReply& m) {
                   header(MessageType::kError);
                   out.u32(static_cast<uint32_t>(m.code));
                   out.u32(m.token_flags);
                   out.string(m.message);
                 },
             },
             reply.body);
  return out.take();
}

Result<bool> add_page(KeyList& listing, KeyList page) {
  const bool starting = listing.keys.empty() && listing.total == 0 && listing.generation == 0;
  if (starting) {
    if (page.first != 0) return Error(Errc::kMalformed, "the first page of a key listing does not start at key 0");
    listing.generation = page.generation;
    listing.total = page.total;
  } else if (page.generation != listing.generation) {
    return false;
  } else if (page.first != listing.keys.size() || page.total != listing.total) {
    return Error(Errc::kMalformed, "a key listing page does not follow the one before");
  }
  if (page.keys.empty() && listing.keys.size() < listing.total) {
    return Error(Errc::kMalformed, "an empty page in the middle of a key listing");
  }
  // A listing's memory is bounded, whatever the helper claims.
  size_t bytes = 0;
  for (const auto& key : listing.keys) bytes += serialized_size(key);
  for (const auto& key : page.keys) bytes += serialized_size(key);
  if (bytes > kMaxListingBytes) return too_large("a key listing", bytes, kMaxListingBytes);
  for (auto& key : page.keys) listing.keys.push_back(std::move(key));
  return true;
}

Result<uint32_t> peek_request_id(std::span<const uint8_t> payload) {
  Reader in(payload);
  TESSERA_ASSIGN_OR_RETURN(Header header, read_header(in));
  return header.id;
}

namespace {

Status check_frame_payload(size_t size) {
  if (size == 0) return Error(Errc::kMalformed, "an empty frame payload");
  if (size > kMaxFrameBytes) return too_large("a frame payload", size, kMaxFrameBytes);
  return Status();
}

}  // namespace

Result<Bytes> frame(std::span<const uint8_t> payload) {
  TESSERA_TRY(check_frame_payload(payload.size()));
  Writer out;
  out.string(payload);
  return out.take();
}

Result<SecretBytes> frame_secret(const SecretBytes& payload) {
  TESSERA_TRY(check_frame_payload(payload.size()));
  Writer out;
  out.string(payload.reveal());
  return out.take_secret();
}

size_t serialized_size(const KeyInfo& key) {
  return (4 + key.id.token.serial.size()) + (4 + key.id.token.slot_description.size()) + (4 + key.id.cka_id.size()) +
         (4 + key.token_label.size()) + (4 + key.label.size()) + (4 + key.uri.size()) + (4 + key.public_key.size()) +
         4;
}

FrameStatus peek_frame(std::span<const uint8_t> buffer, std::span<const uint8_t>* payload) {
  if (buffer.size() < 4) return FrameStatus::kNeedMore;
  const uint32_t length = (uint32_t{buffer[0]} << 24) | (uint32_t{buffer[1]} << 16) |
                          (uint32_t{buffer[2]} << 8) | uint32_t{buffer[3]};
  if (length == 0 || length > kMaxFrameBytes) return FrameStatus::kBadLength;
  if (buffer.size() - 4 < length) return FrameStatus::kNeedMore;
  *payload = buffer.subspan(4, length);
  return FrameStatus::kComplete;
}

}  // namespace tessera::pkcs11
