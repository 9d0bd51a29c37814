// tessera's security key middleware on libfido2: the operations behind the
// four exported functions of tessera-sk-fido2.so (sk_fido2.cc), as a C++ API
// that the tests and the fuzz target call directly.
//
// Behaviour follows OpenSSH 9.2's built-in middleware (sk-usbhid.c): USB HID
// discovery, the "device" and "user" options, a silent probe to find which of
// several authenticators holds a credential, a touch to choose one for
// enrolment, credProtect for resident and verify-required credentials, and
// resident keys through credential management. Everything an authenticator
// returns is checked before it is handed on (lengths, algorithms, points on
// the curve, that an assertion is for the credential and application asked
// for), and every device exchange has a deadline.
//
// Not part of tessera's public API: internal to fido/ and its tests.
#ifndef TESSERA_FIDO_MIDDLEWARE_MIDDLEWARE_H_
#define TESSERA_FIDO_MIDDLEWARE_MIDDLEWARE_H_

#include <fido.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tessera/fido/sk_api.h"

namespace tessera::fido2 {

// Limits on what an authenticator may hand back. CTAP2 caps a credential id at
// 1023 bytes (CTAP2.1 maxCredentialIdLength) and a user id at 64; libfido2
// caps a whole reply at 2048 bytes, which bounds the rest.
inline constexpr size_t kMaxKeyHandleLen = 1023;
inline constexpr size_t kMaxUserIdLen = 64;
inline constexpr size_t kMaxAttestationLen = 2048;  // signature, certificate or authenticator data
inline constexpr size_t kMaxApplicationLen = 256;
inline constexpr size_t kMaxResidentKeys = 128;    // more than any authenticator stores (as tessera-sk-helper)
inline constexpr size_t kMaxDevices = 8;           // as OpenSSH's MAX_FIDO_DEVICES
// The user id OpenSSH makes: the "user" option's text, zero-padded to 32 bytes.
inline constexpr size_t kUserIdLen = 32;

// How long one exchange with an authenticator may take. A touch or a PIN
// entry needs a person; a probe (opening a device, the silent test of
// whether it holds a credential) does not. Authenticators give up waiting
// for a touch after about 30 s themselves.
inline constexpr int kDefaultOperationTimeoutMs = 30000;
inline constexpr int kDefaultProbeTimeoutMs = 5000;

// A buffer that is wiped when freed (key handles). tessera-sk-fido2.so does
// not link libkey, so this stands in for key::SecretBytes here.
struct WipingAllocatorBase {
  static void wipe(void* p, size_t n) noexcept;
};
template <typename T>
struct WipingAllocator : WipingAllocatorBase {
  using value_type = T;
  WipingAllocator() noexcept = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) noexcept {
    wipe(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept { return true; }
};
using Bytes = std::vector<uint8_t>;
using SecretBuffer = std::vector<uint8_t, WipingAllocator<uint8_t>>;

// What a failed operation reports: an SSH_SK_ERR_* code (what the caller can
// act on) and a sentence for a person that says what went wrong and what to do.
struct Failure {
  int code = SSH_SK_ERR_GENERAL;
  std::string message;
};

template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Outcome(Failure failure) : v_(std::in_place_index<1>, std::move(failure)) {}
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Failure& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, Failure> v_;
};
struct Done {};
using Status = Outcome<Done>;

// Where authenticators come from and how long to wait for them.
struct DeviceSource {
  // Empty: the USB HID authenticators attached (fido_dev_info_manifest).
  // Otherwise exactly these devices, opened through `io`.
  std::vector<std::string> paths;
  // libfido2 I/O functions for `paths` (64-byte HID reports); nullptr for HID.
  const fido_dev_io_t* io = nullptr;
  // Called with the open device's I/O handle before each exchange, so that I/O
  // functions of our own can enforce the exchange's deadline even where
  // libfido2 would wait forever. May be nullptr.
  void (*arm_deadline)(void* io_handle, int timeout_ms) = nullptr;
  // Called before each fido_dev_open() with the deadline of the open's own
  // exchanges (there is no I/O handle to arm yet). May be nullptr.
  void (*set_open_timeout)(int timeout_ms) = nullptr;
  int operation_timeout_ms = kDefaultOperationTimeoutMs;
  int probe_timeout_ms = kDefaultProbeTimeoutMs;
};

// The test hook, and the only place that reads it: when the environment
// variable TESSERA_FIDO_TEST_DEVICE names a unix socket, the device list is
// exactly that one device, whose HID reports travel over the socket
// (socket_io.h); TESSERA_FIDO_TEST_TIMEOUT_MS then shortens the timeouts.
// Otherwise: the USB HID authenticators, default timeouts.
DeviceSource device_source_from_environment();

// The "name=value" options of the ABI, already copied out of sk_option.
struct Option {
  std::string name;
  std::string value;
  bool required = false;
};
std::vector<Option> copy_options(struct sk_option** options);

struct EnrollRequest {
  uint32_t alg = SSH_SK_ECDSA;
  std::span<const uint8_t> challenge;  // hashed with SHA-256 into the client data hash
  std::string application;
  uint8_t flags = SSH_SK_USER_PRESENCE_REQD;
  const char* pin = nullptr;
  std::vector<Option> options;  // "device", "user"
};

struct Enrollment {
  uint8_t flags = 0;
  Bytes public_key;  // Ed25519: 32 bytes; ECDSA: 65 bytes, 0x04 || x || y
  SecretBuffer key_handle;
  Bytes signature;         // attestation signature
  Bytes attestation_cert;  // empty for self attestation
  Bytes authdata;          // CBOR-encoded, as OpenSSH hands it on
};

struct SignRequest {
  uint32_t alg = SSH_SK_ECDSA;
  std::span<const uint8_t> data;  // hashed with SHA-256 into the client data hash
  std::string application;
  std::span<const uint8_t> key_handle;
  uint8_t flags = SSH_SK_USER_PRESENCE_REQD;
  const char* pin = nullptr;
  std::vector<Option> options;  // "device"
};

struct Signature {
  uint8_t flags = 0;
  uint32_t counter = 0;
  Bytes sig_r;  // Ed25519: the 64-byte signature; ECDSA: r, big-endian, no leading zeros
  Bytes sig_s;  // ECDSA: s; empty for Ed25519
};

struct ResidentKey {
  uint32_t alg = 0;
  size_t slot = 0;
  std::string application;
  Bytes public_key;
  SecretBuffer key_handle;
  uint8_t flags = 0;  // SSH_SK_USER_VERIFICATION_REQD if the credential needs it
  Bytes user_id;
};

Outcome<Enrollment> enroll(const DeviceSource& source, const EnrollRequest& request);
Outcome<Signature> sign(const DeviceSource& source, const SignRequest& request);
Outcome<std::vector<ResidentKey>> load_resident_keys(const DeviceSource& source, const char* pin,
                                                     const std::vector<Option>& options);

// --- Pieces with their own tests -------------------------------------------

// The SSH_SK_ERR_* code for a libfido2 error (as OpenSSH maps them), and a
// sentence for a person.
int sk_error_for(int fido_error);
Failure failure_for(int fido_error, std::string_view what);

// An uncompressed P-256 point 0x04 || x || y from libfido2's x || y, checked
// to lie on the curve.
Outcome<Bytes> ecdsa_public_key(std::span<const uint8_t> x_and_y);
// r and s (big-endian, without leading zeros, each 1..32 bytes and below the
// group order) from a strict DER ECDSA-Sig-Value with nothing after it.
Outcome<std::pair<Bytes, Bytes>> split_ecdsa_signature(std::span<const uint8_t> der);
// The contents of a CBOR definite-length byte string that fills `cbor`
// exactly (libfido2 hands out an assertion's authenticator data so wrapped).
Outcome<std::span<const uint8_t>> cbor_byte_string(std::span<const uint8_t> cbor);

// The fixed head of authenticator data (WebAuthn 6.1).
struct AuthDataHead {
  std::span<const uint8_t> rp_id_hash;  // 32 bytes
  uint8_t flags = 0;
  uint32_t counter = 0;
};
Outcome<AuthDataHead> parse_authdata_head(std::span<const uint8_t> authdata);

}  // namespace tessera::fido2

#endif  // TESSERA_FIDO_MIDDLEWARE_MIDDLEWARE_H_
