// The agent's diagnostic log: stderr in the foreground (-D, -d), syslog
// (LOG_AUTH) when daemonized, as ssh-agent logs. Thread-safe. Secrets are
// never passed here; the audit trail is separate (audit.h).
#ifndef TESSERA_AGENT_DAEMON_LOG_H_
#define TESSERA_AGENT_DAEMON_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::agent::daemon {

enum class LogLevel : uint8_t { kError, kInfo, kVerbose, kDebug };
enum class LogSink : uint8_t { kStderr, kSyslog };

// Process-wide. Before any call the log goes to stderr at kError.
void configure_log(LogSink sink, LogLevel max_level);
bool log_enabled(LogLevel level);
void log_message(LogLevel level, std::string_view message);

inline void log_error(std::string_view m) { log_message(LogLevel::kError, m); }
inline void log_info(std::string_view m) { log_message(LogLevel::kInfo, m); }
inline void log_verbose(std::string_view m) { log_message(LogLevel::kVerbose, m); }
inline void log_debug(std::string_view m) { log_message(LogLevel::kDebug, m); }

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_LOG_H_
