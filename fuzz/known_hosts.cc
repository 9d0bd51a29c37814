// Fuzzes known_hosts parsing and matching (tessera/key/known_hosts.h): the
// input's first line is the host name looked up, the rest a known_hosts
// file. Every line goes through the line parser, the host matcher and the
// key reader; the whole file through HostKeys and its checks of a plain key
// and a certificate. Bad input must fail cleanly, and a name must always
// match its own hash.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tessera/key/known_hosts.h"

using namespace tessera::key;

namespace {

// A fixed key, so that lines holding it reach the checks' matching branches.
const PublicKey& fixed_key() {
  static const PublicKey key =
      KeyOrCertificate::from_line("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOBswhOjlnfTMd6QfgtPGQj7nErq8uax95G0UZ6elZNP")
          ->key;
  return key;
}

// A certificate of the fixed key under itself as CA (check() reads only its
// keys, never its signature).
const Certificate& fixed_certificate() {
  static const Certificate cert{.key = fixed_key(), .nonce = {}, .serial = 1, .type = CertType::kHost,
                                .key_id = "fuzz", .principals = {"host"}, .critical_options = {},
                                .extensions = {}, .reserved = {}, .signature_key = fixed_key(), .signature = {}};
  return cert;
}

constexpr std::array<uint8_t, kHashedHostSaltBytes> kSalt = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
                                                            9, 8, 7, 6, 5, 4, 3, 2, 1, 0};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = as_text(std::span(data, size));
  const size_t newline = input.find('\n');
  const std::string host(input.substr(0, newline));
  const std::string_view contents = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  KnownHostsLineReader reader(contents);
  std::string_view text;
  while (reader.next(text)) {
    const KnownHostsLine line = parse_known_hosts_line(text);
    if (line.kind != KnownHostsLine::Kind::kEntry) continue;
    // The fields are views into the line.
    if (line.key_text.data() < text.data() || line.key_text.data() + line.key_text.size() > text.data() + text.size()) {
      __builtin_trap();
    }
    (void)match_known_hosts_hosts(line.hosts, host);
    auto key = parse_known_hosts_key(line.key_text);
    if (key.ok() && key->comment.size() > line.key_text.size()) __builtin_trap();
  }

  HostKeys keys(host);
  keys.add("fuzz", contents);
  if (keys.problems().size() > kMaxKnownHostsProblems || keys.problems().size() > keys.problem_count()) {
    __builtin_trap();
  }
  for (const HostKeyCheck& check : {keys.check(fixed_key()), keys.check(fixed_certificate())}) {
    for (size_t index : check.entries) {
      if (index >= keys.entries().size()) __builtin_trap();
    }
  }

  // A name always matches its own hash, and "[host]:port" is a name too.
  if (host.size() <= kMaxKnownHostsNameBytes) {
    auto hashed = hash_known_host_name(host, kSalt);
    if (hashed.ok() && match_known_hosts_hosts(*hashed, host) != HostMatch::kMatch) __builtin_trap();
  }
  (void)known_hosts_name(host, static_cast<uint16_t>(size));
  return 0;
}
