#include "transport/kex_hash.h"

#include <openssl/evp.h>

#include <string>

#include "tessera/key/ossl.h"

namespace tessera::ssh::transport {

namespace ossl = key::ossl;

namespace {

const EVP_MD* fetch(std::string_view digest) {
  if (digest == "SHA256") return EVP_sha256();
  if (digest == "SHA384") return EVP_sha384();
  if (digest == "SHA512") return EVP_sha512();
  return nullptr;
}

}  // namespace

key::Result<key::Bytes> KexHasher::finish() const {
  const EVP_MD* md = fetch(digest_);
  if (md == nullptr) return key::Error(key::Errc::kUnsupported, "hash " + digest_);
  key::Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned len = 0;
  if (EVP_Digest(data_.data().data(), data_.size(), out.data(), &len, md, nullptr) != 1) {
    return ossl::crypto_error("exchange hash");
  }
  return out;
}

key::Result<key::SecretBytes> derive_key(std::string_view digest, std::span<const uint8_t> k,
                                         std::span<const uint8_t> exchange_hash, char letter,
                                         std::span<const uint8_t> session_id, size_t length) {
  const EVP_MD* md = fetch(digest);
  if (md == nullptr) return key::Error(key::Errc::kUnsupported, "hash " + std::string(digest));
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return ossl::crypto_error("key derivation");
  key::SecretBytes out;
  const size_t md_len = static_cast<size_t>(EVP_MD_get_size(md));
  key::SecretBytes block(md_len);
  const uint8_t x = static_cast<uint8_t>(letter);
  while (out.size() < length) {
    unsigned len = 0;
    bool ok = EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1 && EVP_DigestUpdate(ctx.get(), k.data(), k.size()) == 1 &&
              EVP_DigestUpdate(ctx.get(), exchange_hash.data(), exchange_hash.size()) == 1;
    if (out.empty()) {
      ok = ok && EVP_DigestUpdate(ctx.get(), &x, 1) == 1 &&
           EVP_DigestUpdate(ctx.get(), session_id.data(), session_id.size()) == 1;
    } else {
      ok = ok && EVP_DigestUpdate(ctx.get(), out.reveal().data(), out.size()) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx.get(), block.reveal_mutable().data(), &len) == 1;
    if (!ok) return ossl::crypto_error("key derivation");
    out.append(block.reveal());
  }
  out.resize(length);
  return out;
}

}  // namespace tessera::ssh::transport
