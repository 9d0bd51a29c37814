#include "destination.h"

#include <optional>

#include "keyfile.h"
#include "known_hosts.h"

namespace tessera::add {

using key::Errc;
using key::Error;
using key::Result;

namespace {

// "[host]" -> "host", as OpenSSH's cleanhostname(); "[host]:port" is kept,
// which is how known_hosts names a host on another port.
std::string clean_hostname(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

struct ParsedHop {
  agent::DestinationHop hop;
  bool has_user = false;  // a '@' was given, even with an empty user
};

Result<ParsedHop> parse_hop(const std::string& spec, const std::vector<std::string>& hostkey_files) {
  ParsedHop out;
  std::string host = spec;
  if (size_t at = spec.find('@'); at != std::string::npos) {
    out.has_user = true;
    out.hop.user = spec.substr(0, at);
    host = spec.substr(at + 1);
  }
  host = clean_hostname(host);
  if (host.empty()) {
    if (!out.has_user) {
      return Error(Errc::kInvalidArgument,
                   "Invalid key destination constraint \"" + spec + "\": does not specify user or host");
    }
    return out;  // a user alone: any host
  }
  std::vector<HostKeyEntry> entries;
  for (const auto& file : hostkey_files) {
    TESSERA_ASSIGN_OR_RETURN(std::string path, expand_tilde(file));
    load_host_keys(host, path, entries);
  }
  out.hop.hostname = host;
  for (auto& e : entries) {
    if (e.marker == HostKeyMarker::kRevoked) continue;
    out.hop.keys.push_back(agent::HopKey{std::move(e.key), e.marker == HostKeyMarker::kCertAuthority});
  }
  if (out.hop.keys.empty()) {
    return Error(Errc::kInvalidArgument, "No host keys found for destination \"" + host + "\"");
  }
  return out;
}

}  // namespace

std::vector<std::string> default_known_hosts_files() {
  return {"~/.ssh/known_hosts", "~/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"};
}

Result<agent::DestinationConstraint> parse_destination_constraint(const std::string& spec,
                                                                  const std::vector<std::string>& hostkey_files) {
  agent::DestinationConstraint dc;
  size_t gt = spec.find('>');
  if (gt == std::string::npos) {
    TESSERA_ASSIGN_OR_RETURN(ParsedHop to, parse_hop(spec, hostkey_files));
    dc.to = std::move(to.hop);
    return dc;
  }
  const std::string from_spec = spec.substr(0, gt);
  TESSERA_ASSIGN_OR_RETURN(ParsedHop from, parse_hop(from_spec, hostkey_files));
  TESSERA_ASSIGN_OR_RETURN(ParsedHop to, parse_hop(spec.substr(gt + 1), hostkey_files));
  if (from.has_user) {
    return Error(Errc::kInvalidArgument,
                 "Invalid key constraint " + from_spec + ": cannot specify user on 'from' host");
  }
  dc.from = std::move(from.hop);
  dc.to = std::move(to.hop);
  return dc;
}

}  // namespace tessera::add
