// The caller <-> tessera-sk-helper protocol: every message round-trips, and
// every malformed body or frame is refused without a crash.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tessera/fido/protocol.h"
#include "tessera/key/key.h"
#include "tessera/key/wire.h"
#include "test_support.h"

namespace tessera::fido {
namespace {

using key::Reader;
using key::Writer;

// A valid P-256 point (the generator's multiple of a fresh key) and an Ed25519 key.
Bytes ecdsa_point() {
  auto key = key::PrivateKey::generate(key::KeyType::kEcdsaP256);
  Bytes blob = key->public_key().blob();
  Reader in(blob);
  (void)in.text();
  (void)in.text();
  auto q = in.string();
  return Bytes(q->begin(), q->end());
}

Bytes ed25519_point() {
  auto key = key::PrivateKey::generate(key::KeyType::kEd25519);
  Bytes blob = key->public_key().blob();
  Reader in(blob);
  (void)in.text();
  auto q = in.string();
  return Bytes(q->begin(), q->end());
}

SecretBytes secret(std::string_view text) { return SecretBytes::copy_of(text); }
Bytes bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }
Bytes span_bytes(std::span<const uint8_t> s) { return Bytes(s.begin(), s.end()); }

Request enroll_request() {
  EnrollRequest r;
  r.provider = "/usr/lib/x/middleware.so";
  r.alg = Algorithm::kEcdsaP256;
  r.application = "ssh:test";
  r.flags = SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY;
  r.challenge = Bytes(32, 7);
  r.pin = secret("123456");
  r.device = "/dev/hidraw3";
  r.user = "alice";
  return Request{kProtocolVersion, std::move(r)};
}

Request sign_request() {
  SignRequest r;
  r.provider = "internal";
  r.alg = Algorithm::kEd25519;
  r.data = bytes("data to sign");
  r.application = "ssh:";
  r.key_handle = secret("a key handle");
  r.flags = SSH_SK_USER_PRESENCE_REQD;
  return Request{kProtocolVersion, std::move(r)};
}

Request load_request() {
  LoadResidentKeysRequest r;
  r.provider = "internal";
  r.pin = secret("");
  return Request{kProtocolVersion, std::move(r)};
}

Reply enroll_reply() {
  EnrollReply r;
  r.alg = Algorithm::kEcdsaP256;
  r.flags = SSH_SK_USER_PRESENCE_REQD;
  r.public_key = ecdsa_point();
  r.key_handle = secret("handle");
  r.attestation_signature = bytes("sig");
  r.attestation_certificate = bytes("cert");
  r.authdata = bytes("authdata");
  return Reply{std::move(r)};
}

Reply sign_reply(Algorithm alg) {
  SignReply r;
  r.alg = alg;
  r.flags = 0x05;
  r.counter = 0x01020304;
  if (alg == Algorithm::kEd25519) {
    r.sig_r = Bytes(64, 9);
  } else {
    r.sig_r = Bytes(32, 1);
    r.sig_s = Bytes(33, 2);
    r.sig_s[0] = 0;
  }
  return Reply{std::move(r)};
}

Reply resident_reply() {
  ResidentKeysReply r;
  for (Algorithm alg : {Algorithm::kEd25519, Algorithm::kEcdsaP256}) {
    ResidentKey key;
    key.alg = alg;
    key.flags = SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY;
    key.application = "ssh:rk";
    key.public_key = alg == Algorithm::kEd25519 ? ed25519_point() : ecdsa_point();
    key.key_handle = secret("rk handle");
    key.user_id = Bytes(32, 0);
    r.keys.push_back(std::move(key));
  }
  return Reply{std::move(r)};
}

Reply error_reply() { return Reply{ErrorReply{ErrorCode::kPinRequired, "the security key needs its PIN"}}; }

Bytes encode(const Request& r) { return span_bytes(serialize_request(r).reveal()); }
Bytes encode(const Reply& r) { return span_bytes(serialize_reply(r).reveal()); }

// Every shorter prefix of a valid body fails, and so does a trailing byte.
template <typename Parse>
void expect_prefixes_and_trailing_fail(const Bytes& body, Parse parse) {
  for (size_t n = 0; n < body.size(); ++n) {
    auto parsed = parse(std::span(body.data(), n));
    EXPECT_FALSE(parsed.ok()) << "prefix of " << n << " bytes parsed";
  }
  Bytes longer = body;
  longer.push_back(0);
  auto parsed = parse(longer);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code(), key::Errc::kTrailingData);
}

TEST(FidoProtocol, EnrollRequestRoundTrips) {
  const Bytes body = encode(enroll_request());
  auto parsed = parse_request(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  const auto& r = std::get<EnrollRequest>(parsed->body);
  EXPECT_EQ(r.provider, "/usr/lib/x/middleware.so");
  EXPECT_EQ(r.alg, Algorithm::kEcdsaP256);
  EXPECT_EQ(r.application, "ssh:test");
  EXPECT_EQ(r.flags, SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY);
  EXPECT_EQ(r.challenge, Bytes(32, 7));
  ASSERT_TRUE(r.pin.has_value());
  EXPECT_EQ(r.pin->reveal_text(), "123456");
  EXPECT_EQ(r.device, "/dev/hidraw3");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(encode(*parsed), body);
  expect_prefixes_and_trailing_fail(body, parse_request);
}

TEST(FidoProtocol, SignRequestRoundTrips) {
  const Bytes body = encode(sign_request());
  auto parsed = parse_request(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  const auto& r = std::get<SignRequest>(parsed->body);
  EXPECT_EQ(r.provider, "internal");
  EXPECT_EQ(r.alg, Algorithm::kEd25519);
  EXPECT_EQ(r.data, bytes("data to sign"));
  EXPECT_EQ(r.application, "ssh:");
  EXPECT_EQ(r.key_handle.reveal_text(), "a key handle");
  EXPECT_FALSE(r.pin.has_value());
  EXPECT_EQ(r.device, "");
  EXPECT_EQ(encode(*parsed), body);
  expect_prefixes_and_trailing_fail(body, parse_request);
}

TEST(FidoProtocol, LoadResidentKeysRequestRoundTrips) {
  const Bytes body = encode(load_request());
  auto parsed = parse_request(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  const auto& r = std::get<LoadResidentKeysRequest>(parsed->body);
  ASSERT_TRUE(r.pin.has_value());  // an empty PIN is not "no PIN"
  EXPECT_TRUE(r.pin->empty());
  EXPECT_EQ(encode(*parsed), body);
  expect_prefixes_and_trailing_fail(body, parse_request);
}

TEST(FidoProtocol, RepliesRoundTrip) {
  std::vector<Bytes> bodies = {encode(enroll_reply()), encode(sign_reply(Algorithm::kEd25519)),
                               encode(sign_reply(Algorithm::kEcdsaP256)), encode(resident_reply()),
                               encode(error_reply())};
  for (const Bytes& body : bodies) {
    auto parsed = parse_reply(body);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(encode(*parsed), body);
    expect_prefixes_and_trailing_fail(body, parse_reply);
  }
  auto resident = parse_reply(encode(resident_reply()));
  const auto& keys = std::get<ResidentKeysReply>(resident->body).keys;
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[1].alg, Algorithm::kEcdsaP256);
  EXPECT_EQ(keys[1].application, "ssh:rk");
  EXPECT_EQ(keys[1].key_handle.reveal_text(), "rk handle");
  auto error = parse_reply(encode(error_reply()));
  EXPECT_EQ(std::get<ErrorReply>(error->body).code, ErrorCode::kPinRequired);
  EXPECT_EQ(std::get<ErrorReply>(error->body).message, "the security key needs its PIN");
}

// A request body written field by field, to break one field at a time.
struct RawSign {
  uint32_t version = kProtocolVersion;
  uint8_t type = 2;
  std::string provider = "internal";
  uint32_t alg = SSH_SK_ED25519;
  Bytes data = Bytes(10, 1);
  std::string application = "ssh:";
  Bytes key_handle = Bytes(16, 2);
  uint8_t flags = 1;
  uint8_t pin_present = 0;
  std::string pin;
  std::string device;

  Bytes encode() const {
    Writer w;
    w.u32(version);
    w.u8(type);
    w.string(provider);
    w.u32(alg);
    w.string(data);
    w.string(application);
    w.string(key_handle);
    w.u8(flags);
    w.u8(pin_present);
    if (pin_present != 0) w.string(pin);
    w.string(device);
    return w.take();
  }
};

TEST(FidoProtocol, RawSignMatchesTheCodec) {
  auto parsed = parse_request(RawSign{}.encode());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
}

TEST(FidoProtocol, MalformedRequestsAreRefused) {
  struct Case {
    const char* what;
    std::function<void(RawSign&)> change;
    key::Errc code;
  };
  const std::vector<Case> cases = {
      {"another version", [](RawSign& r) { r.version = 2; }, key::Errc::kUnsupported},
      {"version 0", [](RawSign& r) { r.version = 0; }, key::Errc::kUnsupported},
      {"unknown type", [](RawSign& r) { r.type = 9; }, key::Errc::kMalformed},
      {"a reply type", [](RawSign& r) { r.type = 64; }, key::Errc::kMalformed},
      {"unknown algorithm", [](RawSign& r) { r.alg = 2; }, key::Errc::kUnsupported},
      {"provider too long", [](RawSign& r) { r.provider = "/" + std::string(kMaxPathBytes, 'p'); }, key::Errc::kTooLarge},
      {"NUL in provider", [](RawSign& r) { r.provider = std::string("/a\0b", 4); }, key::Errc::kMalformed},
      {"data too long", [](RawSign& r) { r.data.assign(kMaxSignDataBytes + 1, 0); }, key::Errc::kTooLarge},
      {"empty application", [](RawSign& r) { r.application.clear(); }, key::Errc::kMalformed},
      {"application too long", [](RawSign& r) { r.application = "ssh:" + std::string(kMaxApplicationBytes, 'a'); },
       key::Errc::kTooLarge},
      {"NUL in application", [](RawSign& r) { r.application = std::string("ssh:\0", 5); }, key::Errc::kMalformed},
      {"empty key handle", [](RawSign& r) { r.key_handle.clear(); }, key::Errc::kMalformed},
      {"key handle too long", [](RawSign& r) { r.key_handle.assign(kMaxKeyHandleBytes + 1, 1); },
       key::Errc::kTooLarge},
      {"PIN flag 2", [](RawSign& r) { r.pin_present = 2; }, key::Errc::kMalformed},
      {"PIN too long", [](RawSign& r) { r.pin_present = 1; r.pin.assign(kMaxPinBytes + 1, '1'); },
       key::Errc::kTooLarge},
      {"device too long", [](RawSign& r) { r.device.assign(kMaxPathBytes + 1, 'd'); }, key::Errc::kTooLarge},
  };
  for (const Case& c : cases) {
    RawSign raw;
    c.change(raw);
    auto parsed = parse_request(raw.encode());
    ASSERT_FALSE(parsed.ok()) << c.what;
    EXPECT_EQ(parsed.error().code(), c.code) << c.what << ": " << parsed.error().message();
  }
}

TEST(FidoProtocol, MalformedEnrollRequestsAreRefused) {
  auto with_challenge = [](Bytes challenge, std::string user) {
    Writer w;
    w.u32(kProtocolVersion);
    w.u8(1);
    w.string("internal");
    w.u32(SSH_SK_ED25519);
    w.string("ssh:");
    w.u8(1);
    w.string(challenge);
    w.u8(0);
    w.string("");
    w.string(user);
    return w.take();
  };
  EXPECT_TRUE(parse_request(with_challenge(Bytes(1, 1), "")).ok());
  auto empty = parse_request(with_challenge({}, ""));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), key::Errc::kMalformed);
  EXPECT_EQ(parse_request(with_challenge(Bytes(kMaxChallengeBytes + 1, 1), "")).error().code(),
            key::Errc::kTooLarge);
  EXPECT_EQ(parse_request(with_challenge(Bytes(8, 1), std::string(kMaxUserIdBytes + 1, 'u'))).error().code(),
            key::Errc::kTooLarge);
  EXPECT_TRUE(parse_request(with_challenge(Bytes(8, 1), std::string(kMaxUserIdBytes, 'u'))).ok());
}

// A reply body written field by field.
Bytes raw_enroll_reply(uint32_t alg, const Bytes& public_key, const Bytes& key_handle, size_t extra = 0) {
  Writer w;
  w.u8(64);
  w.u32(alg);
  w.u8(1);
  w.string(public_key);
  w.string(key_handle);
  w.string(Bytes(extra > 0 ? kMaxAttestationSignatureBytes + extra : 0, 1));
  w.string(Bytes{});
  w.string(Bytes{});
  return w.take();
}

TEST(FidoProtocol, BadPublicKeysAreRefused) {
  const Bytes handle(8, 1);
  EXPECT_TRUE(parse_reply(raw_enroll_reply(SSH_SK_ED25519, ed25519_point(), handle)).ok());
  EXPECT_TRUE(parse_reply(raw_enroll_reply(SSH_SK_ECDSA, ecdsa_point(), handle)).ok());

  Bytes short_ed = ed25519_point();
  short_ed.pop_back();
  Bytes compressed = ecdsa_point();
  compressed[0] = 0x02;
  Bytes off_curve = ecdsa_point();
  off_curve[64] ^= 0x01;
  Bytes zeros(65, 0);
  zeros[0] = 0x04;
  for (const auto& [alg, key] : std::vector<std::pair<uint32_t, Bytes>>{{SSH_SK_ED25519, short_ed},
                                                                         {SSH_SK_ED25519, ecdsa_point()},
                                                                         {SSH_SK_ECDSA, ed25519_point()},
                                                                         {SSH_SK_ECDSA, compressed},
                                                                         {SSH_SK_ECDSA, off_curve},
                                                                         {SSH_SK_ECDSA, zeros},
                                                                         {SSH_SK_ECDSA, Bytes{}}}) {
    auto parsed = parse_reply(raw_enroll_reply(alg, key, handle));
    ASSERT_FALSE(parsed.ok()) << key.size();
    EXPECT_EQ(parsed.error().code(), key::Errc::kInvalidKey) << parsed.error().message();
  }
  EXPECT_EQ(parse_reply(raw_enroll_reply(SSH_SK_ED25519, ed25519_point(), Bytes{})).error().code(),
            key::Errc::kMalformed);
  EXPECT_EQ(parse_reply(raw_enroll_reply(SSH_SK_ED25519, ed25519_point(), Bytes(kMaxKeyHandleBytes + 1, 1)))
                .error()
                .code(),
            key::Errc::kTooLarge);
  EXPECT_EQ(parse_reply(raw_enroll_reply(SSH_SK_ED25519, ed25519_point(), handle, 1)).error().code(),
            key::Errc::kTooLarge);
}

Bytes raw_sign_reply(uint32_t alg, const Bytes& r, const Bytes& s) {
  Writer w;
  w.u8(65);
  w.u32(alg);
  w.u8(1);
  w.u32(7);
  w.string(r);
  w.string(s);
  return w.take();
}

TEST(FidoProtocol, BadSignaturesAreRefused) {
  EXPECT_TRUE(parse_reply(raw_sign_reply(SSH_SK_ED25519, Bytes(64, 1), {})).ok());
  EXPECT_TRUE(parse_reply(raw_sign_reply(SSH_SK_ECDSA, Bytes(1, 1), Bytes(32, 1))).ok());
  Bytes leading_zero(33, 1);
  leading_zero[0] = 0;
  EXPECT_TRUE(parse_reply(raw_sign_reply(SSH_SK_ECDSA, leading_zero, leading_zero)).ok());
  const std::vector<std::pair<uint32_t, std::pair<Bytes, Bytes>>> bad = {
      {SSH_SK_ED25519, {Bytes(63, 1), {}}},
      {SSH_SK_ED25519, {Bytes(65, 1), {}}},
      {SSH_SK_ED25519, {Bytes(64, 1), Bytes(1, 1)}},
      {SSH_SK_ECDSA, {Bytes{}, Bytes(32, 1)}},
      {SSH_SK_ECDSA, {Bytes(32, 1), Bytes{}}},
      {SSH_SK_ECDSA, {Bytes(33, 1), Bytes(32, 1)}},
      {SSH_SK_ECDSA, {Bytes(32, 1), Bytes(34, 0)}},
  };
  for (const auto& [alg, parts] : bad) {
    auto parsed = parse_reply(raw_sign_reply(alg, parts.first, parts.second));
    EXPECT_FALSE(parsed.ok()) << alg << " " << parts.first.size() << " " << parts.second.size();
  }
}

TEST(FidoProtocol, BadResidentKeyListsAreRefused) {
  auto list = [](uint32_t count, const std::string& application, size_t user_id) {
    Writer w;
    w.u8(66);
    w.u32(count);
    for (uint32_t i = 0; i < std::min<uint32_t>(count, 3); ++i) {
      w.u32(SSH_SK_ED25519);
      w.u8(0x21);
      w.string(application);
      w.string(ed25519_point());
      w.string(Bytes(4, 1));
      w.string(Bytes(user_id, 0));
    }
    return w.take();
  };
  EXPECT_TRUE(parse_reply(list(3, "ssh:x", kMaxUserIdBytes)).ok());
  EXPECT_EQ(parse_reply(list(kMaxResidentKeys + 1, "ssh:x", 1)).error().code(), key::Errc::kTooLarge);
  EXPECT_EQ(parse_reply(list(3, "web:x", 1)).error().code(), key::Errc::kMalformed);
  EXPECT_EQ(parse_reply(list(3, "ssh:x", kMaxUserIdBytes + 1)).error().code(), key::Errc::kTooLarge);
  EXPECT_EQ(parse_reply(list(4, "ssh:x", 1)).error().code(), key::Errc::kTruncated);
}

TEST(FidoProtocol, BadErrorRepliesAreRefused) {
  auto error = [](uint32_t code, std::string message) {
    Writer w;
    w.u8(67);
    w.u32(code);
    w.string(message);
    return w.take();
  };
  for (uint32_t code : {1u, 2u, 3u, 4u, 5u, 16u, 17u, 18u}) EXPECT_TRUE(parse_reply(error(code, "x")).ok()) << code;
  for (uint32_t code : {0u, 6u, 15u, 19u, 32u, 33u, 34u, 0xffffffffu}) {
    EXPECT_FALSE(parse_reply(error(code, "x")).ok()) << code;
  }
  EXPECT_EQ(parse_reply(error(1, std::string(kMaxErrorTextBytes + 1, 'e'))).error().code(), key::Errc::kTooLarge);
  EXPECT_FALSE(parse_reply(error(1, std::string("a\0b", 3))).ok());
  EXPECT_FALSE(parse_reply(Bytes{}).ok());
  EXPECT_FALSE(parse_reply(Bytes{1}).ok());  // a request type
}

TEST(FidoProtocol, Frames) {
  auto framed = frame(secret("body"));
  ASSERT_TRUE(framed.ok());
  EXPECT_EQ(span_bytes(framed->reveal()), (Bytes{0, 0, 0, 4, 'b', 'o', 'd', 'y'}));
  std::span<const uint8_t> body;
  const Bytes whole = span_bytes(framed->reveal());
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_EQ(peek_frame(std::span(whole.data(), n), &body), FrameStatus::kNeedMore) << n;
  }
  ASSERT_EQ(peek_frame(whole, &body), FrameStatus::kComplete);
  EXPECT_EQ(span_bytes(body), bytes("body"));
  Bytes zero = {0, 0, 0, 0, 1};
  EXPECT_EQ(peek_frame(zero, &body), FrameStatus::kBadLength);
  Writer big;
  big.u32(static_cast<uint32_t>(kMaxFrameBytes + 1));
  EXPECT_EQ(peek_frame(big.data(), &body), FrameStatus::kBadLength);
  Writer max;
  max.u32(static_cast<uint32_t>(kMaxFrameBytes));
  EXPECT_EQ(peek_frame(max.data(), &body), FrameStatus::kNeedMore);
  EXPECT_EQ(frame(SecretBytes()).error().code(), key::Errc::kMalformed);
  EXPECT_EQ(frame(SecretBytes(kMaxFrameBytes + 1)).error().code(), key::Errc::kTooLarge);
  EXPECT_TRUE(frame(SecretBytes(kMaxFrameBytes)).ok());
}

TEST(FidoProtocol, LargestMessagesFitAFrame) {
  SignRequest r;
  r.provider = "/" + std::string(kMaxPathBytes - 1, 'p');
  r.data.assign(kMaxSignDataBytes, 1);
  r.application = "ssh:" + std::string(kMaxApplicationBytes - 4, 'a');
  r.key_handle = SecretBytes(kMaxKeyHandleBytes);
  r.pin = SecretBytes(kMaxPinBytes);
  r.device = std::string(kMaxPathBytes, 'd');
  auto framed = frame(serialize_request(Request{kProtocolVersion, std::move(r)}));
  ASSERT_TRUE(framed.ok()) << framed.error().message();

  ResidentKeysReply list;
  for (size_t i = 0; i < kMaxResidentKeys; ++i) {
    list.keys.push_back(ResidentKey{Algorithm::kEcdsaP256, 0x21, "ssh:" + std::string(kMaxApplicationBytes - 4, 'a'),
                                    ecdsa_point(), SecretBytes(kMaxKeyHandleBytes), Bytes(kMaxUserIdBytes, 0)});
  }
  auto reply = frame(serialize_reply(Reply{std::move(list)}));
  ASSERT_TRUE(reply.ok()) << reply.error().message();
}

TEST(FidoProtocol, ErrorsCarryTheirCode) {
  Error e = sk_error(ErrorCode::kPinRequired, "needs a PIN");
  EXPECT_EQ(e.code(), key::Errc::kPassphraseRequired);
  EXPECT_EQ(sk_error_code(e), ErrorCode::kPinRequired);
  EXPECT_EQ(sk_error_code(e.with_context("enrol")), ErrorCode::kPinRequired);
  EXPECT_EQ(sk_error_code(Error(key::Errc::kIo, "x")), ErrorCode::kHelperFailed);
  EXPECT_EQ(error_code_from_sk(SSH_SK_ERR_CREDENTIAL_EXISTS), ErrorCode::kCredentialExists);
  EXPECT_EQ(error_code_from_sk(-42), ErrorCode::kGeneral);
  EXPECT_EQ(error_code_name(ErrorCode::kDeviceNotFound), "device_not_found");
}

TEST(FidoProtocol, SshSignatures) {
  EXPECT_TRUE(check_public_key(Algorithm::kEcdsaP256, ecdsa_point()).ok());
  EXPECT_TRUE(check_public_key(Algorithm::kEd25519, ed25519_point()).ok());
  auto blob = ssh_signature(Algorithm::kEcdsaP256, 1, 9, Bytes{0, 0, 5}, Bytes(32, 0x80));
  ASSERT_TRUE(blob.ok());
  Reader in(*blob);
  EXPECT_EQ(*in.text(), "sk-ecdsa-sha2-nistp256@openssh.com");
  auto inner = in.child();
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(span_bytes(*inner->mpint()), Bytes{5});
  EXPECT_EQ(span_bytes(*inner->mpint()), Bytes(32, 0x80));
  EXPECT_TRUE(inner->expect_end().ok());
  EXPECT_EQ(*in.u8(), 1);
  EXPECT_EQ(*in.u32(), 9u);
  EXPECT_TRUE(in.expect_end().ok());
  EXPECT_FALSE(ssh_signature(Algorithm::kEd25519, 1, 9, Bytes(63, 1), {}).ok());
}

// The fuzz targets' seeds are messages that parse (but one that shows a
// version mismatch), so the fuzzers start from deep inside the parsers.
TEST(FidoProtocol, FuzzSeedsParse) {
  namespace fs = std::filesystem;
  const fs::path corpus = fs::path(TESSERA_SOURCE_DIR) / "fuzz" / "corpus";
  size_t seeds = 0;
  for (const auto& entry : fs::directory_iterator(corpus / "fido_helper_request")) {
    const std::string text = test::read_file(entry.path().string());
    auto parsed = parse_request(key::as_bytes(text));
    if (entry.path().filename() == "bad_version") {
      EXPECT_EQ(parsed.error().code(), key::Errc::kUnsupported);
    } else {
      EXPECT_TRUE(parsed.ok()) << entry.path() << ": " << parsed.error().message();
    }
    ++seeds;
  }
  for (const auto& entry : fs::directory_iterator(corpus / "fido_helper_reply")) {
    const std::string text = test::read_file(entry.path().string());
    auto parsed = parse_reply(key::as_bytes(text));
    EXPECT_TRUE(parsed.ok()) << entry.path() << ": " << parsed.error().message();
    ++seeds;
  }
  EXPECT_GE(seeds, 10u);
}

}  // namespace
}  // namespace tessera::fido
