// known_hosts parsing and matching (tessera/key/known_hosts.h): every line
// form, plain and hashed names, ports, negation, markers, malformed lines,
// CRLF and huge lines, and the verdicts of HostKeys::check().
#include "tessera/key/known_hosts.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "test_support.h"
#include "test_keys.h"

namespace tessera::key {
namespace {

using Kind = KnownHostsLine::Kind;

PublicKey host_key(int which = 0, KeyType type = KeyType::kEd25519) {
  return test_key(type, 200 + which).public_key();
}
const PrivateKey& ca_private(int which = 0) { return test_key(KeyType::kEd25519, 300 + which); }

// "type base64" of a key.
std::string key_text(const PublicKey& key) { return format_public_key_line(key, ""); }

Certificate host_cert(const PublicKey& key, int ca = 0) {
  Certificate cert{.key = key, .nonce = {}, .serial = 1, .type = CertType::kHost, .key_id = "host",
                   .principals = {"server.example.com"}, .critical_options = {}, .extensions = {},
                   .reserved = {}, .signature_key = key, .signature = {}};
  PrivateKeySigner signer(ca_private(ca));
  if (!sign_certificate(cert, signer, default_certificate_algorithm(signer.public_key())).ok()) std::abort();
  return cert;
}

// The salt of a hashed name as OpenSSH writes it in its tests: 20 bytes.
constexpr std::array<uint8_t, kHashedHostSaltBytes> kSalt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                            11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

std::string hashed(std::string_view host) {
  auto name = hash_known_host_name(host, kSalt);
  if (!name.ok()) std::abort();
  return *name;
}

// ---- lines ----

TEST(KnownHostsLine, CommentsAndBlankLines) {
  for (std::string_view text : {"", "   ", "\t", "# a comment", "   # indented", "#", "\t#host ssh-ed25519 AAAA"}) {
    EXPECT_EQ(parse_known_hosts_line(text).kind, Kind::kComment) << text;
  }
}

TEST(KnownHostsLine, PlainEntry) {
  const std::string line = "host1,Host2  " + key_text(host_key()) + "   my comment";
  KnownHostsLine parsed = parse_known_hosts_line(line);
  ASSERT_EQ(parsed.kind, Kind::kEntry) << parsed.problem;
  EXPECT_EQ(parsed.marker, KnownHostsMarker::kNone);
  EXPECT_EQ(parsed.hosts, "host1,Host2");
  EXPECT_EQ(parsed.key_type, "ssh-ed25519");
  EXPECT_EQ(parsed.key_text, key_text(host_key()) + "   my comment");
  auto key = parse_known_hosts_key(parsed.key_text);
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_EQ(key->key.key, host_key());
  EXPECT_EQ(key->comment, "my comment");
}

TEST(KnownHostsLine, LeadingBlanksAndTabs) {
  const std::string line = " \t host\t" + key_text(host_key());
  KnownHostsLine parsed = parse_known_hosts_line(line);
  ASSERT_EQ(parsed.kind, Kind::kEntry) << parsed.problem;
  EXPECT_EQ(parsed.hosts, "host");
  EXPECT_TRUE(parse_known_hosts_key(parsed.key_text).ok());
}

TEST(KnownHostsLine, Markers) {
  const std::string ca_line = "@cert-authority *.example.com " + key_text(host_key()) + " ca";
  KnownHostsLine ca = parse_known_hosts_line(ca_line);
  ASSERT_EQ(ca.kind, Kind::kEntry) << ca.problem;
  EXPECT_EQ(ca.marker, KnownHostsMarker::kCertAuthority);
  EXPECT_EQ(ca.hosts, "*.example.com");
  const std::string revoked_line = "@revoked   host " + key_text(host_key());
  KnownHostsLine revoked = parse_known_hosts_line(revoked_line);
  ASSERT_EQ(revoked.kind, Kind::kEntry) << revoked.problem;
  EXPECT_EQ(revoked.marker, KnownHostsMarker::kRevoked);
  EXPECT_EQ(revoked.hosts, "host");
}

TEST(KnownHostsLine, BadMarkersAreInvalid) {
  const std::string key = " host " + key_text(host_key());
  for (std::string marker : {"@bogus", "@", "@revoked @revoked", "@cert-authority @revoked", "@REVOKED",
                             "@cert-authority-and-a-marker-too-long"}) {
    KnownHostsLine parsed = parse_known_hosts_line(marker + key);
    EXPECT_EQ(parsed.kind, Kind::kInvalid) << marker;
    EXPECT_NE(parsed.problem.find("marker"), std::string::npos) << parsed.problem;
  }
  EXPECT_EQ(parse_known_hosts_line("@revoked").kind, Kind::kInvalid);
  // As OpenSSH: the marker ends at the line's first space, so a tab after it
  // makes "@cert-authority\thost" the marker.
  EXPECT_EQ(parse_known_hosts_line("@cert-authority\thost " + key_text(host_key())).kind, Kind::kInvalid);
  EXPECT_EQ(parse_known_hosts_line("@cert-authority\thost\t" + key_text(host_key())).kind, Kind::kInvalid);
}

TEST(KnownHostsLine, MissingOrUnknownKeyIsInvalid) {
  struct Case {
    std::string line;
    std::string problem;
  };
  const Case cases[] = {
      {"host", "no key"},
      {"host   ", "no key"},
      {"host #comment", "no key"},
      {"@revoked host", "no key"},
      {"host ssh-foo AAAA", "unknown key type"},
      {"host x AAAA", "unknown key type"},
      {"host 2048 35 12345", "unknown key type"},  // an SSH1 RSA key
      {"host RSA-CERT AAAA", "unknown key type"},
      {"host ssh-xmss@openssh.com AAAA", "unknown key type"},
      {"host ssh-ed25519", "no key data"},
      {"host ssh-ed25519 ", "no key data"},
      {"host ssh-ed25519 \t", "no key data"},
      {"host ssh-ed25519 #x", "no key data"},
      {"host " + std::string(200, 'k') + " AAAA", "unknown key type"},
  };
  for (const Case& c : cases) {
    KnownHostsLine parsed = parse_known_hosts_line(c.line);
    EXPECT_EQ(parsed.kind, Kind::kInvalid) << c.line;
    EXPECT_NE(parsed.problem.find(c.problem), std::string::npos) << c.line << ": " << parsed.problem;
  }
}

TEST(KnownHostsLine, KeyTypesOpensshKnowsAreEntriesWithoutDecoding) {
  // Without decoding, a line is an entry when OpenSSH 9.2 knows the type name:
  // DSA, certificates, short names in any case, the rsa-sha2 aliases.
  for (std::string type : {"ssh-dss", "DSA", "dsa", "ssh-rsa", "rsa", "Ecdsa", "ECDSA-SK", "ed25519-sk",
                           "rsa-sha2-256", "rsa-sha2-512-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com",
                           "sk-ssh-ed25519-cert-v01@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com"}) {
    const std::string text = "h " + type + " garbage";
    KnownHostsLine parsed = parse_known_hosts_line(text);
    EXPECT_EQ(parsed.kind, Kind::kEntry) << type << ": " << parsed.problem;
    EXPECT_EQ(parsed.key_type, type);
    EXPECT_FALSE(parse_known_hosts_key(parsed.key_text).ok()) << type;
  }
}

TEST(KnownHostsLine, CrLfKeepsTheCarriageReturnInTheLastField) {
  const std::string with_comment = "host " + key_text(host_key()) + " comment\r";
  KnownHostsLine parsed = parse_known_hosts_line(with_comment);
  ASSERT_EQ(parsed.kind, Kind::kEntry);
  auto key = parse_known_hosts_key(parsed.key_text);
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_EQ(key->comment, "comment\r");  // as OpenSSH prints it with -F -l

  // Without a comment the '\r' ends the base64, which skips it.
  const std::string bare_line = "host " + key_text(host_key()) + "\r";
  auto bare = parse_known_hosts_key(parse_known_hosts_line(bare_line).key_text);
  ASSERT_TRUE(bare.ok()) << bare.error().message();
  EXPECT_EQ(bare->key.key, host_key());
  EXPECT_EQ(bare->comment, "");
}

TEST(KnownHostsLine, HugeLines) {
  const std::string key = key_text(host_key());
  const std::string fits = "host " + key + " " + std::string(kMaxKnownHostsLineBytes - key.size() - 6, 'c');
  ASSERT_EQ(fits.size(), kMaxKnownHostsLineBytes);
  EXPECT_EQ(parse_known_hosts_line(fits).kind, Kind::kEntry);
  KnownHostsLine huge = parse_known_hosts_line(fits + "c");
  EXPECT_EQ(huge.kind, Kind::kInvalid);
  EXPECT_NE(huge.problem.find("longer than"), std::string::npos) << huge.problem;
  // A huge comment line is still a comment.
  EXPECT_EQ(parse_known_hosts_line("#" + std::string(10 * kMaxKnownHostsLineBytes, 'c')).kind, Kind::kComment);
  // A huge host list is an invalid line, not a slow one.
  EXPECT_EQ(parse_known_hosts_line(std::string(2 * kMaxKnownHostsLineBytes, 'h') + " " + key).kind, Kind::kInvalid);
}

TEST(KnownHostsLine, NulEndsTheLine) {
  const std::string line = "host " + key_text(host_key()) + std::string("\0 trailing", 10);
  KnownHostsLine parsed = parse_known_hosts_line(line);
  ASSERT_EQ(parsed.kind, Kind::kEntry);
  EXPECT_EQ(parsed.key_text, key_text(host_key()));
  EXPECT_EQ(parse_known_hosts_line(std::string("\0host", 5)).kind, Kind::kComment);
}

TEST(KnownHostsLine, ReaderSplitsAtNewlinesAndNumbersFromOne) {
  KnownHostsLineReader reader(std::string_view("a\n\nb\r\nlast", 10));
  std::string_view line;
  std::vector<std::pair<size_t, std::string>> seen;
  while (reader.next(line)) seen.emplace_back(reader.line_number(), std::string(line));
  const std::vector<std::pair<size_t, std::string>> want = {{1, "a"}, {2, ""}, {3, "b\r"}, {4, "last"}};
  EXPECT_EQ(seen, want);
  KnownHostsLineReader empty("");
  EXPECT_FALSE(empty.next(line));
  KnownHostsLineReader one_newline("\n");
  EXPECT_TRUE(one_newline.next(line));
  EXPECT_FALSE(one_newline.next(line));
}

TEST(KnownHostsKey, BadKeysAreErrors) {
  for (const std::string& text : std::vector<std::string>{"ssh-ed25519 AAAA", "ssh-ed25519 !!!!", "ssh-rsa " + key_text(host_key()).substr(12),
                           "ECDSA " + key_text(host_key(0, KeyType::kEcdsaP256)).substr(20)}) {
    auto key = parse_known_hosts_key(text);
    ASSERT_FALSE(key.ok()) << text;
    EXPECT_TRUE(key.error().message().starts_with("invalid key")) << key.error().message();
  }
  // Short names are accepted where they say which key it is.
  auto short_name = parse_known_hosts_key("ED25519 " + key_text(host_key()).substr(12));
  ASSERT_TRUE(short_name.ok()) << short_name.error().message();
  EXPECT_EQ(short_name->key.key, host_key());
}

TEST(KnownHostsKey, CertificatesAreReadAndTheirSignatureChecked) {
  Certificate cert = host_cert(host_key(1));
  const std::string text = std::string(cert.type_name()) + " " + base64_encode(cert.blob());
  auto read = parse_known_hosts_key(text);
  ASSERT_TRUE(read.ok()) << read.error().message();
  EXPECT_TRUE(read->key.is_certificate());
  EXPECT_EQ(read->key.key, host_key(1));
  cert.signature.back() ^= 1;
  EXPECT_FALSE(parse_known_hosts_key(std::string(cert.type_name()) + " " + base64_encode(cert.blob())).ok());
}

// ---- host names ----

TEST(KnownHostsNames, PatternsNegationAndCase) {
  EXPECT_EQ(match_known_hosts_hosts("host1,host2", "host2"), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts("host1,host2", "HOST1"), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts("HoSt1", "host1"), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts("host1", "host10"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("*.example.com", "a.example.com"), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts("*.example.com", "example.com"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("host?", "host7"), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts("*.example.com,!bad.example.com", "bad.example.com"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("!bad.example.com,*.example.com", "bad.example.com"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("!bad.example.com", "good.example.com"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("10.0.0.*", "10.0.0.7"), HostMatch::kMatch);
}

TEST(KnownHostsNames, Ports) {
  EXPECT_EQ(known_hosts_name("host", 22), "host");
  EXPECT_EQ(known_hosts_name("host", 0), "host");
  EXPECT_EQ(known_hosts_name("host", 2222), "[host]:2222");
  EXPECT_EQ(known_hosts_name("::1", 2222), "[::1]:2222");
  EXPECT_EQ(match_known_hosts_hosts("[host]:2222", known_hosts_name("host", 2222)), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts("[host]:2222", "host"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("host", known_hosts_name("host", 2222)), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("[*.example.com]:*", "[a.example.com]:2222"), HostMatch::kMatch);
}

TEST(KnownHostsNames, OverlongNamesAndPatternsMatchNothing) {
  const std::string long_pattern(kMaxHostPatternBytes + 1, 'a');
  EXPECT_EQ(match_known_hosts_hosts(std::string(kMaxHostPatternBytes, 'a'), std::string(kMaxHostPatternBytes, 'a')),
            HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts("host," + long_pattern, "host"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("*", std::string(kMaxKnownHostsNameBytes + 1, 'h')), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts("*", std::string(kMaxKnownHostsNameBytes, 'h')), HostMatch::kMatch);
}

TEST(KnownHostsNames, HashedNames) {
  // HMAC-SHA1 with the salt as key, as OpenSSH's host_hash().
  const std::string name = hashed("host1");
  EXPECT_EQ(name, "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|" + name.substr(name.rfind('|') + 1));
  EXPECT_EQ(name.size(), 3 + 28 + 1 + 28u);
  EXPECT_EQ(match_known_hosts_hosts(name, "host1"), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts(name, "host2"), HostMatch::kNoMatch);
  // Hashed names compare exactly: no case folding (ssh lowercases first).
  EXPECT_EQ(match_known_hosts_hosts(name, "HOST1"), HostMatch::kNoMatch);
  // A random salt each time, and still a match.
  auto fresh = hash_known_host_name("host1");
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(*fresh, name);
  EXPECT_EQ(match_known_hosts_hosts(*fresh, "host1"), HostMatch::kMatch);
  EXPECT_EQ(match_known_hosts_hosts(hashed("[host]:2222"), "[host]:2222"), HostMatch::kMatch);
}

TEST(KnownHostsNames, KnownHashFromOpenssh) {
  // `ssh-keygen -H` on a file naming "host1" wrote this (salt and hash from OpenSSH 9.2).
  EXPECT_EQ(match_known_hosts_hosts("|1|QiW6v0A3mhiy0YmhazQ/pQrvaps=|3wEpUwGLHlrdpyZ6J+uYzpEV8Tw=", "host1"),
            HostMatch::kMatch);
}

TEST(KnownHostsNames, BadHashedNames) {
  const std::string hash = hashed("h").substr(32);
  for (const std::string& bad : std::vector<std::string>{"|", "|1|", "|2|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|" + hash, "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=",
                          "|1||" + hash, "|1|AQID|" + hash, "|1|!!!!|" + hash, "|1|" + std::string(1100, 'A') + "|"}) {
    EXPECT_EQ(match_known_hosts_hosts(bad, "h"), HostMatch::kBadHash) << bad;
  }
  // A readable salt with a wrong or non-canonical hash is just no match.
  EXPECT_EQ(match_known_hosts_hosts("|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|AAAA", "h"), HostMatch::kNoMatch);
  EXPECT_EQ(match_known_hosts_hosts(hashed("h") + "x", "h"), HostMatch::kNoMatch);
}

TEST(KnownHostsNames, NewEntriesAsSshWritesThem) {
  auto plain = format_known_hosts_entry("Server.Example.COM", "10.0.0.1", host_key(), false);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, "server.example.com,10.0.0.1 " + key_text(host_key()) + "\n");
  auto port = format_known_hosts_entry(known_hosts_name("Server", 2222), "", host_key(), false);
  ASSERT_TRUE(port.ok());
  EXPECT_EQ(*port, "[server]:2222 " + key_text(host_key()) + "\n");

  auto hashed_lines = format_known_hosts_entry("Server", "10.0.0.1", host_key(), true);
  ASSERT_TRUE(hashed_lines.ok());
  EXPECT_EQ(std::count(hashed_lines->begin(), hashed_lines->end(), '\n'), 2) << *hashed_lines;
  EXPECT_EQ(hashed_lines->find("erver"), std::string::npos);
  // What was written is read back, under each name.
  for (const char* name : {"server", "10.0.0.1", "server.example.com"}) {
    HostKeys keys(name);
    keys.add("kh", *hashed_lines + *plain);
    EXPECT_EQ(keys.entries().size(), std::string_view(name) == "10.0.0.1" ? 2u : 1u) << name;
    EXPECT_EQ(keys.problem_count(), 0u);
    EXPECT_EQ(keys.check(host_key()).status, HostKeyStatus::kKnown) << name;
  }
}

// ---- HostKeys ----

std::string line(const std::string& hosts, const PublicKey& key, const std::string& marker = "") {
  return (marker.empty() ? "" : marker + " ") + hosts + " " + key_text(key) + "\n";
}

TEST(HostKeys, KnownChangedAndUnknown) {
  const std::string file = "# keys\n" + line("server,10.0.0.1", host_key(0)) +
                           line("server", host_key(1, KeyType::kEcdsaP256)) + line("other", host_key(2));
  HostKeys keys("server");
  keys.add("known_hosts", file);
  ASSERT_EQ(keys.entries().size(), 2u);
  EXPECT_EQ(keys.entries()[0].line, 2u);
  EXPECT_EQ(keys.entries()[0].file, "known_hosts");
  EXPECT_EQ(keys.problem_count(), 0u);

  HostKeyCheck known = keys.check(host_key(0));
  EXPECT_EQ(known.status, HostKeyStatus::kKnown);
  EXPECT_EQ(known.entries, std::vector<size_t>{0});
  EXPECT_EQ(keys.check(host_key(1, KeyType::kEcdsaP256)).status, HostKeyStatus::kKnown);

  HostKeyCheck changed = keys.check(host_key(3));
  EXPECT_EQ(changed.status, HostKeyStatus::kChanged);
  EXPECT_EQ(changed.entries, (std::vector<size_t>{0, 1}));

  HostKeys nobody("nobody");
  nobody.add("known_hosts", file);
  EXPECT_TRUE(nobody.entries().empty());
  EXPECT_EQ(nobody.check(host_key(0)).status, HostKeyStatus::kUnknown);
}

TEST(HostKeys, SeveralFilesAndHashedNamesAndPorts) {
  HostKeys keys(known_hosts_name("server", 2222));
  keys.add("user", line("server", host_key(0)));  // port 22 only
  keys.add("system", line(hashed("[server]:2222"), host_key(1)));
  ASSERT_EQ(keys.entries().size(), 1u);
  EXPECT_EQ(keys.entries()[0].file, "system");
  EXPECT_EQ(keys.check(host_key(1)).status, HostKeyStatus::kKnown);
  EXPECT_EQ(keys.check(host_key(0)).status, HostKeyStatus::kChanged);
}

TEST(HostKeys, RevokedWinsOverKnown) {
  HostKeys keys("server");
  keys.add("f", line("server", host_key(0)) + line("*", host_key(0), "@revoked"));
  HostKeyCheck check = keys.check(host_key(0));
  EXPECT_EQ(check.status, HostKeyStatus::kRevoked);
  EXPECT_EQ(check.entries, std::vector<size_t>{1});
  // A revoked line is not a plain line: another key is unknown, not changed.
  HostKeys only_revoked("server");
  only_revoked.add("f", line("server", host_key(0), "@revoked"));
  EXPECT_EQ(only_revoked.check(host_key(1)).status, HostKeyStatus::kUnknown);
}

TEST(HostKeys, CertificatesUnderACa) {
  const PublicKey ca = ca_private(0).public_key();
  HostKeys keys("server.example.com");
  keys.add("f", line("*.example.com", ca, "@cert-authority") + line("server.example.com", host_key(5)));
  Certificate cert = host_cert(host_key(1), 0);
  HostKeyCheck check = keys.check(cert);
  EXPECT_EQ(check.status, HostKeyStatus::kCaSigned);
  EXPECT_EQ(check.entries, std::vector<size_t>{0});
  // Another CA: unknown (plain lines are not consulted for a certificate).
  EXPECT_EQ(keys.check(host_cert(host_key(1), 1)).status, HostKeyStatus::kUnknown);
  // The CA as a plain key is no plain host key.
  EXPECT_EQ(keys.check(ca).status, HostKeyStatus::kChanged);

  // A revoked CA, or a revoked certified key, revokes the certificate.
  HostKeys revoked_ca("server.example.com");
  revoked_ca.add("f", line("*", ca, "@cert-authority") + line("*", ca, "@revoked"));
  EXPECT_EQ(revoked_ca.check(cert).status, HostKeyStatus::kRevoked);
  HostKeys revoked_key("server.example.com");
  revoked_key.add("f", line("*", ca, "@cert-authority") + line("*", host_key(1), "@revoked"));
  EXPECT_EQ(revoked_key.check(cert).status, HostKeyStatus::kRevoked);
}

TEST(HostKeys, BadLinesAreProblemsAndTheRestIsRead) {
  const std::string file = "server ssh-ed25519 AAAA\n"         // 1: matches, bad key
                           "@bogus server " + key_text(host_key(0)) + "\n" +  // 2: bad marker
                           "|1|AQID|AAAA " + key_text(host_key(0)) + "\n" +   // 3: bad hashed name
                           "other ssh-ed25519 AAAA\n" +        // 4: not this host: not decoded
                           "server\n" +                        // 5: no key
                           line("server", host_key(0)) +       // 6: good
                           "server ssh-ed25519 " + key_text(host_key(1)).substr(12) + " c\r\n";  // 7: good, CRLF
  HostKeys keys("server");
  keys.add("kh", file);
  ASSERT_EQ(keys.entries().size(), 2u);
  EXPECT_EQ(keys.entries()[0].line, 6u);
  EXPECT_EQ(keys.entries()[1].line, 7u);
  EXPECT_EQ(keys.entries()[1].comment, "c\r");
  ASSERT_EQ(keys.problem_count(), 4u);
  std::vector<size_t> lines;
  for (const auto& p : keys.problems()) lines.push_back(p.line);
  EXPECT_EQ(lines, (std::vector<size_t>{1, 2, 3, 5}));
  EXPECT_TRUE(keys.problems()[0].describe().starts_with("kh:1: invalid key")) << keys.problems()[0].describe();
}

TEST(HostKeys, DsaLinesStillMakeAnotherKeyChanged) {
  HostKeys keys("old");
  keys.add("kh", "old ssh-dss AAAAB3NzaC1kc3MAAACBAP\n");
  EXPECT_TRUE(keys.entries().empty());
  EXPECT_EQ(keys.problem_count(), 1u);
  EXPECT_EQ(keys.check(host_key(0)).status, HostKeyStatus::kChanged);
}

TEST(HostKeys, ProblemsAreCountedButKeptBounded) {
  std::string file;
  for (size_t i = 0; i < 3 * kMaxKnownHostsProblems; ++i) file += "garbage\n";
  HostKeys keys("h");
  keys.add("kh", file);
  EXPECT_EQ(keys.problem_count(), 3 * kMaxKnownHostsProblems);
  EXPECT_EQ(keys.problems().size(), kMaxKnownHostsProblems);
}

TEST(HostKeys, Files) {
  test::TempDir dir;
  HostKeys keys("server");
  EXPECT_TRUE(keys.add_file(dir.file("missing")).ok());
  test::write_file(dir.file("known_hosts"), line("server", host_key(0)));
  EXPECT_TRUE(keys.add_file(dir.file("known_hosts")).ok());
  ASSERT_EQ(keys.entries().size(), 1u);
  EXPECT_EQ(keys.entries()[0].file, dir.file("known_hosts"));
  Status as_dir = keys.add_file(dir.path().string());
  ASSERT_FALSE(as_dir.ok());
  EXPECT_EQ(as_dir.error().code(), Errc::kIo);
  EXPECT_NE(as_dir.error().message().find("Is a directory"), std::string::npos) << as_dir.error().message();

  auto missing = read_known_hosts_file(dir.file("missing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

}  // namespace
}  // namespace tessera::key
