// A simulated CTAP2 authenticator for tests, listening on a unix socket
// (SOCK_SEQPACKET, one 64-byte CTAPHID report per message) - the other end
// of tessera-sk-fido2's test hook (TESSERA_FIDO_TEST_DEVICE). Test-only code.
//
// It speaks CTAPHID (INIT and channel allocation, PING, CBOR, CANCEL,
// KEEPALIVE while it waits for a touch, ERROR) and CTAP2: getInfo,
// makeCredential (ES256, EdDSA; resident keys; credProtect; PIN auth),
// getAssertion and getNextAssertion (allow lists, up/uv, signature counter),
// clientPIN (getRetries, getKeyAgreement, setPIN, getPinToken; PIN/UV auth
// protocols 1 and 2), and credential management (metadata, enumerating RPs
// and credentials; command 0x0A and the 0x41 preview).
//
// Controls (SimConfig, changeable while it runs): whether a PIN is set, when
// the "touch" comes, and faults: a truncated CBOR reply, an oversized reply, a
// wrong credential in an assertion, a counter that goes backwards, never
// answering (a command, or CTAPHID_INIT), keepalives forever.
#ifndef TESSERA_TESTS_FIDO_SIM_SIMULATOR_H_
#define TESSERA_TESTS_FIDO_SIM_SIMULATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tessera::fidosim {

enum class Fault {
  kNone,
  kTruncatedCbor,     // the reply's CBOR is cut in half
  kOversizedReply,    // a reply longer than any CTAP2 message libfido2 accepts
  kWrongCredential,   // getAssertion answers with another credential id
  kCounterBackwards,  // each assertion's signature counter is lower than the last
  kNeverAnswer,       // the command is read and never answered
  kKeepaliveForever,  // the command is answered with keepalives only, forever
  kNeverAnswerInit,   // CTAPHID_INIT is never answered (the device seems dead)
};

// CTAP2 command bytes.
inline constexpr uint8_t kCtapMakeCredential = 0x01;
inline constexpr uint8_t kCtapGetAssertion = 0x02;
inline constexpr uint8_t kCtapGetInfo = 0x04;
inline constexpr uint8_t kCtapClientPin = 0x06;
inline constexpr uint8_t kCtapGetNextAssertion = 0x08;
inline constexpr uint8_t kCtapCredentialManagement = 0x0a;
inline constexpr uint8_t kCtapCredentialManagementPreview = 0x41;

struct SimConfig {
  std::optional<std::string> pin;              // a PIN is set (getInfo clientPin: true)
  bool pin_supported = true;                   // clientPin appears in getInfo at all
  // The PIN/UV auth protocols offered (getInfo lists 2 before 1; libfido2
  // takes the highest).
  bool pin_protocol_two = true;
  bool pin_protocol_one = true;
  bool cred_protect = true;                    // the credProtect extension
  bool credential_management = true;           // "credMgmt" (and "credentialMgmtPreview")
  // The touch: after this delay once the authenticator asks for one; never
  // if touch_never (then it gives up after user_action_timeout_ms).
  int touch_delay_ms = 0;
  bool touch_never = false;
  int user_action_timeout_ms = 30000;
  Fault fault = Fault::kNone;
  // The CTAP2 command a fault applies to (either credential management
  // byte means both); 0: every command but getInfo.
  uint8_t fault_command = 0;
  // If set, every report the simulator sends is appended to this file (for
  // the fuzz target's seed corpus).
  std::string record_path;
};

struct SimStats {
  int connections = 0;
  int touch_requests = 0;  // times it waited for a touch
  int cancels = 0;         // CTAPHID_CANCELs that stopped a wait
  int assertions = 0;      // successful getAssertions
  int pin_failures = 0;    // wrong PINs
  int pin_protocol = 0;    // the PIN/UV auth protocol of the last PIN token
};

class Authenticator;

class Simulator {
 public:
  // Listens on a fresh socket in a private temporary directory.
  explicit Simulator(SimConfig config = {});
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  const std::string& socket_path() const { return socket_path_; }
  bool listening() const { return listen_fd_ >= 0; }

  void update(const std::function<void(SimConfig&)>& change);
  SimConfig config() const;
  SimStats stats() const;
  size_t credential_count() const;
  size_t resident_count() const;
  std::optional<std::string> pin() const;
  int pin_retries() const;
  // As if the authenticator were unplugged and plugged in again (clears
  // the three-wrong-PINs block).
  void power_cycle();

 private:
  void accept_loop();
  void serve(int fd);

  std::unique_ptr<Authenticator> authenticator_;
  std::string dir_;
  std::string socket_path_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex connections_mutex_;
  std::vector<std::thread> connections_;
};

}  // namespace tessera::fidosim

#endif  // TESSERA_TESTS_FIDO_SIM_SIMULATOR_H_
