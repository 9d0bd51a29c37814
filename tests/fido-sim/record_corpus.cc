// Writes the seed corpus of fuzz/fido_device_reply.cc: real exchanges of
// tessera-sk-fido2 with the simulated authenticator, recorded on the
// authenticator's side (every report it sends), in the fuzz target's input
// format (selector byte, key handle length and bytes, reports).
//
//   build/bin/fido_sim_record_corpus fuzz/corpus/fido_device_reply
//
// Not a test: run it again when the simulator or the middleware's exchanges
// change. The fuzz target fills in the INIT nonces and channel ids itself.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "middleware.h"
#include "simulator.h"
#include "socket_io.h"

namespace {

using namespace tessera;
using fidosim::SimConfig;
using fidosim::Simulator;

// The selector bits of the fuzz target.
constexpr uint8_t kSign = 0x00;
constexpr uint8_t kEnroll = 0x01;
constexpr uint8_t kLoad = 0x02;
constexpr uint8_t kEd25519 = 0x04;
constexpr uint8_t kPin = 0x08;
constexpr uint8_t kUp = 0x10;
constexpr uint8_t kUv = 0x20;
constexpr uint8_t kResident = 0x40;
constexpr const char* kPinText = "1234";  // the fuzz target's PIN

fido2::DeviceSource source_of(const Simulator& sim) {
  fido2::DeviceSource source;
  source.paths = {sim.socket_path()};
  source.io = &fido2::socket_io_functions();
  source.arm_deadline = fido2::arm_socket_deadline;
  source.set_open_timeout = fido2::set_socket_open_timeout;
  source.operation_timeout_ms = 3000;
  source.probe_timeout_ms = 3000;
  return source;
}

uint8_t flags_of(uint8_t selector) {
  uint8_t flags = 0;
  if ((selector & kUp) != 0) flags |= SSH_SK_USER_PRESENCE_REQD;
  if ((selector & kUv) != 0) flags |= SSH_SK_USER_VERIFICATION_REQD;
  if ((selector & kResident) != 0) flags |= SSH_SK_RESIDENT_KEY;
  return flags;
}

fido2::Outcome<fido2::Enrollment> enroll(const Simulator& sim, uint8_t selector,
                                         const std::string& application = "ssh:") {
  static const uint8_t kChallenge[32] = {};
  fido2::EnrollRequest request;
  request.alg = (selector & kEd25519) != 0 ? SSH_SK_ED25519 : SSH_SK_ECDSA;
  request.challenge = kChallenge;
  request.application = application;
  request.flags = flags_of(selector);
  request.pin = (selector & kPin) != 0 ? kPinText : nullptr;
  return fido2::enroll(source_of(sim), request);
}

// Runs one operation with the simulator recording, and writes the seed.
bool record(const std::filesystem::path& dir, const std::string& name, const SimConfig& config, uint8_t selector,
            bool with_resident_keys = false) {
  Simulator sim(config);
  std::vector<uint8_t> key_handle;
  if ((selector & 0x03) == kSign || with_resident_keys) {
    auto made = enroll(sim, (selector & ~0x03) | kEnroll | (with_resident_keys ? kResident | kUp : 0));
    if (!made.ok()) {
      std::fprintf(stderr, "%s: enrolling first: %s\n", name.c_str(), made.failure().message.c_str());
      return false;
    }
    key_handle.assign(made->key_handle.begin(), made->key_handle.end());
    if (with_resident_keys && !enroll(sim, kEnroll | kEd25519 | kPin | kUp | kResident | kUv, "ssh:other").ok()) {
      std::fprintf(stderr, "%s: enrolling a second resident key failed\n", name.c_str());
      return false;
    }
  }
  const std::filesystem::path reports = dir / (name + ".reports");
  sim.update([&](SimConfig& c) { c.record_path = reports.string(); });
  bool ok = false;
  switch (selector & 0x03) {
    case kSign: {
      static const uint8_t kMessage[] = {'f', 'u', 'z', 'z'};
      fido2::SignRequest request;
      request.alg = (selector & kEd25519) != 0 ? SSH_SK_ED25519 : SSH_SK_ECDSA;
      request.data = kMessage;
      request.application = "ssh:";
      request.key_handle = key_handle;
      request.flags = flags_of(selector);
      request.pin = (selector & kPin) != 0 ? kPinText : nullptr;
      auto r = fido2::sign(source_of(sim), request);
      ok = r.ok() || config.fault != fidosim::Fault::kNone;
      if (!r.ok() && !ok) std::fprintf(stderr, "%s: %s\n", name.c_str(), r.failure().message.c_str());
      break;
    }
    case kEnroll: {
      auto r = enroll(sim, selector);
      ok = r.ok() || config.fault != fidosim::Fault::kNone;
      if (!ok) std::fprintf(stderr, "%s: %s\n", name.c_str(), r.failure().message.c_str());
      break;
    }
    default: {
      auto r = fido2::load_resident_keys(source_of(sim), kPinText, {});
      ok = r.ok() && !r->empty();
      if (!ok) std::fprintf(stderr, "%s: %s\n", name.c_str(), r.ok() ? "no keys" : r.failure().message.c_str());
      break;
    }
  }
  sim.update([](SimConfig& c) { c.record_path.clear(); });
  std::ifstream in(reports, std::ios::binary);
  const std::vector<uint8_t> recorded((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(reports);
  if (!ok) return false;
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.put(static_cast<char>(selector));
  out.put(static_cast<char>(key_handle.size()));
  out.write(reinterpret_cast<const char*>(key_handle.data()), static_cast<std::streamsize>(key_handle.size()));
  out.write(reinterpret_cast<const char*>(recorded.data()), static_cast<std::streamsize>(recorded.size()));
  std::printf("%s: %zu reports\n", name.c_str(), recorded.size() / 64);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS-DIRECTORY\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  SimConfig plain;
  SimConfig with_pin;
  with_pin.pin = kPinText;
  SimConfig protocol_one = with_pin;
  protocol_one.pin_protocol_two = false;
  SimConfig slow_touch;
  slow_touch.touch_delay_ms = 250;
  SimConfig truncated;
  truncated.fault = fidosim::Fault::kTruncatedCbor;
  truncated.fault_command = fidosim::kCtapGetAssertion;

  bool ok = true;
  ok &= record(dir, "sign_ecdsa", plain, kSign | kUp);
  ok &= record(dir, "sign_ed25519", plain, kSign | kEd25519 | kUp);
  ok &= record(dir, "sign_no_touch", plain, kSign | kEd25519);
  ok &= record(dir, "sign_keepalives", slow_touch, kSign | kUp);
  ok &= record(dir, "sign_verify_required_pin", with_pin, kSign | kPin | kUp | kUv);
  ok &= record(dir, "sign_pin_protocol_one", protocol_one, kSign | kEd25519 | kPin | kUp | kUv);
  ok &= record(dir, "sign_truncated", truncated, kSign | kUp);
  ok &= record(dir, "enroll_ecdsa", plain, kEnroll | kUp);
  ok &= record(dir, "enroll_ed25519", plain, kEnroll | kEd25519 | kUp);
  ok &= record(dir, "enroll_resident_pin", with_pin, kEnroll | kPin | kUp | kResident);
  ok &= record(dir, "load_resident", with_pin, kLoad | kPin, /*with_resident_keys=*/true);
  return ok ? 0 : 1;
}
