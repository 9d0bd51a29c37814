// Fuzzes what an authenticator sends back, end to end through libfido2 and
// tessera-sk-fido2's own checks: a device whose libfido2 I/O functions
// replay the input as 64-byte CTAPHID reports drives the middleware's sign,
// enrol and resident-key paths (middleware.h). libfido2 parses the CTAPHID
// frames and the CBOR; the middleware checks what libfido2 hands over.
//
// Input: one selector byte (operation, algorithm, PIN, flags), one byte N
// and N bytes of key handle (for sign), then the reports, in the order the
// device sends them. Two things the fuzzer cannot guess are filled in as a
// device would: the nonce of each CTAPHID_INIT reply (libfido2 checks it
// against the random one it sent), and the channel id of every other report
// (the one the last INIT reply assigned). The seed corpus is recorded from
// the simulated authenticator (tests/fido-sim/record_corpus.cc).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <strings.h>
#include <span>
#include <string>

#include "middleware.h"

namespace {

using namespace tessera::fido2;

constexpr size_t kReportLen = 64;
constexpr uint8_t kInitCommand = 0x86;  // CTAPHID_INIT with the init-packet bit

struct Replay {
  std::span<const uint8_t> reports;
  uint8_t nonce[8] = {};
  uint8_t cid[4] = {0xff, 0xff, 0xff, 0xff};
};

Replay g_replay;
int g_handle;  // an I/O handle is any non-null pointer

void* replay_open(const char*) { return &g_handle; }
void replay_close(void*) {}

int replay_write(void*, const unsigned char* buf, size_t len) {
  // Remember the nonce of a CTAPHID_INIT (after the report-ID byte).
  if (len == kReportLen + 1 && buf[5] == kInitCommand) std::memcpy(g_replay.nonce, buf + 8, sizeof(g_replay.nonce));
  return static_cast<int>(len);
}

int replay_read(void*, unsigned char* buf, size_t len, int) {
  if (len != kReportLen || g_replay.reports.empty()) return -1;
  const size_t n = std::min(kReportLen, g_replay.reports.size());
  std::memset(buf, 0, kReportLen);
  std::memcpy(buf, g_replay.reports.data(), n);
  g_replay.reports = g_replay.reports.subspan(n);
  if (buf[4] == kInitCommand) {
    std::memcpy(buf + 7, g_replay.nonce, sizeof(g_replay.nonce));
    std::memcpy(g_replay.cid, buf + 15, sizeof(g_replay.cid));
  } else {
    std::memcpy(buf, g_replay.cid, sizeof(g_replay.cid));
  }
  return static_cast<int>(kReportLen);
}

const fido_dev_io_t kReplayIo = {replay_open, replay_close, replay_read, replay_write};

}  // namespace

// libcbor 0.8 (under libfido2) allocates an array or map for as many items
// as its CBOR header claims before reading them, so a reply claiming 2^60
// items asks malloc for exabytes. Outside a sanitizer that fails or stays
// untouched virtual memory, and libcbor reports an error; under ASan the
// attempt alone would end the run. Let such allocations fail as malloc would.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1:max_allocation_size_mb=512"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t selector = data[0];
  const size_t handle_len = data[1];
  if (size < 2 + handle_len) return 0;
  const std::span<const uint8_t> key_handle(data + 2, handle_len);
  g_replay = Replay{};
  g_replay.reports = std::span<const uint8_t>(data + 2 + handle_len, size - 2 - handle_len);

  DeviceSource source;
  source.paths = {"replay"};
  source.io = &kReplayIo;
  source.operation_timeout_ms = 100;
  source.probe_timeout_ms = 100;

  const uint32_t alg = (selector & 0x04) != 0 ? SSH_SK_ED25519 : SSH_SK_ECDSA;
  const char* pin = (selector & 0x08) != 0 ? "1234" : nullptr;
  uint8_t flags = 0;
  if ((selector & 0x10) != 0) flags |= SSH_SK_USER_PRESENCE_REQD;
  if ((selector & 0x20) != 0) flags |= SSH_SK_USER_VERIFICATION_REQD;
  if ((selector & 0x40) != 0) flags |= SSH_SK_RESIDENT_KEY;
  const std::string application = "ssh:";
  static const uint8_t kChallenge[32] = {};
  static const uint8_t kMessage[] = {'f', 'u', 'z', 'z'};

  switch (selector & 0x03) {
    case 0: {
      SignRequest request;
      request.alg = alg;
      request.data = kMessage;
      request.application = application;
      request.key_handle = key_handle;
      request.flags = flags;
      request.pin = pin;
      auto signature = sign(source, request);
      if (signature.ok()) {
        // What the middleware accepted must be what the ABI promises.
        if (alg == SSH_SK_ED25519 && (signature->sig_r.size() != 64 || !signature->sig_s.empty())) __builtin_trap();
        if (alg == SSH_SK_ECDSA && (signature->sig_r.empty() || signature->sig_r.size() > 32 ||
                                    signature->sig_s.empty() || signature->sig_s.size() > 32)) {
          __builtin_trap();
        }
      }
      break;
    }
    case 1: {
      EnrollRequest request;
      request.alg = alg;
      request.challenge = kChallenge;
      request.application = application;
      request.flags = flags;
      request.pin = pin;
      auto enrollment = enroll(source, request);
      if (enrollment.ok()) {
        const size_t expected = alg == SSH_SK_ED25519 ? 32 : 65;
        if (enrollment->public_key.size() != expected || enrollment->key_handle.empty() ||
            enrollment->key_handle.size() > kMaxKeyHandleLen) {
          __builtin_trap();
        }
      }
      break;
    }
    default: {
      auto keys = load_resident_keys(source, pin != nullptr ? pin : "1234", {});
      if (keys.ok()) {
        for (const auto& key : keys.value()) {
          if (strncasecmp(key.application.c_str(), "ssh:", 4) != 0 || key.key_handle.empty() ||
              key.user_id.size() > kMaxUserIdLen) {
            __builtin_trap();
          }
        }
      }
      break;
    }
  }
  return 0;
}
