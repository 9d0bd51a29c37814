#include "module.h"

#include <dlfcn.h>

#include <cstdio>

namespace tessera::pkcs11::helper {

std::string ckr_name(CK_RV rv) {
  switch (rv) {
    case CKR_OK: return "CKR_OK";
    case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_PIN_INVALID: return "CKR_PIN_INVALID";
    case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
    case CKR_PIN_EXPIRED: return "CKR_PIN_EXPIRED";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_DATA_LEN_RANGE: return "CKR_DATA_LEN_RANGE";
    case CKR_FUNCTION_CANCELED: return "CKR_FUNCTION_CANCELED";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "CKR 0x%lx", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

key::Error failure_from_ckr(CK_RV rv, std::string_view what) {
  const std::string where = std::string(what) + ": " + ckr_name(rv);
  switch (rv) {
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
      return helper_error(ErrorCode::kTokenRemoved, "the token is not present (" + where + "): insert it again");
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
      return helper_error(ErrorCode::kDeviceError, "the token failed (" + where + "): check the token and its reader");
    case CKR_USER_NOT_LOGGED_IN:
      return helper_error(ErrorCode::kNotLoggedIn, "not logged in to the token (" + where + "): log in and retry");
    case CKR_PIN_INCORRECT:
      return helper_error(ErrorCode::kPinIncorrect, "incorrect PIN (" + where + ")");
    case CKR_PIN_LOCKED:
      return helper_error(ErrorCode::kPinLocked, "the PIN is locked (" + where + "): unblock it with the SO PIN or PUK");
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
      return helper_error(ErrorCode::kPinInvalid, "the token refuses this PIN's length or characters (" + where + ")");
    case CKR_MECHANISM_INVALID:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
      return helper_error(ErrorCode::kUnsupported, "the token cannot sign this way (" + where + ")");
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
      return helper_error(ErrorCode::kKeyNotFound, "the key is no longer on the token (" + where + ")");
    default:
      return helper_error(ErrorCode::kModuleError, "the PKCS#11 module failed (" + where + ")");
  }
}

std::string trim_field(const CK_UTF8CHAR* field, size_t size) {
  std::string text(reinterpret_cast<const char*>(field), size);
  const auto end = text.find_last_not_of(" \0", std::string::npos, 2);
  text.resize(end == std::string::npos ? 0 : end + 1);
  return text;
}

key::Result<std::unique_ptr<Module>> Module::load(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return helper_error(ErrorCode::kModuleError, "cannot load PKCS#11 module " + path + ": " + (why ? why : "?"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST_PTR api = nullptr;
  if (get_list == nullptr || get_list(&api) != CKR_OK || api == nullptr) {
    dlclose(handle);
    return helper_error(ErrorCode::kModuleError, path + " is not a PKCS#11 module (no usable C_GetFunctionList)");
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  const CK_RV rv = api->C_Initialize(&args);
  if (rv != CKR_OK) {
    dlclose(handle);
    return failure_from_ckr(rv, "C_Initialize").with_context("cannot initialize " + path);
  }
  std::unique_ptr<Module> module(new Module(handle, api));
  CK_INFO info{};
  if (api->C_GetInfo(&info) == CKR_OK) {
    module->description_ = trim_field(info.manufacturerID, sizeof info.manufacturerID) + " " +
                           trim_field(info.libraryDescription, sizeof info.libraryDescription) + " " +
                           std::to_string(info.libraryVersion.major) + "." +
                           std::to_string(info.libraryVersion.minor);
  }
  return module;
}

Module::~Module() {
  api_->C_Finalize(nullptr);
  (void)handle_;  // not dlclosed: see module.h
}

key::Result<Session> Session::open(CK_FUNCTION_LIST_PTR api, CK_SLOT_ID slot) {
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv = api->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &handle);
  if (rv != CKR_OK) return failure_from_ckr(rv, "C_OpenSession");
  Session session;
  session.api_ = api;
  session.handle_ = handle;
  return session;
}

void Session::close() noexcept {
  if (api_ == nullptr) return;
  if (logout_on_close_) api_->C_Logout(handle_);
  api_->C_CloseSession(handle_);
  api_ = nullptr;
  handle_ = CK_INVALID_HANDLE;
  logout_on_close_ = false;
}

}  // namespace tessera::pkcs11::helper
