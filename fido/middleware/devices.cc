#include "devices.h"

#include <openssl/sha.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "socket_io.h"

namespace tessera::fido2 {
namespace {

using Clock = std::chrono::steady_clock;

// The environment variables of the test hook (device_source_from_environment).
constexpr const char* kTestDeviceVariable = "TESSERA_FIDO_TEST_DEVICE";
constexpr const char* kTestTimeoutVariable = "TESSERA_FIDO_TEST_TIMEOUT_MS";
constexpr long kMaxTestTimeoutMs = 600000;

// How often the touch selection asks each authenticator whether it was
// touched, and how long each question waits (OpenSSH's figures).
constexpr auto kTouchPollInterval = std::chrono::milliseconds(200);
constexpr int kTouchStatusWaitMs = 50;

struct DevInfoList {
  fido_dev_info_t* list = nullptr;
  size_t capacity = 0;
  ~DevInfoList() {
    if (list != nullptr) fido_dev_info_free(&list, capacity);
  }
};

void free_dev(fido_dev_t* dev) {
  if (dev == nullptr) return;
  fido_dev_cancel(dev);  // stop a pending touch request before letting go
  fido_dev_close(dev);
  fido_dev_free(&dev);
}

// The silent probe: an assertion without user presence, over the hash of an
// empty message, that only a device holding the credential can answer.
int probe_for_credential(const Device& device, const std::string& application,
                         std::span<const uint8_t> key_handle) {
  static const uint8_t kEmpty = 0;
  uint8_t hash[SHA256_DIGEST_LENGTH];
  SHA256(&kEmpty, 0, hash);
  fido_assert_t* assert = fido_assert_new();
  if (assert == nullptr) return FIDO_ERR_INTERNAL;
  int r = fido_assert_set_clientdata_hash(assert, hash, sizeof(hash));
  if (r == FIDO_OK) r = fido_assert_set_rp(assert, application.c_str());
  if (r == FIDO_OK) r = fido_assert_allow_cred(assert, key_handle.data(), key_handle.size());
  if (r == FIDO_OK) r = fido_assert_set_up(assert, FIDO_OPT_FALSE);
  if (r == FIDO_OK) r = fido_dev_get_assert(device.get(), assert, nullptr);
  fido_assert_free(&assert);
  if (r == FIDO_ERR_USER_PRESENCE_REQUIRED) r = FIDO_OK;  // U2F devices answer so
  return r;
}

Outcome<std::vector<std::unique_ptr<Device>>> open_all(const DeviceSource& source,
                                                        const std::vector<std::string>& paths) {
  std::vector<std::unique_ptr<Device>> devices;
  for (const auto& path : paths) {
    auto device = open_device(source, path);
    if (device.ok()) devices.push_back(std::move(device.value()));
  }
  if (devices.empty()) {
    return Failure{SSH_SK_ERR_DEVICE_NOT_FOUND,
                   "none of the " + std::to_string(paths.size()) +
                       " FIDO authenticators found could be opened: check its permissions (udev rules) and that "
                       "no other program holds it"};
  }
  return devices;
}

Outcome<std::unique_ptr<Device>> select_by_credential(const DeviceSource& source,
                                                      const std::vector<std::string>& paths,
                                                      const std::string& application,
                                                      std::span<const uint8_t> key_handle) {
  auto opened = open_all(source, paths);
  if (!opened.ok()) return opened.failure();
  for (auto& device : opened.value()) {
    device->arm(source.probe_timeout_ms);
    if (probe_for_credential(*device, application, key_handle) == FIDO_OK) return std::move(device);
  }
  return Failure{SSH_SK_ERR_DEVICE_NOT_FOUND, "none of the " + std::to_string(paths.size()) +
                                                  " FIDO authenticators present holds this key: insert the one "
                                                  "it was made on"};
}

Outcome<std::unique_ptr<Device>> select_by_touch(const DeviceSource& source,
                                                 const std::vector<std::string>& paths) {
  auto opened = open_all(source, paths);
  if (!opened.ok()) return opened.failure();
  auto& devices = opened.value();
  if (devices.size() == 1) return std::move(devices.front());
  size_t asking = 0;
  for (auto& device : devices) {
    device->arm(source.probe_timeout_ms);
    if (fido_dev_get_touch_begin(device->get()) == FIDO_OK) {
      ++asking;
    } else {
      device.reset();
    }
  }
  if (asking == 0) {
    return Failure{SSH_SK_ERR_GENERAL, "none of the FIDO authenticators present could be asked for a touch"};
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(source.operation_timeout_ms);
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(kTouchPollInterval);
    for (auto& device : devices) {
      if (device == nullptr) continue;
      int touched = 0;
      device->arm(kTouchStatusWaitMs + 1000);
      if (fido_dev_get_touch_status(device->get(), &touched, kTouchStatusWaitMs) != FIDO_OK) {
        device.reset();  // it went away or answered nonsense: stop asking it
        if (--asking == 0) {
          return Failure{SSH_SK_ERR_GENERAL, "every FIDO authenticator present failed while waiting for a touch"};
        }
        continue;
      }
      if (touched != 0) return std::move(device);
    }
  }
  return Failure{SSH_SK_ERR_GENERAL, "nobody touched any of the " + std::to_string(devices.size()) +
                                         " FIDO authenticators present in time: touch the one to use when it "
                                         "blinks"};
}

}  // namespace

DeviceSource device_source_from_environment() {
  DeviceSource source;
  const char* socket_path = std::getenv(kTestDeviceVariable);
  if (socket_path == nullptr || socket_path[0] == '\0') return source;
  source.paths = {socket_path};
  source.io = &socket_io_functions();
  source.arm_deadline = arm_socket_deadline;
  source.set_open_timeout = set_socket_open_timeout;
  if (const char* timeout = std::getenv(kTestTimeoutVariable); timeout != nullptr) {
    char* end = nullptr;
    const long ms = std::strtol(timeout, &end, 10);
    if (end != timeout && *end == '\0' && ms > 0 && ms <= kMaxTestTimeoutMs) {
      source.operation_timeout_ms = static_cast<int>(ms);
      source.probe_timeout_ms = static_cast<int>(ms);
    }
  }
  return source;
}

std::vector<Option> copy_options(struct sk_option** options) {
  std::vector<Option> out;
  if (options == nullptr) return out;
  for (size_t i = 0; options[i] != nullptr; ++i) {
    Option option;
    if (options[i]->name != nullptr) option.name = options[i]->name;
    if (options[i]->value != nullptr) option.value = options[i]->value;
    option.required = options[i]->required != 0;
    out.push_back(std::move(option));
  }
  return out;
}

Device::~Device() { free_dev(dev_); }

Device::Device(Device&& other) noexcept
    : source_(other.source_), dev_(std::exchange(other.dev_, nullptr)), path_(std::move(other.path_)) {}

void Device::arm(int timeout_ms) const {
  fido_dev_set_timeout(dev_, timeout_ms);
  if (source_->arm_deadline != nullptr) source_->arm_deadline(fido_dev_io_handle(dev_), timeout_ms);
}

Outcome<std::unique_ptr<Device>> open_device(const DeviceSource& source, const std::string& path) {
  if (!source.paths.empty()) {
    bool known = false;
    for (const auto& p : source.paths) known = known || p == path;
    if (!known) {
      return Failure{SSH_SK_ERR_DEVICE_NOT_FOUND, "no FIDO authenticator at " + path};
    }
  }
  fido_dev_t* dev = fido_dev_new();
  if (dev == nullptr) return Failure{SSH_SK_ERR_GENERAL, "out of memory"};
  if (source.io != nullptr && fido_dev_set_io_functions(dev, source.io) != FIDO_OK) {
    fido_dev_free(&dev);
    return Failure{SSH_SK_ERR_GENERAL, "libfido2 refused the device's I/O functions"};
  }
  // Bounds the CTAPHID_INIT and getInfo exchanges of the open itself.
  fido_dev_set_timeout(dev, source.probe_timeout_ms);
  if (source.set_open_timeout != nullptr) source.set_open_timeout(source.probe_timeout_ms);
  const int r = fido_dev_open(dev, path.c_str());
  if (r != FIDO_OK) {
    fido_dev_free(&dev);
    return Failure{SSH_SK_ERR_DEVICE_NOT_FOUND, "cannot open the FIDO authenticator " + path + ": " +
                                                    fido_strerr(r) +
                                                    " (is it still inserted, and may this user open it?)"};
  }
  return std::make_unique<Device>(source, dev, path);
}

Outcome<std::vector<std::string>> list_devices(const DeviceSource& source) {
  if (!source.paths.empty()) return source.paths;
  DevInfoList infos;
  infos.capacity = kMaxDevices;
  infos.list = fido_dev_info_new(infos.capacity);
  if (infos.list == nullptr) return Failure{SSH_SK_ERR_GENERAL, "out of memory"};
  size_t found = 0;
  if (const int r = fido_dev_info_manifest(infos.list, infos.capacity, &found); r != FIDO_OK) {
    return Failure{SSH_SK_ERR_GENERAL, std::string("cannot list the FIDO authenticators: ") + fido_strerr(r)};
  }
  std::vector<std::string> paths;
  for (size_t i = 0; i < found && i < infos.capacity; ++i) {
    const fido_dev_info_t* info = fido_dev_info_ptr(infos.list, i);
    const char* path = info != nullptr ? fido_dev_info_path(info) : nullptr;
    if (path != nullptr && path[0] != '\0') paths.emplace_back(path);
  }
  return paths;
}

Outcome<std::unique_ptr<Device>> choose_device(const DeviceSource& source, const std::string& device_option,
                                               const std::string& application, std::span<const uint8_t> key_handle,
                                               bool by_touch) {
  // libfido2's logging, on when FIDO_DEBUG is set in the environment.
  static std::once_flag initialised;
  std::call_once(initialised, [] { fido_init(0); });
  if (!device_option.empty()) return open_device(source, device_option);
  auto paths = list_devices(source);
  if (!paths.ok()) return paths.failure();
  if (paths->empty()) {
    return Failure{SSH_SK_ERR_DEVICE_NOT_FOUND, "no FIDO authenticator found: insert one (and check that this "
                                                "user may open it)"};
  }
  if (paths->size() == 1) return open_device(source, paths->front());
  if (by_touch || key_handle.empty()) return select_by_touch(source, paths.value());
  return select_by_credential(source, paths.value(), application, key_handle);
}

}  // namespace tessera::fido2
