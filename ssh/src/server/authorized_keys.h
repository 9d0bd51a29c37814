// authorized_keys and authorized_principals lines, and the restrictions they
// and a user certificate place on a session, as OpenSSH 9.2's sshd reads and
// combines them (auth-options.c, auth2-pubkeyfile.c; sshd(8) AUTHORIZED_KEYS
// FILE FORMAT).
//
//   parse_auth_options()            the options field: "no-pty,command=\"...\""
//   auth_options_from_certificate() a user certificate's critical options and extensions
//   merge_auth_options()            file options with certificate options, the more restrictive winning
//   authorise_auth_options()        expiry-time=, from= and source-address against a connection
//   read_authorized_keys_line()     "[options] keytype base64 [comment]"
//   read_principals_line()          "[options] principal"
//
// Lines come from the user's own files but are parsed by a privileged
// process: every parser here is bounded, never aborts, and is fuzzed
// (fuzz/ssh_authorized_keys.cc). Errors carry OpenSSH's words ("unknown key
// option", "missing end quote", "invalid expires time", ...) as the detail of
// a key::Error with code kMalformed.
#ifndef TESSERA_SSH_SERVER_AUTHORIZED_KEYS_H_
#define TESSERA_SSH_SERVER_AUTHORIZED_KEYS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/error.h"
#include "tessera/key/sshsig.h"
#include "tessera/key/wire.h"
#include "tessera/ssh/config.h"

namespace tessera::ssh::server {

// Most permitopen= / permitlisten= entries and environment= strings one line
// may carry (OpenSSH's SSH_AUTHOPT_PERMIT_MAX and SSH_AUTHOPT_ENV_MAX; like
// sshd, the check comes before adding, so one more than this is accepted).
inline constexpr size_t kMaxPermitOptions = 4096;
inline constexpr size_t kMaxEnvironmentOptions = 1024;
// tunnel="any", and the largest tunnel device number (SSH_TUNID_ANY / _MAX).
inline constexpr uint32_t kTunnelAny = 0x7fffffff;
inline constexpr uint32_t kMaxTunnelDevice = 0x7ffffffd;
// Longest host name in a permitopen= / permitlisten= entry (NI_MAXHOST - 1).
inline constexpr size_t kMaxPermitHostBytes = 1024;

// What a key, certificate or principals line allows (OpenSSH's struct
// sshauthopt). Default-constructed, it is what an authorized_keys line without
// options gives: everything permitted, nothing forced.
struct AuthOptions {
  // Session permissions.
  bool permit_port_forwarding = true;
  bool permit_agent_forwarding = true;
  bool permit_x11_forwarding = true;
  bool permit_pty = true;
  bool permit_user_rc = true;
  // "restrict" was given (later options may re-enable single permissions).
  bool restricted = false;
  // expiry-time=: the entry may not be used after this time (seconds since
  // the epoch); 0 when there is none.
  uint64_t valid_before = 0;
  // cert-authority, and principals= which only goes with it.
  bool cert_authority = false;
  std::optional<std::string> cert_principals;
  // tunnel=: a device number up to kMaxTunnelDevice, or kTunnelAny.
  std::optional<uint32_t> force_tun_device;
  // command= / the force-command critical option.
  std::optional<std::string> force_command;
  // environment= strings "NAME=value", in order, one per name (the first wins).
  // sshd applies them only with PermitUserEnvironment.
  std::vector<std::string> environment;
  // permitopen= and permitlisten= entries as written ("host:port"; a bare
  // permitlisten port becomes "*:port"), checked for syntax only.
  std::vector<std::string> permit_open;
  std::vector<std::string> permit_listen;
  // The certificate's source-address (a CIDR list) and the from= pattern
  // list; the caller has already checked both against the connection.
  std::optional<std::string> required_from_host_cert;
  std::optional<std::string> required_from_host_keys;
  // no-touch-required / the no-touch-required extension: a security key
  // signature without user presence is accepted.
  bool no_require_user_presence = false;
  // verify-required (option or critical option): a security key signature
  // must carry user verification.
  bool require_verify = false;

  // What a certificate allows before its extensions grant anything (sshauthopt_new):
  // no permission at all.
  static AuthOptions nothing_permitted();

  // A stable binary form for passing the options between processes (monitor
  // to session): flags, times, optional strings and string lists in the
  // house wire format. parse() reads exactly what serialize() writes and
  // checks the same limits as parse_auth_options().
  void serialize(key::Writer& out) const;
  static key::Result<AuthOptions> parse(key::Reader& in);

  bool operator==(const AuthOptions&) const = default;
};

// sshauthopt_parse(): the options field at the start of `text`, up to the
// first space or tab outside a quoted value (the rest is ignored). Names are
// case-insensitive; flags are cert-authority, restrict and the negatable
// [no-]agent-forwarding, [no-]port-forwarding, [no-]pty, [no-]user-rc,
// [no-]X11-forwarding, [no-]touch-required, [no-]verify-required; values are
// command, principals, from, expiry-time, environment, permitopen,
// permitlisten and tunnel, written name="value" with \" for a quote. Later
// flags override earlier ones. Empty text gives the defaults.
key::Result<AuthOptions> parse_auth_options(std::string_view text);

// sshauthopt_from_cert(): a user certificate's critical options
// (force-command, source-address, verify-required; any other refuses the
// certificate) and extensions (permit-X11-forwarding, permit-agent-forwarding,
// permit-port-forwarding, permit-pty, permit-user-rc, no-touch-required;
// others are ignored, each noted in `ignored` as sshd logs it: "Certificate
// extension \"x\" is not supported"). Fails for host certificates and with
// sshd's message for a malformed option ("Certificate has multiple
// force-command options", "Certificate source-address contents invalid", ...).
key::Result<AuthOptions> auth_options_from_certificate(const key::Certificate& cert,
                                                       std::vector<std::string>* ignored = nullptr);

// sshauthopt_merge(): `primary` (an authorized_keys or principals line) with
// `additional` (the certificate). Permissions must be granted by both;
// verify-required by either; the earlier expiry time wins; from=,
// source-address, tunnel, environment, permitopen and permitlisten come from
// primary when it has them, else from additional; cert-authority, principals
// and restrict are dropped. Two different forced commands refuse:
// "forced command options do not match".
key::Result<AuthOptions> merge_auth_options(const AuthOptions& primary, const AuthOptions& additional);

// One line for the server's log, in OpenSSH's words, at the level sshd logs it.
struct LogLine {
  config::LogLevel level;
  std::string text;
};
using LogLines = std::vector<LogLine>;

// The connection a key is tried on.
struct RemoteClient {
  std::string address;  // "192.0.2.7", "2001:db8::1"
  std::string host;     // canonical host name, lower case (with UseDNS no: the address again)
  bool operator==(const RemoteClient&) const = default;
};

// auth_authorise_keyopts(): may an entry with these options be used now, for
// this user, from this client? Checks expiry-time (refused once
// valid_before < now), principals= only with cert-authority, cert-authority
// only where `allow_cert_authority`, from= (match_host_and_address) and
// source-address (match_cidr_list). `where` prefixes the log lines, as sshd's
// "file:line" or "cert". Appends what sshd logs to `log`.
bool authorise_auth_options(const AuthOptions& options, bool allow_cert_authority, std::string_view user,
                            const RemoteClient& client, uint64_t now, std::string_view where, LogLines& log);

// What the options allow, as sshd lists it after "key options:" in its debug
// log: " agent-forwarding command port-forwarding pty ..." (leading space).
std::string describe_auth_options(const AuthOptions& options);

// ---- lines --------------------------------------------------------------------

// Longest authorized_keys / principals line read; longer lines are skipped.
inline constexpr size_t kMaxAuthorizedKeysLineBytes = 256 * 1024;

struct AuthorizedKeysLine {
  key::KeyOrCertificate key;  // a certificate only where a line holds one (never matches a client key)
  std::string options_text;   // the options field as written; empty when the line starts with the key
  AuthOptions options;        // parse_auth_options(options_text)
};

// One authorized_keys line as sshd reads it (auth_check_authkey_line): the
// line ends at a NUL byte or line break; leading spaces and tabs are skipped;
// empty lines and '#' comments give nullopt. If the line does not start with a
// key, the options field (up to a blank outside quotes) comes first. Errors:
// "invalid key option string" (unbalanced quote), "no key: ..." (no readable
// key after the options), "bad key options: ..." (parse_auth_options). A
// certificate's signature is verified when it is read.
//
// `only_type` stands for the key type sshd wants on the line (the client's
// key type, or a CA's): when set, a key of any other type is not decoded at
// all and counts as no key, which changes nothing but the cost.
key::Result<std::optional<AuthorizedKeysLine>> read_authorized_keys_line(std::string_view line,
                                                                         std::string_view only_type = {});

struct PrincipalsLine {
  std::string principal;
  AuthOptions options;
};

// One AuthorizedPrincipalsFile line (auth_check_principals_line): '#' starts
// a comment anywhere, surrounding blanks are dropped, and if blanks remain the
// last word is the principal and the start of the line its options. Empty and
// comment lines give nullopt; bad options fail with "bad principals options: ...".
key::Result<std::optional<PrincipalsLine>> read_principals_line(std::string_view line);

// match_list(): whether one of the certificate's principals is named in a
// principals="a,b" option (exact names, no wildcards; a principal is itself
// read as a comma-separated list, as sshd does).
bool principals_option_matches(std::string_view principals_option, const key::Certificate& cert);

}  // namespace tessera::ssh::server

#endif  // TESSERA_SSH_SERVER_AUTHORIZED_KEYS_H_
