#include "pcsc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace tessera::test {

namespace {

// Where Debian's vicc finds its package, and the pycryptodome it wants
// under the name Crypto (TEST-PEERS.md).
constexpr const char* kViccPythonPath = "/usr/lib/python3/site-packages/virtualsmartcard";
constexpr const char* kCryptodome = "/usr/lib/python3/dist-packages/Cryptodome";
constexpr const char* kPython = "/usr/bin/python3";
constexpr int kStartAttempts = 4;
constexpr int kStartTimeoutMs = 10'000;

// Whether a TCP port is free on every address (vpcd listens on 0.0.0.0).
bool tcp_port_free(int port) {
  if (port <= 0 || port > 65535) return false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return free;
}

// Two free ports in a row: vpcd serves two readers, on PORT and PORT + 1.
int free_port_pair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int port = free_tcp_port();
    if (port > 0 && port < 65535 && tcp_port_free(port) && tcp_port_free(port + 1)) return port;
  }
  return 0;
}

std::string read_if_there(const std::string& path) {
  return std::filesystem::exists(path) ? read_file(path) : std::string("(no output)\n");
}

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

std::string VirtualReader::unavailable() {
  for (const char* path : {kPcscdPath, kViccPath, kVpcdDriver, kPython}) {
    if (!std::filesystem::exists(path)) {
      return std::string(path) +
             " is missing: install pcscd, vsmartcard-vpcd, vsmartcard-vpicc and python3-pycryptodome "
             "(scripts/install-deps.sh)";
    }
  }
  if (!std::filesystem::exists(kCryptodome)) return "python3-pycryptodome is not installed (vicc needs it)";
  if (!have_program("unshare")) return "unshare (util-linux) is not installed";
  return "";
}

VirtualReader::VirtualReader(std::string dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_ + "/run/pcscd");
  std::filesystem::create_directories(dir_ + "/reader.conf.d");
  std::filesystem::create_directories(dir_ + "/python");
  std::error_code ec;
  std::filesystem::create_directory_symlink(kCryptodome, dir_ + "/python/Crypto", ec);
  socket_ = dir_ + "/run/pcscd/pcscd.comm";
  start_pcscd();
}

VirtualReader::~VirtualReader() {
  vicc_.reset();
  pcscd_.reset();
}

bool VirtualReader::write_config() {
  port_ = free_port_pair();
  if (port_ == 0) return false;
  write_file(dir_ + "/reader.conf.d/vpcd", std::string("FRIENDLYNAME \"") + kVirtualReaderBase +
                                               "\"\n"
                                               "DEVICENAME /dev/null:" + std::to_string(port_) + "\n" +
                                               "LIBPATH " + kVpcdDriver + "\n" +
                                               "CHANNELID " + std::to_string(port_) + "\n",
             0644);
  return true;
}

bool VirtualReader::start_pcscd() {
  pcscd_.reset();
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    // A port taken meanwhile (or still held after a kill) gets a new pair.
    if ((port_ == 0 || attempt > 0 || !tcp_port_free(port_)) && !write_config()) continue;
    // pcscd 1.9.9 puts its socket in /run/pcscd whatever PCSCLITE_CSOCK_NAME
    // says: give it a /run of the test's own.
    std::string script = "mount --bind " + quoted(dir_ + "/run") + " /run && exec " + kPcscdPath +
                         " --foreground --config " + quoted(dir_ + "/reader.conf.d");
    std::vector<std::string> argv = {"unshare"};
    if (::geteuid() != 0) argv.insert(argv.end(), {"--user", "--map-root-user"});
    argv.insert(argv.end(), {"--mount", "sh", "-c", script});
    const std::string log = dir_ + "/pcscd-" + std::to_string(++pcscd_starts_) + ".log";
    pcscd_ = std::make_unique<BackgroundProcess>(argv, log);
    if (pcscd_->started() && wait_for_unix_socket(socket_, kStartTimeoutMs) &&
        wait_for_tcp_port(port_, kStartTimeoutMs)) {
      return true;
    }
    pcscd_.reset();
  }
  return false;
}

void VirtualReader::stop_pcscd() {
  if (pcscd_) pcscd_->stop();
  pcscd_.reset();
}

void VirtualReader::kill_pcscd() {
  if (pcscd_) pcscd_->signal(SIGKILL);
  pcscd_.reset();
}

bool VirtualReader::pcscd_running() const { return pcscd_ != nullptr && pcscd_->running(); }

bool VirtualReader::insert_card() {
  vicc_.reset();
  const std::string log = dir_ + "/vicc-" + std::to_string(++vicc_starts_) + ".log";
  vicc_ = std::make_unique<BackgroundProcess>(
      std::vector<std::string>{kPython, kViccPath, "--type", "iso7816", "--hostname", "127.0.0.1", "--port",
                               std::to_string(port_)},
      log,
      std::vector<std::string>{"PYTHONPATH=" + std::string(kViccPythonPath) + ":" + dir_ + "/python",
                               "PYTHONDONTWRITEBYTECODE=1"});
  return vicc_->started();
}

void VirtualReader::remove_card() {
  if (vicc_) vicc_->stop();
  vicc_.reset();
}

bool VirtualReader::wait_for_card(bool present) const {
  // pcsc-lite's API through ctypes (on Linux, DWORD and SCARDCONTEXT are
  // longs, and a reader state ends with 33 bytes of ATR).
  static constexpr const char* kScript = R"(import ctypes, sys, time
lib = ctypes.CDLL("libpcsclite.so.1")
class State(ctypes.Structure):
    _fields_ = [("reader", ctypes.c_char_p), ("user", ctypes.c_void_p), ("current", ctypes.c_ulong),
                ("event", ctypes.c_ulong), ("atr_len", ctypes.c_ulong), ("atr", ctypes.c_ubyte * 33)]
want = sys.argv[2] == "1"
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    ctx = ctypes.c_long()
    if lib.SCardEstablishContext(2, None, None, ctypes.byref(ctx)) == 0:
        state = State(sys.argv[1].encode(), None, 0, 0, 0)
        rv = lib.SCardGetStatusChange(ctx, 0, ctypes.byref(state), 1)
        lib.SCardReleaseContext(ctx)
        if rv == 0 and bool(state.event & 0x20) == want:
            sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
)";
  return run({kPython, "-c", kScript, reader(), present ? "1" : "0"}, {}, {env()}).exit_code == 0;
}

std::string VirtualReader::log() const {
  std::string out;
  for (int i = 1; i <= pcscd_starts_; ++i) {
    out += "--- pcscd (start " + std::to_string(i) + ", port " + std::to_string(port_) + "):\n" +
           read_if_there(dir_ + "/pcscd-" + std::to_string(i) + ".log");
  }
  for (int i = 1; i <= vicc_starts_; ++i) {
    out += "--- vicc (start " + std::to_string(i) + "):\n" + read_if_there(dir_ + "/vicc-" + std::to_string(i) + ".log");
  }
  return out;
}

}  // namespace tessera::test
