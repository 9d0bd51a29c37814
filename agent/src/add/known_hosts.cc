#include "known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/match.h"

namespace tessera::add {

namespace {

constexpr std::string_view kHashMagic = "|1|";
constexpr size_t kSha1Bytes = 20;
// Longest known_hosts line OpenSSH reads.
constexpr size_t kMaxLineBytes = 16 * 1024;

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
  return key::match_pattern_list(host, patterns, /*fold_case=*/true);
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
