#include "tessera/key/error.h"

namespace tessera::key {

std::string_view errc_text(Errc code) {
  switch (code) {
    case Errc::kTruncated: return "truncated input";
    case Errc::kTrailingData: return "unexpected trailing data";
    case Errc::kTooLarge: return "input too large";
    case Errc::kMalformed: return "malformed input";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kInvalidKey: return "invalid key";
    case Errc::kBadSignature: return "signature verification failed";
    case Errc::kPassphraseRequired: return "passphrase required";
    case Errc::kWrongPassphrase: return "incorrect passphrase supplied to decrypt private key";
    case Errc::kCrypto: return "cryptographic library error";
    case Errc::kIo: return "I/O error";
    case Errc::kInvalidArgument: return "invalid argument";
  }
  return "unknown error";
}

std::string Error::message() const {
  if (detail_.empty()) return std::string(errc_text(code_));
  return detail_;
}

Error Error::with_context(std::string_view context) const {
  std::string d(context);
  d += ": ";
  d += message();
  return Error(code_, std::move(d)).with_subcode(subcode_, flags_);
}

}  // namespace tessera::key
