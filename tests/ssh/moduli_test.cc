// The moduli(5) file, the choice of a group for a client's request and the
// request's clamping, as OpenSSH 9.2's sshd does them.
#include "transport/moduli.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "tessera/key/ossl.h"
#include "transport/messages.h"

namespace tessera::ssh::transport {
namespace {

using PrimeFn = BIGNUM* (*)(BIGNUM*);

// RFC 2409 / 3526's MODP primes are safe primes: real moduli lines.
std::string hex_of(PrimeFn prime) {
  key::ossl::BnPtr p(prime(nullptr));
  char* hex = BN_bn2hex(p.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

std::string line(PrimeFn prime, unsigned listed_size, std::string_view type = "2", std::string_view tests = "6",
                 std::string_view tries = "100", std::string_view generator = "2") {
  return "20230101000000 " + std::string(type) + " " + std::string(tests) + " " + std::string(tries) + " " +
         std::to_string(listed_size) + " " + std::string(generator) + " " + hex_of(prime) + "\n";
}

TEST(Moduli, ParsesSafePrimesAndSkipsOtherLinesWithAReason) {
  std::string text = "#    $OpenBSD: moduli,v 1.33 2022/12/01 $\n"
                     "# Time Type Tests Tries Size Generator Modulus\n"
                     "\n"
                     "   \t \n";
  text += line(BN_get_rfc3526_prime_2048, 2047);                           // 5: good
  text += "  " + line(BN_get_rfc3526_prime_4096, 4095, "2", "4", "1", "5");  // 6: good, leading blanks, g 5
  std::string crlf = line(BN_get_rfc3526_prime_3072, 3071);
  crlf.insert(crlf.size() - 1, "\r");
  text += crlf;                                                             // 7: good, CRLF
  text += line(BN_get_rfc3526_prime_2048, 2047, "4");                      // 8: not a safe prime
  text += line(BN_get_rfc3526_prime_2048, 2047, "2", "1");                 // 9: composite
  text += line(BN_get_rfc3526_prime_2048, 2047, "2", "0");                 // 10: untested
  text += line(BN_get_rfc3526_prime_2048, 2047, "2", "6", "0");            // 11: never tried
  text += line(BN_get_rfc3526_prime_2048, 2048);                           // 12: size is bits, not bits-1
  text += line(BN_get_rfc3526_prime_2048, 2047, "2", "6", "100", "1");     // 13: generator 1
  text += line(BN_get_rfc3526_prime_2048, 2047, "2", "6", "100", "xyz");   // 14: generator not hex
  text += "20230101000000 2 6 100 2047 2 FFFFG\n";                         // 15: prime not hex
  text += "20230101000000 2 6 100 2047 2\n";                               // 16: truncated
  text += "20230101000000 2 6 100 2047 2 FF FF\n";                         // 17: too many fields
  text += "20230101000000 -2 6 100 2047 2 FF\n";                           // 18: a sign
  text += "20230101000000 2 6 100 99999999999999999999999 2 FF\n";        // 19: huge size
  text += line(BN_get_rfc2409_prime_1024, 1023);                           // 20: good (small; range decides)
  text += "20230101000000 2 6 100 7 2 " + std::string("FE") + "\n";       // 21: even
  const ModuliFile m = parse_moduli(text);
  ASSERT_EQ(m.groups.size(), 4u);
  EXPECT_EQ(m.groups[0].bits, 2048u);
  EXPECT_EQ(m.groups[0].g, key::Bytes{2});
  EXPECT_EQ(m.groups[1].bits, 4096u);
  EXPECT_EQ(m.groups[1].g, key::Bytes{5});
  EXPECT_EQ(m.groups[2].bits, 3072u);
  EXPECT_EQ(m.groups[3].bits, 1024u);
  EXPECT_EQ(m.groups[0].p.size(), 256u);
  EXPECT_EQ(m.groups[0].p[0], 0xff);
  ASSERT_EQ(m.skipped.size(), 13u);
  const std::vector<std::string> expected = {
      "line 8: type is not 2",        "line 9: invalid tests",         "line 10: invalid tests",
      "line 11: invalid primality",   "line 12: prime has wrong size", "line 13: generator is invalid",
      "line 14: could not parse gen", "line 15: could not parse prime", "line 16: expected 7 fields",
      "line 17: expected 7 fields",   "line 18: type is not 2",        "line 19: invalid prime length",
      "line 21: prime is even"};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(m.skipped[i].rfind(expected[i], 0), 0u) << m.skipped[i];
  }
  EXPECT_TRUE(parse_moduli("").groups.empty());
  EXPECT_TRUE(parse_moduli("\n\n# only comments\n").skipped.empty());
}

TEST(Moduli, ReadsTheSystemFileWithoutComplaint) {
  if (!std::filesystem::exists("/etc/ssh/moduli")) GTEST_SKIP() << "no /etc/ssh/moduli";
  auto m = read_moduli_file("/etc/ssh/moduli");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_GT(m->groups.size(), 10u);
  EXPECT_TRUE(m->skipped.empty()) << m->skipped.front();
  for (const DhGroup& g : m->groups) {
    EXPECT_GE(g.bits, 2048u);
    EXPECT_EQ(g.p.size() * 8, g.bits);
  }
  EXPECT_FALSE(read_moduli_file("/nonexistent/moduli").ok());
}

std::vector<DhGroup> groups_of(std::initializer_list<unsigned> sizes) {
  std::vector<DhGroup> out;
  for (unsigned bits : sizes) out.push_back(DhGroup{bits, key::Bytes{uint8_t(out.size())}, key::Bytes{2}});
  return out;
}

TEST(Moduli, ChoosesTheClosestGroupAtLeastTheWantedSizeWithinRange) {
  const std::vector<DhGroup> g = groups_of({8192, 2048, 3072, 4096, 3072, 6144, 3072, 1024});
  auto bits = [&](unsigned min, unsigned want, unsigned max) -> unsigned {
    auto i = choose_dh_group(g, min, want, max);
    return i ? g[*i].bits : 0;
  };
  EXPECT_EQ(bits(2048, 2048, 8192), 2048u);
  EXPECT_EQ(bits(2048, 3000, 8192), 3072u);
  EXPECT_EQ(bits(2048, 5000, 8192), 6144u);  // the smallest at least wanted
  EXPECT_EQ(bits(2048, 7000, 6144), 6144u);  // else the largest below
  EXPECT_EQ(bits(2048, 8192, 8192), 8192u);
  EXPECT_EQ(bits(3100, 3100, 4000), 0u);     // nothing in range
  EXPECT_EQ(bits(1024, 1024, 1024), 1024u);  // the range decides, not a floor
  EXPECT_FALSE(choose_dh_group({}, 2048, 2048, 8192));
  // Random among the groups of the chosen size.
  std::set<size_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(*choose_dh_group(g, 2048, 3072, 8192));
  EXPECT_EQ(seen, (std::set<size_t>{2, 4, 6}));
}

TEST(Moduli, FallsBackOnTheFixedGroupForTheRequestedMaximum) {
  EXPECT_EQ(fallback_dh_group(2048).bits, 2048u);
  EXPECT_EQ(fallback_dh_group(3071).bits, 2048u);
  EXPECT_EQ(fallback_dh_group(3072).bits, 4096u);
  EXPECT_EQ(fallback_dh_group(6143).bits, 4096u);
  EXPECT_EQ(fallback_dh_group(6144).bits, 8192u);
  EXPECT_EQ(fallback_dh_group(8192).bits, 8192u);
  EXPECT_EQ(fallback_dh_group(8192).g, key::Bytes{2});
}

key::Bytes request(uint32_t min, uint32_t n, uint32_t max, uint8_t type = msg::kKexDhGexRequest) {
  key::Writer w;
  w.u8(type);
  w.u32(min);
  w.u32(n);
  w.u32(max);
  return w.take();
}

TEST(Moduli, ClampsRequestsAsSshdAndRefusesBadRanges) {
  auto r = parse_gex_request(request(2048, 3072, 8192));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->serve_min, 2048u);
  EXPECT_EQ(r->serve_wanted, 3072u);
  EXPECT_EQ(r->serve_max, 8192u);
  r = parse_gex_request(request(1024, 1536, 16384));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min, 1024u);  // as sent: this goes into the exchange hash
  EXPECT_EQ(r->n, 1536u);
  EXPECT_EQ(r->max, 16384u);
  EXPECT_EQ(r->serve_min, 2048u);
  EXPECT_EQ(r->serve_wanted, 2048u);
  EXPECT_EQ(r->serve_max, 8192u);
  r = parse_gex_request(request(2048, 12000, 16384));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->serve_wanted, 8192u);

  EXPECT_EQ(parse_gex_request(request(4096, 3072, 8192)).error().code(), key::Errc::kUnsupported);  // n < min
  EXPECT_EQ(parse_gex_request(request(2048, 8192, 4096)).error().code(), key::Errc::kUnsupported);  // n > max
  EXPECT_EQ(parse_gex_request(request(8192, 8192, 2048)).error().code(), key::Errc::kUnsupported);  // max < min
  EXPECT_EQ(parse_gex_request(request(1024, 1024, 1024)).error().code(), key::Errc::kUnsupported);  // max < 2048
  EXPECT_EQ(parse_gex_request(request(0, 0, 0)).error().code(), key::Errc::kUnsupported);
  EXPECT_EQ(parse_gex_request(request(2048, 2048, 2048, msg::kKexDhGexInit)).error().code(), key::Errc::kMalformed);
  key::Bytes trailing = request(2048, 2048, 8192);
  trailing.push_back(0);
  EXPECT_EQ(parse_gex_request(trailing).error().code(), key::Errc::kMalformed);
  const key::Bytes truncated = request(2048, 2048, 8192);
  EXPECT_FALSE(parse_gex_request(std::span(truncated).first(9)).ok());
  EXPECT_FALSE(parse_gex_request({}).ok());
}

}  // namespace
}  // namespace tessera::ssh::transport
