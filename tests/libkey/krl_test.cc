#include "tessera/key/krl.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/wire.h"
#include "test_keys.h"

namespace tessera::key {
namespace {

const PrivateKey& krl_key(KeyType type, int which = 0) { return test_key(type, which); }

PublicKey ca_key(int which = 0) { return krl_key(KeyType::kEd25519, 100 + which).public_key(); }
const PrivateKey& ca_private(int which = 0) { return krl_key(KeyType::kEd25519, 100 + which); }
PublicKey user_key(int which = 0) { return krl_key(KeyType::kEd25519, which).public_key(); }

Certificate make_cert(const PublicKey& subject, const PrivateKey& ca, uint64_t serial, std::string key_id) {
  Certificate cert{.key = subject, .nonce = Bytes(32, 7), .serial = serial, .key_id = std::move(key_id),
                   .principals = {"alice"}, .critical_options = {}, .extensions = {}, .reserved = {},
                   .signature_key = ca.public_key(), .signature = {}};
  auto sig = ca.sign(certificate_signed_data(cert));
  if (!sig.ok()) std::abort();
  cert.signature = *sig;
  return cert;
}

Krl parse_ok(const Bytes& data, const KrlParseOptions& options = {}) {
  auto krl = Krl::parse(std::span<const uint8_t>(data), options);
  if (!krl.ok()) {
    ADD_FAILURE() << krl.error().message();
    std::abort();
  }
  return std::move(krl).value();
}

Krl build_and_parse(const KrlBuilder& builder) { return parse_ok(builder.serialize()); }

// The header every test KRL starts with: version 7, date 1000, no comment.
Writer krl_header(std::string_view comment = {}) {
  Writer w;
  w.bytes(as_bytes(kKrlMagic));
  w.u32(kKrlFormatVersion);
  w.u64(7);
  w.u64(1000);
  w.u64(0);
  w.string(Bytes{});
  w.string(comment);
  return w;
}

// A certificates section for `ca` (std::nullopt: any CA) with one subsection.
void cert_section(Writer& out, const std::optional<PublicKey>& ca, KrlCertSectionType type, const Writer& body) {
  Writer section;
  section.string(ca ? ca->blob() : Bytes{});
  section.string(Bytes{});
  section.u8(static_cast<uint8_t>(type));
  section.string(body);
  out.u8(static_cast<uint8_t>(KrlSectionType::kCertificates));
  out.string(section);
}

Status parse_status(const Writer& w, const KrlParseOptions& options = {}) {
  auto krl = Krl::parse(w.data(), options);
  if (krl.ok()) return {};
  return krl.error();
}

// ---- writing: the encoding OpenSSH chooses ----

TEST(KrlWrite, EmptyKrlIsJustTheHeader) {
  KrlBuilder b;
  b.set_version(7);
  b.set_generated_date(1000);
  EXPECT_EQ(b.serialize(), krl_header().take());
}

TEST(KrlWrite, GeneratedDateDefaultsToNow) {
  KrlBuilder b;
  const auto before = static_cast<uint64_t>(std::time(nullptr));
  Krl krl = build_and_parse(b);
  EXPECT_GE(krl.generated_date(), before);
  EXPECT_LE(krl.generated_date(), before + 5);
}

TEST(KrlWrite, SameBytesAsSshKeygenForMixedSerialsAndIds) {
  // ssh-keygen -k -s ca.pub for "serial: 5", "serial: 10-20", a certificate
  // with serial 77 and ids "hello world", "caf\xc3\xa9\x01x": one bitmap from 5
  // (bits 0, 5-15 and 72) and one key id subsection, ids in byte order.
  KrlBuilder b;
  b.set_version(42);
  b.set_generated_date(1000);
  ASSERT_TRUE(b.revoke_serial(ca_key(), 5).ok());
  ASSERT_TRUE(b.revoke_serial_range(ca_key(), 10, 20).ok());
  ASSERT_TRUE(b.revoke_key_id(ca_key(), "hello world").ok());
  ASSERT_TRUE(b.revoke_key_id(ca_key(), "caf\xc3\xa9\x01x").ok());
  b.revoke_certificate(make_cert(user_key(), ca_private(), 77, "ignored"));

  Writer serials;
  serials.u64(5);
  serials.mpint(Bytes{0x01, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xe1});
  Writer ids;
  ids.string("caf\xc3\xa9\x01x");
  ids.string("hello world");
  Writer section;
  section.string(ca_key().blob());
  section.string(Bytes{});
  section.u8(0x22);
  section.string(serials);
  section.u8(0x23);
  section.string(ids);
  Writer expected;
  expected.bytes(as_bytes(kKrlMagic));
  expected.u32(1);
  expected.u64(42);
  expected.u64(1000);
  expected.u64(0);
  expected.string(Bytes{});
  expected.string(std::string_view());
  expected.u8(1);
  expected.string(section);
  EXPECT_EQ(b.serialize(), expected.take());
}

// The subsection types and their order for a list of serial ranges.
std::vector<uint8_t> subsection_types(const std::vector<SerialRange>& ranges) {
  KrlBuilder b;
  b.set_generated_date(1);
  for (const auto& r : ranges) EXPECT_TRUE(b.revoke_serial_range(std::nullopt, r.first, r.last).ok());
  Bytes data = b.serialize();
  Reader in(std::span<const uint8_t>(data).subspan(kKrlMagic.size() + 4 + 24));
  EXPECT_TRUE(in.string().ok());
  EXPECT_TRUE(in.string().ok());
  EXPECT_EQ(*in.u8(), 1);
  Reader section = *in.child();
  EXPECT_TRUE(section.string().ok());
  EXPECT_TRUE(section.string().ok());
  std::vector<uint8_t> types;
  while (!section.empty()) {
    types.push_back(*section.u8());
    EXPECT_TRUE(section.string().ok());
  }
  return types;
}

TEST(KrlWrite, ChoosesListRangeOrBitmapByCost) {
  // Far-apart single serials: one list.
  EXPECT_EQ(subsection_types({{1000, 1000}, {1u << 30, 1u << 30}, {1ull << 40, 1ull << 40}}),
            (std::vector<uint8_t>{0x20}));
  // A long run: a range.
  EXPECT_EQ(subsection_types({{100, 100000}}), (std::vector<uint8_t>{0x21}));
  // Two long runs: two range subsections (a range subsection holds one range).
  EXPECT_EQ(subsection_types({{100, 100000}, {200000, 300000}}), (std::vector<uint8_t>{0x21, 0x21}));
  // Dense serials: a bitmap.
  EXPECT_EQ(subsection_types({{1, 1}, {3, 3}, {5, 5}, {7, 9}, {12, 12}}), (std::vector<uint8_t>{0x22}));
  // Dense, then far, then a run.
  EXPECT_EQ(subsection_types({{1, 1}, {3, 3}, {5, 5}, {1ull << 40, 1ull << 40}, {1ull << 41, (1ull << 41) + 5000}}),
            (std::vector<uint8_t>{0x22, 0x20, 0x21}));
}

TEST(KrlWrite, BitmapsStayWithinWhatOpensshReads) {
  // Every other serial of 1..100000: ssh-keygen writes one 50,000-bit bitmap
  // that it then refuses to read; tessera splits it.
  KrlBuilder b;
  for (uint64_t s = 1; s <= 100000; s += 2) ASSERT_TRUE(b.revoke_serial(ca_key(), s).ok());
  Bytes data = b.serialize();
  Krl krl = parse_ok(data);  // the default limit is OpenSSH's
  for (uint64_t s : {1ull, 2ull, 3ull, 16383ull, 16384ull, 16385ull, 50001ull, 99999ull, 100000ull, 100001ull}) {
    Certificate cert = make_cert(user_key(), ca_private(), s, "x");
    EXPECT_EQ(krl.is_revoked(cert), s % 2 == 1 && s <= 100000) << s;
  }
  // 100,000 bits in seven bitmaps, each with a few bytes of framing.
  EXPECT_LT(data.size(), 100000u / 8 + 400);
  EXPECT_EQ(krl.contents().certificates.at(0).serials.size(), 50000u);
}

TEST(KrlWrite, RangesMergeAndDeduplicate) {
  KrlBuilder b;
  ASSERT_TRUE(b.revoke_serial_range(ca_key(), 10, 20).ok());
  ASSERT_TRUE(b.revoke_serial_range(ca_key(), 15, 30).ok());
  ASSERT_TRUE(b.revoke_serial(ca_key(), 31).ok());  // adjacent: merged
  ASSERT_TRUE(b.revoke_serial(ca_key(), 33).ok());
  ASSERT_TRUE(b.revoke_serial_range(ca_key(), UINT64_MAX - 1, UINT64_MAX).ok());
  ASSERT_TRUE(b.revoke_serial(ca_key(), UINT64_MAX).ok());
  ASSERT_TRUE(b.revoke_key_id(ca_key(), "b").ok());
  ASSERT_TRUE(b.revoke_key_id(ca_key(), "a").ok());
  ASSERT_TRUE(b.revoke_key_id(ca_key(), "b").ok());
  b.revoke_key(user_key(1));
  b.revoke_key(user_key(1));
  KrlContents c = b.contents();
  ASSERT_EQ(c.certificates.size(), 1u);
  EXPECT_EQ(c.certificates[0].serials,
            (std::vector<SerialRange>{{10, 31}, {33, 33}, {UINT64_MAX - 1, UINT64_MAX}}));
  EXPECT_EQ(c.certificates[0].key_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.keys.size(), 1u);
  // What is written reads back as the same content.
  b.set_generated_date(5);
  EXPECT_EQ(build_and_parse(b).contents(), b.contents());
}

TEST(KrlWrite, RefusesWhatOpensshCannotRead) {
  KrlBuilder b;
  EXPECT_EQ(b.revoke_serial(ca_key(), 0).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(b.revoke_serial_range(ca_key(), 0, 5).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(b.revoke_serial_range(ca_key(), 6, 5).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(b.revoke_key_id(ca_key(), std::string_view("a\0b", 3)).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(b.set_comment(std::string_view("a\0b", 3)).error().code(), Errc::kInvalidArgument);
  EXPECT_TRUE(b.contents().certificates.empty());
}

TEST(KrlWrite, CaSectionsInOrderOfFirstUse) {
  KrlBuilder b;
  ASSERT_TRUE(b.revoke_serial(ca_key(1), 5).ok());
  ASSERT_TRUE(b.revoke_key_id(std::nullopt, "anyone").ok());
  ASSERT_TRUE(b.revoke_serial(ca_key(0), 6).ok());
  ASSERT_TRUE(b.revoke_serial(ca_key(1), 7).ok());
  KrlContents c = b.contents();
  ASSERT_EQ(c.certificates.size(), 3u);
  EXPECT_EQ(c.certificates[0].ca_blob, ca_key(1).blob());
  EXPECT_TRUE(c.certificates[1].ca_blob.empty());
  EXPECT_EQ(c.certificates[2].ca_blob, ca_key(0).blob());
  EXPECT_EQ(c.certificates[0].serials, (std::vector<SerialRange>{{5, 5}, {7, 7}}));
}

// ---- reading and querying ----

TEST(KrlQuery, PlainKeysByKeyAndHashes) {
  KrlBuilder b;
  b.revoke_key(user_key(1));
  b.revoke_key_sha1(user_key(2));
  b.revoke_key_sha256(user_key(3));
  b.set_comment("test KRL").ok();
  Krl krl = build_and_parse(b);
  EXPECT_EQ(krl.comment(), "test KRL");
  EXPECT_EQ(krl.find_revocation(user_key(1)), KrlReason::kExplicitKey);
  EXPECT_EQ(krl.find_revocation(user_key(2)), KrlReason::kKeySha1);
  EXPECT_EQ(krl.find_revocation(user_key(3)), KrlReason::kKeySha256);
  EXPECT_FALSE(krl.is_revoked(user_key(4)));
  EXPECT_FALSE(krl.is_revoked(ca_key()));
}

TEST(KrlQuery, CertificatesBySerialIdKeyAndCa) {
  KrlBuilder b;
  ASSERT_TRUE(b.revoke_serial_range(ca_key(0), 100, 200).ok());
  ASSERT_TRUE(b.revoke_key_id(ca_key(0), "mallory").ok());
  ASSERT_TRUE(b.revoke_serial(std::nullopt, 5000).ok());
  ASSERT_TRUE(b.revoke_key_id(std::nullopt, "eve").ok());
  b.revoke_key(user_key(9));
  b.revoke_key_sha256(ca_key(2));
  Krl krl = build_and_parse(b);

  const PrivateKey& ca0 = ca_private(0);
  const PrivateKey& ca1 = ca_private(1);
  EXPECT_EQ(krl.find_revocation(make_cert(user_key(), ca0, 100, "a")), KrlReason::kCertSerial);
  EXPECT_EQ(krl.find_revocation(make_cert(user_key(), ca0, 200, "a")), KrlReason::kCertSerial);
  EXPECT_FALSE(krl.is_revoked(make_cert(user_key(), ca0, 99, "a")));
  EXPECT_FALSE(krl.is_revoked(make_cert(user_key(), ca0, 201, "a")));
  // Another CA's certificate with the same serial is not revoked...
  EXPECT_FALSE(krl.is_revoked(make_cert(user_key(), ca1, 150, "a")));
  // ...unless by id or serial under any CA.
  EXPECT_EQ(krl.find_revocation(make_cert(user_key(), ca1, 5000, "a")), KrlReason::kCertSerial);
  EXPECT_EQ(krl.find_revocation(make_cert(user_key(), ca1, 1, "eve")), KrlReason::kCertKeyId);
  EXPECT_EQ(krl.find_revocation(make_cert(user_key(), ca0, 1, "mallory")), KrlReason::kCertKeyId);
  EXPECT_FALSE(krl.is_revoked(make_cert(user_key(), ca1, 1, "mallory")));
  // The certified key itself, or the CA key, revoked.
  EXPECT_EQ(krl.find_revocation(make_cert(user_key(9), ca1, 1, "a")), KrlReason::kExplicitKey);
  EXPECT_EQ(krl.find_revocation(make_cert(user_key(), ca_private(2), 1, "a")), KrlReason::kCaKeyRevoked);
}

TEST(KrlQuery, SerialZeroIsNeverRevokedBySerial) {
  // A serial bitmap or list cannot hold 0; certificates without a serial are
  // only revoked by key id (ssh-keygen revokes such a certificate by its id).
  KrlBuilder b;
  ASSERT_TRUE(b.revoke_serial_range(ca_key(), 1, UINT64_MAX).ok());
  Krl krl = build_and_parse(b);
  EXPECT_FALSE(krl.is_revoked(make_cert(user_key(), ca_private(), 0, "nobody")));
  EXPECT_TRUE(krl.is_revoked(make_cert(user_key(), ca_private(), UINT64_MAX, "nobody")));

  KrlBuilder by_cert;
  by_cert.revoke_certificate(make_cert(user_key(), ca_private(), 0, "serial-less"));
  Krl krl2 = build_and_parse(by_cert);
  EXPECT_EQ(krl2.contents().certificates.at(0).key_ids, (std::vector<std::string>{"serial-less"}));
  EXPECT_TRUE(krl2.is_revoked(make_cert(user_key(1), ca_private(), 0, "serial-less")));
  EXPECT_FALSE(krl2.is_revoked(make_cert(user_key(1), ca_private(), 0, "other")));
}

TEST(KrlQuery, RandomSerialsAgainstASet) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> revoked;
  KrlBuilder b;
  for (int i = 0; i < 3000; ++i) {
    // Mix sparse 40-bit serials with dense clusters so all three encodings occur.
    uint64_t s = i % 3 == 0 ? (rng() & ((1ull << 40) - 1)) + 1 : 1000000 + rng() % 6000;
    revoked.push_back(s);
    ASSERT_TRUE(b.revoke_serial(ca_key(), s).ok());
  }
  Krl krl = build_and_parse(b);
  std::sort(revoked.begin(), revoked.end());
  for (int i = 0; i < 2000; ++i) {
    uint64_t s = i % 2 == 0 ? revoked[rng() % revoked.size()] + (rng() % 3) - 1 : 1000000 + rng() % 7000;
    if (s == 0) continue;
    bool expected = std::binary_search(revoked.begin(), revoked.end(), s);
    EXPECT_EQ(krl.is_revoked(make_cert(user_key(), ca_private(), s, "x")), expected) << s;
  }
}

TEST(KrlRead, EverySectionTypeAndOverlappingSubsections) {
  // Hand-written sections, as another writer might produce them: unsorted
  // lists, overlapping ranges and bitmaps, two sections for one CA.
  Writer w = krl_header("hand made");
  Writer list;
  for (uint64_t s : {50u, 7u, 50u, 3u}) list.u64(s);
  cert_section(w, ca_key(), KrlCertSectionType::kSerialList, list);
  Writer range;
  range.u64(10);
  range.u64(20);
  cert_section(w, ca_key(), KrlCertSectionType::kSerialRange, range);
  Writer range2;
  range2.u64(15);
  range2.u64(25);
  cert_section(w, ca_key(), KrlCertSectionType::kSerialRange, range2);
  Writer bitmap;  // from 100: bits 0, 2, 9 -> 100, 102, 109 (with needless leading zeros)
  bitmap.u64(100);
  bitmap.string(Bytes{0x00, 0x00, 0x02, 0x05});
  cert_section(w, ca_key(), KrlCertSectionType::kSerialBitmap, bitmap);
  Writer bitmap2;  // from 90: bits 0 and 30 -> 90, 120: overlaps the first bitmap
  bitmap2.u64(90);
  bitmap2.mpint(Bytes{0x40, 0, 0, 1});
  cert_section(w, ca_key(), KrlCertSectionType::kSerialBitmap, bitmap2);
  Writer ids;
  ids.string("zed");
  ids.string("amy");
  cert_section(w, std::nullopt, KrlCertSectionType::kKeyId, ids);
  Writer keys;
  keys.string(user_key(1).blob());
  w.u8(2);
  w.string(keys);
  Writer sha1;
  sha1.string(Bytes(20, 0xab));
  w.u8(3);
  w.string(sha1);
  Writer sha256;
  Bytes fp;
  {
    auto b64 = fingerprint(user_key(2), FingerprintHash::kSha256).substr(7);
    fp = *base64_decode(b64);
  }
  sha256.string(fp);
  w.u8(5);
  w.string(sha256);

  auto krl = Krl::parse(w.data());
  ASSERT_TRUE(krl.ok()) << krl.error().message();
  EXPECT_EQ(krl->version(), 7u);
  EXPECT_EQ(krl->generated_date(), 1000u);
  EXPECT_EQ(krl->comment(), "hand made");
  KrlContents c = krl->contents();
  ASSERT_EQ(c.certificates.size(), 2u);
  EXPECT_EQ(c.certificates[0].serials, (std::vector<SerialRange>{
                                           {3, 3}, {7, 7}, {10, 25}, {50, 50}, {90, 90}, {100, 100}, {102, 102},
                                           {109, 109}, {120, 120}}));
  EXPECT_EQ(c.certificates[1].key_ids, (std::vector<std::string>{"amy", "zed"}));
  for (uint64_t s = 1; s < 130; ++s) {
    bool expected = s == 3 || s == 7 || (s >= 10 && s <= 25) || s == 50 || s == 90 || s == 100 || s == 102 ||
                    s == 109 || s == 120;
    EXPECT_EQ(krl->is_revoked(make_cert(user_key(), ca_private(), s, "x")), expected) << s;
  }
  EXPECT_TRUE(krl->is_revoked(make_cert(user_key(), ca_private(1), 1, "amy")));
  EXPECT_TRUE(krl->is_revoked(user_key(1)));
  EXPECT_TRUE(krl->is_revoked(user_key(2)));
  EXPECT_FALSE(krl->is_revoked(user_key(3)));
  EXPECT_EQ(c.sha1, (std::vector<Sha1Digest>{Sha1Digest{0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                                        0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab}}));

  // Re-written by tessera it says the same.
  KrlBuilder again(c);
  EXPECT_EQ(build_and_parse(again).contents(), c);
}

struct MalformedCase {
  const char* name;
  std::function<Writer()> make;
  Errc code;
};

Writer with_section(uint8_t type, const Writer& body) {
  Writer w = krl_header();
  w.u8(type);
  w.string(body);
  return w;
}

Writer with_cert_sub(uint8_t type, const Writer& body, std::optional<PublicKey> ca = ca_key()) {
  Writer w = krl_header();
  cert_section(w, ca, static_cast<KrlCertSectionType>(type), body);
  return w;
}

Writer u64s(std::initializer_list<uint64_t> values) {
  Writer w;
  for (uint64_t v : values) w.u64(v);
  return w;
}

Writer bitmap_of(uint64_t first, Bytes magnitude) {
  Writer w;
  w.u64(first);
  w.string(magnitude);
  return w;
}

TEST(KrlRead, MalformedInputIsAClearError) {
  const std::vector<MalformedCase> cases = {
      {"empty", [] { return Writer(); }, Errc::kMalformed},
      {"bad magic", [] { Writer w; w.bytes(as_bytes(std::string_view("SSHKRL\n\1"))); return w; }, Errc::kMalformed},
      {"truncated header", [] { Writer w; w.bytes(as_bytes(kKrlMagic)); w.u32(1); w.u64(1); return w; },
       Errc::kTruncated},
      {"format version 2", [] { Writer w; w.bytes(as_bytes(kKrlMagic)); w.u32(2); return w; }, Errc::kUnsupported},
      {"comment with NUL", [] { return krl_header(std::string_view("a\0b", 3)); }, Errc::kMalformed},
      {"unknown section", [] { return with_section(9, Writer()); }, Errc::kMalformed},
      {"section runs past the end", [] { Writer w = krl_header(); w.u8(2); w.u32(100); return w; }, Errc::kTruncated},
      {"trailing byte", [] { Writer w = krl_header(); w.u8(2); return w; }, Errc::kTruncated},
      {"explicit key section trailing garbage", [] { Writer b; b.u8(1); return with_section(2, b); },
       Errc::kTruncated},
      {"sha1 of 19 bytes", [] { Writer b; b.string(Bytes(19, 1)); return with_section(3, b); }, Errc::kMalformed},
      {"sha256 of 20 bytes", [] { Writer b; b.string(Bytes(20, 1)); return with_section(5, b); }, Errc::kMalformed},
      {"bad CA key", [] {
         Writer w = krl_header();
         Writer s;
         s.string(as_bytes(std::string_view("not a key")));
         s.string(Bytes{});
         w.u8(1);
         w.string(s);
         return w;
       }, Errc::kTruncated},
      {"unknown subsection", [] { return with_cert_sub(0x24, Writer()); }, Errc::kMalformed},
      {"serial list, partial serial", [] { Writer b; b.u32(5); return with_cert_sub(0x20, b); }, Errc::kTruncated},
      {"serial list with 0", [] { return with_cert_sub(0x20, u64s({4, 0})); }, Errc::kMalformed},
      {"range with 0", [] { return with_cert_sub(0x21, u64s({0, 5})); }, Errc::kMalformed},
      {"range backwards", [] { return with_cert_sub(0x21, u64s({6, 5})); }, Errc::kMalformed},
      {"range trailing data", [] { return with_cert_sub(0x21, u64s({5, 6, 7})); }, Errc::kTrailingData},
      {"range truncated", [] { return with_cert_sub(0x21, u64s({5})); }, Errc::kTruncated},
      {"bitmap with serial 0", [] { return with_cert_sub(0x22, bitmap_of(0, {0x01})); }, Errc::kMalformed},
      {"bitmap wraps", [] { return with_cert_sub(0x22, bitmap_of(UINT64_MAX - 3, {0x10})); }, Errc::kMalformed},
      {"negative bitmap", [] { return with_cert_sub(0x22, bitmap_of(5, {0x80})); }, Errc::kMalformed},
      {"bitmap too long", [] { return with_cert_sub(0x22, bitmap_of(5, Bytes(2049, 1))); }, Errc::kTooLarge},
      {"bitmap trailing data", [] { Writer b = bitmap_of(5, {1}); b.u8(0); return with_cert_sub(0x22, b); },
       Errc::kTrailingData},
      {"key id with NUL", [] { Writer b; b.string(as_bytes(std::string_view("a\0", 2))); return with_cert_sub(0x23, b); },
       Errc::kMalformed},
      {"signature key not a key", [] {
         Writer w = krl_header();
         w.u8(4);
         w.string(as_bytes(std::string_view("junk")));
         w.string(Bytes{});
         return w;
       }, Errc::kTruncated},
  };
  for (const auto& c : cases) {
    Status s = parse_status(c.make());
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.error().code(), c.code) << c.name << ": " << s.error().message();
    EXPECT_FALSE(s.error().message().empty()) << c.name;
  }
}

TEST(KrlRead, EdgesThatOpensshAccepts) {
  // Empty subsections, an empty bitmap, a bitmap ending at the last serial,
  // the longest bitmap OpenSSH reads (with its leading zero byte), an empty key id.
  EXPECT_TRUE(parse_status(with_cert_sub(0x20, Writer())).ok());
  EXPECT_TRUE(parse_status(with_cert_sub(0x23, Writer())).ok());
  EXPECT_TRUE(parse_status(with_cert_sub(0x22, bitmap_of(5, {}))).ok());
  EXPECT_TRUE(parse_status(with_cert_sub(0x22, bitmap_of(0, {0x02}))).ok());
  EXPECT_TRUE(parse_status(with_cert_sub(0x22, bitmap_of(UINT64_MAX - 4, {0x10}))).ok());
  Bytes longest(2049, 0xff);
  longest[0] = 0;
  EXPECT_TRUE(parse_status(with_cert_sub(0x22, bitmap_of(1, longest))).ok());
  Writer empty_id;
  empty_id.string(std::string_view());
  auto krl = Krl::parse(with_cert_sub(0x23, empty_id, std::nullopt).data());
  ASSERT_TRUE(krl.ok());
  EXPECT_TRUE(krl->is_revoked(make_cert(user_key(), ca_private(), 3, "")));
  EXPECT_FALSE(krl->is_revoked(make_cert(user_key(), ca_private(), 3, "x")));
  // A bitmap at the top of the serial space.
  auto top = Krl::parse(with_cert_sub(0x22, bitmap_of(UINT64_MAX - 4, {0x10})).data());
  ASSERT_TRUE(top.ok());
  EXPECT_TRUE(top->is_revoked(make_cert(user_key(), ca_private(), UINT64_MAX, "x")));
  EXPECT_FALSE(top->is_revoked(make_cert(user_key(), ca_private(), UINT64_MAX - 1, "x")));
}

TEST(KrlRead, LongBitmapsOnlyWhenAllowed) {
  Writer w = with_cert_sub(0x22, bitmap_of(1, Bytes(5000, 0x55)));
  EXPECT_EQ(parse_status(w).error().code(), Errc::kTooLarge);
  auto krl = Krl::parse(w.data(), KrlParseOptions{.max_bitmap_bits = 1 << 20});
  ASSERT_TRUE(krl.ok()) << krl.error().message();
  EXPECT_TRUE(krl->is_revoked(make_cert(user_key(), ca_private(), 1, "x")));
  EXPECT_FALSE(krl->is_revoked(make_cert(user_key(), ca_private(), 2, "x")));
  EXPECT_TRUE(krl->is_revoked(make_cert(user_key(), ca_private(), 39999, "x")));
  EXPECT_FALSE(krl->is_revoked(make_cert(user_key(), ca_private(), 40001, "x")));
}

TEST(KrlRead, TooLargeInputRefusedBeforeReading) {
  // Untouched anonymous pages: the input is never read or copied.
  const size_t size = kMaxKrlBytes + 1;
  void* pages = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(pages, MAP_FAILED);
  auto krl = Krl::parse(std::span<const uint8_t>(static_cast<const uint8_t*>(pages), size));
  munmap(pages, size);
  ASSERT_FALSE(krl.ok());
  EXPECT_EQ(krl.error().code(), Errc::kTooLarge);
}

// ---- signatures ----

class KrlSigning : public ::testing::TestWithParam<KeyType> {};

TEST_P(KrlSigning, SignedKrlVerifies) {
  const PrivateKey& signer_key = krl_key(GetParam(), 50);
  KrlBuilder b;
  ASSERT_TRUE(b.revoke_serial(ca_key(), 10).ok());
  b.revoke_key(user_key(1));
  std::vector<KrlSigner> signers = {make_krl_signer(signer_key)};
  auto data = b.serialize_signed(signers);
  ASSERT_TRUE(data.ok()) << data.error().message();
  Krl krl = parse_ok(*data);
  EXPECT_TRUE(krl.is_signed());
  EXPECT_TRUE(krl.verify_signed_by(signer_key.public_key()).ok());
  EXPECT_EQ(krl.verify_signed_by(ca_key(5)).error().code(), Errc::kBadSignature);
  EXPECT_TRUE(krl.is_revoked(user_key(1)));

  // Any changed byte before the signature breaks it.
  for (size_t at : {size_t{9}, size_t{40}, data->size() - 80}) {
    Bytes tampered = *data;
    tampered[at] ^= 1;
    auto bad = Krl::parse(std::span<const uint8_t>(tampered));
    EXPECT_FALSE(bad.ok()) << at;
  }
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, KrlSigning,
                         ::testing::Values(KeyType::kEd25519, KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kRsa));

TEST(KrlSigningRules, UnsignedKrlIsNotSignedByAnyone) {
  Krl krl = build_and_parse(KrlBuilder());
  EXPECT_FALSE(krl.is_signed());
  EXPECT_EQ(krl.verify_signed_by(ca_key()).error().code(), Errc::kBadSignature);
}

TEST(KrlSigningRules, TwoSignersAndRevokedSigners) {
  KrlBuilder b;
  b.revoke_key(ca_key(1));  // revokes the second signer
  std::vector<KrlSigner> signers = {make_krl_signer(ca_private(0)), make_krl_signer(ca_private(1))};
  auto data = b.serialize_signed(signers);
  ASSERT_TRUE(data.ok()) << data.error().message();
  Krl krl = parse_ok(*data);
  EXPECT_TRUE(krl.verify_signed_by(ca_key(0)).ok());
  EXPECT_FALSE(krl.verify_signed_by(ca_key(1)).ok());  // dropped: revoked by the KRL itself

  // Every signer revoked: OpenSSH refuses the KRL, so tessera does not write it.
  std::vector<KrlSigner> only_revoked = {make_krl_signer(ca_private(1))};
  EXPECT_EQ(b.serialize_signed(only_revoked).error().code(), Errc::kBadSignature);
  // The same key twice.
  std::vector<KrlSigner> twice = {make_krl_signer(ca_private(0)), make_krl_signer(ca_private(0))};
  EXPECT_EQ(b.serialize_signed(twice).error().code(), Errc::kInvalidArgument);
}

TEST(KrlSigningRules, SignerThatLiesIsCaught) {
  KrlSigner liar{ca_key(0), [](std::span<const uint8_t> data) { return ca_private(1).sign(data); }};
  std::vector<KrlSigner> signers = {liar};
  auto data = KrlBuilder().serialize_signed(signers);
  ASSERT_FALSE(data.ok());
  KrlSigner failing{ca_key(0), [](std::span<const uint8_t>) -> Result<Bytes> {
                      return Error(Errc::kIo, "token 'ca' is not present");
                    }};
  std::vector<KrlSigner> failing_signers = {failing};
  auto failed = KrlBuilder().serialize_signed(failing_signers);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("token 'ca' is not present"), std::string::npos);
}

TEST(KrlSigningRules, SectionsAfterASignatureAreRefused) {
  std::vector<KrlSigner> signers = {make_krl_signer(ca_private(0))};
  auto data = KrlBuilder().serialize_signed(signers);
  ASSERT_TRUE(data.ok());
  Writer w;
  w.bytes(*data);
  w.u8(2);
  w.string(Writer());
  EXPECT_EQ(parse_status(w).error().code(), Errc::kMalformed);
  // A second signature by the same key.
  Writer twice;
  twice.bytes(*data);
  twice.u8(4);
  twice.string(ca_key(0).blob());
  twice.string(*ca_private(0).sign(twice.data()));
  EXPECT_EQ(parse_status(twice).error().code(), Errc::kMalformed);
}

// ---- spec files ----

std::string key_line(const PublicKey& key) { return format_public_key_line(key, "comment here"); }
std::string cert_line(const Certificate& cert) {
  return std::string(cert.type_name()) + " " + base64_encode(cert.blob()) + " user@host";
}

TEST(KrlSpec, EveryLineKind) {
  Certificate by_serial = make_cert(user_key(5), ca_private(1), 777, "x");
  Certificate by_id = make_cert(user_key(6), ca_private(1), 0, "no serial");
  const std::string spec =
      "# a comment\n"
      "\n"
      "   \t\n"
      "serial: 5\n"
      "SERIAL:\t0x10-0x20   # hex, keyword in capitals\n"
      "serial: 010\n"  // octal 8
      "id: alice # the rest is a comment\n"
      "id:bob smith\t \n"
      "key: " + key_line(user_key(1)) + "\n" +
      "sha1: " + key_line(user_key(2)) + "\n" +
      "sha256: " + key_line(user_key(3)) + "\n" +
      "hash: " + fingerprint(user_key(4), FingerprintHash::kSha256) + "\n" +
      cert_line(by_serial) + "\n" + cert_line(by_id) + "\n" +
      key_line(user_key(7)) + "\n" +
      "sha256: " + fingerprint(user_key(8), FingerprintHash::kSha256) + "\n";
  KrlBuilder b;
  Status s = add_krl_spec(b, spec, "spec.txt", KrlSpecCa::ca_key(ca_key(0)));
  ASSERT_TRUE(s.ok()) << s.error().message();
  KrlContents c = b.contents();
  ASSERT_EQ(c.certificates.size(), 2u);
  EXPECT_EQ(c.certificates[0].ca_blob, ca_key(0).blob());
  EXPECT_EQ(c.certificates[0].serials, (std::vector<SerialRange>{{5, 5}, {8, 8}, {16, 32}}));
  EXPECT_EQ(c.certificates[0].key_ids, (std::vector<std::string>{"alice", "bob smith"}));
  EXPECT_EQ(c.certificates[1].ca_blob, ca_key(1).blob());
  EXPECT_EQ(c.certificates[1].serials, (std::vector<SerialRange>{{777, 777}}));
  EXPECT_EQ(c.certificates[1].key_ids, (std::vector<std::string>{"no serial"}));

  Krl krl = build_and_parse(b);
  for (int i : {1, 2, 3, 4, 7, 8}) EXPECT_TRUE(krl.is_revoked(user_key(i))) << i;
  EXPECT_FALSE(krl.is_revoked(user_key(5)));
  EXPECT_TRUE(krl.is_revoked(by_serial));
  EXPECT_TRUE(krl.is_revoked(by_id));
  EXPECT_EQ(c.keys.size(), 2u);
  EXPECT_EQ(c.sha1.size(), 1u);
  EXPECT_EQ(c.sha256.size(), 3u);
}

TEST(KrlSpec, KeyPrefixWithACertificateRevokesItsKey) {
  Certificate cert = make_cert(user_key(5), ca_private(1), 777, "x");
  KrlBuilder b;
  ASSERT_TRUE(add_krl_spec_line(b, "key: " + cert_line(cert), KrlSpecCa::none()).ok());
  ASSERT_TRUE(add_krl_spec_line(b, "sha1: " + cert_line(cert), KrlSpecCa::none()).ok());
  KrlContents c = b.contents();
  EXPECT_TRUE(c.certificates.empty());
  EXPECT_EQ(c.keys, (std::vector<Bytes>{user_key(5).blob()}));
  Krl krl = build_and_parse(b);
  EXPECT_EQ(krl.find_revocation(cert), KrlReason::kKeySha1);
}

TEST(KrlSpec, AnyCaAndTheNeedForACa) {
  KrlBuilder b;
  ASSERT_TRUE(add_krl_spec(b, "serial: 9\nid: x\n", "s", KrlSpecCa::any_ca()).ok());
  EXPECT_TRUE(b.contents().certificates.at(0).ca_blob.empty());
  Status no_ca = add_krl_spec(b, "# fine\nserial: 9\n", "s", KrlSpecCa::none());
  ASSERT_FALSE(no_ca.ok());
  EXPECT_EQ(no_ca.error().message(), "s:2: revoking certificates by serial number requires specification of a CA key");
  EXPECT_FALSE(add_krl_spec_line(b, "id: x", KrlSpecCa::none()).ok());
}

TEST(KrlSpec, BadLinesNameTheirLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"serial: abc", "invalid serial \"abc\""},
      {"serial:", "invalid serial \"\""},
      {"serial: 5 6", "invalid serial \"5 6\""},
      {"serial: 5-", "invalid serial \"\""},
      {"serial: 5-5", "invalid serial range 5:5"},
      {"serial: 9-5", "invalid serial range 9:5"},
      {"serial: 0", "serial 0"},
      {"serial: 99999999999999999999", "serial out of range"},
      {"serial: 5\r", "invalid serial"},
      {"hash: MD5:abc", "unsupported hash algorithm"},
      {"hash: SHA256:!!!", "decode hash failed"},
      {"hash: SHA256:AAAA", "not 3"},
      {"sha1: SHA1:AAAA", "not 3"},
      {"key: ssh-ed25519", "invalid key"},
      {"key: ssh-ed25519 AAAA", "invalid key"},
      {"ssh-foo AAAA", "unknown key type"},
      {"just words", "unknown key type"},
  };
  for (const auto& [line, expected] : cases) {
    KrlBuilder b;
    Status s = add_krl_spec(b, "# first\n" + line + "\n", "f", KrlSpecCa::ca_key(ca_key()));
    ASSERT_FALSE(s.ok()) << line;
    EXPECT_TRUE(s.error().message().starts_with("f:2: ")) << s.error().message();
    EXPECT_NE(s.error().message().find(expected), std::string::npos) << line << " -> " << s.error().message();
  }
}

TEST(KrlSpec, KeyLinesAsSshkeyReadReadsThem) {
  const PublicKey ecdsa = krl_key(KeyType::kEcdsaP256).public_key();
  const std::string b64 = base64_encode(ecdsa.blob());
  KrlBuilder b;
  // Short names are accepted for plain keys, except ECDSA (no curve).
  EXPECT_TRUE(add_krl_spec_line(b, "ed25519 " + base64_encode(user_key().blob()), KrlSpecCa::none()).ok());
  EXPECT_FALSE(add_krl_spec_line(b, "ECDSA " + b64, KrlSpecCa::none()).ok());
  EXPECT_FALSE(add_krl_spec_line(b, "ssh-ed25519 " + b64, KrlSpecCa::none()).ok());  // mismatch
  // '#' ends the line even inside the key (so the key is cut short).
  EXPECT_FALSE(add_krl_spec_line(b, "key: ecdsa-sha2-nistp256 " + b64.substr(0, 20) + "#" + b64.substr(20),
                                 KrlSpecCa::none()).ok());
  // A certificate whose CA signature does not verify.
  Certificate cert = make_cert(user_key(5), ca_private(1), 777, "x");
  cert.serial = 778;
  EXPECT_FALSE(add_krl_spec_line(b, cert_line(cert), KrlSpecCa::none()).ok());
  // Text after a NUL does not count.
  EXPECT_TRUE(add_krl_spec_line(b, std::string("# \0serial: 5", 12), KrlSpecCa::none()).ok());
}

// ---- dump ----

class KrlDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_tz_ = tz ? std::optional<std::string>(tz) : std::nullopt;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (saved_tz_) setenv("TZ", saved_tz_->c_str(), 1); else unsetenv("TZ");
    tzset();
  }
  std::optional<std::string> saved_tz_;
};

TEST_F(KrlDumpTest, AsSshKeygenPrintsIt) {
  KrlBuilder b;
  b.set_version(42);
  b.set_generated_date(1700000000);  // 2023-11-14 22:13:20 UTC
  ASSERT_TRUE(b.set_comment("ops\tteam").ok());
  ASSERT_TRUE(b.revoke_serial(ca_key(), 5).ok());
  ASSERT_TRUE(b.revoke_serial_range(ca_key(), 10, 20).ok());
  ASSERT_TRUE(b.revoke_key_id(ca_key(), "caf\xc3\xa9\x01x").ok());
  ASSERT_TRUE(b.revoke_key_id(std::nullopt, "anyone").ok());
  b.revoke_key(user_key(1));
  b.revoke_sha1(Sha1Digest{0x65, 0x46});
  b.revoke_sha256(Sha256Digest{0xb0, 0xcd});
  KrlDump dump = krl_dump(build_and_parse(b));
  EXPECT_TRUE(dump.problems.empty());
  const std::string expected =
      "# KRL version 42\n"
      "# Generated at 20231114T221320\n"
      "# Comment: ops\\011team\n"
      "\n"
      "hash: " + fingerprint(user_key(1), FingerprintHash::kSha256) + " # ssh-ed25519\n" +
      "hash: SHA256:b0cd000000000000000000000000000000000000000000000000000000000000\n"
      "# hash SHA1:6546000000000000000000000000000000000000\n"
      "\n"
      "# CA key ssh-ed25519 " + fingerprint(ca_key(), FingerprintHash::kSha256) + "\n" +
      "serial: 5\n"
      "serial: 10-20\n"
      "id: caf\\303\\251\\001x\n"
      "\n"
      "# Wildcard CA\n"
      "id: anyone\n";
  EXPECT_EQ(dump.text, expected);
}

TEST_F(KrlDumpTest, UnreadableRevokedKeyIsAProblemNotACrash) {
  Writer keys;
  keys.string(as_bytes(std::string_view("garbage")));
  KrlDump dump = krl_dump(parse_ok(with_section(2, keys).take()));
  EXPECT_EQ(dump.problems.size(), 1u);
  EXPECT_EQ(dump.text, "# KRL version 7\n# Generated at 19700101T001640\n\n");
}

}  // namespace
}  // namespace tessera::key
