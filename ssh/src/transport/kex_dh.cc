// Finite-field Diffie-Hellman: the fixed groups diffie-hellman-group14-sha256
// (RFC 8268), group16-sha512 and group18-sha512 (RFC 3526's 2048-, 4096- and
// 8192-bit MODP groups, generator 2), and the math of group exchange
// (RFC 4419) over a group the server chose. Public values e and f are mpints;
// K is an mpint.
#include <openssl/bn.h>

#include <algorithm>
#include <string>

#include "tessera/key/ossl.h"
#include "transport/kex_method.h"

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;
namespace ossl = key::ossl;

namespace {

// Smallest private exponent, in bits (OpenSSH uses twice the needed
// security, at least 2 * 256).
constexpr unsigned kMinExponentBits = 512;

key::Bytes bn_bytes(const BIGNUM* n) {
  key::Bytes out(static_cast<size_t>(BN_num_bytes(n)));
  BN_bn2bin(n, out.data());
  return out;
}

key::Bytes mpint_field(const BIGNUM* n) {
  key::Writer out;
  out.mpint(bn_bytes(n));
  return out.take();
}

// A public value is usable when 1 < y < p-1 and it is not a trivial power
// (more than one bit set), as OpenSSH's dh_pub_is_valid checks.
key::Status check_public(const BIGNUM* y, const BIGNUM* p) {
  ossl::BnPtr p_minus_1(BN_dup(p));
  if (!p_minus_1 || BN_sub_word(p_minus_1.get(), 1) != 1) return ossl::crypto_error("DH");
  if (BN_is_negative(y) || BN_cmp(y, BN_value_one()) <= 0 || BN_cmp(y, p_minus_1.get()) >= 0) {
    return Error(Errc::kInvalidKey, "DH public value is out of range (must be 1 < value < p-1)");
  }
  int bits_set = 0;
  for (int i = 0; i <= BN_num_bits(y) && bits_set < 2; ++i) bits_set += BN_is_bit_set(y, i);
  if (bits_set < 2) return Error(Errc::kInvalidKey, "DH public value has a single bit set");
  return key::ok_status();
}

struct Group {
  ossl::BnPtr p;
  ossl::BnPtr g;
};

class DhKeyPair {
 public:
  static key::Result<DhKeyPair> generate(const BIGNUM* p, const BIGNUM* g, size_t need_bytes) {
    const int pbits = BN_num_bits(p);
    unsigned bits = std::max<unsigned>(kMinExponentBits, static_cast<unsigned>(need_bytes * 8 * 2));
    bits = std::min<unsigned>(bits, static_cast<unsigned>(pbits - 1));
    DhKeyPair kp;
    kp.p_.reset(BN_dup(p));
    kp.x_.reset(BN_secure_new());
    kp.y_.reset(BN_new());
    ossl::BnCtxPtr ctx(BN_CTX_secure_new());
    if (!kp.p_ || !kp.x_ || !kp.y_ || !ctx) return ossl::crypto_error("DH");
    do {
      if (BN_priv_rand(kp.x_.get(), static_cast<int>(bits), BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) {
        return ossl::crypto_error("DH private exponent");
      }
    } while (BN_cmp(kp.x_.get(), BN_value_one()) <= 0);
    BN_set_flags(kp.x_.get(), BN_FLG_CONSTTIME);
    if (BN_mod_exp_mont_consttime(kp.y_.get(), g, kp.x_.get(), p, ctx.get(), nullptr) != 1) {
      return ossl::crypto_error("DH public value");
    }
    TESSERA_TRY(check_public(kp.y_.get(), p));
    return kp;
  }

  key::Bytes public_field() const { return mpint_field(y_.get()); }

  key::Result<key::SecretBytes> shared(key::Reader& peer_field) const {
    TESSERA_ASSIGN_OR_RETURN(auto magnitude, peer_field.mpint());
    ossl::BnPtr peer(BN_bin2bn(magnitude.data(), static_cast<int>(magnitude.size()), nullptr));
    if (!peer) return ossl::crypto_error("DH");
    TESSERA_TRY(check_public(peer.get(), p_.get()));
    ossl::BnPtr k(BN_secure_new());
    ossl::BnCtxPtr ctx(BN_CTX_secure_new());
    if (!k || !ctx || BN_mod_exp_mont_consttime(k.get(), peer.get(), x_.get(), p_.get(), ctx.get(), nullptr) != 1) {
      return ossl::crypto_error("DH shared secret");
    }
    key::SecretBytes raw(static_cast<size_t>(BN_num_bytes(k.get())));
    BN_bn2bin(k.get(), raw.reveal_mutable().data());
    key::Writer out;
    out.mpint(raw.reveal());
    return out.take_secret();
  }

 private:
  ossl::BnPtr p_, x_, y_;
};

class DhClientShare final : public KexClientShare {
 public:
  explicit DhClientShare(DhKeyPair kp) : kp_(std::move(kp)), public_(kp_.public_field()) {}
  const key::Bytes& public_field() const override { return public_; }
  key::Result<key::SecretBytes> finish(key::Reader& server) override { return kp_.shared(server); }

 private:
  DhKeyPair kp_;
  key::Bytes public_;
};

using PrimeFn = BIGNUM* (*)(BIGNUM*);

key::Result<Group> fixed_group(PrimeFn prime) {
  Group group{ossl::BnPtr(prime(nullptr)), ossl::BnPtr(BN_new())};
  if (!group.p || !group.g || BN_set_word(group.g.get(), 2) != 1) return ossl::crypto_error("DH group");
  return group;
}

key::Result<std::unique_ptr<KexClientShare>> fixed_client_start(PrimeFn prime, size_t need_bytes) {
  TESSERA_ASSIGN_OR_RETURN(Group group, fixed_group(prime));
  return dh_client_start(group.p.get(), group.g.get(), need_bytes);
}

key::Result<KexServerShare> fixed_server_respond(PrimeFn prime, key::Reader& client) {
  TESSERA_ASSIGN_OR_RETURN(Group group, fixed_group(prime));
  // The server sizes its exponent for the strongest cipher it offers.
  TESSERA_ASSIGN_OR_RETURN(DhKeyPair kp, DhKeyPair::generate(group.p.get(), group.g.get(), 64));
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes k, kp.shared(client));
  return KexServerShare{kp.public_field(), std::move(k)};
}

}  // namespace

key::Result<std::unique_ptr<KexClientShare>> dh_client_start(const BIGNUM* p, const BIGNUM* g, size_t need_bytes) {
  TESSERA_ASSIGN_OR_RETURN(DhKeyPair kp, DhKeyPair::generate(p, g, need_bytes));
  return std::unique_ptr<KexClientShare>(std::make_unique<DhClientShare>(std::move(kp)));
}

key::Status dh_check_group(const BIGNUM* p, const BIGNUM* g, unsigned min_bits, unsigned max_bits) {
  const int bits = BN_num_bits(p);
  if (bits < static_cast<int>(min_bits) || bits > static_cast<int>(max_bits)) {
    return Error(Errc::kUnsupported, "server's DH group has " + std::to_string(bits) + " bits, outside " +
                                         std::to_string(min_bits) + ".." + std::to_string(max_bits));
  }
  if (!BN_is_odd(p)) return Error(Errc::kInvalidKey, "server's DH modulus is even");
  ossl::BnPtr p_minus_1(BN_dup(p));
  if (!p_minus_1 || BN_sub_word(p_minus_1.get(), 1) != 1) return ossl::crypto_error("DH");
  if (BN_cmp(g, BN_value_one()) <= 0 || BN_cmp(g, p_minus_1.get()) >= 0) {
    return Error(Errc::kInvalidKey, "server's DH generator is out of range (must be 1 < g < p-1)");
  }
  return key::ok_status();
}

unsigned dh_preferred_bits(size_t need_bytes) {
  // NIST SP 800-57 equivalences, as OpenSSH's dh_estimate.
  const size_t bits = need_bytes * 8;
  if (bits <= 112) return 2048;
  if (bits <= 128) return 3072;
  if (bits <= 192) return 7680;
  return 8192;
}

key::Result<std::unique_ptr<KexClientShare>> dh_group14_client_start(size_t need) {
  return fixed_client_start(BN_get_rfc3526_prime_2048, need);
}
key::Result<std::unique_ptr<KexClientShare>> dh_group16_client_start(size_t need) {
  return fixed_client_start(BN_get_rfc3526_prime_4096, need);
}
key::Result<std::unique_ptr<KexClientShare>> dh_group18_client_start(size_t need) {
  return fixed_client_start(BN_get_rfc3526_prime_8192, need);
}
key::Result<KexServerShare> dh_group14_server_respond(key::Reader& c) {
  return fixed_server_respond(BN_get_rfc3526_prime_2048, c);
}
key::Result<KexServerShare> dh_group16_server_respond(key::Reader& c) {
  return fixed_server_respond(BN_get_rfc3526_prime_4096, c);
}
key::Result<KexServerShare> dh_group18_server_respond(key::Reader& c) {
  return fixed_server_respond(BN_get_rfc3526_prime_8192, c);
}

}  // namespace tessera::ssh::transport
