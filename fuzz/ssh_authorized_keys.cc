// Fuzzes what tessera-sshd's monitor reads from users' files
// (ssh/src/server/authorized_keys.h): every line of the input goes through the
// authorized_keys line reader (with and without a wanted key type), the
// authorized_principals line reader and the options parser. Options that
// parse are then checked against a fixed connection (from= through the
// address matcher), merged with a fixed certificate's options, matched
// against its principals, and must survive their binary form unchanged. The
// whole input is also read as that binary form. Bad input must fail cleanly.
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "server/address_match.h"
#include "server/authorized_keys.h"
#include "tessera/key/cert.h"
#include "tessera/key/wire.h"

using namespace tessera::ssh::server;
namespace key = tessera::key;

namespace {

key::PrivateKey fixed_ed25519(uint8_t fill) {
  std::array<uint8_t, 32> seed;
  seed.fill(fill);
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  if (pkey == nullptr) __builtin_trap();
  auto k = key::PrivateKey::from_evp(pkey);
  EVP_PKEY_free(pkey);
  if (!k.ok()) __builtin_trap();
  return std::move(k).value();
}

// A user certificate with options and principals, signed once.
const key::Certificate& fixed_certificate() {
  static const key::Certificate cert = [] {
    key::Writer command;
    command.string("/bin/date");
    key::Certificate c{.key = fixed_ed25519(1).public_key(), .nonce = {}, .serial = 5,
                       .type = key::CertType::kUser, .key_id = "fuzz", .principals = {"alice", "ops,admins"},
                       .valid_after = 0, .valid_before = UINT64_MAX,
                       .critical_options = {{"force-command", command.take()}},
                       .extensions = {{"permit-pty", {}}}, .reserved = {},
                       .signature_key = fixed_ed25519(2).public_key(), .signature = {}};
    key::PrivateKeySigner signer(fixed_ed25519(2));
    if (!key::sign_certificate(c, signer, "ssh-ed25519").ok()) __builtin_trap();
    return c;
  }();
  return cert;
}

const RemoteClient kClient{"192.0.2.7", "client.example.org"};
const RemoteClient kClient6{"2001:db8::7", "2001:db8::7"};

void exercise(const AuthOptions& options) {
  key::Writer w;
  options.serialize(w);
  key::Reader r(w.data());
  auto back = AuthOptions::parse(r);
  if (!back.ok() || !r.empty() || !(*back == options)) __builtin_trap();

  LogLines log;
  (void)authorise_auth_options(options, true, "alice", kClient, 1700000000, "fuzz", log);
  (void)authorise_auth_options(options, false, "alice", kClient6, 1700000000, "fuzz", log);
  (void)describe_auth_options(options);

  static const AuthOptions cert_options = [] {
    auto o = auth_options_from_certificate(fixed_certificate());
    if (!o.ok()) __builtin_trap();
    return *o;
  }();
  auto merged = merge_auth_options(options, cert_options);
  if (merged.ok()) {
    // Permissions never grow in a merge.
    if (merged->permit_pty && !(options.permit_pty && cert_options.permit_pty)) __builtin_trap();
    if (merged->permit_port_forwarding && !options.permit_port_forwarding) __builtin_trap();
  }
  if (options.cert_principals) (void)principals_option_matches(*options.cert_principals, fixed_certificate());
  if (options.required_from_host_keys) {
    const std::string& list = *options.required_from_host_keys;
    const bool valid = address_list_valid(list);
    const AddressListMatch m = match_address_list_detail(kClient.address, list);
    // A list found valid without an address never turns invalid with one.
    if (valid && m == AddressListMatch::kInvalid) __builtin_trap();
    (void)match_cidr_list(kClient.address, list);
    (void)cidr_list_valid(list);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view rest = input;
  while (true) {
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);

    auto entry = read_authorized_keys_line(line);
    if (entry.ok() && entry->has_value()) exercise((*entry)->options);
    (void)read_authorized_keys_line(line, "ssh-ed25519");
    auto principals = read_principals_line(line);
    if (principals.ok() && principals->has_value()) {
      if ((*principals)->principal.empty()) __builtin_trap();
      exercise((*principals)->options);
    }
    auto options = parse_auth_options(line);
    if (options.ok()) exercise(*options);

    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }

  key::Reader raw(std::span(data, size));
  auto parsed = AuthOptions::parse(raw);
  if (parsed.ok()) exercise(*parsed);
  return 0;
}
