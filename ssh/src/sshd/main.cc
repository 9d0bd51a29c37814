// tessera-sshd: the command line (sshd(8)'s), and the choice of which of
// the server's processes this one is.
#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "config/internal.h"
#include "server/sshd_config.h"
#include "sshd/sshd.h"

namespace tessera::ssh::sshd {

namespace {

constexpr std::string_view kUsage =
    "usage: tessera-sshd [-46DdeiqTt] [-C connection_spec] [-c host_cert_file]\n"
    "            [-E log_file] [-f config_file] [-g login_grace_time]\n"
    "            [-h host_key_file] [-o option] [-p port] [-u len]\n";

constexpr std::string_view kHelp =
    "tessera-sshd: an SSH server whose privileged monitor signs only what it computed.\n"
    "Each connection gets a monitor (root: host keys, key exchanges, authentication),\n"
    "a pre-auth child (the sshd account, chrooted, seccomp) that parses the network,\n"
    "and, once a key is accepted, a session process running as the user.\n\n"
    "  -D          do not detach           -d   debug: one connection, log to stderr\n"
    "  -e          log to stderr           -E FILE  append the log to FILE\n"
    "  -f FILE     configuration file (default /etc/ssh/sshd_config)\n"
    "  -h FILE     host key (instead of the configuration's HostKey lines)\n"
    "  -c FILE     host certificate        -o OPTION  a configuration line\n"
    "  -p PORT     listen on PORT          -i   inetd mode: one connection on stdin/stdout\n"
    "  -t          check the configuration and keys   -T  print the effective configuration\n"
    "  -C SPEC     with -T: user=,host=,addr=,laddr=,lport= of a connection for Match\n"
    "See docs/tessera-sshd.md and docs/sshd_config.md.\n";

std::string& self_storage() {
  static std::string path;
  return path;
}

// The listener moves to "/" when it detaches, and each connection's monitor
// re-executes with these paths: sshd opens them before it detaches, so a
// relative one names a file in the directory it was started from.
std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

int usage_error(std::string_view message) {
  if (!message.empty()) std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
  std::fputs(std::string(kUsage).c_str(), stderr);
  return 1;
}

}  // namespace

const std::string& self_path() { return self_storage(); }

std::string session_program_path() {
  const std::string& self = self_path();
  const size_t slash = self.rfind('/');
  return (slash == std::string::npos ? std::string() : self.substr(0, slash + 1)) + "tessera-sshd-session";
}

key::Result<server::SshdConfigFile> load_config(const Options& options) {
  server::LoadOptions load;
  load.overrides = options.overrides;
  for (const std::string& key_file : options.host_keys) load.overrides.insert(load.overrides.begin(), "HostKey " + key_file);
  for (const std::string& cert : options.cert_files) load.overrides.insert(load.overrides.begin(), "HostCertificate " + cert);
  for (const std::string& port : options.ports) {
    // A number or a service name from /etc/services, as sshd's a2port.
    const int p = config::detail::parse_port(port);
    if (p <= 0) return key::Error(key::Errc::kInvalidArgument, "Bad port number.");
    load.ports.push_back(static_cast<uint16_t>(p));
  }
  return server::load_sshd_config(options.config_file, load);
}

}  // namespace tessera::ssh::sshd

int main(int argc, char** argv) {
  using namespace tessera::ssh::sshd;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--monitor") {
      o.monitor = true;
      continue;
    }
    if (a == "--help") {
      std::fputs(std::string(kHelp).c_str(), stdout);
      std::fputs(std::string(kUsage).c_str(), stdout);
      return 0;
    }
    if (a.size() < 2 || a[0] != '-') return usage_error("");
    for (size_t j = 1; j < a.size(); ++j) {
      const char flag = a[j];
      auto value = [&]() -> const char* {
        if (j + 1 < a.size()) {
          const char* v = argv[i] + j + 1;
          j = a.size();
          return v;
        }
        if (i + 1 < argc) {
          j = a.size();
          return argv[++i];
        }
        return nullptr;
      };
      const char* v = nullptr;
      switch (flag) {
        case '4': case '6': break;
        case 'D': o.foreground = true; break;
        case 'd': o.debug++; break;
        case 'e': o.log_stderr = true; break;
        case 'i': o.inetd = true; break;
        case 'q': o.quiet = true; break;
        case 't': o.test = true; break;
        case 'T': o.extended_test = true; break;
        case 'f': case 'h': case 'c': case 'E': case 'o': case 'p': case 'C': case 'g': case 'u': case 'k':
          v = value();
          if (v == nullptr) return usage_error(std::string("option requires an argument -- ") + flag);
          if (flag == 'f') o.config_file = v;
          if (flag == 'h') o.host_keys.emplace_back(v);
          if (flag == 'c') o.cert_files.emplace_back(v);
          if (flag == 'E') o.log_file = v;
          if (flag == 'o') o.overrides.emplace_back(v);
          if (flag == 'p') o.ports.emplace_back(v);
          if (flag == 'C') o.test_spec = v;
          if (flag == 'g') o.overrides.emplace_back(std::string("LoginGraceTime ") + v);
          break;
        default:
          return usage_error(std::string("unknown option -- ") + flag);
      }
    }
  }
  // Before anything uses OpenSSL. Every process of a connection ends by
  // exiting: OpenSSL freeing its tables one by one at exit is work the
  // kernel does at once (about 3% of the server's CPU per login); secrets
  // never rest on it, keys are freed (and zeroized) by their owners first.
  // A connection's monitor (and its pre-auth child) leave OpenSSL's error
  // strings unloaded: ~0.3 MiB of resident memory a process, for the text
  // of errors they hardly ever log (such an error then reads
  // error:XXXXXXXX:lib(N)::reason(M), which `openssl errstr XXXXXXXX`
  // spells out); the listener and -t/-T load them.
  uint64_t openssl_options = OPENSSL_INIT_NO_ATEXIT;
  if ((o.monitor || o.inetd) && !o.test && !o.extended_test) openssl_options |= OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS;
  OPENSSL_init_crypto(openssl_options, nullptr);

  // The re-execs need an absolute path to this program.
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    std::fprintf(stderr, "tessera-sshd: cannot find its own path: %s\n", std::strerror(errno));
    return 1;
  }
  self[n] = '\0';
  self_storage() = self;

  o.config_file = absolute(o.config_file);
  o.log_file = absolute(o.log_file);
  for (std::string& f : o.host_keys) f = absolute(f);
  for (std::string& f : o.cert_files) f = absolute(f);

  if (o.monitor) {
    log_setup(o, Level::kInfo);
    return run_monitor(o, 3, 3, 4);
  }
  // Serving needs the session program; say so at start, not at a login.
  if (!o.test && !o.extended_test && access(session_program_path().c_str(), X_OK) != 0) {
    std::fprintf(stderr, "tessera-sshd: the session program %s is missing (%s): it is built and installed beside "
                 "tessera-sshd\n", session_program_path().c_str(), std::strerror(errno));
    return 1;
  }
  if (o.inetd) {
    log_setup(o, Level::kInfo);
    return run_monitor(o, STDIN_FILENO, STDOUT_FILENO, -1);
  }
  return run_listener(o);
}
