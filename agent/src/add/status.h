// tessera-add --status: tessera-agent's state report (status@tessera.dev),
// as text for people and as JSON for scripts, with what to do about each
// problem it shows.
#ifndef TESSERA_AGENT_ADD_STATUS_H_
#define TESSERA_AGENT_ADD_STATUS_H_

#include <string>
#include <vector>

#include "tessera/agent/status.h"

namespace tessera::add {

// Exit statuses of tessera-add --status.
inline constexpr int kStatusOk = 0;         // the report came and shows no problem
inline constexpr int kStatusNoReport = 1;   // the agent refused the request or its answer was broken
inline constexpr int kStatusNoAgent = 2;    // no agent (as every tessera-add command)
inline constexpr int kStatusProblems = 3;   // the report came and shows a problem (see its advice)

// Something in the report that needs the user, and what to do about it.
struct Problem {
  std::string subject;  // "token 'main'", "PKCS#11 provider /x.so"
  std::string kind;     // stable name: "pin_locked", "token_absent", "helper_hung", ...
  std::string advice;   // in words
};
std::vector<Problem> status_problems(const agent::StatusReport& report);

// The report as aligned sections, for a terminal: every text the agent
// sent is shown with control characters replaced.
std::string status_text(const agent::StatusReport& report);
// The report as one JSON object (docs/tessera-add.md lists its fields).
std::string status_json(const agent::StatusReport& report);

}  // namespace tessera::add

#endif  // TESSERA_AGENT_ADD_STATUS_H_
