// Token signatures through an agent: tessera-agent (tessera-pkcs11-helper,
// several sessions per token) against OpenSSH's ssh-agent (ssh-pkcs11-helper,
// one request at a time), with raw C_Sign on the same SoftHSM2 key in the
// same run as the ceiling.
//
//   token_bench [--seconds S]
//
// The keys are the softhsm-fixtures tokens (made afresh in a temporary
// directory): EC P-256 (CKA_ID 03) and RSA-3072 (CKA_ID 02) on tessera-main.
// Each figure is signatures per second with 1 and with 4 connections sending
// sign requests back to back for S seconds (default 3), and the share of the
// raw one-session C_Sign rate that it reaches. Beside them, the minimal path:
// the same requests through a bare relay process to a bare signing process
// (token_bench run as each), what any agent that keeps token code in a
// process of its own must at least go through; tessera-agent's rate is also
// given as a % of it. --key, --conns and --tessera-only pick one figure (to
// profile it).
//
//   token_bench --many N [--label-length L] [--idle S]
//
// A token with N keys (softhsm-many-keys): how long each agent takes to add
// it, and the CPU each agent's PKCS#11 helper uses while idle.
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench_agent.h"
#include "tessera/agent/protocol.h"
#include "tessera/key/key.h"

namespace {

using namespace tessera;
using namespace tessera::bench;
using Clock = std::chrono::steady_clock;

constexpr const char* kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kPin = "1234";
constexpr const char* kToken = "tessera-main";

void add_provider(const std::string& socket) {
  int fd = connect_to(socket);
  if (fd < 0) die("connect " + socket);
  agent::SmartcardRequest add{true, kSoftHsm, key::SecretBytes::copy_of(std::string_view(kPin)), {}};
  auto resp = roundtrip(fd, agent::Request{std::move(add)});
  ::close(fd);
  if (!std::holds_alternative<agent::Success>(resp)) die("the agent at " + socket + " refused the provider");
}

// The blob of the listed key whose comment names this object (tessera lists
// PKCS#11 URIs), or, failing that, the one of this type and size.
key::Bytes find_blob(const std::string& socket, const std::string& object, key::KeyType type, unsigned bits) {
  int fd = connect_to(socket);
  auto resp = roundtrip(fd, agent::RequestIdentities{});
  ::close(fd);
  auto* list = std::get_if<agent::IdentitiesAnswer>(&resp);
  if (list == nullptr) die("no identities from " + socket);
  for (const auto& id : list->identities) {
    if (id.comment.find("object=" + object + ";") != std::string::npos ||
        id.comment.ends_with("object=" + object)) {
      return id.key_blob;
    }
  }
  for (const auto& id : list->identities) {
    auto k = key::PublicKey::from_blob(id.key_blob);
    if (k.ok() && k->type() == type && (bits == 0 || k->bits() == bits)) return id.key_blob;
  }
  die("no " + object + " key in " + socket);
}

// Raw C_Sign on one session per thread, logged in once.
class RawToken {
 public:
  RawToken() {
    void* lib = ::dlopen(kSoftHsm, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) die(std::string("dlopen: ") + ::dlerror());
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(lib, "C_GetFunctionList"));
    if (get == nullptr || get(&p11_) != CKR_OK) die("C_GetFunctionList");
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    if (p11_->C_Initialize(&args) != CKR_OK) die("C_Initialize");
    CK_ULONG n = 0;
    p11_->C_GetSlotList(CK_TRUE, nullptr, &n);
    std::vector<CK_SLOT_ID> slots(n);
    p11_->C_GetSlotList(CK_TRUE, slots.data(), &n);
    for (CK_SLOT_ID slot : slots) {
      CK_TOKEN_INFO info;
      if (p11_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
      std::string label(reinterpret_cast<char*>(info.label), sizeof info.label);
      if (label.substr(0, label.find_last_not_of(' ') + 1) == kToken) slot_ = slot;
    }
    CK_SESSION_HANDLE login;
    if (p11_->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &login) != CKR_OK) {
      die("C_OpenSession");
    }
    CK_RV rv = p11_->C_Login(login, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(kPin)), 4);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) die("C_Login");
  }

  // A session of its own with one key, for one thread: sign() signs the same
  // input_size bytes each time and returns the signature's bytes.
  class Signer {
   public:
    Signer(RawToken& token, uint8_t cka_id, CK_MECHANISM_TYPE mechanism, size_t input_size)
        : p11_(token.p11_), mech_{mechanism, nullptr, 0}, input_(input_size, 0x5a), sig_(1024) {
      if (p11_->C_OpenSession(token.slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &session_) != CKR_OK) {
        die("C_OpenSession");
      }
      key_ = token.find_private_key(session_, cka_id);
    }
    ~Signer() { p11_->C_CloseSession(session_); }
    std::span<const uint8_t> sign() {
      CK_ULONG len = sig_.size();
      if (p11_->C_SignInit(session_, &mech_, key_) != CKR_OK ||
          p11_->C_Sign(session_, input_.data(), input_.size(), sig_.data(), &len) != CKR_OK) {
        die("raw C_Sign failed");
      }
      return std::span(sig_).first(len);
    }

   private:
    CK_FUNCTION_LIST_PTR p11_;
    CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE key_ = CK_INVALID_HANDLE;
    CK_MECHANISM mech_;
    std::vector<uint8_t> input_, sig_;
  };

  // Signatures per second with `threads` sessions signing in parallel.
  double rate(uint8_t cka_id, CK_MECHANISM_TYPE mechanism, size_t input_size, int threads, double seconds) {
    std::atomic<long> count{0};
    std::vector<std::thread> ts;
    auto start = Clock::now();
    auto deadline = start + std::chrono::duration<double>(seconds);
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&] {
        Signer signer(*this, cka_id, mechanism, input_size);
        long n = 0;
        while (Clock::now() < deadline) {
          signer.sign();
          ++n;
        }
        count += n;
      });
    }
    for (auto& t : ts) t.join();
    return static_cast<double>(count.load()) / std::chrono::duration<double>(Clock::now() - start).count();
  }

 private:
  CK_OBJECT_HANDLE find_private_key(CK_SESSION_HANDLE s, uint8_t cka_id) {
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, &cka_id, 1}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG found = 0;
    p11_->C_FindObjectsInit(s, tmpl, 2);
    p11_->C_FindObjects(s, &h, 1, &found);
    p11_->C_FindObjectsFinal(s);
    if (found != 1) die("no private key with CKA_ID " + std::to_string(cka_id));
    return h;
  }

  CK_FUNCTION_LIST_PTR p11_ = nullptr;
  CK_SLOT_ID slot_ = 0;
};

// CPU time (user + system) a process has used, in seconds.
double cpu_seconds(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[2048];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  unsigned long utime = 0, stime = 0;
  if (p == nullptr || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The direct children of a process.
std::vector<pid_t> children(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::FILE* f = std::fopen((task.path() / "children").c_str(), "r");
    if (f == nullptr) continue;
    int child;
    while (std::fscanf(f, "%d", &child) == 1) out.push_back(child);
    std::fclose(f);
  }
  return out;
}

// CPU time and context switches of a process and its children (every
// thread), to tell what a signature costs apart from the machine's noise.
struct Usage {
  double cpu = 0;
  long switches = 0;
};
long context_switches(pid_t pid) {
  long total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::FILE* f = std::fopen((task.path() / "status").c_str(), "r");
    if (f == nullptr) continue;
    char line[256];
    long n;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1 ||
          std::sscanf(line, "nonvoluntary_ctxt_switches: %ld", &n) == 1) {
        total += n;
      }
    }
    std::fclose(f);
  }
  return total;
}
Usage usage_of(pid_t pid, bool with_children) {
  Usage u{cpu_seconds(pid), context_switches(pid)};
  if (with_children) {
    for (pid_t child : children(pid)) {
      u.cpu += cpu_seconds(child);
      u.switches += context_switches(child);
    }
  }
  return u;
}

// A token with `count` P-256 keys (softhsm-many-keys): the time each agent
// takes to add it (what ssh-add -s waits for), and the CPU its PKCS#11
// helper burns while idle for `idle` seconds (tessera-agent polls every 2 s).
int many_keys(int count, int label_length, double idle) {
  ScratchDir scratch("tessera-token-bench");
  const std::string& dir = scratch.path();
  std::filesystem::create_directories(dir + "/tokens");
  const std::string conf = dir + "/softhsm2.conf";
  std::FILE* f = std::fopen(conf.c_str(), "w");
  if (f == nullptr) die("cannot write " + conf);
  std::fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n", dir.c_str());
  std::fclose(f);
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  std::string init = "softhsm2-util --init-token --free --label many --pin 1234 --so-pin 12345678 >/dev/null";
  if (std::system(init.c_str()) != 0) die("softhsm2-util --init-token failed");
  std::string make = std::string(TESSERA_BIN_DIR) + "/softhsm-many-keys " + kSoftHsm + " many 1234 " +
                     std::to_string(count) + " " + std::to_string(label_length);
  if (std::system(make.c_str()) != 0) die("softhsm-many-keys failed");

  AgentProcess tessera{"tessera-agent", dir + "/tessera.sock"};
  AgentProcess openssh{"ssh-agent", dir + "/openssh.sock"};
  start_agent(tessera, {std::string(TESSERA_BIN_DIR) + "/tessera-agent", "-D", "-a", tessera.socket});
  start_agent(openssh, {"/usr/bin/ssh-agent", "-D", "-a", openssh.socket});
  auto timed_add = [](const std::string& socket) {
    auto start = Clock::now();
    add_provider(socket);
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  const double t_add = timed_add(tessera.socket);
  const double o_add = timed_add(openssh.socket);
  std::printf("token with %d P-256 keys, %d-character labels\n\n", count, label_length);
  std::printf("%-28s | %13s | %13s | %s\n", "", "tessera-agent", "ssh-agent", "ratio (ssh-agent / tessera)");
  std::printf("%-28s | %11.2f s | %11.2f s | %.2fx\n", "add the provider (ssh-add -s)", t_add, o_add, o_add / t_add);
  std::fflush(stdout);

  auto helper_cpu = [](const AgentProcess& agent) {
    double total = 0;
    for (pid_t child : children(agent.pid)) total += cpu_seconds(child);
    return total;
  };
  const double t_before = helper_cpu(tessera), o_before = helper_cpu(openssh);
  const double ta_before = cpu_seconds(tessera.pid), oa_before = cpu_seconds(openssh.pid);
  std::this_thread::sleep_for(std::chrono::duration<double>(idle));
  auto percent = [idle](double used) { return 100 * used / idle; };
  std::printf("%-28s | %10.2f %% | %10.2f %% | (%.0f s idle; tessera-agent polls every 2 s, ssh-agent never)\n",
              "helper CPU while idle", percent(helper_cpu(tessera) - t_before),
              percent(helper_cpu(openssh) - o_before), idle);
  std::printf("%-28s | %10.2f %% | %10.2f %% |\n", "agent CPU while idle", percent(cpu_seconds(tessera.pid) - ta_before),
              percent(cpu_seconds(openssh.pid) - oa_before));
  return 0;
}

// ---- The least a design with an isolated token process does per signature:
// the client's request crosses to one process (the agent's place) and on to
// a second (the helper's), which signs on a session of its own; the answer
// comes back the same way. Each connection gets a thread in each process,
// with blocking reads and writes; nothing is parsed or checked. token_bench
// runs itself as both processes (--minimal-relay, --minimal-signer).

// Serves each connection on `listener` with `serve(fd)` on a thread of its own, for ever.
template <typename Serve>
[[noreturn]] void serve_connections(int listener, Serve serve) {
  while (true) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::thread([fd, serve] {
      serve(fd);
      ::close(fd);
    }).detach();
  }
}

[[noreturn]] void minimal_relay(const std::string& socket, const std::string& signer_socket) {
  serve_connections(listen_on(socket), [signer_socket](int client) {
    int signer = connect_to(signer_socket);
    key::Bytes frame;
    while (signer >= 0 && read_frame(client, frame) && write_all(signer, frame.data(), frame.size()) &&
           read_frame(signer, frame) && write_all(client, frame.data(), frame.size())) {
    }
    if (signer >= 0) ::close(signer);
  });
}

[[noreturn]] void minimal_signer(const std::string& socket, uint8_t cka_id, CK_MECHANISM_TYPE mechanism,
                                 size_t input_size) {
  static RawToken token;
  serve_connections(listen_on(socket), [cka_id, mechanism, input_size](int relay) {
    RawToken::Signer signer(token, cka_id, mechanism, input_size);
    key::Bytes request;
    while (read_frame(relay, request)) {
      std::span<const uint8_t> sig = signer.sign();
      key::Bytes answer = agent::frame(agent::serialize_response(agent::SignResponse{key::Bytes(sig.begin(), sig.end())}));
      if (!write_all(relay, answer.data(), answer.size())) break;
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--minimal-relay") minimal_relay(argv[2], argv[3]);
  if (argc == 6 && std::string(argv[1]) == "--minimal-signer") {
    minimal_signer(argv[2], static_cast<uint8_t>(std::stoi(argv[3])), std::stoul(argv[4]), std::stoul(argv[5]));
  }
  double seconds = 3;
  int many = 0;
  int label_length = 32;
  double idle = 10;
  std::string only_key;      // --key: one case only
  int only_conns = 0;        // --conns: one connection count only
  bool tessera_only = false; // --tessera-only: skip ssh-agent (for profiling)
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (a == "--many" && i + 1 < argc) {
      many = std::stoi(argv[++i]);
    } else if (a == "--label-length" && i + 1 < argc) {
      label_length = std::stoi(argv[++i]);
    } else if (a == "--idle" && i + 1 < argc) {
      idle = std::stod(argv[++i]);
    } else if (a == "--key" && i + 1 < argc) {
      only_key = argv[++i];
    } else if (a == "--conns" && i + 1 < argc) {
      only_conns = std::stoi(argv[++i]);
    } else if (a == "--tessera-only") {
      tessera_only = true;
    } else {
      std::fprintf(stderr, "usage: token_bench [--seconds S] [--key ec-p256|rsa-3072] [--conns N] [--tessera-only]\n"
                           "       token_bench --many N [--label-length L] [--idle S]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (!std::filesystem::exists(kSoftHsm)) die("SoftHSM2 is not installed (scripts/install-deps.sh)");
  if (many > 0) return many_keys(many, label_length, idle);
  ScratchDir scratch("tessera-token-bench");
  const std::string& dir = scratch.path();

  std::string make = std::string(TESSERA_SOURCE_DIR) + "/softhsm-fixtures/make-tokens.sh " + dir + " >/dev/null";
  if (std::system(make.c_str()) != 0) die("softhsm-fixtures/make-tokens.sh failed");
  std::string conf = dir + "/softhsm2.conf";
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);  // for the raw run; the agents get it too

  AgentProcess tessera{"tessera-agent", dir + "/tessera.sock"};
  AgentProcess openssh{"ssh-agent", dir + "/openssh.sock"};
  start_agent(tessera, {std::string(TESSERA_BIN_DIR) + "/tessera-agent", "-D", "-a", tessera.socket});
  start_agent(openssh, {"/usr/bin/ssh-agent", "-D", "-a", openssh.socket});
  add_provider(tessera.socket);
  add_provider(openssh.socket);
  RawToken raw;

  std::printf("SoftHSM2 token keys, %.1f s per figure; %% = share of raw C_Sign on one session; minimal path: "
              "client -> relay process -> signing process and back, nothing else (tessera %% of it last)\n\n",
              seconds);
  std::printf("%-10s %5s | %-26s | %-26s | %8s | %-17s | %s\n", "key", "conns", "tessera-agent /s p50 p99 %",
              "ssh-agent /s p50 p99 %", "ratio", "raw C_Sign /s 1, 2", "minimal path /s % tessera%");
  struct Case {
    const char* name;
    const char* object;
    uint8_t cka_id;
    key::KeyType type;
    unsigned bits;
    CK_MECHANISM_TYPE mechanism;
    size_t input;
    uint32_t flags;
  };
  for (const Case& c : {Case{"ec-p256", "ec256", 0x03, key::KeyType::kEcdsaP256, 0, CKM_ECDSA, 32, 0},
                        Case{"rsa-3072", "rsa3072", 0x02, key::KeyType::kRsa, 3072, CKM_RSA_PKCS, 51,
                             agent::kSignFlagRsaSha256}}) {
    if (!only_key.empty() && only_key != c.name) continue;
    key::Bytes blob = find_blob(tessera.socket, c.object, c.type, c.bits);
    double raw1 = raw.rate(c.cka_id, c.mechanism, c.input, 1, std::min(seconds, 2.0));
    double raw2 = raw.rate(c.cka_id, c.mechanism, c.input, 2, std::min(seconds, 2.0));
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    AgentProcess signer{"minimal signer", dir + "/minimal-signer-" + c.name + ".sock"};
    AgentProcess relay{"minimal relay", dir + "/minimal-relay-" + c.name + ".sock"};
    start_agent(signer, {self, "--minimal-signer", signer.socket, std::to_string(c.cka_id), std::to_string(c.mechanism),
                         std::to_string(c.input)});
    start_agent(relay, {self, "--minimal-relay", relay.socket, signer.socket});
    for (int conns : {1, 4}) {
      if (only_conns != 0 && conns != only_conns) continue;
      const Usage before_agent = usage_of(tessera.pid, false), before_all = usage_of(tessera.pid, true);
      RunResult t = run_signing(tessera.socket, blob, c.flags, conns, seconds);
      const Usage after_agent = usage_of(tessera.pid, false), after_all = usage_of(tessera.pid, true);
      RunResult o = tessera_only ? RunResult{} : run_signing(openssh.socket, blob, c.flags, conns, seconds);
      RunResult m = tessera_only ? RunResult{} : run_signing(relay.socket, blob, c.flags, conns, seconds);
      std::printf("%-10s %5d | %8.0f %6.0f %6.0f %4.0f%% | %8.0f %6.0f %6.0f %4.0f%% | %7.2fx | %8.0f %8.0f | %8.0f %4.0f%% "
                  "%4.0f%%\n",
                  c.name, conns, t.per_second, t.p50_us, t.p99_us, 100 * t.per_second / raw1, o.per_second, o.p50_us,
                  o.p99_us, 100 * o.per_second / raw1, o.per_second > 0 ? t.per_second / o.per_second : 0.0, raw1,
                  raw2, m.per_second, 100 * m.per_second / raw1, m.per_second > 0 ? 100 * t.per_second / m.per_second : 0.0);
      if (tessera_only && t.per_second > 0) {
        const double sigs = t.per_second * seconds;
        const double agent_cpu = after_agent.cpu - before_agent.cpu;
        const double helper_cpu = after_all.cpu - before_all.cpu - agent_cpu;
        std::printf("%16s | per signature: agent %.0f us CPU, helper %.0f us CPU (raw C_Sign %.0f us), "
                    "%.1f context switches\n",
                    "", 1e6 * agent_cpu / sigs, 1e6 * helper_cpu / sigs, 1e6 / raw1,
                    static_cast<double>(after_all.switches - before_all.switches) / sigs);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
