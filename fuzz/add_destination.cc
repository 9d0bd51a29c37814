// Fuzzes tessera-add's -h destination constraint specs
// (agent/src/add/destination.cc): "[user@]host", "from>to", "[host]:port".
// Host keys come from a known_hosts file whose wildcard lines match any
// host, so every spec that parses reaches the host key lookup and the hop
// checks.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "destination.h"

namespace {

// The known_hosts file, removed at exit (a plain array: it outlives every
// static object the exit handlers might otherwise find destroyed).
char g_path[] = "/tmp/tessera-fuzz-known-hosts-XXXXXX";

const std::vector<std::string>& hostkey_files() {
  static const std::vector<std::string> files = [] {
    char* path = g_path;
    int fd = ::mkstemp(path);
    if (fd < 0) std::abort();  // the fuzzer's own set-up
    static const char kLines[] =
        "* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0fEsLKB9FKDafuGH+Jo9uyEFtAmTMwuSxuvN1TSbrk\n"
        "@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0fEsLKB9FKDafuGH+Jo9uyEFtAmTMwuSxuvN1TSbrk\n"
        "@revoked bad.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0fEsLKB9FKDafuGH+Jo9uyEFtAmTMwuSxuvN1TSbrk\n"
        "[jump]:2222,!nope ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP0fEsLKB9FKDafuGH+Jo9uyEFtAmTMwuSxuvN1TSbrk\n";
    if (::write(fd, kLines, sizeof kLines - 1) != static_cast<ssize_t>(sizeof kLines - 1)) std::abort();
    ::close(fd);
    std::atexit([] { ::unlink(g_path); });
    return std::vector<std::string>{path};
  }();
  return files;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string spec(reinterpret_cast<const char*>(data), size);
  auto parsed = tessera::add::parse_destination_constraint(spec, hostkey_files());
  // A hop that names a host has the host's keys (ssh-add refuses one without).
  if (parsed.ok() && !parsed->to.hostname.empty() && parsed->to.keys.empty()) __builtin_trap();
  return 0;
}
