// Fuzzes sntrup761 (ssh/src/transport/sntrup761.h) with a fixed key pair.
// The input is a difference: its first 1039 bytes are XORed into an honest
// ciphertext to the fixed key, its next 1158 bytes into the fixed public key
// (missing bytes are zero), so the fuzzer starts from valid values and moves
// away from them.
//   - Decapsulating the changed ciphertext must give the honest key when
//     nothing changed and the implicit-rejection key Hash_0(Hash_3(rho) || ct)
//     otherwise (another valid ciphertext would need a SHA-512 preimage).
//   - Encapsulating to the changed public key must work for any bytes; when
//     the key is unchanged, the fixed secret key must decapsulate the result.
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "transport/sntrup761.h"

using namespace tessera::ssh::transport;

namespace {

using Ciphertext = std::array<uint8_t, kSntrup761CiphertextBytes>;
using PublicKey = std::array<uint8_t, kSntrup761PublicKeyBytes>;
using SharedKey = std::array<uint8_t, kSntrup761SharedSecretBytes>;

constexpr size_t kRhoOffset = 2 * 191 + kSntrup761PublicKeyBytes;

// Deterministic bytes (xorshift64*), so that every run of an input is the same.
class FixedRandom final : public Sntrup761RandomSource {
 public:
  explicit FixedRandom(uint64_t seed) : state_(seed) {}
  void fill(std::span<uint8_t> out) override {
    for (uint8_t& byte : out) {
      state_ ^= state_ >> 12;
      state_ ^= state_ << 25;
      state_ ^= state_ >> 27;
      byte = static_cast<uint8_t>((state_ * 0x2545F4914F6CDD1DULL) >> 56);
    }
  }

 private:
  uint64_t state_;
};

struct Fixture {
  PublicKey pk;
  tessera::key::SecretBytes sk;
  Ciphertext ct;
  SharedKey shared;
  Fixture() {
    FixedRandom rng(0x5eed);
    sntrup761_keypair(pk, sk, &rng);
    sntrup761_encapsulate(ct, shared, pk, &rng);
  }
  std::span<const uint8_t, kSntrup761SecretKeyBytes> secret() const {
    return sk.reveal().first<kSntrup761SecretKeyBytes>();
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

// Hash_b(x) = SHA-512(b || x)[0:32], written out again here.
void hash_prefix(std::span<uint8_t, 32> out, uint8_t prefix, std::span<const uint8_t> a, std::span<const uint8_t> b) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<uint8_t, 64> digest;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) != 1 || EVP_DigestUpdate(ctx.get(), &prefix, 1) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 || EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), nullptr) != 1) {
    __builtin_trap();
  }
  std::copy_n(digest.begin(), out.size(), out.begin());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& fixed = fixture();
  const std::span<const uint8_t> input(data, size);

  Ciphertext ct = fixed.ct;
  const std::span<const uint8_t> ct_delta = input.first(std::min(size, ct.size()));
  for (size_t i = 0; i < ct_delta.size(); ++i) ct[i] ^= ct_delta[i];
  SharedKey shared;
  sntrup761_decapsulate(shared, ct, fixed.secret());
  if (ct == fixed.ct) {
    if (shared != fixed.shared) __builtin_trap();
  } else {
    SharedKey rho_hash, rejection;
    hash_prefix(rho_hash, 3, fixed.secret().subspan(kRhoOffset, 191), {});
    hash_prefix(rejection, 0, rho_hash, ct);
    if (shared != rejection) __builtin_trap();
  }

  PublicKey pk = fixed.pk;
  const std::span<const uint8_t> pk_delta = input.subspan(ct_delta.size()).first(std::min(size - ct_delta.size(), pk.size()));
  for (size_t i = 0; i < pk_delta.size(); ++i) pk[i] ^= pk_delta[i];
  FixedRandom rng(size);
  Ciphertext new_ct;
  SharedKey sent;
  sntrup761_encapsulate(new_ct, sent, pk, &rng);
  if (pk == fixed.pk) {
    SharedKey received;
    sntrup761_decapsulate(received, new_ct, fixed.secret());
    if (received != sent) __builtin_trap();
  }
  return 0;
}
