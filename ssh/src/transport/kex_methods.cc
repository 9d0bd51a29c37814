// The one table of key exchange method names.
#include <array>

#include "transport/kex_method.h"

namespace tessera::ssh::transport {

namespace {

// OpenSSH 9.2's default order.
const std::array kMethods = {
    KexMethod{"sntrup761x25519-sha512@openssh.com", "SHA512", KexFamily::kSinglePass, sntrup761x25519_client_start,
              sntrup761x25519_server_respond},
    KexMethod{"curve25519-sha256", "SHA256", KexFamily::kSinglePass, x25519_client_start, x25519_server_respond},
    KexMethod{"curve25519-sha256@libssh.org", "SHA256", KexFamily::kSinglePass, x25519_client_start,
              x25519_server_respond},
    KexMethod{"ecdh-sha2-nistp256", "SHA256", KexFamily::kSinglePass, ecdh_p256_client_start,
              ecdh_p256_server_respond},
    KexMethod{"ecdh-sha2-nistp384", "SHA384", KexFamily::kSinglePass, ecdh_p384_client_start,
              ecdh_p384_server_respond},
    KexMethod{"ecdh-sha2-nistp521", "SHA512", KexFamily::kSinglePass, ecdh_p521_client_start,
              ecdh_p521_server_respond},
    // Group exchange runs dh_client_start once the server has named the group.
    KexMethod{"diffie-hellman-group-exchange-sha256", "SHA256", KexFamily::kGroupExchange, nullptr, nullptr},
    KexMethod{"diffie-hellman-group16-sha512", "SHA512", KexFamily::kSinglePass, dh_group16_client_start,
              dh_group16_server_respond},
    KexMethod{"diffie-hellman-group18-sha512", "SHA512", KexFamily::kSinglePass, dh_group18_client_start,
              dh_group18_server_respond},
    KexMethod{"diffie-hellman-group14-sha256", "SHA256", KexFamily::kSinglePass, dh_group14_client_start,
              dh_group14_server_respond},
};

}  // namespace

std::span<const KexMethod> supported_kex_methods() { return kMethods; }

const KexMethod* find_kex_method(std::string_view name) {
  for (const KexMethod& m : kMethods) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

}  // namespace tessera::ssh::transport
