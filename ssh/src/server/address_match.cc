// Address lists, following OpenSSH 9.2's addrmatch.c for which entries are
// networks, which are wildcards and which are errors.
#include "server/address_match.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "tessera/key/match.h"

namespace tessera::ssh::server {
namespace {

// addr_pton_cidr() copies an entry into a 64-byte buffer: longer entries are
// never networks.
constexpr size_t kMaxNetworkEntryBytes = 63;
// addr_match_cidr_list(): INET6_ADDRSTRLEN plus "/NNN".
constexpr size_t kMaxCidrEntryBytes = INET6_ADDRSTRLEN + 3;
constexpr std::string_view kCidrCharacters = "0123456789abcdefABCDEF.:/";

struct Address {
  int family = 0;                   // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4
  uint32_t scope_id = 0;            // IPv6 interface scope

  size_t size() const { return family == AF_INET ? 4 : 16; }
};

// addr_pton(): a numeric address as getaddrinfo(AI_NUMERICHOST) reads it.
std::optional<Address> parse_address(std::string_view text) {
  if (text.empty() || text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string copy(text);
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* info = nullptr;
  if (getaddrinfo(copy.c_str(), nullptr, &hints, &info) != 0 || info == nullptr) return std::nullopt;
  std::optional<Address> out;
  if (info->ai_addr != nullptr) {
    if (info->ai_addr->sa_family == AF_INET && info->ai_addrlen >= sizeof(sockaddr_in)) {
      sockaddr_in in4;
      std::memcpy(&in4, info->ai_addr, sizeof(in4));
      Address a;
      a.family = AF_INET;
      std::memcpy(a.bytes.data(), &in4.sin_addr, 4);
      out = a;
    } else if (info->ai_addr->sa_family == AF_INET6 && info->ai_addrlen >= sizeof(sockaddr_in6)) {
      sockaddr_in6 in6;
      std::memcpy(&in6, info->ai_addr, sizeof(in6));
      Address a;
      a.family = AF_INET6;
      std::memcpy(a.bytes.data(), &in6.sin6_addr, 16);
      a.scope_id = in6.sin6_scope_id;
      out = a;
    }
  }
  freeaddrinfo(info);
  return out;
}

unsigned max_mask_length(int family) { return family == AF_INET ? 32 : 128; }

// The address with every bit past `mask_length` cleared.
Address network_part(const Address& a, unsigned mask_length) {
  Address out = a;
  for (size_t i = 0; i < out.size(); ++i) {
    const unsigned bit = static_cast<unsigned>(i) * 8;
    if (bit + 8 <= mask_length) continue;
    if (bit >= mask_length) {
      out.bytes[i] = 0;
    } else {
      out.bytes[i] = static_cast<uint8_t>(out.bytes[i] & (0xff00u >> (mask_length - bit)));
    }
  }
  return out;
}

bool same_address(const Address& a, const Address& b) {
  return a.family == b.family && a.bytes == b.bytes && (a.family != AF_INET6 || a.scope_id == b.scope_id);
}

struct Network {
  Address address;
  unsigned mask_length = 0;
};

enum class NetworkParse { kNetwork, kNotNetwork, kInconsistent };

// The mask length after '/': decimal digits only (sshd checks the first
// character before strtoul, so no blanks or signs), at most 128. nullopt
// otherwise, which makes the entry no network.
std::optional<unsigned> parse_mask_length(std::string_view text) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  const size_t first = text.find_first_not_of('0');
  if (first == std::string_view::npos) return 0u;
  text.remove_prefix(first);
  if (text.size() > 3) return std::nullopt;  // more than 128 whatever the digits
  unsigned value = 0;
  for (char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value > 128) return std::nullopt;
  return value;
}

// addr_pton_cidr().
NetworkParse parse_network(std::string_view entry, Network& out) {
  if (entry.size() > kMaxNetworkEntryBytes) return NetworkParse::kNotNetwork;
  const size_t slash = entry.find('/');
  std::optional<unsigned> mask_length;
  if (slash != std::string_view::npos) {
    mask_length = parse_mask_length(entry.substr(slash + 1));
    if (!mask_length) return NetworkParse::kNotNetwork;
  }
  auto address = parse_address(entry.substr(0, slash));
  if (!address) return NetworkParse::kNotNetwork;
  const unsigned length = mask_length.value_or(max_mask_length(address->family));
  if (length > max_mask_length(address->family)) return NetworkParse::kInconsistent;
  if (!same_address(network_part(*address, length), *address)) return NetworkParse::kInconsistent;
  out = Network{*address, length};
  return NetworkParse::kNetwork;
}

// addr_netmatch().
bool in_network(const Address& host, const Network& net) {
  return host.family == net.address.family && same_address(network_part(host, net.mask_length), net.address);
}

// Calls f(entry) for each comma-separated entry (empty ones included, as
// strsep yields them) until f returns false.
template <typename F>
void for_each_entry(std::string_view list, F&& f) {
  while (true) {
    const size_t comma = list.find(',');
    if (!f(list.substr(0, comma))) return;
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

// addr_match_list(); address nullopt: only check the list.
AddressListMatch match_list(const std::optional<std::string_view>& address_text, std::string_view list) {
  std::optional<Address> address;
  if (address_text) {
    address = parse_address(*address_text);
    if (!address) return AddressListMatch::kNoMatch;
  }
  AddressListMatch result = AddressListMatch::kNoMatch;
  for_each_entry(list, [&](std::string_view entry) {
    const bool negated = !entry.empty() && entry.front() == '!';
    if (negated) entry.remove_prefix(1);
    if (entry.empty()) {
      result = AddressListMatch::kInvalid;
      return false;
    }
    Network net;
    bool hit = false;
    switch (parse_network(entry, net)) {
      case NetworkParse::kInconsistent:
        result = AddressListMatch::kInvalid;
        return false;
      case NetworkParse::kNetwork:
        hit = address && in_network(*address, net);
        break;
      case NetworkParse::kNotNetwork:
        hit = address && key::match_pattern(*address_text, entry);
        break;
    }
    if (!hit) return true;
    if (negated) {
      result = AddressListMatch::kNegated;
      return false;
    }
    result = AddressListMatch::kMatch;
    return true;
  });
  return result;
}

// addr_match_cidr_list(); address nullopt: only check the list.
int match_cidr(const std::optional<std::string_view>& address_text, std::string_view list) {
  std::optional<Address> address;
  if (address_text) {
    address = parse_address(*address_text);
    if (!address) return 0;
  }
  int result = 0;
  for_each_entry(list, [&](std::string_view entry) {
    // sshd goes on after an entry with a stray character (and then fails on
    // it as a network); stopping at once gives the same answer without
    // letting a later entry turn the error into a match.
    if (entry.empty() || entry.size() > kMaxCidrEntryBytes ||
        entry.find_first_not_of(kCidrCharacters) != std::string_view::npos) {
      result = -1;
      return false;
    }
    Network net;
    if (parse_network(entry, net) != NetworkParse::kNetwork) {
      result = -1;
      return false;
    }
    if (address && in_network(*address, net)) result = 1;
    return true;
  });
  return result;
}

}  // namespace

AddressListMatch match_address_list_detail(std::string_view address, std::string_view pattern_list) {
  return match_list(address, pattern_list);
}

int match_address_list(std::string_view address, std::string_view pattern_list) {
  switch (match_list(address, pattern_list)) {
    case AddressListMatch::kMatch:
      return 1;
    case AddressListMatch::kNoMatch:
      return 0;
    case AddressListMatch::kNegated:
    case AddressListMatch::kInvalid:
      break;
  }
  return -1;
}

bool address_list_valid(std::string_view pattern_list) {
  return match_list(std::nullopt, pattern_list) != AddressListMatch::kInvalid;
}

int match_cidr_list(std::string_view address, std::string_view cidr_list) { return match_cidr(address, cidr_list); }

bool cidr_list_valid(std::string_view cidr_list) { return match_cidr(std::nullopt, cidr_list) != -1; }

int match_host_and_address(std::string_view host, std::string_view address, std::string_view pattern_list) {
  const AddressListMatch by_address = match_list(address, pattern_list);
  if (by_address == AddressListMatch::kInvalid) return -1;
  if (by_address == AddressListMatch::kNegated) return 0;
  const int by_host = key::match_pattern_list(host, pattern_list, /*fold_case=*/true);
  if (by_host == -1) return 0;
  if (by_host == 0 && by_address == AddressListMatch::kNoMatch) return 0;
  return 1;
}

}  // namespace tessera::ssh::server
