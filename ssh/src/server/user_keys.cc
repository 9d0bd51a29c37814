// The publickey decision, step by step as OpenSSH 9.2's sshd takes it:
// userauth_pubkey()'s checks of the request, then user_key_allowed():
// RevokedKeys, each AuthorizedKeysFile (user_key_allowed2 /
// auth_check_authkeys_file), then TrustedUserCAKeys (user_cert_trusted_ca).
// Log lines keep sshd's wording and levels so that an administrator reading
// tessera-sshd's log finds what sshd would have said.
#include "server/user_keys.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/krl.h"
#include "tessera/key/match.h"

namespace tessera::ssh::server {

using config::LogLevel;
using key::Errc;
using key::Error;
using key::Result;

namespace {

// Key types OpenSSH 9.2 reads that tessera does not: lines holding them are
// skipped where sshd would read them and find they do not match.
bool foreign_openssh_key_type(std::string_view type) {
  return type == "ssh-dss" || type == "ssh-dss-cert-v01@openssh.com" || type == "ssh-xmss@openssh.com" ||
         type == "ssh-xmss-cert-v01@openssh.com";
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

bool file_configured(std::string_view path) { return !path.empty() && !equals_ignore_case(path, "none"); }

std::string clip(std::string_view s, size_t n) { return std::string(s.substr(0, n)); }

std::string errno_text(int err) { return std::strerror(err); }

// Splits a file into lines (without their '\n'), calling f(line, number)
// until it returns false.
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  size_t number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    ++number;
    if (!f(text.substr(0, end), number)) return;
    if (end == std::string_view::npos) return;
    text.remove_prefix(end + 1);
  }
}

// ---- the request --------------------------------------------------------------

struct RequestAlgorithm {
  const key::KeyTypeInfo* type = nullptr;  // the (certified) key's type
  bool certificate = false;
};

// sshkey_type_from_name() for the names a publickey request may carry.
std::optional<RequestAlgorithm> find_request_algorithm(std::string_view name) {
  if (const key::KeyTypeInfo* info = key::find_key_type(name)) return RequestAlgorithm{info, false};
  if (const key::KeyTypeInfo* info = key::find_certificate_type(name)) return RequestAlgorithm{info, true};
  if (name == "rsa-sha2-256" || name == "rsa-sha2-512") {
    return RequestAlgorithm{&key::key_type_info(key::KeyType::kRsa), false};
  }
  if (name == "rsa-sha2-256-cert-v01@openssh.com" || name == "rsa-sha2-512-cert-v01@openssh.com") {
    return RequestAlgorithm{&key::key_type_info(key::KeyType::kRsa), true};
  }
  return std::nullopt;
}

// sshkey_from_blob(): a plain key, or a certificate whose CA signature verifies.
Result<key::KeyOrCertificate> parse_client_key(std::span<const uint8_t> blob) {
  key::Reader peek(blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view type, peek.text());
  if (key::find_certificate_type(type) == nullptr) {
    TESSERA_ASSIGN_OR_RETURN(key::PublicKey plain, key::PublicKey::from_blob(blob));
    return key::KeyOrCertificate::plain(std::move(plain));
  }
  TESSERA_ASSIGN_OR_RETURN(key::Certificate cert, key::Certificate::from_blob(blob));
  TESSERA_TRY(cert.verify_signature());
  return key::KeyOrCertificate::certified(std::move(cert));
}

std::string type_and_fingerprint(const key::PublicKey& k, key::FingerprintHash hash) {
  return std::string(k.info().display_name) + " " + key::fingerprint(k, hash);
}

// sshkey_cert_check_authority(): the reason a certificate is not valid now for
// `name` (nullopt: any name), or nullopt if it is.
std::optional<std::string> certificate_authority_problem(const key::Certificate& cert, bool require_principal,
                                                         const std::optional<std::string_view>& name,
                                                         uint64_t now) {
  if (cert.type != key::CertType::kUser) return "Certificate invalid: not a user certificate";
  if (now < cert.valid_after) return "Certificate invalid: not yet valid";
  if (now >= cert.valid_before) return "Certificate invalid: expired";
  if (cert.principals.empty()) {
    if (require_principal) return "Certificate lacks principal list";
  } else if (name) {
    if (std::find(cert.principals.begin(), cert.principals.end(), *name) == cert.principals.end()) {
      return "Certificate invalid: name is not a listed principal";
    }
  }
  return std::nullopt;
}

// ---- files ----------------------------------------------------------------------

struct OpenedFile {
  std::string contents;
};

struct FileKind {
  std::string_view what;  // "authorized keys", "authorized principals", ...
  bool strict_modes;
  bool log_missing;
  bool as_user;  // UserKeysConfig::open_user_files_as_user
};

// temporarily_use_uid() / restore_uid(): for its life, a root process has the
// user's effective uid, gid and supplementary groups (the kernel checks file
// access with these), and root's again after. Does nothing unless root.
class TemporaryUserCredentials {
 public:
  explicit TemporaryUserCredentials(const TargetUser& user) {
    if (::geteuid() != 0) return;
    saved_gid_ = ::getegid();
    const int n = ::getgroups(0, nullptr);
    if (n < 0) std::abort();
    saved_groups_.resize(static_cast<size_t>(n));
    if (n > 0 && ::getgroups(n, saved_groups_.data()) < 0) std::abort();
    int count = 64;
    std::vector<gid_t> groups(static_cast<size_t>(count));
    if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) {
      groups.resize(static_cast<size_t>(count));
      if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) count = 0;
    }
    groups.resize(static_cast<size_t>(std::max(count, 0)));
    if (groups.empty()) groups.push_back(user.gid);
    active_ = true;
    // Root again on the way out whatever failed here; a half switch is
    // undone by the destructor.
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setegid(user.gid) != 0 || ::seteuid(user.uid) != 0) {
      restore();
      switched_ = false;
      return;
    }
    switched_ = true;
  }
  ~TemporaryUserCredentials() { restore(); }
  TemporaryUserCredentials(const TemporaryUserCredentials&) = delete;
  TemporaryUserCredentials& operator=(const TemporaryUserCredentials&) = delete;
  // False when root could not become the user: the file must not be read.
  bool ok() const { return !active_ || switched_; }

 private:
  void restore() {
    if (!active_) return;
    active_ = false;
    // A monitor that cannot become root again must not go on deciding.
    if (::seteuid(0) != 0 || ::setegid(saved_gid_) != 0 ||
        ::setgroups(saved_groups_.size(), saved_groups_.data()) != 0) {
      std::abort();
    }
  }

  bool active_ = false;
  bool switched_ = false;
  gid_t saved_gid_ = 0;
  std::vector<gid_t> saved_groups_;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// auth_openfile() and the read after it: nullopt when the file is not used
// (missing, unreadable, not a regular file, unsafe, too large), with sshd's
// log line.
std::optional<OpenedFile> open_user_file(const std::string& path, const TargetUser& user, const FileKind& kind,
                                         LogLines& log) {
  std::optional<TemporaryUserCredentials> as_user;
  if (kind.as_user) {
    as_user.emplace(user);
    if (!as_user->ok()) {
      log.push_back({LogLevel::kError, "cannot take the credentials of user '" + user.name + "' to read '" + path +
                                           "': " + errno_text(errno)});
      return std::nullopt;
    }
  }
  const std::string name = "User '" + user.name + "' " + std::string(kind.what) + " '" + path + "'";
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    const int err = errno;
    if (err != ENOENT) {
      log.push_back({LogLevel::kInfo, "Could not open user '" + user.name + "' " + std::string(kind.what) + " '" +
                                          path + "': " + errno_text(err)});
    } else if (kind.log_missing) {
      log.push_back({LogLevel::kDebug1, "Could not open user '" + user.name + "' " + std::string(kind.what) +
                                            " '" + path + "': " + errno_text(err)});
    }
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  if (!S_ISREG(st.st_mode)) {
    log.push_back({LogLevel::kInfo, name + " is not a regular file"});
    return std::nullopt;
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  if (kind.strict_modes) {
    auto safe = check_secure_path(path, st, user);
    if (!safe.ok()) {
      log.push_back({LogLevel::kInfo, "Authentication refused: " + safe.error().detail()});
      return std::nullopt;
    }
  }
  OpenedFile out;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      log.push_back({LogLevel::kInfo, "Could not read " + name + ": " + errno_text(errno)});
      return std::nullopt;
    }
    if (n == 0) break;
    if (out.contents.size() + static_cast<size_t>(n) > kMaxUserFileBytes) {
      log.push_back({LogLevel::kInfo, name + " is larger than " + std::to_string(kMaxUserFileBytes) +
                                          " bytes: not used"});
      return std::nullopt;
    }
    out.contents.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// A system file (TrustedUserCAKeys, RevokedKeys) read whole, up to `limit`
// bytes. Errors say what went wrong (missing, not a regular file, too large).
Result<std::string> read_system_file(const std::string& path, size_t limit) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return Error(Errc::kIo, errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error(Errc::kIo, errno_text(errno));
  if (!S_ISREG(st.st_mode)) return Error(Errc::kIo, "not a regular file");
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  std::string out;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(Errc::kIo, errno_text(errno));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > limit) {
      return Error(Errc::kTooLarge, "larger than " + std::to_string(limit) + " bytes");
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// The keys of a file of public keys, read as sshkey_in_file() reads them: a
// line sshd could not read ends the list with an error (keys before it still
// count, as sshd stops at the first match).
struct KeyList {
  std::vector<key::KeyOrCertificate> keys;
  std::optional<Error> error;  // set if a line could not be read
};

KeyList read_key_list(std::string_view text) {
  KeyList out;
  for_each_line(text, [&](std::string_view line, size_t number) {
    line = line.substr(0, line.find('\0'));
    while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') return true;
    const std::string_view type = line.substr(0, line.find_first_of(" \t"));
    if (foreign_openssh_key_type(type)) return true;
    auto k = key::KeyOrCertificate::from_line(line);
    if (!k.ok()) {
      out.error = k.error().with_context("line " + std::to_string(number));
      return false;
    }
    out.keys.push_back(std::move(*k));
    return true;
  });
  return out;
}

// ---- RevokedKeys ------------------------------------------------------------------

class RevokedKeys {
 public:
  // sshkey_check_revoked(): a KRL if the file starts with its magic, else a list of keys.
  static RevokedKeys load(const std::string& path) {
    RevokedKeys out;
    auto text = read_system_file(path, key::kMaxKrlBytes);
    if (!text.ok()) {
      out.error_ = text.error();
      return out;
    }
    if (std::string_view(*text).starts_with(key::kKrlMagic)) {
      auto krl = key::Krl::parse(key::as_bytes(*text));
      if (!krl.ok()) {
        out.error_ = krl.error();
      } else {
        out.krl_ = std::make_unique<key::Krl>(std::move(*krl));
      }
      return out;
    }
    out.list_ = read_key_list(*text);
    return out;
  }

  // Revoked (true), not revoked (false), or the file could not be read.
  Result<bool> key_revoked(const key::KeyOrCertificate& k) const {
    if (error_) return *error_;
    if (krl_) return k.certificate ? krl_->is_revoked(*k.certificate) : krl_->is_revoked(k.key);
    // sshkey_in_file(key, file, 0, 1): the same key in any form, or the certificate's CA.
    for (const key::KeyOrCertificate& listed : list_.keys) {
      if (listed.key == k.key) return true;
      if (k.certificate && listed.key == k.certificate->signature_key) return true;
    }
    if (list_.error) return *list_.error;
    return false;
  }

 private:
  std::optional<Error> error_;
  std::unique_ptr<key::Krl> krl_;
  KeyList list_;
};

// auth_key_is_revoked(): true if the key must be refused (revoked, or the
// file unusable), with sshd's log line.
bool refused_by_revoked_keys(const RevokedKeys& revoked, const key::KeyOrCertificate& k, const std::string& path,
                             key::FingerprintHash hash, LogLines& log) {
  auto r = revoked.key_revoked(k);
  const std::string what = k.display_type() + " " + k.fingerprint(hash);
  if (!r.ok()) {
    log.push_back({LogLevel::kError, "Error checking authentication key " + what + " in revoked keys file " + path +
                                         ": " + r.error().message()});
    return true;
  }
  if (*r) {
    log.push_back({LogLevel::kError, "Authentication key " + what + " revoked by file " + path});
    return true;
  }
  return false;
}

// ---- the decision --------------------------------------------------------------

class Decider {
 public:
  Decider(const TargetUser& user, const UserKeysConfig& config, const RemoteClient& client,
          const UserKeyRequest& request)
      : user_(user), config_(config), client_(client), request_(request) {}

  UserKeyDecision run() {
    if (!check_request()) return finish();
    if (file_configured(config_.revoked_keys)) {
      const RevokedKeys revoked = RevokedKeys::load(config_.revoked_keys);
      const key::KeyOrCertificate& k = *out_.key;
      if (refused_by_revoked_keys(revoked, k, config_.revoked_keys, config_.fingerprint_hash, out_.log)) {
        return finish();
      }
      if (k.certificate &&
          refused_by_revoked_keys(revoked, key::KeyOrCertificate::plain(k.certificate->signature_key),
                                  config_.revoked_keys, config_.fingerprint_hash, out_.log)) {
        return finish();
      }
    }
    for (const std::string& pattern : config_.authorized_keys_files) {
      if (equals_ignore_case(pattern, "none")) continue;
      auto path = expand_user_file(pattern, user_);
      if (!path.ok()) {
        out_.log.push_back({LogLevel::kError, "AuthorizedKeysFile " + pattern + ": " + path.error().message()});
        continue;
      }
      if (try_authorized_keys_file(*path)) return finish();
    }
    if (out_.key->certificate && file_configured(config_.trusted_user_ca_keys)) try_trusted_ca();
    return finish();
  }

 private:
  void log(LogLevel level, std::string text) { out_.log.push_back({level, std::move(text)}); }

  UserKeyDecision finish() {
    if (!out_.accepted && out_.reason.empty()) {
      // The last thing sshd would have said about it above debug level.
      for (auto it = out_.log.rbegin(); it != out_.log.rend(); ++it) {
        if (it->level <= LogLevel::kVerbose) {
          out_.reason = it->text;
          break;
        }
      }
      if (out_.reason.empty()) out_.reason = "no authorized_keys line or trusted CA accepts " + out_.key_description;
    }
    if (!out_.accepted) out_.options = AuthOptions{};
    return std::move(out_);
  }

  void refuse(LogLevel level, std::string text) {
    out_.reason = text;
    log(level, std::move(text));
  }

  // userauth_pubkey()'s checks before the files.
  bool check_request() {
    const std::string alg(request_.algorithm);
    auto algorithm = find_request_algorithm(alg);
    if (!algorithm) {
      refuse(LogLevel::kVerbose, "unsupported public key algorithm: " + clip(alg, 200));
      return false;
    }
    auto parsed = parse_client_key(request_.key_blob);
    if (!parsed.ok()) {
      refuse(LogLevel::kError, "parse key: " + parsed.error().message());
      return false;
    }
    out_.key = std::move(*parsed);
    const key::KeyOrCertificate& k = *out_.key;
    out_.key_description = describe_user_key(k, config_.fingerprint_hash);
    if (k.is_certificate() != algorithm->certificate || k.key.type() != algorithm->type->type) {
      refuse(LogLevel::kError, "type mismatch for decoded key (received " + std::string(k.type_name()) +
                                   ", expected " + alg + ")");
      return false;
    }
    if (key::match_pattern_list(alg, config_.pubkey_accepted_algorithms) != 1) {
      refuse(LogLevel::kInfo, "signature algorithm " + alg + " not in PubkeyAcceptedAlgorithms");
      return false;
    }
    if (k.certificate) {
      auto sigalg = key::signature_algorithm_name(k.certificate->signature);
      if (!sigalg.ok() || key::match_pattern_list(*sigalg, config_.ca_signature_algorithms) != 1) {
        refuse(LogLevel::kInfo, "certificate signature algorithm " + (sigalg.ok() ? *sigalg : "(null)") +
                                    ": signature algorithm not supported");
        return false;
      }
    }
    if (k.key.type() == key::KeyType::kRsa && k.key.bits() < config_.required_rsa_size) {
      refuse(LogLevel::kInfo, "refusing " + k.display_type() + " key: Invalid key length");
      return false;
    }
    return true;
  }

  void accept(AuthOptions options, std::string where, uint64_t valid_until) {
    out_.accepted = true;
    out_.valid_until = valid_until;
    if (options.valid_before != 0 && options.valid_before < UINT64_MAX) {
      out_.valid_until = std::min(out_.valid_until, options.valid_before + 1);
    }
    out_.options = std::move(options);
    out_.accepted_by = std::move(where);
    out_.reason.clear();
  }

  // user_key_allowed2() / auth_check_authkeys_file().
  bool try_authorized_keys_file(const std::string& path) {
    log(LogLevel::kDebug1, "trying public key file " + path);
    auto file = open_user_file(path, user_, {"authorized keys", config_.strict_modes, true, config_.open_user_files_as_user}, out_.log);
    if (!file) return false;
    const key::KeyOrCertificate& k = *out_.key;
    // The key type a matching line holds: the client's, or its CA's.
    const std::string wanted(k.certificate ? k.certificate->signature_key.ssh_name() : k.key.ssh_name());
    bool found = false;
    for_each_line(file->contents, [&](std::string_view line, size_t number) {
      const std::string loc = clip(path, 200) + ":" + std::to_string(number);
      found = check_authorized_keys_line(line, loc, wanted);
      return !found;
    });
    return found;
  }

  // auth_check_authkey_line().
  bool check_authorized_keys_line(std::string_view line, const std::string& loc, const std::string& wanted) {
    auto read = read_authorized_keys_line(line, wanted);
    if (!read.ok()) {
      const std::string& detail = read.error().detail();
      if (read.error().code() == Errc::kTooLarge && detail == "line too long") {
        log(LogLevel::kInfo, loc + ": line longer than " + std::to_string(kMaxAuthorizedKeysLineBytes) +
                                 " bytes ignored");
      } else if (detail == "invalid key option string") {
        log(LogLevel::kError, detail);
      } else if (detail.starts_with("bad key options: ")) {
        log(LogLevel::kDebug1, loc + ": " + detail);
      } else {
        log(LogLevel::kDebug2, loc + ": no key of type " + wanted + " on this line");
      }
      return false;
    }
    if (!*read) return false;
    const AuthorizedKeysLine& entry = **read;
    const key::KeyOrCertificate& k = *out_.key;
    if (entry.key.is_certificate()) return false;
    if (k.certificate) {
      if (!(entry.key.key == k.certificate->signature_key) || !entry.options.cert_authority) return false;
    } else {
      if (!(entry.key.key == k.key) || entry.options.cert_authority) return false;
    }
    const std::string found = type_and_fingerprint(entry.key.key, config_.fingerprint_hash);
    log(LogLevel::kDebug1, loc + ": matching " + (k.certificate ? "CA" : "key") + " found: " + found);
    if (!authorise_auth_options(entry.options, k.is_certificate(), user_.name, client_, request_.now, loc,
                                out_.log)) {
      log(LogLevel::kError, "Refused by key options");
      return false;
    }
    if (!k.certificate) {
      log(LogLevel::kVerbose, "Accepted key " + found + " found at " + loc);
      accept(entry.options, loc, UINT64_MAX);
      return true;
    }

    const key::Certificate& cert = *k.certificate;
    // sshd 9.2 logs the reason alone (later versions add the certificate and the line).
    auto refuse_cert = [&](const std::string& reason) {
      log(LogLevel::kError, reason);
      return false;
    };
    auto cert_options = certificate_options();
    if (!cert_options) return refuse_cert("Invalid certificate options");
    if (!authorise_auth_options(*cert_options, false, user_.name, client_, request_.now, loc, out_.log)) {
      return refuse_cert("Refused by certificate options");
    }
    auto merged = merge_auth_options(entry.options, *cert_options);
    if (!merged.ok()) return refuse_cert(merged.error().message());
    if (entry.options.cert_principals && !principals_option_matches(*entry.options.cert_principals, cert)) {
      return refuse_cert("Certificate does not contain an authorized principal");
    }
    std::optional<std::string_view> name;
    if (!entry.options.cert_principals) name = user_.name;
    if (auto problem = certificate_authority_problem(cert, false, name, request_.now)) return refuse_cert(*problem);
    log(LogLevel::kVerbose, "Accepted certificate ID \"" + cert.key_id + "\" (serial " + std::to_string(cert.serial) +
                                ") signed by CA " + found + " found at " + loc);
    accept(std::move(*merged), loc, cert.valid_before);
    return true;
  }

  // sshauthopt_from_cert(), with its log lines.
  std::optional<AuthOptions> certificate_options() {
    std::vector<std::string> ignored;
    auto options = auth_options_from_certificate(*out_.key->certificate, &ignored);
    for (std::string& note : ignored) log(LogLevel::kInfo, std::move(note));
    if (!options.ok()) {
      log(LogLevel::kError, options.error().message());
      return std::nullopt;
    }
    return std::move(*options);
  }

  // user_cert_trusted_ca().
  void try_trusted_ca() {
    const key::Certificate& cert = *out_.key->certificate;
    const std::string& ca_path = config_.trusted_user_ca_keys;
    const std::string ca = type_and_fingerprint(cert.signature_key, config_.fingerprint_hash);
    if (!ca_listed(cert.signature_key, ca_path)) {
      log(LogLevel::kDebug2, "CA " + ca + " is not listed in " + ca_path);
      return;
    }
    std::optional<PrincipalsLine> principals;
    const bool use_principals = file_configured(config_.authorized_principals_file);
    if (use_principals) principals = match_principals_file(cert);
    if (use_principals && !principals) {
      refuse(LogLevel::kError, "Certificate does not contain an authorized principal");
      return;
    }
    std::optional<std::string_view> name;
    if (!use_principals) name = user_.name;
    if (auto problem = certificate_authority_problem(cert, true, name, request_.now)) {
      refuse(LogLevel::kError, *problem);
      return;
    }
    auto cert_options = certificate_options();
    if (!cert_options) {
      refuse(LogLevel::kError, "Invalid certificate options");
      return;
    }
    if (!authorise_auth_options(*cert_options, false, user_.name, client_, request_.now, "cert", out_.log)) {
      refuse(LogLevel::kError, "Refused by certificate options");
      return;
    }
    AuthOptions final_options = *cert_options;
    if (principals) {
      if (!authorise_auth_options(principals->options, false, user_.name, client_, request_.now, "principals",
                                  out_.log)) {
        refuse(LogLevel::kError, "Refused by certificate principals options");
        return;
      }
      auto merged = merge_auth_options(principals->options, *cert_options);
      if (!merged.ok()) {
        refuse(LogLevel::kError, merged.error().message());
        return;
      }
      final_options = std::move(*merged);
    }
    log(LogLevel::kVerbose, "Accepted certificate ID \"" + cert.key_id + "\" (serial " + std::to_string(cert.serial) +
                                ") signed by " + ca.substr(0, ca.find(' ')) + " CA " + ca.substr(ca.find(' ') + 1) +
                                " via " + ca_path);
    accept(std::move(final_options), ca_path, cert.valid_before);
  }

  // sshkey_in_file(ca, TrustedUserCAKeys, strict_type=1): a plain key line equal to the CA.
  bool ca_listed(const key::PublicKey& ca, const std::string& path) {
    auto text = read_system_file(path, kMaxUserFileBytes);
    if (!text.ok()) {
      log(LogLevel::kDebug1, "TrustedUserCAKeys " + path + ": " + text.error().message());
      return false;
    }
    const KeyList list = read_key_list(*text);
    for (const key::KeyOrCertificate& listed : list.keys) {
      if (!listed.is_certificate() && listed.key == ca) return true;
    }
    if (list.error) log(LogLevel::kDebug1, "TrustedUserCAKeys " + path + ": " + list.error->message());
    return false;
  }

  // match_principals_file() / auth_process_principals(): the first line naming
  // one of the certificate's principals.
  std::optional<PrincipalsLine> match_principals_file(const key::Certificate& cert) {
    auto path = expand_user_file(config_.authorized_principals_file, user_);
    if (!path.ok()) {
      log(LogLevel::kError, "AuthorizedPrincipalsFile " + config_.authorized_principals_file + ": " +
                                path.error().message());
      return std::nullopt;
    }
    log(LogLevel::kDebug1, "trying authorized principals file " + *path);
    auto file = open_user_file(*path, user_, {"authorized principals", config_.strict_modes, false, config_.open_user_files_as_user}, out_.log);
    if (!file) return std::nullopt;
    std::optional<PrincipalsLine> found;
    for_each_line(file->contents, [&](std::string_view line, size_t number) {
      const std::string loc = clip(*path, 200) + ":" + std::to_string(number);
      auto read = read_principals_line(line);
      if (!read.ok()) {
        log(LogLevel::kDebug1, loc + ": " + read.error().message());
        return true;
      }
      if (!*read) return true;
      if (std::find(cert.principals.begin(), cert.principals.end(), (*read)->principal) == cert.principals.end()) {
        return true;
      }
      log(LogLevel::kDebug2, loc + ": matched principal \"" + clip((*read)->principal, 100) + "\"");
      found = std::move(**read);
      return false;
    });
    return found;
  }

  const TargetUser& user_;
  const UserKeysConfig& config_;
  const RemoteClient& client_;
  const UserKeyRequest& request_;
  UserKeyDecision out_;
};

}  // namespace

// ---- public pieces ------------------------------------------------------------------

Result<std::string> expand_user_file(std::string_view pattern, const TargetUser& user) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      out.push_back(pattern[i]);
      continue;
    }
    if (++i == pattern.size()) return Error(Errc::kInvalidArgument, "trailing '%' in \"" + std::string(pattern) + "\"");
    switch (pattern[i]) {
      case '%':
        out.push_back('%');
        break;
      case 'h':
        out += user.home;
        break;
      case 'u':
        out += user.name;
        break;
      case 'U':
        out += std::to_string(user.uid);
        break;
      default:
        return Error(Errc::kInvalidArgument,
                     "unknown token %" + std::string(1, pattern[i]) + " in \"" + std::string(pattern) + "\"");
    }
  }
  if (!out.starts_with('/')) out = user.home + "/" + out;
  return out;
}

key::Status check_secure_path(std::string_view path, const struct stat& st, const TargetUser& user) {
  const std::string name(path);
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(name.c_str(), nullptr), &std::free);
  if (!real) return Error(Errc::kInvalidArgument, "realpath " + name + " failed: " + errno_text(errno));
  std::string buf(real.get());
  std::optional<std::string> home;
  if (!user.home.empty()) {
    std::unique_ptr<char, decltype(&std::free)> real_home(::realpath(user.home.c_str(), nullptr), &std::free);
    if (real_home) home = std::string(real_home.get());
  }
  // platform_sys_dir_uid(): root may own anything.
  auto bad = [&](const struct stat& s) { return (s.st_uid != 0 && s.st_uid != user.uid) || (s.st_mode & 022) != 0; };
  if (!S_ISREG(st.st_mode)) return Error(Errc::kInvalidArgument, buf + " is not a regular file");
  if (bad(st)) return Error(Errc::kInvalidArgument, "bad ownership or modes for file " + buf);
  while (true) {
    const size_t slash = buf.rfind('/');
    buf = (slash == 0 || slash == std::string::npos) ? std::string(slash == 0 ? "/" : ".") : buf.substr(0, slash);
    struct stat dir {};
    if (::stat(buf.c_str(), &dir) != 0 || bad(dir)) {
      return Error(Errc::kInvalidArgument, "bad ownership or modes for directory " + buf);
    }
    if (home && buf == *home) break;
    if (buf == "/" || buf == ".") break;
  }
  return {};
}

std::string describe_user_key(const key::KeyOrCertificate& k, key::FingerprintHash hash) {
  std::string out = k.display_type() + " " + k.fingerprint(hash);
  if (k.certificate) {
    const key::Certificate& cert = *k.certificate;
    out += " ID " + cert.key_id + " (serial " + std::to_string(cert.serial) + ") CA " +
           type_and_fingerprint(cert.signature_key, hash);
  }
  return out;
}

UserKeyDecision check_user_key(const TargetUser& user, const UserKeysConfig& config, const RemoteClient& client,
                               const UserKeyRequest& request) {
  return Decider(user, config, client, request).run();
}

UserKeyDecision UserKeyChecker::check(const TargetUser& user, const UserKeysConfig& config,
                                      const RemoteClient& client, const UserKeyRequest& request) {
  for (const Entry& e : cache_) {
    if (request.now < e.decided_at || request.now - e.decided_at >= kCacheSeconds ||
        request.now >= e.decision.valid_until) {
      continue;
    }
    if (e.algorithm != request.algorithm || !std::equal(e.blob.begin(), e.blob.end(), request.key_blob.begin(),
                                                        request.key_blob.end())) {
      continue;
    }
    if (!(e.user == user) || !(e.client == client) || !(e.config == config)) continue;
    UserKeyDecision copy = e.decision;
    copy.cached = true;
    return copy;
  }
  UserKeyDecision decision = check_user_key(user, config, client, request);
  if (decision.accepted) {
    if (cache_.size() >= kCacheEntries) cache_.pop_front();
    cache_.push_back(Entry{user, config, client, std::string(request.algorithm),
                           key::Bytes(request.key_blob.begin(), request.key_blob.end()), request.now, decision});
  }
  return decision;
}

}  // namespace tessera::ssh::server
