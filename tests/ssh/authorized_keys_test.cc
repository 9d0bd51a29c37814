// authorized_keys options and lines (server/authorized_keys.h) as sshd 9.2
// parses and combines them: every option, OpenSSH's error words, certificate
// critical options and extensions, the merge of the two, the checks against a
// connection, principals lines, and lines ssh-keygen writes.
#include "server/authorized_keys.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "test_support.h"
#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"

namespace tessera::ssh::server {
namespace {

using key::CertOption;
using key::Certificate;
using key::KeyType;
using key::PrivateKey;

const PrivateKey& test_key(KeyType type, int which = 0) {
  static std::map<std::pair<KeyType, int>, PrivateKey> keys;
  auto it = keys.find({type, which});
  if (it == keys.end()) {
    auto k = PrivateKey::generate(type, type == KeyType::kRsa ? 2048 : 0);
    if (!k.ok()) std::abort();
    it = keys.emplace(std::make_pair(type, which), std::move(k).value()).first;
  }
  return it->second;
}

std::string key_line(const key::PublicKey& k) { return key::format_public_key_line(k, ""); }

std::string error_of(const key::Result<AuthOptions>& r) { return r.ok() ? "(ok)" : r.error().message(); }

key::Bytes string_data(std::string_view s) {
  key::Writer w;
  w.string(s);
  return w.take();
}

Certificate user_cert(std::vector<CertOption> critical, std::vector<CertOption> extensions,
                      key::CertType type = key::CertType::kUser) {
  Certificate c{.key = test_key(KeyType::kEd25519, 1).public_key(), .nonce = {}, .serial = 7, .type = type,
                .key_id = "alice@example", .principals = {"alice"}, .valid_after = 0, .valid_before = UINT64_MAX,
                .critical_options = std::move(critical), .extensions = std::move(extensions), .reserved = {},
                .signature_key = test_key(KeyType::kEd25519, 2).public_key(), .signature = {}};
  key::PrivateKeySigner signer(test_key(KeyType::kEd25519, 2));
  if (!key::sign_certificate(c, signer, "ssh-ed25519").ok()) std::abort();
  return c;
}

// ---- parse_auth_options ----

TEST(AuthOptions, NoOptionsPermitEverything) {
  auto o = parse_auth_options("");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, AuthOptions{});
  EXPECT_TRUE(o->permit_pty && o->permit_port_forwarding && o->permit_agent_forwarding && o->permit_x11_forwarding &&
              o->permit_user_rc);
  EXPECT_FALSE(o->cert_authority || o->restricted || o->require_verify || o->no_require_user_presence);
}

TEST(AuthOptions, EveryFlag) {
  auto o = parse_auth_options(
      "no-pty,no-agent-forwarding,no-port-forwarding,no-X11-forwarding,no-user-rc,no-touch-required,verify-required,"
      "cert-authority");
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_FALSE(o->permit_pty || o->permit_agent_forwarding || o->permit_port_forwarding || o->permit_x11_forwarding ||
               o->permit_user_rc);
  EXPECT_TRUE(o->no_require_user_presence);
  EXPECT_TRUE(o->require_verify);
  EXPECT_TRUE(o->cert_authority);
  // The positive forms turn them back on; later flags win.
  o = parse_auth_options("no-pty,pty,no-user-rc,user-rc,touch-required,no-verify-required,agent-forwarding");
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->permit_pty && o->permit_user_rc && o->permit_agent_forwarding);
  EXPECT_FALSE(o->no_require_user_presence || o->require_verify);
}

TEST(AuthOptions, RestrictThenPermit) {
  auto o = parse_auth_options("restrict,pty,port-forwarding");
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->restricted);
  EXPECT_TRUE(o->permit_pty);
  EXPECT_TRUE(o->permit_port_forwarding);
  EXPECT_FALSE(o->permit_agent_forwarding || o->permit_x11_forwarding || o->permit_user_rc);
  // restrict after a permission takes it away again.
  o = parse_auth_options("pty,restrict");
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->permit_pty);
}

TEST(AuthOptions, NamesAreCaseInsensitive) {
  auto o = parse_auth_options("NO-PTY,Restrict,COMMAND=\"ls\",From=\"10.0.0.0/8\",x11-FORWARDING");
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_FALSE(o->permit_pty);
  EXPECT_TRUE(o->restricted);
  EXPECT_TRUE(o->permit_x11_forwarding);
  EXPECT_EQ(o->force_command, "ls");
  EXPECT_EQ(o->required_from_host_keys, "10.0.0.0/8");
}

TEST(AuthOptions, QuotedValues) {
  auto o = parse_auth_options(R"(command="echo \"hi there\" \\n",principals="a,b",from="*.example.org,!bad.example.org")");
  ASSERT_TRUE(o.ok()) << error_of(o);
  // \" is the only escape: other backslashes stay as they are.
  EXPECT_EQ(o->force_command, R"(echo "hi there" \\n)");
  EXPECT_EQ(o->cert_principals, "a,b");
  EXPECT_EQ(o->required_from_host_keys, "*.example.org,!bad.example.org");
}

TEST(AuthOptions, StopsAtTheFirstBlankBetweenOptions) {
  auto o = parse_auth_options("no-pty,command=\"a b\" ssh-ed25519 AAAA");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->force_command, "a b");
  // Empty options between commas are skipped; a comma before the blank ends the list.
  o = parse_auth_options(",,no-pty,, ssh-ed25519");
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_FALSE(o->permit_pty);
}

TEST(AuthOptions, ErrorsInOpenSshWords) {
  EXPECT_EQ(error_of(parse_auth_options("frobnicate")), "unknown key option");
  EXPECT_EQ(error_of(parse_auth_options("no-pty,frobnicate")), "unknown key option");
  EXPECT_EQ(error_of(parse_auth_options("ptyx")), "unknown key option");
  EXPECT_EQ(error_of(parse_auth_options("no-pty=\"yes\"")), "unknown key option");
  EXPECT_EQ(error_of(parse_auth_options("no-restrict")), "unknown key option");
  EXPECT_EQ(error_of(parse_auth_options("command")), "unknown key option");
  EXPECT_EQ(error_of(parse_auth_options("no-pty,")), "unexpected end-of-options");
  EXPECT_EQ(error_of(parse_auth_options("command=ls")), "missing start quote");
  EXPECT_EQ(error_of(parse_auth_options("command=\"ls")), "missing end quote");
  EXPECT_EQ(error_of(parse_auth_options("command=\"ls\\\"")), "missing end quote");
  EXPECT_EQ(error_of(parse_auth_options("command=\"a\",command=\"b\"")), "multiple \"command\" clauses");
  EXPECT_EQ(error_of(parse_auth_options("from=\"a\",from=\"b\"")), "multiple \"from\" clauses");
  EXPECT_EQ(error_of(parse_auth_options("principals=\"a\",principals=\"b\"")), "multiple \"principals\" clauses");
  EXPECT_EQ(error_of(parse_auth_options("command=\"a\"x")), "unknown key option");
}

TEST(AuthOptions, ExpiryTime) {
  auto o = parse_auth_options("expiry-time=\"20300101Z\"");
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_EQ(o->valid_before, 1893456000u);
  o = parse_auth_options("expiry-time=\"203001010000Z\",expiry-time=\"20291231235959Z\"");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->valid_before, 1893455999u);  // the earlier one
  for (const char* bad : {"2030", "20301301Z", "tomorrow", "", "19700101Z"}) {
    EXPECT_EQ(error_of(parse_auth_options("expiry-time=\"" + std::string(bad) + "\"")), "invalid expires time")
        << bad;
  }
}

TEST(AuthOptions, Environment) {
  auto o = parse_auth_options("environment=\"A=1\",environment=\"B_2=x=y\",environment=\"A=again\"");
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_EQ(o->environment, (std::vector<std::string>{"A=1", "B_2=x=y"}));  // the first A wins
  for (const char* bad : {"NOEQUALS", "=x", "A-B=1", "A B=1"}) {
    EXPECT_EQ(error_of(parse_auth_options("environment=\"" + std::string(bad) + "\"")),
              "invalid environment string")
        << bad;
  }
  std::string many;
  for (size_t i = 0; i <= kMaxEnvironmentOptions + 1; ++i) many += "environment=\"V" + std::to_string(i) + "=1\",";
  many.pop_back();
  EXPECT_EQ(error_of(parse_auth_options(many)), "too many environment strings");
}

TEST(AuthOptions, PermitOpenAndListen) {
  auto o = parse_auth_options(
      "permitopen=\"host.example:22\",permitopen=\"[::1]:80\",permitopen=\"10.0.0.1:*\",permitopen=\"h/443\","
      "permitopen=\"localhost:ssh\",permitlisten=\"8080\",permitlisten=\"localhost:9090\"");
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_EQ(o->permit_open,
            (std::vector<std::string>{"host.example:22", "[::1]:80", "10.0.0.1:*", "h/443", "localhost:ssh"}));
  EXPECT_EQ(o->permit_listen, (std::vector<std::string>{"*:8080", "localhost:9090"}));
  for (const char* bad : {"host", "host:0", "host:65536", "host:-1", "host:no-such-service-here", "host:"}) {
    EXPECT_EQ(error_of(parse_auth_options("permitopen=\"" + std::string(bad) + "\"")), "invalid permission port")
        << bad;
  }
  EXPECT_EQ(error_of(parse_auth_options("permitopen=\"[::1:22\"")), "invalid permission hostname");
  EXPECT_EQ(error_of(parse_auth_options("permitopen=\"[::1]x:22\"")), "invalid permission hostname");
  EXPECT_EQ(error_of(parse_auth_options("permitopen=\"" + std::string(1025, 'h') + ":22\"")),
            "invalid permission hostname");
  EXPECT_EQ(error_of(parse_auth_options("permitlisten=\"0\"")), "invalid permission port");
}

TEST(AuthOptions, Tunnel) {
  auto o = parse_auth_options("tunnel=\"5\"");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->force_tun_device, 5u);
  o = parse_auth_options("tunnel=\"ANY\"");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->force_tun_device, kTunnelAny);
  for (const char* bad : {"x", "-1", "2147483646", ""}) {
    EXPECT_EQ(error_of(parse_auth_options("tunnel=\"" + std::string(bad) + "\"")), "invalid tun device") << bad;
  }
}

TEST(AuthOptions, ANulByteEndsTheText) {
  auto o = parse_auth_options(std::string_view("no-pty\0,frobnicate", 18));
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_FALSE(o->permit_pty);
}

TEST(AuthOptions, SerializeRoundTrip) {
  auto o = parse_auth_options(
      "restrict,pty,verify-required,no-touch-required,cert-authority,principals=\"p\",command=\"c\",from=\"f\","
      "expiry-time=\"20300101Z\",environment=\"A=1\",permitopen=\"h:1\",permitlisten=\"2\",tunnel=\"any\"");
  ASSERT_TRUE(o.ok()) << error_of(o);
  o->required_from_host_cert = "10.0.0.0/8";
  key::Writer w;
  o->serialize(w);
  key::Reader r(w.data());
  auto back = AuthOptions::parse(r);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(*back, *o);
  // Every truncation fails cleanly, and a flag byte of 2 is refused.
  for (size_t n = 0; n < w.size(); ++n) {
    key::Reader part(w.data().subspan(0, n));
    EXPECT_FALSE(AuthOptions::parse(part).ok()) << n;
  }
  key::Bytes bad = w.take();
  bad[0] = 2;
  key::Reader br(bad);
  EXPECT_FALSE(AuthOptions::parse(br).ok());
}

// ---- certificates ----

TEST(CertificateOptions, ExtensionsGrantWhatTheyName) {
  auto o = auth_options_from_certificate(user_cert({}, {{"permit-pty", {}}, {"permit-port-forwarding", {}}}));
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_TRUE(o->permit_pty);
  EXPECT_TRUE(o->permit_port_forwarding);
  EXPECT_FALSE(o->permit_agent_forwarding || o->permit_x11_forwarding || o->permit_user_rc);
  o = auth_options_from_certificate(user_cert({}, {{"no-touch-required", {}}, {"permit-X11-forwarding", {}},
                                                   {"permit-agent-forwarding", {}}, {"permit-user-rc", {}}}));
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->no_require_user_presence && o->permit_x11_forwarding && o->permit_agent_forwarding &&
              o->permit_user_rc);
  EXPECT_FALSE(o->permit_pty);
}

TEST(CertificateOptions, CriticalOptions) {
  auto o = auth_options_from_certificate(user_cert({{"force-command", string_data("/bin/date")},
                                                    {"source-address", string_data("10.0.0.0/8,192.0.2.7")},
                                                    {"verify-required", {}}},
                                                   {}));
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_EQ(o->force_command, "/bin/date");
  EXPECT_EQ(o->required_from_host_cert, "10.0.0.0/8,192.0.2.7");
  EXPECT_TRUE(o->require_verify);
}

TEST(CertificateOptions, Refusals) {
  EXPECT_EQ(error_of(auth_options_from_certificate(user_cert({{"frobnicate", {}}}, {}))),
            "Certificate critical option \"frobnicate\" is not supported");
  // An extension's name is no critical option.
  EXPECT_EQ(error_of(auth_options_from_certificate(user_cert({{"permit-pty", {}}}, {}))),
            "Certificate critical option \"permit-pty\" is not supported");
  EXPECT_EQ(error_of(auth_options_from_certificate(user_cert({{"source-address", string_data("10.0.0.1/8")}}, {}))),
            "Certificate source-address contents invalid");
  EXPECT_EQ(error_of(auth_options_from_certificate(user_cert({{"source-address", string_data("*.example")}}, {}))),
            "Certificate source-address contents invalid");
  key::Bytes extra = string_data("/bin/true");
  extra.push_back(0);
  EXPECT_EQ(error_of(auth_options_from_certificate(user_cert({{"force-command", extra}}, {}))),
            "Certificate option \"force-command\" corrupt (extra data)");
  EXPECT_EQ(error_of(auth_options_from_certificate(user_cert({{"verify-required", {1}}}, {}))),
            "Certificate option \"verify-required\" corrupt (extra data)");
  EXPECT_EQ(error_of(auth_options_from_certificate(user_cert({}, {{"permit-pty", {0, 0, 0, 0}}}))),
            "Certificate option \"permit-pty\" corrupt (extra data)");
  EXPECT_NE(error_of(auth_options_from_certificate(user_cert({{"force-command", {0, 0}}}, {}))).find(
                "Unable to parse \"force-command\" section"),
            std::string::npos);
  EXPECT_FALSE(auth_options_from_certificate(user_cert({}, {}, key::CertType::kHost)).ok());
}

TEST(CertificateOptions, UnknownExtensionsAreNotedAndIgnored) {
  std::vector<std::string> notes;
  auto o = auth_options_from_certificate(user_cert({}, {{"login@example.com", {1, 2}}, {"permit-pty", {}}}), &notes);
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_TRUE(o->permit_pty);
  EXPECT_EQ(notes, (std::vector<std::string>{"Certificate extension \"login@example.com\" is not supported"}));
}

// ---- merge ----

TEST(MergeOptions, TheMoreRestrictiveWins) {
  auto file = parse_auth_options("no-pty,from=\"10.0.0.0/8\",environment=\"A=1\",expiry-time=\"20300101Z\"");
  ASSERT_TRUE(file.ok());
  AuthOptions cert = AuthOptions::nothing_permitted();
  cert.permit_pty = cert.permit_agent_forwarding = true;
  cert.required_from_host_cert = "10.1.0.0/16";
  cert.require_verify = true;
  cert.force_command = "/bin/date";
  auto m = merge_auth_options(*file, cert);
  ASSERT_TRUE(m.ok()) << error_of(m);
  EXPECT_FALSE(m->permit_pty);               // refused by the file
  EXPECT_TRUE(m->permit_agent_forwarding);   // granted by both
  EXPECT_FALSE(m->permit_port_forwarding);   // not granted by the certificate
  EXPECT_TRUE(m->require_verify);            // asked by one
  EXPECT_EQ(m->force_command, "/bin/date");  // from whichever has it
  EXPECT_EQ(m->required_from_host_keys, "10.0.0.0/8");
  EXPECT_EQ(m->required_from_host_cert, "10.1.0.0/16");
  EXPECT_EQ(m->environment, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(m->valid_before, 1893456000u);

  AuthOptions later = cert;
  later.valid_before = 1800000000;
  m = merge_auth_options(*file, later);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->valid_before, 1800000000u);
}

TEST(MergeOptions, ForcedCommandsMustAgree) {
  AuthOptions a, b;
  a.force_command = "/bin/date";
  b.force_command = "/bin/true";
  EXPECT_EQ(error_of(merge_auth_options(a, b)), "forced command options do not match");
  b.force_command = "/bin/date";
  auto m = merge_auth_options(a, b);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->force_command, "/bin/date");
}

TEST(MergeOptions, PrimaryListsComeFirstAndCaFlagsGo) {
  auto primary = parse_auth_options("cert-authority,principals=\"x\",restrict,permitopen=\"a:1\",tunnel=\"3\"");
  auto additional = parse_auth_options("permitopen=\"b:2\",permitlisten=\"9\",environment=\"B=2\",tunnel=\"4\"");
  ASSERT_TRUE(primary.ok() && additional.ok());
  auto m = merge_auth_options(*primary, *additional);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->permit_open, (std::vector<std::string>{"a:1"}));
  EXPECT_EQ(m->permit_listen, (std::vector<std::string>{"*:9"}));
  EXPECT_EQ(m->environment, (std::vector<std::string>{"B=2"}));
  EXPECT_EQ(m->force_tun_device, 3u);
  EXPECT_FALSE(m->cert_authority);
  EXPECT_FALSE(m->cert_principals.has_value());
  EXPECT_FALSE(m->restricted);
}

// ---- authorise ----

const RemoteClient kClient{"192.0.2.7", "client.example.org"};

TEST(AuthoriseOptions, Expiry) {
  AuthOptions o;
  o.valid_before = 1000;
  LogLines log;
  EXPECT_TRUE(authorise_auth_options(o, false, "alice", kClient, 1000, "f:1", log));
  EXPECT_FALSE(authorise_auth_options(o, false, "alice", kClient, 1001, "f:1", log));
  EXPECT_EQ(log.back().text.rfind("f:1: entry expired at ", 0), 0u);
}

TEST(AuthoriseOptions, CertAuthorityAndPrincipals) {
  LogLines log;
  auto ca = parse_auth_options("cert-authority");
  EXPECT_FALSE(authorise_auth_options(*ca, false, "alice", kClient, 0, "p:1", log));
  EXPECT_EQ(log.back().text, "p:1: cert-authority flag invalid here");
  EXPECT_TRUE(authorise_auth_options(*ca, true, "alice", kClient, 0, "p:1", log));
  auto principals = parse_auth_options("principals=\"a\"");
  EXPECT_FALSE(authorise_auth_options(*principals, true, "alice", kClient, 0, "p:2", log));
  EXPECT_EQ(log.back().text, "p:2: principals on non-CA key");
}

TEST(AuthoriseOptions, FromAndSourceAddress) {
  LogLines log;
  AuthOptions o;
  for (const char* ok : {"192.0.2.7", "192.0.2.0/24", "*.example.org", "CLIENT.example.org", "10.0.0.0/8,192.0.2.*"}) {
    o.required_from_host_keys = ok;
    EXPECT_TRUE(authorise_auth_options(o, false, "alice", kClient, 0, "f:1", log)) << ok;
  }
  for (const char* no : {"10.0.0.0/8", "!192.0.2.7,*", "*.example.org,!client.example.org", "other"}) {
    o.required_from_host_keys = no;
    EXPECT_FALSE(authorise_auth_options(o, false, "alice", kClient, 0, "f:1", log)) << no;
  }
  EXPECT_EQ(log.back().text,
            "f:1: Authentication tried for alice with correct key but not from a permitted host "
            "(host=client.example.org, ip=192.0.2.7, required=other).");
  o.required_from_host_keys = "192.0.2.1/24";
  log.clear();
  EXPECT_FALSE(authorise_auth_options(o, false, "alice", kClient, 0, "f:1", log));
  EXPECT_EQ(log[0].text, "f:1: invalid from criteria");

  AuthOptions c;
  c.required_from_host_cert = "192.0.2.0/24";
  EXPECT_TRUE(authorise_auth_options(c, false, "alice", kClient, 0, "cert", log));
  c.required_from_host_cert = "198.51.100.0/24";
  EXPECT_FALSE(authorise_auth_options(c, false, "alice", kClient, 0, "cert", log));
  EXPECT_EQ(log.back().text,
            "cert: Authentication tried for alice with valid certificate but not from a permitted source address "
            "(192.0.2.7).");
}

// ---- lines ----

TEST(AuthorizedKeysLine, PlainKeyWithAndWithoutOptions) {
  const key::PublicKey& k = test_key(KeyType::kEd25519).public_key();
  auto line = read_authorized_keys_line(key_line(k) + " alice@laptop");
  ASSERT_TRUE(line.ok()) << line.error().message();
  ASSERT_TRUE(line->has_value());
  EXPECT_EQ((*line)->key.key, k);
  EXPECT_TRUE((*line)->options_text.empty());
  EXPECT_EQ((*line)->options, AuthOptions{});

  line = read_authorized_keys_line("  \tno-pty,command=\"echo a b\" " + key_line(k) + " comment with spaces\n");
  ASSERT_TRUE(line.ok()) << line.error().message();
  EXPECT_EQ((*line)->key.key, k);
  EXPECT_EQ((*line)->options_text, "no-pty,command=\"echo a b\"");
  EXPECT_EQ((*line)->options.force_command, "echo a b");
  EXPECT_FALSE((*line)->options.permit_pty);
  // CRLF files, and several blanks between the parts.
  line = read_authorized_keys_line("restrict \t " + key_line(k) + "\r\n");
  ASSERT_TRUE(line.ok()) << line.error().message();
  EXPECT_TRUE((*line)->options.restricted);
}

TEST(AuthorizedKeysLine, BlankAndCommentLines) {
  for (const char* text : {"", "   ", "\t\n", "# a comment", "   # indented comment", "\n"}) {
    auto line = read_authorized_keys_line(text);
    ASSERT_TRUE(line.ok()) << text;
    EXPECT_FALSE(line->has_value()) << text;
  }
}

TEST(AuthorizedKeysLine, Errors) {
  const std::string k = key_line(test_key(KeyType::kEd25519).public_key());
  auto error = [](const std::string& text) {
    auto line = read_authorized_keys_line(text);
    return line.ok() ? std::string("(ok)") : line.error().message();
  };
  EXPECT_EQ(error("command=\"unterminated " + k), "invalid key option string");
  EXPECT_EQ(error("frobnicate " + k), "bad key options: unknown key option");
  EXPECT_EQ(error("no-pty foo bar"), "no key: unknown key type");
  EXPECT_EQ(error("no-pty,command=\"x\""), "no key: no key data after the key type");
  EXPECT_EQ(error("no-pty ssh-ed25519 AAAA!!!!"), "no key: " + key::base64_decode("AAAA!!!!").error().message());
  EXPECT_EQ(error("ssh-ed25519"), "no key: no key data after the key type");
  EXPECT_EQ(error(std::string(kMaxAuthorizedKeysLineBytes + 1, 'a')), "line too long");
  // The line's type name must be the blob's.
  const std::string ecdsa = key_line(test_key(KeyType::kEcdsaP256).public_key());
  EXPECT_NE(error("ssh-ed25519 " + ecdsa.substr(ecdsa.find(' ') + 1)).find("no key:"), std::string::npos);
}

TEST(AuthorizedKeysLine, ANulByteEndsTheLine) {
  const std::string k = key_line(test_key(KeyType::kEd25519).public_key());
  auto line = read_authorized_keys_line(k + std::string(" comment\0garbage \x01\x02", 19));
  ASSERT_TRUE(line.ok()) << line.error().message();
  ASSERT_TRUE(line->has_value());
  line = read_authorized_keys_line(std::string("\0", 1) + k);
  ASSERT_TRUE(line.ok());
  EXPECT_FALSE(line->has_value());
}

TEST(AuthorizedKeysLine, OnlyTypeSkipsOtherKeysUndecoded) {
  const std::string k = key_line(test_key(KeyType::kEd25519).public_key());
  auto line = read_authorized_keys_line("no-pty " + k, "ssh-ed25519");
  ASSERT_TRUE(line.ok());
  line = read_authorized_keys_line("no-pty " + k, "ssh-rsa");
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.error().message().rfind("no key:", 0), 0u);
  // An undecodable key of another type is never decoded: it is no key.
  line = read_authorized_keys_line("no-pty ssh-rsa AAAA!!!!", "ssh-ed25519");
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.error().message(), "no key: not a ssh-ed25519 key");
}

TEST(AuthorizedKeysLine, CertificateLines) {
  const Certificate cert = user_cert({}, {});
  const std::string text = std::string(cert.type_name()) + " " + key::base64_encode(cert.blob());
  auto line = read_authorized_keys_line("cert-authority " + text);
  ASSERT_TRUE(line.ok()) << line.error().message();
  EXPECT_TRUE((*line)->key.is_certificate());
  // A certificate whose signature does not verify is no key.
  Certificate forged = cert;
  forged.serial = 8;
  line = read_authorized_keys_line(std::string(forged.type_name()) + " " + key::base64_encode(forged.blob()));
  EXPECT_FALSE(line.ok());
}

TEST(PrincipalsLine, Forms) {
  auto line = read_principals_line("alice");
  ASSERT_TRUE(line.ok() && line->has_value());
  EXPECT_EQ((*line)->principal, "alice");
  EXPECT_EQ((*line)->options, AuthOptions{});

  line = read_principals_line("  command=\"/usr/bin/backup --all\",no-pty   backup-operator  \t\n");
  ASSERT_TRUE(line.ok()) << line.error().message();
  EXPECT_EQ((*line)->principal, "backup-operator");
  EXPECT_EQ((*line)->options.force_command, "/usr/bin/backup --all");
  EXPECT_FALSE((*line)->options.permit_pty);

  line = read_principals_line("no-pty\tops");
  ASSERT_TRUE(line.ok()) << line.error().message();
  EXPECT_EQ((*line)->principal, "ops");

  line = read_principals_line("alice # the admin");
  ASSERT_TRUE(line.ok());
  EXPECT_EQ((*line)->principal, "alice");

  for (const char* empty : {"", "# comment", "   #x", "  \n"}) {
    line = read_principals_line(empty);
    ASSERT_TRUE(line.ok()) << empty;
    EXPECT_FALSE(line->has_value()) << empty;
  }
  line = read_principals_line("frobnicate alice");
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.error().message(), "bad principals options: unknown key option");
  // '#' cuts anywhere, even inside a quoted value.
  line = read_principals_line("command=\"x y#z\" alice");
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.error().message(), "bad principals options: missing end quote");
}

TEST(PrincipalsOption, ExactNamesFromCommaLists) {
  Certificate cert = user_cert({}, {});
  cert.principals = {"alice", "ops,admins"};
  EXPECT_TRUE(principals_option_matches("bob,alice", cert));
  EXPECT_TRUE(principals_option_matches("admins", cert));
  EXPECT_FALSE(principals_option_matches("ali*", cert));
  EXPECT_FALSE(principals_option_matches("bob", cert));
  cert.principals.clear();
  EXPECT_FALSE(principals_option_matches("alice", cert));
}

// ---- what OpenSSH's ssh-keygen writes ----

class SshKeygenLines : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_program("ssh-keygen")) GTEST_SKIP() << "ssh-keygen is not installed";
  }
  test::TempDir dir_;
};

TEST_F(SshKeygenLines, KeysOfEveryTypeParseWithOptions) {
  for (const char* type : {"ed25519", "ecdsa", "rsa"}) {
    const std::string file = dir_.file(std::string("id_") + type);
    ASSERT_EQ(test::run({"ssh-keygen", "-q", "-N", "", "-t", type, "-C", "user@host", "-f", file}).exit_code, 0);
    const std::string pub = test::read_file(file + ".pub");
    auto plain = read_authorized_keys_line(pub);
    ASSERT_TRUE(plain.ok() && plain->has_value()) << type;
    auto line = read_authorized_keys_line(
        "restrict,pty,command=\"/usr/bin/rsync --server\",from=\"10.0.0.0/8,*.example.org\","
        "expiry-time=\"20991231\",permitopen=\"localhost:5432\",environment=\"LANG=C\" " +
        pub);
    ASSERT_TRUE(line.ok()) << type << ": " << line.error().message();
    EXPECT_EQ((*line)->key.key, (*plain)->key.key);
    EXPECT_EQ((*line)->options.force_command, "/usr/bin/rsync --server");
    EXPECT_TRUE((*line)->options.permit_pty);
    EXPECT_FALSE((*line)->options.permit_port_forwarding);
    EXPECT_NE((*line)->options.valid_before, 0u);
  }
}

TEST_F(SshKeygenLines, CertificateOptionsFromSshKeygen) {
  const std::string ca = dir_.file("ca"), id = dir_.file("id");
  ASSERT_EQ(test::run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", ca}).exit_code, 0);
  ASSERT_EQ(test::run({"ssh-keygen", "-q", "-N", "", "-t", "ecdsa", "-f", id}).exit_code, 0);
  auto r = test::run({"ssh-keygen", "-q", "-s", ca, "-I", "alice-cert", "-n", "alice,ops", "-z", "42", "-O", "clear",
                      "-O", "permit-pty", "-O", "permit-agent-forwarding", "-O", "force-command=/bin/date -u",
                      "-O", "source-address=10.0.0.0/8,192.0.2.7", "-O", "verify-required", "-O",
                      "extension:login@example.com=x", id + ".pub"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto line = read_authorized_keys_line(test::read_file(id + "-cert.pub"));
  ASSERT_TRUE(line.ok()) << line.error().message();
  ASSERT_TRUE((*line)->key.is_certificate());
  const Certificate& cert = *(*line)->key.certificate;
  EXPECT_EQ(cert.serial, 42u);
  std::vector<std::string> notes;
  auto o = auth_options_from_certificate(cert, &notes);
  ASSERT_TRUE(o.ok()) << error_of(o);
  EXPECT_TRUE(o->permit_pty);
  EXPECT_TRUE(o->permit_agent_forwarding);
  EXPECT_FALSE(o->permit_port_forwarding || o->permit_x11_forwarding || o->permit_user_rc);
  EXPECT_EQ(o->force_command, "/bin/date -u");
  EXPECT_EQ(o->required_from_host_cert, "10.0.0.0/8,192.0.2.7");
  EXPECT_TRUE(o->require_verify);
  EXPECT_EQ(notes, (std::vector<std::string>{"Certificate extension \"login@example.com\" is not supported"}));
  EXPECT_TRUE(principals_option_matches("ops", cert));
}

}  // namespace
}  // namespace tessera::ssh::server
