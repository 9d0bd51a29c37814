// The agent runs on the codebase's one event loop (tesserasys).
#ifndef TESSERA_AGENT_DAEMON_EVENT_LOOP_H_
#define TESSERA_AGENT_DAEMON_EVENT_LOOP_H_

#include "tessera/sys/event_loop.h"

namespace tessera::agent::daemon {
using sys::Clock;
using sys::EventLoop;
}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_EVENT_LOOP_H_
