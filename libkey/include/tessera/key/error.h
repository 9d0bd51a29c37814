// Error and Result: how every libkey function that can fail on input reports it.
//
// No exceptions cross a library boundary. A failure is an Error: a small,
// stable code plus a human-readable detail ("expected 32-byte ed25519 key,
// got 31"). Result<T> holds either a T or an Error.
#ifndef TESSERA_KEY_ERROR_H_
#define TESSERA_KEY_ERROR_H_

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tessera::key {

enum class Errc : uint8_t {
  kTruncated = 1,       // input ended before a field did
  kTrailingData,        // bytes left after a complete structure
  kTooLarge,            // a field or input exceeds a named size limit
  kMalformed,           // structurally invalid input
  kUnsupported,         // well-formed, but a type/cipher/format tessera does not handle
  kInvalidKey,          // key material fails validation (point not on curve, RSA too small, ...)
  kBadSignature,        // signature does not verify
  kPassphraseRequired,  // the key is encrypted and no passphrase was given
  kWrongPassphrase,     // decryption check failed
  kCrypto,              // the crypto library failed unexpectedly
  kIo,                  // file or system error
  kInvalidArgument,     // caller asked for something impossible (e.g. RSA 1024 generation)
};

// A short, stable description of each code ("truncated input").
std::string_view errc_text(Errc code);

class Error {
 public:
  Error(Errc code, std::string detail = {}) : code_(code), detail_(std::move(detail)) {}

  Errc code() const { return code_; }
  const std::string& detail() const { return detail_; }
  // "detail" when there is one, else the code's text.
  std::string message() const;

  // Returns a copy whose detail is prefixed with context: "private key: detail".
  Error with_context(std::string_view context) const;

  // A finer code of the component that failed (the PKCS#11 helper's error
  // code, say) and flags it reports with it (its token's PIN state); 0 when
  // there are none. with_context() keeps them.
  Error with_subcode(uint32_t subcode, uint32_t flags = 0) const {
    Error copy = *this;
    copy.subcode_ = subcode;
    copy.flags_ = flags;
    return copy;
  }
  uint32_t subcode() const { return subcode_; }
  uint32_t flags() const { return flags_; }

 private:
  Errc code_;
  std::string detail_;
  uint32_t subcode_ = 0;
  uint32_t flags_ = 0;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Accessing the value of a failed Result is a programming error: it aborts.
  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  void check() const {
    if (v_.index() != 0) std::abort();
  }
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{Errc::kMalformed};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace tessera::key

#define TESSERA_CONCAT_INNER_(a, b) a##b
#define TESSERA_CONCAT_(a, b) TESSERA_CONCAT_INNER_(a, b)

// Returns the error of a failed Status/Result from the enclosing function.
#define TESSERA_TRY(expr)                                 \
  do {                                                    \
    auto&& tessera_try_result_ = (expr);                  \
    if (!tessera_try_result_.ok()) return tessera_try_result_.error(); \
  } while (0)

// TESSERA_ASSIGN_OR_RETURN(auto x, parse(...)); declares/assigns x or returns the error.
#define TESSERA_ASSIGN_OR_RETURN(lhs, expr) \
  TESSERA_ASSIGN_OR_RETURN_IMPL_(TESSERA_CONCAT_(tessera_result_, __LINE__), lhs, expr)
#define TESSERA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.error();                   \
  lhs = std::move(tmp).value()

#endif  // TESSERA_KEY_ERROR_H_
