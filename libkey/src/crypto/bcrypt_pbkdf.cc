#include "crypto/bcrypt_pbkdf.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "crypto/blowfish.h"
#include "tessera/key/ossl.h"
#include "tessera/key/secret.h"

namespace tessera::key::crypto {
namespace {

constexpr size_t kSha512Bytes = 64;
// bcrypt hashes 8 words (32 bytes) of a fixed text per block of output.
constexpr size_t kHashWords = 8;
constexpr size_t kHashBytes = kHashWords * 4;
// Key expansions of the bcrypt hash (2^6, as bcrypt cost 6) and encryptions of the text.
constexpr int kExpansionRounds = 64;
constexpr int kEncryptionRounds = 64;
constexpr std::string_view kMagicText = "OxychromaticBlowfishSwatDynamite";
static_assert(kMagicText.size() == kHashBytes);

using Digest = std::array<uint8_t, kSha512Bytes>;
using Block = std::array<uint8_t, kHashBytes>;

Status sha512(std::span<const uint8_t> data, Digest& out) {
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha512(), nullptr) != 1 ||
      len != out.size()) {
    return ossl::crypto_error("bcrypt_pbkdf: SHA-512 failed");
  }
  return {};
}

// The bcrypt hash of one block: EksBlowfish keyed by the hashed passphrase and
// salt, then 64 encryptions of the magic text. Output words are little-endian,
// as OpenBSD writes them.
void bcrypt_hash(const Digest& sha2pass, const Digest& sha2salt, Block& out) {
  Blowfish state;
  state.expand_state(sha2salt, sha2pass);
  for (int i = 0; i < kExpansionRounds; ++i) {
    state.expand0_state(sha2salt);
    state.expand0_state(sha2pass);
  }
  std::array<uint32_t, kHashWords> words{};
  for (size_t i = 0; i < kHashWords; ++i) {
    const auto* p = reinterpret_cast<const uint8_t*>(kMagicText.data()) + 4 * i;
    words[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  }
  for (int i = 0; i < kEncryptionRounds; ++i) state.encrypt_words(words);
  for (size_t i = 0; i < kHashWords; ++i) {
    out[4 * i + 3] = static_cast<uint8_t>(words[i] >> 24);
    out[4 * i + 2] = static_cast<uint8_t>(words[i] >> 16);
    out[4 * i + 1] = static_cast<uint8_t>(words[i] >> 8);
    out[4 * i + 0] = static_cast<uint8_t>(words[i]);
  }
  secure_wipe(words.data(), sizeof words);
}

// Wipes every intermediate of one derivation when it goes out of scope.
struct WorkState {
  Digest sha2pass{};
  Digest sha2salt{};
  Block out{};
  Block tmp{};
  ZeroizingVector count_salt;
  ~WorkState() {
    secure_wipe(sha2pass.data(), sha2pass.size());
    secure_wipe(sha2salt.data(), sha2salt.size());
    secure_wipe(out.data(), out.size());
    secure_wipe(tmp.data(), tmp.size());
  }
};

}  // namespace

Status bcrypt_pbkdf(std::span<const uint8_t> pass, std::span<const uint8_t> salt, uint32_t rounds,
                    std::span<uint8_t> out) {
  std::fill(out.begin(), out.end(), uint8_t{0});
  if (rounds == 0) return Error(Errc::kInvalidArgument, "bcrypt_pbkdf: rounds must be at least 1");
  if (pass.empty()) return Error(Errc::kInvalidArgument, "bcrypt_pbkdf: empty passphrase");
  if (salt.empty()) return Error(Errc::kInvalidArgument, "bcrypt_pbkdf: empty salt");
  if (salt.size() > kBcryptPbkdfMaxSaltBytes) {
    return Error(Errc::kInvalidArgument, "bcrypt_pbkdf: salt longer than 1 MiB");
  }
  if (out.empty() || out.size() > kBcryptPbkdfMaxOutputBytes) {
    return Error(Errc::kInvalidArgument, "bcrypt_pbkdf: output length must be 1.." +
                                             std::to_string(kBcryptPbkdfMaxOutputBytes) + " bytes");
  }

  // Each block contributes one byte to every stride-th output position.
  const size_t stride = (out.size() + kHashBytes - 1) / kHashBytes;
  const size_t bytes_per_block = (out.size() + stride - 1) / stride;

  WorkState w;
  TESSERA_TRY(sha512(pass, w.sha2pass));
  w.count_salt.assign(salt.begin(), salt.end());
  w.count_salt.resize(salt.size() + 4);

  size_t left = out.size();
  Status status;
  for (uint32_t count = 1; left > 0; ++count) {
    w.count_salt[salt.size() + 0] = static_cast<uint8_t>(count >> 24);
    w.count_salt[salt.size() + 1] = static_cast<uint8_t>(count >> 16);
    w.count_salt[salt.size() + 2] = static_cast<uint8_t>(count >> 8);
    w.count_salt[salt.size() + 3] = static_cast<uint8_t>(count);

    status = sha512(w.count_salt, w.sha2salt);
    if (!status.ok()) break;
    bcrypt_hash(w.sha2pass, w.sha2salt, w.tmp);
    w.out = w.tmp;
    for (uint32_t round = 1; round < rounds; ++round) {
      status = sha512(w.tmp, w.sha2salt);
      if (!status.ok()) break;
      bcrypt_hash(w.sha2pass, w.sha2salt, w.tmp);
      for (size_t j = 0; j < w.out.size(); ++j) w.out[j] ^= w.tmp[j];
    }
    if (!status.ok()) break;

    // Unlike PBKDF2, the bytes of a block are spread over the output.
    size_t written = 0;
    for (; written < std::min(bytes_per_block, left); ++written) {
      size_t dest = written * stride + (count - 1);
      if (dest >= out.size()) break;
      out[dest] = w.out[written];
    }
    left -= written;
  }
  if (!status.ok()) {
    secure_wipe(out.data(), out.size());
    return status;
  }
  return {};
}

}  // namespace tessera::key::crypto
