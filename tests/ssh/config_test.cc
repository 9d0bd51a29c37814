// ssh_config(5) reading (tessera/ssh/config.h): the parser, Host and Match,
// Include, tokens, algorithm lists, what tessera ignores or refuses, and
// "ssh -G" output compared with OpenSSH's own.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/internal.h"
#include "tessera/ssh/config.h"
#include "test_support.h"

namespace tessera::ssh::config {
namespace {

using test::TempDir;

struct Fixture {
  MemoryFiles files;
  std::map<std::string, std::string> env = {{"HOME", "/home/alice"}, {"SOCK", "/run/agent.sock"}};
  std::vector<std::string> exec_log;
  std::set<std::string> exec_true;

  ResolveRequest request(const std::string& host, const std::string& config) {
    files.add("/cfg", config);
    ResolveRequest r;
    r.host = host;
    r.files = ResolveRequest::Files::kFile;
    r.config_file = "/cfg";
    r.reader = &files;
    r.local = LocalIdentity{"alice", 1000, "/home/alice", "client.example.net"};
    r.environment = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    r.match_exec = [this](const std::string& command) -> key::Result<bool> {
      exec_log.push_back(command);
      return exec_true.count(command) > 0;
    };
    return r;
  }

  Resolution resolve_config(const std::string& host, const std::string& config,
                            std::vector<std::string> options = {}) {
    ResolveRequest r = request(host, config);
    for (std::string& o : options) r.command_line.push_back(CommandLineOption::o(std::move(o)));
    return resolve(r);
  }
};

[[maybe_unused]] std::string errors_of(const Resolution& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += d.text() + "\n";
  return out;
}
[[maybe_unused]] std::string warnings_of(const Resolution& r) {
  std::string out;
  for (const Diagnostic& d : r.warnings) out += d.text() + "\n";
  return out;
}

// The value lines of one keyword in a dump.
[[maybe_unused]] std::vector<std::string> dump_lines(const std::string& dump, const std::string& keyword) {
  std::vector<std::string> out;
  std::istringstream in(dump);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, keyword.size() + 1, keyword + " ") == 0) out.push_back(line.substr(keyword.size() + 1));
  }
  return out;
}

// ---- "ssh -G" against OpenSSH's --------------------------------------------------

// Lines Debian's OpenSSH prints differently from upstream 9.2 (tessera
// follows upstream) or that depend on DNS.
const std::set<std::string> kDebianDifferences = {"forwardx11trusted", "ipqos"};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::string keyword = line.substr(0, line.find(' '));
    if (kDebianDifferences.count(keyword) == 0) out.push_back(line);
  }
  return out;
}

struct Comparison {
  std::string openssh;
  std::string tessera;
  std::string tessera_errors;
};

Comparison compare_with_openssh(const std::string& config, const std::string& host,
                                const std::vector<std::string>& options = {}) {
  TempDir dir;
  std::string path = dir.file("config");
  test::write_file(path, config);
  std::vector<std::string> argv = {"ssh", "-G", "-F", path};
  for (const std::string& o : options) {
    argv.push_back("-o");
    argv.push_back(o);
  }
  argv.push_back(host);
  test::CommandResult ssh = test::run(argv);

  ResolveRequest request;
  request.host = host;
  request.files = ResolveRequest::Files::kFile;
  request.config_file = path;
  request.check_support = false;  // compare every option, not only what tessera implements
  request.match_exec = [](const std::string& command) -> key::Result<bool> {
    return test::run({"/bin/sh", "-c", command}).exit_code == 0;
  };
  auto local = local_identity_from_system();
  EXPECT_TRUE(local.ok());
  if (local.ok()) request.local = *local;
  for (const std::string& o : options) request.command_line.push_back(CommandLineOption::o(o));
  Resolution r = resolve(request);
  Comparison c;
  c.openssh = ssh.exit_code == 0 ? ssh.out : "exit " + std::to_string(ssh.exit_code) + ": " + ssh.err;
  c.tessera = dump(r);
  for (const Diagnostic& d : r.errors) c.tessera_errors += d.text() + "\n";
  return c;
}

void expect_same_as_openssh(const std::string& config, const std::string& host,
                            const std::vector<std::string>& options = {}) {
  if (!test::have_program("ssh")) GTEST_SKIP() << "OpenSSH's ssh is not installed";
  Comparison c = compare_with_openssh(config, host, options);
  EXPECT_EQ(c.tessera_errors, "") << "host " << host;
  std::vector<std::string> ours = lines_of(c.tessera);
  std::vector<std::string> theirs = lines_of(c.openssh);
  if (ours == theirs) return;
  // Show where they part, not all of both.
  std::string diff;
  for (const std::string& line : theirs) {
    if (std::find(ours.begin(), ours.end(), line) == ours.end()) diff += "  openssh only: " + line + "\n";
  }
  for (const std::string& line : ours) {
    if (std::find(theirs.begin(), theirs.end(), line) == theirs.end()) diff += "  tessera only: " + line + "\n";
  }
  if (diff.empty()) diff = "  same lines, different order\n";
  ADD_FAILURE() << "ssh -G differs for host " << host << ":\n" << diff << "config:\n" << config;
}

TEST(SshConfigDump, EmptyConfigMatchesOpenSsh) { expect_same_as_openssh("", "example.com"); }

TEST(SshConfigDump, EveryValueFormatMatchesOpenSsh) {
  expect_same_as_openssh(R"(Host *
  BindAddress 127.0.0.1
  BindInterface lo
  ControlPath /tmp/cp-%r-%h-%p-%C
  HostKeyAlias Alias.Example
  IdentityAgent /tmp/agent-%u
  IgnoreUnknown foo*
  KbdInteractiveDevices pam
  LocalCommand echo hi %h %T
  RemoteCommand echo there %r@%h:%p %n
  PKCS11Provider /usr/lib/p11.so
  PreferredAuthentications publickey,password
  RevokedHostKeys /etc/revoked
  KnownHostsCommand /bin/true %h %H
  DynamicForward 1080
  DynamicForward [::1]:1081
  LocalForward 127.0.0.1:2000 example.org:80
  LocalForward /tmp/%h.sock /var/run/x.sock
  LocalForward 2001 [::1]:22
  RemoteForward 3000 localhost:22
  RemoteForward 3001
  RemoteForward [*]:3002 /run/remote.sock
  IdentityFile ~/.ssh/mykey
  IdentityFile ~/.ssh/mykey
  IdentityFile /abs/%h
  CanonicalDomains example.com Example.ORG.
  CertificateFile ~/.ssh/mykey-cert.pub
  SendEnv LANG LC_*
  SendEnv -LC_* XMODIFIERS
  SetEnv FOO=bar "BAZ=qu ux"
  SetEnv NOT=taken
  LogVerbose kex.c:*:1000
  PermitRemoteOpen localhost:80 [::1]:*
  CanonicalizePermittedCNAMEs *.a.example.com:*.b.example.com,*.c.example.com
  ProxyJump alice@jump1:2222,bob@10.0.0.1:22
  FingerprintHash md5
  AddKeysToAgent confirm 5m
  ForwardAgent $SOCKVAR
  ConnectTimeout 1m
  TunnelDevice 3
  StreamLocalBindMask 022
  EscapeChar ^A
  IPQoS af21 0x23
  RekeyLimit 1.5G 1h30m
  ControlPersist 10m
  SyslogFacility LOCAL3
  LogLevel debug2
  StrictHostKeyChecking accept-new
  UpdateHostKeys ask
  VerifyHostKeyDNS ask
  ControlMaster autoask
  Tunnel ethernet
  RequestTTY force
  SessionType subsystem
  CanonicalizeHostname no
  PubkeyAuthentication host-bound
  AddressFamily inet6
  Compression yes
  ForwardX11 yes
  ForwardX11Timeout 1h
  ServerAliveInterval 10m
  ServerAliveCountMax 5
  NumberOfPasswordPrompts 1
  RequiredRSASize 2048
  CanonicalizeMaxDots 3
  ConnectionAttempts 4
  Port 2222
  User bob
  Hostname %h.example.org
)",
                         "ex");
}

TEST(SshConfigDump, FlagsAndTheirSpellingsMatchOpenSsh) {
  expect_same_as_openssh(R"(
BatchMode yes
CanonicalizeFallbackLocal no
CheckHostIP yes
EnableSSHKeysign true
ClearAllForwardings no
ExitOnForwardFailure TRUE
GatewayPorts yes
GSSAPIAuthentication yes
GSSAPIDelegateCredentials yes
HashKnownHosts yes
HostbasedAuthentication yes
IdentitiesOnly yes
ChallengeResponseAuthentication no
NoHostAuthenticationForLocalhost yes
PasswordAuthentication no
PermitLocalCommand yes
ProxyUseFdpass yes
StdinNull yes
StreamLocalBindUnlink yes
KeepAlive no
VisualHostKey yes
EnableEscapeCommandline yes
ServerAliveInterval 0
)",
                         "flags.example.com");
}

TEST(SshConfigDump, AlgorithmListModifiersMatchOpenSsh) {
  expect_same_as_openssh(R"(
Ciphers +aes128-cbc,3des-cbc
MACs -hmac-sha1*,umac-64*
KexAlgorithms ^curve25519-sha256,diffie-hellman-group14-sha1
HostKeyAlgorithms +ssh-rsa*,ssh-dss
PubkeyAcceptedKeyTypes -ssh-rsa,sk-*
CASignatureAlgorithms ^rsa-sha2-512,ssh-rsa
HostbasedAcceptedAlgorithms ssh-ed25519*,rsa-sha2-512
)",
                         "algorithms.example.com");
  expect_same_as_openssh("Ciphers aes256-ctr,aes128-ctr\nMACs hmac-sha2-512\nKexAlgorithms curve25519-sha256\n",
                         "explicit.example.com");
}

TEST(SshConfigDump, HostAndMatchSectionsMatchOpenSsh) {
  const std::string config = R"(
# First obtained value wins: specific sections first.
Host *.internal !bastion.internal
  User internal-user
  ProxyJump bastion.internal
Host bastion.internal
  Port 2200
Host db? web*
  User services
  IdentityFile ~/.ssh/services_%h
Match originalhost short exec "true" host *.example.org
  Port 4444
Match host *.example.org user root
  ServerAliveInterval 30
Match localuser root !host nothing.example.org
  SendEnv ROOTVAR
Match canonical
  Port 5555
Match final
  Compression yes
Host short
  Hostname %h.example.org
Host *
  User fallback
  IdentityFile ~/.ssh/id_ed25519
)";
  for (const char* host : {"app.internal", "bastion.internal", "db1", "web.example.com", "short", "other.net",
                           "Mixed.Case.Example.ORG", "192.0.2.7"}) {
    SCOPED_TRACE(host);
    expect_same_as_openssh(config, host);
  }
}

TEST(SshConfigDump, DefaultsThatDependOnOtherOptionsMatchOpenSsh) {
  for (const char* config : {
           "UserKnownHostsFile ~/.ssh/known_hosts\n", "UserKnownHostsFile /elsewhere\n",
           "VerifyHostKeyDNS yes\n", "UpdateHostKeys ask\nRemoteCommand true\n",
           "UpdateHostKeys ask\nLogLevel error\n", "UpdateHostKeys ask\nControlPersist yes\nControlPath /x\n",
           "UpdateHostKeys ask\nRequestTTY no\n",
           "ClearAllForwardings yes\nLocalForward 1 h:2\nRemoteForward 3 h:4\nTunnel yes\n",
           "ProxyJump none\nProxyCommand nc %h %p\n", "ProxyCommand none\nProxyJump j\n",
           "ProxyJump none\nProxyJump x\n", "ProxyJump none\nProxyCommand c\nProxyJump x\n", "ProxyJump x\nProxyCommand c\n",
           "ForwardAgent yes\n", "ForwardAgent NO\n",
           "IdentityAgent none\nControlPath none\nPKCS11Provider none\nSecurityKeyProvider none\n",
           "Tunnel yes\nTunnelDevice any:5\n", "PermitRemoteOpen none\n", "PermitRemoteOpen Any\n",
           "Host nothing\n  PermitRemoteOpen a:1\nHost *\n  PermitRemoteOpen b:2 c:*\n", "CanonicalizePermittedCNAMEs none\n",
           "ControlPersist yes\n", "ControlPersist 0\n", "AddKeysToAgent 1h\n", "EscapeChar \" \"\n",
           "EscapeChar \\\\\n", "SetEnv A=1 A=2 B=3\n", "GlobalKnownHostsFile none\nUserKnownHostsFile none\n",
           "ConnectTimeout none\nConnectTimeout 7\n", "RekeyLimit 1G\nRekeyLimit 2G 1h\n",
           "ForwardAgent no\nForwardAgent /run/agent\n", "StreamLocalBindMask 0\nHost nothing\nStreamLocalBindMask 077\n",
           "SyslogFacility AUTH\nHost nothing\nSyslogFacility DAEMON\n", "LogVerbose a b\nLogVerbose c\n",
           "Host dump.example.com\n  CanonicalDomains a.example B.example.\n",
       }) {
    SCOPED_TRACE(config);
    expect_same_as_openssh(config, "dump.example.com");
  }
}

TEST(SshConfigDump, CommandLineOptionsComeFirstAsInOpenSsh) {
  expect_same_as_openssh("Host *\n User fromfile\n Port 2022\n SendEnv FILEVAR\n IdentityFile ~/.ssh/file\n",
                         "cmdline.example.com",
                         {"User=fromcli", "Port 3022", "SendEnv CLIVAR", "IdentityFile=/cli/key",
                          "ProxyCommand=nc %h %p", "ProxyJump=ignored.example.com"});
}

TEST(SshConfigDump, QuotingEqualsAndCommentsMatchOpenSsh) {
  expect_same_as_openssh("  User=\"bob smith\"   \n"
                         "Port = 2022\r\n"
                         "\"IdentityFile\" \"/path with/spaces\" # trailing comment\n"
                         "SetEnv A='one two' B=three\\ four\n"
                         "SendEnv X#Y\n"
                         "\tLocalCommand  echo \"# not a comment\" ; ls\n"
                         "RemoteCommand=  printf '%%s\\n' x\n"
                         "ProxyCommand ssh -W %h:%p gateway # the rest of the line\n"
                         "#Port 1\n"
                         "   # Port 2\n"
                         "\n",
                         "quoting.example.com");
}

}  // namespace
}  // namespace tessera::ssh::config

namespace tessera::ssh::config {
namespace {

// Every line here is accepted by both or refused by both (OpenSSH's ssh -G
// exits 0 or 255; tessera's resolve() is ok or has errors).
TEST(SshConfigAgreement, AcceptsAndRejectsTheSameLinesAsOpenSsh) {
  if (!test::have_program("ssh")) GTEST_SKIP() << "OpenSSH's ssh is not installed";
  struct Case {
    std::string config;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"Port 22", true}, {"Port ssh", true}, {"Port 65535", true}, {"Port 0", false}, {"Port 65536", false},
      {"Port abc", false}, {"Port +22", true}, {"User=x", true}, {"User a b", false}, {"User \"a b\"", true},
      {"User 'a b", false}, {"User \"unterminated", false}, {"Compression no", true}, {"Compression true", false},
      {"Compression maybe", false}, {"ConnectTimeout none", true}, {"ConnectTimeout -1", false},
      {"ConnectTimeout 1x", false}, {"ServerAliveInterval 1h30m", true}, {"ServerAliveInterval 99999999999", false},
      {"RekeyLimit default none", true}, {"RekeyLimit 1G 10m", true}, {"RekeyLimit 15", false},
      {"RekeyLimit 1Q", false}, {"RekeyLimit 2.5K", true}, {"RekeyLimit 1G bogus", false},
      {"EscapeChar none", true}, {"EscapeChar ^a", true}, {"EscapeChar ab", false}, {"EscapeChar ^?", false},
      {"IPQoS none", true}, {"IPQoS 0x10 af11", true}, {"IPQoS 256", false}, {"IPQoS foo", false},
      {"IPQoS af11 af12 af13", false}, {"TunnelDevice any:3", true}, {"TunnelDevice x", false},
      {"StreamLocalBindMask 0777xyz", true}, {"StreamLocalBindMask 0800", true}, {"StreamLocalBindMask 8", false}, {"StreamLocalBindMask x", false},
      {"AddKeysToAgent 1h", true}, {"AddKeysToAgent confirm", true}, {"AddKeysToAgent confirm 10m", true},
      {"AddKeysToAgent maybe", false}, {"AddKeysToAgent yes 5m", false}, {"ForwardAgent ${HOME}/agent", true},
      {"ForwardAgent ${NO_SUCH_VARIABLE_XYZ}", false}, {"ForwardAgent $BAD-NAME", false},
      {"ForwardAgent $SSH_AUTH_SOCK", true}, {"IdentityAgent SSH_AUTH_SOCK", true}, {"IdentityAgent none", true},
      {"Ciphers -aes*", true}, {"Ciphers aes*", false}, {"Ciphers foo", false}, {"Ciphers aes128-ctr,,bogus", true},
      {"MACs +nope", false}, {"MACs hmac-sha2-256-etm@openssh.com", true}, {"KexAlgorithms nope", false},
      {"KexAlgorithms +diffie-hellman-group1-sha1", true}, {"HostKeyAlgorithms +ssh-rsa", true},
      {"HostKeyAlgorithms !ssh-rsa", false}, {"PubkeyAcceptedAlgorithms ssh-*", true},
      {"PubkeyAcceptedKeyTypes nope-*", false}, {"CanonicalDomains example.com", true},
      {"CanonicalDomains bad..domain", false}, {"CanonicalDomains none example.com", false},
      {"CanonicalizePermittedCNAMEs none", true}, {"CanonicalizePermittedCNAMEs foo", false},
      {"ProxyJump ssh://user@host:2222", true}, {"ProxyJump none", true}, {"ProxyJump a,,b", false},
      {"ProxyJump ssh://host/path", false}, {"ProxyJump u@[::1]:22,v@h2", true}, {"ProxyJump @host", false},
      {"PermitRemoteOpen any", true}, {"PermitRemoteOpen foo", false}, {"PermitRemoteOpen foo:bar", false},
      {"PermitRemoteOpen host:*", true}, {"PermitRemoteOpen :80", true}, {"PermitRemoteOpen [::1]", false},
      {"PermitRemoteOpen [::1]x:1", false}, {"PermitRemoteOpen a/b:1", false}, {"PermitRemoteOpen [a:1", false},
      {"PermitRemoteOpen any x:1", false}, {"PermitRemoteOpen x:1 none", false}, {"PermitRemoteOpen ANY", true},
      {"PermitRemoteOpen # nothing", false}, {"SendEnv # nothing", true}, {"ProxyJump # nothing", false},
      {"AddKeysToAgent # nothing", false}, {"LogLevel # nothing", false}, {"SendEnv -FOO", true}, {"SendEnv A=B", false}, {"SetEnv A=", true},
      {"SetEnv NOEQUALS", false}, {"LogVerbose none", true}, {"LogVerbose none x", false},
      {"GlobalKnownHostsFile none", true}, {"GlobalKnownHostsFile none /x", false}, {"Include nonexistent_xyz", true},
      {"Unknownkeyword x", false}, {"Unknownkeyword", false}, {"Host \"\"", false}, {"Host", false},
      {"Host # only a comment", true}, {"Match foo x", false}, {"Match host", false}, {"Match all host x", false},
      {"Match host x all", true}, {"Match !all", true}, {"Match canonical final all", false},
      {"LocalForward 8080 localhost:80", true}, {"LocalForward [::1]:8080 [::1]:80", true},
      {"LocalForward 8080", false}, {"LocalForward 0 host:80", false}, {"LocalForward 8080 host:0", false},
      {"LocalForward /tmp/a.sock /tmp/b.sock", true}, {"RemoteForward 0 localhost:80", true},
      {"RemoteForward 8080", true}, {"DynamicForward 0", false}, {"DynamicForward host:port:x", false},
      {"IdentityFile", false}, {"ConnectionAttempts 0", false}, {"NumberOfPasswordPrompts -1", false},
      {"NumberOfPasswordPrompts 99999999999", false}, {"ProxyCommand \"unterminated", false},
      {"LogLevel LOUD", false}, {"LogLevel debug3", true}, {"SyslogFacility NOPE", false},
      {"FingerprintHash sha3", false}, {"FingerprintHash SHA512", true}, {"UpdateHostKeys maybe", false},
      {"StrictHostKeyChecking off", true}, {"StrictHostKeyChecking maybe", false}, {"Tunnel maybe", false},
      {"ControlPersist maybe", false}, {"ControlPersist 0", true}, {"Hostname %p", false}, {"Hostname %%h%h", true},
      {"ControlPath %z", false}, {"ControlPath ~/%C", true}, {"UserKnownHostsFile ${NO_SUCH_VARIABLE_XYZ}", false},
      {"RemoteCommand echo %", false}, {"Protocol 1", true}, {"Cipher blowfish", true}, {"UseRoaming no", true},
      {"RSAAuthentication yes", true}, {"IgnoreUnknown x*\nxylophone 1", true}, {"xylophone 1\nIgnoreUnknown x*", false},
      {"IdentityFile \"a b\" c", false}, {"PubkeyAuthentication unbound", true}, {"GSSAPIKexAlgorithms gss-nope-", false},
      {"Host x\n  Port 0", false}, {"BatchMode = yes", true}, {"BatchMode == yes", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.config);
    Comparison result = compare_with_openssh(c.config + "\n", "agreement.example.com");
    bool openssh_ok = result.openssh.rfind("exit ", 0) != 0;
    bool tessera_ok = result.tessera_errors.empty();
    EXPECT_EQ(openssh_ok, c.ok) << (openssh_ok ? "" : result.openssh);
    EXPECT_EQ(tessera_ok, c.ok) << result.tessera_errors;
  }
}

// ---- the parser on its own -------------------------------------------------------

TEST(SshConfigParse, FirstObtainedValueWinsListsAccumulate) {
  Fixture f;
  Resolution r = f.resolve_config("h.example.com", R"(
Host h.example.com
  User first
  IdentityFile ~/.ssh/one
  SendEnv ONE
  LocalForward 1000 localhost:1
Host *
  User second
  Port 2022
  IdentityFile ~/.ssh/two
  SendEnv TWO
  LocalForward 2000 localhost:2
  Port 3033
)");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.user, "first");
  EXPECT_EQ(r.config.port, 2022);
  EXPECT_EQ(r.config.identity_files, (std::vector<std::string>{"~/.ssh/one", "~/.ssh/two"}));
  EXPECT_FALSE(r.config.identity_files_are_defaults);
  EXPECT_EQ(r.config.send_env, (std::vector<std::string>{"ONE", "TWO"}));
  ASSERT_EQ(r.config.local_forwards.size(), 2u);
  EXPECT_EQ(r.config.local_forwards[0].listen.port, 1000);
  EXPECT_EQ(r.config.local_forwards[1].connect.host, "localhost");
  EXPECT_EQ(r.config.local_forwards[1].connect.port, 2);
}

TEST(SshConfigParse, CommandLineComesFirst) {
  Fixture f;
  ResolveRequest request = f.request("h.example.com", "User file\nPort 2222\nIdentityFile /file/key\n");
  request.command_line = {CommandLineOption::set("User", {"cli user"}), CommandLineOption::o("Port=3333"),
                          CommandLineOption::set("IdentityFile", {"/cli/key"})};
  Resolution r = resolve(request);
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.user, "cli user");  // split arguments are not re-quoted
  EXPECT_EQ(r.config.port, 3333);
  EXPECT_EQ(r.config.identity_files, (std::vector<std::string>{"/cli/key", "/file/key"}));
}

TEST(SshConfigParse, DefaultsAreOpenSshs) {
  Fixture f;
  Resolution r = f.resolve_config("h.example.com", "");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const Config& c = r.config;
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.hostname, "h.example.com");
  EXPECT_EQ(c.port, 22);
  EXPECT_EQ(c.identity_files,
            (std::vector<std::string>{"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519",
                                      "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa"}));
  EXPECT_TRUE(c.identity_files_are_defaults);
  EXPECT_EQ(c.user_known_hosts_files,
            (std::vector<std::string>{"/home/alice/.ssh/known_hosts", "/home/alice/.ssh/known_hosts2"}));
  EXPECT_EQ(c.global_known_hosts_files,
            (std::vector<std::string>{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}));
  EXPECT_EQ(c.strict_host_key_checking, StrictHostKeyChecking::kAsk);
  EXPECT_EQ(c.server_alive_count_max, 3);
  EXPECT_EQ(c.server_alive_interval, 0);
  EXPECT_EQ(c.connection_attempts, 1);
  EXPECT_EQ(c.number_of_password_prompts, 3);
  EXPECT_FALSE(c.connect_timeout.has_value());
  EXPECT_EQ(c.update_host_keys, UpdateHostKeys::kYes);
  EXPECT_EQ(c.escape_char, std::optional<uint8_t>('~'));
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.pubkey_authentication, PubkeyAuthentication::kYes);
  EXPECT_TRUE(c.password_authentication);
  EXPECT_TRUE(c.tcp_keep_alive);
  EXPECT_EQ(c.required_rsa_size, 1024);
  EXPECT_EQ(c.security_key_provider, "internal");
  EXPECT_EQ(c.ciphers, openssh_algorithms().ciphers.defaults);
  EXPECT_FALSE(c.host_key_algorithms_configured);
  EXPECT_TRUE(r.warnings.empty()) << warnings_of(r);
}

TEST(SshConfigParse, KeywordsIgnoreCaseArgumentsDoNot) {
  Fixture f;
  Resolution r = f.resolve_config("h", "hOsTnAmE Real.Example.COM\nUSER MixedCase\nSTRICTHOSTKEYCHECKING Yes\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.hostname, "real.example.com");  // host names are lower-cased after Hostname
  EXPECT_EQ(r.config.user, "MixedCase");
  EXPECT_EQ(r.config.strict_host_key_checking, StrictHostKeyChecking::kYes);
}

TEST(SshConfigParse, EqualsQuotesEscapesAndComments) {
  Fixture f;
  Resolution r = f.resolve_config("h", R"(
User="two words"
Port = 2200
IdentityFile "/a b/c" # comment
CertificateFile /x\ y
SetEnv K="v w" L=x\"y
SendEnv A#B
   # indented comment
ProxyCommand=nc -X "connect" %h %p # kept: commands run to the end of the line
)");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.user, "two words");
  EXPECT_EQ(r.config.port, 2200);
  EXPECT_EQ(r.config.identity_files, std::vector<std::string>{"/a b/c"});
  EXPECT_EQ(r.config.certificate_files, std::vector<std::string>{"/x y"});
  EXPECT_EQ(r.config.set_env, (std::vector<std::string>{"K=v w", "L=x\"y"}));
  EXPECT_EQ(r.config.send_env, std::vector<std::string>{"A#B"});
  EXPECT_EQ(r.config.proxy_command, "nc -X \"connect\" %h %p # kept: commands run to the end of the line");
}

TEST(SshConfigParse, LineSplittingAsStrdelimAndArgvSplit) {
  using detail::next_token;
  std::optional<std::string_view> rest = std::string_view("Key=value rest");
  EXPECT_EQ(next_token(rest), "Key");
  EXPECT_EQ(rest, "value rest");
  rest = std::string_view("Key = value");
  EXPECT_EQ(next_token(rest), "Key");
  EXPECT_EQ(rest, "value");
  rest = std::string_view("Key==value");
  EXPECT_EQ(next_token(rest), "Key");
  EXPECT_EQ(rest, "=value");  // one '=' only
  rest = std::string_view("\"Quoted key\" x");
  EXPECT_EQ(next_token(rest), "Quoted key");
  rest = std::string_view("\"open");
  EXPECT_EQ(next_token(rest), std::nullopt);

  using detail::split_arguments;
  EXPECT_EQ(split_arguments("a 'b c' \"d e\" f\\ g h\\\\i # j"),
            (std::vector<std::string>{"a", "b c", "d e", "f g", "h\\i"}));
  EXPECT_EQ(split_arguments("a#b 'c#d'"), (std::vector<std::string>{"a#b", "c#d"}));
  EXPECT_EQ(split_arguments("\\q"), (std::vector<std::string>{"\\q"}));
  EXPECT_EQ(split_arguments("'a\"b'"), (std::vector<std::string>{"a\"b"}));
  EXPECT_EQ(split_arguments("'open"), std::nullopt);
}

TEST(SshConfigParse, ErrorsNameFileLineAndProblem) {
  Fixture f;
  Resolution r = f.resolve_config("h", "User ok\nFooBar 1\nPort zero\nHost x\n  Compression maybe\nUser\n");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(errors_of(r),
            "/cfg line 2: Bad configuration option: foobar\n"
            "/cfg line 3: Bad port 'zero'.\n"
            "/cfg line 5: unsupported option \"maybe\".\n"
            "/cfg line 6: no argument after keyword \"user\"\n");
  EXPECT_EQ(r.error_count, 4u);
  EXPECT_EQ(dump(r), "");
  EXPECT_NE(r.status().error().detail().find("/cfg line 3: Bad port 'zero'."), std::string::npos);

  Resolution cli = f.resolve_config("h", "", {"Nope=1", "Host x"});
  EXPECT_EQ(errors_of(cli),
            "command-line line 0: Bad configuration option: nope\n"
            "command-line line 0: Host directive not supported as a command-line option\n");
}

TEST(SshConfigParse, IgnoreUnknownAppliesToLaterLines) {
  Fixture f;
  Resolution r = f.resolve_config("h", "UseKeychain yes\nIgnoreUnknown UseKeychain,AddToKeychain\nUseKeychain no\n"
                                       "addtokeychain yes\n");
  EXPECT_EQ(errors_of(r), "/cfg line 1: Bad configuration option: usekeychain\n");
}

TEST(SshConfigParse, AliasesSetTheirOption) {
  Fixture f;
  Resolution r = f.resolve_config("h", "DSAAuthentication no\nChallengeResponseAuthentication no\n"
                                       "PubkeyAcceptedKeyTypes ssh-ed25519\nKeepAlive no\nIdentityFile2 /k\n"
                                       "ProtocolKeepAlives 15\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.pubkey_authentication, PubkeyAuthentication::kNo);
  EXPECT_FALSE(r.config.kbd_interactive_authentication);
  EXPECT_EQ(r.config.pubkey_accepted_algorithms, std::vector<std::string>{"ssh-ed25519"});
  EXPECT_FALSE(r.config.tcp_keep_alive);
  EXPECT_EQ(r.config.identity_files, std::vector<std::string>{"/k"});
  EXPECT_EQ(r.config.server_alive_interval, 15);
}

TEST(SshConfigParse, TimesSizesAndSmallValues) {
  EXPECT_EQ(detail::parse_time("10m"), 600);
  EXPECT_EQ(detail::parse_time("1h30m"), 5400);
  EXPECT_EQ(detail::parse_time("2w"), 1209600);
  EXPECT_EQ(detail::parse_time("90"), 90);
  EXPECT_EQ(detail::parse_time("1y"), std::nullopt);
  EXPECT_EQ(detail::parse_time("-5"), std::nullopt);
  EXPECT_EQ(detail::parse_time("9999999w"), std::nullopt);
  EXPECT_EQ(detail::parse_scaled("64M"), 64 * 1024 * 1024);
  EXPECT_EQ(detail::parse_scaled("1.5G"), int64_t{3} << 29);
  EXPECT_EQ(detail::parse_scaled("100"), 100);
  EXPECT_EQ(detail::parse_scaled("1Z"), std::nullopt);
  EXPECT_EQ(detail::parse_scaled("1Kb"), std::nullopt);
  EXPECT_EQ(detail::parse_port("ssh"), 22);
  EXPECT_EQ(detail::parse_port("70000"), -1);

  Fixture f;
  Resolution r = f.resolve_config("h", "RekeyLimit 64M 1h\nServerAliveInterval 10m\nConnectTimeout 30\n"
                                       "EscapeChar ^B\nAddKeysToAgent confirm 5m\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.rekey_limit_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(r.config.rekey_interval_seconds, 3600);
  EXPECT_EQ(r.config.server_alive_interval, 600);
  EXPECT_EQ(r.config.connect_timeout, 30);
  EXPECT_EQ(r.config.escape_char, std::optional<uint8_t>(2));
}

TEST(SshConfigParse, ForwardSpecifications) {
  using detail::parse_forward;
  Environment env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DIR") return "/run/user";
    return std::nullopt;
  };
  auto local = parse_forward("127.0.0.1:8080:example.org:80", false, false, env);
  ASSERT_TRUE(local);
  EXPECT_EQ(local->listen.host, "127.0.0.1");
  EXPECT_EQ(local->listen.port, 8080);
  EXPECT_EQ(local->connect.host, "example.org");
  EXPECT_EQ(local->connect.port, 80);
  auto v6 = parse_forward("[::1]:8080:[fe80::1]:22", false, false, env);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->listen.host, "::1");
  EXPECT_EQ(v6->connect.host, "fe80::1");
  auto socket = parse_forward("${DIR}/s.sock:/var/run/t.sock", false, false, env);
  ASSERT_TRUE(socket);
  EXPECT_EQ(socket->listen.path, "/run/user/s.sock");
  EXPECT_EQ(socket->connect.path, "/var/run/t.sock");
  auto escaped = parse_forward("8080:a\\:b:80", false, false, env);
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->connect.host, "a:b");
  auto dynamic = parse_forward("1080", true, false, env);
  ASSERT_TRUE(dynamic);
  EXPECT_TRUE(dynamic->dynamic);
  EXPECT_FALSE(parse_forward("${NOPE}/s:/t", false, false, env));
  EXPECT_FALSE(parse_forward("8080:host", false, false, env));
  EXPECT_FALSE(parse_forward("0:host:80", false, false, env));
  EXPECT_TRUE(parse_forward("0:host:80", false, true, env));  // a remote listener may be 0
  EXPECT_FALSE(parse_forward("1:2:3:4:5", false, false, env));
  EXPECT_FALSE(parse_forward("[::1:80:h:1", false, false, env));
}

TEST(SshConfigParse, ProxyJumpHops) {
  Fixture f;
  Resolution r = f.resolve_config("h", "ProxyJump ssh://u%40x@first:2200,second,me@[2001:db8::1]:22\n"
                                       "ProxyCommand not-used\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  ASSERT_EQ(r.config.proxy_jump.size(), 3u);
  EXPECT_EQ(r.config.proxy_jump[0].user, "u@x");
  EXPECT_EQ(r.config.proxy_jump[0].host, "first");
  EXPECT_EQ(r.config.proxy_jump[0].port, std::optional<uint16_t>(2200));
  EXPECT_EQ(r.config.proxy_jump[1].host, "second");
  EXPECT_EQ(r.config.proxy_jump[2].user, "me");
  EXPECT_EQ(r.config.proxy_jump[2].host, "2001:db8::1");
  EXPECT_FALSE(r.config.proxy_command.has_value());

  Resolution command_first = f.resolve_config("h", "ProxyCommand nc %h %p\nProxyJump j\n");
  ASSERT_TRUE(command_first.ok());
  EXPECT_EQ(command_first.config.proxy_command, "nc %h %p");
  EXPECT_TRUE(command_first.config.proxy_jump.empty());

  // "ProxyJump none" keeps later ProxyJumps out, not a later ProxyCommand.
  Resolution none = f.resolve_config("h", "ProxyJump none\nProxyJump j\nProxyCommand c\n");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.config.proxy_jump.empty());
  EXPECT_EQ(none.config.proxy_command, "c");
}

// ---- Host and Match ----------------------------------------------------------------

TEST(SshConfigSections, HostPatternsAndNegation) {
  std::vector<std::string> patterns = {"*.example.com", "!secret.example.com", "db?"};
  EXPECT_TRUE(detail::host_patterns_match(patterns, "www.example.com"));
  EXPECT_FALSE(detail::host_patterns_match(patterns, "secret.example.com"));
  EXPECT_TRUE(detail::host_patterns_match(patterns, "db1"));
  EXPECT_FALSE(detail::host_patterns_match(patterns, "db12"));
  EXPECT_FALSE(detail::host_patterns_match(std::vector<std::string>{"!x"}, "y"));  // negation alone matches nothing
  EXPECT_FALSE(detail::host_patterns_match(std::vector<std::string>{"a,b"}, "a"));  // no comma lists in Host

  Fixture f;
  const std::string config = "Host *.example.com !secret.example.com\n  User general\nHost *\n  User other\n";
  EXPECT_EQ(f.resolve_config("www.example.com", config).config.user, "general");
  EXPECT_EQ(f.resolve_config("secret.example.com", config).config.user, "other");
  // Host lines match the destination as given, case and all.
  EXPECT_EQ(f.resolve_config("WWW.example.com", "Host www.example.com\n  User lower\n").config.user, "alice");
}

TEST(SshConfigSections, MatchCriteria) {
  Fixture f;
  const std::string config = R"(
Match originalhost alias
  Hostname real.example.org
Match host real.example.org user alice
  Port 2001
Match localuser alice !user bob
  SendEnv LOCAL
Match host *.org exec "test %h = real.example.org"
  Compression no
Match all
  User matched-all
)";
  Resolution r = f.resolve_config("alias", config);
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.hostname, "real.example.org");
  EXPECT_EQ(r.config.port, 2001);
  EXPECT_EQ(r.config.send_env, std::vector<std::string>{"LOCAL"});
  EXPECT_EQ(r.config.user, "matched-all");
  EXPECT_EQ(f.exec_log, std::vector<std::string>{"test real.example.org = real.example.org"});

  // exec is not run once an earlier criterion failed ("host *.org").
  f.exec_log.clear();
  Resolution other = f.resolve_config("other", config);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(f.exec_log.empty());
}

TEST(SshConfigSections, MatchExecTokensAndResult) {
  Fixture f;
  f.exec_true.insert("check alice real.example.org 22 h alice 1000 /home/alice client client.example.net");
  Resolution r = f.resolve_config(
      "h", "Hostname real.example.org\nMatch exec \"check %r %h %p %n %u %i %d %L %l\"\n  User via-exec\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.user, "via-exec");
  ASSERT_EQ(f.exec_log.size(), 1u);

  ResolveRequest request = f.request("h", "Match exec true\n  User x\n");
  request.match_exec = nullptr;
  Resolution unavailable = resolve(request);
  EXPECT_NE(errors_of(unavailable).find("Match exec is not available"), std::string::npos);

  request.match_exec = [](const std::string&) -> key::Result<bool> {
    return key::Error(key::Errc::kIo, "killed by signal 9");
  };
  Resolution failed = resolve(request);
  EXPECT_NE(errors_of(failed).find("match exec 'true' error"), std::string::npos) << errors_of(failed);
}

TEST(SshConfigSections, MatchErrors) {
  Fixture f;
  EXPECT_EQ(errors_of(f.resolve_config("h", "Match bogus x\n")),
            "/cfg line 1: Bad Match condition: Unsupported Match attribute bogus\n");
  EXPECT_EQ(errors_of(f.resolve_config("h", "Match host\n")),
            "/cfg line 1: Bad Match condition: Missing Match criteria for host\n");
  EXPECT_EQ(errors_of(f.resolve_config("h", "Match # nothing\n")),
            "/cfg line 1: Bad Match condition: One or more attributes required for Match\n");
  EXPECT_EQ(errors_of(f.resolve_config("h", "Match all user x\n")),
            "/cfg line 1: Bad Match condition: 'all' cannot be combined with other Match attributes\n");
}

TEST(SshConfigSections, MatchFinalReadsTheFilesAgain) {
  Fixture f;
  const std::string config = R"(
Host alias
  Hostname target.example.com
Match final host target.example.com
  User final-user
Host target.example.com
  Port 2345
)";
  Resolution r = f.resolve_config("alias", config);
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.user, "final-user");
  EXPECT_EQ(r.config.port, 2345);  // the final pass matches Host lines against the final name
}

// ---- Include -----------------------------------------------------------------------

TEST(SshConfigInclude, GlobsInOrderRelativeToDotSsh) {
  Fixture f;
  f.files.add("/home/alice/.ssh/config.d/20-b.conf", "Port 2020\nSendEnv B\n");
  f.files.add("/home/alice/.ssh/config.d/10-a.conf", "SendEnv A\n");
  f.files.add("/home/alice/.ssh/config.d/.hidden.conf", "SendEnv HIDDEN\n");
  f.files.add("/abs/extra.conf", "SendEnv ABS\n");
  Resolution r = f.resolve_config("h", "Include config.d/*.conf /abs/extra.conf ~/none/*.conf\nPort 9\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.send_env, (std::vector<std::string>{"A", "B", "ABS"}));
  EXPECT_EQ(r.config.port, 2020);
}

TEST(SshConfigInclude, SystemFilesIncludeFromEtcSshAndMayNotUseTilde) {
  Fixture f;
  f.files.add("/etc/ssh/ssh_config.d/x.conf", "User from-system-include\n");
  f.files.add("/etc/ssh/ssh_config", "Include /etc/ssh/ssh_config.d/*.conf\nInclude ~/evil\n");
  f.files.add("/home/alice/.ssh/config", "Include ssh_config.d/*.conf\n");
  ResolveRequest request = f.request("h", "");
  request.files = ResolveRequest::Files::kDefault;
  Resolution r = resolve(request);
  EXPECT_EQ(errors_of(r), "/etc/ssh/ssh_config line 2: bad include path ~/evil.\n");
  EXPECT_EQ(r.config.user, "from-system-include");

  f.files.add("/etc/ssh/ssh_config", "Include ssh_config.d/x.conf\n");
  Resolution relative = resolve(request);
  ASSERT_TRUE(relative.ok()) << errors_of(relative);
  EXPECT_EQ(relative.config.user, "from-system-include");
}

TEST(SshConfigInclude, InsideSectionsAndMatchStateIsRestored) {
  Fixture f;
  f.files.add("/home/alice/.ssh/inc", "Host other\n  Port 1111\nUser from-include\n");
  Resolution r = f.resolve_config("h", "Host h\n  Include inc\n  Port 2222\nHost nomatch\n  Include inc\n");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.port, 2222);  // the included "Host other" did not end "Host h"
  EXPECT_EQ(r.config.user, "alice");  // "User" after "Host other" inside the include did not apply
}

TEST(SshConfigInclude, DepthIsLimited) {
  Fixture f;
  f.files.add("/home/alice/.ssh/loop", "Include loop\n");
  Resolution r = f.resolve_config("h", "Include loop\n");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(errors_of(r).find("Too many recursive configuration includes"), std::string::npos) << errors_of(r);

  // Exactly kMaxIncludeDepth nested files are fine.
  Fixture g;
  for (int i = 1; i < kMaxIncludeDepth; ++i) {
    g.files.add("/home/alice/.ssh/n" + std::to_string(i), "Include n" + std::to_string(i + 1) + "\n");
  }
  g.files.add("/home/alice/.ssh/n" + std::to_string(kMaxIncludeDepth), "User deep\n");
  Resolution deep = g.resolve_config("h", "Include n1\n");
  ASSERT_TRUE(deep.ok()) << errors_of(deep);
  EXPECT_EQ(deep.config.user, "deep");
}

TEST(SshConfigInclude, RealFilesPermissionsAndGlobs) {
  TempDir dir;
  std::string ssh_dir = dir.file(".ssh");
  ASSERT_EQ(::mkdir(ssh_dir.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((ssh_dir + "/conf.d").c_str(), 0700), 0);
  test::write_file(ssh_dir + "/config", "Include conf.d/*\nUser top\n", 0600);
  test::write_file(ssh_dir + "/conf.d/b", "SendEnv B\n", 0600);
  test::write_file(ssh_dir + "/conf.d/a", "SendEnv A\n", 0644);
  ResolveRequest request;
  request.host = "h";
  request.local = LocalIdentity{"alice", ::getuid(), dir.path().string(), "client"};
  request.system_config = dir.file("no-system-config");
  Resolution r = resolve(request);
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.send_env, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(r.config.user, "top");

  // Writable by others: refused, for the user's file and for an included one.
  ASSERT_EQ(::chmod((ssh_dir + "/conf.d/b").c_str(), 0666), 0);
  Resolution bad_include = resolve(request);
  EXPECT_NE(errors_of(bad_include).find("Bad owner or permissions on " + ssh_dir + "/conf.d/b"), std::string::npos)
      << errors_of(bad_include);
  ASSERT_EQ(::chmod((ssh_dir + "/conf.d/b").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((ssh_dir + "/config").c_str(), 0620), 0);
  Resolution bad_user = resolve(request);
  EXPECT_NE(errors_of(bad_user).find("Bad owner or permissions on " + ssh_dir + "/config"), std::string::npos);

  // ssh -F names a file that is not checked; a missing -F file is an error.
  request.files = ResolveRequest::Files::kFile;
  request.config_file = ssh_dir + "/config";
  EXPECT_TRUE(resolve(request).ok());
  request.config_file = dir.file("missing");
  EXPECT_NE(errors_of(resolve(request)).find("Can't open user config file"), std::string::npos);
}

// ---- tokens ---------------------------------------------------------------------------

TEST(SshConfigTokens, ExpandedAsSshDoesBeforeConnecting) {
  Fixture f;
  Resolution r = f.resolve_config("Alias", R"(
Hostname %h.example.org
User bob
Port 2200
ControlPath ~/.ssh/cm-%C
IdentityAgent ${SOCK}
UserKnownHostsFile ~/kh_%h_%p %d/kh2 ${HOME}/kh3
RemoteCommand echo %r@%h:%p from %u@%L (%l) %n %%
LocalForward /tmp/%h.sock remote:22
LocalCommand echo %T %h
IdentityFile ~/.ssh/id_%h
)");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  const Config& c = r.config;
  EXPECT_EQ(c.hostname, "alias.example.org");
  EXPECT_EQ(c.identity_agent, "/run/agent.sock");
  EXPECT_EQ(c.user_known_hosts_files, (std::vector<std::string>{"/home/alice/kh_alias.example.org_2200",
                                                                 "/home/alice/kh2", "/home/alice/kh3"}));
  EXPECT_EQ(c.remote_command, "echo bob@alias.example.org:2200 from alice@client (client.example.net) Alias %");
  ASSERT_EQ(c.local_forwards.size(), 1u);
  EXPECT_EQ(c.local_forwards[0].listen.path, "/tmp/alias.example.org.sock");
  // %C: SHA1 of %l%h%p%r.
  EXPECT_EQ(c.tokens.connection_hash, connection_hash("client.example.net", "alias.example.org", "2200", "bob"));
  EXPECT_EQ(connection_hash("vm", "example.com", "2222", "bob"), "3815f17c6f2b5b5e90cd050d7ef77a720e82d39b");
  // Left for the moment of use, as ssh does.
  EXPECT_EQ(c.local_command, "echo %T %h");
  EXPECT_EQ(expand(c, Option::kLocalCommand, *c.local_command).value(), "echo NONE alias.example.org");
  UseTokens use;
  use.tunnel_interface = "tun0";
  EXPECT_EQ(expand(c, Option::kLocalCommand, *c.local_command, use).value(), "echo tun0 alias.example.org");
  EXPECT_EQ(c.identity_files, std::vector<std::string>{"~/.ssh/id_%h"});
  EXPECT_EQ(expand(c, Option::kIdentityFile, c.identity_files[0]).value(), "/home/alice/.ssh/id_alias.example.org");
  EXPECT_EQ(expand(c, Option::kProxyCommand, "nc %h %p %r %n").value(), "nc alias.example.org 2200 bob Alias");
}

TEST(SshConfigTokens, EachOptionAcceptsItsOwnTokens) {
  Fixture f;
  Resolution r = f.resolve_config("h", "");
  ASSERT_TRUE(r.ok());
  const Config& c = r.config;
  EXPECT_FALSE(expand(c, Option::kProxyCommand, "%u").ok());  // ProxyCommand: %h %n %p %r only
  EXPECT_FALSE(expand(c, Option::kHostname, "%p").ok());
  EXPECT_TRUE(expand(c, Option::kHostname, "%h%%").ok());
  EXPECT_FALSE(expand(c, Option::kRemoteCommand, "%T").ok());
  EXPECT_FALSE(expand(c, Option::kIdentityFile, "%").ok());
  EXPECT_FALSE(expand(c, Option::kIdentityFile, "${UNSET_VARIABLE}").ok());
  EXPECT_FALSE(expand(c, Option::kIdentityFile, "${OPEN").ok());
  EXPECT_FALSE(expand(c, Option::kIdentityFile, "${}").ok());
  EXPECT_EQ(expand(c, Option::kRemoteCommand, "${HOME}").value(), "${HOME}");  // no ${} in RemoteCommand
  EXPECT_EQ(expand(c, Option::kKnownHostsCommand, "%H %t", UseTokens{"", "", "host", "", "", "ssh-ed25519"}).value(),
            "host ssh-ed25519");
  EXPECT_EQ(expand(c, Option::kCertificateFile, "~").value(), "/home/alice/");
  EXPECT_EQ(expand(c, Option::kCertificateFile, "~root/x").value(), "/root/x");
  EXPECT_FALSE(expand(c, Option::kCertificateFile, "~no-such-user-xyz/x").ok());

  Resolution bad = f.resolve_config("h", "ControlPath /tmp/%z\n");
  EXPECT_EQ(errors_of(bad), "/cfg line 1: ControlPath: unknown key %z\n");
}

// ---- algorithms ------------------------------------------------------------------------

TEST(SshConfigAlgorithms, PlusMinusCaretAgainstTheClientsLists) {
  AlgorithmList list{{"c", "a", "b"}, {"a", "b", "c", "d", "e-x", "e-y"}};
  auto assemble = [&list](std::string_view spec) {
    std::vector<std::string> dropped;
    auto result = detail::assemble_algorithms(spec, list, &dropped);
    std::string out = result.ok() ? "" : "error";
    if (result.ok()) {
      for (const std::string& n : *result) out += (out.empty() ? "" : ",") + n;
    }
    for (const std::string& d : dropped) out += " dropped:" + d;
    return out;
  };
  EXPECT_EQ(assemble(""), "c,a,b");
  EXPECT_EQ(assemble("+d,e-*"), "c,a,b,d,e-x,e-y");
  EXPECT_EQ(assemble("+a"), "c,a,b");
  EXPECT_EQ(assemble("-a,x*"), "c,b");
  EXPECT_EQ(assemble("^b,d"), "b,d,c,a");
  EXPECT_EQ(assemble("d,a"), "d,a");
  EXPECT_EQ(assemble("e-*"), "e-x,e-y");
  EXPECT_EQ(assemble("zz,a"), "a dropped:zz");
  EXPECT_EQ(assemble("zz"), "error dropped:zz");
  EXPECT_EQ(assemble("-*"), "error");
  EXPECT_EQ(assemble("!a"), "error");
}

TEST(SshConfigAlgorithms, TesserasListsAndWarningsForUnsupportedNames) {
  Fixture f;
  ResolveRequest request = f.request("h", "Ciphers aes128-cbc,aes256-gcm@openssh.com\nKexAlgorithms -ecdh-*\n"
                                          "MACs ^hmac-sha2-512\n");
  request.algorithms.ciphers = {{"aes256-gcm@openssh.com", "aes128-ctr"}, {"aes256-gcm@openssh.com", "aes128-ctr"}};
  Resolution r = resolve(request);
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(r.config.ciphers, std::vector<std::string>{"aes256-gcm@openssh.com"});
  EXPECT_EQ(warnings_of(r), "/cfg line 1: Ciphers: not supported by tessera-ssh, left out: aes128-cbc\n");
  EXPECT_EQ(r.config.kex_algorithms.front(), "sntrup761x25519-sha512");
  EXPECT_TRUE(std::none_of(r.config.kex_algorithms.begin(), r.config.kex_algorithms.end(),
                           [](const std::string& n) { return n.rfind("ecdh-", 0) == 0; }));
  EXPECT_EQ(r.config.macs.front(), "hmac-sha2-512");

  request = f.request("h", "Ciphers 3des-cbc\n");
  request.algorithms.ciphers = {{"aes128-ctr"}, {"aes128-ctr"}};
  Resolution none_left = resolve(request);
  EXPECT_EQ(errors_of(none_left), "/cfg line 1: Ciphers: \"3des-cbc\" names no supported algorithm\n");
  EXPECT_EQ(errors_of(f.resolve_config("h", "Ciphers nope\n")), "/cfg line 1: Bad SSH2 cipher spec 'nope'.\n");
  EXPECT_EQ(errors_of(f.resolve_config("h", "HostKeyAlgorithms +nope*\n")), "/cfg line 1: Bad key types '+nope*'.\n");
}

// ---- what tessera ignores and refuses ----------------------------------------------------

TEST(SshConfigSupport, IgnoredOptionsWarnRefusedOnesFail) {
  Fixture f;
  Resolution r = f.resolve_config("h", R"(
VisualHostKey yes
Compression yes
ControlMaster auto
ControlPath ~/.ssh/cm-%C
GSSAPIAuthentication no
UseRoaming no
Protocol 2
RSAAuthentication yes
)");
  ASSERT_TRUE(r.ok()) << errors_of(r);
  EXPECT_EQ(warnings_of(r),
            "/cfg line 7: Deprecated option \"useroaming\": ignored\n"
            "/cfg line 9: Unsupported option \"rsaauthentication\": ignored\n"
            "/cfg line 3: Compression yes is ignored by tessera-ssh: tessera-ssh does not compress\n"
            "/cfg line 5: ControlPath /home/alice/.ssh/cm-" + r.config.tokens.connection_hash +
                " is ignored by tessera-ssh: no connection sharing: every tessera-ssh makes its own connection\n"
                "/cfg line 4: ControlMaster auto is ignored by tessera-ssh: no connection sharing\n"
                "/cfg line 2: VisualHostKey yes is ignored by tessera-ssh: no ASCII-art fingerprints\n");

  Resolution refused = f.resolve_config("h", "Host h\n  ForwardX11 yes\n  RemoteForward 8080 localhost:80\n"
                                             "  Tunnel yes\n  ForwardX11 no\n");
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(errors_of(refused),
            "/cfg line 2: ForwardX11 yes is not supported by tessera-ssh: tessera-ssh does not forward X11; remove it "
            "from the configuration, or use OpenSSH's ssh for this host\n"
            "/cfg line 3: RemoteForward 8080 [localhost]:80 is not supported by tessera-ssh: tessera-ssh does not do "
            "remote port forwarding; remove it from the configuration, or use OpenSSH's ssh for this host\n"
            "/cfg line 4: Tunnel point-to-point is not supported by tessera-ssh: tessera-ssh does not forward tun/tap "
            "devices; "
            "remove it from the configuration, or use OpenSSH's ssh for this host\n");

  // At the default value (or in a section that does not apply) nothing is said.
  Resolution quiet = f.resolve_config("h", "ForwardX11 no\nTunnel no\nCompression no\nHost other\n  ForwardX11 yes\n");
  EXPECT_TRUE(quiet.ok()) << errors_of(quiet);
  EXPECT_TRUE(quiet.warnings.empty()) << warnings_of(quiet);

  // ssh -W makes ExitOnForwardFailure default to yes; not refused for that.
  ResolveRequest stdio = f.request("h", "");
  stdio.stdio_forward = true;
  Resolution w = resolve(stdio);
  EXPECT_TRUE(w.ok()) << errors_of(w);
  EXPECT_TRUE(w.config.exit_on_forward_failure);
}

TEST(SshConfigSupport, TheTableCoversEveryOptionAndKeyword) {
  ASSERT_EQ(all_options().size(), kOptionCount);
  for (size_t i = 0; i < kOptionCount; ++i) {
    EXPECT_EQ(static_cast<size_t>(all_options()[i].option), i);
    EXPECT_FALSE(all_options()[i].name.empty());
    if (all_options()[i].support != Support::kImplemented) {
      EXPECT_FALSE(all_options()[i].note.empty()) << all_options()[i].name;
    }
  }
  std::set<Option> named;
  for (const KeywordName& k : all_keywords()) {
    named.insert(k.option);
    EXPECT_EQ(find_keyword(k.keyword), k.option);
  }
  EXPECT_EQ(named.size(), kOptionCount);
  EXPECT_EQ(find_keyword("StrictHostKeyChecking"), Option::kStrictHostKeyChecking);
  EXPECT_EQ(find_keyword("nosuchkeyword"), std::nullopt);
}

// Every keyword of the table is one the installed ssh accepts as a keyword.
TEST(SshConfigSupport, EveryKeywordInTheTableIsOneOpenSshKnows) {
  if (!test::have_program("ssh")) GTEST_SKIP() << "OpenSSH's ssh is not installed";
  for (const KeywordName& k : all_keywords()) {
    SCOPED_TRACE(k.keyword);
    // ssh -G accepts the keyword (with some value it may reject, but not as unknown).
    test::CommandResult result = test::run({"ssh", "-G", "-F", "/dev/null", "-o", std::string(k.keyword) + " x",
                                            "known.example.com"});
    EXPECT_EQ(result.err.find("Bad configuration option"), std::string::npos) << result.err;
  }
}

// ---- limits ------------------------------------------------------------------------------

TEST(SshConfigLimits, LongLinesBigFilesAndManyEntries) {
  Fixture f;
  Resolution long_line = f.resolve_config("h", "User " + std::string(kMaxLineBytes, 'x') + "\n");
  EXPECT_NE(errors_of(long_line).find("line 1: line longer than"), std::string::npos);

  std::string many;
  for (size_t i = 0; i <= kMaxIdentityFiles; ++i) many += "IdentityFile /k" + std::to_string(i) + "\n";
  Resolution identities = f.resolve_config("h", many);
  EXPECT_NE(errors_of(identities).find("Too many identity files specified (max 100)."), std::string::npos);

  f.files.add("/big", std::string(kMaxFileBytes + 1, '#'));
  Resolution big = f.resolve_config("h", "Include /big\n");
  EXPECT_NE(errors_of(big).find("is larger than"), std::string::npos) << errors_of(big);
}

TEST(SshConfigLimits, NulBytesAndBinaryGarbageAreHandled) {
  Fixture f;
  static constexpr char kText[] = "User a\0b\nPort 22\n\xff\xfe x\n";
  Resolution r = f.resolve_config("h", std::string(kText, sizeof(kText) - 1));
  EXPECT_EQ(r.config.user, "a");
  EXPECT_NE(errors_of(r).find("line 3: Bad configuration option"), std::string::npos);
}

}  // namespace
}  // namespace tessera::ssh::config
