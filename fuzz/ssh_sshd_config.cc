// Fuzzes sshd_config reading (ssh/src/server/sshd_config.h): the input is
// /etc/ssh/sshd_config held in memory, its first line also given as a -o
// option; "Include inc.conf" reaches a small fixed file with Match blocks and
// "Include sshd_config" the input itself. A load that succeeds is resolved
// for a few connections (groups from a callback, never the system) and
// dumped; its values must respect the documented limits. Bad input must give
// errors, never a crash. Listen addresses are not resolved (no DNS).
#include <cstdint>
#include <string>
#include <string_view>

#include "server/sshd_config.h"
#include "tessera/ssh/config.h"

using namespace tessera::ssh;
using namespace tessera::ssh::server;

namespace {

// The input may Include itself; a few reads reach every path of the loader
// and keep each run fast.
class FewReads : public config::MemoryFiles {
 public:
  tessera::key::Result<std::optional<std::string>> read(const std::string& path, bool check) override {
    if (++reads_ > 24) return std::optional<std::string>();
    return MemoryFiles::read(path, check);
  }

 private:
  int reads_ = 0;
};

void check(const SshdConfig& c) {
  if (c.ports.empty() || c.ports.size() > kMaxPorts) __builtin_trap();
  if (c.host_keys.size() > kMaxListEntries || c.host_certificates.size() > kMaxListEntries) __builtin_trap();
  if (c.ciphers.empty() || c.macs.empty() || c.kex_algorithms.empty() || c.host_key_algorithms.empty()) __builtin_trap();
  if (c.pubkey_accepted_algorithms.empty() || c.ca_signature_algorithms.empty()) __builtin_trap();
  if (c.password_authentication || c.kbd_interactive_authentication) __builtin_trap();
  if (c.subsystems.size() > kMaxSubsystems || c.accept_env.size() > kMaxListEntries) __builtin_trap();
  for (const std::string& m : c.authentication_methods) {
    if (m != "publickey") __builtin_trap();
  }
  SshdConfig numeric = c;
  numeric.listen_addresses.clear();  // no DNS
  if (dump_sshd_config(numeric).empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const config::Algorithms algorithms = tessera_server_algorithms();
  const std::string input(reinterpret_cast<const char*>(data), size);
  FewReads files;
  files.add("/etc/ssh/sshd_config", input);
  files.add("/etc/ssh/inc.conf", "MaxSessions 4\nMatch User alice Address 10.0.0.0/8\n  PermitTTY no\n"
                                 "Match Group staff\n  AllowTcpForwarding local\n");

  LoadOptions options;
  options.overrides.push_back(input.substr(0, input.find('\n')));
  options.files = &files;
  options.cwd = "/work";
  options.home = "/root";
  options.algorithms = algorithms;
  options.resolve_listen_addresses = false;
  auto file = load_sshd_config("/etc/ssh/sshd_config", options);
  if (!file.ok()) {
    if (file.error().message().empty()) __builtin_trap();
    return 0;
  }
  if (file->warnings.size() > config::kMaxDiagnostics || file->notes.size() > config::kMaxDiagnostics) {
    __builtin_trap();
  }
  check(file->global);

  MatchContext real;
  real.user = "alice";
  real.host = "client.example.com";
  real.address = "10.1.2.3";
  real.local_address = "2001:db8::1";
  real.local_port = 22;
  real.rdomain = "0";
  real.groups = [](const std::string&) -> std::optional<std::vector<std::string>> {
    return std::vector<std::string>{"staff", "wheel"};
  };
  const MatchContext* contexts[] = {nullptr, &real};
  for (const MatchContext* context : contexts) {
    auto resolved = resolve(*file, context);
    if (resolved.ok()) check(*resolved);
  }
  auto spec = parse_match_spec(input.substr(input.rfind('\n') == std::string::npos ? 0 : input.rfind('\n') + 1));
  if (spec.ok()) {
    spec->groups = real.groups;
    auto resolved = resolve(*file, &*spec);
    if (resolved.ok()) check(*resolved);
  }
  return 0;
}
