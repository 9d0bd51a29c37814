// Address pattern lists as sshd 9.2 matches them (addrmatch.c and
// match_host_and_ip in match.c): the from= option of authorized_keys, a
// certificate's source-address critical option, and sshd_config's
// "Match Address".
//
// An entry of an address list is either a CIDR network ("192.0.2.0/24",
// "2001:db8::/32", or a single address, which is a /32 or /128), or, when it
// does not parse as one, a wildcard pattern matched against the address text
// ("192.0.2.*"). Entries are separated by commas; '!' negates one. Addresses
// are parsed as getaddrinfo(AI_NUMERICHOST) parses them, so IPv6 scope ids
// ("fe80::1%eth0") take part in the comparison as in OpenSSH.
#ifndef TESSERA_SSH_SERVER_ADDRESS_MATCH_H_
#define TESSERA_SSH_SERVER_ADDRESS_MATCH_H_

#include <string_view>

namespace tessera::ssh::server {

// What addr_match_list() tells apart.
enum class AddressListMatch {
  kMatch,     // an entry matches and no negated one does
  kNoMatch,   // nothing matches (also: the address itself is not an address)
  kNegated,   // a negated entry matches
  kInvalid,   // an entry is malformed: empty, or a network whose mask is too long
              // or has host bits set ("192.0.2.1/24")
};

// The full answer of addr_match_list(). Entries are looked at in order and
// the first negated match or invalid entry ends the search, so an invalid
// entry after a negated match goes unnoticed (as in sshd).
AddressListMatch match_address_list_detail(std::string_view address, std::string_view pattern_list);

// 1 if an entry matches and no negated one does, 0 if nothing matches, -1 if
// a negated entry matches or the list is invalid (so a malformed list never
// admits anyone). Check lists with address_list_valid() when reading a
// configuration, as sshd does for "Match Address".
int match_address_list(std::string_view address, std::string_view pattern_list);

// Whether every entry of the list is well formed (addr_match_list(NULL, list)).
bool address_list_valid(std::string_view pattern_list);

// addr_match_cidr_list(): a list of CIDR networks only, no wildcards and no
// negation, each entry at most 49 characters of [0-9a-fA-F.:/] (the list
// arrives from a certificate, so nothing else reaches the address parser).
// 1 on a match, 0 on none (or when `address` is not an address), -1 if the
// list is malformed.
int match_cidr_list(std::string_view address, std::string_view cidr_list);
bool cidr_list_valid(std::string_view cidr_list);

// match_host_and_ip(): the from= option. The address is matched against the
// list as above and the host name (lower case, as sshd canonicalises it; the
// address again when sshd does not resolve names) against it as an OpenSSH
// pattern list, case-insensitively. 1 if one of them matches and neither
// matches a negated entry, 0 if not, -1 if the list is invalid.
int match_host_and_address(std::string_view host, std::string_view address, std::string_view pattern_list);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_ADDRESS_MATCH_H_
