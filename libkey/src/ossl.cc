#include "tessera/key/ossl.h"

namespace tessera::key::ossl {

Error crypto_error(std::string_view what) {
  std::string detail(what);
  unsigned long code = ERR_get_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    detail += " (";
    detail += buf;
    detail += ")";
  }
  ERR_clear_error();
  return Error(Errc::kCrypto, std::move(detail));
}

}  // namespace tessera::key::ossl
