// tessera-sshd's log: syslog by default (ident "sshd", as OpenSSH's lines
// are found there), stderr with -e or in debug mode, or -E's file.
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "server/monitor.h"
#include "sshd/sshd.h"
#include "tessera/key/wire.h"

namespace tessera::ssh::sshd {

namespace {

enum class Sink : uint8_t { kSyslog, kStderr, kFile, kMonitor };

struct LogState {
  Sink sink = Sink::kStderr;
  Level level = Level::kInfo;
  FILE* file = nullptr;
  int monitor_fd = -1;
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

void log_through_monitor(int monitor_fd) {
  LogState& s = state();
  if (s.file != nullptr) {
    std::fclose(s.file);
    s.file = nullptr;
  }
  s.sink = Sink::kMonitor;
  s.monitor_fd = monitor_fd;
}

bool log_client_disconnect(const transport::Transport& transport, const std::string& peer_description) {
  const std::optional<DisconnectReason> reason = transport.peer_disconnect_reason();
  if (!reason) return false;
  log_line(*reason == DisconnectReason::kByApplication ? Level::kInfo : Level::kError,
           "Received disconnect from " + peer_description + ":" + std::to_string(static_cast<uint32_t>(*reason)) +
               ": " + transport.peer_disconnect_description());
  return true;
}

bool log_enabled(Level level) { return level != Level::kQuiet && level <= state().level; }

void log_line(Level level, std::string_view text) {
  if (!log_enabled(level)) return;
  LogState& s = state();
  if (s.sink == Sink::kMonitor) {
    // The monitor adds the prefixes; a line it does not take is lost.
    key::Writer w;
    w.u8(static_cast<uint8_t>(level));
    w.string(text);
    (void)server::MonitorClient(s.monitor_fd).call(server::MonitorRequest::kLog, w.data());
    return;
  }
  std::string line;
  if (level >= Level::kDebug1) line = "debug" + std::to_string(static_cast<int>(level) - 4) + ": ";
  // As sshd: "error: " only in syslog (with -e or -E an error line reads
  // as any other).
  if (level == Level::kError && s.sink == Sink::kSyslog) line = "error: ";
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
    case Sink::kMonitor:
      break;
  }
}

}  // namespace tessera::ssh::sshd
