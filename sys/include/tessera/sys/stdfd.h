// The standard descriptors. A program started with 0, 1 or 2 closed would
// hand the next file it opens out as one of them (a key file written to
// "stdout"); every program makes them safe first, as OpenSSH's
// sanitise_stdfd() does.
#ifndef TESSERA_SYS_STDFD_H_
#define TESSERA_SYS_STDFD_H_

#include "tessera/key/error.h"

namespace tessera::sys {

// Opens /dev/null on each of descriptors 0-2 that is closed; open ones are
// left alone. kIo if /dev/null cannot be opened (the caller should exit).
key::Status sanitise_standard_fds();

// Points descriptors 0-2 at /dev/null (a daemon detaching from its terminal).
key::Status redirect_standard_fds_to_null();

}  // namespace tessera::sys

#endif  // TESSERA_SYS_STDFD_H_
