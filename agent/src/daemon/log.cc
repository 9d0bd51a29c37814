#include "daemon/log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>

namespace tessera::agent::daemon {
namespace {

std::mutex g_mutex;
std::atomic<LogSink> g_sink{LogSink::kStderr};
std::atomic<LogLevel> g_level{LogLevel::kError};

int syslog_priority(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return LOG_ERR;
    case LogLevel::kInfo: return LOG_INFO;
    case LogLevel::kVerbose: return LOG_INFO;
    case LogLevel::kDebug: return LOG_DEBUG;
  }
  return LOG_INFO;
}

}  // namespace

void configure_log(LogSink sink, LogLevel max_level) {
  std::lock_guard<std::mutex> guard(g_mutex);
  if (sink == LogSink::kSyslog) ::openlog("tessera-agent", LOG_PID, LOG_AUTH);
  g_sink = sink;
  g_level = max_level;
}

bool log_enabled(LogLevel level) { return level <= g_level.load(); }

void log_message(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  std::lock_guard<std::mutex> guard(g_mutex);
  if (g_sink == LogSink::kSyslog) {
    ::syslog(syslog_priority(level), "%.*s", static_cast<int>(message.size()), message.data());
    return;
  }
  // One write per line, so that lines from several threads do not interleave.
  std::string line = "tessera-agent: ";
  line.append(message);
  line.push_back('\n');
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

}  // namespace tessera::agent::daemon
