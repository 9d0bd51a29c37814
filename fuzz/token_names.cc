// What the token naming library parses: PKCS#11 URIs and p11-kit module
// names as providers (resolve_provider, with p11-kit's .module files read
// from a fixed directory) and URIs as key filters (key_matches_uri).
// Pinentry answers have their own target, pinentry_reply.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tessera/tokens/names.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::tokens;
  const std::string text(reinterpret_cast<const char*>(data), size);

  static const P11KitLayout layout = [] {
    P11KitLayout l;
    l.system_module_dirs = {"/nonexistent/tessera-fuzz/modules"};
    l.module_dir = "/nonexistent/tessera-fuzz/pkcs11";
    l.proxy_module = "/nonexistent/tessera-fuzz/p11-kit-proxy.so";
    return l;
  }();
  // Names that resolve must resolve inside the allowlist; nothing may crash.
  auto spec = resolve_provider(text, "/nonexistent/tessera-fuzz/*", layout);
  if (spec.ok() && spec->module_path.rfind("/nonexistent/tessera-fuzz/", 0) != 0) __builtin_trap();

  static const tessera::pkcs11::KeyInfo key = [] {
    tessera::pkcs11::KeyInfo k;
    k.id.token = {"0123abcd", "slot 1"};
    k.id.cka_id = {0x03};
    k.token_label = "main";
    k.label = "ec256";
    k.uri = "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=0123abcd;token=main;id=%03;object=ec256";
    return k;
  }();
  (void)key_matches_uri(key, text);
  return 0;
}
