// The SSHSIG signature object (PROTOCOL.sshsig): keys and certificates that
// sign, the binary object and its armor, signing and verifying.
#include "tessera/key/sshsig.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>

#include "format/armor.h"
#include "tessera/key/ossl.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"

namespace tessera::key {
namespace {

constexpr std::string_view kMagic = "SSHSIG";
constexpr uint32_t kVersion = 1;
constexpr std::string_view kBeginLine = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view kEndLine = "-----END SSH SIGNATURE-----";
// Bytes read from a message stream at a time.
constexpr size_t kDigestChunkBytes = 64 * 1024;
// RSA signature algorithms an SSHSIG may use (never SHA-1 "ssh-rsa").
constexpr std::array<std::string_view, 2> kRsaSshsigAlgorithms = {"rsa-sha2-512", "rsa-sha2-256"};

const EVP_MD* digest_md(SshsigHash hash) { return hash == SshsigHash::kSha256 ? EVP_sha256() : EVP_sha512(); }

size_t digest_size(SshsigHash hash) { return hash == SshsigHash::kSha256 ? 32 : 64; }

// Hashes incrementally with an OpenSSL digest context.
class Hasher {
 public:
  explicit Hasher(SshsigHash hash) : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), digest_md(hash), nullptr) != 1) std::abort();
  }
  void update(std::span<const uint8_t> data) {
    if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) std::abort();
  }
  Bytes finish() {
    Bytes out(static_cast<size_t>(EVP_MD_get_size(EVP_MD_CTX_get0_md(ctx_.get()))));
    unsigned len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1) std::abort();
    return out;
  }

 private:
  ossl::MdCtxPtr ctx_;
};

std::string_view display_type_of(const PublicKey& key) { return key.info().display_name; }

}  // namespace

// ---- KeyOrCertificate ----

KeyOrCertificate KeyOrCertificate::certified(Certificate c) {
  PublicKey k = c.key;
  return {std::move(k), std::move(c)};
}

Result<KeyOrCertificate> KeyOrCertificate::from_blob(std::span<const uint8_t> blob) {
  Reader peek(blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view type, peek.text());
  if (find_certificate_type(type) == nullptr) {
    TESSERA_ASSIGN_OR_RETURN(PublicKey key, PublicKey::from_blob(blob));
    return plain(std::move(key));
  }
  TESSERA_ASSIGN_OR_RETURN(Certificate cert, Certificate::from_blob(blob));
  TESSERA_TRY(cert.verify_signature());
  return certified(std::move(cert));
}

Result<KeyOrCertificate> KeyOrCertificate::from_line(std::string_view line) {
  size_t start = line.find_first_not_of(" \t");
  if (start == std::string_view::npos) return Error(Errc::kMalformed, "empty key");
  std::string_view rest = line.substr(start);
  std::string_view type = rest.substr(0, rest.find_first_of(" \t\r\n"));
  if (find_certificate_type(type) == nullptr) {
    TESSERA_ASSIGN_OR_RETURN(PublicKeyLine parsed, parse_public_key_line(line));
    return plain(std::move(parsed.key));
  }
  rest.remove_prefix(type.size());
  rest.remove_prefix(std::min(rest.size(), rest.find_first_not_of(" \t")));
  std::string_view encoded = rest.substr(0, rest.find_first_of(" \t\r\n"));
  if (encoded.empty()) return Error(Errc::kMalformed, "certificate line has no data after \"" + std::string(type) + "\"");
  if (encoded.size() > kMaxSshsigBlobBytes) return Error(Errc::kTooLarge, "certificate line too long");
  auto blob = base64_decode(encoded);
  if (!blob.ok()) return blob.error().with_context("certificate");
  TESSERA_ASSIGN_OR_RETURN(KeyOrCertificate key, from_blob(*blob));
  if (key.type_name() != type) {
    return Error(Errc::kMalformed, "line names type \"" + std::string(type) + "\" but holds a " +
                                       std::string(key.type_name()));
  }
  return key;
}

Bytes KeyOrCertificate::blob() const { return certificate ? certificate->blob() : key.blob(); }

std::string_view KeyOrCertificate::type_name() const {
  return certificate ? certificate->type_name() : key.ssh_name();
}

std::string KeyOrCertificate::display_type() const {
  std::string out(display_type_of(key));
  if (certificate) out += "-CERT";
  return out;
}

std::string KeyOrCertificate::public_line() const {
  std::string out(type_name());
  out += ' ';
  out += base64_encode(blob());
  return out;
}

std::string KeyOrCertificate::fingerprint(FingerprintHash hash) const { return key::fingerprint(key, hash); }

// ---- hashes ----

std::string_view sshsig_hash_name(SshsigHash hash) { return hash == SshsigHash::kSha256 ? "sha256" : "sha512"; }

Result<SshsigHash> parse_sshsig_hash(std::string_view name) {
  if (name == "sha256") return SshsigHash::kSha256;
  if (name == "sha512") return SshsigHash::kSha512;
  return Error(Errc::kUnsupported,
               "unsupported hash algorithm \"" + std::string(name.substr(0, 100)) + "\": use sha256 or sha512");
}

Bytes sshsig_digest(SshsigHash hash, std::span<const uint8_t> message) {
  Hasher h(hash);
  h.update(message);
  return h.finish();
}

Result<Bytes> sshsig_digest(SshsigHash hash, std::istream& message) {
  Hasher h(hash);
  std::vector<char> chunk(kDigestChunkBytes);
  while (message) {
    message.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    auto got = static_cast<size_t>(message.gcount());
    h.update({reinterpret_cast<const uint8_t*>(chunk.data()), got});
  }
  if (message.bad() || !message.eof()) return Error(Errc::kIo, "reading the message failed");
  return h.finish();
}

// ---- the object ----

Result<Sshsig> Sshsig::parse(std::span<const uint8_t> blob) {
  if (blob.size() > kMaxSshsigBlobBytes) {
    return Error(Errc::kTooLarge, "signature larger than " + std::to_string(kMaxSshsigBlobBytes) + " bytes");
  }
  Reader in(blob);
  auto magic = in.bytes(kMagic.size());
  if (!magic.ok() || as_text(*magic) != kMagic) {
    return Error(Errc::kMalformed, "Couldn't verify signature: invalid format (no SSHSIG preamble)");
  }
  TESSERA_ASSIGN_OR_RETURN(uint32_t version, in.u32());
  if (version != kVersion) {
    return Error(Errc::kUnsupported, "Signature version " + std::to_string(version) +
                                         " is not supported (only version 1 is)");
  }
  auto key_blob = in.string();
  if (!key_blob.ok()) return key_blob.error().with_context("signature public key");
  auto signer = KeyOrCertificate::from_blob(*key_blob);
  if (!signer.ok()) return signer.error().with_context("signature public key");
  auto ns = in.text();
  if (!ns.ok()) return ns.error().with_context("signature namespace");
  if (ns->empty()) return Error(Errc::kMalformed, "signature namespace is empty");
  TESSERA_ASSIGN_OR_RETURN(auto reserved, in.string());
  auto hash = in.text();
  if (!hash.ok()) return hash.error().with_context("signature hash algorithm");
  TESSERA_ASSIGN_OR_RETURN(auto signature, in.string());
  if (!in.expect_end().ok()) return Error(Errc::kTrailingData, "Signature contains trailing data");
  return Sshsig{std::move(*signer), std::string(*ns), Bytes(reserved.begin(), reserved.end()), std::string(*hash),
                Bytes(signature.begin(), signature.end())};
}

Bytes Sshsig::blob() const {
  Writer w;
  w.bytes(as_bytes(kMagic));
  w.u32(kVersion);
  w.string(signer.blob());
  w.string(name_space);
  w.string(reserved);
  w.string(hash_algorithm);
  w.string(signature);
  return w.take();
}

std::string sshsig_armor(std::span<const uint8_t> blob) { return armor::wrap(blob, kBeginLine, kEndLine); }

Result<Bytes> sshsig_dearmor(std::string_view text) {
  if (text.size() > kMaxSshsigArmoredBytes) {
    return Error(Errc::kTooLarge, "signature file larger than " + std::to_string(kMaxSshsigArmoredBytes) + " bytes");
  }
  auto body = armor::body(text, kBeginLine, kEndLine);
  if (!body.ok()) return body.error().with_context("Couldn't parse signature");
  auto decoded = base64_decode(*body);
  if (!decoded.ok()) return decoded.error().with_context("Couldn't decode signature");
  if (decoded->empty()) return Error(Errc::kMalformed, "Couldn't parse signature: empty signature");
  return decoded;
}

Result<Sshsig> parse_armored_sshsig(std::string_view text) {
  TESSERA_ASSIGN_OR_RETURN(Bytes blob, sshsig_dearmor(text));
  return Sshsig::parse(blob);
}

Bytes sshsig_signed_data(std::string_view name_space, SshsigHash hash, std::span<const uint8_t> digest) {
  Writer w;
  w.bytes(as_bytes(kMagic));
  w.string(name_space);
  w.string(std::string_view());  // reserved
  w.string(sshsig_hash_name(hash));
  w.string(digest);
  return w.take();
}

// ---- signing ----

SignFunction sign_with(const PrivateKey& key) {
  return [key](std::span<const uint8_t> data, SignatureAlgorithm alg) { return key.sign(data, alg); };
}

Result<Sshsig> sshsig_sign(const KeyOrCertificate& signer_key, const SignFunction& sign, std::string_view name_space,
                           SshsigHash hash, std::span<const uint8_t> digest) {
  if (name_space.empty() || name_space.find('\0') != std::string_view::npos) {
    return Error(Errc::kInvalidArgument, "signature namespace must be non-empty text");
  }
  if (digest.size() != digest_size(hash)) {
    return Error(Errc::kInvalidArgument, "message digest does not fit hash algorithm " +
                                             std::string(sshsig_hash_name(hash)));
  }
  Bytes data = sshsig_signed_data(name_space, hash, digest);
  SignatureAlgorithm alg =
      signer_key.key.type() == KeyType::kRsa ? SignatureAlgorithm::kRsaSha512 : SignatureAlgorithm::kDefault;
  auto signature = sign(data, alg);
  if (!signature.ok()) return signature.error().with_context("Couldn't sign message");
  Sshsig sig{signer_key, std::string(name_space), {}, std::string(sshsig_hash_name(hash)), std::move(*signature)};
  // Catches a signer that holds another key, or answers with another algorithm.
  if (auto check = sshsig_verify(sig, name_space, digest); !check.ok()) {
    return check.error().with_context("signer's signature does not verify with " + signer_key.display_type() +
                                      " key " + signer_key.fingerprint());
  }
  return sig;
}

// ---- verifying ----

Status sshsig_verify(const Sshsig& sig, std::string_view name_space, std::span<const uint8_t> digest) {
  TESSERA_ASSIGN_OR_RETURN(SshsigHash hash, parse_sshsig_hash(sig.hash_algorithm));
  if (digest.size() != digest_size(hash)) {
    return Error(Errc::kInvalidArgument, "message digest does not fit hash algorithm " + sig.hash_algorithm);
  }
  if (sig.name_space != name_space) {
    return Error(Errc::kBadSignature, "Couldn't verify signature: namespace does not match (signature is for \"" +
                                          sig.name_space.substr(0, 100) + "\", expected \"" +
                                          std::string(name_space) + "\")");
  }
  if (sig.signer.key.type() == KeyType::kRsa) {
    auto alg = signature_algorithm_name(sig.signature);
    if (!alg.ok()) return alg.error().with_context("Couldn't verify signature: unable to get signature type");
    if (std::find(kRsaSshsigAlgorithms.begin(), kRsaSshsigAlgorithms.end(), *alg) == kRsaSshsigAlgorithms.end()) {
      return Error(Errc::kUnsupported,
                   "Couldn't verify signature: unsupported RSA signature algorithm " + alg->substr(0, 100));
    }
  }
  Bytes data = sshsig_signed_data(name_space, hash, digest);
  if (auto ok = sig.signer.key.verify(sig.signature, data); !ok.ok()) {
    return Error(ok.error().code(), "Signature verification failed: " + ok.error().message());
  }
  return ok_status();
}

Status sshsig_verify(const Sshsig& sig, std::string_view name_space, std::istream& message) {
  TESSERA_ASSIGN_OR_RETURN(SshsigHash hash, parse_sshsig_hash(sig.hash_algorithm));
  TESSERA_ASSIGN_OR_RETURN(Bytes digest, sshsig_digest(hash, message));
  return sshsig_verify(sig, name_space, digest);
}

}  // namespace tessera::key
