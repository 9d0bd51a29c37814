#include "io/host_check.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "tessera/key/cert.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"
#include "tessera/key/known_hosts.h"
#include "tessera/key/krl.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/file.h"

namespace tessera::ssh::io {

using key::Errc;
using key::Error;
using key::HostKeyStatus;

namespace {

constexpr size_t kMaxRevokedFileBytes = 64 * 1024 * 1024;

Error verification_failed() { return Error(Errc::kInvalidKey, "Host key verification failed."); }

std::string upper_type(const key::PublicKey& key) { return std::string(key.info().display_name); }

std::string sha256(const key::PublicKey& key) { return key::fingerprint(key, key::FingerprintHash::kSha256); }

// The name known_hosts uses for the host: HostKeyAlias, else host or [host]:port.
std::string lookup_name(const HostCheckSettings& s) {
  if (s.host_key_alias) return *s.host_key_alias;
  return key::known_hosts_name(s.host, s.port);
}

// Why a host certificate does not do (empty: it does).
std::string certificate_problem(const key::Certificate& cert, const std::string& principal) {
  if (cert.type != key::CertType::kHost) return "certificate is not a host certificate";
  if (auto s = cert.verify_signature(); !s.ok()) return "certificate signature does not verify";
  const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
  if (now < cert.valid_after) return "certificate is not yet valid";
  if (now >= cert.valid_before) return "certificate has expired";
  if (!cert.critical_options.empty()) return "certificate has critical options, which host certificates may not";
  if (std::find(cert.principals.begin(), cert.principals.end(), principal) == cert.principals.end()) {
    return "certificate invalid: name is not a listed principal";
  }
  return {};
}

// RevokedHostKeys: a KRL, or else a file of public keys.
key::Result<bool> revoked_by_file(const std::string& path, const transport::ServerHostKey& host_key) {
  auto contents = sys::read_file(path, kMaxRevokedFileBytes);
  if (!contents.ok()) return contents.error().with_context("RevokedHostKeys " + path);
  const std::string& text = *contents;
  auto krl = key::Krl::parse(key::as_bytes(text));
  if (krl.ok()) {
    if (host_key.certificate) return krl->is_revoked(*host_key.certificate);
    return krl->is_revoked(host_key.key);
  }
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto line = key::parse_public_key_line(std::string_view(text).substr(start, end - start));
    if (line.ok() && (line->key == host_key.key ||
                      (host_key.certificate && line->key == host_key.certificate->signature_key))) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

// Appends the new host's line to the first user known_hosts file, making
// ~/.ssh when it is missing, under an flock so that two ssh processes do not
// interleave their lines.
key::Status add_known_host(const HostCheckSettings& s, const key::PublicKey& key) {
  if (s.user_files.empty()) return Error(Errc::kIo, "no UserKnownHostsFile to add the host key to");
  const std::string& path = s.user_files.front();
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) mkdir(dir.c_str(), 0700);
  }
  TESSERA_ASSIGN_OR_RETURN(std::string entry, key::format_known_hosts_entry(lookup_name(s), "", key,
                                                                            s.hash_known_hosts));
  sys::Fd fd(open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return Error(Errc::kIo, path + ": " + std::strerror(errno));
  flock(fd.get(), LOCK_EX);
  // A file that does not end in a newline gets one first.
  struct stat st {};
  if (fstat(fd.get(), &st) == 0 && st.st_size > 0) {
    char last = '\n';
    if (pread(fd.get(), &last, 1, st.st_size - 1) == 1 && last != '\n') entry.insert(entry.begin(), '\n');
  }
  return sys::write_all(fd.get(), entry);
}

std::string changed_warning(const HostCheckSettings& s, const key::PublicKey& key, const key::HostKeys& known,
                            const key::HostKeyCheck& check) {
  std::string w =
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
      "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
      "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
      "Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n"
      "It is also possible that a host key has just been changed.\n"
      "The fingerprint for the " +
      upper_type(key) + " key sent by the remote host is\n" + sha256(key) +
      ".\n"
      "Please contact your system administrator.\n";
  const std::string file = s.user_files.empty() ? std::string("known_hosts") : s.user_files.front();
  w += "Add correct host key in " + file + " to get rid of this message.\n";
  for (const size_t i : check.entries) {
    const key::KnownHostsEntry& e = known.entries()[i];
    w += "Offending " + upper_type(e.key.key) + " key in " + e.file + ":" + std::to_string(e.line) + "\n";
    w += "  remove with:\n  ssh-keygen -f \"" + e.file + "\" -R \"" + lookup_name(s) + "\"\n";
    break;  // OpenSSH names the first offending line
  }
  return w;
}

}  // namespace

key::Result<HostCheckResult> check_server_host_key(const HostCheckSettings& s, const transport::ServerHostKey& host_key,
                                                   const HostCheckIo& io) {
  const std::string name = lookup_name(s);
  key::HostKeys known(name);
  for (const std::string& f : s.user_files) {
    if (auto st = known.add_file(f); !st.ok()) io.message(st.error().message());
  }
  for (const std::string& f : s.global_files) {
    if (auto st = known.add_file(f); !st.ok()) io.message(st.error().message());
  }

  if (s.revoked_host_keys) {
    auto revoked = revoked_by_file(*s.revoked_host_keys, host_key);
    if (!revoked.ok()) {
      io.message(revoked.error().message());
      return verification_failed();
    }
    if (*revoked) {
      io.message("Host key " + upper_type(host_key.key) + " " + sha256(host_key.key) + " revoked by file " +
                 *s.revoked_host_keys);
      return verification_failed();
    }
  }

  const key::PublicKey& key = host_key.key;
  HostCheckResult result;

  // A certificate first against @cert-authority lines; if no CA vouches
  // for it, the certified key as a plain key (as OpenSSH retries).
  if (host_key.certificate) {
    const key::Certificate& cert = *host_key.certificate;
    const std::string principal = s.host_key_alias ? *s.host_key_alias : s.host;
    const key::HostKeyCheck ca = known.check(cert);
    if (ca.status == HostKeyStatus::kRevoked) {
      io.message("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                 "@       WARNING: REVOKED HOST KEY DETECTED!               @\n"
                 "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                 "The " + upper_type(key) + "-CERT host key for " + name + " is marked as revoked.\n"
                 "This could mean that a stolen key is being used to\nimpersonate this host.");
      return verification_failed();
    }
    if (ca.status == HostKeyStatus::kCaSigned) {
      const std::string problem = certificate_problem(cert, principal);
      if (problem.empty()) return result;
      io.message("Certificate invalid: " + problem);
    }
  }

  const key::HostKeyCheck check = known.check(key);
  switch (check.status) {
    case HostKeyStatus::kKnown:
    case HostKeyStatus::kCaSigned:
      return result;
    case HostKeyStatus::kRevoked:
      io.message("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                 "@       WARNING: REVOKED HOST KEY DETECTED!               @\n"
                 "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                 "The " + upper_type(key) + " host key for " + name + " is marked as revoked.\n"
                 "This could mean that a stolen key is being used to\nimpersonate this host.");
      return verification_failed();
    case HostKeyStatus::kChanged:
      io.message(changed_warning(s, key, known, check));
      if (s.strict != config::StrictHostKeyChecking::kNo) {
        io.message("Host key for " + name + " has changed and you have requested strict checking.");
        return verification_failed();
      }
      io.message("Password authentication is disabled to avoid man-in-the-middle attacks.\n"
                 "Keyboard-interactive authentication is disabled to avoid man-in-the-middle attacks.\n"
                 "Agent forwarding is disabled to avoid man-in-the-middle attacks.\n"
                 "Port forwarding is disabled to avoid man-in-the-middle attacks.");
      result.changed_key_accepted = true;
      return result;
    case HostKeyStatus::kUnknown:
      break;
  }

  // A host we have not met.
  switch (s.strict) {
    case config::StrictHostKeyChecking::kYes:
      io.message("No " + upper_type(key) + " host key is known for " + name +
                 " and you have requested strict checking.");
      return verification_failed();
    case config::StrictHostKeyChecking::kAsk: {
      if (s.batch_mode || !io.ask) return verification_failed();
      const std::string fp = sha256(key);
      std::string prompt = "The authenticity of host '" + name + " (" + name + ")' can't be established.\n" +
                           upper_type(key) + " key fingerprint is " + fp +
                           ".\nThis key is not known by any other names.\n"
                           "Are you sure you want to continue connecting (yes/no/[fingerprint])? ";
      for (;;) {
        auto answer = io.ask(prompt);
        if (!answer) return verification_failed();
        std::string a = *answer;
        while (!a.empty() && std::isspace(static_cast<unsigned char>(a.back()))) a.pop_back();
        std::string lower = a;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == "yes" || a == fp) break;
        if (lower == "no") return verification_failed();
        prompt = "Please type 'yes', 'no' or the fingerprint: ";
      }
      break;
    }
    case config::StrictHostKeyChecking::kAcceptNew:
    case config::StrictHostKeyChecking::kNo:
      break;
  }
  auto added = add_known_host(s, key);
  const auto& info = io.info ? io.info : io.message;
  if (added.ok()) {
    info("Warning: Permanently added '" + name + "' (" + upper_type(key) + ") to the list of known hosts.");
  } else {
    info("Failed to add the host to the list of known hosts (" +
               (s.user_files.empty() ? std::string() : s.user_files.front()) + "): " + added.error().message());
  }
  return result;
}

}  // namespace tessera::ssh::io
