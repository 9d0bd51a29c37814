// Issuing certificates (PROTOCOL.certkeys): the CA side of cert.h.
//
// The signer is an interface so that the CA key may live in memory, in an
// agent or on a token; everything that makes a certificate well-formed
// (nonce, sorted sections, limits, the algorithm) is checked here, once.
#include <openssl/rand.h>

#include <algorithm>

#include "tessera/key/ossl.h"
#include "tessera/key/cert.h"

namespace tessera::key {
namespace {

Result<SignatureAlgorithm> signature_algorithm_for(const PublicKey& ca, std::string_view algorithm) {
  TESSERA_TRY(certificate_algorithm_allowed(ca, algorithm));
  if (ca.type() != KeyType::kRsa) return SignatureAlgorithm::kDefault;
  if (algorithm == "rsa-sha2-256") return SignatureAlgorithm::kRsaSha256;
  if (algorithm == "rsa-sha2-512") return SignatureAlgorithm::kRsaSha512;
  return SignatureAlgorithm::kRsaSha1;
}

}  // namespace

Result<Bytes> PrivateKeySigner::sign(std::span<const uint8_t> data, std::string_view algorithm) {
  TESSERA_ASSIGN_OR_RETURN(SignatureAlgorithm alg, signature_algorithm_for(key_.public_key(), algorithm));
  return key_.sign(data, alg);
}

std::string_view default_certificate_algorithm(const PublicKey& ca) {
  return ca.type() == KeyType::kRsa ? std::string_view("rsa-sha2-512") : ca.ssh_name();
}

Status certificate_algorithm_allowed(const PublicKey& ca, std::string_view algorithm) {
  if (ca.type() == KeyType::kRsa) {
    if (algorithm == "ssh-rsa" || algorithm == "rsa-sha2-256" || algorithm == "rsa-sha2-512") return {};
    return Error(Errc::kInvalidArgument, "\"" + std::string(algorithm) +
                                             "\" is not an RSA signature algorithm (ssh-rsa, rsa-sha2-256, "
                                             "rsa-sha2-512)");
  }
  if (algorithm == ca.ssh_name()) return {};
  return Error(Errc::kUnsupported, "a " + std::string(ca.ssh_name()) + " CA key cannot make \"" +
                                       std::string(algorithm) + "\" signatures");
}

Status sort_certificate_options(std::vector<CertOption>& options, std::string_view what) {
  if (options.size() > kMaxCertPrincipals) {
    return Error(Errc::kInvalidArgument,
                 "more than " + std::to_string(kMaxCertPrincipals) + " " + std::string(what));
  }
  std::stable_sort(options.begin(), options.end(),
                   [](const CertOption& a, const CertOption& b) { return a.name < b.name; });
  auto dup = std::adjacent_find(options.begin(), options.end(),
                                [](const CertOption& a, const CertOption& b) { return a.name == b.name; });
  if (dup != options.end()) {
    return Error(Errc::kInvalidArgument, std::string(what) + " name \"" + dup->name + "\" given twice");
  }
  return {};
}

Status sign_certificate(Certificate& cert, CertificateSigner& signer, std::string_view algorithm) {
  cert.signature.clear();
  const PublicKey& ca = signer.public_key();
  TESSERA_TRY(certificate_algorithm_allowed(ca, algorithm));
  if (cert.principals.size() > kMaxCertPrincipals) {
    return Error(Errc::kInvalidArgument, "more than " + std::to_string(kMaxCertPrincipals) + " principals");
  }
  TESSERA_TRY(sort_certificate_options(cert.critical_options, "critical option"));
  TESSERA_TRY(sort_certificate_options(cert.extensions, "extension"));

  cert.nonce.resize(kCertNonceBytes);
  if (RAND_bytes(cert.nonce.data(), static_cast<int>(cert.nonce.size())) != 1) {
    return ossl::crypto_error("certificate nonce");
  }
  cert.signature_key = ca;
  TESSERA_ASSIGN_OR_RETURN(Bytes signature, signer.sign(certificate_signed_data(cert), algorithm));
  TESSERA_ASSIGN_OR_RETURN(std::string made, signature_algorithm_name(signature));
  if (made != algorithm) {
    return Error(Errc::kBadSignature, "the CA signer made a \"" + made + "\" signature where \"" +
                                          std::string(algorithm) + "\" was asked for");
  }
  cert.signature = std::move(signature);
  return {};
}

}  // namespace tessera::key
