#include "sshd/connection_setup.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmpx.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <ctime>
#include <string>

#include "io/host_key_sources.h"
#include "server/privileges.h"
#include "server/sshd_config.h"
#include "server/user_keys.h"
#include "sshd/session_setup.h"
#include "tessera/key/match.h"

namespace tessera::ssh::sshd {

using key::Errc;
using key::Error;

struct ConnectionSetup::Impl {
  server::SshdConfigFile file;
  server::SshdConfig config;        // resolved for the connection (once the user is known)
  std::optional<server::UserIdentity> user;
  std::string user_name;            // the first name asked for
  server::UserKeyChecker checker;
  server::AuthOptions accepted_options;
};

namespace {

void describe(const sockaddr_storage& ss, std::string& address, uint16_t& port) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
    // An IPv4 client on an IPv6 socket is logged as IPv4, as sshd does.
    std::string_view t(text);
    if (t.starts_with("::ffff:") && t.find('.') != std::string_view::npos) {
      address = std::string(t.substr(7));
      return;
    }
  } else {
    address = "UNKNOWN";
    port = 65535;
    return;
  }
  address = text;
}

Level level_of(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kQuiet: return Level::kQuiet;
    case config::LogLevel::kFatal: return Level::kFatal;
    case config::LogLevel::kError: return Level::kError;
    case config::LogLevel::kInfo: return Level::kInfo;
    case config::LogLevel::kVerbose: return Level::kVerbose;
    case config::LogLevel::kDebug1: return Level::kDebug1;
    case config::LogLevel::kDebug2: return Level::kDebug2;
    case config::LogLevel::kDebug3: return Level::kDebug3;
  }
  return Level::kInfo;
}

std::string join(const std::vector<std::string>& list) {
  std::string out;
  for (const std::string& s : list) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

std::optional<std::vector<std::string>> group_names(const std::string& user) {
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) return std::nullopt;
  int n = 64;
  std::vector<gid_t> gids(static_cast<size_t>(n));
  if (getgrouplist(user.c_str(), pw->pw_gid, gids.data(), &n) < 0) {
    gids.resize(static_cast<size_t>(n));
    if (getgrouplist(user.c_str(), pw->pw_gid, gids.data(), &n) < 0) return std::vector<std::string>{};
  }
  gids.resize(static_cast<size_t>(n));
  std::vector<std::string> names;
  for (gid_t g : gids) {
    if (const group* gr = getgrgid(g)) names.emplace_back(gr->gr_name);
  }
  return names;
}

}  // namespace

ConnectionSetup::~ConnectionSetup() = default;

key::Result<std::unique_ptr<ConnectionSetup>> ConnectionSetup::load(const Options& options, int in_fd, int out_fd) {
  std::unique_ptr<ConnectionSetup> c(new ConnectionSetup());
  c->impl_ = std::make_unique<Impl>();
  TESSERA_ASSIGN_OR_RETURN(c->impl_->file, load_config(options));
  c->impl_->config = c->impl_->file.global;
  sockaddr_storage peer{}, local{};
  socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
  if (getpeername(in_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) {
    describe(peer, c->peer_address_, c->peer_port_);
  } else {
    c->peer_address_ = "UNKNOWN";
  }
  if (getsockname(in_fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
    describe(local, c->local_address_, c->local_port_);
  } else {
    c->local_address_ = "UNKNOWN";
  }
  c->peer_description_ = c->peer_address_ + " port " + std::to_string(c->peer_port_);
  c->client_fd_ = in_fd;
  c->client_out_fd_ = out_fd;
  c->apply(c->impl_->config);
  // The banner is read now, by root, before the child that sends it is
  // sandboxed.
  if (!c->settings_.banner_file.empty() && c->settings_.banner_file != "none") {
    FILE* f = std::fopen(c->settings_.banner_file.c_str(), "r");
    if (f != nullptr) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0 && c->banner_text_.size() < 64 * 1024) {
        c->banner_text_.append(buf, n);
      }
      std::fclose(f);
    }
  }
  c->session_argv_ = {session_program_path()};
  if (options.debug > 0) c->session_argv_.push_back("-d");
  // Its log lines go through the monitor; -e only for what it says before
  // the monitor is reachable.
  if (options.log_stderr) c->session_argv_.push_back("-e");
  return c;
}

void ConnectionSetup::apply(const server::SshdConfig& cfg) {
  Settings& s = settings_;
  s.kex = cfg.kex_algorithms;
  s.host_key_algorithms = cfg.host_key_algorithms;
  s.ciphers = cfg.ciphers;
  s.macs = cfg.macs;
  s.rekey_bytes = cfg.rekey_limit;
  s.rekey_interval = std::chrono::seconds(cfg.rekey_interval);
  s.client_alive_interval = std::chrono::seconds(cfg.client_alive_interval);
  s.client_alive_count_max = cfg.client_alive_count_max;
  s.host_key_files = cfg.host_keys;
  s.host_certificate_files = cfg.host_certificates;
  s.host_key_agent = cfg.host_key_agent.value_or("");
  s.max_auth_tries = static_cast<unsigned>(std::max(1, cfg.max_auth_tries));
  s.login_grace_time = std::chrono::seconds(cfg.login_grace_time);
  s.banner_file = cfg.banner.value_or("");
  s.log_level = level_of(cfg.log_level);
}

bool ConnectionSetup::valid_user() const { return impl_->user.has_value(); }

transport::ServerKexConfig ConnectionSetup::kex_config() const {
  // Group exchange as sshd: offered always, groups from ModuliFile (read by
  // the monitor at each exchange; the sandboxed child cannot open files).
  transport::GexConfig gex;
  gex.moduli_file = impl_->config.moduli_file;
  gex.log = [](bool is_error, const std::string& text) { log_line(is_error ? Level::kError : Level::kInfo, text); };
  return transport::ServerKexConfig{.kex = settings_.kex,
                                    .host_key = settings_.host_key_algorithms,
                                    .ciphers = settings_.ciphers,
                                    .macs = settings_.macs,
                                    .gex = std::move(gex)};
}

io::ServerIoConfig ConnectionSetup::preauth_io_config() const {
  io::ServerIoConfig io;
  io.transport.is_client = false;
  io.auth.max_auth_tries = settings_.max_auth_tries;
  io.auth.banner = banner_text_;
  return io;
}

key::Result<std::unique_ptr<transport::HostKeySigner>> ConnectionSetup::load_host_keys() {
  // Key files, keys in the HostKeyAgent and keys on PKCS#11 tokens, mixed as
  // sshd mixes them. Loaded anew for each connection, so an agent or token
  // that comes back serves the next one; one that hangs fails its signature
  // after the timeout, within LoginGraceTime.
  io::HostKeySources sources;
  sources.host_keys = settings_.host_key_files;
  sources.certificates = settings_.host_certificate_files;
  sources.agent = settings_.host_key_agent;
  if (settings_.login_grace_time.count() > 0) {
    sources.timeout = std::min(sources.timeout,
                               std::chrono::duration_cast<std::chrono::milliseconds>(settings_.login_grace_time));
  }
  auto on_failure = [](const std::string& failure) { log_line(Level::kError, failure); };
  TESSERA_ASSIGN_OR_RETURN(io::LoadedHostKeySet loaded, io::load_host_key_set(sources, on_failure));
  for (const std::string& w : loaded.warnings) log_line(Level::kError, w);
  for (const std::string& note : loaded.notes) log_line(Level::kDebug1, note);
  return std::unique_ptr<transport::HostKeySigner>(std::move(loaded.keys));
}

server::KeyVerdict ConnectionSetup::check_key(const auth::PublickeyAttempt& attempt) {
  Impl& m = *impl_;
  if (m.user_name.empty()) {
    m.user_name = attempt.user;
    user_ = attempt.user;
    auto who = server::lookup_user(attempt.user);
    if (who.ok()) m.user = std::move(*who);
    if (!m.user) log_line(Level::kInfo, "Invalid user " + attempt.user + " from " + peer_description_);
    server::MatchContext context;
    context.user = attempt.user;
    context.host = peer_address_;
    context.address = peer_address_;
    context.local_address = local_address_;
    context.local_port = local_port_;
    context.groups = group_names;
    auto resolved = server::resolve(m.file, &context);
    if (resolved.ok()) {
      m.config = std::move(*resolved);
    } else {
      log_line(Level::kError, "Match: " + resolved.error().message());
      m.user.reset();
    }
  }
  if (!m.user) return {.allowed = false, .log_detail = "invalid user"};
  const server::SshdConfig& cfg = m.config;
  if (!cfg.pubkey_authentication) return {.allowed = false, .log_detail = "PubkeyAuthentication is off"};
  const std::string& name = m.user->name;
  // AllowUsers / DenyUsers / AllowGroups / DenyGroups, as sshd's allowed_user().
  // The user's groups matter only to AllowGroups and DenyGroups: looking
  // them up (NSS, with systemd's module a round trip to userdbd) is skipped
  // without them.
  const bool by_group = !cfg.allow_groups.empty() || !cfg.deny_groups.empty();
  if (auto denied = server::user_access_denied(cfg, name, by_group ? group_names(name) : std::nullopt, peer_address_,
                                               peer_address_)) {
    log_line(Level::kInfo, *denied);
    return {.allowed = false, .log_detail = *denied};
  }
  server::UserKeysConfig keys;
  keys.authorized_keys_files = cfg.authorized_keys_files;
  keys.authorized_principals_file = cfg.authorized_principals_file.value_or("");
  keys.trusted_user_ca_keys = cfg.trusted_user_ca_keys.value_or("");
  keys.revoked_keys = cfg.revoked_keys.value_or("");
  keys.strict_modes = cfg.strict_modes;
  keys.pubkey_accepted_algorithms = join(cfg.pubkey_accepted_algorithms);
  keys.ca_signature_algorithms = join(cfg.ca_signature_algorithms);
  keys.required_rsa_size = static_cast<unsigned>(cfg.required_rsa_size);
  const server::TargetUser target{.name = name, .uid = m.user->uid, .gid = m.user->gid, .home = m.user->home};
  const server::RemoteClient client{.address = peer_address_, .host = peer_address_};
  const server::UserKeyRequest request{
      .algorithm = attempt.algorithm,
      .key_blob = attempt.key_blob,
      .now = static_cast<uint64_t>(std::time(nullptr)),
  };
  // The user's files are read as the user (NFS homes, and no reading of
  // what the user could not read), TrustedUserCAKeys and RevokedKeys as
  // root, as sshd does; StrictModes still checks owners and modes.
  keys.open_user_files_as_user = true;
  server::UserKeyDecision decision = m.checker.check(target, keys, client, request);
  for (const server::LogLine& line : decision.log) log_line(level_of(line.level), line.text);
  if (!decision.accepted) {
    return {.allowed = false,
            .log_detail = decision.key_description + (decision.reason.empty() ? "" : " (" + decision.reason + ")")};
  }
  // PermitRootLogin: publickey is allowed for root unless "no", or only
  // with a forced command under forced-commands-only.
  if (m.user->uid == 0) {
    const bool forced = decision.options.force_command.has_value() || cfg.force_command.has_value();
    if (cfg.permit_root_login == server::PermitRootLogin::kNo ||
        (cfg.permit_root_login == server::PermitRootLogin::kForcedCommandsOnly && !forced)) {
      log_line(Level::kInfo, "ROOT LOGIN REFUSED FROM " + peer_address_ + " port " + std::to_string(peer_port_));
      return {.allowed = false, .log_detail = decision.key_description + " (root login refused)"};
    }
  }
  if (attempt.signature) m.accepted_options = decision.options;
  return {.allowed = true,
          .log_detail = decision.key_description,
          .require_user_presence = !decision.options.no_require_user_presence,
          .require_user_verification = decision.options.require_verify};
}

key::Status ConnectionSetup::record_pty(bool login, std::string_view tty, pid_t pid) {
  Impl& m = *impl_;
  if (!m.user) return Error(Errc::kInvalidArgument, "no user");
  // Only a pty that belongs to the user: the session process is the user's
  // and could name any tty.
  if (!tty.starts_with("/dev/pts/") || tty.find("..") != std::string_view::npos) {
    return Error(Errc::kInvalidArgument, "not a pty");
  }
  struct stat st {};
  const std::string path(tty);
  if (login && (stat(path.c_str(), &st) != 0 || st.st_uid != m.user->uid)) {
    return Error(Errc::kInvalidArgument, "pty does not belong to the user");
  }
  utmpx entry{};
  entry.ut_type = login ? USER_PROCESS : DEAD_PROCESS;
  entry.ut_pid = pid;
  const std::string line = path.substr(5);  // "pts/N"
  std::strncpy(entry.ut_line, line.c_str(), sizeof(entry.ut_line));
  std::strncpy(entry.ut_id, line.size() > 4 ? line.substr(line.size() - 4).c_str() : line.c_str(), sizeof(entry.ut_id));
  if (login) {
    std::strncpy(entry.ut_user, m.user->name.c_str(), sizeof(entry.ut_user));
    std::strncpy(entry.ut_host, peer_address_.c_str(), sizeof(entry.ut_host));
  }
  timeval now{};
  gettimeofday(&now, nullptr);
  entry.ut_tv.tv_sec = static_cast<int32_t>(now.tv_sec);
  entry.ut_tv.tv_usec = static_cast<int32_t>(now.tv_usec);
  setutxent();
  pututxline(&entry);
  endutxent();
  updwtmpx(_PATH_WTMP, &entry);
  return key::ok_status();
}

int ConnectionSetup::run_session_process(const auth::PublickeyAttempt& who, std::span<const uint8_t> state,
                                         const std::function<void(int)>& serve) {
  Impl& m = *impl_;
  if (!m.user || m.user->name != who.user) {
    log_line(Level::kError, "monitor: the authenticated user is not the one looked up");
    return 255;
  }
  const server::SshdConfig& cfg = m.config;
  const server::AuthOptions& opts = m.accepted_options;
  SessionSetup setup;
  setup.state = key::SecretBytes::copy_of(state);
  setup.io.transport.rekey_bytes = cfg.rekey_limit;
  setup.io.transport.rekey_interval = std::chrono::seconds(cfg.rekey_interval);
  setup.io.client_alive_interval = std::chrono::seconds(cfg.client_alive_interval);
  setup.io.client_alive_count_max = cfg.client_alive_count_max;
  setup.log_level = settings_.log_level;
  server::SessionPolicy& p = setup.policy;
  p.user = {.name = m.user->name, .uid = m.user->uid, .gid = m.user->gid, .home = m.user->home,
            .shell = m.user->shell};
  if (cfg.force_command) {
    p.forced_command = cfg.force_command;
  } else if (opts.force_command) {
    p.forced_command = opts.force_command;
  }
  p.permit_pty = cfg.permit_tty && opts.permit_pty;
  // sshd never runs ~/.ssh/rc before ForceCommand (a key's command= does not stop it).
  p.permit_user_rc = cfg.permit_user_rc && opts.permit_user_rc && !cfg.force_command;
  p.permit_agent_forwarding = cfg.allow_agent_forwarding && !cfg.disable_forwarding && opts.permit_agent_forwarding;
  p.permit_tcp_forwarding = !cfg.disable_forwarding && opts.permit_port_forwarding &&
                            (cfg.allow_tcp_forwarding == server::Forwarding::kYes ||
                             cfg.allow_tcp_forwarding == server::Forwarding::kLocal);
  if (cfg.permit_open) {
    std::vector<server::PermitOpen> opens;
    for (const server::PermitTarget& t : *cfg.permit_open) {
      opens.push_back({.host = t.host, .port = t.port == 0 ? server::PermitOpen::kAnyPort : t.port});
    }
    p.permit_open = std::move(opens);
  }
  for (const std::string& entry : opts.permit_open) {
    const size_t colon = entry.rfind(':');
    if (colon == std::string::npos) continue;
    std::string host = entry.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string port = entry.substr(colon + 1);
    p.key_permit_open.push_back({.host = host, .port = port == "*" ? server::PermitOpen::kAnyPort : std::atoi(port.c_str())});
  }
  for (const server::Subsystem& s : cfg.subsystems) p.subsystems.emplace_back(s.name, s.args);
  p.accept_env = cfg.accept_env;
  for (const std::string& e : cfg.set_env) {
    const size_t eq = e.find('=');
    if (eq != std::string::npos) p.set_env.emplace_back(e.substr(0, eq), e.substr(eq + 1));
  }
  if (cfg.permit_user_environment || cfg.permit_user_environment_patterns) {
    for (const std::string& e : opts.environment) {
      const size_t eq = e.find('=');
      if (eq == std::string::npos) continue;
      const std::string name = e.substr(0, eq);
      if (cfg.permit_user_environment_patterns &&
          key::match_pattern_list(name, *cfg.permit_user_environment_patterns) != 1) {
        continue;
      }
      p.key_environment.emplace_back(name, e.substr(eq + 1));
    }
  }
  p.client_ip = peer_address_;
  p.client_port = peer_port_;
  p.server_ip = local_address_;
  p.server_port = local_port_;
  p.max_sessions = static_cast<size_t>(std::max(0, cfg.max_sessions));

  // The program is found now, by root: the user may not be able to reach
  // its directory (a 0700 checkout), and the file execve'd is the one
  // opened here, whatever is renamed onto its path afterwards.
  const int program = open(session_argv_[0].c_str(), O_PATH | O_CLOEXEC);
  if (program < 0) {
    log_line(Level::kError, "session: cannot open " + session_argv_[0] + ": " + std::strerror(errno));
    return 255;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    log_line(Level::kError, std::string("socketpair: ") + std::strerror(errno));
    close(program);
    return 255;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    log_line(Level::kError, std::string("fork: ") + std::strerror(errno));
    close(program);
    close(sv[0]);
    close(sv[1]);
    return 255;
  }
  if (pid == 0) {
    // The session process: the client socket on 3 (and 5 for writing:
    // stdout in inetd mode), the monitor on 4, then
    // the user for good, then a fresh program (nothing of the monitor's
    // memory, host keys included, survives exec).
    close(sv[0]);
    // Out of the way of 3, 4 and 5 first, so that no dup2 clobbers another
    // (or the program).
    const int monitor = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    const int out = fcntl(client_out_fd_, F_DUPFD_CLOEXEC, 10);
    const int in = fcntl(client_fd_, F_DUPFD_CLOEXEC, 10);
    const int exe = fcntl(program, F_DUPFD_CLOEXEC, 10);
    if (monitor < 0 || out < 0 || in < 0 || exe < 0 || dup2(monitor, 4) < 0 || dup2(out, 5) < 0 || dup2(in, 3) < 0) {
      _exit(255);
    }
    if (auto s = server::drop_to_user(*m.user); !s.ok()) {
      log_line(Level::kError, "session: " + s.error().message());
      _exit(255);
    }
    std::vector<std::string> args = session_argv_;
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    char* envp[] = {nullptr};
    execveat(exe, "", argv.data(), envp, AT_EMPTY_PATH);
    log_line(Level::kError, "session: cannot execute " + args[0] + ": " + std::strerror(errno));
    _exit(255);
  }
  close(program);
  close(sv[1]);
  if (client_out_fd_ != client_fd_) close(client_out_fd_);
  close(client_fd_);
  const key::SecretBytes frame = setup.serialize();
  if (!server::write_frame(sv[0], frame.reveal()).ok()) {
    log_line(Level::kError, "monitor: the session process did not start");
  } else {
    serve(sv[0]);
  }
  close(sv[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  log_line(Level::kInfo, "Disconnected from user " + m.user->name + " " + peer_description_);
  return 0;
}

}  // namespace tessera::ssh::sshd
