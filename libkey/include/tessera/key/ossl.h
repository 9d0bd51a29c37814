// RAII owners for OpenSSL handles, for libkey and for the components that
// use OpenSSL directly beside it (the SSH transport's ciphers and key
// exchanges), so that there is one set of them.
#ifndef TESSERA_KEY_OSSL_H_
#define TESSERA_KEY_OSSL_H_

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>
#include <string_view>

#include "tessera/key/error.h"

namespace tessera::key::ossl {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const noexcept { Free(p); }
};

inline void openssl_free(void* p) noexcept { OPENSSL_free(p); }

// Memory OpenSSL allocated for us (i2d_* output).
using OpensslBytesPtr = std::unique_ptr<uint8_t, Deleter<openssl_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT_free>>;

// A new reference to pkey (EVP_PKEY_up_ref).
inline PkeyPtr share(EVP_PKEY* pkey) {
  EVP_PKEY_up_ref(pkey);
  return PkeyPtr(pkey);
}

// Error(Errc::kCrypto) with the OpenSSL error queue's first reason appended;
// clears the queue.
Error crypto_error(std::string_view what);

// Drops whatever OpenSSL queued (after an expected failure such as a bad signature).
inline void clear_errors() { ERR_clear_error(); }

}  // namespace tessera::key::ossl

#endif  // TESSERA_KEY_OSSL_H_
