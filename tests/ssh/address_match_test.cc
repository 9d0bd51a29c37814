// Address lists (server/address_match.h) as sshd 9.2's addrmatch.c and
// match_host_and_ip() decide them.
#include "server/address_match.h"

#include <gtest/gtest.h>

namespace tessera::ssh::server {
namespace {

TEST(AddressMatch, SingleAddressesAndNetworks) {
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.2.7"), 1);
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.2.8"), 0);
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.2.0/24"), 1);
  EXPECT_EQ(match_address_list("192.0.3.7", "192.0.2.0/24"), 0);
  EXPECT_EQ(match_address_list("10.200.1.1", "10.0.0.0/8"), 1);
  EXPECT_EQ(match_address_list("192.0.2.7", "0.0.0.0/0"), 1);
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.2.6/31"), 1);
  EXPECT_EQ(match_address_list("192.0.2.8", "192.0.2.6/31"), 0);
  EXPECT_EQ(match_address_list("2001:db8::1", "2001:db8::/32"), 1);
  EXPECT_EQ(match_address_list("2001:db9::1", "2001:db8::/32"), 0);
  EXPECT_EQ(match_address_list("::1", "::1"), 1);
  EXPECT_EQ(match_address_list("::1", "::/0"), 1);
  EXPECT_EQ(match_address_list("2001:db8::1", "2001:db8::/33"), 1);
  EXPECT_EQ(match_address_list("2001:db8:8000::1", "2001:db8::/33"), 0);
  // An IPv4 network never holds an IPv6 address and the other way round.
  EXPECT_EQ(match_address_list("::ffff:192.0.2.7", "192.0.2.0/24"), 0);
  EXPECT_EQ(match_address_list("192.0.2.7", "::/0"), 0);
}

TEST(AddressMatch, ListsAndNegation) {
  EXPECT_EQ(match_address_list("192.0.2.7", "198.51.100.0/24,192.0.2.0/24"), 1);
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.2.0/24,!192.0.2.7"), -1);
  EXPECT_EQ(match_address_list("192.0.2.7", "!192.0.2.7,192.0.2.0/24"), -1);
  EXPECT_EQ(match_address_list("192.0.2.8", "192.0.2.0/24,!192.0.2.7"), 1);
  // Negation alone admits nobody: nothing positive matched.
  EXPECT_EQ(match_address_list("192.0.2.8", "!192.0.2.7"), 0);
  EXPECT_EQ(match_address_list_detail("192.0.2.7", "!192.0.2.0/24"), AddressListMatch::kNegated);
}

TEST(AddressMatch, WildcardsWhereAnEntryIsNoNetwork) {
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.2.*"), 1);
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.?.7"), 1);
  EXPECT_EQ(match_address_list("192.0.2.7", "192.1.*"), 0);
  EXPECT_EQ(match_address_list("192.0.2.7", "!192.0.2.*,*"), -1);
  EXPECT_EQ(match_address_list("2001:db8::1", "2001:db8:*"), 1);
  // The wildcard matches the text given, not a normalised form.
  EXPECT_EQ(match_address_list("2001:db8:0::1", "2001:db8::*"), 0);
}

TEST(AddressMatch, InvalidEntries) {
  // Host bits set under the mask, a mask beyond the family, an empty entry.
  EXPECT_EQ(match_address_list_detail("192.0.2.7", "192.0.2.1/24"), AddressListMatch::kInvalid);
  EXPECT_EQ(match_address_list_detail("192.0.2.7", "192.0.2.0/33"), AddressListMatch::kInvalid);
  EXPECT_EQ(match_address_list_detail("192.0.2.7", "192.0.2.7,"), AddressListMatch::kInvalid);
  EXPECT_EQ(match_address_list_detail("192.0.2.7", "!"), AddressListMatch::kInvalid);
  EXPECT_EQ(match_address_list("192.0.2.7", "192.0.2.1/24"), -1);
  EXPECT_FALSE(address_list_valid("10.0.0.1/8"));
  EXPECT_FALSE(address_list_valid("10.0.0.0/8,,"));
  EXPECT_TRUE(address_list_valid("10.0.0.0/8,192.0.2.*,!host.example"));
  // A mask of more than 128 bits or a bad mask makes the entry a wildcard
  // (which matches nothing), not an error.
  EXPECT_TRUE(address_list_valid("10.0.0.0/129"));
  EXPECT_EQ(match_address_list("10.0.0.1", "10.0.0.0/x,10.0.0.0/"), 0);
  // An entry found before the bad one decides first: a negated match ends the search.
  EXPECT_EQ(match_address_list_detail("192.0.2.7", "!192.0.2.7,10.0.0.1/8"), AddressListMatch::kNegated);
  // A mask is decimal digits and nothing else (sshd 9.2 refuses from="127.0.0.0/ 8"
  // for 127.0.0.1): otherwise the entry is a wildcard, which matches nothing here.
  EXPECT_EQ(match_address_list("10.1.2.3", "10.0.0.0/ 8"), 0);
  EXPECT_EQ(match_address_list("10.1.2.3", "10.0.0.0/+8"), 0);
  EXPECT_EQ(match_address_list("10.1.2.3", "10.0.0.0/-0"), 0);
  EXPECT_EQ(match_address_list("10.1.2.3", "10.0.0.0/008"), 1);
  EXPECT_EQ(match_address_list("10.1.2.3", "10.0.0.0/99999999999999999999999"), 0);
}

TEST(AddressMatch, AnAddressThatIsNoAddressMatchesNothing) {
  EXPECT_EQ(match_address_list("not-an-address", "*"), 0);
  EXPECT_EQ(match_address_list("", "*"), 0);
  // ... even when the list is broken, as in sshd.
  EXPECT_EQ(match_address_list_detail("host.example", "10.0.0.1/8"), AddressListMatch::kNoMatch);
}

TEST(AddressMatch, CidrLists) {
  EXPECT_EQ(match_cidr_list("192.0.2.7", "192.0.2.0/24"), 1);
  EXPECT_EQ(match_cidr_list("192.0.2.7", "10.0.0.0/8,192.0.2.7"), 1);
  EXPECT_EQ(match_cidr_list("192.0.2.7", "10.0.0.0/8"), 0);
  EXPECT_EQ(match_cidr_list("2001:db8::5", "2001:db8::/64"), 1);
  // No wildcards, no negation, no empty entries, no host bits.
  EXPECT_EQ(match_cidr_list("192.0.2.7", "192.0.2.*"), -1);
  EXPECT_EQ(match_cidr_list("192.0.2.7", "!10.0.0.0/8"), -1);
  EXPECT_EQ(match_cidr_list("192.0.2.7", "192.0.2.0/24,"), -1);
  EXPECT_EQ(match_cidr_list("192.0.2.7", "192.0.2.1/24"), -1);
  EXPECT_EQ(match_cidr_list("192.0.2.7", "192.0.2.0/24,bogus"), -1);
  EXPECT_EQ(match_cidr_list("192.0.2.7", std::string(60, '1')), -1);
  EXPECT_TRUE(cidr_list_valid("127.0.0.1,10.0.0.0/8,::1"));
  EXPECT_FALSE(cidr_list_valid("127.0.0.1 ,10.0.0.0/8"));
  EXPECT_FALSE(cidr_list_valid(""));
}

TEST(AddressMatch, HostAndAddress) {
  // from="..." matches the host name or the address.
  EXPECT_EQ(match_host_and_address("client.example.org", "192.0.2.7", "*.example.org"), 1);
  EXPECT_EQ(match_host_and_address("client.example.org", "192.0.2.7", "*.EXAMPLE.org"), 1);
  EXPECT_EQ(match_host_and_address("client.example.org", "192.0.2.7", "192.0.2.0/24"), 1);
  EXPECT_EQ(match_host_and_address("client.example.org", "192.0.2.7", "other.example.org,10.0.0.0/8"), 0);
  // A negated host or address refuses, whatever else matches.
  EXPECT_EQ(match_host_and_address("client.example.org", "192.0.2.7", "192.0.2.0/24,!client.example.org"), 0);
  EXPECT_EQ(match_host_and_address("client.example.org", "192.0.2.7", "*.example.org,!192.0.2.7"), 0);
  // Without DNS the host is the address text.
  EXPECT_EQ(match_host_and_address("192.0.2.7", "192.0.2.7", "192.0.2.*"), 1);
  // An invalid list is an error.
  EXPECT_EQ(match_host_and_address("client.example.org", "192.0.2.7", "192.0.2.1/24"), -1);
}

}  // namespace
}  // namespace tessera::ssh::server
