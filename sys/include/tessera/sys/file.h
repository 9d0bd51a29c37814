// Reading whole files with a size limit. Contents that may be secret (key
// files) are read into wiped memory and sized to the file, so reading many
// small files does not allocate the limit each time.
#ifndef TESSERA_SYS_FILE_H_
#define TESSERA_SYS_FILE_H_

#include <cstddef>
#include <string>

#include "tessera/key/error.h"
#include "tessera/key/secret.h"

namespace tessera::sys {

// All of `fd` (a file, pipe or terminal) up to end of input. kTooLarge
// "file larger than LIMIT bytes" when there is more than `limit`; kIo with the
// system's reason ("Is a directory", ...) when it cannot be read.
key::Result<key::SecretBytes> read_all_secret(int fd, size_t limit);

// The file at `path`, as read_all_secret; kIo with the system's reason
// ("No such file or directory") when it cannot be opened.
key::Result<key::SecretBytes> read_file_secret(const std::string& path, size_t limit);

// As read_file_secret, for files that hold nothing secret.
key::Result<std::string> read_file(const std::string& path, size_t limit);

}  // namespace tessera::sys

#endif  // TESSERA_SYS_FILE_H_
