// Fuzzes what tessera-keygen parses of a certificate from its command line
// (keygen/src/cert_options.cc): the first byte picks -V (validity), -O
// (options, one per line, CIDR lists of source-address included, then the
// sections built) or -n (principals).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cert_options.h"

using namespace tessera;
using namespace tessera::keygen;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 8192) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto validity = parse_validity(rest, 1700000000);
      if (validity.ok()) (void)format_validity(validity->valid_after, validity->valid_before);
      break;
    }
    case 1: {
      CertificateSections sections;
      size_t start = 0;
      while (start <= rest.size()) {
        size_t end = rest.find('\n', start);
        if (end == std::string_view::npos) end = rest.size();
        (void)sections.apply(rest.substr(start, end - start));
        start = end + 1;
      }
      std::vector<key::CertOption> critical, extensions;
      (void)sections.build(critical, extensions);
      break;
    }
    case 2: {
      auto principals = split_principals(rest);
      if (principals.ok()) {
        for (const auto& p : *principals) {
          if (p.empty()) __builtin_trap();
        }
      }
      break;
    }
  }
  return 0;
}
