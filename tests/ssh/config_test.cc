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
