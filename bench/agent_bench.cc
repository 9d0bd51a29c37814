// Agent signing throughput and latency: tessera-agent against OpenSSH's
// ssh-agent, in the same run, with the ceilings beside them.
//
//   agent_bench [--seconds S] [--agent PATH] [--load | --mixed | --many N]
//
// For ed25519, ecdsa-p256 and rsa-3072 keys, with 1 and 4 connections, each
// connection sends sign requests back to back for S seconds (default 3);
// figures are requests per second and p50/p99 latency. Ceilings, measured in
// the same run: raw OpenSSL signing speed for the same key (one thread, and
// one per CPU), the shielded signature cost (unshielding included), a bare
// Unix-socket round trip, the one-connection ceiling (round trip + raw
// signature) and the shielded ceiling (round trip + shielded signature, what
// an agent that keeps keys shielded can reach on one connection); each
// one-connection figure is also given as a % of the shielded ceiling. That
// ceiling adds figures measured apart; a second, measured one is the rate of a
// minimal signing process on one connection (epoll, read, shielded signature,
// write, nothing else), and tessera-agent's one-connection figure is also given
// as a % of it.
//
// --agent PATH: the tessera-agent to measure (default: the one built beside
// this program), e.g. an older build for before/after figures.
//
// --load: 64 concurrent connections x 500 signatures each against
// tessera-agent, checking every signature, and reports the agent's RSS.
//
// --mixed: one connection pipelines 100 RSA-4096 signatures while another
// signs with an ed25519 key back to back until they are done: the fast key's
// p50/p99 latency behind a slow queue, for both agents.
//
// --many N: N ed25519 keys added to both agents (the time it takes, first and
// second half apart, to show it grows linearly), then 200 list-identities
// round trips on one connection (p50/p99), and both agents' RSS with the keys.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_agent.h"
#include "tessera/agent/protocol.h"
#include "tessera/key/key.h"
#include "tessera/key/shield.h"

namespace {

using namespace tessera;
using namespace tessera::bench;
using Clock = std::chrono::steady_clock;

std::string g_tessera_agent = std::string(TESSERA_BIN_DIR) + "/tessera-agent";

void add_key(const std::string& socket, const key::PrivateKey& k) {
  int fd = connect_to(socket);
  if (fd < 0) die("connect " + socket);
  agent::AddIdentity add{k, std::nullopt, "bench", {}};
  auto resp = roundtrip(fd, add);
  ::close(fd);
  if (!std::holds_alternative<agent::Success>(resp)) die("agent refused the key");
}

RunResult run_signing(const std::string& socket, const key::PrivateKey& k, int connections, double seconds) {
  uint32_t flags = k.type() == key::KeyType::kRsa ? agent::kSignFlagRsaSha256 : 0;
  return bench::run_signing(socket, k.public_key().blob(), flags, connections, seconds);
}

// Raw signatures per second with `threads` threads.
template <typename SignFn>
double raw_rate(SignFn sign, int threads, double seconds) {
  std::atomic<long> count{0};
  std::vector<std::thread> ts;
  auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      key::Bytes data(64, 0x5a);
      long n = 0;
      while (Clock::now() < deadline) {
        if (!sign(data)) die("raw signature failed");
        ++n;
      }
      count += n;
    });
  }
  for (auto& t : ts) t.join();
  return static_cast<double>(count.load()) / std::chrono::duration<double>(Clock::now() - start).count();
}

// A bare Unix-socket round trip between two threads, in microseconds.
double socket_roundtrip_us(double seconds) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
  std::thread echo([fd = sv[1]] {
    uint8_t buf[128];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      if (!write_all(fd, buf, static_cast<size_t>(n))) break;
    }
  });
  uint8_t msg[100] = {};
  long n = 0;
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (!write_all(sv[0], msg, sizeof msg) || !read_all(sv[0], msg, sizeof msg)) die("echo");
    ++n;
  }
  double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / static_cast<double>(n);
  ::shutdown(sv[0], SHUT_RDWR);
  ::close(sv[0]);
  echo.join();
  ::close(sv[1]);
  return us;
}

// The least an agent process does per signature, as a second, measured
// ceiling: a forked process that waits in epoll, reads one request, signs its
// data with the shielded key and writes the answer; no key lookup,
// constraints, confirmation or logging. Serves one connection at a time on
// `socket`; the returned AgentProcess stops it.
void start_minimal_signer(AgentProcess& a, const key::ShieldedKey& k, key::SignatureAlgorithm alg) {
  int listener = listen_on(a.socket);
  a.pid = ::fork();
  if (a.pid < 0) die("fork");
  if (a.pid > 0) {
    ::close(listener);
    return;
  }
  int ep = ::epoll_create1(0);
  while (true) {
    int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    while (true) {
      epoll_event out{};
      if (::epoll_wait(ep, &out, 1, -1) != 1) continue;
      key::Bytes frame;
      if (!read_frame(fd, frame)) break;
      auto req = agent::parse_request(std::span<const uint8_t>(frame).subspan(4));
      if (!req.ok() || !std::holds_alternative<agent::SignRequest>(*req)) break;
      auto sig = k.sign(std::get<agent::SignRequest>(*req).data, alg);
      if (!sig.ok()) break;
      key::Bytes answer = agent::frame(agent::serialize_response(agent::SignResponse{std::move(*sig)}));
      if (!write_all(fd, answer.data(), answer.size())) break;
    }
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
  }
}

long rss_kib(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return -1;
}

int load_run(const std::string& dir) {
  AgentProcess tessera{"tessera-agent", dir + "/tessera.sock"};
  start_agent(tessera, {g_tessera_agent, "-D", "-a", tessera.socket});
  auto k = *key::PrivateKey::generate(key::KeyType::kEd25519);
  add_key(tessera.socket, k);
  constexpr int kConnections = 64, kSignatures = 500;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      int fd = connect_to(tessera.socket);
      if (fd < 0) {
        errors += kSignatures;
        return;
      }
      for (int i = 0; i < kSignatures; ++i) {
        key::Bytes data = {static_cast<uint8_t>(c), static_cast<uint8_t>(i), static_cast<uint8_t>(i >> 8)};
        auto resp = roundtrip(fd, agent::SignRequest{k.public_key().blob(), data, 0});
        auto* sig = std::get_if<agent::SignResponse>(&resp);
        if (sig == nullptr || !k.public_key().verify(sig->signature, data).ok()) ++errors;
      }
      ::close(fd);
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("load: %d connections x %d signatures: %d errors, %.2f s (%.0f/s), agent RSS %ld KiB (peak %ld KiB)\n",
              kConnections, kSignatures, errors.load(), secs, kConnections * kSignatures / secs,
              rss_kib(tessera.pid, "VmRSS:"), rss_kib(tessera.pid, "VmHWM:"));
  return errors.load() == 0 ? 0 : 1;
}

// The fast key's latency while `slow_count` slow signatures are pipelined on
// another connection; and how long those took.
struct MixedResult {
  double slow_seconds = 0;
  long fast_signatures = 0;
  double p50_us = 0;
  double p99_us = 0;
};

MixedResult mixed_latency(const std::string& socket, const key::PrivateKey& slow, const key::PrivateKey& fast,
                          int slow_count) {
  int busy = connect_to(socket);
  int other = connect_to(socket);
  if (busy < 0 || other < 0) die("connect " + socket);
  std::atomic<bool> slow_done{false};
  MixedResult result;
  auto start = Clock::now();
  std::thread reader([&] {
    for (int i = 0; i < slow_count; ++i) {
      key::Bytes frame;
      if (!read_frame(busy, frame)) die("slow answers ended early");
      auto parsed = agent::parse_response(std::span<const uint8_t>(frame).subspan(4));
      if (!parsed.ok() || !std::holds_alternative<agent::SignResponse>(*parsed)) die("slow signature refused");
    }
    result.slow_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    slow_done = true;
  });
  key::Bytes batch;
  for (int i = 0; i < slow_count; ++i) {
    key::Bytes framed = agent::frame(agent::serialize_request(
        agent::SignRequest{slow.public_key().blob(), key::Bytes(32, 0x5a), agent::kSignFlagRsaSha512}));
    batch.insert(batch.end(), framed.begin(), framed.end());
  }
  if (!write_all(busy, batch.data(), batch.size())) die("write slow requests");
  std::vector<double> latencies;
  while (!slow_done) {
    auto sent = Clock::now();
    auto resp = roundtrip(other, agent::SignRequest{fast.public_key().blob(), key::Bytes(32, 0x33), 0});
    if (!std::holds_alternative<agent::SignResponse>(resp)) die("fast signature refused");
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
  }
  reader.join();
  ::close(busy);
  ::close(other);
  std::sort(latencies.begin(), latencies.end());
  result.fast_signatures = static_cast<long>(latencies.size());
  if (!latencies.empty()) {
    result.p50_us = latencies[latencies.size() / 2];
    result.p99_us = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  }
  return result;
}

int mixed_run(const std::string& dir) {
  AgentProcess tessera{"tessera-agent", dir + "/tessera.sock"};
  AgentProcess openssh{"ssh-agent", dir + "/openssh.sock"};
  start_agent(tessera, {g_tessera_agent, "-D", "-a", tessera.socket});
  start_agent(openssh, {"/usr/bin/ssh-agent", "-D", "-a", openssh.socket});
  auto slow = key::PrivateKey::generate(key::KeyType::kRsa, 4096);
  auto fast = key::PrivateKey::generate(key::KeyType::kEd25519);
  if (!slow.ok() || !fast.ok()) die("key generation failed");
  constexpr int kSlowSignatures = 100;
  std::printf("ed25519 signatures on one connection while another pipelines %d RSA-4096 signatures\n",
              kSlowSignatures);
  for (AgentProcess* a : {&tessera, &openssh}) {
    add_key(a->socket, *slow);
    add_key(a->socket, *fast);
    MixedResult r = mixed_latency(a->socket, *slow, *fast, kSlowSignatures);
    std::printf("%-13s: RSA batch %.2f s; ed25519 meanwhile: %ld signatures, p50 %.0f us, p99 %.0f us\n",
                a->name.c_str(), r.slow_seconds, r.fast_signatures, r.p50_us, r.p99_us);
  }
  return 0;
}

// Adds `keys` through one connection; returns the seconds the first and the
// second half took.
std::pair<double, double> add_keys(const std::string& socket, const std::vector<key::PrivateKey>& keys) {
  int fd = connect_to(socket);
  if (fd < 0) die("connect " + socket);
  double halves[2] = {0, 0};
  for (size_t half = 0; half < 2; ++half) {
    auto start = Clock::now();
    for (size_t i = half * keys.size() / 2; i < (half + 1) * keys.size() / 2; ++i) {
      agent::AddIdentity add{keys[i], std::nullopt, "bench key " + std::to_string(i), {}};
      if (!std::holds_alternative<agent::Success>(roundtrip(fd, add))) die("agent refused key " + std::to_string(i));
    }
    halves[half] = std::chrono::duration<double>(Clock::now() - start).count();
  }
  ::close(fd);
  return {halves[0], halves[1]};
}

struct ListResult {
  size_t listed = 0;
  size_t bytes = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// `rounds` list-identities round trips on one connection.
ListResult time_listing(const std::string& socket, int rounds) {
  int fd = connect_to(socket);
  if (fd < 0) die("connect " + socket);
  key::Bytes request = agent::frame(agent::serialize_request(agent::RequestIdentities{}));
  std::vector<double> latencies;
  ListResult result;
  key::Bytes frame;
  for (int i = 0; i < rounds; ++i) {
    auto sent = Clock::now();
    if (!write_all(fd, request.data(), request.size())) die("write to agent failed");
    if (!read_frame(fd, frame)) die("agent closed the connection");
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
  }
  ::close(fd);
  // The last answer, parsed without the client's size cap (ssh-agent sends
  // every key, however large the answer).
  std::span<const uint8_t> payload = std::span<const uint8_t>(frame).subspan(4);
  if (payload.size() < 5 || payload[0] != static_cast<uint8_t>(agent::MessageType::kIdentitiesAnswer)) {
    die("not an identities answer");
  }
  result.listed = (size_t{payload[1]} << 24) | (size_t{payload[2]} << 16) | (size_t{payload[3]} << 8) | payload[4];
  result.bytes = payload.size();
  std::sort(latencies.begin(), latencies.end());
  result.p50_us = latencies[latencies.size() / 2];
  result.p99_us = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  return result;
}

int many_run(const std::string& dir, int count) {
  AgentProcess tessera{"tessera-agent", dir + "/tessera.sock"};
  AgentProcess openssh{"ssh-agent", dir + "/openssh.sock"};
  start_agent(tessera, {g_tessera_agent, "-D", "-a", tessera.socket});
  start_agent(openssh, {"/usr/bin/ssh-agent", "-D", "-a", openssh.socket});
  std::vector<key::PrivateKey> keys;
  keys.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto k = key::PrivateKey::generate(key::KeyType::kEd25519);
    if (!k.ok()) die("key generation failed");
    keys.push_back(std::move(*k));
  }
  constexpr int kRounds = 200;
  std::printf("%d ed25519 keys in each agent; %d list-identities round trips on one connection\n", count, kRounds);
  std::printf("%-13s | %-19s | %-30s | %-22s\n", "agent", "add: 1st, 2nd half", "list: p50 p99 us (keys, bytes)",
              "RSS KiB: empty, full");
  struct Figures {
    double p50 = 0;
    long rss = 0;
  } figures[2];
  int n = 0;
  for (AgentProcess* a : {&tessera, &openssh}) {
    long empty = rss_kib(a->pid, "VmRSS:");
    auto [first, second] = add_keys(a->socket, keys);
    ListResult listed = time_listing(a->socket, kRounds);
    long full = rss_kib(a->pid, "VmRSS:");
    std::printf("%-13s | %7.2f s %7.2f s | %7.0f %7.0f (%5zu, %6zu) | %9ld %10ld\n", a->name.c_str(), first, second,
                listed.p50_us, listed.p99_us, listed.listed, listed.bytes, empty, full);
    std::fflush(stdout);
    figures[n++] = Figures{listed.p50_us, full};
  }
  std::printf("tessera-agent / ssh-agent: list p50 %.3gx, RSS %.2fx (an answer holds at most %zu bytes in "
              "tessera-agent, as clients refuse larger ones)\n",
              figures[0].p50 / figures[1].p50, static_cast<double>(figures[0].rss) / static_cast<double>(figures[1].rss),
              agent::kMaxMessageBytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  bool load = false;
  bool mixed = false;
  int many = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--agent" && i + 1 < argc) {
      g_tessera_agent = argv[++i];
    } else if (a == "--many" && i + 1 < argc) {
      many = std::max(2, std::stoi(argv[++i]));
    } else if (a == "--load") {
      load = true;
    } else if (a == "--mixed") {
      mixed = true;
    } else {
      std::fprintf(stderr, "usage: agent_bench [--seconds S] [--agent PATH] [--load | --mixed | --many N]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  ScratchDir scratch("tessera-bench");
  const std::string& dir = scratch.path();
  if (load) return load_run(dir);
  if (mixed) return mixed_run(dir);
  if (many > 0) return many_run(dir, many);

  AgentProcess tessera{"tessera-agent", dir + "/tessera.sock"};
  AgentProcess openssh{"ssh-agent", dir + "/openssh.sock"};
  start_agent(tessera, {g_tessera_agent, "-D", "-a", tessera.socket});
  start_agent(openssh, {"/usr/bin/ssh-agent", "-D", "-a", openssh.socket});

  unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  double rtt = socket_roundtrip_us(1.0);
  std::printf("bare Unix-socket round trip: %.1f us; %u CPUs; %.1f s per figure; %s\n", rtt, cpus, seconds,
              g_tessera_agent.c_str());

  struct Case {
    const char* name;
    key::KeyType type;
    unsigned bits;
  };
  for (const Case& c : {Case{"ed25519", key::KeyType::kEd25519, 0}, Case{"ecdsa-p256", key::KeyType::kEcdsaP256, 0},
                        Case{"rsa-3072", key::KeyType::kRsa, 3072}}) {
    auto k = key::PrivateKey::generate(c.type, c.bits);
    if (!k.ok()) die(k.error().message());
    add_key(tessera.socket, *k);
    add_key(openssh.socket, *k);
    auto alg = c.type == key::KeyType::kRsa ? key::SignatureAlgorithm::kRsaSha256 : key::SignatureAlgorithm::kDefault;
    auto raw_sign = [&](const key::Bytes& d) { return k->sign(d, alg).ok(); };
    auto shielded = key::ShieldedKey::shield(*k);
    auto shielded_sign = [&](const key::Bytes& d) { return shielded->sign(d, alg).ok(); };
    double raw1 = raw_rate(raw_sign, 1, std::min(seconds, 1.5));
    double raw_all = raw_rate(raw_sign, static_cast<int>(cpus), std::min(seconds, 1.5));
    double shield1 = raw_rate(shielded_sign, 1, std::min(seconds, 1.5));
    double ceiling = 1e6 / (rtt + 1e6 / raw1);
    double shield_cost_us = 1e6 / shield1 - 1e6 / raw1;
    // 1 / (1/ceiling + shielding cost per signature)
    double shielded_ceiling = 1e6 / (1e6 / ceiling + shield_cost_us);
    AgentProcess minimal{"minimal signer", dir + "/minimal-" + c.name + ".sock"};
    start_minimal_signer(minimal, *shielded, alg);
    double measured_ceiling = run_signing(minimal.socket, *k, 1, seconds).per_second;
    std::printf("\n%s: raw sign %.0f/s (1 thread), %.0f/s (%u); shielding +%.1f us/sig; 1-conn ceiling %.0f/s, "
                "shielded %.0f/s; minimal signing process %.0f/s (%.1f%% of the shielded ceiling)\n",
                c.name, raw1, raw_all, cpus, shield_cost_us, ceiling, shielded_ceiling, measured_ceiling,
                100 * measured_ceiling / shielded_ceiling);
    std::printf("%5s | %-24s | %-24s | %7s | %s\n", "conns", "tessera-agent /s p50 p99", "ssh-agent /s p50 p99",
                "ratio", "% of shielded ceiling: tessera, ssh; tessera % of minimal");
    for (int conns : {1, 4}) {
      RunResult t = run_signing(tessera.socket, *k, conns, seconds);
      RunResult o = run_signing(openssh.socket, *k, conns, seconds);
      std::printf("%5d | %8.0f %7.0f %7.0f | %8.0f %7.0f %7.0f | %6.2fx |", conns, t.per_second, t.p50_us, t.p99_us,
                  o.per_second, o.p50_us, o.p99_us, o.per_second > 0 ? t.per_second / o.per_second : 0.0);
      if (conns == 1) {
        std::printf(" %5.1f%% %5.1f%%; %5.1f%%", 100 * t.per_second / shielded_ceiling,
                    100 * o.per_second / shielded_ceiling, 100 * t.per_second / measured_ceiling);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  return 0;
}
