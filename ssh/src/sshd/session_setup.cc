#include "sshd/session_setup.h"

#include <string>

#include "tessera/key/wire.h"

namespace tessera::ssh::sshd {

namespace {

constexpr std::string_view kMagic = "tessera-sshd-session-1";
constexpr uint32_t kMaxEntries = 4096;

void write_list(key::Writer& w, const std::vector<std::string>& list) {
  w.u32(static_cast<uint32_t>(list.size()));
  for (const std::string& s : list) w.string(s);
}

void write_pairs(key::Writer& w, const std::vector<std::pair<std::string, std::string>>& pairs) {
  w.u32(static_cast<uint32_t>(pairs.size()));
  for (const auto& [a, b] : pairs) {
    w.string(a);
    w.string(b);
  }
}

void write_opens(key::Writer& w, const std::vector<server::PermitOpen>& opens) {
  w.u32(static_cast<uint32_t>(opens.size()));
  for (const server::PermitOpen& p : opens) {
    w.string(p.host);
    w.u32(static_cast<uint32_t>(p.port));
  }
}

key::Result<std::string> read_text(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(std::string_view text, in.text());
  return std::string(text);
}

key::Result<uint32_t> read_count(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t n, in.u32());
  if (n > kMaxEntries) return key::Error(key::Errc::kTooLarge, "session setup: too many entries");
  return n;
}

key::Result<std::vector<std::string>> read_list(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t n, read_count(in));
  std::vector<std::string> out;
  for (uint32_t i = 0; i < n; ++i) {
    TESSERA_ASSIGN_OR_RETURN(std::string s, read_text(in));
    out.push_back(std::move(s));
  }
  return out;
}

key::Result<std::vector<std::pair<std::string, std::string>>> read_pairs(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t n, read_count(in));
  std::vector<std::pair<std::string, std::string>> out;
  for (uint32_t i = 0; i < n; ++i) {
    TESSERA_ASSIGN_OR_RETURN(std::string a, read_text(in));
    TESSERA_ASSIGN_OR_RETURN(std::string b, read_text(in));
    out.emplace_back(std::move(a), std::move(b));
  }
  return out;
}

key::Result<std::vector<server::PermitOpen>> read_opens(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t n, read_count(in));
  std::vector<server::PermitOpen> out;
  for (uint32_t i = 0; i < n; ++i) {
    server::PermitOpen p;
    TESSERA_ASSIGN_OR_RETURN(p.host, read_text(in));
    TESSERA_ASSIGN_OR_RETURN(uint32_t port, in.u32());
    p.port = static_cast<int32_t>(port);
    if (p.port != server::PermitOpen::kAnyPort && (p.port < 0 || p.port > 65535)) {
      return key::Error(key::Errc::kMalformed, "session setup: bad port");
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

key::SecretBytes SessionSetup::serialize() const {
  key::Writer w;
  w.string(kMagic);
  w.string(state.reveal());
  w.u64(io.transport.rekey_bytes);
  w.u64(static_cast<uint64_t>(io.transport.rekey_interval.count()));
  w.u64(static_cast<uint64_t>(io.client_alive_interval.count()));
  w.u32(static_cast<uint32_t>(io.client_alive_count_max));
  w.u32(static_cast<uint32_t>(log_level));
  const server::SessionPolicy& p = policy;
  w.string(p.user.name);
  w.u32(p.user.uid);
  w.u32(p.user.gid);
  w.string(p.user.home);
  w.string(p.user.shell);
  w.boolean(p.forced_command.has_value());
  if (p.forced_command) w.string(*p.forced_command);
  w.boolean(p.permit_pty);
  w.boolean(p.permit_user_rc);
  w.boolean(p.permit_agent_forwarding);
  w.boolean(p.permit_tcp_forwarding);
  w.boolean(p.permit_open.has_value());
  if (p.permit_open) write_opens(w, *p.permit_open);
  write_opens(w, p.key_permit_open);
  write_pairs(w, p.subsystems);
  write_list(w, p.accept_env);
  write_pairs(w, p.set_env);
  write_pairs(w, p.key_environment);
  w.string(p.client_ip);
  w.u32(p.client_port);
  w.string(p.server_ip);
  w.u32(p.server_port);
  w.u64(p.max_sessions);
  return key::SecretBytes::copy_of(w.data());
}

key::Result<SessionSetup> SessionSetup::parse(std::span<const uint8_t> bytes) {
  key::Reader in(bytes);
  SessionSetup s;
  TESSERA_ASSIGN_OR_RETURN(std::string magic, read_text(in));
  if (magic != kMagic) return key::Error(key::Errc::kMalformed, "not a tessera-sshd session setup");
  TESSERA_ASSIGN_OR_RETURN(auto state, in.string());
  s.state = key::SecretBytes::copy_of(state);
  TESSERA_ASSIGN_OR_RETURN(s.io.transport.rekey_bytes, in.u64());
  TESSERA_ASSIGN_OR_RETURN(uint64_t rekey_seconds, in.u64());
  TESSERA_ASSIGN_OR_RETURN(uint64_t alive_seconds, in.u64());
  TESSERA_ASSIGN_OR_RETURN(uint32_t alive_max, in.u32());
  TESSERA_ASSIGN_OR_RETURN(uint32_t level, in.u32());
  if (rekey_seconds > (uint64_t{1} << 32) || alive_seconds > (uint64_t{1} << 32) || alive_max > 1000000 ||
      level > static_cast<uint32_t>(Level::kDebug3)) {
    return key::Error(key::Errc::kMalformed, "session setup: value out of range");
  }
  s.io.transport.rekey_interval = std::chrono::seconds(rekey_seconds);
  s.io.client_alive_interval = std::chrono::seconds(alive_seconds);
  s.io.client_alive_count_max = static_cast<int>(alive_max);
  s.log_level = static_cast<Level>(level);
  server::SessionPolicy& p = s.policy;
  TESSERA_ASSIGN_OR_RETURN(p.user.name, read_text(in));
  TESSERA_ASSIGN_OR_RETURN(p.user.uid, in.u32());
  TESSERA_ASSIGN_OR_RETURN(p.user.gid, in.u32());
  TESSERA_ASSIGN_OR_RETURN(p.user.home, read_text(in));
  TESSERA_ASSIGN_OR_RETURN(p.user.shell, read_text(in));
  TESSERA_ASSIGN_OR_RETURN(bool forced, in.boolean());
  if (forced) {
    TESSERA_ASSIGN_OR_RETURN(std::string command, read_text(in));
    p.forced_command = std::move(command);
  }
  TESSERA_ASSIGN_OR_RETURN(p.permit_pty, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(p.permit_user_rc, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(p.permit_agent_forwarding, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(p.permit_tcp_forwarding, in.boolean());
  TESSERA_ASSIGN_OR_RETURN(bool limited, in.boolean());
  if (limited) {
    TESSERA_ASSIGN_OR_RETURN(auto opens, read_opens(in));
    p.permit_open = std::move(opens);
  }
  TESSERA_ASSIGN_OR_RETURN(p.key_permit_open, read_opens(in));
  TESSERA_ASSIGN_OR_RETURN(p.subsystems, read_pairs(in));
  TESSERA_ASSIGN_OR_RETURN(p.accept_env, read_list(in));
  TESSERA_ASSIGN_OR_RETURN(p.set_env, read_pairs(in));
  TESSERA_ASSIGN_OR_RETURN(p.key_environment, read_pairs(in));
  TESSERA_ASSIGN_OR_RETURN(p.client_ip, read_text(in));
  TESSERA_ASSIGN_OR_RETURN(uint32_t client_port, in.u32());
  TESSERA_ASSIGN_OR_RETURN(p.server_ip, read_text(in));
  TESSERA_ASSIGN_OR_RETURN(uint32_t server_port, in.u32());
  TESSERA_ASSIGN_OR_RETURN(uint64_t max_sessions, in.u64());
  TESSERA_TRY(in.expect_end());
  if (client_port > 65535 || server_port > 65535) return key::Error(key::Errc::kMalformed, "session setup: bad port");
  p.client_port = static_cast<uint16_t>(client_port);
  p.server_port = static_cast<uint16_t>(server_port);
  p.max_sessions = static_cast<size_t>(max_sessions);
  return s;
}

}  // namespace tessera::ssh::sshd
