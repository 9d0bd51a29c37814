// The key type table, PublicKey and PrivateKey. Algorithm specifics live in algo/.
#include "tessera/key/key.h"

#include <openssl/core_names.h>

#include <array>

#include "algo/algorithm.h"

namespace tessera::key {
namespace {

constexpr std::array<KeyTypeInfo, 7> kKeyTypes = {{
    {KeyType::kEd25519, "ssh-ed25519", "ED25519", "ed25519", "", false},
    {KeyType::kEcdsaP256, "ecdsa-sha2-nistp256", "ECDSA", "ecdsa", "nistp256", false},
    {KeyType::kEcdsaP384, "ecdsa-sha2-nistp384", "ECDSA", "ecdsa", "nistp384", false},
    {KeyType::kEcdsaP521, "ecdsa-sha2-nistp521", "ECDSA", "ecdsa", "nistp521", false},
    {KeyType::kRsa, "ssh-rsa", "RSA", "rsa", "", false},
    {KeyType::kSkEd25519, "sk-ssh-ed25519@openssh.com", "ED25519-SK", "ed25519_sk", "", true},
    {KeyType::kSkEcdsaP256, "sk-ecdsa-sha2-nistp256@openssh.com", "ECDSA-SK", "ecdsa_sk", "nistp256",
     true},
}};

using detail::KeyData;

std::shared_ptr<const KeyData> make_data(KeyType type, ossl::PkeyPtr pkey, std::string application = {}) {
  return std::make_shared<const KeyData>(KeyData{type, std::move(pkey), std::move(application), {}});
}

// The public half of a key as a new, public-only OpenSSL key, so that a
// PublicKey never carries private material.
Result<ossl::PkeyPtr> public_only(KeyType type, EVP_PKEY* pkey) {
  Writer w;
  const KeyTypeInfo& info = key_type_info(type);
  KeyData tmp{type, ossl::share(pkey), {}, {}};
  algo::for_type(type).write_public(tmp, w);
  Reader r(w.data());
  std::string unused;
  return algo::for_type(type).parse_public(info, r, &unused);
}

Result<KeyType> type_of_evp(EVP_PKEY* pkey) {
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_ED25519:
      return KeyType::kEd25519;
    case EVP_PKEY_RSA:
      return KeyType::kRsa;
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1) {
        ossl::clear_errors();
        return Error(Errc::kUnsupported, "EC key without a named curve");
      }
      std::string_view g(group, len);
      if (g == "prime256v1" || g == "P-256") return KeyType::kEcdsaP256;
      if (g == "secp384r1" || g == "P-384") return KeyType::kEcdsaP384;
      if (g == "secp521r1" || g == "P-521") return KeyType::kEcdsaP521;
      return Error(Errc::kUnsupported, "EC curve " + std::string(g) + " is not supported by SSH");
    }
    case EVP_PKEY_DSA:
      return Error(Errc::kUnsupported, "DSA keys are not supported");
    default:
      return Error(Errc::kUnsupported, "unsupported key algorithm");
  }
}

}  // namespace

std::span<const KeyTypeInfo> all_key_types() { return kKeyTypes; }

const KeyTypeInfo& key_type_info(KeyType type) {
  for (const auto& info : kKeyTypes) {
    if (info.type == type) return info;
  }
  std::abort();  // every enumerator has a table entry
}

const KeyTypeInfo* find_key_type(std::string_view ssh_name) {
  for (const auto& info : kKeyTypes) {
    if (info.ssh_name == ssh_name) return &info;
  }
  return nullptr;
}

// ---- PublicKey ----

Result<PublicKey> PublicKey::parse(Reader& in) {
  Reader probe = in;
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, probe.text());
  const KeyTypeInfo* info = find_key_type(name);
  if (info == nullptr) {
    if (name.find("-cert-v01@openssh.com") != std::string_view::npos) {
      return Error(Errc::kUnsupported, "certificates are not supported here: " + std::string(name));
    }
    return Error(Errc::kUnsupported, "unknown key type \"" + std::string(name) + "\"");
  }
  std::string application;
  TESSERA_ASSIGN_OR_RETURN(auto pkey, algo::for_type(info->type).parse_public(*info, probe, &application));
  in = probe;
  return PublicKey(make_data(info->type, std::move(pkey), std::move(application)));
}

Result<PublicKey> PublicKey::from_blob(std::span<const uint8_t> blob) {
  Reader r(blob);
  TESSERA_ASSIGN_OR_RETURN(PublicKey key, parse(r));
  TESSERA_TRY(r.expect_end());
  return key;
}

Result<PublicKey> PublicKey::from_evp(EVP_PKEY* pkey) {
  if (pkey == nullptr) return Error(Errc::kInvalidArgument, "no key");
  TESSERA_ASSIGN_OR_RETURN(KeyType type, type_of_evp(pkey));
  TESSERA_ASSIGN_OR_RETURN(auto pub, public_only(type, pkey));
  return PublicKey(make_data(type, std::move(pub)));
}

Result<PublicKey> PublicKey::make_security_key(KeyType type, EVP_PKEY* pkey, std::string_view application) {
  if (!key_type_info(type).security_key) return Error(Errc::kInvalidArgument, "not a security key type");
  TESSERA_ASSIGN_OR_RETURN(KeyType base, type_of_evp(pkey));
  if ((type == KeyType::kSkEd25519 && base != KeyType::kEd25519) ||
      (type == KeyType::kSkEcdsaP256 && base != KeyType::kEcdsaP256)) {
    return Error(Errc::kInvalidKey, "security key type does not match the underlying key");
  }
  TESSERA_ASSIGN_OR_RETURN(auto pub, public_only(base, pkey));
  return PublicKey(make_data(type, std::move(pub), std::string(application)));
}

void PublicKey::serialize(Writer& out) const {
  out.string(ssh_name());
  algo::for_type(type()).write_public(*data_, out);
}

Bytes PublicKey::blob() const {
  Writer w;
  serialize(w);
  return w.take();
}

KeyType PublicKey::type() const { return data_->type; }
unsigned PublicKey::bits() const { return algo::for_type(type()).bits(*data_); }
const std::string& PublicKey::sk_application() const { return data_->application; }
EVP_PKEY* PublicKey::evp() const { return data_->pkey.get(); }

bool PublicKey::operator==(const PublicKey& other) const {
  return data_ == other.data_ || blob() == other.blob();
}

Status PublicKey::verify(std::span<const uint8_t> signature_blob, std::span<const uint8_t> data) const {
  Reader r(signature_blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view alg, r.text());
  TESSERA_TRY(algo::for_type(type()).verify(*data_, alg, r, data));
  TESSERA_TRY(r.expect_end());
  return {};
}

Result<std::string> signature_algorithm_name(std::span<const uint8_t> signature_blob) {
  Reader r(signature_blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view alg, r.text());
  return std::string(alg);
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::from_data(std::shared_ptr<const detail::KeyData> data) {
  TESSERA_ASSIGN_OR_RETURN(auto pub, public_only(data->type, data->pkey.get()));
  PublicKey public_key(make_data(data->type, std::move(pub)));
  return PrivateKey(std::move(data), std::move(public_key));
}

Result<PrivateKey> PrivateKey::generate(KeyType type, unsigned bits) {
  if (type == KeyType::kEcdsaP256 || type == KeyType::kEcdsaP384 || type == KeyType::kEcdsaP521) {
    switch (bits) {
      case 0: break;
      case 256: type = KeyType::kEcdsaP256; break;
      case 384: type = KeyType::kEcdsaP384; break;
      case 521: type = KeyType::kEcdsaP521; break;
      default:
        return Error(Errc::kInvalidArgument, "Invalid ECDSA key length: valid lengths are 256, 384 or 521 bits");
    }
  }
  const KeyTypeInfo& info = key_type_info(type);
  if (info.security_key) {
    return Error(Errc::kUnsupported, "security keys are created on an authenticator, not generated here");
  }
  TESSERA_ASSIGN_OR_RETURN(auto pkey, algo::for_type(type).generate(info, bits));
  return from_data(make_data(type, std::move(pkey)));
}

Result<PrivateKey> PrivateKey::from_evp(EVP_PKEY* pkey) {
  if (pkey == nullptr) return Error(Errc::kInvalidArgument, "no key");
  TESSERA_ASSIGN_OR_RETURN(KeyType type, type_of_evp(pkey));
  // Round-trip through the SSH private encoding: that validates the key the
  // same way a key read from a file is validated, and drops anything SSH
  // cannot represent.
  KeyData tmp{type, ossl::share(pkey), {}, {}};
  Writer w;
  algo::for_type(type).write_private(tmp, w);
  Reader r(w.data());
  TESSERA_ASSIGN_OR_RETURN(auto validated, algo::for_type(type).parse_private(key_type_info(type), r));
  return from_data(make_data(type, std::move(validated)));
}

Result<PrivateKey> PrivateKey::make_security_key(const PublicKey& pub, uint8_t flags,
                                                std::span<const uint8_t> key_handle) {
  if (!pub.info().security_key) {
    return Error(Errc::kInvalidArgument, std::string(pub.ssh_name()) + " is not a security key type");
  }
  if (key_handle.empty()) return Error(Errc::kInvalidArgument, "a security key needs a key handle");
  if (key_handle.size() > kMaxSecurityKeyHandleBytes) {
    return Error(Errc::kTooLarge, "security key handle of " + std::to_string(key_handle.size()) +
                                      " bytes (at most " + std::to_string(kMaxSecurityKeyHandleBytes) + ")");
  }
  return with_credential(pub, SecurityKeyCredential{flags, SecretBytes::copy_of(key_handle), {}});
}

PrivateKey PrivateKey::with_credential(const PublicKey& pub, SecurityKeyCredential credential) {
  auto data = std::make_shared<const KeyData>(
      KeyData{pub.type(), ossl::share(pub.evp()), pub.sk_application(), std::move(credential)});
  return PrivateKey(std::move(data), pub);
}

Result<PrivateKey> PrivateKey::parse(Reader& in) {
  Reader probe = in;
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, probe.text());
  const KeyTypeInfo* info = find_key_type(name);
  if (info == nullptr) return Error(Errc::kUnsupported, "unknown key type \"" + std::string(name) + "\"");
  if (info->security_key) {
    // The public fields (with the application), then flags, key handle and
    // reserved (PROTOCOL.u2f).
    std::string application;
    TESSERA_ASSIGN_OR_RETURN(auto pkey, algo::for_type(info->type).parse_public(*info, probe, &application));
    TESSERA_ASSIGN_OR_RETURN(uint8_t flags, probe.u8());
    TESSERA_ASSIGN_OR_RETURN(auto handle, probe.string());
    TESSERA_ASSIGN_OR_RETURN(auto reserved, probe.string());
    PublicKey pub(make_data(info->type, std::move(pkey), std::move(application)));
    TESSERA_ASSIGN_OR_RETURN(PrivateKey key, make_security_key(pub, flags, handle));
    if (!reserved.empty()) {
      key = with_credential(pub, {flags, SecretBytes::copy_of(handle), Bytes(reserved.begin(), reserved.end())});
    }
    in = probe;
    return key;
  }
  TESSERA_ASSIGN_OR_RETURN(auto pkey, algo::for_type(info->type).parse_private(*info, probe));
  TESSERA_ASSIGN_OR_RETURN(PrivateKey key, from_data(make_data(info->type, std::move(pkey))));
  in = probe;
  return key;
}

void PrivateKey::serialize(Writer& out) const {
  out.string(public_.ssh_name());
  if (const SecurityKeyCredential* sk = security_key()) {
    algo::for_type(type()).write_public(*data_, out);
    out.u8(sk->flags);
    out.string(sk->key_handle.reveal());
    out.string(sk->reserved);
    return;
  }
  algo::for_type(type()).write_private(*data_, out);
}

const SecurityKeyCredential* PrivateKey::security_key() const {
  return data_->credential ? &*data_->credential : nullptr;
}

Result<PublicKey> security_key_public(KeyType type, std::span<const uint8_t> public_key,
                                      std::string_view application) {
  const KeyTypeInfo& info = key_type_info(type);
  if (!info.security_key) return Error(Errc::kInvalidArgument, std::string(info.ssh_name) + " is not a security key type");
  // The public blob, parsed as any other: that checks the length and the point.
  Writer w;
  w.string(info.ssh_name);
  if (!info.curve.empty()) w.string(info.curve);
  w.string(public_key);
  w.string(application);
  auto key = PublicKey::from_blob(w.data());
  if (!key.ok()) return Error(Errc::kInvalidKey, "the authenticator returned an unusable " + std::string(info.ssh_name) +
                                                     " public key: " + key.error().message());
  return key;
}

Result<Bytes> security_key_signature_blob(KeyType type, uint8_t flags, uint32_t counter,
                                          std::span<const uint8_t> sig_r, std::span<const uint8_t> sig_s) {
  TESSERA_ASSIGN_OR_RETURN(Bytes body, algo::for_type(type).security_key_signature_body(sig_r, sig_s));
  Writer w;
  w.string(key_type_info(type).ssh_name);
  w.string(body);
  w.u8(flags);
  w.u32(counter);
  return w.take();
}

Result<Bytes> security_key_signature(const PublicKey& key, std::span<const uint8_t> data, uint8_t flags,
                                     uint32_t counter, std::span<const uint8_t> sig_r,
                                     std::span<const uint8_t> sig_s) {
  TESSERA_ASSIGN_OR_RETURN(Bytes blob, security_key_signature_blob(key.type(), flags, counter, sig_r, sig_s));
  if (auto s = key.verify(blob, data); !s.ok()) {
    return Error(Errc::kBadSignature, "the authenticator's signature does not verify with key " +
                                          std::string(key.ssh_name()) + " (" + s.error().message() +
                                          "): it answered for another credential, or garbled its answer");
  }
  return blob;
}

Result<Bytes> PrivateKey::sign(std::span<const uint8_t> data, SignatureAlgorithm alg) const {
  if (alg != SignatureAlgorithm::kDefault && type() != KeyType::kRsa) {
    return Error(Errc::kInvalidArgument, "only RSA keys take a signature algorithm");
  }
  return algo::for_type(type()).sign(*data_, alg, data);
}

EVP_PKEY* PrivateKey::evp() const { return data_->pkey.get(); }

// ---- defaults and helpers for algo/ ----

namespace algo {

const Algorithm& for_type(KeyType type) {
  switch (type) {
    case KeyType::kEd25519: return ed25519();
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521: return ecdsa();
    case KeyType::kRsa: return rsa();
    case KeyType::kSkEd25519: return sk_ed25519();
    case KeyType::kSkEcdsaP256: return sk_ecdsa();
  }
  std::abort();
}

Result<ossl::PkeyPtr> Algorithm::parse_private(const KeyTypeInfo& info, Reader&) const {
  return Error(Errc::kUnsupported,
               std::string(info.ssh_name) + " private keys live on an authenticator and are not supported here");
}

void Algorithm::write_private(const KeyData&, Writer&) const {
  std::abort();  // unreachable: no PrivateKey of a type without private support exists
}

Result<ossl::PkeyPtr> Algorithm::generate(const KeyTypeInfo& info, unsigned) const {
  return Error(Errc::kUnsupported, "cannot generate " + std::string(info.ssh_name) + " keys");
}

Result<Bytes> Algorithm::sign(const KeyData& key, SignatureAlgorithm, std::span<const uint8_t>) const {
  if (key_type_info(key.type).security_key) {
    return Error(Errc::kUnsupported, std::string(key_type_info(key.type).ssh_name) +
                                         " keys sign on their authenticator, through a security key middleware");
  }
  return Error(Errc::kUnsupported, "cannot sign with " + std::string(key_type_info(key.type).ssh_name) + " keys");
}

Result<Bytes> Algorithm::security_key_signature_body(std::span<const uint8_t>, std::span<const uint8_t>) const {
  return Error(Errc::kUnsupported, "not a security key type");
}

Bytes sha256(std::span<const uint8_t> data) {
  Bytes out(32);
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) std::abort();
  return out;
}

Bytes sk_signed_message(std::string_view application, uint8_t flags, uint32_t counter,
                        std::span<const uint8_t> data) {
  Writer w;
  w.bytes(sha256(as_bytes(application)));
  w.u8(flags);
  w.u32(counter);
  w.bytes(sha256(data));
  return w.take();
}

Bytes signature_blob(std::string_view alg_name, std::span<const uint8_t> body) {
  Writer w;
  w.string(alg_name);
  w.string(body);
  return w.take();
}

}  // namespace algo
}  // namespace tessera::key
