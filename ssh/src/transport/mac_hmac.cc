// hmac-sha2-256 and hmac-sha2-512 (RFC 6668), plain and -etm@openssh.com:
// HMAC(key, uint32 seq || packet). Which bytes "packet" holds (plaintext or
// ciphertext) is cipher_aes_ctr.cc's business.
//
// The key is set once; each packet re-initialises the context with that key.
// (OpenSSL 3.0 duplicates its digest state on that re-initialisation, two
// small allocations per packet, as OpenSSH's own HMAC does: there is no
// allocation-free HMAC through EVP in 3.0.)
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <string>

#include "transport/cipher_impl.h"

namespace tessera::ssh::transport::cipher_impl {
namespace {

using key::Errc;
using key::Error;

// The longest tag of the MAC table (hmac-sha2-512).
constexpr size_t kMaxTagBytes = 64;

EVP_MAC* hmac_algorithm() {
  // Fetched once for the process and never freed.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  return mac;
}

// The digest of each MAC of the table.
const char* digest_name(std::string_view mac) {
  if (mac == "hmac-sha2-256" || mac == "hmac-sha2-256-etm@openssh.com") return "SHA2-256";
  if (mac == "hmac-sha2-512" || mac == "hmac-sha2-512-etm@openssh.com") return "SHA2-512";
  return nullptr;
}

}  // namespace

key::Result<Hmac> Hmac::make(const MacInfo& mac, std::span<const uint8_t> key) {
  const std::string name(mac.name);
  const char* digest = digest_name(mac.name);
  if (digest == nullptr) return Error(Errc::kUnsupported, "MAC '" + name + "' is not supported");
  if (key.size() != mac.key_bytes || mac.tag_bytes > kMaxTagBytes) {
    return Error(Errc::kInvalidArgument, name + " needs a " + std::to_string(mac.key_bytes) + "-byte key");
  }
  if (hmac_algorithm() == nullptr) return crypto_error(name + ": OpenSSL has no HMAC");
  MacCtxPtr ctx(EVP_MAC_CTX_new(hmac_algorithm()));
  if (!ctx) return crypto_error(name + ": EVP_MAC_CTX_new failed");
  const std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params.data()) != 1) {
    return crypto_error(name + ": setting the HMAC key failed");
  }
  if (EVP_MAC_CTX_get_mac_size(ctx.get()) != mac.tag_bytes) {
    return Error(Errc::kCrypto, name + ": OpenSSL's HMAC gives " + std::to_string(EVP_MAC_CTX_get_mac_size(ctx.get())) +
                                    "-byte tags, expected " + std::to_string(mac.tag_bytes));
  }
  return Hmac(std::move(ctx), mac.tag_bytes, mac.name);
}

bool Hmac::compute(uint32_t seq, std::span<const uint8_t> packet, std::span<uint8_t> out) {
  if (out.size() < tag_bytes_) return false;
  std::array<uint8_t, 4> seq_bytes{};
  store_be32(seq_bytes.data(), seq);
  size_t written = 0;
  // A null key re-initialises with the key already set.
  return EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) == 1 &&
         EVP_MAC_update(ctx_.get(), seq_bytes.data(), seq_bytes.size()) == 1 &&
         EVP_MAC_update(ctx_.get(), packet.data(), packet.size()) == 1 &&
         EVP_MAC_final(ctx_.get(), out.data(), &written, out.size()) == 1 && written == tag_bytes_;
}

key::Status Hmac::verify(uint32_t seq, std::span<const uint8_t> packet, std::span<const uint8_t> tag) {
  std::array<uint8_t, kMaxTagBytes> expected{};
  if (!compute(seq, packet, expected)) return crypto_error(std::string(name_) + ": computing the MAC failed");
  if (tag.size() != tag_bytes_ || CRYPTO_memcmp(expected.data(), tag.data(), tag_bytes_) != 0) {
    return Error(Errc::kBadSignature, std::string(name_) + ": the packet's MAC does not match (corrupted or forged)");
  }
  return {};
}

}  // namespace tessera::ssh::transport::cipher_impl
