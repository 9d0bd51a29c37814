// -l / -B: one line per key, as ssh-keygen 9.2's do_fingerprint():
//   "<bits> <fingerprint> <comment> (<TYPE>)"  (and the randomart with -v).
//
// The input may be a public key file, an authorized_keys or known_hosts file
// (one line per key; options or host names before the key are allowed), a
// private key file (its public part is shown without asking for a
// passphrase), or, beyond ssh-keygen, an RFC 4716 or PEM public key file.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"

namespace tessera::keygen {
namespace {

// Longest line considered; a longer one cannot be a key and is skipped.
constexpr size_t kMaxLineBytes = 64 * 1024;

// A certificate prints as the key it certifies, its type "<TYPE>-CERT".
void print_key(const Options& options, const key::PublicKey& key, const std::optional<std::string>& comment,
               bool certificate = false) {
  std::string fp = options.bubblebabble ? key::bubblebabble(key) : key::fingerprint(key, options.fingerprint_hash);
  const std::string type = std::string(key.info().display_name) + (certificate ? "-CERT" : "");
  std::string line = std::to_string(key.bits()) + " " + fp + " " + (comment ? *comment : "no comment") + " (" + type +
                     ")";
  print_out(printable(line) + "\n");
  if (options.verbosity > 0) print_out(key::randomart(key, options.fingerprint_hash, type) + "\n");
}

// ssh-keygen's fingerprint_private(): the public key from PATH itself, PATH.pub
// or the openssh-key-v1 header; the comment from the .pub file or, when that
// has none, from the private key if it opens without a passphrase.
int fingerprint_private(const Options& options, const std::string& path) {
  std::optional<PublicKeyWithComment> pub = load_public_key(path);
  std::optional<std::string> comment = pub ? pub->comment : std::nullopt;
  std::optional<key::PrivateKey> private_key;
  if (!pub || !comment || comment->empty()) {
    comment.reset();
    bool bad_permissions = false;
    auto contents = read_key_file(path, true, &bad_permissions);
    if (bad_permissions) {
      print_error("Permissions of \"" + path + "\" are too open: its private part is ignored (chmod 600 it)");
    } else if (contents.ok()) {
      std::string_view text = contents->reveal_text();
      auto format = key::detect_private_key_format(text);
      auto parsed = key::parse_private_key(text, key::SecretBytes());
      if (format.ok() && parsed.ok()) {
        if (*format == key::PrivateKeyFormat::kOpenssh) comment = parsed->comment;
        private_key = std::move(parsed->key);
      }
    }
  }
  if (!pub && !private_key) return fatal(path + " is not a key file.");
  print_key(options, pub ? pub->key : private_key->public_key(), comment);
  return kExitOk;
}

// One line of an authorized_keys / known_hosts / public key file, as
// do_fingerprint() reads it: a key, or a leading token (options or host
// names, with double quotes) and then a key. Returns false for lines that
// hold no key.
bool fingerprint_line(const Options& options, std::string_view cp) {
  std::optional<std::string_view> comment;
  if (auto any = read_any_key_text(cp); any.ok() && any->certificate) {
    std::string_view rest = any->rest;
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r')) rest.remove_suffix(1);
    if (!rest.empty() && rest.front() != '#') comment = rest;
    print_key(options, any->certificate->key, comment ? std::optional<std::string>(*comment) : std::nullopt, true);
    return true;
  }
  std::optional<KeyText> parsed = read_key_text(cp);
  if (!parsed) {
    // A line starting with a non-zero number and a blank is an SSH1 key: skipped.
    std::string token(cp.substr(0, 32));
    char* end = nullptr;
    long number = std::strtol(token.c_str(), &end, 10);
    if (static_cast<int>(number) != 0 && end != nullptr && (*end == ' ' || *end == '\t')) return false;
    bool quoted = false;
    size_t i = 0;
    for (; i < cp.size() && (quoted || (cp[i] != ' ' && cp[i] != '\t')); ++i) {
      if (cp[i] == '\\' && i + 1 < cp.size() && cp[i + 1] == '"') {
        ++i;  // skip both
      } else if (cp[i] == '"') {
        quoted = !quoted;
      }
    }
    if (i >= cp.size()) return false;
    comment = cp.substr(0, i);  // without a trailing comment, ssh-keygen shows the options
    parsed = read_key_text(cp.substr(i + 1));
    if (!parsed) return false;
  }
  std::string_view rest = parsed->rest;
  if (!rest.empty() && rest.front() != '#') comment = rest;
  print_key(options, parsed->key, comment ? std::optional<std::string>(*comment) : std::nullopt);
  return true;
}

// Beyond ssh-keygen: an RFC 4716 or PEM public key file.
bool fingerprint_armored(const Options& options, std::string_view text) {
  if (auto rfc = key::parse_rfc4716(text); rfc.ok()) {
    print_key(options, rfc->key, rfc->comment.empty() ? std::nullopt : std::optional<std::string>(rfc->comment));
    return true;
  }
  if (auto pem = key::parse_pem_public_key(text); pem.ok()) {
    print_key(options, *pem, std::nullopt);
    return true;
  }
  return false;
}

}  // namespace

int run_fingerprint(const Options& options) {
  auto opened = open_text_input(options);
  if (!opened.ok()) return report_failure(opened.error());
  std::optional<TextInput> input = std::move(*opened);
  const bool from_stdin = input->from_stdin;
  const std::string path = input->name;
  auto& f = input->file;

  bool found = false;
  bool armored = false;   // the first line opens an RFC 4716 or PEM public key block
  std::string armored_text;
  char* buf = nullptr;
  size_t cap = 0;
  unsigned long line_number = 0;
  for (ssize_t len; (len = ::getline(&buf, &cap, f.get())) != -1;) {
    ++line_number;
    std::string_view raw(buf, static_cast<size_t>(len));
    if (line_number == 1) {
      armored = raw.starts_with("---- BEGIN SSH2 PUBLIC KEY ----") || raw.starts_with("-----BEGIN PUBLIC KEY-----") ||
                raw.starts_with("-----BEGIN RSA PUBLIC KEY-----");
    }
    if (armored && armored_text.size() + raw.size() <= key::kMaxKeyFileBytes) armored_text.append(raw);
    if (raw.size() > kMaxLineBytes) continue;
    std::string_view line = raw.substr(0, raw.find_first_of(std::string_view("\n\0", 2)));
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line_number == 1 && !from_stdin && line.find("PRIVATE KEY") != std::string_view::npos) {
      std::free(buf);
      f.reset();
      return fingerprint_private(options, path);
    }
    found = fingerprint_line(options, line) || found;
  }
  std::free(buf);
  if (!found && armored) found = fingerprint_armored(options, armored_text);
  if (!found) return fatal(path + " is not a public key file.");
  return kExitOk;
}

}  // namespace tessera::keygen
