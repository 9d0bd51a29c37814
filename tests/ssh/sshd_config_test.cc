// sshd_config reading (ssh/src/server/sshd_config.h): "sshd -T" output compared
// with OpenSSH's own sshd for every implemented keyword, with and without -C
// and -o; lines sshd rejects; what tessera-sshd ignores or refuses; Match,
// Include and the address lists.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "server/sshd_config.h"
#include "config/internal.h"
#include "server/sshd_config_internal.h"
#include "test_support.h"

namespace tessera::ssh::server {
namespace {

using test::TempDir;

constexpr const char* kSshd = "/usr/sbin/sshd";

bool have_sshd() { return ::access(kSshd, X_OK) == 0; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::string keyword_of(const std::string& line) { return line.substr(0, line.find(' ')); }

std::string errors_of(const key::Error& e) { return e.message(); }

// A directory with a host key and its certificate, for sshd -T (which loads
// them) and for configs that name them.
class SshdDir {
 public:
  SshdDir() {
    host_key = dir.file("hk");
    ca_key = dir.file("ca");
    test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", host_key});
    test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca_key});
    test::run({"ssh-keygen", "-q", "-s", ca_key, "-h", "-I", "host", host_key + ".pub"});
    host_cert = host_key + "-cert.pub";
  }
  // The lines every compared config starts with: a host key for sshd -T,
  // and the two methods tessera-sshd never offers set to the only value it
  // accepts (OpenSSH's default is yes).
  std::string preamble() const {
    return "HostKey " + host_key + "\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n";
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::string path = dir.file(name);
    test::write_file(path, text);
    return path;
  }

  TempDir dir;
  std::string host_key, ca_key, host_cert;
};

struct Comparison {
  std::string openssh;         // sshd -T's output, or "exit N: stderr"
  std::string tessera;         // our dump, or "error: ..."
  std::vector<std::string> openssh_lines, tessera_lines;
};

// sshd -T -f FILE [-o ...] [-C spec] against load + resolve + dump.
Comparison compare(const SshdDir& d, const std::string& body, const std::vector<std::string>& overrides = {},
                   const std::string& spec = "") {
  std::string path = d.write("sshd_config", d.preamble() + body);
  std::vector<std::string> argv = {kSshd, "-T", "-f", path};
  for (const std::string& o : overrides) {
    argv.push_back("-o");
    argv.push_back(o);
  }
  if (!spec.empty()) {
    argv.push_back("-C");
    argv.push_back(spec);
  }
  test::CommandResult sshd = test::run(argv);
  Comparison c;
  c.openssh = sshd.exit_code == 0 ? sshd.out : "exit " + std::to_string(sshd.exit_code) + ": " + sshd.err;

  LoadOptions options;
  options.overrides = overrides;
  options.algorithms = openssh_server_algorithms();
  auto file = load_sshd_config(path, options);
  if (!file.ok()) {
    c.tessera = "error: " + errors_of(file.error());
    return c;
  }
  std::optional<MatchContext> context;
  if (!spec.empty()) {
    auto parsed = parse_match_spec(spec);
    if (!parsed.ok()) {
      c.tessera = "error: " + errors_of(parsed.error());
      return c;
    }
    context = *parsed;
  }
  auto resolved = resolve(*file, context ? &*context : nullptr);
  if (!resolved.ok()) {
    c.tessera = "error: " + errors_of(resolved.error());
    return c;
  }
  c.tessera = dump_sshd_config(*resolved);
  c.tessera_lines = lines_of(c.tessera);
  std::set<std::string> ours;
  for (const std::string& line : c.tessera_lines) ours.insert(keyword_of(line));
  if (sshd.exit_code == 0) {
    for (const std::string& line : lines_of(sshd.out)) {
      if (ours.count(keyword_of(line)) != 0) c.openssh_lines.push_back(line);
    }
  }
  return c;
}

void expect_same(const SshdDir& d, const std::string& body, const std::vector<std::string>& overrides = {},
                 const std::string& spec = "") {
  Comparison c = compare(d, body, overrides, spec);
  ASSERT_FALSE(c.openssh.starts_with("exit ")) << c.openssh << "\nconfig:\n" << body;
  ASSERT_FALSE(c.tessera.starts_with("error:")) << c.tessera << "\nconfig:\n" << body;
  if (c.openssh_lines == c.tessera_lines) return;
  std::string diff;
  for (const std::string& line : c.openssh_lines) {
    if (std::find(c.tessera_lines.begin(), c.tessera_lines.end(), line) == c.tessera_lines.end()) {
      diff += "  openssh only: " + line + "\n";
    }
  }
  for (const std::string& line : c.tessera_lines) {
    if (std::find(c.openssh_lines.begin(), c.openssh_lines.end(), line) == c.openssh_lines.end()) {
      diff += "  tessera only: " + line + "\n";
    }
  }
  if (diff.empty()) diff = "  same lines, different order\n";
  ADD_FAILURE() << "sshd -T differs" << (spec.empty() ? "" : " for -C " + spec) << ":\n" << diff << "config:\n" << body;
}

// Both reject the config (sshd exits non-zero, we fail to load or resolve).
void expect_both_reject(const SshdDir& d, const std::string& body, const std::vector<std::string>& overrides = {},
                        const std::string& spec = "") {
  Comparison c = compare(d, body, overrides, spec);
  EXPECT_TRUE(c.openssh.starts_with("exit ")) << "sshd accepted:\n" << body;
  EXPECT_TRUE(c.tessera.starts_with("error:")) << "tessera accepted:\n" << body;
}

class SshdConfigDump : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_sshd()) GTEST_SKIP() << "needs OpenSSH's /usr/sbin/sshd";
  }
  SshdDir d;
};

TEST_F(SshdConfigDump, DefaultsMatchOpenSsh) { expect_same(d, ""); }

TEST_F(SshdConfigDump, EveryImplementedKeywordMatchesOpenSsh) {
  expect_same(d, R"(Port 2222
Port 2223
AddressFamily inet
ListenAddress 127.0.0.1
ListenAddress 127.0.0.2:2300
HostCertificate )" + d.host_cert + R"(
HostKeyAgent /run/agent.sock
PidFile /run/tessera-sshd.pid
ModuliFile /etc/ssh/moduli.test
LoginGraceTime 1m30s
PermitRootLogin forced-commands-only
SyslogFacility LOCAL3
LogLevel DEBUG2
PubkeyAuthentication yes
PubkeyAcceptedAlgorithms +ssh-rsa,ssh-dss
HostKeyAlgorithms ^rsa-sha2-256
CASignatureAlgorithms -rsa*
StrictModes no
MaxAuthTries 3
MaxSessions 4
MaxStartups 5:20:30
PerSourceMaxStartups 7
PerSourceNetBlockSize 24:56
ClientAliveInterval 15
ClientAliveCountMax 5
TCPKeepAlive no
AllowAgentForwarding no
AllowTcpForwarding local
AllowStreamLocalForwarding remote
GatewayPorts clientspecified
PermitOpen 127.0.0.1:80 [::1]:443 *:8080 host:*
PermitListen 2000 localhost:3000
Subsystem sftp /usr/lib/openssh/sftp-server -f AUTH -l INFO
Subsystem other internal-sftp
ForceCommand /usr/bin/true --flag "quoted arg"
AcceptEnv LANG LC_*
AcceptEnv TZ
SetEnv A=1 B="two words"
SetEnv C=3
PermitUserEnvironment LANG,TZ
RekeyLimit 1G 1h
Ciphers aes256-ctr,aes128-gcm@openssh.com
MACs hmac-sha2-512-etm@openssh.com
KexAlgorithms -diffie-hellman*
Banner /etc/issue.net
PrintMotd no
PermitTTY no
ChrootDirectory none
DisableForwarding yes
ExposeAuthInfo yes
UseDNS yes
VersionAddendum tessera test build
StreamLocalBindUnlink yes
StreamLocalBindMask 022
AuthenticationMethods publickey
AuthorizedKeysFile /etc/ssh/keys/%u .ssh/authorized_keys
AuthorizedPrincipalsFile /etc/ssh/principals/%u
TrustedUserCAKeys /etc/ssh/user_ca.pub
RevokedKeys /etc/ssh/revoked
AllowUsers alice bob@192.0.2.0/24 carol@*.example.com
DenyUsers mallory
AllowGroups staff wheel
DenyGroups nobody
FingerprintHash md5
RequiredRSASize 2048
UnusedConnectionTimeout 10m
)");
}


TEST_F(SshdConfigDump, ValueSpellingsMatchOpenSsh) {
  expect_same(d, "PermitRootLogin prohibit-password\nAllowTcpForwarding all\nAllowStreamLocalForwarding no\n"
                 "GatewayPorts yes\nAddressFamily inet6\nLogLevel DEBUG\nSyslogFacility authpriv\n"
                 "MaxStartups 7\nPerSourceNetBlockSize 16\nRekeyLimit 64K none\nStreamLocalBindMask 0\n"
                 "FingerprintHash SHA1\nPermitUserEnvironment yes\nVersionAddendum none\nUnusedConnectionTimeout 0\n"
                 "PermitOpen none\nPermitListen any\nKeepAlive no\nDSAAuthentication yes\n"
                 "ChallengeResponseAuthentication no\nPubkeyAcceptedKeyTypes ssh-ed25519\n");
  expect_same(d, "LoginGraceTime 0\nClientAliveInterval 1w2d3h4m5s\nRekeyLimit default 30\nMaxStartups 1x\n"
                 "PerSourceMaxStartups none\nPermitRootLogin YES\nPubkeyAuthentication No\nLogLevel quiet\n");
  expect_same(d, "ListenAddress [::1]:2200\nListenAddress ::1\nListenAddress 127.0.0.1:ssh\nPort 2201\n"
                 "ListenAddress localhost\n");
  expect_same(d, "AuthenticationMethods publickey publickey\nAllowUsers *@10.0.0.0/8,!10.1.0.0/16 root@::1\n");
}

TEST_F(SshdConfigDump, FirstValueWinsListsAccumulateAsInOpenSsh) {
  expect_same(d, R"(LoginGraceTime 10
LoginGraceTime 20
AuthorizedKeysFile .ssh/one
AuthorizedKeysFile .ssh/two .ssh/three
AcceptEnv A
AcceptEnv B C
SetEnv X=1 Y=2 X=3
SetEnv Z=4
AllowUsers a
AllowUsers b
HostCertificate )" + d.host_cert + R"(
HostKey )" + d.host_key + R"(
Ciphers aes128-ctr
Ciphers aes256-ctr
PermitOpen a:1
PermitOpen b:2
MaxStartups 3:10:9
MaxStartups 4:20:8
PerSourceMaxStartups 5
PerSourceMaxStartups 6
StreamLocalBindMask 011
StreamLocalBindMask 022
FingerprintHash md5
FingerprintHash sha512
RekeyLimit 1M
RekeyLimit 2M 5
UnusedConnectionTimeout 5
UnusedConnectionTimeout none
Subsystem a /bin/a
Subsystem b /bin/b
)");
}

TEST_F(SshdConfigDump, CommandLineOptionsComeFirstAsInOpenSsh) {
  std::vector<std::string> o = {"PermitTTY=no", "MaxSessions 7", "Port=2222", "AllowUsers a", "LogLevel=ERROR",
                                "AcceptEnv X"};
  expect_same(d, "Port 23\nPermitTTY yes\nMaxSessions 3\nAllowUsers b\nAcceptEnv Y\n", o);
  // A Match block applies over -o values, as in sshd.
  expect_same(d, "Match all\n  PermitTTY yes\n  MaxSessions 4\n", o);
  expect_same(d, "Match User alice\n  MaxSessions 4\n", o, "user=alice");
}

TEST_F(SshdConfigDump, MatchBlocksMatchOpenSshForEachConnection) {
  const std::string config = R"(MaxSessions 2
Banner /etc/banner.global
AllowUsers global
Match User alice,bob
  MaxSessions 5
  PermitTTY no
  AllowUsers alice
  ForceCommand /bin/alice
Match User alice
  MaxSessions 6
  PermitTTY yes
  Banner none
Match Group root
  ClientAliveInterval 99
  ForceCommand none
Match Host *.example.com,!bad.example.com
  AllowTcpForwarding no
  AuthorizedKeysFile /etc/keys/%u
Match Address 192.0.2.0/24,!192.0.2.128/25
  PermitOpen 10.0.0.1:22
  PubkeyAcceptedAlgorithms -ssh-rsa*
Match LocalAddress 198.51.100.1 LocalPort 2222
  GatewayPorts yes
  RekeyLimit 1G 10m
Match RDomain vrf*
  DisableForwarding yes
Match User carol Address 203.0.113.*
  PermitRootLogin no
  AuthenticationMethods publickey
Match all
  LogLevel VERBOSE
)";
  const std::vector<std::string> specs = {
      "user=alice,lport=22",
      "user=bob,host=a.example.com,addr=192.0.2.5,lport=22",
      "user=root,host=bad.example.com,addr=192.0.2.200,lport=22",
      "user=carol,addr=203.0.113.9,laddr=198.51.100.1,lport=2222",
      "user=dave,laddr=198.51.100.1,lport=22,rdomain=vrf1",
      "host=x.example.com,lport=2222",
      "addr=2001:db8::1,lport=2222",
  };
  for (const std::string& spec : specs) expect_same(d, config, {}, spec);
  // Without the local port, sshd cannot test "Match LocalPort" even in test mode.
  expect_both_reject(d, config, {}, "user=alice");
}

TEST_F(SshdConfigDump, IncludeMatchesOpenSsh) {
  d.write("inc1.conf", "MaxSessions 3\nMatch User alice\n  MaxAuthTries 2\n");
  d.write("inc2.conf", "ClientAliveInterval 7\n");
  d.write("inner.conf", "PermitTTY no\nMatch User bob\n  MaxAuthTries 9\n");
  const std::string dir = d.dir.path().string();
  const std::string config = "Include " + dir + "/inc*.conf\nMaxSessions 8\nMatch User alice\n  Include " + dir +
                             "/inner.conf\n  MaxStartups 3\n";
  // MaxStartups is global only: sshd refuses it there, as do we.
  expect_both_reject(d, config);
  const std::string ok = "Include " + dir + "/inc*.conf\nMaxSessions 8\nMatch User alice\n  Include " + dir +
                         "/inner.conf\n  LogLevel ERROR\nMatch all\n  Include " + dir + "/nothing-here-*.conf\n";
  expect_same(d, ok);
  expect_same(d, ok, {}, "user=alice");
  expect_same(d, ok, {}, "user=bob");
}

TEST_F(SshdConfigDump, TheSameLinesAreRejected) {
  const std::vector<std::string> bad = {
      "Port 0", "Port x", "Port", "ListenAddress [::1", "ListenAddress 1.2.3.4:0", "ListenAddress 1.2.3.4 rdomain 1",
      "ListenAddress 1.2.3.4 foo", "LoginGraceTime x", "PermitRootLogin maybe", "MaxStartups 10:30",
      "MaxStartups 10:30:5", "MaxStartups 0", "MaxStartups 5:0:9", "PerSourceNetBlockSize 33",
      "PerSourceNetBlockSize 8:129", "PerSourceMaxStartups x", "MaxAuthTries -1", "MaxSessions 99999999999",
      "ClientAliveCountMax x", "SyslogFacility LOCAL9", "LogLevel LOUD", "Ciphers aes128-ctr,bogus", "Ciphers aes*",
      "MACs nope", "KexAlgorithms nope", "PubkeyAcceptedAlgorithms nope", "HostKeyAlgorithms +nope",
      "AllowUsers a@1.2.3.4/33", "AllowUsers @", "AllowUsers a@1.2.3.4,", "AllowUsers a@10.0.0.1/8", "AllowGroups \"\"", "AcceptEnv A=B", "SetEnv NOEQUALS",
      "PermitOpen host", "PermitOpen host:0", "PermitListen 0", "StreamLocalBindMask x",
      "FingerprintHash sha3", "RekeyLimit 10", "RekeyLimit x", "RekeyLimit 1G x", "AuthenticationMethods nope",
      "AuthenticationMethods any publickey", "AuthenticationMethods \"\"", "Subsystem sftp", "Match",
      "Match Foo bar", "Match User", "Match all User x", "Match Address 10.0.0.1/8", "Match LocalPort x",
      "Bogus yes", "PermitTTY", "PermitTTY \"yes", "PermitTTY yes no", "Banner", "TCPKeepAlive maybe",
      "UnusedConnectionTimeout x", "UnusedConnectionTimeout none x", "VersionAddendum \"a",
      "Include", "RDomain %D", "IPQoS bogus", "PermitUserEnvironment \"\"",
  };
  for (const std::string& line : bad) {
    SCOPED_TRACE(line);
    expect_both_reject(d, line + "\n");
  }
  expect_both_reject(d, "Subsystem sftp /a\nSubsystem sftp /b\n");
  expect_both_reject(d, "Match User x\n  Port 22\n");
  expect_both_reject(d, "AuthenticationMethods publickey\nAuthenticationMethods any\n");
  expect_both_reject(d, "PubkeyAuthentication no\nAuthenticationMethods publickey\n");
  expect_both_reject(d, "Match LocalPort 22\n  MaxSessions 1\n");
  expect_both_reject(d, "Match User x\n  Include /nonexistent\n", {"Include /x"});
  expect_both_reject(d, "", {"Match all"});
  expect_both_reject(d, "", {"Port x"});
}

TEST_F(SshdConfigDump, TheSameLinesAreAccepted) {
  const std::vector<std::string> good = {
      "Port ssh", "ListenAddress 127.0.0.1:22", "ListenAddress [::1]:22", "LoginGraceTime 2m", "MaxStartups +5:50:9",
      "MaxStartups 5:50:9x", "PerSourceNetBlockSize 24:", "StreamLocalBindMask 08", "StreamLocalBindMask 0777junk",
      "RekeyLimit 0", "RekeyLimit 16", "PermitOpen any", "PermitListen *:*", "PermitOpen [::1]:*",
      "AuthenticationMethods any", "Match all # comment", "Match User a # comment", "Protocol 2",
      "ServerKeyBits 1024", "UsePrivilegeSeparation sandbox", "KeyRegenerationInterval 1h", "UseLogin no",
      "PermitTTY=yes", "PermitTTY = yes", "  PermitTTY yes  ", "PermitTTY yes # comment", "PermitTTY \"yes\"",
      "permittty YES", "Include /nonexistent/*.conf", "AllowUsers a@*", "AllowUsers a@@", "DenyUsers *@!10.0.0.0/8",
      "IPQoS af21 cs1", "IPQoS 0x10", "X11DisplayOffset 10", "Compression yes", "Compression delayed",
      "UsePAM no", "X11Forwarding no", "PermitTunnel no", "GSSAPIAuthentication no", "PrintLastLog yes",
      "UseDNS no", "HostbasedAuthentication no", "PermitEmptyPasswords no", "ChrootDirectory none",
      "AuthorizedKeysCommand none", "SecurityKeyProvider internal", "PubkeyAuthOptions none", "ChannelTimeout none",
      "LogVerbose none", "IgnoreRhosts yes", "DebianBanner yes", "GSSAPIKexAlgorithms gss-gex-sha1-",
  };
  for (const std::string& line : good) {
    SCOPED_TRACE(line);
    expect_same(d, line + "\n");
  }
}

// ---- what tessera-sshd ignores or refuses -----------------------------------------------------

struct Loaded {
  key::Result<SshdConfigFile> file;
  std::string errors() const { return file.ok() ? std::string() : file.error().message(); }
  std::string warnings() const {
    std::string out;
    if (file.ok()) {
      for (const config::Diagnostic& w : file->warnings) out += w.text() + "\n";
    }
    return out;
  }
  std::string notes() const {
    std::string out;
    if (file.ok()) {
      for (const config::Diagnostic& n : file->notes) out += n.text() + "\n";
    }
    return out;
  }
};

LoadOptions with_overrides(std::vector<std::string> overrides, std::vector<uint16_t> ports = {}) {
  LoadOptions options;
  options.overrides = std::move(overrides);
  options.ports = std::move(ports);
  return options;
}

// Loads `text` as /etc/ssh/sshd_config from memory (the files are read only
// while loading).
Loaded load_text(const std::string& text, LoadOptions options = {}) {
  config::MemoryFiles files;
  files.add("/etc/ssh/sshd_config", text);
  options.files = &files;
  options.cwd = "/work";
  options.home = "/root";
  options.resolve_listen_addresses = false;
  return Loaded{load_sshd_config("/etc/ssh/sshd_config", options)};
}

TEST(SshdConfigSupport, RefusedValuesAreErrorsNamingTheKeyword) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"PasswordAuthentication yes", "PasswordAuthentication"},
      {"KbdInteractiveAuthentication yes", "KbdInteractiveAuthentication"},
      {"ChallengeResponseAuthentication yes", "KbdInteractiveAuthentication"},
      {"X11Forwarding yes", "X11Forwarding"},
      {"PermitTunnel yes", "PermitTunnel"},
      {"PermitTunnel point-to-point", "PermitTunnel"},
      {"PermitEmptyPasswords yes", "PermitEmptyPasswords"},
      {"HostbasedAuthentication yes", "HostbasedAuthentication"},
      {"GSSAPIAuthentication yes", "GSSAPIAuthentication"},
      {"GSSAPIKeyExchange yes", "GSSAPIKeyExchange"},
      {"KerberosAuthentication yes", "KerberosAuthentication"},
      {"UsePAM yes", "UsePAM"},
      {"ChrootDirectory /srv/jail", "ChrootDirectory"},
      {"ChrootDirectory %h", "ChrootDirectory"},
      {"AuthenticationMethods publickey,password", "AuthenticationMethods"},
      {"AuthenticationMethods publickey,publickey", "AuthenticationMethods"},
      {"AuthenticationMethods keyboard-interactive", "AuthenticationMethods"},
      {"AuthorizedKeysCommand /usr/bin/keys %u", "AuthorizedKeysCommand"},
      {"AuthorizedPrincipalsCommand /usr/bin/p", "AuthorizedPrincipalsCommand"},
      {"PubkeyAuthOptions touch-required", "PubkeyAuthOptions"},
      {"SecurityKeyProvider /usr/lib/sk.so", "SecurityKeyProvider"},
      {"ChannelTimeout session=5m", "ChannelTimeout"},
      {"RDomain vrf0", "RDomain"},
      {"ListenAddress 10.0.0.1 rdomain vrf0", "ListenAddress"},
  };
  for (const auto& [line, keyword] : refused) {
    SCOPED_TRACE(line);
    Loaded l = load_text(line + "\n");
    ASSERT_FALSE(l.file.ok());
    EXPECT_NE(l.errors().find("/etc/ssh/sshd_config line 1: "), std::string::npos) << l.errors();
    if (keyword != "RDomain" && keyword != "ListenAddress") {
      EXPECT_NE(l.errors().find(keyword), std::string::npos) << l.errors();
      EXPECT_NE(l.errors().find("not supported by tessera-sshd"), std::string::npos) << l.errors();
    }
    // Inside a Match block that applies to nobody, too (global-only keywords
    // are refused there anyway).
    EXPECT_FALSE(load_text("Match User nobody-at-all\n  " + line + "\n").file.ok());
  }
}

TEST(SshdConfigSupport, IgnoredValuesWarnDefaultsOnlyNote) {
  const std::vector<std::string> ignored = {
      "PrintLastLog no", "Compression no", "X11DisplayOffset 12", "X11UseLocalhost no", "IPQoS af11",
      "IgnoreRhosts no", "DebianBanner no", "XAuthLocation /opt/xauth", "LogVerbose kex.c:*",
      "HostbasedAcceptedAlgorithms ssh-ed25519", "KerberosOrLocalPasswd no", "GSSAPICleanupCredentials no",
      "AuthorizedKeysCommandUser nobody", "ServerKeyBits 768", "UseLogin yes", "KerberosGetAFSToken yes",
  };
  for (const std::string& line : ignored) {
    SCOPED_TRACE(line);
    Loaded l = load_text(line + "\n");
    ASSERT_TRUE(l.file.ok()) << l.errors();
    EXPECT_NE(l.warnings().find("/etc/ssh/sshd_config line 1: "), std::string::npos) << l.warnings();
  }
  const std::vector<std::string> defaults = {
      "PrintLastLog yes", "Compression yes", "X11Forwarding no", "PermitTunnel no", "GSSAPIAuthentication no",
      "UsePAM no", "IPQoS lowdelay throughput", "IgnoreRhosts yes", "X11DisplayOffset 10", "Protocol 2",
      "AuthorizedKeysCommand none", "XAuthLocation /usr/bin/xauth",
  };
  for (const std::string& line : defaults) {
    SCOPED_TRACE(line);
    Loaded l = load_text(line + "\n");
    ASSERT_TRUE(l.file.ok()) << l.errors();
    EXPECT_EQ(l.warnings(), "");
    EXPECT_NE(l.notes().find("line 1: "), std::string::npos) << l.notes();
  }
  // Implemented keywords say nothing.
  Loaded quiet = load_text("PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n");
  ASSERT_TRUE(quiet.file.ok());
  EXPECT_EQ(quiet.warnings() + quiet.notes(), "");
}

TEST(SshdConfigSupport, TesseraDefaultsNeverOfferPasswords) {
  Loaded l = load_text("");
  ASSERT_TRUE(l.file.ok()) << l.errors();
  std::string dump = dump_sshd_config(l.file->global);
  EXPECT_NE(dump.find("\npasswordauthentication no\n"), std::string::npos);
  EXPECT_NE(dump.find("\nkbdinteractiveauthentication no\n"), std::string::npos);
  EXPECT_NE(dump.find("\nchrootdirectory none\n"), std::string::npos);
}

TEST(SshdConfigSupport, TesseraAlgorithmListsLeaveOutWhatTransportLacks) {
  Loaded l = load_text("Ciphers +3des-cbc\nMACs hmac-sha2-256,umac-64@openssh.com\n");
  ASSERT_TRUE(l.file.ok()) << l.errors();
  const SshdConfig& c = l.file->global;
  EXPECT_EQ(std::count(c.ciphers.begin(), c.ciphers.end(), "3des-cbc"), 0);
  EXPECT_EQ(c.macs, std::vector<std::string>{"hmac-sha2-256"});
  EXPECT_NE(l.warnings().find("3des-cbc"), std::string::npos) << l.warnings();
  EXPECT_NE(l.warnings().find("umac-64@openssh.com"), std::string::npos) << l.warnings();
  // A list that leaves nothing is an error, not OpenSSH's quiet fallback.
  EXPECT_FALSE(load_text("Ciphers -*\n").file.ok());
  EXPECT_FALSE(load_text("MACs umac-64@openssh.com\n").file.ok());
  EXPECT_FALSE(load_text("Match User x\n  PubkeyAcceptedAlgorithms -*\n").file.ok());
}

TEST(SshdConfigSupport, TheTableCoversEveryKeyword) {
  ASSERT_EQ(all_keywords().size(), kKeywordCount);
  std::set<Keyword> named;
  for (const KeywordName& n : all_keyword_names()) {
    named.insert(n.keyword);
    EXPECT_EQ(find_keyword(n.name), &n);
    for (char c : n.name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << n.name;
  }
  EXPECT_EQ(named.size(), kKeywordCount);
  for (const KeywordInfo& info : all_keywords()) {
    EXPECT_FALSE(info.name.empty());
    EXPECT_EQ(find_keyword(info.name)->keyword, info.keyword) << info.name;
    if (info.support != Support::kImplemented && info.openssh == OpenSshStatus::kActive) {
      EXPECT_FALSE(info.note.empty()) << info.name;
    }
  }
  EXPECT_EQ(find_keyword("PERMITROOTLOGIN")->keyword, Keyword::kPermitRootLogin);
  EXPECT_EQ(find_keyword("nosuchkeyword"), nullptr);
}

// Every spelling in the table is one sshd knows, allowed after Match exactly
// when sshd allows it.
TEST_F(SshdConfigDump, EverySpellingIsOneOpenSshKnowsWithTheSameMatchRule) {
  const std::map<std::string, std::string> value = {
      {"port", "22"}, {"hostkey", d.host_key}, {"hostdsakey", d.host_key}, {"hostkeyagent", "none"},
      {"pidfile", "/run/x.pid"}, {"modulifile", "/etc/ssh/moduli"}, {"logingracetime", "120"},
      {"permitrootlogin", "no"}, {"syslogfacility", "AUTH"}, {"loglevel", "INFO"}, {"logverbose", "none"},
      {"hostbasedacceptedalgorithms", "ssh-ed25519"}, {"hostbasedacceptedkeytypes", "ssh-ed25519"},
      {"hostkeyalgorithms", "ssh-ed25519"}, {"pubkeyacceptedalgorithms", "ssh-ed25519"},
      {"pubkeyacceptedkeytypes", "ssh-ed25519"}, {"pubkeyauthoptions", "none"},
      {"gssapikexalgorithms", "gss-gex-sha1-"}, {"listenaddress", "127.0.0.1"}, {"addressfamily", "any"},
      {"x11displayoffset", "10"}, {"xauthlocation", "/usr/bin/xauth"}, {"permituserenvironment", "no"},
      {"compression", "no"}, {"rekeylimit", "default"}, {"allowtcpforwarding", "no"}, {"allowusers", "root"},
      {"denyusers", "bob"}, {"allowgroups", "root"}, {"denygroups", "bob"}, {"ciphers", "aes128-ctr"},
      {"macs", "hmac-sha2-256"}, {"gatewayports", "no"}, {"subsystem", "sftp /usr/lib/openssh/sftp-server"},
      {"maxstartups", "10"}, {"persourcemaxstartups", "none"}, {"persourcenetblocksize", "32"},
      {"maxauthtries", "3"}, {"maxsessions", "3"}, {"banner", "none"}, {"clientaliveinterval", "0"},
      {"clientalivecountmax", "3"}, {"authorizedkeysfile", ".ssh/authorized_keys"}, {"acceptenv", "LANG"},
      {"setenv", "A=b"}, {"permittunnel", "no"}, {"permitopen", "any"}, {"permitlisten", "any"},
      {"forcecommand", "none"}, {"chrootdirectory", "none"}, {"hostcertificate", d.host_cert},
      {"revokedkeys", "none"}, {"trustedusercakeys", "none"}, {"authorizedprincipalsfile", "none"},
      {"kexalgorithms", "curve25519-sha256"}, {"include", "/nonexistent"}, {"ipqos", "af21"},
      {"authorizedkeyscommand", "none"}, {"authorizedkeyscommanduser", "nobody"},
      {"authorizedprincipalscommand", "none"}, {"authorizedprincipalscommanduser", "nobody"},
      {"versionaddendum", "none"}, {"authenticationmethods", "any"}, {"streamlocalbindmask", "0177"},
      {"fingerprinthash", "sha256"}, {"casignaturealgorithms", "ssh-ed25519"}, {"securitykeyprovider", "internal"}, {"requiredrsasize", "2048"},
      {"channeltimeout", "none"}, {"unusedconnectiontimeout", "none"}, {"allowstreamlocalforwarding", "no"},
      {"ignorerhosts", "yes"}, {"match", "all"}, {"x11uselocalhost", "yes"},
  };
  for (const KeywordName& n : all_keyword_names()) {
    SCOPED_TRACE(std::string(n.name));
    std::string name(n.name);
    auto it = value.find(name);
    // The flags and OpenSSH's ignored keywords take "no" (OpenSSH's default for all of them but a few).
    std::string v = it != value.end() ? it->second : "no";
    if (name == "kerberosorlocalpasswd" || name == "kerberosticketcleanup" || name == "gssapicleanupcredentials" ||
        name == "gssapicleanupcreds" || name == "gssapistrictacceptorcheck" || name == "printmotd" ||
        name == "printlastlog" || name == "permittty" || name == "permituserrc" || name == "strictmodes" ||
        name == "tcpkeepalive" || name == "keepalive" || name == "debianbanner" || name == "pubkeyauthentication" ||
        name == "dsaauthentication" || name == "allowagentforwarding") {
      v = "yes";
    }
    if (name == "rdomain") continue;  // not on Linux: both refuse it anywhere
    std::string line = name + " " + v + "\n";
    if (name == "match") continue;
    Comparison global = compare(d, line);
    EXPECT_FALSE(global.openssh.starts_with("exit ")) << global.openssh;
    EXPECT_FALSE(global.tessera.starts_with("error:")) << global.tessera;
    Comparison in_match = compare(d, "Match User nobody\n  " + line);
    EXPECT_EQ(in_match.openssh.starts_with("exit "), !n.in_match) << in_match.openssh;
    EXPECT_EQ(in_match.tessera.starts_with("error:"), !n.in_match) << in_match.tessera;
  }
}

TEST(SshdConfigParse, ErrorsNameFileAndLineAsSshd) {
  Loaded l = load_text("PermitTTY yes\n\n# comment\nPermitTTY maybe\nMaxSessions x\n");
  ASSERT_FALSE(l.file.ok());
  // sshd's fatal(): the first bad value ends the reading.
  EXPECT_EQ(l.errors(), "/etc/ssh/sshd_config line 4: unsupported option \"maybe\".");
  // Unknown keywords are each reported, then sshd gives up.
  Loaded unknown = load_text("Bogus 1\nPermitTTY yes\nAlsoBogus 2\n");
  EXPECT_EQ(unknown.errors(),
            "/etc/ssh/sshd_config: line 1: Bad configuration option: Bogus\n"
            "/etc/ssh/sshd_config: line 3: Bad configuration option: AlsoBogus\n"
            "/etc/ssh/sshd_config: terminating, 2 bad configuration options");
  Loaded o = load_text("", with_overrides({"Port=x"}));
  EXPECT_EQ(o.errors(), "command-line line 0: Badly formatted port number.");
  LoadOptions missing;
  missing.files = nullptr;
  auto absent = load_sshd_config("/nonexistent/sshd_config", missing);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code(), key::Errc::kIo);
}

TEST(SshdConfigParse, PathsAreMadeAbsoluteAndTildeIsTheRunningUsersHome) {
  Loaded l = load_text("HostKey keys/hk\nHostKey ~/hk2\nPidFile run/x.pid\nBanner none\n"
                       "AuthorizedKeysFile ~/.ssh/k .ssh/%u %h/x\nAuthorizedPrincipalsFile ~/p\n"
                       "HostKeyAgent SSH_AUTH_SOCK\nTrustedUserCAKeys NONE\n");
  ASSERT_TRUE(l.file.ok()) << l.errors();
  const SshdConfig& c = l.file->global;
  EXPECT_EQ(c.host_keys, (std::vector<std::string>{"/work/keys/hk", "/root/hk2"}));
  EXPECT_EQ(c.pid_file, "/work/run/x.pid");
  EXPECT_EQ(c.banner, std::nullopt);
  EXPECT_EQ(c.authorized_keys_files, (std::vector<std::string>{"/root/.ssh/k", ".ssh/%u", "%h/x"}));
  EXPECT_EQ(c.authorized_principals_file, "/root/p");
  EXPECT_EQ(c.host_key_agent, "SSH_AUTH_SOCK");
  EXPECT_EQ(c.trusted_user_ca_keys, std::nullopt);
  // Without HostKey lines, sshd's three default files.
  Loaded none = load_text("");
  ASSERT_TRUE(none.file.ok());
  EXPECT_EQ(none.file->global.host_keys.size(), 3u);
}

TEST(SshdConfigParse, TypedValues) {
  Loaded l = load_text(R"(Port 2222
ListenAddress 10.0.0.1
ListenAddress [::1]:2200
PermitOpen host:22 [::1]:* *:443
PermitListen 8080
Subsystem sftp "/usr/lib/openssh/sftp-server"  -l  "INFO"
ForceCommand   echo "a  b" # kept as written
VersionAddendum  hello  world
MaxStartups 5:20:30
RekeyLimit 1.5K 90
)");
  ASSERT_TRUE(l.file.ok()) << l.errors();
  const SshdConfig& c = l.file->global;
  EXPECT_EQ(c.ports, std::vector<uint16_t>{2222});
  EXPECT_EQ(c.listen_addresses, (std::vector<ListenAddress>{{"10.0.0.1", 2222}, {"::1", 2200}}));
  ASSERT_TRUE(c.permit_open.has_value());
  EXPECT_EQ(*c.permit_open, (std::vector<PermitTarget>{{"host:22", "host", 22}, {"[::1]:*", "::1", 0},
                                                        {"*:443", "*", 443}}));
  EXPECT_EQ(*c.permit_listen, (std::vector<PermitTarget>{{"*:8080", "*", 8080}}));
  EXPECT_EQ(c.subsystems, (std::vector<Subsystem>{{"sftp", "/usr/lib/openssh/sftp-server",
                                                   "/usr/lib/openssh/sftp-server -l INFO"}}));
  EXPECT_EQ(c.force_command, "echo \"a  b\" # kept as written");
  EXPECT_EQ(c.version_addendum, "hello  world");
  EXPECT_EQ(c.max_startups_begin, 5);
  EXPECT_EQ(c.max_startups_rate, 20);
  EXPECT_EQ(c.max_startups, 30);
  EXPECT_EQ(c.rekey_limit, 1536u);
  EXPECT_EQ(c.rekey_interval, 90);
  // -p ports replace every Port line, -o ones included.
  Loaded p = load_text("Port 2222\n", with_overrides({"Port 23"}, {8022}));
  ASSERT_TRUE(p.file.ok()) << p.errors();
  EXPECT_EQ(p.file->global.ports, std::vector<uint16_t>{8022});
}

// ---- Match --------------------------------------------------------------------------------

TEST(SshdConfigMatch, ContextAndGroupsCallback) {
  Loaded l = load_text(R"(MaxSessions 1
Match Group admins,!banned
  MaxSessions 2
Match Group staff User !root,*
  MaxSessions 3
Match all
  PermitTTY no
)");
  ASSERT_TRUE(l.file.ok()) << l.errors();
  auto sessions = [&](const std::string& user, std::vector<std::string> groups) {
    MatchContext ci;
    ci.user = user;
    ci.host = ci.address = ci.local_address = "192.0.2.1";
    ci.local_port = 22;
    ci.rdomain = "0";
    ci.groups = [groups](const std::string&) -> std::optional<std::vector<std::string>> { return groups; };
    auto r = resolve(*l.file, &ci);
    EXPECT_TRUE(r.ok());
    EXPECT_FALSE(r.ok() && r->permit_tty);
    return r.ok() ? r->max_sessions : -1;
  };
  EXPECT_EQ(sessions("alice", {"admins"}), 2);
  EXPECT_EQ(sessions("alice", {"admins", "banned"}), 1);
  EXPECT_EQ(sessions("alice", {"staff"}), 3);
  EXPECT_EQ(sessions("root", {"staff"}), 1);
  // The listener's view: no Match block but "Match all".
  EXPECT_EQ(l.file->global.max_sessions, 1);
  EXPECT_FALSE(l.file->global.permit_tty);
}

TEST(SshdConfigMatch, MissingValuesAreErrorsOutsideTests) {
  Loaded l = load_text("Match Host *.example.com\n  MaxSessions 2\n");
  ASSERT_TRUE(l.file.ok()) << l.errors();
  MatchContext real;
  real.user = "alice";
  auto r = resolve(*l.file, &real);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("line 1: 'Match Host'"), std::string::npos) << r.error().message();
  real.test = true;
  ASSERT_TRUE(resolve(*l.file, &real).ok());
  EXPECT_EQ(resolve(*l.file, &real)->max_sessions, 10);
}

TEST(SshdConfigMatch, SpecParsing) {
  auto spec = parse_match_spec("user=alice,host=h.example.com,addr=192.0.2.1,laddr=::1,lport=2222,rdomain=7");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->user, "alice");
  EXPECT_EQ(spec->host, "h.example.com");
  EXPECT_EQ(spec->address, "192.0.2.1");
  EXPECT_EQ(spec->local_address, "::1");
  EXPECT_EQ(spec->local_port, 2222);
  EXPECT_EQ(spec->rdomain, "7");
  EXPECT_TRUE(spec->test);
  EXPECT_EQ(parse_match_spec("user=a,,host=b")->host, std::nullopt);  // stops at an empty field
  EXPECT_EQ(parse_match_spec("lport=ssh")->local_port, 22);
  EXPECT_EQ(parse_match_spec("lport=x").error().message(), "Invalid port 'x' in test mode specification lport=x");
  EXPECT_EQ(parse_match_spec("foo=x").error().message(), "Invalid test mode specification foo=x");
}

TEST(SshdConfigMatch, IncludedFilesKeepTheirOwnMatchState) {
  config::MemoryFiles files;
  files.add("/etc/ssh/sshd_config", "Include part.conf\nMaxSessions 9\nMatch User bob\n  Include inner.conf\n");
  files.add("/etc/ssh/part.conf", "MaxAuthTries 2\nMatch User alice\n  MaxSessions 5\n");
  files.add("/etc/ssh/inner.conf", "PermitTTY no\nMatch User alice\n  MaxSessions 7\n");
  LoadOptions options;
  options.files = &files;
  options.resolve_listen_addresses = false;
  auto file = load_sshd_config("/etc/ssh/sshd_config", options);
  ASSERT_TRUE(file.ok()) << file.error().message();
  EXPECT_EQ(file->global.max_sessions, 9);  // the included Match did not swallow the line after Include
  EXPECT_EQ(file->global.max_auth_tries, 2);
  MatchContext alice;
  alice.user = "alice";
  alice.test = true;
  auto a = resolve(*file, &alice);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->max_sessions, 5);  // not 7: inner.conf is inside bob's block
  EXPECT_TRUE(a->permit_tty);
  MatchContext bob = alice;
  bob.user = "bob";
  auto b = resolve(*file, &bob);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->permit_tty);
  EXPECT_EQ(b->max_sessions, 9);
}

TEST(SshdConfigInclude, DepthGlobsAndErrors) {
  config::MemoryFiles files;
  files.add("/etc/ssh/sshd_config", "Include loop.conf\n");
  files.add("/etc/ssh/loop.conf", "Include loop.conf\n");
  LoadOptions options;
  options.files = &files;
  options.resolve_listen_addresses = false;
  auto looped = load_sshd_config("/etc/ssh/sshd_config", options);
  ASSERT_FALSE(looped.ok());
  EXPECT_NE(looped.error().message().find("Too many recursive configuration includes"), std::string::npos);

  config::MemoryFiles globbed;
  globbed.add("/main", "Include /conf.d/*.conf\n");
  globbed.add("/conf.d/b.conf", "MaxSessions 2\n");
  globbed.add("/conf.d/a.conf", "MaxSessions 1\n");
  globbed.add("/conf.d/c.txt", "MaxSessions 3\n");
  options.files = &globbed;
  auto g = load_sshd_config("/main", options);
  ASSERT_TRUE(g.ok()) << g.error().message();
  EXPECT_EQ(g->global.max_sessions, 1);  // in sorted order, first wins

  Loaded cmdline = load_text("", with_overrides({"Include /x"}));
  EXPECT_NE(cmdline.errors().find("Include directive not supported as a command-line option"), std::string::npos);
}

// ---- address lists ----------------------------------------------------------------------

TEST(SshdConfigAddresses, UserPatternsAndAccessLists) {
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "alice"), 1);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "a*"), 1);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "bob"), 0);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "alice@192.0.2.0/24"), 1);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "alice@*.EXAMPLE.com"), 1);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "alice@10.0.0.0/8"), 0);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "alice@*,!192.0.2.7"), 0);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "alice@*,!h.example.com"), 0);
  EXPECT_EQ(match_user_pattern("alice", "h.example.com", "192.0.2.7", "alice@10.0.0.1/8"), -1);

  SshdConfig c;
  const std::vector<std::string> staff = {"staff", "users"};
  EXPECT_EQ(user_access_denied(c, "alice", staff, "h", "192.0.2.7"), std::nullopt);
  c.deny_users = {"mallory", "*@10.0.0.0/8"};
  c.allow_users = {"alice", "bob@192.0.2.0/24"};
  EXPECT_EQ(user_access_denied(c, "alice", staff, "h", "192.0.2.7"), std::nullopt);
  EXPECT_EQ(user_access_denied(c, "bob", staff, "h", "192.0.2.7"), std::nullopt);
  EXPECT_EQ(user_access_denied(c, "bob", staff, "h", "198.51.100.1"),
            "User bob from h not allowed because not listed in AllowUsers");
  EXPECT_EQ(user_access_denied(c, "mallory", staff, "h", "192.0.2.7"),
            "User mallory from h not allowed because listed in DenyUsers");
  EXPECT_EQ(user_access_denied(c, "alice", staff, "h", "10.1.1.1"),
            "User alice from h not allowed because listed in DenyUsers");
  SshdConfig g;
  g.allow_groups = {"staff"};
  g.deny_groups = {"banned*"};
  EXPECT_EQ(user_access_denied(g, "alice", staff, "h", "192.0.2.7"), std::nullopt);
  EXPECT_NE(user_access_denied(g, "alice", std::vector<std::string>{"users"}, "h", "192.0.2.7"), std::nullopt);
  EXPECT_NE(user_access_denied(g, "alice", std::vector<std::string>{"staff", "banned-x"}, "h", "a"), std::nullopt);
  EXPECT_NE(user_access_denied(g, "alice", std::nullopt, "h", "192.0.2.7"), std::nullopt);
}

// ---- limits ----------------------------------------------------------------------------------

TEST(SshdConfigLimits, LongLinesNulBytesAndManyEntries) {
  EXPECT_FALSE(load_text("Banner /" + std::string(config::kMaxLineBytes, 'a') + "\n").file.ok());
  EXPECT_FALSE(load_text(std::string("PermitTTY yes\n\0PermitTTY no\n", 28)).file.ok());
  std::string many;
  for (size_t i = 0; i <= kMaxListEntries; ++i) many += "AcceptEnv V" + std::to_string(i) + "\n";
  Loaded l = load_text(many);
  ASSERT_FALSE(l.file.ok());
  EXPECT_NE(l.errors().find("too many"), std::string::npos);
  std::string ports;
  for (size_t i = 0; i <= kMaxPorts; ++i) ports += "Port " + std::to_string(1000 + i) + "\n";
  EXPECT_FALSE(load_text(ports).file.ok());
}

TEST(SshdConfigLimits, ScanfAndStrtolLikeNumbers) {
  int v[3] = {0, 0, 0};
  EXPECT_EQ(detail::scan_colon_numbers("10:30:100", v, 3), 3);
  EXPECT_EQ(v[2], 100);
  EXPECT_EQ(detail::scan_colon_numbers(" +5: 6:7x", v, 3), 3);
  EXPECT_EQ(v[0], 5);
  EXPECT_EQ(v[1], 6);
  EXPECT_EQ(detail::scan_colon_numbers("5 :6", v, 3), 1);
  EXPECT_EQ(detail::scan_colon_numbers("x", v, 3), 0);
  EXPECT_EQ(detail::scan_colon_numbers("99999999999", v, 3), 0);
  EXPECT_EQ(detail::parse_octal_prefix("0177"), 0177);
  EXPECT_EQ(detail::parse_octal_prefix("  -7"), -7);
  EXPECT_EQ(detail::parse_octal_prefix("8"), std::nullopt);
  EXPECT_EQ(detail::parse_octal_prefix("08"), 0);
}

// docs/sshd_config.md lists every keyword in the section of its Support.
TEST(SshdConfigSupport, TheDocsListEveryKeywordWhereTheTablePutsIt) {
  std::string doc = test::read_file(std::string(TESSERA_SOURCE_DIR) + "/docs/sshd_config.md");
  ASSERT_FALSE(doc.empty());
  size_t implemented = doc.find("\n### Implemented");
  size_t ignored = doc.find("\n### Ignored");
  size_t refused = doc.find("\n### Refused");
  ASSERT_TRUE(implemented < ignored && ignored < refused && refused != std::string::npos);
  for (const KeywordInfo& info : all_keywords()) {
    size_t at = doc.find("\n| " + std::string(info.name) + " ", implemented);
    ASSERT_NE(at, std::string::npos) << info.name;
    size_t want = info.support == Support::kImplemented ? implemented
                  : info.support == Support::kIgnored   ? ignored
                                                        : refused;
    size_t end = info.support == Support::kImplemented ? ignored
                 : info.support == Support::kIgnored   ? refused
                                                       : doc.size();
    EXPECT_TRUE(at > want && at < end) << info.name << " is not in the right section of docs/sshd_config.md";
  }
}

}  // namespace
}  // namespace tessera::ssh::server
