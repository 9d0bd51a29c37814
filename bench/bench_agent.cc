#include "bench_agent.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace tessera::bench {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

int listen_on(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    die("listen on " + path);
  }
  return fd;
}

bool read_frame(int fd, key::Bytes& frame) {
  frame.resize(4);
  if (!read_all(fd, frame.data(), 4)) return false;
  uint32_t len = (uint32_t{frame[0]} << 24) | (uint32_t{frame[1]} << 16) | (uint32_t{frame[2]} << 8) | frame[3];
  frame.resize(4 + len);
  return read_all(fd, frame.data() + 4, len);
}

agent::Response roundtrip(int fd, const agent::Request& req) {
  key::Bytes framed = agent::frame(agent::serialize_request(req));
  if (!write_all(fd, framed.data(), framed.size())) die("write to agent failed");
  key::Bytes answer;
  if (!read_frame(fd, answer)) die("agent closed the connection, or answered more than a message holds");
  auto resp = agent::parse_response(std::span<const uint8_t>(answer).subspan(4));
  if (!resp.ok()) die("bad response: " + resp.error().message());
  return std::move(*resp);
}

AgentProcess::~AgentProcess() {
  if (pid > 0) {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
}

void start_agent(AgentProcess& a, const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env_strings = extra_env;
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  if (posix_spawn(&a.pid, cargv[0], &fa, nullptr, cargv.data(), envp.data()) != 0) die("cannot start " + argv[0]);
  posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 500; ++i) {
    int fd = connect_to(a.socket);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  die(a.name + " did not start listening on " + a.socket);
}

RunResult run_signing(const std::string& socket, const key::Bytes& blob, uint32_t flags, int connections,
                      double seconds) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(connections));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      int fd = connect_to(socket);
      if (fd < 0) die("connect " + socket);
      key::Bytes data(64);
      for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + static_cast<size_t>(c));
      // The same request every time, framed once: the client's own work
      // stays out of the figures as far as it can.
      key::Bytes request = agent::frame(agent::serialize_request(agent::SignRequest{blob, data, flags}));
      key::Bytes answer(64 * 1024);
      while (!go.load()) std::this_thread::yield();
      auto& lat = latencies[static_cast<size_t>(c)];
      while (Clock::now() < deadline) {
        auto t0 = Clock::now();
        if (!write_all(fd, request.data(), request.size())) die("write to agent failed");
        // Usually one read takes the whole answer.
        size_t have = 0;
        size_t need = 4;
        while (have < need) {
          ssize_t n = ::read(fd, answer.data() + have, answer.size() - have);
          if (n <= 0) die("agent closed the connection");
          have += static_cast<size_t>(n);
          if (need == 4 && have >= 4) {
            need = 4 + ((size_t{answer[0]} << 24) | (size_t{answer[1]} << 16) | (size_t{answer[2]} << 8) | answer[3]);
            if (need > answer.size()) die("answer too large");
          }
        }
        auto t1 = Clock::now();
        if (have != need || need < 5 || answer[4] != static_cast<uint8_t>(agent::MessageType::kSignResponse)) {
          die("sign request refused by " + socket);
        }
        lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      ::close(fd);
    });
  }
  auto start = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  RunResult r;
  if (all.empty()) return r;
  r.per_second = static_cast<double>(all.size()) / elapsed;
  r.p50_us = all[all.size() / 2];
  r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

}  // namespace tessera::bench
