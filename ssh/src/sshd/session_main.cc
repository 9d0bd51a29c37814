// tessera-sshd-session: the session process of a tessera-sshd connection,
// a program of its own. The monitor executes it as the authenticated user
// (client socket on fd 3, monitor socket on fd 4, fd 5 for writing to the
// client) with only the log options of tessera-sshd's command line:
//
//   tessera-sshd-session [-d]... [-e]
//
// Its log lines go to the monitor, which writes them: the user's process
// holds no descriptor of tessera-sshd's log (-E's file, which it could
// otherwise forge lines in or truncate).
//
// It is a separate program, as OpenSSH 9.8's sshd-session is, so that what
// every connection executes a second time is small: it holds the session
// code alone, not the configuration parser, key loading, authentication or
// the pre-auth sandbox, and it links no PKCS#11 or seccomp library. That
// makes each login's session start quicker and each connection's resident
// memory ~1.3 MiB smaller (bench/sshd_bench).
#include <openssl/crypto.h>

#include <cstdio>
#include <string_view>

#include "sshd/sshd.h"

int main(int argc, char** argv) {
  using namespace tessera::ssh::sshd;
  // As in tessera-sshd's monitor: no cleanup at exit (the kernel frees it
  // all at once), and OpenSSL's error strings left unloaded (~0.5 MiB of
  // resident memory here, for errors a session hardly ever logs; such an
  // error reads error:XXXXXXXX:lib(N)::reason(M), see `openssl errstr`).
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, nullptr);
  Options o;
  o.session = true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-d") {
      o.debug++;
    } else if (a == "-e") {
      o.log_stderr = true;
    } else {
      std::fprintf(stderr,
                   "tessera-sshd-session: unknown argument '%s'; this program is started by tessera-sshd's "
                   "monitor, not by hand\n",
                   argv[i]);
      return 255;
    }
  }
  return run_session(o);
}
