// The CTAP2 side of the simulated authenticator: one request (command byte
// plus CBOR) in, one reply (status byte plus CBOR) out. The CTAPHID side
// (simulator.cc) frames them and provides the touch. Test-only code.
#ifndef TESSERA_TESTS_FIDO_SIM_AUTHENTICATOR_H_
#define TESSERA_TESTS_FIDO_SIM_AUTHENTICATOR_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim_cbor.h"
#include "sim_crypto.h"
#include "simulator.h"

namespace tessera::fidosim {

// CTAP2 status codes the simulator uses.
inline constexpr uint8_t kOk = 0x00;
inline constexpr uint8_t kErrInvalidCommand = 0x01;
inline constexpr uint8_t kErrInvalidParameter = 0x02;
inline constexpr uint8_t kErrInvalidLength = 0x03;
inline constexpr uint8_t kErrInvalidCbor = 0x12;
inline constexpr uint8_t kErrMissingParameter = 0x14;
inline constexpr uint8_t kErrUnsupportedAlgorithm = 0x26;
inline constexpr uint8_t kErrUnsupportedOption = 0x2b;
inline constexpr uint8_t kErrInvalidOption = 0x2c;
inline constexpr uint8_t kErrKeepaliveCancel = 0x2d;
inline constexpr uint8_t kErrNoCredentials = 0x2e;
inline constexpr uint8_t kErrUserActionTimeout = 0x2f;
inline constexpr uint8_t kErrNotAllowed = 0x30;
inline constexpr uint8_t kErrPinInvalid = 0x31;
inline constexpr uint8_t kErrPinBlocked = 0x32;
inline constexpr uint8_t kErrPinAuthInvalid = 0x33;
inline constexpr uint8_t kErrPinAuthBlocked = 0x34;
inline constexpr uint8_t kErrPinNotSet = 0x35;
inline constexpr uint8_t kErrPinRequired = 0x36;
inline constexpr uint8_t kErrPinPolicyViolation = 0x37;

enum class TouchResult { kTouched, kTimeout, kCancelled };

class Authenticator {
 public:
  explicit Authenticator(SimConfig config);

  // Handles one CTAP2 request. `wait_for_touch` blocks until the simulated
  // person touches the device (or gives up, or the host cancels).
  Bytes handle(std::span<const uint8_t> request, const std::function<TouchResult()>& wait_for_touch);

  void update(const std::function<void(SimConfig&)>& change);
  SimConfig config() const;
  SimStats stats() const;
  void count_connection();
  void count_cancel();
  size_t credential_count() const;
  size_t resident_count() const;
  std::optional<std::string> pin() const;
  int pin_retries() const;
  void power_cycle();

 private:
  struct Credential {
    Bytes id;
    std::string rp_id;
    Bytes rp_id_hash;
    Bytes user_id;
    std::string user_name;
    std::string display_name;
    CredentialKey key;
    bool resident = false;
    int cred_protect = 1;
    uint32_t counter = 0;
    uint32_t assertions = 0;
  };

  void set_protocols();
  Bytes get_info() const;
  Bytes make_credential(const cbor_item_t* args, const std::function<TouchResult()>& wait);
  Bytes get_assertion(const cbor_item_t* args, const std::function<TouchResult()>& wait);
  Bytes get_next_assertion();
  Bytes client_pin(const cbor_item_t* args);
  Bytes credential_management(const cbor_item_t* args);

  // The reply for the pinUvAuthParam of a request: kOk with uv set, or an
  // error status. `message` is what the parameter authenticates.
  uint8_t check_pin_auth(const cbor_item_t* param, const cbor_item_t* protocol, std::span<const uint8_t> message,
                         bool* uv);
  const PinProtocol* protocol(const cbor_item_t* item) const;
  std::optional<Bytes> shared_secret(const PinProtocol& p, const cbor_item_t* platform_key) const;
  Bytes assertion_reply(Credential& cred, std::span<const uint8_t> client_data_hash, bool up, bool uv,
                        bool with_user, size_t count);
  size_t resident_count_locked() const;
  std::vector<std::string> resident_rps() const;

  mutable std::mutex mutex_;
  SimConfig config_;
  SimStats stats_;
  Bytes aaguid_;
  std::vector<std::shared_ptr<Credential>> credentials_;
  // PIN state.
  std::optional<Bytes> pin_hash_;  // LEFT(SHA-256(PIN), 16)
  std::optional<std::string> pin_;
  int retries_ = 8;
  int consecutive_mismatches_ = 0;
  bool auth_blocked_ = false;
  KeyAgreementKey key_agreement_;
  std::optional<Bytes> pin_token_;
  int pin_token_protocol_ = 0;
  std::vector<PinProtocol> protocols_;
  // getNextAssertion and enumeration state.
  std::vector<std::shared_ptr<Credential>> pending_assertions_;
  Bytes pending_client_data_hash_;
  bool pending_up_ = false;
  bool pending_uv_ = false;
  size_t pending_total_ = 0;
  std::vector<std::string> pending_rps_;
  std::vector<std::shared_ptr<Credential>> pending_rks_;
};

}  // namespace tessera::fidosim

#endif  // TESSERA_TESTS_FIDO_SIM_AUTHENTICATOR_H_
