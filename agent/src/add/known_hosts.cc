#include "known_hosts.h"

namespace tessera::add {

void load_host_keys(std::string_view host, const std::string& path, std::vector<HostKeyEntry>& out) {
  key::HostKeys keys{std::string(host)};
  if (!keys.add_file(path).ok()) return;
  for (const key::KnownHostsEntry& entry : keys.entries()) {
    if (entry.key.is_certificate()) continue;
    out.push_back(HostKeyEntry{entry.key.key, entry.marker, entry.file, entry.line});
  }
}

}  // namespace tessera::add
