// Fuzzes signature blob parsing and verification. The first input byte picks
// one of three fixed public keys (ed25519, ecdsa-sha2-nistp256, rsa 2048);
// the rest is an SSH signature blob verified over a fixed message.
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/key/encoding.h"
#include "tessera/key/key.h"

using namespace tessera::key;

namespace {

const std::vector<PublicKey>& keys() {
  static const std::vector<PublicKey> k = [] {
    std::vector<PublicKey> out;
    for (const char* b64 : {
             "AAAAC3NzaC1lZDI1NTE5AAAAIP0NKRcqcBJdGPPE3TlWmLST64FsrpSAL+awkfGx3uvt",
             "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKj2WVO3x5aXkpaeL1fZtLwerBHzRTuonKNHSZATyOmmao7IdZpIj5JHEwNGhbLzeOhyviujBHIeJn0aBw5kxuA=",
             "AAAAB3NzaC1yc2EAAAADAQABAAABAQDR5Wgz85y+zr6Y1Z7iQz3dRrCoqcQFM8Qn22icGti7qsCwCsDzCj6d0WjVJVzkI7SU++DTvKRqIvsfWj/+79zbjJ/C4Kbf7sSNtBkfYGlA/9UISLavVXNyiBcFhgxp9Ty+DRTHI5z3R7F+U8cX7lymwha0rUMre93JZvRiC2K17iGQaGwYXhfrYHOyvxh3QGxLQzHHFGK6kn1Pqo/NVGpKOOfOrfT4i/3K9IE8Hgo9LspDX+9gNyFK/QIpAF4QXavUYom2YJLf3ZXNZ1G2c0K5c/DvWtxmSQkHdmtER9wQT6cN1VwgebFKYUAV91ctCjIBCs5W0A8/yOTx3izHpRsN",
         }) {
      out.push_back(*PublicKey::from_blob(*base64_decode(b64)));
    }
    return out;
  }();
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const PublicKey& key = keys()[data[0] % keys().size()];
  std::span<const uint8_t> blob(data + 1, size - 1);
  static const uint8_t kMessage[] = "hello\n";
  (void)key.verify(blob, std::span(kMessage, sizeof kMessage - 1));
  (void)signature_algorithm_name(blob);
  return 0;
}
