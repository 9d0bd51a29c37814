// tessera-sshd's parts, shared by its files: the settings every process
// works from, the log, and the entry points of each process kind.
//
//   listener (root)      accepts, and for each connection fork + exec's
//   monitor (root)       "tessera-sshd --monitor": holds the host keys, runs
//                        every key exchange, decides authentication, keeps
//                        utmp; forks, before it loads any key:
//   pre-auth child       the sshd account, chroot, seccomp: parses all the
//                        client's bytes, relays to the monitor
//   session process      exec'd as the user (tessera-sshd-session) once
//                        the monitor accepted a signature: channels, ptys,
//                        subsystems, forwarding; re-keys through the monitor
#ifndef TESSERA_SSH_SSHD_SSHD_H_
#define TESSERA_SSH_SSHD_SSHD_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/sshd_config.h"
#include "tessera/key/error.h"
#include "transport/transport.h"

namespace tessera::ssh::sshd {

// The command line, as sshd(8) takes it.
struct Options {
  std::string config_file = "/etc/ssh/sshd_config";
  std::vector<std::string> overrides;    // -o
  std::vector<std::string> host_keys;    // -h
  std::vector<std::string> ports;        // -p
  std::string log_file;                  // -E
  std::string test_spec;                 // -C
  std::vector<std::string> cert_files;   // -c
  int debug = 0;                         // -d (up to 3)
  bool foreground = false;               // -D
  bool log_stderr = false;               // -e
  bool inetd = false;                    // -i
  bool quiet = false;                    // -q
  bool test = false;                     // -t
  bool extended_test = false;            // -T
  // Internal: the per-connection monitor after the listener's re-exec
  // (client socket on fd 3, startup pipe on fd 4), and the session process,
  // tessera-sshd-session (client socket on fd 3, monitor socket on fd 4).
  bool monitor = false;
  bool session = false;
};

// What every line of the log goes through (syslog, stderr or -E's file).
enum class Level : uint8_t { kQuiet, kFatal, kError, kInfo, kVerbose, kDebug1, kDebug2, kDebug3 };
void log_setup(const Options& options, Level level);
void log_line(Level level, std::string_view text);
bool log_enabled(Level level);
// The session process: every line goes to the monitor (kLog), which
// writes it; the user's process holds no descriptor of the log.
void log_through_monitor(int monitor_fd);
// sshd's line when the client ended the connection with a DISCONNECT
// message: "Received disconnect from ADDR port N:REASON: TEXT", at INFO for
// a client that simply quit, ERROR otherwise. Logs nothing and returns
// false when the connection ended otherwise.
bool log_client_disconnect(const transport::Transport& transport, const std::string& peer_description);

// sshd_config with -o, -h, -c and -p applied, as every process loads it.
// Errors name the file and line.
key::Result<server::SshdConfigFile> load_config(const Options& options);

// What a connection's processes work from: sshd_config resolved for the
// connection (Match applied once the user is known), with the command line.
struct Settings {
  // Transport.
  std::vector<std::string> kex, host_key_algorithms, ciphers, macs;
  uint64_t rekey_bytes = 0;
  std::chrono::seconds rekey_interval{0};
  std::chrono::seconds client_alive_interval{0};
  int client_alive_count_max = 3;
  // Host keys: files (or pkcs11: URIs), certificates, an agent socket.
  std::vector<std::string> host_key_files;
  std::vector<std::string> host_certificate_files;
  std::string host_key_agent;
  // Authentication.
  unsigned max_auth_tries = 6;
  std::chrono::seconds login_grace_time{120};
  std::string banner_file;  // "" or "none": no banner
  // Privilege separation.
  std::string privsep_user = "sshd";
  std::string privsep_chroot = "/run/sshd";
  Level log_level = Level::kInfo;
};

// Process entry points; each returns the exit status.
int run_listener(const Options& options);
int run_monitor(const Options& options, int in_fd, int out_fd, int startup_fd);
int run_session(const Options& options);

// The absolute path of this program (for the re-execs).
const std::string& self_path();
// The session program, tessera-sshd-session, found beside this one (where
// the build and `make install` put it); the monitor executes it as the user.
std::string session_program_path();

}  // namespace tessera::ssh::sshd

#endif  // TESSERA_SSH_SSHD_SSHD_H_
