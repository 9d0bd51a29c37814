// The simulator's own behaviour where the middleware does not go: raw
// CTAPHID (channels, PING, ERROR, an idle CANCEL) and clientPIN's setPIN and
// getRetries through libfido2.
#include <gtest/gtest.h>

#include <fido.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "fido_sim_util.h"
#include "simulator.h"
#include "socket_io.h"

namespace tessera::fidotest {
namespace {

using fidosim::SimConfig;
using fidosim::Simulator;

// A raw CTAPHID connection to the simulator.
class RawHid {
 public:
  explicit RawHid(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawHid() { ::close(fd_); }
  bool connected() const { return connected_; }

  void send(uint32_t cid, uint8_t cmd, const Bytes& payload) {
    uint8_t report[64] = {};
    report[0] = static_cast<uint8_t>(cid >> 24);
    report[1] = static_cast<uint8_t>(cid >> 16);
    report[2] = static_cast<uint8_t>(cid >> 8);
    report[3] = static_cast<uint8_t>(cid);
    report[4] = static_cast<uint8_t>(0x80 | cmd);
    report[5] = static_cast<uint8_t>(payload.size() >> 8);
    report[6] = static_cast<uint8_t>(payload.size());
    if (!payload.empty()) std::memcpy(report + 7, payload.data(), std::min<size_t>(payload.size(), 57));
    ASSERT_EQ(::send(fd_, report, sizeof(report), 0), 64);
  }

  // The next report, or nothing within timeout_ms.
  std::optional<Bytes> receive(int timeout_ms = 1000) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return std::nullopt;
    Bytes report(64);
    if (::recv(fd_, report.data(), report.size(), 0) != 64) return std::nullopt;
    return report;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

uint32_t cid_at(const Bytes& r, size_t offset) {
  return (uint32_t{r[offset]} << 24) | (uint32_t{r[offset + 1]} << 16) | (uint32_t{r[offset + 2]} << 8) |
         uint32_t{r[offset + 3]};
}

TEST(SimulatorHid, ChannelsPingErrorAndIdleCancel) {
  Simulator sim;
  RawHid hid(sim.socket_path());
  ASSERT_TRUE(hid.connected());
  // PING on a channel nobody allocated: ERROR 0x0b (invalid channel).
  hid.send(0x11223344, 0x01, {1, 2, 3});
  auto error = hid.receive();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ((*error)[4], 0x80 | 0x3f);
  EXPECT_EQ((*error)[7], 0x0b);

  const Bytes nonce = {1, 2, 3, 4, 5, 6, 7, 8};
  hid.send(0xffffffff, 0x06, nonce);
  auto init = hid.receive();
  ASSERT_TRUE(init.has_value());
  EXPECT_EQ(cid_at(*init, 0), 0xffffffffu);
  EXPECT_EQ((*init)[4], 0x86);
  EXPECT_EQ((*init)[6], 17);
  EXPECT_TRUE(std::equal(nonce.begin(), nonce.end(), init->begin() + 7));
  const uint32_t cid = cid_at(*init, 15);
  EXPECT_NE((*init)[23] & 0x04, 0) << "CBOR capability";

  hid.send(cid, 0x01, {9, 8, 7});
  auto pong = hid.receive();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(cid_at(*pong, 0), cid);
  EXPECT_EQ((*pong)[4], 0x81);
  EXPECT_EQ((*pong)[6], 3);
  EXPECT_EQ((*pong)[7], 9);

  hid.send(cid, 0x11, {});  // CANCEL with nothing pending: no answer
  EXPECT_FALSE(hid.receive(300).has_value());
  hid.send(cid, 0x2a, {});  // an unknown command
  auto unknown = hid.receive();
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ((*unknown)[4], 0x80 | 0x3f);
  EXPECT_EQ((*unknown)[7], 0x01);
}

TEST(SimulatorPin, SetPinAndRetriesThroughLibfido2) {
  for (bool protocol_two : {true, false}) {
    SimConfig config;
    config.pin_protocol_two = protocol_two;
    Simulator sim(config);
    fido_dev_t* dev = fido_dev_new();
    ASSERT_EQ(fido_dev_set_io_functions(dev, &fido2::socket_io_functions()), FIDO_OK);
    ASSERT_EQ(fido_dev_open(dev, sim.socket_path().c_str()), FIDO_OK);
    EXPECT_FALSE(fido_dev_has_pin(dev));
    EXPECT_EQ(fido_dev_set_pin(dev, "12", nullptr), FIDO_ERR_PIN_POLICY_VIOLATION) << "too short";
    EXPECT_EQ(fido_dev_set_pin(dev, "5678", nullptr), FIDO_OK);
    EXPECT_EQ(sim.pin(), "5678");
    int retries = 0;
    EXPECT_EQ(fido_dev_get_retry_count(dev, &retries), FIDO_OK);
    EXPECT_EQ(retries, 8);
    EXPECT_EQ(fido_dev_set_pin(dev, "9999", nullptr), FIDO_ERR_NOT_ALLOWED) << "a PIN is set already";
    fido_dev_close(dev);
    fido_dev_free(&dev);
  }
}

}  // namespace
}  // namespace tessera::fidotest
