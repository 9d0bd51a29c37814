#include "keyfile.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/wire.h"
#include "tessera/sys/file.h"
#include "tessera/sys/path.h"

namespace tessera::add {

using key::Errc;
using key::Error;
using key::Result;

namespace {

constexpr std::string_view kWhitespace = " \t\r\n";

std::string_view trim_left(std::string_view s) {
  size_t i = s.find_first_not_of(kWhitespace);
  return i == std::string_view::npos ? std::string_view{} : s.substr(i);
}

std::string_view trim(std::string_view s) {
  s = trim_left(s);
  size_t j = s.find_last_not_of(kWhitespace);
  return j == std::string_view::npos ? std::string_view{} : s.substr(0, j + 1);
}

Error not_found() { return Error(Errc::kIo, std::strerror(ENOENT)); }

// Reads a file by path; kIo with the system's reason if it cannot.
Result<std::string> read_text(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Errc::kIo, std::strerror(errno));
  auto data = read_key_file(fd);
  ::close(fd);
  if (!data.ok()) return data.error();
  return std::string(data->reveal_text());
}

// The first key line of a public key file, as sshkey_try_load_public().
Result<LoadedPublic> first_key_line(const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    std::string_view t = trim_left(line);
    if (t.empty() || t[0] == '#') continue;
    auto parsed = parse_public_line(t);
    if (parsed.ok()) return parsed;
  }
  return Error(Errc::kMalformed, "no public key found");
}

}  // namespace

Result<AnyPublic> AnyPublic::from_blob(std::span<const uint8_t> blob) {
  key::Reader probe(blob);
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, probe.text());
  if (key::find_certificate_type(name) != nullptr) {
    TESSERA_ASSIGN_OR_RETURN(key::Certificate cert, key::Certificate::from_blob(blob));
    return AnyPublic{key::Bytes(blob.begin(), blob.end()), cert.key, std::move(cert)};
  }
  TESSERA_ASSIGN_OR_RETURN(key::PublicKey k, key::PublicKey::from_blob(blob));
  return AnyPublic{key::Bytes(blob.begin(), blob.end()), std::move(k), std::nullopt};
}

std::string AnyPublic::type_label() const {
  std::string label(key.info().display_name);
  if (cert) label += "-CERT";
  return label;
}

std::string AnyPublic::line() const { return std::string(ssh_name()) + " " + key::base64_encode(blob); }

Result<LoadedPublic> parse_public_line(std::string_view line) {
  std::string_view s = trim_left(line);
  size_t sp = s.find_first_of(" \t");
  if (sp == std::string_view::npos) return Error(Errc::kMalformed, "invalid public key line");
  std::string_view type = s.substr(0, sp);
  s = trim_left(s.substr(sp));
  size_t end = s.find_first_of(kWhitespace);
  std::string_view b64 = s.substr(0, end);
  std::string_view comment = end == std::string_view::npos ? std::string_view{} : trim(s.substr(end));
  TESSERA_ASSIGN_OR_RETURN(key::Bytes blob, key::base64_decode(b64));
  TESSERA_ASSIGN_OR_RETURN(AnyPublic pub, AnyPublic::from_blob(blob));
  if (pub.ssh_name() != type) {
    return Error(Errc::kMalformed, "key type \"" + std::string(type) + "\" does not match its blob");
  }
  return LoadedPublic{std::move(pub), std::string(comment)};
}

Result<LoadedPublic> load_public(const std::string& path) {
  if (auto text = read_text(path); text.ok()) {
    if (auto line = first_key_line(*text); line.ok()) return line;
  }
  if (auto text = read_text(path + ".pub"); text.ok()) {
    if (auto line = first_key_line(*text); line.ok()) return line;
  }
  auto text = read_text(path);
  if (!text.ok()) return not_found();
  if (key::is_openssh_private_key(*text)) {
    auto info = key::inspect_openssh_private_key(*text);
    if (info.ok()) return LoadedPublic{AnyPublic::of(info->public_key), std::nullopt};
  } else if (!key::private_key_is_encrypted(*text)) {
    auto priv = key::parse_private_key(*text, key::SecretBytes());
    if (priv.ok()) return LoadedPublic{AnyPublic::of(priv->key.public_key()), std::nullopt};
  }
  return not_found();  // "Pretend we couldn't find the key", as OpenSSH does
}

Result<key::SecretBytes> read_key_file(int fd) { return sys::read_all_secret(fd, key::kMaxKeyFileBytes); }

bool private_key_permissions_ok(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  if (st.st_uid == ::getuid() && (st.st_mode & 077) != 0) {
    std::fprintf(stderr,
                 "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
                 "@         WARNING: UNPROTECTED PRIVATE KEY FILE!          @\n"
                 "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n");
    std::fprintf(stderr, "Permissions 0%3.3o for '%s' are too open.\n", static_cast<unsigned>(st.st_mode & 0777),
                 path.c_str());
    std::fprintf(stderr, "It is required that your private key files are NOT accessible by others.\n");
    std::fprintf(stderr, "This private key will be ignored.\n");
    return false;
  }
  return true;
}

std::string home_dir() {
  if (const char* h = std::getenv("TESSERA_ADD_HOME"); h != nullptr && *h != '\0') return h;
  return sys::home_directory();
}

Result<std::string> expand_tilde(const std::string& path) { return sys::expand_tilde(path, home_dir()); }

}  // namespace tessera::add
