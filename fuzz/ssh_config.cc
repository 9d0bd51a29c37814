// Fuzzes ssh_config reading (tessera/ssh/config.h): the input is a config
// file held in memory, resolved for a fixed destination with a fixed local
// user and environment; "Match exec" is answered "false" without running
// anything, and the input's first line is also given as a -o option. Bad
// input must give errors, never a crash; a resolution that succeeds must
// dump, and its values must respect the documented limits. An Include of
// "inc" or "/cfg" reaches a small fixed file or the input itself.
#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/ssh/config.h"

using namespace tessera::ssh::config;

namespace {

// The input may Include itself; a few reads are enough to reach every path
// of the reader, and keep each run fast.
class FewReads : public MemoryFiles {
 public:
  tessera::key::Result<std::optional<std::string>> read(const std::string& path, bool check) override {
    if (++reads_ > 24) return std::optional<std::string>();
    return MemoryFiles::read(path, check);
  }

 private:
  int reads_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  FewReads files;
  files.add("/cfg", input);
  files.add("/home/fuzz/.ssh/inc", "Host *.example.com\n  User included\nMatch final\n  Port 2022\n");

  ResolveRequest request;
  request.host = "Target.Example.COM";
  request.files = ResolveRequest::Files::kFile;
  request.config_file = "/cfg";
  request.reader = &files;
  request.local = LocalIdentity{"fuzz", 1000, "/home/fuzz", "fuzzhost.example.net"};
  request.environment = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOME") return std::string("/home/fuzz");
    return std::nullopt;
  };
  request.match_exec = [](const std::string&) -> tessera::key::Result<bool> { return false; };
  request.command_line.push_back(CommandLineOption::o(input.substr(0, input.find('\n'))));

  Resolution resolution = resolve(request);
  if (resolution.errors.size() > kMaxDiagnostics || resolution.warnings.size() > kMaxDiagnostics) __builtin_trap();
  if (resolution.error_count < resolution.errors.size()) __builtin_trap();
  for (const Diagnostic& diagnostic : resolution.errors) (void)diagnostic.text();
  std::string dumped = dump(resolution);
  if (!resolution.ok()) {
    if (!dumped.empty()) __builtin_trap();
    return 0;
  }
  const Config& config = resolution.config;
  if (dumped.empty() || config.port == 0) __builtin_trap();
  if (config.identity_files.empty() || config.identity_files.size() > kMaxIdentityFiles) __builtin_trap();
  if (config.certificate_files.size() > kMaxCertificateFiles) __builtin_trap();
  if (config.user_known_hosts_files.size() > kMaxKnownHostsFiles) __builtin_trap();
  if (config.ciphers.empty() || config.macs.empty() || config.kex_algorithms.empty()) __builtin_trap();
  if (config.hostname.empty()) __builtin_trap();
  // Values used later expand or fail cleanly.
  for (const std::string& path : config.identity_files) (void)expand(config, Option::kIdentityFile, path);
  if (config.proxy_command) (void)expand(config, Option::kProxyCommand, *config.proxy_command);
  if (config.local_command) (void)expand(config, Option::kLocalCommand, *config.local_command);
  return 0;
}
