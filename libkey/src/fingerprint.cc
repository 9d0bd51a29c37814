// Fingerprints, randomart and bubblebabble, byte for byte as OpenSSH's
// ssh-keygen prints them (sshkey.c: fingerprint_b64, fingerprint_hex,
// fingerprint_randomart, fingerprint_bubblebabble).
#include "tessera/key/fingerprint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

#include "tessera/key/ossl.h"
#include "tessera/key/encoding.h"

namespace tessera::key {
namespace {

// Hashing a public blob in memory cannot fail short of memory exhaustion or a
// crypto library that lacks MD5/SHA-1/SHA-256; either breaks an invariant the
// whole library relies on, so it aborts instead of returning a fake fingerprint.
Bytes digest(const EVP_MD* md, std::span<const uint8_t> data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int out_len = 0;
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &out_len) != 1) {
    std::abort();
  }
  out.resize(out_len);
  return out;
}

const EVP_MD* hash_md(FingerprintHash hash) {
  return hash == FingerprintHash::kMd5 ? EVP_md5() : EVP_sha256();
}

// The digest's name as OpenSSH's ssh_digest_alg_name() spells it.
std::string_view hash_name(FingerprintHash hash) {
  return hash == FingerprintHash::kMd5 ? "MD5" : "SHA256";
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// The randomart field: FLDBASE 8 in OpenSSH, odd sizes so the worm starts in the middle.
constexpr int kFieldWidth = 17;
constexpr int kFieldHeight = 9;
// Symbols for how often the worm visited a cell; the last two mark start and end.
constexpr std::string_view kAugmentation = " .o+=*BOX@%&#/^SE";
constexpr uint8_t kEndMark = static_cast<uint8_t>(kAugmentation.size() - 1);  // 'E'
constexpr uint8_t kStartMark = kEndMark - 1;                                     // 'S'
constexpr uint8_t kMaxVisits = kEndMark - 2;                                     // '^'

// One border line: "+", the label centered in dashes (left gets the smaller
// half), "+". OpenSSH's label buffer holds kFieldWidth - 1 characters.
std::string border(std::string label) {
  if (label.size() > kFieldWidth - 1) label.resize(kFieldWidth - 1);
  const size_t left = (kFieldWidth - label.size()) / 2;
  std::string line = "+";
  line.append(left, '-');
  line += label;
  line.append(kFieldWidth - left - label.size(), '-');
  line += '+';
  return line;
}

}  // namespace

Result<FingerprintHash> parse_fingerprint_hash(std::string_view name) {
  if (equals_ignore_case(name, "md5")) return FingerprintHash::kMd5;
  if (equals_ignore_case(name, "sha256")) return FingerprintHash::kSha256;
  return Error(Errc::kInvalidArgument,
               "unknown fingerprint hash '" + std::string(name) + "': use md5 or sha256");
}

std::string fingerprint(std::span<const uint8_t> public_blob, FingerprintHash hash) {
  const Bytes raw = digest(hash_md(hash), public_blob);
  std::string out(hash_name(hash));
  out += ':';
  if (hash == FingerprintHash::kMd5) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < raw.size(); ++i) {
      if (i > 0) out += ':';
      out += kHex[raw[i] >> 4];
      out += kHex[raw[i] & 0x0f];
    }
  } else {
    out += base64_encode(raw, /*pad=*/false);
  }
  return out;
}

std::string fingerprint(const PublicKey& key, FingerprintHash hash) {
  return fingerprint(key.blob(), hash);
}

std::string randomart(const PublicKey& key, FingerprintHash hash, std::string_view type_name) {
  const Bytes raw = digest(hash_md(hash), key.blob());

  // A worm starts in the middle; each byte gives four moves, two bits each,
  // least significant first: bit 0 picks right/left, bit 1 down/up. Walls stop it.
  std::array<std::array<uint8_t, kFieldHeight>, kFieldWidth> field{};
  int x = kFieldWidth / 2;
  int y = kFieldHeight / 2;
  for (uint8_t byte : raw) {
    unsigned bits = byte;
    for (int step = 0; step < 4; ++step, bits >>= 2) {
      x = std::clamp(x + ((bits & 1u) ? 1 : -1), 0, kFieldWidth - 1);
      y = std::clamp(y + ((bits & 2u) ? 1 : -1), 0, kFieldHeight - 1);
      uint8_t& cell = field[static_cast<size_t>(x)][static_cast<size_t>(y)];
      if (cell < kMaxVisits) ++cell;
    }
  }
  field[kFieldWidth / 2][kFieldHeight / 2] = kStartMark;
  field[static_cast<size_t>(x)][static_cast<size_t>(y)] = kEndMark;

  // "[TYPE BITS]"; OpenSSH falls back to "[TYPE]" only when the first form
  // does not fit its buffer even with the last character cut.
  const std::string name(type_name.empty() ? key.info().display_name : type_name);
  std::string title = "[" + name + " " + std::to_string(key.bits()) + "]";
  if (title.size() > kFieldWidth) title = "[" + name + "]";

  std::string out = border(std::move(title));
  out += '\n';
  for (size_t row = 0; row < kFieldHeight; ++row) {
    out += '|';
    for (size_t col = 0; col < kFieldWidth; ++col) out += kAugmentation[field[col][row]];
    out += "|\n";
  }
  out += border("[" + std::string(hash_name(hash)) + "]");
  return out;
}

std::string bubblebabble(const PublicKey& key) {
  static constexpr char kVowels[] = "aeiouy";
  static constexpr char kConsonants[] = "bcdfghklmnprstvzx";
  const Bytes raw = digest(EVP_sha1(), key.blob());

  // Each pair of bytes becomes a five-letter tuple "vcvc-c"; the checksum seed
  // runs through the vowels. An odd trailing byte ends "vcv", none ends "vxv".
  std::string out = "x";
  unsigned seed = 1;
  const size_t rounds = raw.size() / 2 + 1;
  for (size_t i = 0; i < rounds; ++i) {
    const bool last = i + 1 == rounds;
    if (!last || raw.size() % 2 != 0) {
      const unsigned b0 = raw[2 * i];
      out += kVowels[(((b0 >> 6) & 3) + seed) % 6];
      out += kConsonants[(b0 >> 2) & 15];
      out += kVowels[((b0 & 3) + seed / 6) % 6];
      if (!last) {
        const unsigned b1 = raw[2 * i + 1];
        out += kConsonants[(b1 >> 4) & 15];
        out += '-';
        out += kConsonants[b1 & 15];
        seed = (seed * 5 + b0 * 7 + b1) % 36;
      }
    } else {
      out += kVowels[seed % 6];
      out += kConsonants[16];
      out += kVowels[seed / 6];
    }
  }
  out += 'x';
  return out;
}

}  // namespace tessera::key
