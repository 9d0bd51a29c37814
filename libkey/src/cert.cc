// OpenSSH certificates (PROTOCOL.certkeys) and the private-key form of
// certified keys (PROTOCOL.agent / sshkey_private_serialize).
//
// The certified key's fields sit between the nonce and the serial. Rather than
// teach every algorithm a second encoding, the parser lifts those fields out
// and re-frames them as a plain key blob (plain type name + the same fields),
// which PublicKey::parse validates; the private form is handled the same way
// with PrivateKey::parse.
#include "tessera/key/cert.h"

#include <algorithm>
#include <array>
#include <cstdlib>

namespace tessera::key {
namespace {

constexpr std::string_view kCertSuffix = "-cert-v01@openssh.com";

struct CertTypeEntry {
  KeyType type;
  std::string_view name;
  // How many length-prefixed fields (strings or mpints) the key type's public
  // part has: ed25519 pk; ecdsa curve, Q; rsa e, n; sk-ed25519 pk,
  // application; sk-ecdsa curve, Q, application.
  size_t public_fields;
};

constexpr std::array<CertTypeEntry, 7> kCertTypes = {{
    {KeyType::kEd25519, "ssh-ed25519-cert-v01@openssh.com", 1},
    {KeyType::kEcdsaP256, "ecdsa-sha2-nistp256-cert-v01@openssh.com", 2},
    {KeyType::kEcdsaP384, "ecdsa-sha2-nistp384-cert-v01@openssh.com", 2},
    {KeyType::kEcdsaP521, "ecdsa-sha2-nistp521-cert-v01@openssh.com", 2},
    {KeyType::kRsa, "ssh-rsa-cert-v01@openssh.com", 2},
    {KeyType::kSkEd25519, "sk-ssh-ed25519-cert-v01@openssh.com", 2},
    {KeyType::kSkEcdsaP256, "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", 3},
}};

const CertTypeEntry& cert_entry(KeyType type) {
  for (const auto& e : kCertTypes) {
    if (e.type == type) return e;
  }
  std::abort();  // every key type has a certificate type
}

const CertTypeEntry* find_cert_entry(std::string_view name) {
  for (const auto& e : kCertTypes) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// Prefixes a failed result's detail with the field it came from.
template <typename T>
Result<T> in_field(Result<T> result, std::string_view field) {
  if (!result.ok()) return result.error().with_context(field);
  return result;
}

// The bytes of a public key blob after its type name: the type's fields.
std::span<const uint8_t> fields_after_name(std::span<const uint8_t> blob) {
  Reader r(blob);
  if (!r.string().ok()) std::abort();  // blobs tessera wrote always start with a name
  return r.rest();
}

// Reads `count` length-prefixed fields and returns the bytes they span.
Result<std::span<const uint8_t>> raw_fields(Reader& in, size_t count) {
  Reader probe = in;
  std::span<const uint8_t> start = probe.rest();
  for (size_t i = 0; i < count; ++i) {
    TESSERA_ASSIGN_OR_RETURN(auto field, probe.string());
    (void)field;
  }
  auto fields = start.first(start.size() - probe.remaining());
  in = probe;
  return fields;
}

// Reads a section of name/data pairs (critical options or extensions):
// names sorted and unique, at most kMaxCertPrincipals pairs.
Result<std::vector<CertOption>> parse_options(Reader section, std::string_view what) {
  std::vector<CertOption> options;
  while (!section.empty()) {
    if (options.size() == kMaxCertPrincipals) {
      return Error(Errc::kTooLarge, "more than " + std::to_string(kMaxCertPrincipals) + " " + std::string(what));
    }
    TESSERA_ASSIGN_OR_RETURN(std::string_view name, section.text());
    TESSERA_ASSIGN_OR_RETURN(auto data, section.string());
    if (!options.empty() && !(options.back().name < name)) {
      return Error(Errc::kMalformed, std::string(what) + " are not sorted and unique: \"" + std::string(name) +
                                         "\" follows \"" + options.back().name + "\"");
    }
    options.push_back({std::string(name), Bytes(data.begin(), data.end())});
  }
  return options;
}

void write_options(const std::vector<CertOption>& options, Writer& out) {
  Writer section;
  for (const auto& o : options) {
    section.string(o.name);
    section.string(o.data);
  }
  out.string(section);
}

// Everything up to (not including) the signature.
void write_signed_part(const Certificate& cert, Writer& out) {
  out.string(cert.type_name());
  out.string(cert.nonce);
  Bytes key_blob = cert.key.blob();
  out.bytes(fields_after_name(key_blob));
  out.u64(cert.serial);
  out.u32(static_cast<uint32_t>(cert.type));
  out.string(cert.key_id);
  Writer principals;
  for (const auto& p : cert.principals) principals.string(p);
  out.string(principals);
  out.u64(cert.valid_after);
  out.u64(cert.valid_before);
  write_options(cert.critical_options, out);
  write_options(cert.extensions, out);
  out.string(cert.reserved);
  out.string(cert.signature_key.blob());
}

Result<PublicKey> parse_certified_key(const CertTypeEntry& entry, std::span<const uint8_t> fields) {
  Writer plain;
  plain.string(key_type_info(entry.type).ssh_name);
  plain.bytes(fields);
  TESSERA_ASSIGN_OR_RETURN(PublicKey key, PublicKey::from_blob(plain.data()));
  // Serializing must give back the very bytes read, so that the signed data
  // and the blob round-trip exactly.
  Bytes again = key.blob();
  if (!std::equal(again.begin(), again.end(), plain.data().begin(), plain.data().end())) {
    return Error(Errc::kMalformed, "the certified key is not in canonical form");
  }
  return key;
}

Result<PublicKey> parse_ca_key(std::span<const uint8_t> blob) {
  Reader peek(blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, peek.text());
  if (name.find(kCertSuffix) != std::string_view::npos) {
    return Error(Errc::kMalformed, "the CA key is itself a certificate (" + std::string(name) +
                                       "); chained certificates are not allowed");
  }
  TESSERA_ASSIGN_OR_RETURN(PublicKey key, PublicKey::from_blob(blob));
  Bytes again = key.blob();
  if (!std::equal(again.begin(), again.end(), blob.begin(), blob.end())) {
    return Error(Errc::kMalformed, "the CA key is not in canonical form");
  }
  return key;
}

bool signature_allowed(const PublicKey& ca, std::string_view alg) {
  if (ca.type() == KeyType::kRsa) {
    return alg == "rsa-sha2-256" || alg == "rsa-sha2-512" || alg == "ssh-rsa";
  }
  return alg == ca.ssh_name();
}

}  // namespace

std::string_view certificate_type_name(KeyType type) { return cert_entry(type).name; }

const KeyTypeInfo* find_certificate_type(std::string_view cert_type_name) {
  const CertTypeEntry* entry = find_cert_entry(cert_type_name);
  return entry == nullptr ? nullptr : &key_type_info(entry->type);
}

namespace {

// The body of Certificate::parse, kept out of the class so that its locals
// may carry the members' names.
Result<Certificate> parse_certificate(Reader& in) {
  Reader probe = in;
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, in_field(probe.text(), "certificate type name"));
  const CertTypeEntry* entry = find_cert_entry(name);
  if (entry == nullptr) {
    if (find_key_type(name) != nullptr) {
      return Error(Errc::kMalformed, "\"" + std::string(name) + "\" is a plain key, not a certificate");
    }
    return Error(Errc::kUnsupported, "unknown certificate type \"" + std::string(name) + "\"");
  }
  TESSERA_ASSIGN_OR_RETURN(auto nonce, in_field(probe.string(), "certificate nonce"));
  TESSERA_ASSIGN_OR_RETURN(auto key_fields, in_field(raw_fields(probe, entry->public_fields), "certified key"));
  TESSERA_ASSIGN_OR_RETURN(uint64_t serial, in_field(probe.u64(), "certificate serial"));
  TESSERA_ASSIGN_OR_RETURN(uint32_t type, in_field(probe.u32(), "certificate type"));
  TESSERA_ASSIGN_OR_RETURN(std::string_view key_id, in_field(probe.text(), "certificate key id"));
  TESSERA_ASSIGN_OR_RETURN(Reader principals, in_field(probe.child(), "certificate principals"));
  TESSERA_ASSIGN_OR_RETURN(uint64_t valid_after, in_field(probe.u64(), "certificate valid after"));
  TESSERA_ASSIGN_OR_RETURN(uint64_t valid_before, in_field(probe.u64(), "certificate valid before"));
  TESSERA_ASSIGN_OR_RETURN(Reader critical, in_field(probe.child(), "certificate critical options"));
  TESSERA_ASSIGN_OR_RETURN(Reader extensions, in_field(probe.child(), "certificate extensions"));
  TESSERA_ASSIGN_OR_RETURN(auto reserved, in_field(probe.string(), "certificate reserved field"));
  TESSERA_ASSIGN_OR_RETURN(auto ca_blob, in_field(probe.string(), "certificate CA key"));
  TESSERA_ASSIGN_OR_RETURN(auto signature, in_field(probe.string(), "certificate signature"));

  if (type != static_cast<uint32_t>(CertType::kUser) && type != static_cast<uint32_t>(CertType::kHost)) {
    return Error(Errc::kMalformed, "unknown certificate type " + std::to_string(type) + " (1 is user, 2 is host)");
  }
  std::vector<std::string> principal_names;
  while (!principals.empty()) {
    if (principal_names.size() == kMaxCertPrincipals) {
      return Error(Errc::kTooLarge, "certificate has more than " + std::to_string(kMaxCertPrincipals) + " principals");
    }
    TESSERA_ASSIGN_OR_RETURN(std::string_view principal, in_field(principals.text(), "certificate principal"));
    principal_names.emplace_back(principal);
  }
  TESSERA_ASSIGN_OR_RETURN(auto critical_options, in_field(parse_options(critical, "critical options"), "certificate"));
  TESSERA_ASSIGN_OR_RETURN(auto extension_list, in_field(parse_options(extensions, "extensions"), "certificate"));
  TESSERA_ASSIGN_OR_RETURN(PublicKey key, in_field(parse_certified_key(*entry, key_fields), "certified key"));
  TESSERA_ASSIGN_OR_RETURN(PublicKey ca, in_field(parse_ca_key(ca_blob), "certificate CA key"));

  Certificate cert{
      .key = std::move(key),
      .nonce = Bytes(nonce.begin(), nonce.end()),
      .serial = serial,
      .type = static_cast<CertType>(type),
      .key_id = std::string(key_id),
      .principals = std::move(principal_names),
      .valid_after = valid_after,
      .valid_before = valid_before,
      .critical_options = std::move(critical_options),
      .extensions = std::move(extension_list),
      .reserved = Bytes(reserved.begin(), reserved.end()),
      .signature_key = std::move(ca),
      .signature = Bytes(signature.begin(), signature.end()),
  };
  in = probe;
  return cert;
}

}  // namespace

// ---- Certificate ----

Result<Certificate> Certificate::parse(Reader& in) { return parse_certificate(in); }

Result<Certificate> Certificate::from_blob(std::span<const uint8_t> blob) {
  Reader r(blob);
  TESSERA_ASSIGN_OR_RETURN(Certificate cert, parse(r));
  TESSERA_TRY(in_field(r.expect_end(), "certificate"));
  return cert;
}

void Certificate::serialize(Writer& out) const {
  write_signed_part(*this, out);
  out.string(signature);
}

Bytes Certificate::blob() const {
  Writer w;
  serialize(w);
  return w.take();
}

Status Certificate::verify_signature() const {
  TESSERA_ASSIGN_OR_RETURN(std::string alg, in_field(signature_algorithm_name(signature), "certificate signature"));
  if (!signature_allowed(signature_key, alg)) {
    return Error(Errc::kBadSignature, "certificate signature algorithm \"" + alg + "\" is not allowed for a " +
                                          std::string(signature_key.ssh_name()) + " CA key");
  }
  return in_field(signature_key.verify(signature, certificate_signed_data(*this)), "certificate signature");
}

Bytes certificate_signed_data(const Certificate& cert) {
  Writer w;
  write_signed_part(cert, w);
  return w.take();
}

// ---- certified private keys ----
//
// After string cert-type-name and string certificate, OpenSSH 9.x writes the
// private fields without the public ones the certificate holds, except for
// ed25519, whose private form repeats pk:
//   ed25519: string pk, string sk      (plain PROTOCOL.key: pk, sk)
//   ecdsa:   mpint d                   (plain: curve, Q, d)
//   rsa:     mpint d, iqmp, p, q       (plain: n, e, d, iqmp, p, q)
//   sk-ed25519: string pk, string application, byte flags, string key handle, string reserved
//   sk-ecdsa:   string application, byte flags, string key handle, string reserved
//                                       (plain: curve, Q, application, flags, key handle, reserved)

Result<CertifiedPrivateKey> parse_certified_private_key(Reader& in) {
  Reader probe = in;
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, in_field(probe.text(), "certified private key type"));
  const CertTypeEntry* entry = find_cert_entry(name);
  if (entry == nullptr) {
    return Error(Errc::kUnsupported, "\"" + std::string(name) + "\" is not a certificate type tessera handles");
  }
  TESSERA_ASSIGN_OR_RETURN(auto cert_blob, in_field(probe.string(), "certified private key certificate"));
  TESSERA_ASSIGN_OR_RETURN(Certificate cert, in_field(Certificate::from_blob(cert_blob), "certified private key"));
  if (cert.key.type() != entry->type) {
    return Error(Errc::kMalformed, "certificate of type " + std::string(cert.type_name()) +
                                       " inside a private key of type " + std::string(name));
  }

  const Bytes public_blob = cert.key.blob();
  Reader public_fields(fields_after_name(public_blob));
  Writer plain;
  plain.string(cert.key.ssh_name());
  size_t private_fields = 0;
  switch (entry->type) {
    case KeyType::kEd25519:
      private_fields = 2;  // pk, sk: the whole plain private form
      break;
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521:
      plain.bytes(public_fields.rest());  // curve, Q
      private_fields = 1;                 // d
      break;
    case KeyType::kRsa: {
      // The public blob has e, n; the plain private form starts n, e.
      auto e = public_fields.string();
      auto n = public_fields.string();
      if (!e.ok() || !n.ok()) std::abort();  // a blob tessera wrote
      plain.string(*n);
      plain.string(*e);
      private_fields = 4;  // d, iqmp, p, q
      break;
    }
    case KeyType::kSkEd25519:
      private_fields = 2;  // pk, application, then flags, key handle, reserved
      break;
    case KeyType::kSkEcdsaP256: {
      auto curve_and_point = raw_fields(public_fields, 2);
      if (!curve_and_point.ok()) std::abort();  // a blob tessera wrote
      plain.bytes(*curve_and_point);
      private_fields = 1;  // application, then flags, key handle, reserved
      break;
    }
  }
  TESSERA_ASSIGN_OR_RETURN(auto private_part, in_field(raw_fields(probe, private_fields), "certified private key"));
  plain.bytes(private_part);
  if (key_type_info(entry->type).security_key) {
    TESSERA_ASSIGN_OR_RETURN(uint8_t flags, in_field(probe.u8(), "certified private key flags"));
    plain.u8(flags);
    TESSERA_ASSIGN_OR_RETURN(auto handle_and_reserved, in_field(raw_fields(probe, 2), "certified private key"));
    plain.bytes(handle_and_reserved);
  }

  Reader plain_reader(plain.data());
  TESSERA_ASSIGN_OR_RETURN(PrivateKey key, in_field(PrivateKey::parse(plain_reader), "certified private key"));
  if (!plain_reader.empty()) std::abort();  // raw_fields took exactly the fields the plain form has
  if (!(key.public_key() == cert.key)) {
    return Error(Errc::kInvalidKey, "the private key does not match the key its certificate certifies");
  }
  in = probe;
  return CertifiedPrivateKey{std::move(key), std::move(cert)};
}

void serialize_certified_private_key(const PrivateKey& key, const Certificate& certificate, Writer& out) {
  out.string(certificate_type_name(key.type()));
  out.string(certificate.blob());
  Writer plain;
  key.serialize(plain);
  Reader fields(plain.data());
  if (!fields.string().ok()) std::abort();  // type name
  size_t public_fields_in_plain = 0;        // the plain private fields the certificate already holds
  switch (key.type()) {
    case KeyType::kEd25519: public_fields_in_plain = 0; break;
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
    case KeyType::kEcdsaP521:
    case KeyType::kRsa: public_fields_in_plain = 2; break;
    case KeyType::kSkEd25519: public_fields_in_plain = 0; break;    // pk stays (PROTOCOL.u2f)
    case KeyType::kSkEcdsaP256: public_fields_in_plain = 2; break;  // curve, Q
  }
  if (!raw_fields(fields, public_fields_in_plain).ok()) std::abort();
  out.bytes(fields.rest());
}

}  // namespace tessera::key
