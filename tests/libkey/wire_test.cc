#include "tessera/key/wire.h"

#include <gtest/gtest.h>

#include "tessera/key/encoding.h"

namespace tessera::key {
namespace {

Bytes B(std::initializer_list<int> v) {
  Bytes out;
  for (int x : v) out.push_back(static_cast<uint8_t>(x));
  return out;
}

TEST(Wire, IntegersRoundTrip) {
  Writer w;
  w.u8(7);
  w.boolean(true);
  w.u32(0xdeadbeef);
  w.u64(0x0102030405060708ull);
  Reader r(w.data());
  EXPECT_EQ(*r.u8(), 7);
  EXPECT_TRUE(*r.boolean());
  EXPECT_EQ(*r.u32(), 0xdeadbeefu);
  EXPECT_EQ(*r.u64(), 0x0102030405060708ull);
  EXPECT_TRUE(r.expect_end().ok());
}

TEST(Wire, FailedReadConsumesNothing) {
  Bytes in = B({0, 0, 0, 5, 'a', 'b'});
  Reader r(in);
  auto s = r.string();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kTruncated);
  EXPECT_EQ(r.remaining(), in.size());
  EXPECT_EQ(*r.u32(), 5u);
  EXPECT_FALSE(r.u64().ok());
  EXPECT_EQ(r.remaining(), 2u);
}

TEST(Wire, ChildCannotRunPastItsField) {
  Writer inner;
  inner.u32(1);
  Writer outer;
  outer.string(inner);
  outer.u32(99);
  Reader r(outer.data());
  auto child = r.child();
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(*child->u32(), 1u);
  EXPECT_FALSE(child->u32().ok());
  EXPECT_EQ(*r.u32(), 99u);
}

TEST(Wire, TextRejectsNul) {
  Bytes in = B({0, 0, 0, 3, 'a', 0, 'b'});
  Reader r(in);
  EXPECT_EQ(r.text().error().code(), Errc::kMalformed);
  EXPECT_EQ(r.remaining(), in.size());
}

TEST(Wire, MpintCanonical) {
  // RFC 4251 examples.
  Writer w;
  w.mpint(B({0x00, 0x80}));  // leading zero in the input is dropped, then re-padded
  EXPECT_EQ(Bytes(w.data().begin(), w.data().end()), B({0, 0, 0, 2, 0x00, 0x80}));
  Writer z;
  z.mpint({});
  EXPECT_EQ(Bytes(z.data().begin(), z.data().end()), B({0, 0, 0, 0}));
  Writer v;
  v.mpint(B({0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7}));
  Reader r(v.data());
  auto m = r.mpint();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size(), 8u);

  for (const Bytes& bad : {B({0, 0, 0, 1, 0x80}),         // negative
                           B({0, 0, 0, 2, 0x00, 0x7f}),   // needless zero
                           B({0, 0, 0, 1, 0x00})}) {      // zero not empty
    Reader rb(bad);
    EXPECT_EQ(rb.mpint().error().code(), Errc::kMalformed);
    EXPECT_EQ(rb.remaining(), bad.size());
  }
}

TEST(Wire, MpintSizeLimit) {
  Bytes big(kMaxMpintBytes + 1, 0x11);
  Writer w;
  w.mpint(big);
  Reader r(w.data());
  EXPECT_EQ(r.mpint().error().code(), Errc::kTooLarge);
}

TEST(Wire, NameList) {
  Writer w;
  w.name_list({"zlib", "none"});
  w.name_list({});
  Reader r(w.data());
  auto a = r.name_list();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (std::vector<std::string>{"zlib", "none"}));
  EXPECT_TRUE(r.name_list()->empty());
  for (std::string_view bad : {",a", "a,", "a,,b"}) {
    Writer bw;
    bw.string(bad);
    Reader br(bw.data());
    EXPECT_EQ(br.name_list().error().code(), Errc::kMalformed) << bad;
  }
}

TEST(Wire, ExpectEnd) {
  Bytes in = B({1});
  Reader r(in);
  EXPECT_EQ(r.expect_end().error().code(), Errc::kTrailingData);
  ASSERT_TRUE(r.u8().ok());
  EXPECT_TRUE(r.expect_end().ok());
}

TEST(Encoding, Base64Vectors) {
  // RFC 4648 section 10.
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : vectors) {
    EXPECT_EQ(base64_encode(as_bytes(plain)), enc);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ(as_text(*dec), plain);
  }
  EXPECT_EQ(base64_encode(as_bytes("f"), false), "Zg");
  EXPECT_TRUE(base64_decode("Zm9v\nYmFy\n").ok());
  EXPECT_FALSE(base64_decode("Zm9v!").ok());
  EXPECT_FALSE(base64_decode("Zg=").ok());
  EXPECT_FALSE(base64_decode("Zh==").ok());  // non-canonical trailing bits
  EXPECT_FALSE(base64_decode("Z").ok());
  EXPECT_FALSE(base64_decode("Zg==Zg==").ok());
}

TEST(Encoding, JsonStringEscapesAndReplacesBadUtf8) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string(std::string("\n\x1b\x7f\0", 4)), "\"\\u000a\\u001b\\u007f\\u0000\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");           // valid UTF-8 stays
  EXPECT_EQ(json_string("\xc3"), "\"\\ufffd\"");                       // cut short
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
}

}  // namespace
}  // namespace tessera::key
