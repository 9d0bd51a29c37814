// The CTAPHID side of the simulated authenticator: reports over a unix
// socket, channels, message assembly, keepalives while waiting for a touch,
// cancel, and the transport-level faults.
#include "simulator.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "authenticator.h"

namespace tessera::fidosim {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kReportLen = 64;
constexpr size_t kInitDataLen = kReportLen - 7;
constexpr size_t kContDataLen = kReportLen - 5;
constexpr size_t kMaxMessageLen = kInitDataLen + 128 * kContDataLen;  // 7609
constexpr uint32_t kBroadcastCid = 0xffffffff;
constexpr milliseconds kPollInterval(100);
constexpr milliseconds kContinuationTimeout(500);
constexpr milliseconds kKeepaliveInterval(100);
constexpr size_t kOversizedReplyLen = 3000;  // over libfido2's 2048-byte limit, under CTAPHID's 7609

// CTAPHID commands (without the init-packet bit).
constexpr uint8_t kCmdPing = 0x01;
constexpr uint8_t kCmdInit = 0x06;
constexpr uint8_t kCmdWink = 0x08;
constexpr uint8_t kCmdCbor = 0x10;
constexpr uint8_t kCmdCancel = 0x11;
constexpr uint8_t kCmdKeepalive = 0x3b;
constexpr uint8_t kCmdError = 0x3f;
constexpr uint8_t kHidErrInvalidCmd = 0x01;
constexpr uint8_t kHidErrInvalidLen = 0x03;
constexpr uint8_t kHidErrInvalidSeq = 0x04;
constexpr uint8_t kHidErrMsgTimeout = 0x05;
constexpr uint8_t kHidErrInvalidChannel = 0x0b;
constexpr uint8_t kKeepaliveProcessing = 1;
constexpr uint8_t kKeepaliveUpNeeded = 2;
constexpr uint8_t kCapWink = 0x01;
constexpr uint8_t kCapCbor = 0x04;
constexpr uint8_t kCapNoMsg = 0x08;

uint32_t cid_of(const uint8_t* r) {
  return (uint32_t{r[0]} << 24) | (uint32_t{r[1]} << 16) | (uint32_t{r[2]} << 8) | uint32_t{r[3]};
}
void put_cid(uint8_t* r, uint32_t cid) {
  r[0] = static_cast<uint8_t>(cid >> 24);
  r[1] = static_cast<uint8_t>(cid >> 16);
  r[2] = static_cast<uint8_t>(cid >> 8);
  r[3] = static_cast<uint8_t>(cid);
}

// One host connection: a "USB attachment" of the authenticator.
class Connection {
 public:
  Connection(int fd, Authenticator& auth, const std::atomic<bool>& stop) : fd_(fd), auth_(auth), stop_(stop) {}
  ~Connection() { ::close(fd_); }

  void run() {
    auth_.count_connection();
    while (!stop_ && !closed_) {
      uint8_t report[kReportLen];
      if (!read_report(report, kPollInterval)) continue;
      handle_report(report);
    }
  }

 private:
  // False on timeout; sets closed_ when the peer went away.
  bool read_report(uint8_t* report, milliseconds timeout) {
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    if (ready <= 0) return false;
    uint8_t buf[kReportLen + 1];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    if (n != static_cast<ssize_t>(kReportLen)) return false;  // not a report: ignore it
    std::memcpy(report, buf, kReportLen);
    return true;
  }

  void send_report(const uint8_t* report) {
    // Recorded before it is sent: once the host has the report, a test may
    // read the recording or switch it on for what comes next.
    const std::string path = auth_.config().record_path;
    if (!path.empty()) {
      std::ofstream out(path, std::ios::binary | std::ios::app);
      out.write(reinterpret_cast<const char*>(report), kReportLen);
    }
    if (::send(fd_, report, kReportLen, MSG_NOSIGNAL) != static_cast<ssize_t>(kReportLen)) closed_ = true;
  }

  // Frames a message into an init packet and continuation packets.
  void send_message(uint32_t cid, uint8_t cmd, std::span<const uint8_t> payload) {
    uint8_t report[kReportLen] = {};
    put_cid(report, cid);
    report[4] = static_cast<uint8_t>(0x80 | cmd);
    report[5] = static_cast<uint8_t>(payload.size() >> 8);
    report[6] = static_cast<uint8_t>(payload.size());
    size_t sent = std::min(payload.size(), kInitDataLen);
    std::memcpy(report + 7, payload.data(), sent);
    send_report(report);
    for (uint8_t seq = 0; sent < payload.size() && seq < 128; ++seq) {
      std::memset(report, 0, sizeof(report));
      put_cid(report, cid);
      report[4] = seq;
      const size_t n = std::min(payload.size() - sent, kContDataLen);
      std::memcpy(report + 5, payload.data() + sent, n);
      send_report(report);
      sent += n;
    }
  }

  void send_error(uint32_t cid, uint8_t code) {
    const uint8_t payload[1] = {code};
    send_message(cid, kCmdError, payload);
  }

  void send_keepalive(uint32_t cid, uint8_t state) {
    const uint8_t payload[1] = {state};
    send_message(cid, kCmdKeepalive, payload);
  }

  void handle_report(const uint8_t* report) {
    const uint32_t cid = cid_of(report);
    if ((report[4] & 0x80) == 0) return;  // a stray continuation packet
    const uint8_t cmd = report[4] & 0x7f;
    const size_t len = (size_t{report[5]} << 8) | report[6];
    if (len > kMaxMessageLen) {
      send_error(cid, kHidErrInvalidLen);
      return;
    }
    Bytes payload(report + 7, report + 7 + std::min(len, kInitDataLen));
    for (uint8_t seq = 0; payload.size() < len; ++seq) {
      uint8_t cont[kReportLen];
      if (!read_report(cont, kContinuationTimeout)) {
        if (!closed_) send_error(cid, kHidErrMsgTimeout);
        return;
      }
      if (cid_of(cont) != cid || cont[4] != seq) {
        send_error(cid, kHidErrInvalidSeq);
        return;
      }
      const size_t n = std::min(len - payload.size(), kContDataLen);
      payload.insert(payload.end(), cont + 5, cont + 5 + n);
    }

    if (cmd == kCmdInit) {
      if (payload.size() != 8) {
        send_error(cid, kHidErrInvalidLen);
        return;
      }
      if (auth_.config().fault == Fault::kNeverAnswerInit) return;
      const uint32_t new_cid = cid == kBroadcastCid ? next_cid_++ : cid;
      if (cid == kBroadcastCid) channels_.push_back(new_cid);
      Bytes reply = payload;  // the nonce
      reply.resize(17);
      put_cid(reply.data() + 8, new_cid);
      reply[12] = 2;  // CTAPHID protocol version
      reply[13] = 1;  // device version 1.0.0
      reply[14] = 0;
      reply[15] = 0;
      reply[16] = kCapWink | kCapCbor | kCapNoMsg;
      send_message(cid, kCmdInit, reply);
      return;
    }
    if (cid == 0 || cid == kBroadcastCid || std::find(channels_.begin(), channels_.end(), cid) == channels_.end()) {
      send_error(cid, kHidErrInvalidChannel);
      return;
    }
    switch (cmd) {
      case kCmdPing:
        send_message(cid, kCmdPing, payload);
        return;
      case kCmdWink:
        send_message(cid, kCmdWink, {});
        return;
      case kCmdCancel:
        return;  // nothing is pending between requests
      case kCmdCbor:
        handle_cbor(cid, payload);
        return;
      default:
        send_error(cid, kHidErrInvalidCmd);
        return;
    }
  }

  // Waits for the simulated touch, sending keepalives and watching for a
  // CTAPHID_CANCEL on the channel.
  TouchResult wait_for_touch(uint32_t cid, const SimConfig& config) {
    const auto start = Clock::now();
    const auto touch_at = start + milliseconds(config.touch_delay_ms);
    const auto give_up_at = start + milliseconds(config.user_action_timeout_ms);
    while (true) {
      const auto now = Clock::now();
      if (!config.touch_never && now >= touch_at) return TouchResult::kTouched;
      if (now >= give_up_at) return TouchResult::kTimeout;
      if (stop_ || closed_) return TouchResult::kCancelled;
      send_keepalive(cid, kKeepaliveUpNeeded);
      if (watch_for_cancel(cid, kKeepaliveInterval)) {
        auth_.count_cancel();
        return TouchResult::kCancelled;
      }
    }
  }

  // True if a CANCEL for the channel arrives within `interval`; other
  // requests meanwhile are ignored (the device is busy).
  bool watch_for_cancel(uint32_t cid, milliseconds interval) {
    const auto until = Clock::now() + interval;
    while (Clock::now() < until && !closed_) {
      uint8_t report[kReportLen];
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (!read_report(report, std::max(left, milliseconds(1)))) continue;
      if (cid_of(report) == cid && report[4] == (0x80 | kCmdCancel)) return true;
    }
    return false;
  }

  void handle_cbor(uint32_t cid, const Bytes& request) {
    if (request.empty()) {
      send_error(cid, kHidErrInvalidLen);
      return;
    }
    const SimConfig config = auth_.config();
    const uint8_t command = request[0];
    // Credential management has two command bytes (libfido2 1.12 sends the preview's).
    auto same = [](uint8_t a, uint8_t b) {
      auto normal = [](uint8_t c) { return c == kCtapCredentialManagementPreview ? kCtapCredentialManagement : c; };
      return normal(a) == normal(b);
    };
    const bool faulty = config.fault != Fault::kNone &&
                        (config.fault_command == 0 ? command != kCtapGetInfo : same(command, config.fault_command));
    if (faulty && config.fault == Fault::kNeverAnswer) {
      while (!stop_ && !closed_) {
        uint8_t ignored[kReportLen];
        read_report(ignored, kPollInterval);
      }
      return;
    }
    if (faulty && config.fault == Fault::kKeepaliveForever) {
      while (!stop_ && !closed_) {
        send_keepalive(cid, kKeepaliveProcessing);
        uint8_t ignored[kReportLen];
        read_report(ignored, kKeepaliveInterval);
      }
      return;
    }
    Bytes reply = auth_.handle(request, [&] { return wait_for_touch(cid, config); });
    if (faulty && config.fault == Fault::kTruncatedCbor && reply.size() > 2) {
      reply.resize(1 + (reply.size() - 1) / 2);
    }
    if (faulty && config.fault == Fault::kOversizedReply) {
      CborWriter w;
      w.map(1).uint(1).bytes(Bytes(kOversizedReplyLen, 0x55));
      reply.assign(1, kOk);
      reply.reserve(1 + w.data().size());
      reply.insert(reply.end(), w.data().begin(), w.data().end());
    }
    send_message(cid, kCmdCbor, reply);
  }

  int fd_;
  Authenticator& auth_;
  const std::atomic<bool>& stop_;
  bool closed_ = false;
  uint32_t next_cid_ = 0x01020304;
  std::vector<uint32_t> channels_;
};

}  // namespace

Simulator::Simulator(SimConfig config) : authenticator_(std::make_unique<Authenticator>(std::move(config))) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp") + "/fido-sim.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return;
  dir_ = pattern;
  socket_path_ = dir_ + "/authenticator.sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return;
  }
  listen_fd_ = fd;
  acceptor_ = std::thread([this] { accept_loop(); });
}

Simulator::~Simulator() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(connections_mutex_);
    for (auto& t : connections_) t.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void Simulator::accept_loop() {
  while (!stop_) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(kPollInterval.count())) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(connections_mutex_);
    connections_.emplace_back([this, fd] { serve(fd); });
  }
}

void Simulator::serve(int fd) {
  Connection connection(fd, *authenticator_, stop_);
  connection.run();
}

void Simulator::update(const std::function<void(SimConfig&)>& change) { authenticator_->update(change); }
SimConfig Simulator::config() const { return authenticator_->config(); }
SimStats Simulator::stats() const { return authenticator_->stats(); }
size_t Simulator::credential_count() const { return authenticator_->credential_count(); }
size_t Simulator::resident_count() const { return authenticator_->resident_count(); }
std::optional<std::string> Simulator::pin() const { return authenticator_->pin(); }
int Simulator::pin_retries() const { return authenticator_->pin_retries(); }
void Simulator::power_cycle() { authenticator_->power_cycle(); }

}  // namespace tessera::fidosim
