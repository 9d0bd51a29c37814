#include "daemon/pinentry.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/log.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/spawn.h"

namespace tessera::agent::daemon {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Reads one line (without its newline) into `line`, a byte at a time so that
// nothing after it is consumed. False at the end of input, on error, or for
// an over-long line.
bool read_line(int fd, key::SecretBytes& line) {
  line.clear();
  for (;;) {
    uint8_t c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n') return true;
    if (line.size() >= kMaxPinentryLineBytes) return false;
    line.append(std::span<const uint8_t>(&c, 1));
  }
}

bool write_line(int fd, const std::string& line) {
  std::string out = line + "\n";
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool starts_with(const key::SecretBytes& line, std::string_view prefix) {
  return line.reveal_text().substr(0, prefix.size()) == prefix;
}

// Sends a command and waits for its OK (skipping status and comment lines).
bool command(int in, int out, const std::string& line) {
  if (!write_line(in, line)) return false;
  key::SecretBytes reply;
  while (read_line(out, reply)) {
    if (reply.reveal_text() == "OK" || starts_with(reply, "OK ")) return true;
    if (starts_with(reply, "ERR")) return false;
  }
  return false;
}

}  // namespace

std::string assuan_escape(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    if (c == '%' || c == '\r' || c == '\n') {
      out += '%';
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<key::SecretBytes> assuan_unescape(std::string_view data) {
  key::SecretBytes out(data.size());
  auto bytes = out.reveal_mutable();
  size_t n = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] != '%') {
      bytes[n++] = static_cast<uint8_t>(data[i]);
      continue;
    }
    if (i + 2 >= data.size()) return std::nullopt;
    int hi = hex_value(data[i + 1]), lo = hex_value(data[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes[n++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  out.resize(n);
  return out;
}

std::optional<key::SecretBytes> ask_pinentry(const std::string& program, const std::string& description,
                                             const std::function<void(pid_t)>& on_spawn) {
  auto to_child = sys::make_pipe();
  auto from_child = sys::make_pipe();
  if (!to_child.ok() || !from_child.ok()) {
    log_error("pinentry: " + (to_child.ok() ? from_child.error() : to_child.error()).message());
    return std::nullopt;
  }
  sys::SpawnOptions options;
  options.hand_over = {{to_child->read.get(), STDIN_FILENO}, {from_child->write.get(), STDOUT_FILENO}};
  options.search_path = true;
  auto spawned = sys::spawn({program}, options);
  to_child->read.reset();
  from_child->write.reset();
  const int in = to_child->write.get(), out = from_child->read.get();
  const pid_t pid = spawned.ok() ? *spawned : -1;
  std::optional<key::SecretBytes> pin;
  if (!spawned.ok()) {
    log_error("pinentry: " + spawned.error().message());
  } else {
    if (on_spawn) on_spawn(pid);
    key::SecretBytes line;
    bool greeted = read_line(out, line) && (line.reveal_text() == "OK" || starts_with(line, "OK "));
    if (greeted && command(in, out, "SETTITLE tessera-agent") &&
        command(in, out, "SETDESC " + assuan_escape(description)) && command(in, out, "SETPROMPT PIN:") &&
        write_line(in, "GETPIN")) {
      std::optional<key::SecretBytes> data;
      while (read_line(out, line)) {
        if (starts_with(line, "D ")) {
          data = assuan_unescape(line.reveal_text().substr(2));
        } else if (line.reveal_text() == "OK" || starts_with(line, "OK ")) {
          pin = std::move(data);
          if (!pin) pin = key::SecretBytes();  // an empty PIN
          break;
        } else if (starts_with(line, "ERR")) {
          break;  // cancelled, or a failure: no PIN
        }
      }
      (void)write_line(in, "BYE");
    }
  }
  to_child->write.reset();
  from_child->read.reset();
  if (pid > 0) {
    (void)sys::wait_for_exit(pid);
    if (on_spawn) on_spawn(-1);
  }
  return pin;
}

}  // namespace tessera::agent::daemon
