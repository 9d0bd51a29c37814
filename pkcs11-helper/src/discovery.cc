#include "discovery.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "tessera/key/wire.h"

namespace tessera::pkcs11::helper {

namespace {

using key::Errc;
using key::PublicKey;
using key::Writer;

// DER of the named-curve OIDs in CKA_EC_PARAMS.
constexpr uint8_t kOidP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr uint8_t kOidP384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kOidP521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
constexpr uint8_t kOidEd25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
// PrintableString "edwards25519", as SoftHSM2 writes it.
constexpr uint8_t kNameEd25519[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'};

bool equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The contents of a DER OCTET STRING that spans exactly `der`, or nullopt.
std::optional<std::span<const uint8_t>> octet_string_contents(std::span<const uint8_t> der) {
  if (der.size() < 2 || der[0] != 0x04) return std::nullopt;
  size_t length = der[1];
  size_t header = 2;
  if (length & 0x80) {
    const size_t count = length & 0x7f;
    if (count == 0 || count > 2 || der.size() < 2 + count) return std::nullopt;
    length = 0;
    for (size_t i = 0; i < count; ++i) length = (length << 8) | der[2 + i];
    header = 2 + count;
  }
  if (der.size() - header != length) return std::nullopt;
  return der.subspan(header);
}

// An attribute of unknown size: asks for the size, then the value.
key::Result<Bytes> get_attribute(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                             CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attr{type, nullptr, 0};
  CK_RV rv = api->C_GetAttributeValue(session, object, &attr, 1);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE) return Bytes();
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_GetAttributeValue");
  if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) return Bytes();
  if (attr.ulValueLen > kMaxAttributeBytes) {
    return helper_error(ErrorCode::kModuleError, "an attribute of the token is larger than 64 KiB");
  }
  Bytes value(attr.ulValueLen);
  attr.pValue = value.data();
  rv = api->C_GetAttributeValue(session, object, &attr, 1);
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_GetAttributeValue");
  value.resize(std::min<size_t>(value.size(), attr.ulValueLen));
  return value;
}

// Reads several variable-size attributes of an object in one call, each into
// a buffer of a likely size; when any does not fit (or the module refuses
// the batch) they are read one by one. A missing attribute reads as empty.
key::Result<std::vector<Bytes>> get_attributes(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session,
                                           CK_OBJECT_HANDLE object, std::span<const CK_ATTRIBUTE_TYPE> types,
                                           size_t guess) {
  std::vector<Bytes> values(types.size(), Bytes(guess));
  std::vector<CK_ATTRIBUTE> attrs(types.size());
  for (size_t i = 0; i < types.size(); ++i) attrs[i] = {types[i], values[i].data(), static_cast<CK_ULONG>(guess)};
  CK_RV rv = api->C_GetAttributeValue(session, object, attrs.data(), static_cast<CK_ULONG>(attrs.size()));
  if (rv == CKR_OK) {
    for (size_t i = 0; i < types.size(); ++i) {
      const CK_ULONG length = attrs[i].ulValueLen;
      values[i].resize(length == CK_UNAVAILABLE_INFORMATION ? 0 : std::min<size_t>(length, guess));
    }
    return values;
  }
  if (rv != CKR_BUFFER_TOO_SMALL && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE) {
    return failure_from_ckr(rv, "C_GetAttributeValue");
  }
  for (size_t i = 0; i < types.size(); ++i) {
    auto value = get_attribute(api, session, object, types[i]);
    if (!value.ok()) return value.error();
    values[i] = std::move((*value));
  }
  return values;
}

template <typename T>
key::Result<std::optional<T>> get_scalar(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                                     CK_ATTRIBUTE_TYPE type) {
  T value{};
  CK_ATTRIBUTE attr{type, &value, sizeof value};
  const CK_RV rv = api->C_GetAttributeValue(session, object, &attr, 1);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE) return std::optional<T>();
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_GetAttributeValue");
  if (attr.ulValueLen != sizeof value) return std::optional<T>();
  return std::optional<T>(value);
}

key::Result<std::vector<CK_OBJECT_HANDLE>> find_objects(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session,
                                                    std::span<CK_ATTRIBUTE> templ) {
  CK_RV rv = api->C_FindObjectsInit(session, templ.data(), static_cast<CK_ULONG>(templ.size()));
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_FindObjectsInit");
  std::vector<CK_OBJECT_HANDLE> found;
  constexpr CK_ULONG kBatch = 256;
  CK_OBJECT_HANDLE batch[kBatch];
  for (;;) {
    CK_ULONG count = 0;
    rv = api->C_FindObjects(session, batch, kBatch, &count);
    if (rv != CKR_OK) {
      api->C_FindObjectsFinal(session);
      return failure_from_ckr(rv, "C_FindObjects");
    }
    if (count == 0) break;
    found.insert(found.end(), batch, batch + std::min(count, kBatch));
    if (found.size() >= kMaxObjectsPerToken) {
      found.resize(kMaxObjectsPerToken);
      std::fprintf(stderr, "tessera-pkcs11-helper: the token has more than %zu objects of one kind; only the first "
                   "%zu are used\n", kMaxObjectsPerToken, kMaxObjectsPerToken);
      break;
    }
  }
  rv = api->C_FindObjectsFinal(session);
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_FindObjectsFinal");
  return found;
}

void skip(std::string_view label, const key::Error& why) {
  std::fprintf(stderr, "tessera-pkcs11-helper: skipping key '%.*s': %s\n", static_cast<int>(label.size()),
               label.data(), why.message().c_str());
}

// The public key of one CKO_PUBLIC_KEY object; an Error to skip it.
key::Result<key::Result<PublicKey>> public_key_object(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session,
                                                  CK_OBJECT_HANDLE object, std::optional<CK_KEY_TYPE> key_type) {
  if (!key_type) return key::Result<PublicKey>(key::Error(Errc::kUnsupported, "no CKA_KEY_TYPE"));
  switch (*key_type) {
    case CKK_RSA: {
      static constexpr CK_ATTRIBUTE_TYPE kTypes[] = {CKA_MODULUS, CKA_PUBLIC_EXPONENT};
      auto values = get_attributes(api, session, object, kTypes, 1024);
      if (!values.ok()) return values.error();
      return rsa_public_key((*values)[0], (*values)[1]);
    }
    case CKK_EC:
    case CKK_EC_EDWARDS: {
      static constexpr CK_ATTRIBUTE_TYPE kTypes[] = {CKA_EC_PARAMS, CKA_EC_POINT};
      auto values = get_attributes(api, session, object, kTypes, 160);
      if (!values.ok()) return values.error();
      const auto& v = (*values);
      return *key_type == CKK_EC ? ec_public_key(v[0], v[1]) : eddsa_public_key(v[0], v[1]);
    }
    default:
      return key::Result<PublicKey>(
          key::Error(Errc::kUnsupported, "key type " + std::to_string(*key_type) + " is not RSA, EC or EdDSA"));
  }
}

}  // namespace

key::Result<PublicKey> rsa_public_key(std::span<const uint8_t> modulus, std::span<const uint8_t> exponent) {
  if (modulus.empty() || exponent.empty()) return key::Error(Errc::kMalformed, "RSA key without modulus or exponent");
  Writer blob;
  blob.string("ssh-rsa");
  blob.mpint(exponent);
  blob.mpint(modulus);
  return PublicKey::from_blob(blob.data());
}

key::Result<PublicKey> ec_public_key(std::span<const uint8_t> ec_params, std::span<const uint8_t> ec_point) {
  std::string_view curve;
  size_t bare_size = 0;  // 04 || X || Y
  if (equal(ec_params, kOidP256)) {
    curve = "nistp256";
    bare_size = 65;
  } else if (equal(ec_params, kOidP384)) {
    curve = "nistp384";
    bare_size = 97;
  } else if (equal(ec_params, kOidP521)) {
    curve = "nistp521";
    bare_size = 133;
  } else {
    return key::Error(Errc::kUnsupported, "EC key on a curve other than P-256, P-384 or P-521");
  }
  // CKA_EC_POINT is a DER OCTET STRING around the point; a few modules give
  // the bare point. The bare point has exactly its size (the wrapped one is
  // longer): decided by size first, since a bare point whose X begins with
  // the right byte would also read as an OCTET STRING.
  const bool bare = ec_point.size() == bare_size && ec_point[0] == 0x04;
  auto point = bare ? ec_point : octet_string_contents(ec_point).value_or(ec_point);
  Writer blob;
  blob.string("ecdsa-sha2-" + std::string(curve));
  blob.string(curve);
  blob.string(point);
  return PublicKey::from_blob(blob.data());
}

key::Result<PublicKey> eddsa_public_key(std::span<const uint8_t> ec_params, std::span<const uint8_t> ec_point) {
  if (!equal(ec_params, kOidEd25519) && !equal(ec_params, kNameEd25519)) {
    return key::Error(Errc::kUnsupported, "EdDSA key on a curve other than Ed25519");
  }
  auto point = ec_point.size() == 32 ? ec_point : octet_string_contents(ec_point).value_or(ec_point);
  if (point.size() != 32) return key::Error(Errc::kMalformed, "Ed25519 public key is not 32 bytes");
  Writer blob;
  blob.string("ssh-ed25519");
  blob.string(point);
  return PublicKey::from_blob(blob.data());
}

key::Result<PublicKey> certificate_public_key(std::span<const uint8_t> der) {
  const unsigned char* p = der.data();
  std::unique_ptr<X509, decltype(&X509_free)> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())), X509_free);
  if (!cert || p != der.data() + der.size()) return key::Error(Errc::kMalformed, "not a DER X.509 certificate");
  EVP_PKEY* pkey = X509_get0_pubkey(cert.get());  // owned by the certificate
  if (pkey == nullptr) return key::Error(Errc::kUnsupported, "certificate with an unreadable public key");
  return PublicKey::from_evp(pkey);
}

key::Result<std::vector<FoundKey>> discover_keys(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session,
                                             const KeyObjects& objects) {
  std::vector<FoundKey> keys;
  std::set<Bytes> ids;
  auto has_id = [&](const Bytes& id) { return ids.count(id) != 0; };
  struct Meta {
    Bytes cka_id;
    std::string label;
    std::optional<CK_KEY_TYPE> key_type;
  };
  // CKA_ID, CKA_LABEL and (for a key) CKA_KEY_TYPE in one call.
  auto read_meta = [&](CK_OBJECT_HANDLE object, bool with_type, Meta& out) -> key::Status {
    static constexpr CK_ATTRIBUTE_TYPE kTypes[] = {CKA_ID, CKA_LABEL, CKA_KEY_TYPE};
    auto values = get_attributes(api, session, object, std::span(kTypes).first(with_type ? 3 : 2), 256);
    if (!values.ok()) return values.error();
    auto& v = (*values);
    out.cka_id = std::move(v[0]);
    out.label.assign(v[1].begin(), v[1].end());
    if (out.label.size() > kMaxTextBytes) out.label.resize(kMaxTextBytes);
    out.label.erase(std::remove(out.label.begin(), out.label.end(), '\0'), out.label.end());
    if (with_type && v[2].size() == sizeof(CK_KEY_TYPE)) {
      CK_KEY_TYPE type;
      std::memcpy(&type, v[2].data(), sizeof type);
      out.key_type = type;
    }
    return key::Status();
  };

  for (CK_OBJECT_HANDLE object : objects.public_keys) {
    Meta found;
    TESSERA_TRY(read_meta(object, true, found));
    auto pub = public_key_object(api, session, object, found.key_type);
    if (!pub.ok()) return pub.error();
    auto& parsed = (*pub);
    if (!parsed.ok()) {
      skip(found.label, parsed.error());
      continue;
    }
    if (found.cka_id.empty() || found.cka_id.size() > kMaxKeyIdBytes || has_id(found.cka_id)) {
      skip(found.label, key::Error(Errc::kMalformed, "missing, oversized or duplicate CKA_ID"));
      continue;
    }
    ids.insert(found.cka_id);
    keys.push_back(FoundKey{std::move(found.cka_id), std::move(found.label), std::move(parsed).value()});
  }

  for (CK_OBJECT_HANDLE object : objects.certificates) {
    Meta found;
    TESSERA_TRY(read_meta(object, false, found));
    // A key already found through its public key object keeps that entry.
    if (found.cka_id.empty() || found.cka_id.size() > kMaxKeyIdBytes || has_id(found.cka_id)) continue;
    auto value = get_attribute(api, session, object, CKA_VALUE);
    if (!value.ok()) return value.error();
    auto parsed = certificate_public_key((*value));
    if (!parsed.ok()) {
      skip(found.label, parsed.error());
      continue;
    }
    ids.insert(found.cka_id);
    keys.push_back(FoundKey{std::move(found.cka_id), std::move(found.label), std::move(parsed).value()});
  }
  return keys;
}

key::Result<KeyObjects> find_key_objects(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session) {
  KeyObjects objects;
  CK_OBJECT_CLASS public_class = CKO_PUBLIC_KEY;
  CK_ATTRIBUTE public_templ[] = {{CKA_CLASS, &public_class, sizeof public_class}};
  auto publics = find_objects(api, session, public_templ);
  if (!publics.ok()) return publics.error();
  objects.public_keys = std::move((*publics));
  CK_OBJECT_CLASS cert_class = CKO_CERTIFICATE;
  CK_CERTIFICATE_TYPE cert_type = CKC_X_509;
  CK_ATTRIBUTE cert_templ[] = {{CKA_CLASS, &cert_class, sizeof cert_class},
                               {CKA_CERTIFICATE_TYPE, &cert_type, sizeof cert_type}};
  auto certs = find_objects(api, session, cert_templ);
  if (!certs.ok()) return certs.error();
  objects.certificates = std::move((*certs));
  std::sort(objects.public_keys.begin(), objects.public_keys.end());
  std::sort(objects.certificates.begin(), objects.certificates.end());
  return objects;
}

key::Result<std::map<Bytes, PrivateKeyObject>> find_private_keys(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session) {
  CK_OBJECT_CLASS private_class = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE templ[] = {{CKA_CLASS, &private_class, sizeof private_class}};
  auto found = find_objects(api, session, templ);
  if (!found.ok()) return found.error();
  std::map<Bytes, PrivateKeyObject> keys;
  for (CK_OBJECT_HANDLE object : (*found)) {
    Bytes id(kMaxKeyIdBytes);
    CK_BBOOL always = CK_FALSE;
    CK_ATTRIBUTE attrs[] = {{CKA_ID, id.data(), static_cast<CK_ULONG>(id.size())},
                            {CKA_ALWAYS_AUTHENTICATE, &always, sizeof always}};
    CK_RV rv = api->C_GetAttributeValue(session, object, attrs, 2);
    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE) {
      // No CKA_ALWAYS_AUTHENTICATE (an older module): the ID alone.
      always = CK_FALSE;
      rv = api->C_GetAttributeValue(session, object, attrs, 1);
      attrs[1].ulValueLen = CK_UNAVAILABLE_INFORMATION;
    }
    if (rv == CKR_BUFFER_TOO_SMALL) continue;  // a CKA_ID no public key can have
    if (rv != CKR_OK) return failure_from_ckr(rv, "C_GetAttributeValue");
    if (attrs[0].ulValueLen == CK_UNAVAILABLE_INFORMATION || attrs[0].ulValueLen == 0 ||
        attrs[0].ulValueLen > id.size()) {
      continue;
    }
    id.resize(attrs[0].ulValueLen);
    const bool always_authenticate = attrs[1].ulValueLen == sizeof always && always == CK_TRUE;
    keys.emplace(std::move(id), PrivateKeyObject{object, always_authenticate});  // the first of an ID wins
  }
  return keys;
}

key::Result<PrivateKeyObject> find_private_key(CK_FUNCTION_LIST_PTR api, CK_SESSION_HANDLE session,
                                           std::span<const uint8_t> cka_id) {
  CK_OBJECT_CLASS private_class = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE templ[] = {{CKA_CLASS, &private_class, sizeof private_class},
                          {CKA_ID, const_cast<uint8_t*>(cka_id.data()), static_cast<CK_ULONG>(cka_id.size())}};
  auto found = find_objects(api, session, templ);
  if (!found.ok()) return found.error();
  const auto& objects = (*found);
  if (objects.empty()) return helper_error(ErrorCode::kKeyNotFound, "no private key with this CKA_ID on the token");
  PrivateKeyObject key;
  key.handle = objects.front();
  auto always = get_scalar<CK_BBOOL>(api, session, key.handle, CKA_ALWAYS_AUTHENTICATE);
  if (!always.ok()) return always.error();
  key.always_authenticate = (*always).value_or(CK_FALSE) == CK_TRUE;
  return key;
}

}  // namespace tessera::pkcs11::helper
