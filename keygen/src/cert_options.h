// What a certificate says, from ssh-keygen's command line: -V (validity),
// -O (critical options and extensions), -n (principals), -h (host). Each
// parser fails with ssh-keygen 9.2's message for the same input.
#ifndef TESSERA_KEYGEN_CERT_OPTIONS_H_
#define TESSERA_KEYGEN_CERT_OPTIONS_H_

#include <ctime>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"

namespace tessera::keygen {

struct Validity {
  uint64_t valid_after = 0;
  uint64_t valid_before = UINT64_MAX;
};

// -V: "+timespec" (from a minute ago, rounded down, to now + timespec), or
// "from:to" where from is [+-]timespec | YYYYMMDD[HHMM[SS]][Z|UTC] | 0xHEX |
// "always" and to is the same with "forever" instead of "always". A timespec
// is convtime()'s: 90m, 1h30m, 2d, 1w, a plain number of seconds.
// `now` is the time relative forms count from. The error's detail is
// ssh-keygen's message ("Invalid from time \"x\"").
key::Result<Validity> parse_validity(std::string_view spec, std::time_t now);

// ssh-keygen's "valid ..." text: "forever", "before T", "after T" or
// "from T to T" with T in local time as YYYY-MM-DDTHH:MM:SS.
std::string format_validity(uint64_t valid_after, uint64_t valid_before);

// The default permissions of a user certificate (-h clears them all).
enum CertPermission : unsigned {
  kPermitX11Forwarding = 1u << 0,
  kPermitAgentForwarding = 1u << 1,
  kPermitPortForwarding = 1u << 2,
  kPermitPty = 1u << 3,
  kPermitUserRc = 1u << 4,
  kNoTouchRequired = 1u << 5,
  kVerifyRequired = 1u << 6,
};
inline constexpr unsigned kDefaultUserPermissions =
    kPermitX11Forwarding | kPermitAgentForwarding | kPermitPortForwarding | kPermitPty | kPermitUserRc;

// The sections a certificate will carry, built as ssh-keygen builds them:
// -h clears the permissions when it is seen; -O options apply afterwards in
// the order given.
class CertificateSections {
 public:
  void clear_permissions() { permissions_ = 0; }
  // One -O argument. The error's detail is ssh-keygen's message
  // ("Unsupported certificate option \"x\"").
  key::Status apply(std::string_view option);
  // Critical options and extensions, sorted; an error when a name occurs twice.
  key::Status build(std::vector<key::CertOption>& critical, std::vector<key::CertOption>& extensions) const;

 private:
  unsigned permissions_ = kDefaultUserPermissions;
  std::optional<std::string> force_command_;
  std::optional<std::string> source_address_;
  std::vector<key::CertOption> custom_critical_;
  std::vector<key::CertOption> custom_extensions_;
};

// -n: the comma-separated principals. Errors: "Empty principal name",
// "Too many certificate principals specified".
key::Result<std::vector<std::string>> split_principals(std::string_view list);

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_CERT_OPTIONS_H_
