// Finding and opening authenticators: discovery (USB HID, or the devices a
// DeviceSource names), an RAII owner of an open fido_dev_t, and the choice
// among several authenticators (OpenSSH's: the one holding a credential, by
// a silent probe; or the one a person touches).
#ifndef TESSERA_FIDO_MIDDLEWARE_DEVICES_H_
#define TESSERA_FIDO_MIDDLEWARE_DEVICES_H_

#include <fido.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "middleware.h"

namespace tessera::fido2 {

// An open authenticator. Cancels whatever is pending, closes and frees on
// destruction.
class Device {
 public:
  Device(const DeviceSource& source, fido_dev_t* dev, std::string path)
      : source_(&source), dev_(dev), path_(std::move(path)) {}
  ~Device();
  Device(Device&& other) noexcept;
  Device& operator=(Device&&) = delete;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  fido_dev_t* get() const { return dev_; }
  const std::string& path() const { return path_; }
  // Sets the deadline of the exchanges that follow: libfido2's own timeout,
  // and the source's I/O deadline where it has one.
  void arm(int timeout_ms) const;
  // The "uv" option of the authenticator's getInfo: true if it can verify
  // the user by itself (biometrics), without a PIN.
  bool has_builtin_uv() const { return fido_dev_has_uv(dev_); }

 private:
  const DeviceSource* source_;
  fido_dev_t* dev_;
  std::string path_;
};

// Opens the device at `path` through the source's I/O functions. Failure:
// SSH_SK_ERR_DEVICE_NOT_FOUND.
Outcome<std::unique_ptr<Device>> open_device(const DeviceSource& source, const std::string& path);

// The paths of the authenticators present (at most kMaxDevices).
Outcome<std::vector<std::string>> list_devices(const DeviceSource& source);

// The device to use: the one named by the "device" option if there is one;
// else the only one present; else, with several, the one that holds the
// credential (application and key_handle given: a silent probe without
// touch) or the one a person touches (no credential given).
Outcome<std::unique_ptr<Device>> choose_device(const DeviceSource& source, const std::string& device_option,
                                               const std::string& application, std::span<const uint8_t> key_handle,
                                               bool by_touch);

}  // namespace tessera::fido2

#endif  // TESSERA_FIDO_MIDDLEWARE_DEVICES_H_
