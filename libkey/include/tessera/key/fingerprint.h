// Key fingerprints as OpenSSH prints them: SHA256 (unpadded base64) and MD5
// (colon-separated hex pairs), the "randomart" picture, and bubblebabble.
#ifndef TESSERA_KEY_FINGERPRINT_H_
#define TESSERA_KEY_FINGERPRINT_H_

#include <string>
#include <string_view>

#include "tessera/key/error.h"
#include "tessera/key/key.h"

namespace tessera::key {

enum class FingerprintHash : uint8_t { kMd5, kSha256 };

// "md5" or "sha256" (case-insensitive), as ssh-keygen -E accepts; kInvalidArgument otherwise.
Result<FingerprintHash> parse_fingerprint_hash(std::string_view name);

// "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" or "MD5:d4:1d:...".
std::string fingerprint(std::span<const uint8_t> public_blob, FingerprintHash hash);
std::string fingerprint(const PublicKey& key, FingerprintHash hash);

// The randomart picture exactly as ssh-keygen -lv draws it, lines separated by
// '\n', no trailing newline: "+--[ED25519 256]--+" ... "+----[SHA256]-----+".
// type_name replaces the key's display name in the title ("ECDSA-CERT" for a
// certificate, as ssh-keygen titles one).
std::string randomart(const PublicKey& key, FingerprintHash hash, std::string_view type_name = {});

// Bubble Babble encoding of the SHA-1 digest of the key blob, as ssh-keygen -B.
std::string bubblebabble(const PublicKey& key);

}  // namespace tessera::key

#endif  // TESSERA_KEY_FINGERPRINT_H_
