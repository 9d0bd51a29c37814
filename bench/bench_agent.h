// What the agent benchmarks share (on bench_process.h: die, ScratchDir): speaking to an agent over its socket, starting
// agents, and timing sign requests from several connections.
#ifndef TESSERA_BENCH_BENCH_AGENT_H_
#define TESSERA_BENCH_BENCH_AGENT_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "bench_process.h"
#include "tessera/agent/protocol.h"

namespace tessera::bench {


bool write_all(int fd, const uint8_t* p, size_t n);
bool read_all(int fd, uint8_t* p, size_t n);
// A connection to a Unix socket, or -1.
int connect_to(const std::string& path);
// A listening Unix socket at path (dies if it cannot be made).
int listen_on(const std::string& path);
// One agent-protocol frame from fd, its length field included (the payload
// from byte 4), or false at its end. No cap on the length: benches talk to
// agents they started, and ssh-agent answers with more than clients accept.
bool read_frame(int fd, key::Bytes& frame);
// One request, one response (dies on any failure).
agent::Response roundtrip(int fd, const agent::Request& req);

// An agent started for the run; SIGTERM and reaped on destruction.
struct AgentProcess {
  std::string name;
  std::string socket;
  pid_t pid = -1;
  ~AgentProcess();
};
// Starts argv (stdout to /dev/null; extra_env "NAME=value" added to ours)
// and waits until a.socket accepts connections.
void start_agent(AgentProcess& a, const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});

struct RunResult {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
};
// `connections` connections each send sign requests for the key blob back
// to back for `seconds`; every answer must be a signature.
RunResult run_signing(const std::string& socket, const key::Bytes& blob, uint32_t flags, int connections,
                      double seconds);

}  // namespace tessera::bench

#endif  // TESSERA_BENCH_BENCH_AGENT_H_
