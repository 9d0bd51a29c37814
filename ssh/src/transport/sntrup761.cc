// sntrup761 from "NTRU Prime: round 3" (20201007); see sntrup761.h for the
// byte layouts. The names follow the specification and its reference code
// (Small_random, Short_random, Hide, Round, Rq_encode, ...).
//
// Representations, as in the specification and the reference:
//   Small: an element of {-1, 0, 1} (int8), a coefficient of R3 or of a short polynomial.
//   Fq:    an element of Z/q as -(q-1)/2 ... (q-1)/2 (int16), a coefficient of Rq.
// Polynomials hold p coefficients, constant term first; the rings reduce
// modulo x^p - x - 1.
//
// Constant time: every branch and index below depends only on p, q, w and
// loop counters, never on a secret. Where the reference reduces after every
// addition, this sums products in wide integers and reduces once, and its
// reductions are multiply-and-shift formulas rather than the reference's
// division routine. Every value is still brought to the same canonical
// representative, so the bytes out are the reference's. Each formula states
// the range where it is exact; each was checked exhaustively over that range
// when written (and the known-answer tests cover the whole).
#include "transport/sntrup761.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <vector>

namespace tessera::ssh::transport {
namespace {

constexpr int kP = 761;
constexpr int kQ = 4591;
constexpr int kW = 286;
constexpr int kQ12 = (kQ - 1) / 2;  // 2295
constexpr int kRoundedModulus = (kQ + 2) / 3;  // 1531: a rounded coefficient is 3 * (0..1530) - q12

constexpr size_t kSmallBytes = (kP + 3) / 4;  // 191: four coefficients a byte
constexpr size_t kRqBytes = kSntrup761PublicKeyBytes;
constexpr size_t kRoundedBytes = 1007;
constexpr size_t kHashBytes = 32;
constexpr size_t kConfirmBytes = kHashBytes;
static_assert(kRoundedBytes + kConfirmBytes == kSntrup761CiphertextBytes);
static_assert(3 * kSmallBytes + kRqBytes + kHashBytes == kSntrup761SecretKeyBytes);

// Offsets in the secret key.
constexpr size_t kSkF = 0;
constexpr size_t kSkGinv = kSmallBytes;
constexpr size_t kSkPk = 2 * kSmallBytes;
constexpr size_t kSkRho = kSkPk + kRqBytes;
constexpr size_t kSkPkHash = kSkRho + kSmallBytes;

using Small = int8_t;
using Fq = int16_t;
using SmallPoly = std::array<Small, kP>;
using FqPoly = std::array<Fq, kP>;
using HashBytes = std::array<uint8_t, kHashBytes>;

template <typename T>
void wipe(T& object) {
  key::secure_wipe(&object, sizeof object);
}

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "sntrup761: %s\n", what);
  std::abort();
}

// ----- masks: all ones or all zeros, computed without branches

// -1 when x != 0, else 0.
int32_t nonzero_mask(int32_t x) {
  const uint32_t u = static_cast<uint32_t>(x);
  return -static_cast<int32_t>((u | (0u - u)) >> 31);
}

// -1 when x < 0, else 0 (C++20 defines >> of a negative value as arithmetic).
int32_t negative_mask(int32_t x) { return x >> 31; }

// ----- arithmetic mod 3 and mod q

// The representative in {-1, 0, 1} of x mod 3, exact for |x| < 16384:
// (10923 x + 2^14) >> 15 is x/3 rounded to the nearest integer there.
Small f3_freeze(int32_t x) { return static_cast<Small>(x - 3 * ((10923 * x + 16384) >> 15)); }

// The representative in -q12..q12 of x mod q, exact for |x| <= 2^24 (Barrett
// reduction in two steps: 57 ~ 2^18/q leaves |x| < 8q, then 29235 ~ 2^27/q
// rounds x/q to the nearest integer). Inputs here stay below 3 p q12 < 2^23.
Fq fq_freeze(int32_t x) {
  x -= kQ * ((57 * x + (1 << 17)) >> 18);
  x -= kQ * ((29235 * x + (1 << 26)) >> 27);
  return static_cast<Fq>(x);
}

// a^(q-2) = 1/a in Z/q (0 for 0), by square-and-multiply over the public exponent.
Fq fq_recip(Fq a) {
  int32_t result = 1;
  int32_t power = a;
  for (int e = kQ - 2; e > 0; e >>= 1) {
    if (e & 1) result = fq_freeze(result * power);
    power = fq_freeze(power * power);
  }
  return static_cast<Fq>(result);
}

// ----- polynomial arithmetic

// Hot loops run over p + 1 coefficients padded with zeros to a multiple of
// 32, so that none has a remainder: GCC at -O2 vectorizes only such loops,
// and these loops are nearly all of the time spent.
constexpr size_t kPadded = 768;
static_assert(kPadded >= kP + 1 && kPadded % 32 == 0);
template <typename T>
using Padded = std::array<T, kPadded>;

// Products are summed in wide integers and reduced once: x^(p+k) =
// x^(k+1) + x^k, so each coefficient past p lands below p in one step.

// h = f * g in R3 (f, g small). |fg| <= 3p before the final reduction.
void r3_mult(SmallPoly& h, const SmallPoly& f, const SmallPoly& g) {
  Padded<int16_t> g_wide{};
  std::copy(g.begin(), g.end(), g_wide.begin());
  std::array<int16_t, kP + kPadded> fg{};
  for (size_t i = 0; i < kP; ++i) {
    const int16_t fi = f[i];
    for (size_t j = 0; j < kPadded; ++j) fg[i + j] = static_cast<int16_t>(fg[i + j] + fi * g_wide[j]);
  }
  for (size_t i = 2 * kP - 2; i >= kP; --i) {
    fg[i - kP] = static_cast<int16_t>(fg[i - kP] + fg[i]);
    fg[i - kP + 1] = static_cast<int16_t>(fg[i - kP + 1] + fg[i]);
  }
  for (size_t i = 0; i < kP; ++i) h[i] = f3_freeze(fg[i]);
  wipe(g_wide);
  wipe(fg);
}

// h = f * g in Rq (g small). |fg| <= 3 p q12 < 2^23 before the final reduction.
void rq_mult_small(FqPoly& h, const FqPoly& f, const SmallPoly& g) {
  Padded<int16_t> g_wide{};
  std::copy(g.begin(), g.end(), g_wide.begin());
  std::array<int32_t, kP + kPadded> fg{};
  for (size_t i = 0; i < kP; ++i) {
    const int16_t fi = f[i];
    for (size_t j = 0; j < kPadded; ++j) fg[i + j] += fi * g_wide[j];
  }
  for (size_t i = 2 * kP - 2; i >= kP; --i) {
    fg[i - kP] += fg[i];
    fg[i - kP + 1] += fg[i];
  }
  for (size_t i = 0; i < kP; ++i) h[i] = fq_freeze(fg[i]);
  wipe(g_wide);
  wipe(fg);
}

// Conditional swap of two arrays under an all-ones/all-zeros mask.
template <typename T>
void cswap(Padded<T>& a, Padded<T>& b, int32_t mask) {
  for (size_t i = 0; i < kPadded; ++i) {
    const T t = static_cast<T>(mask & (a[i] ^ b[i]));
    a[i] = static_cast<T>(a[i] ^ t);
    b[i] = static_cast<T>(b[i] ^ t);
  }
}

// a = a * x (coefficients move up; the top one, past p, is dropped).
template <typename T>
void times_x(Padded<T>& a) {
  std::copy_backward(a.begin(), a.end() - 1, a.end());
  a[0] = 0;
}

// a = a / x for a with a zero constant term.
template <typename T>
void divide_by_x(Padded<T>& a) {
  std::copy(a.begin() + 1, a.end(), a.begin());
  a[kPadded - 1] = 0;
}

// a + s b in F3, for s in {-1, 0, 1} given as the masks neg (s < 0) and
// nonzero (s != 0): no multiplication, and the sum in -2..2 is brought back
// to -1..1 with masks.
// The casts keep every step in 8 bits, so that the loops vectorize 16 or 32 wide.
Small f3_add_scaled(Small a, Small b, Small neg, Small nonzero) {
  Small x = static_cast<Small>(a + (static_cast<Small>((b ^ neg) - neg) & nonzero));
  x = static_cast<Small>(x - (3 & (static_cast<Small>(1 - x) >> 7)));  // x == 2
  x = static_cast<Small>(x + (3 & (static_cast<Small>(x + 1) >> 7)));  // x == -2
  return x;
}

// Shoup's multiplication by a scalar b that a whole loop shares: with
// b_shoup = floor(58470 b / 2^12), within 1.04 of b 2^16 / q, the quotient
// (a b_shoup) >> 16 is within 0.04 of a b / q, so for canonical a, b the
// result a b - q quotient lies in -167..4758 and its low 16 bits are exact.
int16_t shoup_scalar(int16_t b) { return static_cast<int16_t>((b * 58470) >> 12); }
int16_t fq_mul_shoup(int16_t a, int16_t b, int16_t b_shoup) {
  const int16_t quotient = static_cast<int16_t>((a * b_shoup) >> 16);
  return static_cast<int16_t>(a * b - quotient * kQ);
}

// The representative in -q12..q12 of x, for |x| <= q + q12 (16 bits
// throughout, as above).
Fq fq_reduce_once(int16_t x) {
  x = static_cast<int16_t>(x - (kQ & (static_cast<int16_t>(kQ12 - x) >> 15)));  // x > q12
  x = static_cast<int16_t>(x + (kQ & (static_cast<int16_t>(x + kQ12) >> 15)));  // x < -q12
  return x;
}

// Both inversions are the constant-time "divstep" iteration of the
// specification's reference (Bernstein-Yang): f starts as x^p - x - 1 and g as
// the input, both reversed; 2p - 1 steps, each swapping (f, v) with (g, r)
// when delta > 0 and g(0) != 0, then cancelling g's constant term with f and
// dividing g by x. In the end f is a constant and v, reversed and scaled by
// 1/f, the inverse; delta is 0 exactly when the inverse exists. Padding stays
// zero in f and g (nothing moves into it); v and r collect values past p
// that only ever move further up, so they never reach the result.

// out = 1/in in R3; false (out undefined) when in is not invertible mod 3.
bool r3_recip(SmallPoly& out, const SmallPoly& in) {
  Padded<Small> f{}, g{}, v{}, r{};
  r[0] = 1;
  f[0] = 1;
  f[kP - 1] = -1;
  f[kP] = -1;
  for (int i = 0; i < kP; ++i) g[kP - 1 - i] = in[i];
  int32_t delta = 1;

  for (int loop = 0; loop < 2 * kP - 1; ++loop) {
    times_x(v);
    const int32_t sign = -g[0] * f[0];
    const int32_t swap = negative_mask(-delta) & nonzero_mask(g[0]);
    delta ^= swap & (delta ^ -delta);
    delta += 1;
    cswap(f, g, swap);
    cswap(v, r, swap);

    const Small neg = static_cast<Small>(negative_mask(sign));
    const Small nonzero = static_cast<Small>(nonzero_mask(sign));
    for (size_t i = 0; i < kPadded; ++i) g[i] = f3_add_scaled(g[i], f[i], neg, nonzero);
    for (size_t i = 0; i < kPadded; ++i) r[i] = f3_add_scaled(r[i], v[i], neg, nonzero);
    divide_by_x(g);
  }

  const int32_t scale = f[0];
  for (int i = 0; i < kP; ++i) out[i] = static_cast<Small>(scale * v[kP - 1 - i]);
  const bool ok = nonzero_mask(delta) == 0;
  wipe(f);
  wipe(g);
  wipe(v);
  wipe(r);
  return ok;
}

// out = 1/(3 in) in Rq. Always succeeds for a short in (Rq is a field).
void rq_recip3(FqPoly& out, const SmallPoly& in) {
  Padded<Fq> f{}, g{}, v{}, r{};
  r[0] = fq_recip(3);
  f[0] = 1;
  f[kP - 1] = -1;
  f[kP] = -1;
  for (int i = 0; i < kP; ++i) g[kP - 1 - i] = in[i];
  int32_t delta = 1;

  for (int loop = 0; loop < 2 * kP - 1; ++loop) {
    times_x(v);
    const int32_t swap = negative_mask(-delta) & nonzero_mask(g[0]);
    delta ^= swap & (delta ^ -delta);
    delta += 1;
    cswap(f, g, swap);
    cswap(v, r, swap);

    // g = f0 g - g0 f, r = f0 r - g0 v.
    const Fq f0 = f[0], g0 = g[0];
    const int16_t f0_shoup = shoup_scalar(f0), g0_shoup = shoup_scalar(g0);
    for (size_t i = 0; i < kPadded; ++i) {
      g[i] = fq_reduce_once(static_cast<int16_t>(fq_mul_shoup(g[i], f0, f0_shoup) - fq_mul_shoup(f[i], g0, g0_shoup)));
    }
    for (size_t i = 0; i < kPadded; ++i) {
      r[i] = fq_reduce_once(static_cast<int16_t>(fq_mul_shoup(r[i], f0, f0_shoup) - fq_mul_shoup(v[i], g0, g0_shoup)));
    }
    divide_by_x(g);
  }

  const int32_t scale = fq_recip(f[0]);
  for (int i = 0; i < kP; ++i) out[i] = fq_freeze(scale * v[kP - 1 - i]);
  wipe(f);
  wipe(g);
  wipe(v);
  wipe(r);
}

// ----- random polynomials

class SystemRandom final : public Sntrup761RandomSource {
 public:
  ~SystemRandom() override { wipe(buffer_); }
  void fill(std::span<uint8_t> out) override {
    // RAND_bytes costs about as much for 4 bytes as for 4 KiB: draw in bulk.
    while (!out.empty()) {
      if (used_ == buffer_.size()) {
        if (RAND_bytes(buffer_.data(), static_cast<int>(buffer_.size())) != 1) fatal("RAND_bytes failed");
        used_ = 0;
      }
      const size_t n = std::min(out.size(), buffer_.size() - used_);
      std::copy_n(buffer_.begin() + static_cast<std::ptrdiff_t>(used_), n, out.begin());
      key::secure_wipe(buffer_.data() + used_, n);
      used_ += n;
      out = out.subspan(n);
    }
  }

 private:
  std::array<uint8_t, 4096> buffer_{};
  size_t used_ = 4096;
};

uint32_t random32(Sntrup761RandomSource& rng) {
  std::array<uint8_t, 4> bytes;
  rng.fill(bytes);
  const uint32_t value = static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
                         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
  wipe(bytes);
  return value;
}

// A uniformly random small polynomial: each coefficient floor(3 u / 2^30) - 1
// for a 30-bit u.
void small_random(SmallPoly& out, Sntrup761RandomSource& rng) {
  for (int i = 0; i < kP; ++i) {
    out[i] = static_cast<Small>((((random32(rng) & 0x3fffffffu) * 3) >> 30) - 1);
  }
}

// Sorts x ascending in time independent of its contents: Batcher's
// merge-exchange sort (Knuth, TAOCP 5.2.2, algorithm M), whose compare-exchange
// positions depend only on the length.
void constant_time_sort(std::span<uint32_t> x) {
  const size_t n = x.size();
  if (n < 2) return;
  size_t top = 1;
  while (top < n - top) top += top;  // the largest power of two below n
  for (size_t p = top; p > 0; p >>= 1) {
    size_t q = top;
    size_t r = 0;
    size_t d = p;
    for (;;) {
      for (size_t i = 0; i + d < n; ++i) {
        if ((i & p) != r) continue;
        uint32_t& a = x[i];
        uint32_t& b = x[i + d];
        const uint64_t difference = static_cast<uint64_t>(b) - static_cast<uint64_t>(a);
        const uint32_t swap = 0u - static_cast<uint32_t>(difference >> 63);  // b < a
        const uint32_t t = (a ^ b) & swap;
        a ^= t;
        b ^= t;
      }
      if (q == p) break;
      d = q - p;
      q >>= 1;
      r = p;
    }
  }
}

// A random short polynomial (weight w): w entries forced to +-1 and p - w to
// 0 in the two low bits of random words, then sorted by the words.
void short_random(SmallPoly& out, Sntrup761RandomSource& rng) {
  std::array<uint32_t, kP> list;
  for (int i = 0; i < kP; ++i) list[i] = random32(rng);
  for (int i = 0; i < kW; ++i) list[i] &= ~1u;             // low bits 00 or 10: -1 or +1
  for (int i = kW; i < kP; ++i) list[i] = (list[i] & ~3u) | 1;  // low bits 01: 0
  constant_time_sort(list);
  for (int i = 0; i < kP; ++i) out[i] = static_cast<Small>(static_cast<int32_t>(list[i] & 3) - 1);
  wipe(list);
}

// ----- encodings

// Small polynomials: coefficient + 1 in two bits, four to a byte, low bits
// first; the last byte holds the 761st coefficient alone.
void small_encode(std::span<uint8_t, kSmallBytes> out, const SmallPoly& f) {
  for (size_t i = 0; i < kP / 4; ++i) {
    uint32_t byte = 0;
    for (size_t k = 0; k < 4; ++k) byte |= static_cast<uint32_t>(f[4 * i + k] + 1) << (2 * k);
    out[i] = static_cast<uint8_t>(byte);
  }
  out[kP / 4] = static_cast<uint8_t>(f[kP - 1] + 1);
}

void small_decode(SmallPoly& f, std::span<const uint8_t, kSmallBytes> in) {
  for (size_t i = 0; i < kP / 4; ++i) {
    for (size_t k = 0; k < 4; ++k) f[4 * i + k] = static_cast<Small>(((in[i] >> (2 * k)) & 3) - 1);
  }
  f[kP - 1] = static_cast<Small>((in[kP / 4] & 3) - 1);
}

// The general encoding of the specification (the reference's Encode/Decode):
// integers 0 <= R[i] < M[i] < 2^14 are merged in pairs, R[i] + M[i] R[i+1]
// below M[i] M[i+1]; while a pair's bound is 2^14 or more its low byte is
// written and it is divided by 256 (the bound rounded up); the halved list is
// then encoded the same way, down to one integer written in as many bytes as
// its bound needs. The bounds M are public constants, so the loops are too;
// nothing depends on the values R (which may be secret during decapsulation's
// re-encryption).

class ByteWriter {
 public:
  explicit ByteWriter(std::span<uint8_t> out) : out_(out) {}
  void put(uint32_t byte) {
    if (used_ == out_.size()) fatal("encoding overflows its buffer");  // fixed by M: a bug, not input
    out_[used_++] = static_cast<uint8_t>(byte);
  }
  size_t used() const { return used_; }

 private:
  std::span<uint8_t> out_;
  size_t used_ = 0;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : in_(in) {}
  uint32_t get() {
    if (used_ == in_.size()) fatal("decoding runs past its input");  // fixed by M: a bug, not input
    return in_[used_++];
  }
  size_t used() const { return used_; }

 private:
  std::span<const uint8_t> in_;
  size_t used_ = 0;
};

void radix_encode(ByteWriter& out, std::span<const uint16_t> values, std::span<const uint16_t> bounds) {
  const size_t len = values.size();
  if (len == 0) return;
  if (len == 1) {
    uint32_t value = values[0];
    for (uint32_t bound = bounds[0]; bound > 1; bound = (bound + 255) >> 8) {
      out.put(value & 0xff);
      value >>= 8;
    }
    return;
  }
  std::vector<uint16_t> values2((len + 1) / 2), bounds2((len + 1) / 2);
  size_t i = 0;
  for (; i + 1 < len; i += 2) {
    uint32_t value = values[i] + values[i + 1] * static_cast<uint32_t>(bounds[i]);
    uint32_t bound = bounds[i + 1] * static_cast<uint32_t>(bounds[i]);
    while (bound >= 16384) {
      out.put(value & 0xff);
      value >>= 8;
      bound = (bound + 255) >> 8;
    }
    values2[i / 2] = static_cast<uint16_t>(value);
    bounds2[i / 2] = static_cast<uint16_t>(bound);
  }
  if (i < len) {
    values2[i / 2] = values[i];
    bounds2[i / 2] = bounds[i];
  }
  radix_encode(out, values2, bounds2);
  key::secure_wipe(values2.data(), values2.size() * sizeof(uint16_t));
}

// The inverse of radix_encode. Any input bytes decode (to 0 <= R[i] < M[i]),
// as in the reference: out-of-range values are reduced, never rejected.
// Decoded data is public (a public key or a ciphertext), so plain division is
// fine here.
void radix_decode(std::span<uint16_t> values, ByteReader& in, std::span<const uint16_t> bounds) {
  const size_t len = bounds.size();
  if (len == 0) return;
  if (len == 1) {
    const uint32_t bound = bounds[0];
    if (bound == 1) {
      values[0] = 0;
    } else if (bound <= 256) {
      values[0] = static_cast<uint16_t>(in.get() % bound);
    } else {
      const uint32_t low = in.get();
      values[0] = static_cast<uint16_t>((low + (in.get() << 8)) % bound);
    }
    return;
  }
  const size_t half = (len + 1) / 2;
  std::vector<uint16_t> values2(half), bounds2(half);
  std::vector<uint32_t> bottom(len / 2), bottom_scale(len / 2);
  size_t i = 0;
  for (; i + 1 < len; i += 2) {
    const uint32_t bound = bounds[i] * static_cast<uint32_t>(bounds[i + 1]);
    if (bound > 256 * 16383) {
      bottom_scale[i / 2] = 256 * 256;
      const uint32_t low = in.get();
      bottom[i / 2] = low + 256 * in.get();
      bounds2[i / 2] = static_cast<uint16_t>((((bound + 255) >> 8) + 255) >> 8);
    } else if (bound >= 16384) {
      bottom_scale[i / 2] = 256;
      bottom[i / 2] = in.get();
      bounds2[i / 2] = static_cast<uint16_t>((bound + 255) >> 8);
    } else {
      bottom_scale[i / 2] = 1;
      bottom[i / 2] = 0;
      bounds2[i / 2] = static_cast<uint16_t>(bound);
    }
  }
  if (i < len) bounds2[i / 2] = bounds[i];
  radix_decode(values2, in, bounds2);
  for (i = 0; i + 1 < len; i += 2) {
    const uint32_t value = bottom[i / 2] + bottom_scale[i / 2] * values2[i / 2];
    values[i] = static_cast<uint16_t>(value % bounds[i]);
    values[i + 1] = static_cast<uint16_t>((value / bounds[i]) % bounds[i + 1]);  // % only for invalid input
  }
  if (i < len) values[i] = values2[i / 2];
}

// Rq: coefficient + q12 in 0..q-1 (1158 bytes).
void rq_encode(std::span<uint8_t, kRqBytes> out, const FqPoly& h) {
  std::array<uint16_t, kP> values, bounds;
  for (int i = 0; i < kP; ++i) values[i] = static_cast<uint16_t>(h[i] + kQ12);
  bounds.fill(kQ);
  ByteWriter writer(out);
  radix_encode(writer, values, bounds);
  if (writer.used() != kRqBytes) fatal("Rq encoding has the wrong length");
}

void rq_decode(FqPoly& h, std::span<const uint8_t, kRqBytes> in) {
  std::array<uint16_t, kP> values, bounds;
  bounds.fill(kQ);
  ByteReader reader(in);
  radix_decode(values, reader, bounds);
  for (int i = 0; i < kP; ++i) h[i] = static_cast<Fq>(values[i] - kQ12);
}

// Rounded polynomials (every coefficient a multiple of 3): (c + q12) / 3 in
// 0..1530 (1007 bytes). 10923 / 2^15 divides a multiple of 3 below 2^14 exactly.
void rounded_encode(std::span<uint8_t, kRoundedBytes> out, const FqPoly& c) {
  std::array<uint16_t, kP> values, bounds;
  for (int i = 0; i < kP; ++i) values[i] = static_cast<uint16_t>(((c[i] + kQ12) * 10923) >> 15);
  bounds.fill(kRoundedModulus);
  ByteWriter writer(out);
  radix_encode(writer, values, bounds);
  if (writer.used() != kRoundedBytes) fatal("rounded encoding has the wrong length");
  wipe(values);
}

void rounded_decode(FqPoly& c, std::span<const uint8_t, kRoundedBytes> in) {
  std::array<uint16_t, kP> values, bounds;
  bounds.fill(kRoundedModulus);
  ByteReader reader(in);
  radix_decode(values, reader, bounds);
  for (int i = 0; i < kP; ++i) c[i] = static_cast<Fq>(values[i] * 3 - kQ12);
}

// ----- hashing: Hash_b(x) = SHA-512(b || x)[0:32]

void hash_prefix(std::span<uint8_t, kHashBytes> out, uint8_t prefix,
                 std::initializer_list<std::span<const uint8_t>> parts) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<uint8_t, 64> digest;
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), &prefix, 1) == 1;
  for (std::span<const uint8_t> part : parts) ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx.get(), digest.data(), nullptr) == 1;
  if (!ok) fatal("SHA-512 failed");
  std::copy_n(digest.begin(), kHashBytes, out.begin());
  wipe(digest);
}

// ----- the KEM (the reference's Hide, Encap, Decap)

// Encrypt and encode r to pk: ct = Rounded(Round(h r)) || Hash_2(Hash_3(r_enc) || pk_hash),
// and r_hash = Hash_3(Small(r)) for the session key.
void hide(std::span<uint8_t, kSntrup761CiphertextBytes> ct, HashBytes& r_hash, const SmallPoly& r,
          std::span<const uint8_t, kRqBytes> pk, std::span<const uint8_t, kHashBytes> pk_hash) {
  std::array<uint8_t, kSmallBytes> r_enc;
  small_encode(r_enc, r);
  hash_prefix(r_hash, 3, {r_enc});

  FqPoly h, c;
  rq_decode(h, pk);
  rq_mult_small(c, h, r);
  for (int i = 0; i < kP; ++i) c[i] = static_cast<Fq>(c[i] - f3_freeze(c[i]));  // Round: nearest multiple of 3
  rounded_encode(ct.first<kRoundedBytes>(), c);
  hash_prefix(ct.last<kConfirmBytes>(), 2, {r_hash, pk_hash});
  wipe(r_enc);
  wipe(c);
}

// Decrypt: e = 3 f c in R3, r = e / g in R3; r of weight other
// than w is replaced by (1, ..., 1, 0, ..., 0) so that a bad ciphertext still
// gives a short r.
void decrypt(SmallPoly& r, std::span<const uint8_t, kRoundedBytes> ct, std::span<const uint8_t, kSntrup761SecretKeyBytes> sk) {
  SmallPoly f, ginv, e;
  FqPoly c, cf;
  small_decode(f, sk.subspan<kSkF, kSmallBytes>());
  small_decode(ginv, sk.subspan<kSkGinv, kSmallBytes>());
  rounded_decode(c, ct);
  rq_mult_small(cf, c, f);
  for (int i = 0; i < kP; ++i) e[i] = f3_freeze(fq_freeze(3 * cf[i]));
  r3_mult(r, e, ginv);

  int32_t weight = 0;
  for (int i = 0; i < kP; ++i) weight += r[i] & 1;
  const int32_t keep = ~nonzero_mask(weight - kW);
  for (int i = 0; i < kP; ++i) {
    const int32_t fallback = i < kW ? 1 : 0;
    r[i] = static_cast<Small>((r[i] & keep) | (fallback & ~keep));
  }
  wipe(f);
  wipe(ginv);
  wipe(e);
  wipe(cf);
}

}  // namespace

void sntrup761_keypair(std::span<uint8_t, kSntrup761PublicKeyBytes> pk, key::SecretBytes& sk,
                       Sntrup761RandomSource* rng) {
  SystemRandom system_random;
  Sntrup761RandomSource& random = rng != nullptr ? *rng : system_random;

  SmallPoly g, ginv, f;
  // g must be invertible mod 3; a failed g is discarded, so the retry reveals nothing kept.
  do {
    small_random(g, random);
  } while (!r3_recip(ginv, g));
  short_random(f, random);

  FqPoly finv, h;
  rq_recip3(finv, f);
  rq_mult_small(h, finv, g);  // h = g / (3 f)
  rq_encode(pk, h);

  sk.resize(kSntrup761SecretKeyBytes);
  const std::span<uint8_t, kSntrup761SecretKeyBytes> out = sk.reveal_mutable().first<kSntrup761SecretKeyBytes>();
  small_encode(out.subspan<kSkF, kSmallBytes>(), f);
  small_encode(out.subspan<kSkGinv, kSmallBytes>(), ginv);
  std::copy(pk.begin(), pk.end(), out.begin() + kSkPk);
  random.fill(out.subspan<kSkRho, kSmallBytes>());
  hash_prefix(out.subspan<kSkPkHash, kHashBytes>(), 4, {pk});

  wipe(g);
  wipe(ginv);
  wipe(f);
  wipe(finv);
}

void sntrup761_encapsulate(std::span<uint8_t, kSntrup761CiphertextBytes> ct,
                           std::span<uint8_t, kSntrup761SharedSecretBytes> shared,
                           std::span<const uint8_t, kSntrup761PublicKeyBytes> pk, Sntrup761RandomSource* rng) {
  SystemRandom system_random;
  Sntrup761RandomSource& random = rng != nullptr ? *rng : system_random;

  HashBytes pk_hash;
  hash_prefix(pk_hash, 4, {pk});
  SmallPoly r;
  short_random(r, random);
  HashBytes r_hash;
  hide(ct, r_hash, r, pk, pk_hash);
  hash_prefix(shared, 1, {r_hash, ct});
  wipe(r);
  wipe(r_hash);
}

void sntrup761_decapsulate(std::span<uint8_t, kSntrup761SharedSecretBytes> shared,
                           std::span<const uint8_t, kSntrup761CiphertextBytes> ct,
                           std::span<const uint8_t, kSntrup761SecretKeyBytes> sk) {
  SmallPoly r;
  decrypt(r, ct.first<kRoundedBytes>(), sk);

  std::array<uint8_t, kSntrup761CiphertextBytes> ct_again;
  HashBytes r_hash;
  hide(ct_again, r_hash, r, sk.subspan<kSkPk, kRqBytes>(), sk.subspan<kSkPkHash, kHashBytes>());

  uint32_t difference = 0;
  for (size_t i = 0; i < ct.size(); ++i) difference |= static_cast<uint32_t>(ct[i] ^ ct_again[i]);
  const int32_t reject = nonzero_mask(static_cast<int32_t>(difference));  // -1 when ct is not ours

  // Implicit rejection: on a mismatch hash rho instead of r, under prefix 0.
  std::array<uint8_t, kSmallBytes> r_enc;
  small_encode(r_enc, r);
  const std::span<const uint8_t, kSmallBytes> rho = sk.subspan<kSkRho, kSmallBytes>();
  for (size_t i = 0; i < kSmallBytes; ++i) {
    r_enc[i] = static_cast<uint8_t>(r_enc[i] ^ (reject & (r_enc[i] ^ rho[i])));
  }
  hash_prefix(r_hash, 3, {r_enc});
  hash_prefix(shared, static_cast<uint8_t>(1 + reject), {r_hash, ct});

  wipe(r);
  wipe(ct_again);
  wipe(r_hash);
  wipe(r_enc);
}

}  // namespace tessera::ssh::transport
