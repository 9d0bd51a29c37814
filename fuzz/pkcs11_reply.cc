// Fuzzes what the agent parses from tessera-pkcs11-helper: a stream of reply
// frames, as the agent reads them from the helper's socket. Each reply is
// parsed; KeyList pages are put together into a listing as the agent does
// (pkcs11::add_page) and each listed public key is parsed as the agent does
// before it publishes it. Whatever parses must serialize back to the same
// bytes and frame again.
#include <cstdint>
#include <cstring>
#include <span>

#include "tessera/key/key.h"
#include "tessera/pkcs11/protocol.h"

using namespace tessera;
using namespace tessera::pkcs11;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> stream(data, size);
  KeyList listing;
  int restarts = 0;
  for (;;) {
    std::span<const uint8_t> payload;
    if (peek_frame(stream, &payload) != FrameStatus::kComplete) break;
    stream = stream.subspan(4 + payload.size());
    auto reply = parse_reply(payload);
    if (!reply.ok()) break;  // the agent kills a helper that sends this
    const Bytes once = serialize_reply(*reply);
    if (once.size() != payload.size() || std::memcmp(once.data(), payload.data(), once.size()) != 0) {
      __builtin_trap();
    }
    if (!frame_reply(*reply).ok()) __builtin_trap();
    auto* page = std::get_if<KeyList>(&reply->body);
    if (page == nullptr) continue;
    auto added = add_page(listing, std::move(*page));
    if (!added.ok()) break;
    if (!*added) {
      if (++restarts > kListingAttempts) break;
      listing = KeyList{};
      continue;
    }
    if (listing.keys.size() > listing.total) __builtin_trap();
    if (listing.keys.size() == listing.total) {
      for (const auto& info : listing.keys) (void)key::PublicKey::from_blob(info.public_key);
      listing = KeyList{};
    }
  }
  return 0;
}
