// Paths as people write them: "~/.ssh/id_ed25519", "~alice/.ssh/known_hosts".
#ifndef TESSERA_SYS_PATH_H_
#define TESSERA_SYS_PATH_H_

#include <string>
#include <string_view>

#include "tessera/key/error.h"

namespace tessera::sys {

// The user's home directory from the password database (as OpenSSH, which
// does not trust $HOME), else $HOME, else "/".
std::string home_directory();

// Expands a leading "~" (the user's home: `home` if given, else
// home_directory()) or "~user" (that user's home), as OpenSSH's
// tilde_expand_filename(); other paths come back unchanged. kInvalidArgument
// "No such user NAME" for an unknown user.
key::Result<std::string> expand_tilde(std::string_view path, std::string_view home = {});

}  // namespace tessera::sys

#endif  // TESSERA_SYS_PATH_H_
