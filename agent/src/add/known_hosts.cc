#include "known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"

namespace tessera::add {

namespace {

constexpr std::string_view kHashMagic = "|1|";
constexpr size_t kSha1Bytes = 20;
// Longest known_hosts line OpenSSH reads.
constexpr size_t kMaxLineBytes = 16 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// '*' matches any run of characters, '?' any one character (match.c).
bool match_pattern(std::string_view s, std::string_view p) {
  size_t si = 0, pi = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++si;
      ++pi;
    } else if (pi < p.size() && p[pi] == '*') {
      star_p = pi++;
      star_s = si;
    } else if (star_p != std::string_view::npos) {
      pi = star_p + 1;
      si = ++star_s;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

std::string_view next_field(std::string_view& s) {
  size_t start = s.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    s = {};
    return {};
  }
  s.remove_prefix(start);
  size_t end = s.find_first_of(" \t");
  std::string_view field = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
  return field;
}

}  // namespace

int match_host_pattern_list(std::string_view host, std::string_view patterns) {
  const std::string h = lower(host);
  bool positive = false;
  while (true) {
    size_t comma = patterns.find(',');
    std::string_view sub = patterns.substr(0, comma);
    bool negated = !sub.empty() && sub[0] == '!';
    if (negated) sub.remove_prefix(1);
    if (match_pattern(h, lower(sub))) {
      if (negated) return -1;
      positive = true;
    }
    if (comma == std::string_view::npos) break;
    patterns.remove_prefix(comma + 1);
  }
  return positive ? 1 : 0;
}

bool hashed_host_matches(std::string_view host, std::string_view hashed) {
  if (hashed.substr(0, kHashMagic.size()) != kHashMagic) return false;
  hashed.remove_prefix(kHashMagic.size());
  size_t bar = hashed.find('|');
  if (bar == std::string_view::npos) return false;
  auto salt = key::base64_decode(hashed.substr(0, bar));
  auto want = key::base64_decode(hashed.substr(bar + 1));
  if (!salt.ok() || !want.ok() || salt->size() != kSha1Bytes || want->size() != kSha1Bytes) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()), reinterpret_cast<const unsigned char*>(host.data()),
           host.size(), mac, &mac_len) == nullptr ||
      mac_len != kSha1Bytes) {
    return false;
  }
  return std::equal(want->begin(), want->end(), mac);
}

void load_host_keys(std::string_view host, const std::string& path, std::vector<HostKeyEntry>& out) {
  std::ifstream in(path);
  if (!in) return;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.size() > kMaxLineBytes) continue;
    std::string_view rest = line;
    if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
    std::string_view first = next_field(rest);
    if (first.empty() || first[0] == '#') continue;
    HostKeyMarker marker = HostKeyMarker::kNone;
    if (first[0] == '@') {
      if (first == "@cert-authority") {
        marker = HostKeyMarker::kCertAuthority;
      } else if (first == "@revoked") {
        marker = HostKeyMarker::kRevoked;
      } else {
        continue;  // unknown marker: the line is invalid
      }
      first = next_field(rest);
      if (first.empty()) continue;
    }
    const bool matches = first.substr(0, kHashMagic.size()) == kHashMagic
                             ? hashed_host_matches(host, first)
                             : match_host_pattern_list(host, first) == 1;
    if (!matches) continue;
    std::string_view type = next_field(rest);
    std::string_view b64 = next_field(rest);
    if (type.empty() || b64.empty()) continue;
    auto blob = key::base64_decode(b64);
    if (!blob.ok()) continue;
    auto k = key::PublicKey::from_blob(*blob);
    if (!k.ok() || k->ssh_name() != type) continue;
    out.push_back(HostKeyEntry{std::move(*k), marker, path, line_no});
  }
}

}  // namespace tessera::add
