// The agent <-> helper protocol codec: round trips, truncation at every
// length, trailing data, limits, and framing.

#include "tessera/pkcs11/protocol.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "tessera/key/key.h"

namespace tessera::pkcs11 {
namespace {

TokenId token() { return TokenId{"0123456789abcdef", "SoftHSM slot ID 0x1"}; }
KeyId key_id() { return KeyId{token(), Bytes{0x01, 0x02}}; }

std::vector<Request> sample_requests() {
  std::vector<Request> out;
  out.push_back(Request{1, Hello{}});
  out.push_back(Request{2, ListKeys{}});
  out.push_back(Request{8, ListKeys{517, false}});
  out.push_back(Request{3, Login{token(), SecretBytes::copy_of(std::string_view("1234"))}});
  out.push_back(Request{4, Login{token(), std::nullopt}});
  out.push_back(Request{5, Logout{token()}});
  out.push_back(Request{6, Sign{key_id(), Bytes{1, 2, 3}, "rsa-sha2-256", std::nullopt}});
  out.push_back(Request{0xffffffff, Sign{key_id(), Bytes{}, "ssh-ed25519", SecretBytes::copy_of(std::string_view("9876"))}});
  return out;
}

std::vector<Reply> sample_replies() {
  auto key = key::PrivateKey::generate(key::KeyType::kEd25519);
  EXPECT_TRUE(key.ok());
  std::vector<Reply> out;
  out.push_back(Reply{1, Ok{}});
  out.push_back(Reply{2, HelloReply{1, "SoftHSM Implementation of PKCS11 2.6"}});
  out.push_back(Reply{3, KeyList{}});
  KeyList list;
  list.keys.push_back(KeyInfo{key_id(), "tessera-main", "ed25519", "pkcs11:token=tessera-main;id=%01%02",
                              key->public_key().blob(), kKeyAlwaysAuthenticate | kTokenPinCountLow});
  list.keys.push_back(list.keys.front());
  list.keys.back().id.cka_id = Bytes{7};
  list.generation = 9;
  list.total = 5;
  list.first = 3;
  out.push_back(Reply{4, list});
  out.push_back(Reply{5, SignatureReply{Bytes{0, 0, 0, 1, 'x'}}});
  out.push_back(Reply{6, ErrorReply{ErrorCode::kPinIncorrect, kTokenPinFinalTry, "incorrect PIN"}});
  return out;
}

bool same_pin(const std::optional<SecretBytes>& a, const std::optional<SecretBytes>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || a->equals(*b);
}

TEST(Pkcs11Protocol, RequestsRoundTrip) {
  for (const auto& request : sample_requests()) {
    SecretBytes payload = serialize_request(request);
    auto parsed = parse_request(payload.reveal());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->id, request.id);
    ASSERT_EQ(parsed->body.index(), request.body.index());
    if (auto* login = std::get_if<Login>(&request.body)) {
      const auto& got = std::get<Login>(parsed->body);
      EXPECT_EQ(got.token, login->token);
      EXPECT_TRUE(same_pin(got.pin, login->pin));
    } else if (auto* sign = std::get_if<Sign>(&request.body)) {
      const auto& got = std::get<Sign>(parsed->body);
      EXPECT_EQ(got.key, sign->key);
      EXPECT_EQ(got.data, sign->data);
      EXPECT_EQ(got.algorithm, sign->algorithm);
      EXPECT_TRUE(same_pin(got.context_pin, sign->context_pin));
    } else if (auto* logout = std::get_if<Logout>(&request.body)) {
      EXPECT_EQ(std::get<Logout>(parsed->body).token, logout->token);
    }
    // Serializing the parsed request gives the same bytes.
    EXPECT_TRUE(serialize_request(*parsed).equals(payload));
  }
}

TEST(Pkcs11Protocol, RepliesRoundTrip) {
  for (const auto& reply : sample_replies()) {
    Bytes payload = serialize_reply(reply);
    auto parsed = parse_reply(payload);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(parsed->id, reply.id);
    ASSERT_EQ(parsed->body.index(), reply.body.index());
    EXPECT_EQ(serialize_reply(*parsed), payload);
    if (auto* list = std::get_if<KeyList>(&reply.body)) {
      EXPECT_EQ(std::get<KeyList>(parsed->body).keys, list->keys);
      EXPECT_EQ(std::get<KeyList>(parsed->body).generation, list->generation);
      EXPECT_EQ(std::get<KeyList>(parsed->body).total, list->total);
      EXPECT_EQ(std::get<KeyList>(parsed->body).first, list->first);
    }
    if (auto* error = std::get_if<ErrorReply>(&reply.body)) {
      const auto& got = std::get<ErrorReply>(parsed->body);
      EXPECT_EQ(got.code, error->code);
      EXPECT_EQ(got.token_flags, error->token_flags);
      EXPECT_EQ(got.message, error->message);
    }
  }
}

TEST(Pkcs11Protocol, TruncationsAndTrailingDataFail) {
  for (const auto& request : sample_requests()) {
    SecretBytes payload = serialize_request(request);
    for (size_t n = 0; n < payload.size(); ++n) {
      EXPECT_FALSE(parse_request(payload.reveal().first(n)).ok()) << "request cut at " << n;
    }
    SecretBytes longer = payload.clone();
    const uint8_t extra = 0;
    longer.append(std::span(&extra, 1));
    EXPECT_EQ(parse_request(longer.reveal()).error().code(), Errc::kTrailingData);
  }
  for (const auto& reply : sample_replies()) {
    Bytes payload = serialize_reply(reply);
    for (size_t n = 0; n < payload.size(); ++n) {
      EXPECT_FALSE(parse_reply(std::span(payload).first(n)).ok()) << "reply cut at " << n;
    }
    payload.push_back(0);
    EXPECT_EQ(parse_reply(payload).error().code(), Errc::kTrailingData);
  }
}

TEST(Pkcs11Protocol, RejectsUnknownTypesCodesAndFlags) {
  EXPECT_EQ(parse_request(Bytes{99, 0, 0, 0, 1}).error().code(), Errc::kUnsupported);
  EXPECT_EQ(parse_reply(Bytes{1, 0, 0, 0, 1}).error().code(), Errc::kUnsupported);  // a request type
  // Error code 0 and codes past the last one.
  for (uint32_t code : {0u, kMaxErrorCode + 1}) {
    key::Writer w;
    w.u8(static_cast<uint8_t>(MessageType::kError));
    w.u32(1);
    w.u32(code);
    w.u32(0);
    w.string("x");
    EXPECT_FALSE(parse_reply(w.data()).ok());
  }
  // Unknown flag bits.
  key::Writer w;
  w.u8(static_cast<uint8_t>(MessageType::kError));
  w.u32(1);
  w.u32(1);
  w.u32(1u << 30);
  w.string("x");
  EXPECT_FALSE(parse_reply(w.data()).ok());
  // A PIN presence byte other than 0/1.
  key::Writer login;
  login.u8(static_cast<uint8_t>(MessageType::kLogin));
  login.u32(1);
  login.string("serial");
  login.string("slot");
  login.u8(2);
  login.string("1234");
  EXPECT_FALSE(parse_request(login.data()).ok());
}

TEST(Pkcs11Protocol, EnforcesLimits) {
  // A PIN over the limit.
  Request big_pin{1, Login{token(), SecretBytes(kMaxPinBytes + 1)}};
  EXPECT_EQ(parse_request(serialize_request(big_pin).reveal()).error().code(), Errc::kTooLarge);
  // A key count that the payload cannot hold, and one over kMaxKeys.
  for (uint32_t count : {uint32_t{5}, uint32_t{kMaxKeys + 1}}) {
    key::Writer w;
    w.u8(static_cast<uint8_t>(MessageType::kKeyList));
    w.u32(1);
    w.u32(1);      // generation
    w.u32(count);  // total
    w.u32(0);      // first
    w.u32(count);
    EXPECT_FALSE(parse_reply(w.data()).ok());
  }
  // A page that reaches past its listing's end, and a listing over kMaxListedKeys.
  for (auto [total, first, count] : {std::tuple{3u, 2u, 2u}, std::tuple{uint32_t{kMaxListedKeys + 1}, 0u, 0u},
                                     std::tuple{0xffffffffu, 0xfffffffeu, 3u}}) {
    key::Writer w;
    w.u8(static_cast<uint8_t>(MessageType::kKeyList));
    w.u32(1);
    w.u32(1);
    w.u32(total);
    w.u32(first);
    w.u32(count);
    EXPECT_FALSE(parse_reply(w.data()).ok()) << total << " " << first << " " << count;
  }
  // ListKeys with a rescan flag other than 0 or 1.
  {
    key::Writer w;
    w.u8(static_cast<uint8_t>(MessageType::kListKeys));
    w.u32(1);
    w.u32(0);
    w.u8(2);
    EXPECT_FALSE(parse_request(w.data()).ok());
  }
  // A serial over kMaxTextBytes.
  Request long_serial{1, Logout{TokenId{std::string(kMaxTextBytes + 1, 'a'), "slot"}}};
  EXPECT_EQ(parse_request(serialize_request(long_serial).reveal()).error().code(), Errc::kTooLarge);
}

// A Sign with the most data the agent protocol can carry, and every other
// field at its limit, fits in a frame; anything larger is an error, never
// an abort.
TEST(Pkcs11Protocol, TheLargestSignFitsAndLargerIsAnError) {
  auto largest = [](size_t data_size) {
    return Sign{KeyId{TokenId{std::string(kMaxTextBytes, 's'), std::string(kMaxTextBytes, 'd')},
                      Bytes(kMaxKeyIdBytes, 7)},
                Bytes(data_size, 0x41), std::string(kMaxTextBytes, 'a'), SecretBytes(kMaxPinBytes)};
  };
  auto framed = frame_request(Request{0xffffffff, largest(kMaxSignDataBytes)});
  ASSERT_TRUE(framed.ok()) << framed.error().message();
  std::span<const uint8_t> payload;
  ASSERT_EQ(peek_frame(framed->reveal(), &payload), FrameStatus::kComplete);
  auto parsed = parse_request(payload);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(std::get<Sign>(parsed->body).data.size(), kMaxSignDataBytes);

  Bytes too_big(kMaxFrameBytes + 1, 1);
  auto refused = frame(too_big);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Errc::kTooLarge);
  EXPECT_FALSE(frame(Bytes{}).ok());
  EXPECT_FALSE(frame_secret(SecretBytes::copy_of(std::string_view(std::string(kMaxFrameBytes + 1, 'x')))).ok());
  // One byte more than any agent request holds.
  EXPECT_EQ(parse_request(serialize_request(Request{1, largest(kMaxSignDataBytes + 1)}).reveal()).error().code(),
            Errc::kTooLarge);
}

// Helper errors are key::Errors that keep the helper's code and token flags,
// through added context too.
TEST(Pkcs11Protocol, HelperErrorsKeepTheirCodeAndFlags) {
  Error error = helper_error(ErrorCode::kPinIncorrect, "incorrect PIN", kTokenPinFinalTry);
  EXPECT_EQ(helper_code(error), ErrorCode::kPinIncorrect);
  EXPECT_EQ(error.flags(), kTokenPinFinalTry);
  EXPECT_NE(error.code(), Errc::kWrongPassphrase) << "a PIN is not a key file's passphrase";
  Error with_context = error.with_context("token 'tessera-main'");
  EXPECT_EQ(helper_code(with_context), ErrorCode::kPinIncorrect);
  EXPECT_EQ(with_context.flags(), kTokenPinFinalTry);
  EXPECT_EQ(with_context.message(), "token 'tessera-main': incorrect PIN");
  EXPECT_EQ(helper_code(Error(Errc::kIo, "no helper code")), ErrorCode::kInternal);
  EXPECT_EQ(helper_code(Error(Errc::kIo).with_subcode(kMaxErrorCode + 1)), ErrorCode::kInternal);
  EXPECT_EQ(helper_error(ErrorCode::kUnsupported, "x").code(), Errc::kUnsupported);
}

TEST(Pkcs11Protocol, PagesMakeAListing) {
  auto key = key::PrivateKey::generate(key::KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  KeyInfo info{key_id(), "tessera-main", "ed25519", "pkcs11:id=%01%02", key->public_key().blob(), 0};
  EXPECT_EQ(serialized_size(info), serialize_reply(Reply{1, KeyList{0, 1, 0, {info}}}).size() - kKeyListHeaderBytes);

  KeyList listing;
  auto added = add_page(listing, KeyList{4, 3, 0, {info, info}});
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE(*added);
  EXPECT_EQ(listing.keys.size(), 2u);
  // A page of a newer listing: start again.
  added = add_page(listing, KeyList{5, 3, 2, {info}});
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(*added);
  // Pages that do not follow.
  EXPECT_FALSE(add_page(listing, KeyList{4, 3, 1, {info}}).ok());
  EXPECT_FALSE(add_page(listing, KeyList{4, 4, 2, {info}}).ok());
  EXPECT_FALSE(add_page(listing, KeyList{4, 3, 2, {}}).ok());
  added = add_page(listing, KeyList{4, 3, 2, {info}});
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE(*added);
  EXPECT_EQ(listing.keys.size(), listing.total);
  KeyList fresh;
  EXPECT_FALSE(add_page(fresh, KeyList{4, 3, 1, {info}}).ok());  // not from the start

  // However a helper pages it, a listing's memory stays bounded.
  KeyInfo big = info;
  big.public_key.resize(kMaxKeyBlobBytes);
  const size_t per_page = (kMaxFrameBytes - kKeyListHeaderBytes) / serialized_size(big);
  KeyList huge;
  Status last;
  for (size_t first = 0; first < kMaxListedKeys && last.ok(); first += per_page) {
    KeyList page{7, static_cast<uint32_t>(kMaxListedKeys), static_cast<uint32_t>(first),
                 std::vector<KeyInfo>(per_page, big)};
    auto page_added = add_page(huge, std::move(page));
    if (!page_added.ok()) last = page_added.error();
  }
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code(), Errc::kTooLarge);
  EXPECT_LE(huge.keys.size() * serialized_size(big), kMaxListingBytes);
}

TEST(Pkcs11Protocol, Frames) {
  Bytes payload = serialize_reply(Reply{7, Ok{}});
  Bytes framed = *frame(payload);
  ASSERT_EQ(framed.size(), payload.size() + 4);
  std::span<const uint8_t> got;
  for (size_t n = 0; n < framed.size(); ++n) {
    EXPECT_EQ(peek_frame(std::span(framed).first(n), &got), FrameStatus::kNeedMore);
  }
  framed.push_back(0);  // the start of the next frame
  ASSERT_EQ(peek_frame(framed, &got), FrameStatus::kComplete);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), payload.begin(), payload.end()));

  const Bytes zero{0, 0, 0, 0};
  EXPECT_EQ(peek_frame(zero, &got), FrameStatus::kBadLength);
  const uint32_t over = kMaxFrameBytes + 1;
  const Bytes huge{uint8_t(over >> 24), uint8_t(over >> 16), uint8_t(over >> 8), uint8_t(over)};
  EXPECT_EQ(peek_frame(huge, &got), FrameStatus::kBadLength);

  EXPECT_EQ(*peek_request_id(Bytes{2, 0, 0, 1, 0}), 256u);
  EXPECT_FALSE(peek_request_id(Bytes{2, 0, 0}).ok());
  EXPECT_EQ(error_code_name(ErrorCode::kTokenRemoved), "token_removed");
  EXPECT_EQ(error_code_name(ErrorCode::kNotLoggedIn), "not_logged_in");
}

}  // namespace
}  // namespace tessera::pkcs11
