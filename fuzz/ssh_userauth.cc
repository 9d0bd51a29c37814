// Fuzzes the client side of user authentication (ssh/src/auth/client_auth.h)
// with messages a server might send: SERVICE_ACCEPT, USERAUTH_FAILURE,
// SUCCESS, BANNER, PK_OK / INFO_REQUEST / PASSWD_CHANGEREQ (60), and anything
// else in their place.
//
// The transport under ClientAuth is a real client Transport past its key
// exchange with a real server (made once per process); what ClientAuth sends
// goes out through it and is dropped after each input. ClientAuth itself is
// new for each input.
//
// Input: byte 0 holds flags (bit 0: identities sign without asking first;
// bit 1: offer a second identity; bit 2: keyboard-interactive gives up;
// bit 3: no password; bits 4-5: the order of PreferredAuthentications), the
// rest is a list of messages (ssh_fuzz::MessageList) passed to
// ClientAuth::on_message until one fails. Identities are ed25519 keys made
// from fixed seeds, so that a seed's PK_OK names the key offered.
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "auth/client_auth.h"
#include "ssh_fuzz_common.h"

using namespace tessera::ssh;
namespace key = tessera::key;

namespace {

// An ed25519 key whose 32-byte seed is `fill` repeated.
key::PrivateKey fixed_ed25519(uint8_t fill) {
  std::array<uint8_t, 32> seed;
  seed.fill(fill);
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  if (pkey == nullptr) __builtin_trap();
  auto k = key::PrivateKey::from_evp(pkey);
  EVP_PKEY_free(pkey);
  if (!k.ok()) __builtin_trap();
  return std::move(*k);
}

const key::PrivateKey& identity_key(size_t i) {
  static const std::array<key::PrivateKey, 2> keys = {fixed_ed25519(0x11), fixed_ed25519(0x22)};
  return keys[i];
}

class Delegate final : public auth::ClientAuthDelegate {
 public:
  explicit Delegate(uint8_t flags) : flags_(flags) {}

  std::vector<auth::ClientIdentity> identities() override {
    std::vector<auth::ClientIdentity> out;
    const size_t count = (flags_ & 2) != 0 ? 2 : 1;
    for (size_t i = 0; i < count; ++i) {
      const key::PrivateKey& k = identity_key(i);
      out.push_back(auth::ClientIdentity{
          .blob = k.public_key().blob(),
          .key = k.public_key(),
          .certificate = false,
          .description = "ED25519 fixed key " + std::to_string(i),
          .sign = [&k](std::span<const uint8_t> data, std::string_view algorithm) -> key::Result<key::Bytes> {
            if (algorithm != "ssh-ed25519") __builtin_trap();  // ClientAuth picked a wrong algorithm
            return k.sign(data);
          },
          .sign_without_query = (flags_ & 1) != 0,
      });
    }
    return out;
  }
  void banner(std::string_view text) override {
    for (const char c : text) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) __builtin_trap();  // must be made printable
    }
  }
  std::optional<std::vector<key::SecretBytes>> keyboard_interactive(std::string_view, std::string_view,
                                                                    const std::vector<auth::KbdPrompt>& prompts) override {
    if ((flags_ & 4) != 0) return std::nullopt;
    std::vector<key::SecretBytes> answers;
    for (size_t i = 0; i < prompts.size(); ++i) answers.push_back(key::SecretBytes::copy_of("answer"));
    return answers;
  }
  std::optional<key::SecretBytes> password(int attempt) override {
    if ((flags_ & 8) != 0 || attempt < 0) return std::nullopt;
    return key::SecretBytes::copy_of("hunter2");
  }

 private:
  uint8_t flags_;
};

std::vector<std::string> method_order(uint8_t flags) {
  switch ((flags >> 4) & 3) {
    case 0: return {"publickey", "keyboard-interactive", "password"};
    case 1: return {"password", "keyboard-interactive", "publickey"};
    case 2: return {"keyboard-interactive", "publickey"};
    default: return {"publickey", "password"};
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ssh_fuzz::ConnectedPair& pair = ssh_fuzz::ConnectedPair::instance();
  transport::Transport& t = *pair.client;

  Delegate delegate(data[0]);
  auth::ClientAuthConfig config;
  config.user = "fuzz";
  config.methods = method_order(data[0]);
  auth::ClientAuth client_auth(config, t, delegate);
  client_auth.start();

  ssh_fuzz::MessageList messages(std::span<const uint8_t>(data + 1, size - 1));
  std::span<const uint8_t> payload;
  while (messages.next(payload)) {
    if (!client_auth.on_message(payload).ok()) break;
  }
  t.output().clear();
  if (t.closed() || !t.ready()) __builtin_trap();  // ClientAuth never ends the transport
  return 0;
}
