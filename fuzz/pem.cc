// Fuzzes the PEM / PKCS#8 readers (private keys with a fixed passphrase, and
// public keys) and the private key format detection. Whatever parses is
// written back in the same flavor and must read back as the same key.
#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/key/format.h"

using namespace tessera::key;

namespace {

// The passphrase of the encrypted seeds in fuzz/corpus/pem/.
constexpr std::string_view kPassphrase = "fuzz passphrase";

Bytes private_bytes(const PrivateKey& key) {
  Writer w;
  key.serialize(w);
  return w.take();
}

void check_private(std::string_view text, const SecretBytes& passphrase) {
  auto format = detect_private_key_format(text);
  bool encrypted = private_key_is_encrypted(text);
  auto key = parse_pem_private_key(text, passphrase);
  if (!key.ok()) return;
  PemFlavor flavor = format.ok() && *format == PrivateKeyFormat::kPem ? PemFlavor::kTraditional : PemFlavor::kPkcs8;
  if (key->type() == KeyType::kEd25519) flavor = PemFlavor::kPkcs8;
  SecretBytes out_pass = encrypted ? passphrase.clone() : SecretBytes();
  auto written = format_pem_private_key(*key, flavor, out_pass);
  if (!written.ok()) __builtin_trap();
  auto again = parse_pem_private_key(*written, out_pass);
  if (!again.ok() || private_bytes(*again) != private_bytes(*key)) __builtin_trap();
  auto any = parse_private_key(*written, out_pass);
  if (!any.ok() || !(any->key.public_key() == key->public_key())) __builtin_trap();
}

void check_public(std::string_view text) {
  auto key = parse_pem_public_key(text);
  if (!key.ok()) return;
  for (PemFlavor flavor : {PemFlavor::kTraditional, PemFlavor::kPkcs8}) {
    auto written = format_pem_public_key(*key, flavor);
    if (!written.ok()) continue;  // ed25519: no PEM export, as OpenSSH 9.2
    auto again = parse_pem_public_key(*written);
    if (!again.ok() || !(*again == *key)) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const SecretBytes passphrase = SecretBytes::copy_of(kPassphrase);
  check_private(text, passphrase);
  check_public(text);
  return 0;
}
