// Asking a person for a passphrase or PIN exactly as OpenSSH's readpass.c
// does: the terminal, else SSH_ASKPASS (when SSH_ASKPASS_REQUIRE=force, or
// when there is no terminal to use and DISPLAY or SSH_ASKPASS_REQUIRE allow
// it), else standard input. Shared by tessera-add and tessera-keygen; the
// askpass program runs through run_askpass() (askpass.h).
#ifndef TESSERA_PROMPTS_READPASS_H_
#define TESSERA_PROMPTS_READPASS_H_

#include <optional>
#include <string_view>

#include "tessera/key/secret.h"

namespace tessera::prompts {

// Flags as readpass.c's RP_* flags.
inline constexpr unsigned kReadEcho = 0x01;
inline constexpr unsigned kReadAllowStdin = 0x02;
inline constexpr unsigned kReadAllowEof = 0x04;
inline constexpr unsigned kReadUseAskpass = 0x08;
inline constexpr unsigned kReadAskPermission = 0x10;

// Longest answer read from a terminal (as readpass.c's buffer).
inline constexpr size_t kMaxPassphraseBytes = 1023;

// Returns the answer without its line ending; an empty answer when the user
// gave none or askpass failed, or std::nullopt for that case when
// kReadAllowEof is set. Echo is off on a terminal unless kReadEcho. A signal
// that would end the process (Ctrl-C at the prompt) restores the terminal
// first and is then delivered.
std::optional<key::SecretBytes> read_passphrase(std::string_view prompt, unsigned flags);

}  // namespace tessera::prompts

#endif  // TESSERA_PROMPTS_READPASS_H_
