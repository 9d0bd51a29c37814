// tessera-ssh: the bundled SSH client, with OpenSSH 9.2's ssh(1) command
// line, ssh_config and exit codes (the remote command's status, or 255 for
// ssh's own failures).
#include <fnmatch.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "auth/client_auth.h"
#include "io/connect.h"
#include "client/forward.h"
#include "io/host_check.h"
#include "io/identities.h"
#include "client/options.h"
#include "client/query.h"
#include "client/session.h"
#include "io/client_connection.h"
#include <openssl/crypto.h>
#include "tessera/key/fingerprint.h"
#include "tessera/prompts/readpass.h"
#include "tessera/ssh/config.h"
#include "tessera/sys/event_loop.h"
#include "tessera/sys/spawn.h"
#include "tessera/sys/stdfd.h"
#include "transport/cipher.h"
#include "transport/host_key_algorithms.h"
#include "transport/kex_method.h"
#include "transport/transport.h"

namespace tessera::ssh::client {
namespace {

using io::check_server_host_key;
using io::connect_proxy_command;
using io::connect_tcp;
using io::Endpoint;
using io::HostCheckIo;
using io::HostCheckSettings;
using io::Identities;
using io::IdentitySettings;
using io::TcpSettings;

constexpr int kExitFailure = 255;

// Where messages go: stderr, or the -E file; -q silences all but fatal ones.
struct Log {
  FILE* out = stderr;
  int verbose = 0;
  bool quiet = false;

  bool info_shown = true;  // LogLevel INFO or above

  void error(const std::string& text) const {
    if (!quiet) std::fprintf(out, "%s\n", text.c_str());
  }
  // OpenSSH's logit(): shown unless LogLevel is below INFO.
  void info(const std::string& text) const {
    if (info_shown) error(text);
  }
  void fatal(const std::string& text) const { std::fprintf(out, "%s\n", text.c_str()); }
  void debug(int level, const std::string& text) const {
    if (verbose >= level) std::fprintf(out, "debug%d: %s\n", level, text.c_str());
  }
};

config::Algorithms tessera_algorithms() {
  config::Algorithms a = config::openssh_algorithms();
  auto names = [](auto table) {
    std::vector<std::string> out;
    for (const auto& e : table) out.emplace_back(e.name);
    return out;
  };
  a.ciphers.defaults = a.ciphers.supported = names(transport::supported_ciphers());
  a.macs.defaults = a.macs.supported = names(transport::supported_macs());
  a.kex.defaults = a.kex.supported = names(transport::supported_kex_methods());
  a.host_key.defaults = a.host_key.supported = names(transport::supported_host_key_algorithms());
  a.pubkey.defaults = a.pubkey.supported = auth::default_pubkey_algorithms();
  return a;
}

// Answers host key questions and passwords on the terminal.
std::optional<std::string> ask_terminal(const std::string& prompt) {
  auto answer = prompts::read_passphrase(prompt, prompts::kReadEcho | prompts::kReadAllowEof);
  if (!answer) return std::nullopt;
  return std::string(answer->reveal_text());
}

class AuthPrompts final : public auth::ClientAuthDelegate {
 public:
  AuthPrompts(Identities& ids, const config::Config& cfg, const Log& log, bool changed_host_key)
      : ids_(ids), cfg_(cfg), log_(log), changed_host_key_(changed_host_key) {}

  std::vector<auth::ClientIdentity> identities() override {
    if (cfg_.pubkey_authentication == config::PubkeyAuthentication::kNo) return {};
    return ids_.list();
  }
  void banner(std::string_view text) override {
    if (!log_.quiet) std::fputs(std::string(text).c_str(), stderr);
  }
  std::optional<std::vector<key::SecretBytes>> keyboard_interactive(
      std::string_view name, std::string_view instruction, const std::vector<auth::KbdPrompt>& prompts) override {
    if (cfg_.batch_mode || changed_host_key_ || !cfg_.kbd_interactive_authentication) return std::nullopt;
    if (!name.empty()) std::fprintf(stderr, "%s\n", std::string(name).c_str());
    if (!instruction.empty()) std::fprintf(stderr, "%s\n", std::string(instruction).c_str());
    std::vector<key::SecretBytes> answers;
    for (const auto& p : prompts) {
      auto a = prompts::read_passphrase(p.text, (p.echo ? prompts::kReadEcho : 0) | prompts::kReadAllowEof);
      if (!a) return std::nullopt;
      answers.push_back(std::move(*a));
    }
    return answers;
  }
  std::optional<key::SecretBytes> password(int) override {
    if (cfg_.batch_mode || changed_host_key_ || !cfg_.password_authentication) return std::nullopt;
    auto p = prompts::read_passphrase(cfg_.user + "@" + cfg_.hostname + "'s password: ", prompts::kReadAllowEof);
    if (!p) return std::nullopt;
    return std::move(*p);
  }
  void debug(std::string_view line) override { log_.debug(1, std::string(line)); }

  void set_changed_host_key(bool changed) { changed_host_key_ = changed; }

 private:
  Identities& ids_;
  const config::Config& cfg_;
  const Log& log_;
  bool changed_host_key_;
};

std::vector<std::string> expand_all(const config::Config& cfg, config::Option option,
                                    const std::vector<std::string>& values, const Log& log) {
  std::vector<std::string> out;
  for (const std::string& v : values) {
    auto e = config::expand(cfg, option, v);
    if (!e.ok()) {
      log.error(e.error().message());
      continue;
    }
    out.push_back(std::move(*e));
  }
  return out;
}

std::optional<std::string> agent_socket(const config::Config& cfg) {
  if (cfg.identity_agent) {
    if (*cfg.identity_agent == "none") return std::nullopt;
    if (*cfg.identity_agent != "SSH_AUTH_SOCK") return *cfg.identity_agent;
  }
  const char* env = std::getenv("SSH_AUTH_SOCK");
  if (env == nullptr || *env == '\0') return std::nullopt;
  return std::string(env);
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const size_t end = comma == std::string::npos ? text.size() : comma;
    if (end > start) out.push_back(text.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

volatile sig_atomic_t g_window_changed = 0;
void on_sigwinch(int) { g_window_changed = 1; }

int run(int argc, char** argv) {
  if (auto s = sys::sanitise_standard_fds(); !s.ok()) return kExitFailure;
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--help") {
    std::fputs(help_text(), stdout);
    return 0;
  }
  auto parsed = parse_command_line(args);
  if (!parsed.ok()) {
    if (!parsed.error().detail().empty()) std::fprintf(stderr, "tessera-ssh: %s\n", parsed.error().message().c_str());
    if (parsed.error().code() == key::Errc::kInvalidArgument) std::fputs(usage_text(), stderr);
    return kExitFailure;
  }
  CommandLine& cl = *parsed;
  Log log;
  log.verbose = cl.verbose;
  log.quiet = cl.quiet;
  if (cl.log_file) {
    FILE* f = std::fopen(cl.log_file->c_str(), "a");
    if (f == nullptr) {
      std::fprintf(stderr, "Couldn't open logfile %s: %s\n", cl.log_file->c_str(), std::strerror(errno));
    } else {
      log.out = f;
    }
  }
  if (cl.version) {
    std::fprintf(stderr, "tessera-ssh 0.1.0 (OpenSSH_9.2 compatible), %s\n", OpenSSL_version(OPENSSL_VERSION));
    return 0;
  }
  if (cl.query) return print_query(*cl.query);

  auto local = config::local_identity_from_system();
  if (!local.ok()) {
    log.fatal(local.error().message());
    return kExitFailure;
  }
  config::ResolveRequest request;
  request.host = cl.host;
  request.command_line = cl.options;
  request.files = cl.files;
  request.config_file = cl.config_file;
  request.local = *local;
  request.algorithms = tessera_algorithms();
  request.stdio_forward = cl.stdio_forward.has_value();
  request.match_exec = [](const std::string& command) -> key::Result<bool> {
    auto pid = sys::spawn({"/bin/sh", "-c", command});
    if (!pid.ok()) return pid.error();
    const int status = sys::wait_for_exit(*pid);
    if (!WIFEXITED(status)) return key::Error(key::Errc::kIo, "Match exec command did not exit normally");
    return WEXITSTATUS(status) == 0;
  };
  config::Resolution resolution = config::resolve(request);
  // Warnings about options tessera ignores: the user's own files and -o
  // always; the system-wide file (Debian's sets GSSAPIAuthentication yes
  // for every host) only with -v, or every run would start with a warning
  // the user cannot act on.
  for (const config::Diagnostic& w : resolution.warnings) {
    if (w.origin.file.rfind("/etc/ssh/", 0) == 0) {
      log.debug(1, w.text());
    } else {
      log.error(w.text());
    }
  }
  if (!resolution.ok()) {
    for (const config::Diagnostic& e : resolution.errors) log.fatal(e.text());
    return kExitFailure;
  }
  config::Config& cfg = resolution.config;
  log.info_shown = cfg.log_level >= config::LogLevel::kInfo || cl.verbose > 0;
  if (cl.dump_config) {
    std::fputs(config::dump(resolution).c_str(), stdout);
    return 0;
  }
  if (cl.verbose > 0) {
    log.debug(1, "tessera-ssh 0.1.0, " + std::string(OpenSSL_version(OPENSSL_VERSION)));
  }

  // What the session will be.
  SessionSettings session;
  std::string command = cfg.remote_command.value_or("");
  for (size_t i = 0; i < cl.command.size(); ++i) {
    if (i == 0) command.clear();
    command += (i ? " " : "") + cl.command[i];
  }
  const bool no_session = cl.no_command || cfg.session_type == config::SessionType::kNone || cl.stdio_forward;
  if (cl.subsystem || cfg.session_type == config::SessionType::kSubsystem) {
    if (command.empty()) {
      log.fatal("You must specify a subsystem to invoke.");
      return kExitFailure;
    }
    session.kind = SessionSettings::Kind::kSubsystem;
  } else {
    session.kind = command.empty() ? SessionSettings::Kind::kShell : SessionSettings::Kind::kExec;
  }
  session.command = command;
  const bool tty_in = isatty(0) != 0;
  switch (cl.force_tty > 0 ? config::RequestTty::kYes : cfg.request_tty) {
    case config::RequestTty::kNo: session.want_tty = false; break;
    case config::RequestTty::kForce: session.want_tty = true; break;
    case config::RequestTty::kYes: session.want_tty = tty_in || cl.force_tty > 1; break;
    case config::RequestTty::kAuto: session.want_tty = session.kind == SessionSettings::Kind::kShell && tty_in; break;
  }
  if (cl.force_tty == 1 && !tty_in && cfg.request_tty != config::RequestTty::kForce) {
    log.error("Pseudo-terminal will not be allocated because stdin is not a terminal.");
  }
  if (cl.no_tty) session.want_tty = false;
  if (const char* term = std::getenv("TERM")) session.term = term;
  session.stdin_null = cl.stdin_null || cfg.stdin_null;
  session.escape_char = cfg.escape_char;
  session.quiet = cl.quiet;
  for (const std::string& pattern : cfg.send_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const size_t eq = entry.find('=');
      if (eq == std::string::npos) continue;
      const std::string name = entry.substr(0, eq);
      if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) session.env.emplace_back(name, entry.substr(eq + 1));
    }
  }
  for (const std::string& kv : cfg.set_env) {
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) session.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }

  // Reach the server.
  key::Result<Endpoint> endpoint = key::Error(key::Errc::kIo, "");
  std::optional<std::string> proxy = cfg.proxy_command;
  if (!proxy && !cfg.proxy_jump.empty()) proxy = jump_proxy_command(cfg, argv[0], cl.verbose, cl.config_file);
  if (proxy && *proxy != "none") {
    auto expanded = config::expand(cfg, config::Option::kProxyCommand, *proxy);
    if (!expanded.ok()) {
      log.fatal(expanded.error().message());
      return kExitFailure;
    }
    log.debug(1, "Executing proxy command: exec " + *expanded);
    endpoint = connect_proxy_command(*expanded);
  } else {
    TcpSettings tcp{.host = cfg.hostname,
                    .port = cfg.port,
                    .family = cfg.address_family,
                    .bind_address = cfg.bind_address,
                    .timeout_seconds = cfg.connect_timeout,
                    .attempts = cfg.connection_attempts,
                    .keepalive = cfg.tcp_keep_alive};
    endpoint = connect_tcp(tcp, [&](const std::string& l) { log.debug(1, l); });
  }
  if (!endpoint.ok()) {
    log.fatal("ssh: " + endpoint.error().message());
    return kExitFailure;
  }

  // Host key, identities, algorithms.
  HostCheckSettings hc;
  hc.host = cfg.hostname;
  hc.port = cfg.port;
  hc.host_key_alias = cfg.host_key_alias;
  hc.user_files = cfg.user_known_hosts_files;
  hc.global_files = cfg.global_known_hosts_files;
  hc.strict = cfg.strict_host_key_checking;
  hc.hash_known_hosts = cfg.hash_known_hosts;
  hc.batch_mode = cfg.batch_mode;
  if (cfg.revoked_host_keys && *cfg.revoked_host_keys != "none") {
    auto path = config::expand(cfg, config::Option::kRevokedHostKeys, *cfg.revoked_host_keys);
    if (!path.ok()) {
      log.fatal(path.error().message());
      return kExitFailure;
    }
    hc.revoked_host_keys = *path;
  }
  HostCheckIo hc_io{[&](const std::string& m) { log.error(m); }, ask_terminal,
                    [&](const std::string& m) { log.info(m); }};
  bool changed_host_key = false;

  IdentitySettings id_settings;
  id_settings.identity_files = expand_all(cfg, config::Option::kIdentityFile, cfg.identity_files, log);
  id_settings.identity_files_are_defaults = cfg.identity_files_are_defaults;
  id_settings.certificate_files = expand_all(cfg, config::Option::kCertificateFile, cfg.certificate_files, log);
  id_settings.identities_only = cfg.identities_only;
  id_settings.agent_socket = agent_socket(cfg);
  id_settings.pkcs11_provider = cfg.pkcs11_provider;
  id_settings.batch_mode = cfg.batch_mode;
  id_settings.security_key_provider = cfg.security_key_provider;
  Identities identities(
      id_settings, [&](const std::string& m) { log.error(m); }, [&](const std::string& m) { log.debug(1, m); });

  transport::TransportConfig tc;
  tc.is_client = true;
  tc.kex = cfg.kex_algorithms;
  tc.host_key = cfg.host_key_algorithms;
  tc.ciphers = cfg.ciphers;
  tc.macs = cfg.macs;
  tc.rekey_bytes = cfg.rekey_limit_bytes;
  tc.rekey_interval = std::chrono::seconds(cfg.rekey_interval_seconds);

  auth::ClientAuthConfig ac;
  ac.user = cfg.user;
  if (cfg.preferred_authentications) ac.methods = split_commas(*cfg.preferred_authentications);
  ac.pubkey_algorithms = cfg.pubkey_accepted_algorithms;
  ac.password_prompts = cfg.number_of_password_prompts;
  AuthPrompts prompts(identities, cfg, log, false);

  auto loop = sys::EventLoop::create();
  if (!loop.ok()) {
    log.fatal(loop.error().message());
    return kExitFailure;
  }
  int exit_code = kExitFailure;
  std::unique_ptr<Session> session_channel;
  std::unique_ptr<Forwarding> forwarding;
  std::unique_ptr<io::ClientConnection> conn;
  const std::string peer = cfg.hostname;

  io::ClientCallbacks callbacks;
  callbacks.check_host_key = [&](const transport::ServerHostKey& hk) -> key::Status {
    log.debug(1, "Server host key: " + std::string(hk.key.ssh_name()) + " " +
                     key::fingerprint(hk.key, key::FingerprintHash::kSha256));
    auto r = check_server_host_key(hc, hk, hc_io);
    if (!r.ok()) return r.error();
    changed_host_key = r->changed_key_accepted;
    prompts.set_changed_host_key(changed_host_key);
    return key::ok_status();
  };
  callbacks.on_transport_ready = [&] {
    log.debug(1, "SSH2_MSG_NEWKEYS received");
    // Bind the agent to this session so that destination constraints hold.
    if (agent::AgentClient* agent = identities.agent(); agent != nullptr && conn->transport().server_host_key()) {
      const transport::ServerHostKey& hk = *conn->transport().server_host_key();
      agent::SessionBind bind{hk.key, hk.certificate, conn->transport().session_id(),
                              conn->transport().session_signature(), false};
      if (auto s = agent->session_bind(bind); !s.ok()) log.debug(1, "agent session-bind: " + s.error().message());
    }
  };
  callbacks.on_authenticated = [&] {
    log.debug(1, "Authenticated to " + peer + ".");
    identities.close_tokens();
    const bool forward_agent = (cfg.forward_agent || cfg.forward_agent_socket) && !changed_host_key;
    forwarding = std::make_unique<Forwarding>(**loop, *conn, log.quiet);
    if (forward_agent) {
      std::optional<std::string> socket = cfg.forward_agent_socket ? cfg.forward_agent_socket : agent_socket(cfg);
      std::optional<agent::SessionBind> bind;
      if (const auto& hk = conn->transport().server_host_key()) {
        bind = agent::SessionBind{hk->key, hk->certificate, conn->transport().session_id(),
                                  conn->transport().session_signature(), true};
      }
      if (socket) forwarding->enable_agent_forwarding(*socket, std::move(bind));
    }
    if (!changed_host_key) {
      for (const config::Forward& f : cfg.local_forwards) {
        auto s = forwarding->add_local_forward(f);
        if (!s.ok()) {
          log.error(s.error().message());
          if (cfg.exit_on_forward_failure) {
            conn->disconnect("forwarding failed");
            return;
          }
        }
      }
    }
    if (cl.stdio_forward) {
      auto s = forwarding->start_stdio_forward(*cl.stdio_forward, [&](int code) {
        exit_code = code;
        conn->disconnect("disconnected by user");
      });
      if (!s.ok()) {
        log.fatal(s.error().message());
        conn->disconnect("stdio forwarding failed");
      }
      return;
    }
    if (no_session) return;
    session.forward_agent = forward_agent && forwarding->agent_forwarding();
    session_channel = std::make_unique<Session>(**loop, *conn, session, [&](int code) {
      exit_code = code;
      conn->disconnect("disconnected by user");
    });
    session_channel->start();
  };
  callbacks.on_drained = [&] {
    if (session_channel) session_channel->on_drained();
    if (forwarding) forwarding->on_drained();
  };
  bool failed = false;
  callbacks.on_closed = [&](std::optional<key::Error> error) {
    if (error) {
      failed = true;
      const std::string m = error->message();
      if (m.rfind("Permission denied", 0) == 0) {
        log.fatal(cfg.user + "@" + peer + ": " + m);
      } else if (m.rfind("no matching", 0) == 0) {
        log.fatal("Unable to negotiate with " + peer + " port " + std::to_string(cfg.port) + ": " + m);
      } else if (m == "Timeout, server not responding.") {
        log.fatal("Timeout, server " + peer + " not responding.");
      } else if (m.rfind("Host key verification failed", 0) == 0) {
        log.fatal(m);
      } else {
        log.fatal(m.rfind("Received disconnect", 0) == 0 ? m : "ssh: " + m);
      }
    }
    (*loop)->stop();
  };
  callbacks.debug = [&](std::string_view m) { log.debug(1, std::string(m)); };

  conn = std::make_unique<io::ClientConnection>(**loop, std::move(endpoint->in), std::move(endpoint->out), tc, ac,
                                                prompts, callbacks);
  if (auto s = conn->start(); !s.ok()) {
    log.fatal(s.error().message());
    return kExitFailure;
  }
  if (cfg.server_alive_interval > 0) {
    conn->set_keepalive(std::chrono::seconds(cfg.server_alive_interval), cfg.server_alive_count_max);
  }
  signal(SIGWINCH, on_sigwinch);
  // SIGWINCH is polled once a second and after every event: the loop has no
  // signal source of its own.
  std::function<void()> poll_winch = [&] {
    if (g_window_changed) {
      g_window_changed = 0;
      if (session_channel) session_channel->window_changed();
    }
    (*loop)->add_timer((*loop)->now() + std::chrono::milliseconds(250), poll_winch);
  };
  if (isatty(0)) poll_winch();
  (*loop)->run();

  session_channel.reset();
  forwarding.reset();
  conn.reset();
  if (endpoint->proxy_pid > 0) {
    kill(endpoint->proxy_pid, SIGHUP);
    sys::wait_for_exit(endpoint->proxy_pid);
  }
  if (failed) return kExitFailure;
  return exit_code;
}

}  // namespace
}  // namespace tessera::ssh::client

int main(int argc, char** argv) { return tessera::ssh::client::run(argc, argv); }
