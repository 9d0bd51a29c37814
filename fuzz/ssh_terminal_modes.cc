// Fuzzes the terminal modes of a pty-req (ssh/src/server/pty.h), which the
// session process reads from the client: the input is the encoded modes.
// What parses must hold at most kMaxTerminalModes modes, each with an
// opcode from 1 to 159, and re-encoding them must parse to the same list;
// applying them to a termios must not touch memory outside it.
#include <termios.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "server/pty.h"
#include "tessera/key/wire.h"

using namespace tessera::ssh::server;
namespace key = tessera::key;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto modes = parse_terminal_modes(std::span<const uint8_t>(data, size));
  if (!modes.ok()) return 0;
  if (modes->size() > kMaxTerminalModes) __builtin_trap();
  key::Writer again;
  for (const TerminalMode& m : *modes) {
    if (m.opcode == 0 || m.opcode >= 160) __builtin_trap();
    again.u8(m.opcode);
    again.u32(m.value);
  }
  again.u8(0);
  auto reparsed = parse_terminal_modes(again.data());
  if (!reparsed.ok() || reparsed->size() != modes->size()) __builtin_trap();
  for (size_t i = 0; i < modes->size(); ++i) {
    if ((*reparsed)[i].opcode != (*modes)[i].opcode || (*reparsed)[i].value != (*modes)[i].value) __builtin_trap();
  }
  struct termios t;
  std::memset(&t, 0, sizeof(t));
  apply_terminal_modes(*modes, t);
  return 0;
}
