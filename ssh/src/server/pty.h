// A session's pseudo-terminal: allocation, the terminal modes a client
// sends in pty-req (RFC 4254 section 8), and window sizes.
#ifndef TESSERA_SSH_SERVER_PTY_H_
#define TESSERA_SSH_SERVER_PTY_H_

#include <termios.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tessera/key/error.h"
#include "tessera/sys/fd.h"

namespace tessera::ssh::server {

// Both ends of a new pty (close-on-exec, the slave opened without becoming
// anyone's controlling terminal). The slave belongs to the calling user
// (grantpt), as sshd's pty_setowner leaves it.
class Pty {
 public:
  // kIo "cannot allocate a pty: reason".
  static key::Result<Pty> open();

  int master() const { return master_.get(); }
  int slave() const { return slave_.get(); }
  // "/dev/pts/N".
  const std::string& name() const { return name_; }
  // The parent closes its slave once the child has it, so that the master
  // reads EOF (EIO) when the last process on the terminal is gone.
  void close_slave() { slave_.reset(); }
  sys::Fd take_master() { return std::move(master_); }

 private:
  sys::Fd master_, slave_;
  std::string name_;
};

// One mode from the encoded terminal modes: an opcode and its argument.
struct TerminalMode {
  uint8_t opcode;
  uint32_t value;
};

// The most modes one pty-req may carry (each takes 5 bytes; a full set is
// under 60).
inline constexpr size_t kMaxTerminalModes = 256;

// Parses the encoded terminal modes as sshd does: opcodes 1 to 159 take a
// uint32; TTY_OP_END (0), the end of the string, or an opcode from 160
// up (whose argument size nobody knows) ends the list. kMalformed when an
// argument is cut short, kTooLarge beyond kMaxTerminalModes.
key::Result<std::vector<TerminalMode>> parse_terminal_modes(std::span<const uint8_t> encoded);

// Applies modes to t: the special characters (255 disables one), the
// input, local, output and control flags, and the speeds (128/129, in
// bits per second). Opcodes this system lacks are skipped, as sshd skips
// them.
void apply_terminal_modes(const std::vector<TerminalMode>& modes, struct termios& t);

// Parses and applies the encoded modes to the terminal fd (tcgetattr,
// then tcsetattr TCSANOW). kMalformed/kTooLarge from parsing; kIo when the
// terminal refuses.
key::Status set_terminal_modes(int fd, std::span<const uint8_t> encoded);

// TIOCSWINSZ; sizes beyond 65535 are clamped. kIo when the ioctl fails.
key::Status set_window_size(int fd, uint32_t cols, uint32_t rows, uint32_t xpixel, uint32_t ypixel);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_PTY_H_
