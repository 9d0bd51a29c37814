#include "tessera/prompts/pinentry.h"

#include <unistd.h>

#include <cerrno>

#include "tessera/sys/fd.h"
#include "tessera/sys/spawn.h"

namespace tessera::prompts {

namespace {

// What a user's cancel is reported as (it needs no program name).
constexpr std::string_view kCancelled = "PIN entry cancelled";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

enum class LineRead { kLine, kEnd, kTooLong };

// Reads one line (without its newline) into `line`, a byte at a time so that
// nothing after it is consumed.
LineRead read_line(int fd, key::SecretBytes& line) {
  line.clear();
  for (;;) {
    uint8_t c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return LineRead::kEnd;
    if (c == '\n') return LineRead::kLine;
    if (line.size() >= kMaxPinentryLineBytes) return LineRead::kTooLong;
    line.append(std::span<const uint8_t>(&c, 1));
  }
}

bool is_ok(std::string_view line) { return line == "OK" || line.starts_with("OK "); }
bool is_err(std::string_view line) { return line == "ERR" || line.starts_with("ERR "); }
// Status and comment lines may come before any answer.
bool is_skipped(std::string_view line) { return line == "S" || line.starts_with("S ") || line.starts_with('#'); }

// Sends a command and waits for its OK. An error names what went wrong.
key::Status command(int in, int out, const std::string& line) {
  TESSERA_TRY(sys::send_all(in, line + "\n"));
  key::SecretBytes reply;
  for (;;) {
    LineRead read = read_line(out, reply);
    if (read == LineRead::kEnd) return key::Error(key::Errc::kIo, "ended before answering " + line.substr(0, 8));
    if (read == LineRead::kTooLong) return key::Error(key::Errc::kTooLarge, "sent an over-long line");
    std::string_view text = reply.reveal_text();
    if (is_ok(text)) return {};
    if (is_err(text)) return key::Error(key::Errc::kIo, "refused " + line.substr(0, line.find(' ')) + ": " +
                                                            std::string(text.substr(0, 200)));
    if (!is_skipped(text)) return key::Error(key::Errc::kMalformed, "answered out of protocol");
  }
}

// GETPIN, and its answer.
key::Result<key::SecretBytes> get_pin(int in, int out) {
  TESSERA_TRY(sys::send_all(in, "GETPIN\n"));
  GetpinReply reply;
  key::SecretBytes line;
  while (reply.state() == GetpinReply::State::kMore) {
    LineRead read = read_line(out, line);
    if (read == LineRead::kEnd) return key::Error(key::Errc::kTruncated, "ended before answering GETPIN");
    if (read == LineRead::kTooLong) return key::Error(key::Errc::kTooLarge, "sent an over-long line");
    reply.feed(line.reveal_text());
  }
  if (reply.state() == GetpinReply::State::kPin) return reply.take_pin();
  if (reply.state() == GetpinReply::State::kCancelled) return key::Error(key::Errc::kIo, reply.problem());
  return key::Error(key::Errc::kMalformed, reply.problem());
}

}  // namespace

GetpinReply::State GetpinReply::fail(std::string problem) {
  pin_.clear();
  problem_ = std::move(problem);
  return state_ = State::kError;
}

GetpinReply::State GetpinReply::feed(std::string_view line) {
  if (state_ != State::kMore) return fail("answered GETPIN twice");
  if (line.starts_with("D ")) {
    auto data = assuan_unescape(line.substr(2));
    if (!data) return fail("sent a PIN with a broken %-escape");
    if (pin_.size() + data->size() > kMaxPinentryPinBytes) {
      return fail("sent a PIN longer than " + std::to_string(kMaxPinentryPinBytes) + " bytes");
    }
    pin_.append(data->reveal());
    return state_;
  }
  if (is_ok(line)) return state_ = State::kPin;
  if (is_err(line)) {
    pin_.clear();
    // GPG_ERR_CANCELED (99) from the pinentry source (5): 83886179.
    problem_ = line.starts_with("ERR 83886179") ? std::string(kCancelled)
                                                  : "refused GETPIN: " + std::string(line.substr(0, 200));
    return state_ = State::kCancelled;
  }
  if (is_skipped(line)) return state_;
  return fail("answered GETPIN out of protocol");
}

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

key::Result<key::SecretBytes> ask_pinentry(const std::string& program, const std::string& description,
                                           const ChildTracker& on_spawn) {
  // One socket is the program's stdin and stdout: we write to it without
  // SIGPIPE (send_all) when the program has already gone.
  TESSERA_ASSIGN_OR_RETURN(sys::SocketPair channel, sys::make_socket_pair());
  sys::SpawnOptions options;
  options.hand_over = {{channel.theirs.get(), STDIN_FILENO}, {channel.theirs.get(), STDOUT_FILENO}};
  options.search_path = true;
  auto spawned = sys::spawn({program}, options);
  channel.theirs.reset();
  if (!spawned.ok()) return spawned.error();
  const pid_t pid = *spawned;
  if (on_spawn) on_spawn(pid);

  const int in = channel.ours.get(), out = channel.ours.get();
  auto talk = [&]() -> key::Result<key::SecretBytes> {
    key::SecretBytes line;
    if (read_line(out, line) != LineRead::kLine || !is_ok(line.reveal_text())) {
      return key::Error(key::Errc::kMalformed, "did not greet with OK");
    }
    TESSERA_TRY(command(in, out, "SETTITLE tessera-agent"));
    TESSERA_TRY(command(in, out, "SETDESC " + assuan_escape(description)));
    TESSERA_TRY(command(in, out, "SETPROMPT PIN:"));
    return get_pin(in, out);
  };
  auto pin = talk();
  (void)sys::send_all(in, "BYE\n");
  channel.ours.reset();
  (void)sys::wait_for_exit(pid);
  if (on_spawn) on_spawn(-1);
  if (!pin.ok() && pin.error().detail() != kCancelled) {
    return key::Error(pin.error().code(), "pinentry " + program + " " + pin.error().message());
  }
  return pin;
}

}  // namespace tessera::prompts
