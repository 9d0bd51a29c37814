// tessera-sk-soft.so: a SOFTWARE security key middleware, FOR TESTS ONLY.
//
//   ######################################################################
//   #  NOT A SECURITY KEY. THE KEY HANDLE IT RETURNS *IS* THE PRIVATE   #
//   #  KEY (DER, unencrypted): anyone holding the key file or key handle #
//   #  can sign. It exists so that tests can run tessera-sk-helper,      #
//   #  its client and OpenSSH's tools without an authenticator. Never    #
//   #  install it, never point a real SecurityKeyProvider at it.         #
//   ######################################################################
//
// It implements OpenSSH 9.2's middleware ABI (sk_api.h, 0x000a0000) and
// behaves as an authenticator does: it makes Ed25519 and P-256 credentials
// bound to their application, signs PROTOCOL.u2f's message
// SHA256(application) || flags || counter || SHA256(data) (ECDSA over its
// SHA-256, r and s; Ed25519 raw, 64 bytes), keeps a signature counter and
// resident credentials in a state directory, and asks for a PIN where a
// FIDO2 authenticator with a PIN would. OpenSSH's ssh-keygen -w loads it too.
//
// Environment (read at each call):
//   TESSERA_SK_SOFT_DIR       state directory: "counter" (the signature counter,
//                             shared under flock) and "resident/" (one file per
//                             resident credential). Unset: no resident keys, and
//                             the counter is the time in seconds.
//   TESSERA_SK_SOFT_PIN       the authenticator has this PIN. It is needed to enrol
//                             or use a verify-required credential, to make a
//                             resident one and to list them; missing or wrong ->
//                             SSH_SK_ERR_PIN_REQUIRED. Unset: no PIN, and
//                             verify-required -> SSH_SK_ERR_UNSUPPORTED.
//   TESSERA_SK_SOFT_DEVICE    the only "device" option accepted (another ->
//                             SSH_SK_ERR_DEVICE_NOT_FOUND). Unset: any.
//   TESSERA_SK_SOFT_DELAY_MS  the "touch": each enrol and sign waits this long.
//   TESSERA_SK_SOFT_LOG       a file to which each call appends one line saying
//                             what it was given (operation, alg, flags, application,
//                             pin yes/no, device, user, data length) and how the
//                             process is set up (dumpable, no_new_privs, core limit,
//                             open descriptors, whether stdout is stderr).
//   TESSERA_SK_SOFT_FAULT     comma-separated faults:
//     hang                 never return (enrol, sign, list)
//     hang-child           fork a child that never ends (its pid in DIR/child.pid), then hang
//     crash                die of SIGSEGV;  exit: _exit(3) without answering
//     stdout-noise         write to stdout (at load time and in each call)
//     bad-version          sk_api_version() says 0x00090000
//     bad-signature        flip a bit of each signature
//     wrong-key-handle     enrol: return another key's handle; sign: sign with another key
//     counter-backwards    each signature's counter is one less than the last one
//     short-public-key     the public key is one byte short
//     bad-point            ECDSA: a public key that is not on the curve
//     null-public-key, null-key-handle, null-signature, null-response (success, no response)
//     long-key-handle      a 4096-byte key handle
//     long-signature       a signature part of 100 bytes
//     lying-length         a key handle length far beyond its buffer
//     many-resident-keys   list 200 (made-up) resident keys
//     foreign-resident-keys  list also a "web:" credential and one of an unknown algorithm
//     null-application     a resident key without an application
//     error-general, error-unsupported, error-device-not-found, error-credential-exists,
//     error-weird (returns -42)
//
// Exports sk_api_version, sk_enroll, sk_sign and sk_load_resident_keys only.
// Uses OpenSSL directly (not libkey): it is a stand-in for a foreign middleware.

#include <dirent.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/fido/sk_api.h"

#define SOFT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using Bytes = std::vector<uint8_t>;

constexpr char kHandleMagic[4] = {'T', 'S', 'K', '1'};
constexpr char kResidentMagic[4] = {'T', 'S', 'R', '1'};

// ---- environment ----

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

bool fault(std::string_view name) {
  const char* list = env("TESSERA_SK_SOFT_FAULT");
  if (list == nullptr) return false;
  std::string_view rest(list);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    if (rest.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

void say(const char* message) { std::fprintf(stderr, "tessera-sk-soft: %s\n", message); }

// How the process that loaded us is set up: dumpable, no_new_privs, the core
// size limit, its open descriptors, and whether stdout is stderr.
std::string process_report() {
  std::string fds;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    std::vector<int> open;
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      const int fd = std::atoi(e->d_name);
      if (fd != own) open.push_back(fd);
    }
    ::closedir(dir);
    std::sort(open.begin(), open.end());
    for (int fd : open) fds += (fds.empty() ? "" : ",") + std::to_string(fd);
  }
  struct rlimit core {};
  ::getrlimit(RLIMIT_CORE, &core);
  struct stat out {}, err {};
  const bool same = ::fstat(STDOUT_FILENO, &out) == 0 && ::fstat(STDERR_FILENO, &err) == 0 &&
                    out.st_dev == err.st_dev && out.st_ino == err.st_ino;
  return " dumpable=" + std::to_string(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) +
         " nnp=" + std::to_string(::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)) +
         " core=" + std::to_string(core.rlim_cur) + " fds=" + fds + " stdout_is_stderr=" + (same ? "yes" : "no");
}

void log_call(const std::string& line) {
  const char* path = env("TESSERA_SK_SOFT_LOG");
  if (path == nullptr) return;
  const std::string text = line + process_report() + "\n";
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

void noise() {
  if (!fault("stdout-noise")) return;
  std::printf("tessera-sk-soft: noise on stdout (buffered)\n");
  static const char raw[] = "tessera-sk-soft: noise written straight to fd 1\n";
  (void)!::write(STDOUT_FILENO, raw, sizeof raw - 1);
  (void)!::write(STDIN_FILENO, raw, sizeof raw - 1);
}

__attribute__((constructor)) void noise_at_load() { noise(); }

[[noreturn]] void hang() {
  for (;;) ::pause();
}

// The faults every operation shares. Returns a value to return at once, or 0.
int common_faults() {
  noise();
  if (fault("hang-child")) {
    const pid_t child = ::fork();
    if (child == 0) hang();
    if (const char* dir = env("TESSERA_SK_SOFT_DIR")) {
      const std::string path = std::string(dir) + "/child.pid";
      if (FILE* f = std::fopen(path.c_str(), "w")) {
        std::fprintf(f, "%d\n", static_cast<int>(child));
        std::fclose(f);
      }
    }
    hang();
  }
  if (fault("hang")) hang();
  if (fault("crash")) {
    ::signal(SIGSEGV, SIG_DFL);  // past a sanitizer's handler: the process dies of the signal
    ::raise(SIGSEGV);
  }
  if (fault("exit")) ::_exit(3);
  if (fault("error-general")) return SSH_SK_ERR_GENERAL;
  if (fault("error-unsupported")) return SSH_SK_ERR_UNSUPPORTED;
  if (fault("error-device-not-found")) return SSH_SK_ERR_DEVICE_NOT_FOUND;
  if (fault("error-credential-exists")) return SSH_SK_ERR_CREDENTIAL_EXISTS;
  if (fault("error-weird")) return -42;
  return 0;
}

void touch_delay() {
  const char* delay = env("TESSERA_SK_SOFT_DELAY_MS");
  if (delay == nullptr) return;
  const long ms = std::strtol(delay, nullptr, 10);
  if (ms <= 0) return;
  timespec t{ms / 1000, (ms % 1000) * 1000000L};
  while (::nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

std::string option(sk_option** options, const char* name) {
  for (size_t i = 0; options != nullptr && options[i] != nullptr; ++i) {
    if (std::strcmp(options[i]->name, name) == 0 && options[i]->value != nullptr) return options[i]->value;
  }
  return {};
}

// SSH_SK_ERR_DEVICE_NOT_FOUND when a device other than TESSERA_SK_SOFT_DEVICE is asked for.
int check_device(sk_option** options) {
  const char* only = env("TESSERA_SK_SOFT_DEVICE");
  const std::string device = option(options, "device");
  if (only != nullptr && !device.empty() && device != only) {
    say("no such device");
    return SSH_SK_ERR_DEVICE_NOT_FOUND;
  }
  return 0;
}

enum class Pin { kNotSet, kVerified, kBad };
// What the given PIN amounts to on this "authenticator".
Pin check_pin(const char* pin) {
  const char* expected = env("TESSERA_SK_SOFT_PIN");
  if (expected == nullptr) return Pin::kNotSet;
  if (pin == nullptr || std::strcmp(pin, expected) != 0) return Pin::kBad;
  return Pin::kVerified;
}

// ---- bytes ----

Bytes sha256(const void* data, size_t size) {
  Bytes digest(SHA256_DIGEST_LENGTH);
  SHA256(static_cast<const unsigned char*>(data), size, digest.data());
  return digest;
}

uint8_t* malloc_copy(const Bytes& bytes) {
  auto* copy = static_cast<uint8_t*>(std::malloc(bytes.empty() ? 1 : bytes.size()));
  if (copy != nullptr && !bytes.empty()) std::memcpy(copy, bytes.data(), bytes.size());
  return copy;
}

void put_u32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void put_string(Bytes& out, const Bytes& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}
bool get_u32(const Bytes& in, size_t& at, uint32_t& v) {
  if (at > in.size() || in.size() - at < 4) return false;
  v = (uint32_t{in[at]} << 24) | (uint32_t{in[at + 1]} << 16) | (uint32_t{in[at + 2]} << 8) | in[at + 3];
  at += 4;
  return true;
}
bool get_string(const Bytes& in, size_t& at, Bytes& s) {
  uint32_t n;
  if (!get_u32(in, at, n) || in.size() - at < n) return false;
  s.assign(in.begin() + static_cast<long>(at), in.begin() + static_cast<long>(at + n));
  at += n;
  return true;
}

std::string hex(const Bytes& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

bool read_file(const std::string& path, Bytes& out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  out.clear();
  uint8_t chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out.insert(out.end(), chunk, chunk + n);
  std::fclose(f);
  return true;
}

bool write_file_atomically(const std::string& path, const Bytes& data) {
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  return ok && ::rename(temp.c_str(), path.c_str()) == 0;
}

// ---- keys ----

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey generate(uint32_t alg) {
  return Pkey(alg == SSH_SK_ED25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

Bytes public_key_of(uint32_t alg, EVP_PKEY* pkey) {
  Bytes out(65);
  size_t len = out.size();
  if (alg == SSH_SK_ED25519) {
    if (EVP_PKEY_get_raw_public_key(pkey, out.data(), &len) != 1) return {};
  } else if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out.data(), out.size(),
                                             &len) != 1) {
    return {};
  }
  out.resize(len);
  return out;
}

// The key handle: magic, alg, SHA256(application), the DER private key.
Bytes make_key_handle(uint32_t alg, const std::string& application, EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  const int len = i2d_PrivateKey(pkey, &der);
  if (len <= 0) return {};
  Bytes handle(kHandleMagic, kHandleMagic + 4);
  handle.push_back(static_cast<uint8_t>(alg));
  const Bytes app_hash = sha256(application.data(), application.size());
  handle.insert(handle.end(), app_hash.begin(), app_hash.end());
  handle.insert(handle.end(), der, der + len);
  OPENSSL_clear_free(der, static_cast<size_t>(len));
  return handle;
}

// The private key in a key handle, if it is one of ours for this alg and application.
Pkey open_key_handle(uint32_t alg, const std::string& application, const uint8_t* handle, size_t len) {
  constexpr size_t header = 4 + 1 + SHA256_DIGEST_LENGTH;
  if (handle == nullptr || len <= header || std::memcmp(handle, kHandleMagic, 4) != 0 || handle[4] != alg) {
    return nullptr;
  }
  if (sha256(application.data(), application.size()) != Bytes(handle + 5, handle + header)) return nullptr;
  const unsigned char* der = handle + header;
  return Pkey(d2i_AutoPrivateKey(nullptr, &der, static_cast<long>(len - header)));
}

// Ed25519: the raw signature; ECDSA: r and s, 32 bytes each.
bool sign_message(uint32_t alg, EVP_PKEY* pkey, const Bytes& message, Bytes& r, Bytes& s) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = false;
  size_t len = 0;
  if (EVP_DigestSignInit(ctx, nullptr, alg == SSH_SK_ED25519 ? nullptr : EVP_sha256(), nullptr, pkey) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, message.data(), message.size()) == 1) {
    Bytes sig(len);
    if (EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size()) == 1) {
      sig.resize(len);
      if (alg == SSH_SK_ED25519) {
        r = sig;
        s.clear();
        ok = true;
      } else {
        const unsigned char* p = sig.data();
        ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        if (ecdsa != nullptr) {
          r.assign(32, 0);
          s.assign(32, 0);
          ok = BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), r.data(), 32) == 32 &&
               BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), s.data(), 32) == 32;
          ECDSA_SIG_free(ecdsa);
        }
      }
    }
  }
  EVP_MD_CTX_free(ctx);
  return ok;
}

// SHA256(application) || flags || counter || SHA256(data) (PROTOCOL.u2f).
Bytes signed_message(const std::string& application, uint8_t flags, uint32_t counter, const Bytes& data_hash) {
  Bytes message = sha256(application.data(), application.size());
  message.push_back(flags);
  put_u32(message, counter);
  message.insert(message.end(), data_hash.begin(), data_hash.end());
  return message;
}

// ---- state ----

// The next signature counter (shared by every process under flock).
uint32_t next_counter() {
  const char* dir = env("TESSERA_SK_SOFT_DIR");
  if (dir == nullptr) return static_cast<uint32_t>(std::time(nullptr));
  const std::string path = std::string(dir) + "/counter";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  ::flock(fd, LOCK_EX);
  char text[32] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  uint32_t counter = n > 0 ? static_cast<uint32_t>(std::strtoul(text, nullptr, 10)) : 0;
  if (fault("counter-backwards")) {
    counter = counter > 0 ? counter - 1 : 0;
  } else {
    ++counter;
  }
  const int len = std::snprintf(text, sizeof text, "%u\n", counter);
  (void)!::ftruncate(fd, 0);
  (void)!::pwrite(fd, text, static_cast<size_t>(len), 0);
  ::close(fd);  // releases the lock
  return counter;
}

std::string resident_dir() {
  const char* dir = env("TESSERA_SK_SOFT_DIR");
  return dir == nullptr ? std::string() : std::string(dir) + "/resident";
}

struct Resident {
  uint32_t alg = 0;
  uint8_t flags = 0;
  std::string application;
  Bytes user_id;
  Bytes key_handle;
  Bytes public_key;
};

Bytes encode_resident(const Resident& r) {
  Bytes out(kResidentMagic, kResidentMagic + 4);
  put_u32(out, r.alg);
  out.push_back(r.flags);
  put_string(out, Bytes(r.application.begin(), r.application.end()));
  put_string(out, r.user_id);
  put_string(out, r.key_handle);
  put_string(out, r.public_key);
  return out;
}

bool decode_resident(const Bytes& in, Resident& r) {
  if (in.size() < 9 || std::memcmp(in.data(), kResidentMagic, 4) != 0) return false;
  size_t at = 4;
  Bytes application;
  if (!get_u32(in, at, r.alg)) return false;
  r.flags = in[at++];
  return get_string(in, at, application) && get_string(in, at, r.user_id) && get_string(in, at, r.key_handle) &&
         get_string(in, at, r.public_key) && at == in.size() &&
         (r.application.assign(application.begin(), application.end()), true);
}

std::string resident_path(const std::string& application, const Bytes& user_id) {
  Bytes id(application.begin(), application.end());
  id.push_back(0);
  id.insert(id.end(), user_id.begin(), user_id.end());
  return resident_dir() + "/" + hex(sha256(id.data(), id.size())) + ".rk";
}

[[maybe_unused]] std::vector<Resident> all_residents() {
  std::vector<Resident> residents;
  const std::string dir = resident_dir();
  DIR* d = dir.empty() ? nullptr : ::opendir(dir.c_str());
  if (d == nullptr) return residents;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".rk") == 0) names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    Bytes data;
    Resident r;
    if (read_file(dir + "/" + name, data) && decode_resident(data, r)) residents.push_back(std::move(r));
  }
  return residents;
}

// ---- responses ----

[[maybe_unused]] sk_resident_key* make_resident_key(const Resident& r, size_t slot) {
  auto* key = static_cast<sk_resident_key*>(std::calloc(1, sizeof(sk_resident_key)));
  key->alg = r.alg;
  key->slot = slot;
  key->application = strdup(r.application.c_str());
  key->key.public_key = malloc_copy(r.public_key);
  key->key.public_key_len = r.public_key.size();
  key->key.key_handle = malloc_copy(r.key_handle);
  key->key.key_handle_len = r.key_handle.size();
  key->flags = r.flags;
  key->user_id = malloc_copy(r.user_id);
  key->user_id_len = r.user_id.size();
  return key;
}

// Applies the response faults to a public key and key handle about to be returned.
void damage_key(uint32_t alg, uint8_t*& public_key, size_t& public_key_len, uint8_t*& key_handle,
                size_t& key_handle_len) {
  if (fault("short-public-key")) public_key_len -= 1;
  if (fault("bad-point") && alg == SSH_SK_ECDSA) std::memset(public_key + 1, 0x01, public_key_len - 1);
  if (fault("null-public-key")) {
    std::free(public_key);
    public_key = nullptr;
  }
  if (fault("long-key-handle")) {
    std::free(key_handle);
    key_handle_len = 4096;
    key_handle = static_cast<uint8_t*>(std::calloc(1, key_handle_len));
  }
  if (fault("lying-length")) key_handle_len = 1000;  // within limits, far beyond the buffer
  if (fault("null-key-handle")) {
    std::free(key_handle);
    key_handle = nullptr;
  }
}

}  // namespace

SOFT_EXPORT uint32_t sk_api_version(void) { return fault("bad-version") ? 0x00090000 : SSH_SK_VERSION_MAJOR; }

SOFT_EXPORT int sk_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application,
                          uint8_t flags, const char* pin, struct sk_option** options,
                          struct sk_enroll_response** enroll_response) {
  const std::string user = option(options, "user");
  log_call("enroll alg=" + std::to_string(alg) + " application=" + (application ? application : "(null)") +
           " flags=" + std::to_string(flags) + " pin=" + (pin ? "yes" : "no") +
           " device=" + option(options, "device") + " user=" + user +
           " challenge=" + std::to_string(challenge_len));
  if (enroll_response == nullptr || application == nullptr || challenge == nullptr) return SSH_SK_ERR_GENERAL;
  *enroll_response = nullptr;
  if (int rc = common_faults(); rc != 0) return rc;
  if (int rc = check_device(options); rc != 0) return rc;
  if (alg != SSH_SK_ED25519 && alg != SSH_SK_ECDSA) return SSH_SK_ERR_UNSUPPORTED;

  const Pin pin_state = check_pin(pin);
  const bool resident = (flags & SSH_SK_RESIDENT_KEY) != 0;
  if ((flags & SSH_SK_USER_VERIFICATION_REQD) != 0 && pin_state == Pin::kNotSet) {
    say("verify-required needs a PIN on the authenticator (set TESSERA_SK_SOFT_PIN)");
    return SSH_SK_ERR_UNSUPPORTED;
  }
  if (pin_state == Pin::kBad && (pin != nullptr || resident || (flags & SSH_SK_USER_VERIFICATION_REQD) != 0)) {
    return SSH_SK_ERR_PIN_REQUIRED;
  }
  if (resident && resident_dir().empty()) {
    say("resident keys need TESSERA_SK_SOFT_DIR");
    return SSH_SK_ERR_UNSUPPORTED;
  }
  Bytes user_id = user.empty() ? Bytes(32, 0) : Bytes(user.begin(), user.end());
  if (resident && (flags & SSH_SK_FORCE_OPERATION) == 0 && ::access(resident_path(application, user_id).c_str(), F_OK) == 0) {
    return SSH_SK_ERR_CREDENTIAL_EXISTS;
  }
  touch_delay();

  Pkey pkey = generate(alg);
  if (!pkey) return SSH_SK_ERR_GENERAL;
  const Bytes public_key = public_key_of(alg, pkey.get());
  Bytes key_handle = make_key_handle(alg, application, pkey.get());
  if (fault("wrong-key-handle")) {
    Pkey other = generate(alg);
    key_handle = make_key_handle(alg, application, other.get());
  }
  if (public_key.empty() || key_handle.empty()) return SSH_SK_ERR_GENERAL;

  // Self attestation: authenticator data (rpIdHash, flags, counter) as a CBOR
  // byte string, signed with the credential's key together with the
  // challenge's hash. Nothing here checks attestation; it is for shape.
  const uint8_t auth_flags = static_cast<uint8_t>(
      0x01 | ((flags & SSH_SK_USER_VERIFICATION_REQD) != 0 ? 0x04 : 0x00));
  Bytes authdata = signed_message(application, auth_flags, 0, {});
  Bytes cbor_authdata = {0x58, static_cast<uint8_t>(authdata.size())};
  cbor_authdata.insert(cbor_authdata.end(), authdata.begin(), authdata.end());
  Bytes attested = authdata;
  const Bytes challenge_hash = sha256(challenge, challenge_len);
  attested.insert(attested.end(), challenge_hash.begin(), challenge_hash.end());
  Bytes attestation_r, attestation_s, attestation;
  if (!sign_message(alg, pkey.get(), attested, attestation_r, attestation_s)) return SSH_SK_ERR_GENERAL;
  attestation = attestation_r;
  attestation.insert(attestation.end(), attestation_s.begin(), attestation_s.end());

  if (resident) {
    Resident r{alg, static_cast<uint8_t>(flags & SSH_SK_USER_VERIFICATION_REQD), application, user_id, key_handle,
               public_key};
    ::mkdir(resident_dir().c_str(), 0700);
    if (!write_file_atomically(resident_path(application, user_id), encode_resident(r))) {
      say("cannot store the resident credential");
      return SSH_SK_ERR_GENERAL;
    }
  }

  if (fault("null-response")) return 0;
  auto* response = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
  if (response == nullptr) return SSH_SK_ERR_GENERAL;
  response->flags = static_cast<uint8_t>(flags & ~SSH_SK_FORCE_OPERATION);
  response->public_key = malloc_copy(public_key);
  response->public_key_len = public_key.size();
  response->key_handle = malloc_copy(key_handle);
  response->key_handle_len = key_handle.size();
  response->signature = malloc_copy(attestation);
  response->signature_len = attestation.size();
  response->authdata = malloc_copy(cbor_authdata);
  response->authdata_len = cbor_authdata.size();
  damage_key(alg, response->public_key, response->public_key_len, response->key_handle, response->key_handle_len);
  *enroll_response = response;
  return 0;
}

SOFT_EXPORT int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
                        const uint8_t* key_handle, size_t key_handle_len, uint8_t flags, const char* pin,
                        struct sk_option** options, struct sk_sign_response** sign_response) {
  log_call("sign alg=" + std::to_string(alg) + " application=" + (application ? application : "(null)") +
           " flags=" + std::to_string(flags) + " pin=" + (pin ? "yes" : "no") +
           " device=" + option(options, "device") + " data=" + std::to_string(data_len));
  if (sign_response == nullptr || application == nullptr || (data == nullptr && data_len > 0)) {
    return SSH_SK_ERR_GENERAL;
  }
  *sign_response = nullptr;
  if (int rc = common_faults(); rc != 0) return rc;
  if (int rc = check_device(options); rc != 0) return rc;
  if (alg != SSH_SK_ED25519 && alg != SSH_SK_ECDSA) return SSH_SK_ERR_UNSUPPORTED;

  Pkey pkey = open_key_handle(alg, application, key_handle, key_handle_len);
  if (!pkey) {
    // As an authenticator without the credential: no device holds it.
    say("this authenticator does not hold that credential");
    return SSH_SK_ERR_DEVICE_NOT_FOUND;
  }
  const Pin pin_state = check_pin(pin);
  const bool verify = (flags & SSH_SK_USER_VERIFICATION_REQD) != 0;
  if (verify && pin_state == Pin::kNotSet) return SSH_SK_ERR_UNSUPPORTED;
  if (pin_state == Pin::kBad && (pin != nullptr || verify)) return SSH_SK_ERR_PIN_REQUIRED;
  touch_delay();
  if (fault("wrong-key-handle")) pkey = generate(alg);

  const uint8_t auth_flags = static_cast<uint8_t>(((flags & SSH_SK_USER_PRESENCE_REQD) != 0 ? 0x01 : 0x00) |
                                                  (verify && pin_state == Pin::kVerified ? 0x04 : 0x00));
  const uint32_t counter = next_counter();
  const Bytes message = signed_message(application, auth_flags, counter, sha256(data, data_len));
  Bytes r, s;
  if (!sign_message(alg, pkey.get(), message, r, s)) return SSH_SK_ERR_GENERAL;
  if (fault("bad-signature")) r[r.size() / 2] ^= 0x01;
  if (fault("long-signature")) r.resize(100, 0x42);

  auto* response = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
  if (response == nullptr) return SSH_SK_ERR_GENERAL;
  response->flags = auth_flags;
  response->counter = counter;
  response->sig_r = fault("null-signature") ? nullptr : malloc_copy(r);
  response->sig_r_len = r.size();
  if (!s.empty()) {
    response->sig_s = malloc_copy(s);
    response->sig_s_len = s.size();
  }
  *sign_response = response;
  return 0;
}

#ifndef TESSERA_SK_SOFT_OMIT_LOAD
SOFT_EXPORT int sk_load_resident_keys(const char* pin, struct sk_option** options, struct sk_resident_key*** rks,
                                      size_t* nrks) {
  log_call(std::string("load pin=") + (pin ? "yes" : "no") + " device=" + option(options, "device"));
  if (rks == nullptr || nrks == nullptr) return SSH_SK_ERR_GENERAL;
  *rks = nullptr;
  *nrks = 0;
  if (int rc = common_faults(); rc != 0) return rc;
  if (int rc = check_device(options); rc != 0) return rc;
  if (check_pin(pin) == Pin::kBad) return SSH_SK_ERR_PIN_REQUIRED;
  if (resident_dir().empty()) return SSH_SK_ERR_UNSUPPORTED;

  std::vector<Resident> residents = all_residents();
  if (fault("many-resident-keys")) {
    Pkey pkey = generate(SSH_SK_ED25519);
    for (int i = 0; i < 200; ++i) {
      const std::string application = "ssh:many" + std::to_string(i);
      residents.push_back(Resident{SSH_SK_ED25519, 0, application, Bytes(32, 0),
                                   make_key_handle(SSH_SK_ED25519, application, pkey.get()),
                                   public_key_of(SSH_SK_ED25519, pkey.get())});
    }
  }
  if (fault("foreign-resident-keys")) {
    Pkey pkey = generate(SSH_SK_ED25519);
    const Bytes public_key = public_key_of(SSH_SK_ED25519, pkey.get());
    residents.push_back(Resident{SSH_SK_ED25519, 0, "web:example.com", Bytes(8, 1),
                                 make_key_handle(SSH_SK_ED25519, "web:example.com", pkey.get()), public_key});
    residents.push_back(Resident{99, 0, "ssh:unknown-alg", Bytes(8, 2), Bytes(16, 3), Bytes(16, 4)});
  }
  auto** keys = static_cast<sk_resident_key**>(std::calloc(residents.empty() ? 1 : residents.size(),
                                                           sizeof(sk_resident_key*)));
  if (keys == nullptr) return SSH_SK_ERR_GENERAL;
  for (size_t i = 0; i < residents.size(); ++i) {
    keys[i] = make_resident_key(residents[i], i);
    damage_key(keys[i]->alg, keys[i]->key.public_key, keys[i]->key.public_key_len, keys[i]->key.key_handle,
               keys[i]->key.key_handle_len);
    if (fault("null-application")) {
      std::free(keys[i]->application);
      keys[i]->application = nullptr;
    }
  }
  *rks = keys;
  *nrks = residents.size();
  return 0;
}
#endif  // TESSERA_SK_SOFT_OMIT_LOAD
