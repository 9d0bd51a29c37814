// tessera-sshd's log: syslog by default (ident "sshd", as OpenSSH's lines
// are found there), stderr with -e or in debug mode, or -E's file.
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "sshd/sshd.h"

namespace tessera::ssh::sshd {

namespace {

enum class Sink : uint8_t { kSyslog, kStderr, kFile, kNone };

struct LogState {
  Sink sink = Sink::kStderr;
  Level level = Level::kInfo;
  FILE* file = nullptr;
};

LogState& state() {
  static LogState s;
  return s;
}

int priority(Level level) {
  switch (level) {
    case Level::kQuiet:
    case Level::kFatal: return LOG_CRIT;
    case Level::kError: return LOG_ERR;
    case Level::kInfo:
    case Level::kVerbose: return LOG_INFO;
    default: return LOG_DEBUG;
  }
}

}  // namespace

void log_setup(const Options& options, Level level) {
  LogState& s = state();
  s.level = options.debug > 0 ? static_cast<Level>(static_cast<int>(Level::kDebug1) + std::min(options.debug, 3) - 1)
                              : level;
  if (options.quiet && options.debug == 0) s.level = Level::kQuiet;
  if (!options.log_file.empty()) {
    if (s.file == nullptr) s.file = std::fopen(options.log_file.c_str(), "ae");
    s.sink = s.file != nullptr ? Sink::kFile : Sink::kStderr;
  } else if (options.log_stderr || options.debug > 0) {
    s.sink = Sink::kStderr;
  } else {
    s.sink = Sink::kSyslog;
    openlog("sshd", LOG_PID | LOG_NDELAY, LOG_AUTH);
  }
}

void log_enter_sandbox() {
  // syslog(3) may reconnect to /dev/log, which the sandbox forbids: a
  // sandboxed process logs to stderr or -E's file only.
  if (state().sink == Sink::kSyslog) state().sink = Sink::kNone;
}

bool log_enabled(Level level) { return level != Level::kQuiet && level <= state().level; }

void log_line(Level level, std::string_view text) {
  if (!log_enabled(level)) return;
  LogState& s = state();
  std::string line;
  if (level >= Level::kDebug1) line = "debug" + std::to_string(static_cast<int>(level) - 4) + ": ";
  if (level == Level::kError) line = "error: ";
  line += text;
  switch (s.sink) {
    case Sink::kSyslog:
      syslog(priority(level), "%s", line.c_str());
      break;
    case Sink::kFile:
      std::fprintf(s.file, "%s\n", line.c_str());
      std::fflush(s.file);
      break;
    case Sink::kStderr:
      line += '\n';
      (void)!write(STDERR_FILENO, line.data(), line.size());
      break;
    case Sink::kNone:
      break;
  }
}

}  // namespace tessera::ssh::sshd
