#include "keyfile.h"

#include <fcntl.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <type_traits>
#include <utility>

#include "output.h"
#include "tessera/key/encoding.h"
#include "tessera/prompts/readpass.h"
#include "tessera/sys/fd.h"
#include "tessera/sys/file.h"
#include "tessera/sys/path.h"

namespace tessera::keygen {
namespace {

// Longest line read from stdin for a file name, a comment or y/n.
constexpr size_t kMaxInputLineBytes = 64 * 1024;
// PEM and PKCS#8 passphrases shorter than this are refused, as OpenSSL's
// PEM writer (and so ssh-keygen) refuses them.
constexpr size_t kMinPemPassphraseBytes = 5;

std::string errno_text(int err) { return std::strerror(err); }

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

}  // namespace

// ---- the user ------------------------------------------------------------------

key::Result<UserInfo> current_user() {
  UserInfo user;
  const passwd* pw = ::getpwuid(::getuid());
  if (pw == nullptr) {
    return key::Error(key::Errc::kIo, "No user exists for uid " + std::to_string(::getuid()));
  }
  user.name = pw->pw_name;
  user.home = pw->pw_dir;
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) {
    return key::Error(key::Errc::kIo, "gethostname: " + errno_text(errno));
  }
  user.host = host;
  return user;
}

std::string default_comment(const UserInfo& user) { return user.name + "@" + user.host; }

// ---- key type names -------------------------------------------------------------

std::optional<NamedKeyType> parse_key_type_name(std::string_view name) {
  auto iequals = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
  };
  if (iequals(name, "dsa") || name == "ssh-dss") return NamedKeyType{"dsa", std::nullopt, 0};
  if (name == "rsa-sha2-256" || name == "rsa-sha2-512") return NamedKeyType{"rsa", key::KeyType::kRsa, 0};
  for (const key::KeyTypeInfo& info : key::all_key_types()) {
    if (name == info.ssh_name) {
      unsigned curve_bits = 0;
      if (info.type == key::KeyType::kEcdsaP256) curve_bits = 256;
      if (info.type == key::KeyType::kEcdsaP384) curve_bits = 384;
      if (info.type == key::KeyType::kEcdsaP521) curve_bits = 521;
      return NamedKeyType{info.file_stem, info.type, curve_bits};
    }
  }
  // Short names ("ECDSA" covers every curve: the first in the table stands for them).
  for (const key::KeyTypeInfo& info : key::all_key_types()) {
    if (iequals(name, info.display_name)) return NamedKeyType{info.file_stem, info.type, 0};
  }
  return std::nullopt;
}

// ---- reading files ----------------------------------------------------------------

bool file_exists(const std::string& path, bool with_program_name) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  std::string prefix = with_program_name ? std::string(kProgramName) + ": " : std::string();
  print_error(prefix + path + ": " + errno_text(errno));
  return false;
}

key::Result<key::SecretBytes> read_key_file(const std::string& path, bool check_permissions,
                                            bool* bad_permissions) {
  if (bad_permissions != nullptr) *bad_permissions = false;
  sys::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return key::Error(key::Errc::kIo, errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return key::Error(key::Errc::kIo, errno_text(errno));
  if (S_ISDIR(st.st_mode)) return key::Error(key::Errc::kIo, errno_text(EISDIR));
  if (check_permissions && st.st_uid == ::getuid() && (st.st_mode & 077) != 0) {
    if (bad_permissions != nullptr) *bad_permissions = true;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 0777));
    return key::Error(key::Errc::kIo, std::string("bad permissions: mode ") + mode +
                                          " is too open for a private key file (chmod 600 it)");
  }
  return sys::read_all_secret(fd.get(), key::kMaxKeyFileBytes);
}

key::Result<TextInput> open_text_input(const Options& options) {
  TESSERA_ASSIGN_OR_RETURN(const std::string file, input_file(options));
  const bool from_stdin = file == "-";
  TextInput input{{from_stdin ? stdin : std::fopen(file.c_str(), "re"), FileCloser()},
                   from_stdin ? "(stdin)" : file, from_stdin};
  if (!input.file) return fatal_failure(std::string(kProgramName) + ": " + input.name + ": " + errno_text(errno));
  return input;
}

// ---- public keys in text ------------------------------------------------------------

std::optional<KeyText> read_key_text(std::string_view text) {
  size_t name_end = text.find_first_of(" \t");
  if (name_end == std::string_view::npos) return std::nullopt;
  std::optional<NamedKeyType> named = parse_key_type_name(text.substr(0, name_end));
  if (!named || !named->type) return std::nullopt;
  std::string_view rest = skip_blanks(text.substr(name_end));
  if (rest.empty()) return std::nullopt;
  size_t blob_end = std::min(rest.find_first_of(" \t"), rest.size());
  auto blob = key::base64_decode(rest.substr(0, blob_end));
  if (!blob.ok()) return std::nullopt;
  auto parsed = key::PublicKey::from_blob(*blob);
  if (!parsed.ok()) return std::nullopt;
  // The name must match the blob. A short name ("ECDSA") does not say which
  // curve, and OpenSSH does not accept it for ECDSA keys either.
  key::KeyType named_type = *named->type;
  bool ecdsa_short_name = named->file_stem == "ecdsa" && named->curve_bits == 0;
  if (parsed->type() != named_type || ecdsa_short_name) return std::nullopt;
  return KeyText{std::move(*parsed), skip_blanks(rest.substr(blob_end))};
}

key::Result<AnyKeyText> read_any_key_text(std::string_view text) {
  auto invalid_format = [] { return key::Error(key::Errc::kMalformed, "invalid format"); };
  size_t name_end = text.find_first_of(" \t");
  if (name_end == std::string_view::npos) return invalid_format();
  std::string_view name = text.substr(0, name_end);
  if (key::find_certificate_type(name) == nullptr) {
    std::optional<KeyText> plain = read_key_text(text);
    if (!plain) return invalid_format();
    return AnyKeyText{std::move(plain->key), std::nullopt, plain->rest};
  }
  std::string_view rest = skip_blanks(text.substr(name_end));
  size_t blob_end = std::min(rest.find_first_of(" \t\r\n"), rest.size());
  auto blob = key::base64_decode(rest.substr(0, blob_end));
  if (!blob.ok() || blob->empty()) return invalid_format();
  auto cert = key::Certificate::from_blob(*blob);
  if (!cert.ok()) {
    switch (cert.error().code()) {
      case key::Errc::kTruncated: return key::Error(key::Errc::kTruncated, "incomplete message");
      case key::Errc::kUnsupported: return key::Error(key::Errc::kUnsupported, "unknown or unsupported key type");
      default: return invalid_format();
    }
  }
  if (cert->type_name() != name) return invalid_format();
  if (!cert->verify_signature().ok()) return key::Error(key::Errc::kBadSignature, "incorrect signature");
  return AnyKeyText{std::nullopt, std::move(*cert), skip_blanks(rest.substr(blob_end))};
}

namespace {

// The first line of a public key file that `parse` takes (a key line:
// "type base64[ comment]"), with its comment (the file name when it has none).
template <typename Parse>
auto first_key_line(const std::string& path, Parse parse)
    -> std::optional<std::pair<std::remove_cvref_t<decltype(*parse(std::string_view()))>, std::string>> {
  auto contents = read_key_file(path, false);
  if (!contents.ok()) return std::nullopt;
  std::string_view text = contents->reveal_text();
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line = line.substr(0, line.find('\0'));  // C strings end at NUL
    if (line.empty() || line.front() == '#') continue;
    // A private key: stop looking.
    if (line.starts_with("-----BEGIN") || line.starts_with("SSH PRIVATE KEY FILE")) break;
    std::string_view cp = skip_blanks(line);
    if (cp.empty()) continue;
    if (auto parsed = parse(cp)) {
      std::string_view comment = parsed->rest.substr(0, parsed->rest.find_first_of("\r\n"));
      return std::pair{std::move(*parsed), comment.empty() ? path : std::string(comment)};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<PublicKeyWithComment> try_load_public_file(const std::string& path) {
  auto found = first_key_line(path, read_key_text);
  if (!found) return std::nullopt;
  return PublicKeyWithComment{std::move(found->first.key), std::move(found->second)};
}

std::optional<PublicKeyWithComment> load_public_key(const std::string& path) {
  if (auto found = try_load_public_file(path)) return found;
  if (auto found = try_load_public_file(path + ".pub")) return found;
  auto contents = read_key_file(path, false);
  if (!contents.ok() || !key::is_openssh_private_key(contents->reveal_text())) return std::nullopt;
  auto info = key::inspect_openssh_private_key(contents->reveal_text());
  if (!info.ok()) return std::nullopt;
  return PublicKeyWithComment{std::move(info->public_key), std::nullopt};
}

std::optional<KeyOrCertificateWithComment> load_key_or_certificate(const std::string& path) {
  auto any_key = [](std::string_view text) -> std::optional<AnyKeyText> {
    auto read = read_any_key_text(text);
    return read.ok() ? std::optional<AnyKeyText>(std::move(*read)) : std::nullopt;
  };
  for (const std::string& candidate : {path, path + ".pub"}) {
    if (auto found = first_key_line(candidate, any_key)) {
      return KeyOrCertificateWithComment{std::move(found->first.key), std::move(found->first.certificate),
                                         std::move(found->second)};
    }
  }
  if (auto from_private = load_public_key(path)) {
    return KeyOrCertificateWithComment{std::move(from_private->key), std::nullopt, from_private->comment};
  }
  return std::nullopt;
}

// ---- private keys ---------------------------------------------------------------------

key::Result<LoadedPrivateKey> load_private_key(const std::string& path, const key::SecretBytes* passphrase,
                                               std::string_view prompt) {
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes contents, read_key_file(path, true));
  std::string_view text = contents.reveal_text();
  TESSERA_ASSIGN_OR_RETURN(key::PrivateKeyFormat format, key::detect_private_key_format(text));
  key::SecretBytes used;
  auto parsed = key::parse_private_key(text, used);
  if (!parsed.ok() && (parsed.error().code() == key::Errc::kPassphraseRequired ||
                       parsed.error().code() == key::Errc::kWrongPassphrase)) {
    used = passphrase != nullptr ? passphrase->clone() : read_passphrase(prompt);
    parsed = key::parse_private_key(text, used);
  }
  if (!parsed.ok()) return parsed.error();
  std::optional<std::string> comment;
  if (format == key::PrivateKeyFormat::kOpenssh) comment = std::move(parsed->comment);
  return LoadedPrivateKey{std::move(parsed->key), std::move(comment), std::move(used)};
}

key::Result<std::string> encode_private_key(const key::PrivateKey& key, std::string_view comment,
                                            const key::SecretBytes& passphrase, const Options& options) {
  bool pem = options.format_given && options.format != KeyFormat::kRfc4716;
  // ssh-keygen 9.2 keeps Ed25519 keys in its own format whatever -m says.
  if (pem && key.type() != key::KeyType::kEd25519) {
    if (!passphrase.empty() && passphrase.size() < kMinPemPassphraseBytes) {
      return key::Error(key::Errc::kInvalidArgument, "passphrase is too short (minimum five characters)");
    }
    auto flavor = options.format == KeyFormat::kPem ? key::PemFlavor::kTraditional : key::PemFlavor::kPkcs8;
    return key::format_pem_private_key(key, flavor, passphrase);
  }
  return key::format_openssh_private_key(key, comment, passphrase, options.encryption());
}

bool is_temporary_file_for(const std::string& path, std::string_view name) {
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string prefix = "." + base + ".";
  return name.size() == prefix.size() + 6 && name.starts_with(prefix);
}

key::Status write_file_atomically(const std::string& path, std::string_view data, mode_t mode,
                                  Durability durability, std::optional<FileOwner> owner) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string temp = dir + "." + base + ".XXXXXX";
  // mkostemp creates the file with mode 0600 and O_EXCL.
  sys::Fd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) {
    return key::Error(key::Errc::kIo, "cannot create a file in directory " + (dir.empty() ? std::string(".") : dir) +
                                          ": " + errno_text(errno));
  }
  auto fail = [&](int err) {
    ::unlink(temp.c_str());
    return key::Error(key::Errc::kIo, errno_text(err));
  };
  if (mode != 0600 && ::fchmod(fd.get(), mode) != 0) return fail(errno);
  if (owner && ::fchown(fd.get(), owner->uid, owner->gid) != 0) return fail(errno);
  if (auto written = sys::write_all(fd.get(), data); !written.ok()) {
    ::unlink(temp.c_str());
    return key::Error(key::Errc::kIo, written.error().message());
  }
  if (durability != Durability::kRename && ::fsync(fd.get()) != 0) return fail(errno);
  if (::close(fd.release()) != 0) return fail(errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail(errno);
  if (durability == Durability::kDirectory) {
    sys::Fd dir_fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) return key::Error(key::Errc::kIo, errno_text(errno));
  }
  return {};
}

key::Status save_private_key(const std::string& path, const key::PrivateKey& key, std::string_view comment,
                             const key::SecretBytes& passphrase, const Options& options) {
  TESSERA_ASSIGN_OR_RETURN(std::string encoded, encode_private_key(key, comment, passphrase, options));
  key::Status written = write_file_atomically(path, encoded, 0600);
  // Unencrypted, the text is the private key.
  key::secure_wipe(encoded.data(), encoded.size());
  return written;
}

namespace {

// What follows "<type> <base64>" in a public key or certificate file: the
// comment after a blank (when there is one) and the line break.
std::string public_line_end(const std::optional<std::string>& comment) {
  std::string end;
  if (comment) {
    end += ' ';
    for (char c : *comment) end += (c == '\n' || c == '\r') ? ' ' : c;
  }
  end += '\n';
  return end;
}

}  // namespace

key::Status save_public_key(const std::string& path, const key::PublicKey& key, std::string_view comment) {
  std::string line = key::format_public_key_line(key, "") + public_line_end(std::string(comment));
  mode_t mask = ::umask(0);
  ::umask(mask);
  return write_file_atomically(path, line, static_cast<mode_t>(0644 & ~mask));
}

key::Status save_certificate(const std::string& path, const key::Certificate& cert,
                             const std::optional<std::string>& comment) {
  std::string line(cert.type_name());
  line += ' ';
  line += key::base64_encode(cert.blob());
  line += public_line_end(comment);
  // Replaced whole, never rewritten in place: a run killed while writing
  // leaves the old certificate, not an empty file. An existing file keeps
  // its mode, as with ssh-keygen; a new one gets 0644 less the umask.
  struct stat st {};
  mode_t mode;
  if (::stat(path.c_str(), &st) == 0) {
    mode = st.st_mode & 07777;
  } else {
    mode_t mask = ::umask(0);
    ::umask(mask);
    mode = static_cast<mode_t>(0644 & ~mask);
  }
  return write_file_atomically(path, line, mode, Durability::kRename);
}

// ---- asking the user ---------------------------------------------------------------------

bool confirm_overwrite(const std::string& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return true;
  print_out(file + " already exists.\n");
  print_out("Overwrite (y/n)? ");
  std::optional<std::string> answer = read_stdin_line();
  return answer && !answer->empty() && ((*answer)[0] == 'y' || (*answer)[0] == 'Y');
}

key::SecretBytes read_passphrase(std::string_view prompt) {
  return prompts::read_passphrase(prompt, prompts::kReadAllowStdin).value_or(key::SecretBytes());
}

std::optional<std::string> read_stdin_line() {
  std::fflush(stdout);
  std::string line;
  bool got_any = false;
  for (;;) {
    char c = 0;
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) break;
    got_any = true;
    if (c == '\n') break;
    if (line.size() < kMaxInputLineBytes) line += c;
  }
  if (!got_any) return std::nullopt;
  return line;
}

key::Result<std::string> default_key_path(const Options& options, const UserInfo& user) {
  std::string_view stem = "rsa";
  if (options.key_type_name) {
    auto named = parse_key_type_name(*options.key_type_name);
    if (!named) return key::Error(key::Errc::kInvalidArgument, "bad key type");
    stem = named->file_stem;
  }
  return user.home + "/.ssh/id_" + std::string(stem);
}

std::optional<std::string> ask_filename(const std::string& default_path, std::string_view prompt) {
  print_out(std::string(prompt) + " (" + default_path + "): ");
  std::optional<std::string> line = read_stdin_line();
  if (!line) return std::nullopt;
  if (line->empty()) return default_path;
  return line;
}

key::Result<std::string> expanded_path(const std::string& path) {
  auto expanded = sys::expand_tilde(path);
  if (!expanded.ok()) return fatal_failure("tilde_expand_filename: " + expanded.error().message());
  return std::move(*expanded);
}

key::Result<std::string> input_file(const Options& options) {
  if (options.file) return *options.file;
  auto user = current_user();
  if (!user.ok()) return fatal_failure(user.error().message());
  auto path = default_key_path(options, *user);
  if (!path.ok()) return fatal_failure(path.error().message());
  auto answer = ask_filename(*path, "Enter file in which the key is");
  if (!answer) return fatal_failure("", kExitFailure);  // no answer: nothing more to say
  return std::move(*answer);
}

// ssh-keygen's private_key_passphrase(): -P, -N, or asked twice until both agree.
key::SecretBytes new_key_passphrase(const Options& options) {
  if (options.passphrase) return options.passphrase->clone();
  if (options.new_passphrase) return options.new_passphrase->clone();
  for (;;) {
    key::SecretBytes first = read_passphrase("Enter passphrase (empty for no passphrase): ");
    key::SecretBytes second = read_passphrase("Enter same passphrase again: ");
    if (first.equals(second)) return first;
    print_out("Passphrases do not match.  Try again.\n");
  }
}

}  // namespace tessera::keygen
