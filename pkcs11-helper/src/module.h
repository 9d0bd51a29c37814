// RAII over the PKCS#11 C API: the loaded module and its sessions, and the
// one place where CK_RV values become the protocol's error codes.
#ifndef TESSERA_PKCS11_HELPER_MODULE_H_
#define TESSERA_PKCS11_HELPER_MODULE_H_

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "tessera/pkcs11/protocol.h"

namespace tessera::pkcs11::helper {

// Maps a PKCS#11 return value to an Error carrying the protocol's error code
// (helper_error()). `what` names the call for the message ("C_Sign").
key::Error failure_from_ckr(CK_RV rv, std::string_view what);
std::string ckr_name(CK_RV rv);

// The loaded module: dlopen, C_GetFunctionList, C_Initialize with
// CKF_OS_LOCKING_OK (the helper calls it from several threads). C_Finalize
// on destruction; every Session must be gone by then. The library is not
// dlclosed: some modules (SoftHSM2) crash when unloaded, and the helper only
// ever loads one module, once.
class Module {
 public:
  // Fails with a message fit for a person when the file does not load, has
  // no C_GetFunctionList, or C_Initialize fails.
  static key::Result<std::unique_ptr<Module>> load(const std::string& path);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST_PTR api() const { return api_; }
  // "manufacturer library description version" from C_GetInfo.
  const std::string& description() const { return description_; }

 private:
  Module(void* handle, CK_FUNCTION_LIST_PTR api) : handle_(handle), api_(api) {}
  void* handle_;
  CK_FUNCTION_LIST_PTR api_;
  std::string description_;
};

// One PKCS#11 session, closed by the destructor. A session that carries the
// token's user login (logout_on_close) also logs out first: C_Logout ends the
// login of every session of the token, so only that one session may do it.
class Session {
 public:
  Session() = default;
  static key::Result<Session> open(CK_FUNCTION_LIST_PTR api, CK_SLOT_ID slot);
  ~Session() noexcept { close(); }
  Session(Session&& other) noexcept { *this = std::move(other); }
  Session& operator=(Session&& other) noexcept {
    if (this != &other) {
      close();
      api_ = std::exchange(other.api_, nullptr);
      handle_ = std::exchange(other.handle_, CK_INVALID_HANDLE);
      logout_on_close_ = std::exchange(other.logout_on_close_, false);
    }
    return *this;
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  CK_SESSION_HANDLE handle() const { return handle_; }
  bool valid() const { return api_ != nullptr; }
  void set_logout_on_close(bool value) { logout_on_close_ = value; }

 private:
  void close() noexcept;
  CK_FUNCTION_LIST_PTR api_ = nullptr;
  CK_SESSION_HANDLE handle_ = CK_INVALID_HANDLE;
  bool logout_on_close_ = false;
};

// A fixed-size PKCS#11 text field without its trailing blanks.
std::string trim_field(const CK_UTF8CHAR* field, size_t size);

}  // namespace tessera::pkcs11::helper

#endif  // TESSERA_PKCS11_HELPER_MODULE_H_
