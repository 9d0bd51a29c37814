// %-tokens, ${VAR} and ~ in ssh_config values, as OpenSSH 9.2's
// percent_expand(), dollar_expand() and tilde_expand() do them, and which
// option accepts which tokens (the TOKENS section of ssh_config(5)).
#include <openssl/evp.h>
#include <pwd.h>

#include <array>
#include <cstdlib>
#include <string>

#include "config/internal.h"
#include "tessera/key/ossl.h"

namespace tessera::ssh::config {
namespace detail {
namespace {

// PATH_MAX: tilde_expand() refuses a longer result.
constexpr size_t kMaxPathBytes = 4096;

key::Error malformed(std::string detail) { return key::Error(key::Errc::kMalformed, std::move(detail)); }

}  // namespace

TokenTable token_table(const TokenValues& values, uint32_t tokens, const UseTokens* use) {
  TokenTable table;
  if (tokens & kTokenDefault) {
    table.add('C', values.connection_hash);
    table.add('L', values.local_host_short);
    table.add('i', values.uid);
    table.add('k', values.key_alias);
    table.add('l', values.local_host);
    table.add('n', values.original_host);
    table.add('p', values.port);
    table.add('d', values.home);
    table.add('h', values.remote_host);
    table.add('r', values.remote_user);
    table.add('u', values.local_user);
  }
  if (tokens & kTokenHost) table.add('h', values.remote_host);
  if (tokens & kTokenProxy) {
    table.add('h', values.remote_host);
    table.add('n', values.original_host);
    table.add('p', values.port);
    table.add('r', values.remote_user);
  }
  if (use != nullptr) {
    if (tokens & kTokenTunnel) table.add('T', use->tunnel_interface);
    if (tokens & kTokenKnownHosts) {
      table.add('f', use->host_key_fingerprint);
      table.add('H', use->known_hosts_name);
      table.add('I', use->known_hosts_reason);
      table.add('K', use->host_key_base64);
      table.add('t', use->host_key_type);
    }
  }
  return table;
}

key::Result<std::string> expand_string(std::string_view text, const TokenTable* percent, bool dollar,
                                       const Environment& env) {
  std::string out;
  auto append = [&out](std::string_view piece) -> bool {
    if (out.size() + piece.size() > kMaxExpandedBytes) return false;
    out.append(piece);
    return true;
  };
  const std::string too_long = "expanded value longer than " + std::to_string(kMaxExpandedBytes) + " bytes";
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (dollar && c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      size_t close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        return malformed("environment variable '" + std::string(text.substr(i + 2, 100)) + "' missing closing '}'");
      }
      std::string name(text.substr(i + 2, close - i - 2));
      if (name.empty()) return malformed("zero-length environment variable");
      std::optional<std::string> value = env ? env(name) : std::nullopt;
      if (!value) return malformed("env var ${" + name + "} has no value");
      if (!append(*value)) return malformed(too_long);
      i = close;
      continue;
    }
    if (c != '%' || percent == nullptr) {
      if (!append(std::string_view(&text[i], 1))) return malformed(too_long);
      continue;
    }
    if (++i == text.size()) return malformed("invalid format: '%' at the end");
    char token = text[i];
    if (token == '%') {
      if (!append("%")) return malformed(too_long);
      continue;
    }
    auto index = static_cast<unsigned char>(token);
    const std::string* value = index < 128 ? percent->values[index] : nullptr;
    if (value == nullptr) {
      std::string shown = index >= 0x20 && index < 0x7f ? std::string(1, token) : "\\x" + std::to_string(index);
      return malformed("unknown key %" + shown);
    }
    if (!append(*value)) return malformed(too_long);
  }
  return out;
}

key::Result<std::string> expand_tilde(std::string_view path, const std::string& home) {
  if (!path.starts_with('~')) return std::string(path);
  std::string_view rest = path.substr(1);
  std::string user;
  std::string_view tail;
  if (rest.empty() || rest[0] == '/') {
    size_t skip = rest.find_first_not_of('/');
    tail = skip == std::string_view::npos ? std::string_view() : rest.substr(skip);
  } else {
    size_t slash = rest.find('/');
    user = std::string(rest.substr(0, slash));
    if (slash != std::string_view::npos) {
      std::string_view after = rest.substr(slash);
      size_t skip = after.find_first_not_of('/');
      tail = skip == std::string_view::npos ? std::string_view() : after.substr(skip);
    }
  }
  std::string dir;
  if (!user.empty()) {
    if (user.size() > 256 || user.find('\0') != std::string::npos) {
      return key::Error(key::Errc::kInvalidArgument, "No such user " + user.substr(0, 64));
    }
    passwd entry{};
    passwd* found = nullptr;
    std::array<char, 16384> buffer{};
    if (::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr ||
        found->pw_dir == nullptr) {
      return key::Error(key::Errc::kInvalidArgument, "No such user " + user);
    }
    dir = found->pw_dir;
  } else {
    dir = home;
  }
  if (dir.empty() || dir.back() != '/') dir += '/';
  dir.append(tail);
  if (dir.size() >= kMaxPathBytes) return malformed("path too long after expanding ~");
  return dir;
}

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

}  // namespace detail

std::string connection_hash(std::string_view local_host, std::string_view host, std::string_view port,
                            std::string_view user) {
  key::ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), local_host.data(), local_host.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), host.data(), host.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), port.data(), port.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), user.data(), user.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1) {
    std::abort();  // SHA1 from OpenSSL cannot fail on memory input
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

key::Result<std::string> expand(const Config& config, Option option, std::string_view value, const UseTokens& use) {
  const OptionInfo& info = option_info(option);
  std::string text(value);
  if (info.tilde) {
    TESSERA_ASSIGN_OR_RETURN(text, detail::expand_tilde(text, config.tokens.home));
  }
  Environment env = config.environment ? config.environment : detail::process_environment();
  // LocalForward/RemoteForward had ${VAR} expanded when they were read.
  bool dollar = info.environment && option != Option::kLocalForward && option != Option::kRemoteForward &&
                option != Option::kDynamicForward;
  if (info.tokens == kNoTokens) return detail::expand_string(text, nullptr, dollar, env);
  detail::TokenTable table = detail::token_table(config.tokens, info.tokens, &use);
  return detail::expand_string(text, &table, dollar, env);
}

}  // namespace tessera::ssh::config
