#include "client/query.h"

#include <strings.h>

#include <cstdio>
#include <vector>

#include "auth/client_auth.h"
#include "tessera/key/cert.h"
#include "tessera/key/key.h"
#include "transport/cipher.h"
#include "transport/host_key_algorithms.h"
#include "transport/kex_method.h"

namespace tessera::ssh::client {

namespace {

bool is(const std::string& what, const char* name) { return strcasecmp(what.c_str(), name) == 0; }

}  // namespace

int print_query(const std::string& what) {
  std::vector<std::string> lines;
  if (is(what, "cipher") || is(what, "ciphers")) {
    for (const auto& c : transport::supported_ciphers()) lines.emplace_back(c.name);
  } else if (is(what, "cipher-auth")) {
    for (const auto& c : transport::supported_ciphers()) {
      if (c.aead) lines.emplace_back(c.name);
    }
  } else if (is(what, "mac") || is(what, "macs")) {
    for (const auto& m : transport::supported_macs()) lines.emplace_back(m.name);
  } else if (is(what, "kex") || is(what, "kexalgorithms")) {
    for (const auto& k : transport::supported_kex_methods()) lines.emplace_back(k.name);
  } else if (is(what, "key") || is(what, "key-plain") || is(what, "key-cert") || is(what, "key-sig") ||
             is(what, "sig") || is(what, "HostKeyAlgorithms") || is(what, "PubkeyAcceptedAlgorithms") ||
             is(what, "PubkeyAcceptedKeyTypes") || is(what, "HostbasedAcceptedAlgorithms")) {
    const bool plain = is(what, "key") || is(what, "key-plain") || is(what, "key-sig") || is(what, "sig");
    const bool certs = is(what, "key") || is(what, "key-cert") || !plain;
    if (plain) {
      for (const auto& t : key::all_key_types()) lines.emplace_back(t.ssh_name);
      if (is(what, "sig") || is(what, "key-sig")) {
        lines.emplace_back("rsa-sha2-256");
        lines.emplace_back("rsa-sha2-512");
      }
    }
    if (certs) {
      if (!plain) {
        for (const std::string& a : auth::default_pubkey_algorithms()) lines.push_back(a);
      } else {
        for (const auto& t : key::all_key_types()) lines.emplace_back(key::certificate_type_name(t.type));
      }
    }
  } else if (is(what, "protocol-version")) {
    lines.emplace_back("2");
  } else if (is(what, "compression")) {
    lines.emplace_back("none");
  } else {
    std::fprintf(stderr, "Unsupported query \"%s\"\n", what.c_str());
    return 255;
  }
  for (const std::string& l : lines) std::printf("%s\n", l.c_str());
  return 0;
}

}  // namespace tessera::ssh::client
