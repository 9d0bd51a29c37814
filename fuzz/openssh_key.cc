// Fuzzes the openssh-key-v1 reader: the input is a key file, read without a
// passphrase and with the fixed passphrase "fuzz" (the seeds in
// corpus/openssh_key/ that are encrypted use it, with 1 KDF round). Whatever
// parses must write back and read back to the same key and comment.
#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "tessera/key/secret.h"
#include "tessera/key/wire.h"

namespace {

using namespace tessera::key;

// bcrypt_pbkdf costs milliseconds per round: inputs asking for more are not
// interesting, only slow.
constexpr uint32_t kMaxFuzzKdfRounds = 4;
// Rounds for the re-written file.
constexpr uint32_t kRewriteRounds = 1;

Bytes private_fields(const PrivateKey& key) {
  Writer w;
  key.serialize(w);
  return w.take();
}

void check_round_trip(const PrivateKeyWithComment& parsed, const OpensshKeyInfo& info,
                      const SecretBytes& passphrase) {
  static const SecretBytes kNone;
  const SecretBytes& pass = info.encrypted ? passphrase : kNone;
  OpensshKeyEncryption encryption{info.encrypted ? info.cipher : std::string(kDefaultKeyCipher), kRewriteRounds};
  auto text = format_openssh_private_key(parsed.key, parsed.comment, pass, encryption);
  if (!text.ok()) __builtin_trap();
  auto again = parse_openssh_private_key(*text, pass);
  if (!again.ok()) __builtin_trap();
  if (!(again->key.public_key() == parsed.key.public_key())) __builtin_trap();
  if (!(again->key.public_key() == info.public_key)) __builtin_trap();
  if (again->comment != parsed.comment) __builtin_trap();
  if (private_fields(again->key) != private_fields(parsed.key)) __builtin_trap();
  auto again_info = inspect_openssh_private_key(*text);
  if (!again_info.ok() || again_info->encrypted != info.encrypted) __builtin_trap();
  if (info.encrypted && again_info->cipher != info.cipher) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)is_openssh_private_key(text);
  auto info = inspect_openssh_private_key(text);
  if (!info.ok()) {
    // What inspect rejects, parse rejects too.
    if (parse_openssh_private_key(text, {}).ok()) __builtin_trap();
    return 0;
  }
  if (info->kdf_rounds > kMaxFuzzKdfRounds) return 0;

  static const SecretBytes kFuzzPassphrase = SecretBytes::copy_of(std::string_view("fuzz"));
  static const SecretBytes kNoPassphrase;
  for (const SecretBytes* pass : {&kNoPassphrase, &kFuzzPassphrase}) {
    auto parsed = parse_openssh_private_key(text, *pass);
    if (!parsed.ok()) {
      // An encrypted file without a passphrase always says so.
      if (info->encrypted && pass->empty() && parsed.error().code() != Errc::kPassphraseRequired) {
        __builtin_trap();
      }
      continue;
    }
    if (!(parsed->key.public_key() == info->public_key)) __builtin_trap();
    check_round_trip(*parsed, *info, *pass);
  }
  return 0;
}
