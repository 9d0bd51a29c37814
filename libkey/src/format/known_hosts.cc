// known_hosts lines, names and lookups, following OpenSSH 9.2's hostfile.c
// (hostkeys_foreach, check_markers, match_maybe_hashed, host_hash,
// check_key_in_hostkeys) where the outcome depends on it.
#include "tessera/key/known_hosts.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "format/key_text.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/match.h"

namespace tessera::key {
namespace {

constexpr std::string_view kCertAuthorityMarker = "@cert-authority";
constexpr std::string_view kRevokedMarker = "@revoked";
constexpr std::string_view kHashMagic = "|1|";
constexpr char kHashDelimiter = '|';
constexpr size_t kSha1Bytes = 20;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

// A field quoted in a message: bounded, control bytes shown as '?'.
std::string excerpt(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (s.size() > 64) out += "...";
  return out;
}

KnownHostsLine invalid(KnownHostsLine line, std::string problem) {
  line.kind = KnownHostsLine::Kind::kInvalid;
  line.problem = std::move(problem);
  return line;
}

// check_markers(): "@cert-authority" or "@revoked", ended by a blank, at most
// one per line. As OpenSSH, the marker ends at the line's first space when
// there is one, else at its first tab.
Result<KnownHostsMarker> take_marker(std::string_view& cp) {
  KnownHostsMarker marker = KnownHostsMarker::kNone;
  while (!cp.empty() && cp.front() == '@') {
    if (marker != KnownHostsMarker::kNone) return Error(Errc::kMalformed, "more than one marker");
    size_t end = cp.find(' ');
    if (end == std::string_view::npos) end = cp.find('\t');
    if (end == std::string_view::npos) return Error(Errc::kMalformed, "a marker and nothing after it");
    std::string_view name = cp.substr(0, end);
    if (name.size() > kMaxKnownHostsMarkerBytes || (name != kCertAuthorityMarker && name != kRevokedMarker)) {
      return Error(Errc::kMalformed, "unknown marker \"" + excerpt(name) +
                                         "\" (known: @cert-authority, @revoked)");
    }
    marker = name == kCertAuthorityMarker ? KnownHostsMarker::kCertAuthority : KnownHostsMarker::kRevoked;
    cp = skip_blanks(cp.substr(end));
  }
  return marker;
}

// extract_salt(): the salt of "|1|salt|hash"; nullopt if it cannot be read.
std::optional<Bytes> hashed_name_salt(std::string_view hosts) {
  if (!hosts.starts_with(kHashMagic)) return std::nullopt;
  hosts.remove_prefix(kHashMagic.size());
  const size_t end = hosts.find(kHashDelimiter);
  if (end == 0 || end == std::string_view::npos || end > kMaxHashedSaltBase64Bytes) return std::nullopt;
  auto salt = base64_decode(hosts.substr(0, end));
  if (!salt.ok() || salt->size() != kHashedHostSaltBytes) return std::nullopt;
  return std::move(*salt);
}

// match_pattern_list() ends with "no match" at a pattern that does not fit
// its 1024-byte buffer; a negated pattern before it has decided already.
bool has_overlong_pattern(std::string_view patterns) {
  while (true) {
    const size_t comma = patterns.find(',');
    std::string_view pattern = patterns.substr(0, comma);
    if (pattern.starts_with('!')) pattern.remove_prefix(1);
    if (pattern.size() > kMaxHostPatternBytes) return true;
    if (comma == std::string_view::npos) return false;
    patterns.remove_prefix(comma + 1);
  }
}

bool is_dsa_type(std::string_view key_type) {
  return key_text::openssh_key_type(key_type) && !key_text::key_name(key_type).has_value();
}

Result<std::string> hash_with_salt(std::string_view host, std::span<const uint8_t> salt) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()), reinterpret_cast<const unsigned char*>(host.data()),
           host.size(), mac.data(), &mac_len) == nullptr ||
      mac_len != kSha1Bytes) {
    return Error(Errc::kCrypto, "HMAC-SHA1 of a host name failed");
  }
  std::string out(kHashMagic);
  out += base64_encode(salt);
  out += kHashDelimiter;
  out += base64_encode(std::span<const uint8_t>(mac.data(), mac_len));
  return out;
}

}  // namespace

// ---- lines ----

KnownHostsLine parse_known_hosts_line(std::string_view line) {
  KnownHostsLine out;
  line = line.substr(0, line.find('\0'));
  std::string_view cp = skip_blanks(line);
  if (cp.empty() || cp.front() == '#') return out;
  if (line.size() > kMaxKnownHostsLineBytes) {
    return invalid(out, "line longer than " + std::to_string(kMaxKnownHostsLineBytes) + " bytes");
  }
  auto marker = take_marker(cp);
  if (!marker.ok()) return invalid(out, marker.error().detail());
  out.marker = *marker;

  size_t hosts_end = 0;
  while (hosts_end < cp.size() && !is_blank(cp[hosts_end])) ++hosts_end;
  out.hosts = cp.substr(0, hosts_end);
  cp = skip_blanks(cp.substr(hosts_end));
  if (cp.empty() || cp.front() == '#') return invalid(out, "no key after the host names");

  size_t type_end = 0;
  while (type_end < cp.size() && !is_blank(cp[type_end])) ++type_end;
  const std::string_view type = cp.substr(0, type_end);
  if (type.size() <= 1 || type.size() > kMaxKnownHostsKeyTypeBytes || !key_text::openssh_key_type(type)) {
    return invalid(out, "unknown key type \"" + excerpt(type) + "\"");
  }
  const std::string_view after_type = skip_blanks(cp.substr(type_end));
  if (after_type.empty() || after_type.front() == '#') return invalid(out, "no key data after \"" + excerpt(type) + "\"");
  out.kind = KnownHostsLine::Kind::kEntry;
  out.key_type = type;
  out.key_text = cp;
  return out;
}

bool KnownHostsLineReader::next(std::string_view& line) {
  if (rest_.empty()) return false;
  const size_t end = rest_.find('\n');
  line = rest_.substr(0, end);
  rest_ = end == std::string_view::npos ? std::string_view() : rest_.substr(end + 1);
  line = line.substr(0, line.find('\0'));
  ++line_number_;
  return true;
}

Result<KnownHostsKey> parse_known_hosts_key(std::string_view key_text) {
  TESSERA_ASSIGN_OR_RETURN(key_text::ReadKey read, key_text::read_key(skip_blanks(key_text)));
  return KnownHostsKey{std::move(read.key), read.rest};
}

// ---- host names ----

HostMatch match_known_hosts_hosts(std::string_view hosts, std::string_view host) {
  if (!hosts.empty() && hosts.front() == kHashDelimiter) {
    std::optional<Bytes> salt = hashed_name_salt(hosts);
    if (!salt) return HostMatch::kBadHash;
    if (host.size() > kMaxKnownHostsNameBytes) return HostMatch::kNoMatch;
    auto expected = hash_with_salt(host, *salt);
    return expected.ok() && *expected == hosts ? HostMatch::kMatch : HostMatch::kNoMatch;
  }
  if (host.size() > kMaxKnownHostsNameBytes || has_overlong_pattern(hosts)) return HostMatch::kNoMatch;
  return match_pattern_list(host, hosts, /*fold_case=*/true) == 1 ? HostMatch::kMatch : HostMatch::kNoMatch;
}

Result<std::string> hash_known_host_name(std::string_view host) {
  std::array<uint8_t, kHashedHostSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return Error(Errc::kCrypto, "no random bytes for a host name's salt");
  }
  return hash_with_salt(host, salt);
}

Result<std::string> hash_known_host_name(std::string_view host, std::span<const uint8_t, kHashedHostSaltBytes> salt) {
  return hash_with_salt(host, salt);
}

std::string known_hosts_name(std::string_view host, uint16_t port) {
  constexpr uint16_t kDefaultSshPort = 22;
  if (port == 0 || port == kDefaultSshPort) return std::string(host);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

Result<std::string> format_known_hosts_entry(std::string_view host, std::string_view ip, const PublicKey& key,
                                             bool hash) {
  const std::string key_line = format_public_key_line(key, "");
  std::string out;
  for (std::string_view name : {host, ip}) {
    if (name.empty()) continue;
    std::string lower(name);
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    if (hash) {
      TESSERA_ASSIGN_OR_RETURN(std::string hashed, hash_known_host_name(lower));
      out += hashed + " " + key_line + "\n";
    } else {
      out += (out.empty() ? "" : ",") + lower;
    }
  }
  if (!hash) out += " " + key_line + "\n";
  return out;
}

// ---- the keys of one host ----

std::string KnownHostsProblem::describe() const { return file + ":" + std::to_string(line) + ": " + message; }

void HostKeys::add_problem(std::string_view file, size_t line, std::string message) {
  ++problem_count_;
  if (problems_.size() < kMaxKnownHostsProblems) {
    problems_.push_back(KnownHostsProblem{std::string(file), line, std::move(message)});
  }
}

void HostKeys::add(std::string_view file, std::string_view contents) {
  KnownHostsLineReader reader(contents);
  std::string_view text;
  while (reader.next(text)) {
    const size_t number = reader.line_number();
    const KnownHostsLine line = parse_known_hosts_line(text);
    if (line.kind == KnownHostsLine::Kind::kComment) continue;
    if (line.kind == KnownHostsLine::Kind::kInvalid) {
      add_problem(file, number, line.problem);
      continue;
    }
    const HostMatch match = match_known_hosts_hosts(line.hosts, host_);
    if (match == HostMatch::kBadHash) {
      add_problem(file, number, "hashed host name \"" + excerpt(line.hosts) + "\" whose salt cannot be read");
      continue;
    }
    if (match == HostMatch::kNoMatch) continue;
    auto key = parse_known_hosts_key(line.key_text);
    if (!key.ok()) {
      // A DSA line names the host with a key tessera cannot decode: it still
      // means the host is known, so another key is a changed key.
      if (is_dsa_type(line.key_type) && line.marker == KnownHostsMarker::kNone) ++undecodable_;
      add_problem(file, number, key.error().message());
      continue;
    }
    entries_.push_back(KnownHostsEntry{line.marker, std::move(key->key), std::string(key->comment),
                                       std::string(file), number});
  }
}

Status HostKeys::add_file(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(std::optional<std::string> contents, read_known_hosts_file(path));
  if (contents) add(path, *contents);
  return {};
}

bool HostKeys::revoked(const PublicKey& key, HostKeyCheck& out) const {
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].marker == KnownHostsMarker::kRevoked && entries_[i].key.key == key) {
      out = HostKeyCheck{HostKeyStatus::kRevoked, {i}};
      return true;
    }
  }
  return false;
}

HostKeyCheck HostKeys::check(const PublicKey& key) const {
  HostKeyCheck out;
  if (revoked(key, out)) return out;
  std::vector<size_t> others;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].marker != KnownHostsMarker::kNone) continue;
    if (entries_[i].key.key == key) return HostKeyCheck{HostKeyStatus::kKnown, {i}};
    others.push_back(i);
  }
  if (!others.empty() || undecodable_ > 0) return HostKeyCheck{HostKeyStatus::kChanged, std::move(others)};
  return out;
}

HostKeyCheck HostKeys::check(const Certificate& cert) const {
  HostKeyCheck out;
  if (revoked(cert.key, out) || revoked(cert.signature_key, out)) return out;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].marker == KnownHostsMarker::kCertAuthority && entries_[i].key.key == cert.signature_key) {
      return HostKeyCheck{HostKeyStatus::kCaSigned, {i}};
    }
  }
  return out;
}

// ---- files ----

Result<std::optional<std::string>> read_known_hosts_file(const std::string& path) {
  auto io_error = [&path](int err) { return Error(Errc::kIo, path + ": " + std::strerror(err)); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_error(errno);
  }
  struct stat st {};
  std::string contents;
  int err = 0;
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (S_ISDIR(st.st_mode)) {
    err = EISDIR;
  } else {
    std::array<char, 64 * 1024> buf{};
    while (contents.size() <= kMaxKnownHostsFileBytes) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) err = errno;
      if (n <= 0) break;
      contents.append(buf.data(), static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (err != 0) return io_error(err);
  if (contents.size() > kMaxKnownHostsFileBytes) {
    return Error(Errc::kTooLarge, path + ": larger than " + std::to_string(kMaxKnownHostsFileBytes) +
                                      " bytes, more than a known_hosts file can be");
  }
  return std::optional<std::string>(std::move(contents));
}

}  // namespace tessera::key
