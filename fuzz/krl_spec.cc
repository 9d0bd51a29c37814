// Fuzzes ssh-keygen -k revocation spec lines. The first byte picks what -s
// said (nothing, "none", a CA key); whatever the lines add must be written
// as a KRL that reads back as the same content.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "tessera/key/krl.h"

using namespace tessera::key;

namespace {

const PublicKey& spec_ca() {
  static const PublicKey ca = [] {
    auto key = PrivateKey::generate(KeyType::kEd25519);
    if (!key.ok()) std::abort();
    return key->public_key();
  }();
  return ca;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  KrlSpecCa ca;
  switch (data[0] % 3) {
    case 0: ca = KrlSpecCa::none(); break;
    case 1: ca = KrlSpecCa::any_ca(); break;
    default: ca = KrlSpecCa::ca_key(spec_ca()); break;
  }
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  KrlBuilder builder;
  builder.set_generated_date(1);
  if (!add_krl_spec(builder, text, "fuzz", ca).ok()) return 0;
  KrlContents contents = builder.contents();
  Bytes krl = builder.serialize();
  auto parsed = Krl::parse(std::span<const uint8_t>(krl));
  if (!parsed || !(parsed->contents() == contents)) __builtin_trap();
  return 0;
}
