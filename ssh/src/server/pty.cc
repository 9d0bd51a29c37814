#include "server/pty.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tessera/key/wire.h"

namespace tessera::ssh::server {

using key::Errc;
using key::Error;

namespace {

// RFC 4254 section 8.
constexpr uint8_t kTtyOpEnd = 0;
constexpr uint8_t kTtyOpIspeed = 128;
constexpr uint8_t kTtyOpOspeed = 129;
// Opcodes from here up have no defined argument: parsing stops (sshd).
constexpr uint8_t kFirstUndefinedOpcode = 160;
// A special character of 255 means "disabled".
constexpr uint32_t kSpecialCharDisabled = 255;

struct SpecialChar {
  uint8_t opcode;
  int index;
};
// Linux has no VDSUSP (11), VFLUSH (15), VSWTCH (16) or VSTATUS (17):
// sshd built here skips those opcodes, and so do we.
constexpr SpecialChar kSpecialChars[] = {
    {1, VINTR},   {2, VQUIT},    {3, VERASE},   {4, VKILL},    {5, VEOF},    {6, VEOL},    {7, VEOL2},
    {8, VSTART},  {9, VSTOP},    {10, VSUSP},   {12, VREPRINT}, {13, VWERASE}, {14, VLNEXT}, {18, VDISCARD},
};

enum class Field : uint8_t { kInput, kLocal, kOutput, kControl };
struct FlagMode {
  uint8_t opcode;
  Field field;
  tcflag_t bits;
};
constexpr FlagMode kFlags[] = {
    {30, Field::kInput, IGNPAR},   {31, Field::kInput, PARMRK},   {32, Field::kInput, INPCK},
    {33, Field::kInput, ISTRIP},   {34, Field::kInput, INLCR},    {35, Field::kInput, IGNCR},
    {36, Field::kInput, ICRNL},    {37, Field::kInput, IUCLC},    {38, Field::kInput, IXON},
    {39, Field::kInput, IXANY},    {40, Field::kInput, IXOFF},    {41, Field::kInput, IMAXBEL},
    {42, Field::kInput, IUTF8},    {50, Field::kLocal, ISIG},     {51, Field::kLocal, ICANON},
    {52, Field::kLocal, XCASE},    {53, Field::kLocal, ECHO},     {54, Field::kLocal, ECHOE},
    {55, Field::kLocal, ECHOK},    {56, Field::kLocal, ECHONL},   {57, Field::kLocal, NOFLSH},
    {58, Field::kLocal, TOSTOP},   {59, Field::kLocal, IEXTEN},   {60, Field::kLocal, ECHOCTL},
    {61, Field::kLocal, ECHOKE},   {62, Field::kLocal, PENDIN},   {70, Field::kOutput, OPOST},
    {71, Field::kOutput, OLCUC},   {72, Field::kOutput, ONLCR},   {73, Field::kOutput, OCRNL},
    {74, Field::kOutput, ONOCR},   {75, Field::kOutput, ONLRET},  {90, Field::kControl, CS7},
    {91, Field::kControl, CS8},    {92, Field::kControl, PARENB}, {93, Field::kControl, PARODD},
};

tcflag_t& field_of(struct termios& t, Field f) {
  switch (f) {
    case Field::kInput:
      return t.c_iflag;
    case Field::kLocal:
      return t.c_lflag;
    case Field::kOutput:
      return t.c_oflag;
    case Field::kControl:
      break;
  }
  return t.c_cflag;
}

// Bits per second to a speed_t; a rate the table lacks is 9600, as sshd's
// baud_to_speed.
speed_t speed_for(uint32_t baud) {
  static constexpr struct {
    uint32_t baud;
    speed_t speed;
  } kSpeeds[] = {{0, B0},         {50, B50},         {75, B75},         {110, B110},       {134, B134},
                 {150, B150},     {200, B200},       {300, B300},       {600, B600},       {1200, B1200},
                 {1800, B1800},   {2400, B2400},     {4800, B4800},     {9600, B9600},     {19200, B19200},
                 {38400, B38400}, {57600, B57600},   {115200, B115200}, {230400, B230400}, {460800, B460800},
                 {500000, B500000}, {576000, B576000}, {921600, B921600}};
  for (const auto& s : kSpeeds) {
    if (s.baud == baud) return s.speed;
  }
  return B9600;
}

}  // namespace

key::Result<Pty> Pty::open() {
  Pty pty;
  pty.master_.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.master_) return Error(Errc::kIo, std::string("cannot allocate a pty: ") + std::strerror(errno));
  if (grantpt(pty.master_.get()) != 0 || unlockpt(pty.master_.get()) != 0) {
    return Error(Errc::kIo, std::string("cannot allocate a pty: ") + std::strerror(errno));
  }
  char name[128];
  if (ptsname_r(pty.master_.get(), name, sizeof(name)) != 0) {
    return Error(Errc::kIo, std::string("cannot name the pty: ") + std::strerror(errno));
  }
  pty.name_ = name;
  pty.slave_.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.slave_) return Error(Errc::kIo, "cannot open " + pty.name_ + ": " + std::strerror(errno));
  return pty;
}

key::Result<std::vector<TerminalMode>> parse_terminal_modes(std::span<const uint8_t> encoded) {
  key::Reader in(encoded);
  std::vector<TerminalMode> modes;
  while (!in.empty()) {
    auto opcode = in.u8();
    if (!opcode.ok()) break;
    if (*opcode == kTtyOpEnd || *opcode >= kFirstUndefinedOpcode) break;
    auto value = in.u32();
    if (!value.ok()) return Error(Errc::kMalformed, "terminal mode " + std::to_string(*opcode) + " is cut short");
    if (modes.size() == kMaxTerminalModes) return Error(Errc::kTooLarge, "too many terminal modes");
    modes.push_back(TerminalMode{*opcode, *value});
  }
  return modes;
}

void apply_terminal_modes(const std::vector<TerminalMode>& modes, struct termios& t) {
  for (const TerminalMode& m : modes) {
    if (m.opcode == kTtyOpIspeed) {
      cfsetispeed(&t, speed_for(m.value));
      continue;
    }
    if (m.opcode == kTtyOpOspeed) {
      cfsetospeed(&t, speed_for(m.value));
      continue;
    }
    const auto* special = std::find_if(std::begin(kSpecialChars), std::end(kSpecialChars),
                                       [&](const SpecialChar& c) { return c.opcode == m.opcode; });
    if (special != std::end(kSpecialChars)) {
      t.c_cc[special->index] =
          m.value == kSpecialCharDisabled ? static_cast<cc_t>(_POSIX_VDISABLE) : static_cast<cc_t>(m.value);
      continue;
    }
    const auto* flag =
        std::find_if(std::begin(kFlags), std::end(kFlags), [&](const FlagMode& f) { return f.opcode == m.opcode; });
    if (flag != std::end(kFlags)) {
      tcflag_t& field = field_of(t, flag->field);
      if (m.value != 0) {
        field |= flag->bits;
      } else {
        field &= ~flag->bits;
      }
    }
  }
}

key::Status set_terminal_modes(int fd, std::span<const uint8_t> encoded) {
  TESSERA_ASSIGN_OR_RETURN(auto modes, parse_terminal_modes(encoded));
  if (modes.empty()) return key::ok_status();
  struct termios t {};
  if (tcgetattr(fd, &t) != 0) return Error(Errc::kIo, std::string("tcgetattr: ") + std::strerror(errno));
  apply_terminal_modes(modes, t);
  if (tcsetattr(fd, TCSANOW, &t) != 0) {
    return Error(Errc::kIo, std::string("setting tty modes failed: ") + std::strerror(errno));
  }
  return key::ok_status();
}

key::Status set_window_size(int fd, uint32_t cols, uint32_t rows, uint32_t xpixel, uint32_t ypixel) {
  auto clamp = [](uint32_t v) { return static_cast<unsigned short>(std::min<uint32_t>(v, 0xffff)); };
  struct winsize ws {};
  ws.ws_col = clamp(cols);
  ws.ws_row = clamp(rows);
  ws.ws_xpixel = clamp(xpixel);
  ws.ws_ypixel = clamp(ypixel);
  if (ioctl(fd, TIOCSWINSZ, &ws) != 0) return Error(Errc::kIo, std::string("TIOCSWINSZ: ") + std::strerror(errno));
  return key::ok_status();
}

}  // namespace tessera::ssh::server
