// Internal: the Blowfish block cipher (Schneier, 1993) with the "expensive
// key schedule" helpers of EksBlowfish (Provos and Mazieres, 1999) that
// bcrypt_pbkdf needs. OpenSSL 3 keeps Blowfish in its legacy provider and has
// no EksBlowfish, so tessera carries its own. Not part of libkey's public API.
#ifndef TESSERA_KEY_SRC_CRYPTO_BLOWFISH_H_
#define TESSERA_KEY_SRC_CRYPTO_BLOWFISH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tessera::key::crypto {

// One Blowfish key state (P-array and S-boxes, 4168 bytes). The state is key
// material: it is wiped when the object is destroyed or reset.
class Blowfish {
 public:
  static constexpr size_t kRounds = 16;
  static constexpr size_t kBlockBytes = 8;

  // The initial state (the hex digits of pi), before any key is mixed in.
  Blowfish() { reset(); }
  ~Blowfish();
  Blowfish(const Blowfish&) = delete;
  Blowfish& operator=(const Blowfish&) = delete;

  // Back to the initial state.
  void reset();

  // The standard Blowfish key schedule: reset(), then expand0_state(key).
  // Keys longer than 72 bytes wrap, as in every Blowfish implementation;
  // an empty key leaves the initial state's XOR step out.
  void set_key(std::span<const uint8_t> key);

  // EksBlowfish ExpandState(state, salt, key): XORs the key into the P-array,
  // then re-encrypts P and S, XORing salt words into each block first.
  // Both spans are read cyclically as big-endian 32-bit words.
  void expand_state(std::span<const uint8_t> salt, std::span<const uint8_t> key);
  // ExpandState with an all-zero salt (the standard key schedule step).
  void expand0_state(std::span<const uint8_t> key);

  // One 64-bit block as two big-endian halves.
  void encrypt(uint32_t& left, uint32_t& right) const;
  void decrypt(uint32_t& left, uint32_t& right) const;

  // Encrypts each pair of words in place (bcrypt's blf_enc over its 8-word buffer).
  void encrypt_words(std::span<uint32_t> words) const;

 private:
  uint32_t feistel(uint32_t x) const;

  std::array<uint32_t, kRounds + 2> p_;
  std::array<std::array<uint32_t, 256>, 4> s_;
};

}  // namespace tessera::key::crypto

#endif  // TESSERA_KEY_SRC_CRYPTO_BLOWFISH_H_
