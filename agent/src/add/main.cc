// tessera-add: adds keys to an SSH agent, lists, tests and removes them, with
// ssh-add's flags, texts and exit codes (0 success, 1 failure, 2 no agent,
// 255 fatal). Beyond ssh-add: -T without files tests every key in the agent,
// and --status reports tessera-agent's state.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "destination.h"
#include "keyfile.h"
#include "status.h"
#include "tessera/agent/client.h"
#include "tessera/sys/stdfd.h"

namespace {

using tessera::add::Adder;
using tessera::add::Options;

// getopt string of ssh-add 9.x; '+' stops at the first file, as OpenSSH's
// own getopt does.
constexpr const char* kOptString = "+vkKlLCcdDTxXE:e:h:H:M:m:qs:S:t:";

// Default identities, in ssh-add's order.
constexpr const char* kDefaultIdentities[] = {".ssh/id_rsa", ".ssh/id_ecdsa", ".ssh/id_ecdsa_sk", ".ssh/id_ed25519",
                                              ".ssh/id_ed25519_sk"};

void usage() {
  std::fprintf(stderr,
               "usage: ssh-add [-cDdKkLlqvXx] [-E fingerprint_hash] [-H hostkey_file]\n"
               "               [-h destination_constraint] [-S provider] [-t life]\n"
               "               [file ...]\n"
               "       ssh-add -s pkcs11\n"
               "       ssh-add -e pkcs11\n"
               "       ssh-add -T pubkey ...\n");
}

void help() {
  std::printf(
      "usage: tessera-add [-CcDdkLlqvXx] [-E fingerprint_hash] [-H hostkey_file]\n"
      "                   [-h destination_constraint] [-t life] [file ...]\n"
      "       tessera-add -s pkcs11 [certificate ...]\n"
      "       tessera-add -e pkcs11\n"
      "       tessera-add -T [pubkey ...]\n"
      "       tessera-add --status [--json]\n"
      "\n"
      "Adds private keys to the SSH agent named by $SSH_AUTH_SOCK (tessera-agent or\n"
      "OpenSSH's ssh-agent), with the flags of ssh-add:\n"
      "  (no file)   add ~/.ssh/id_rsa, id_ecdsa, id_ecdsa_sk, id_ed25519, id_ed25519_sk\n"
      "  -l / -L     list fingerprints / public keys of the agent's identities\n"
      "  -E hash     fingerprint hash for -l and -T: md5 or sha256 (default)\n"
      "  -d / -D     remove the given identities (- reads public keys from stdin) / all\n"
      "  -k / -C     only plain keys / only certificates (FILE-cert.pub)\n"
      "  -c          the agent asks for confirmation before each use\n"
      "  -t life     lifetime, e.g. 600, 30m, 1h30m, 2d\n"
      "  -h dest     destination constraint [user@]host or from>to[,...]; host keys\n"
      "              come from -H files (default ~/.ssh/known_hosts{,2},\n"
      "              /etc/ssh/ssh_known_hosts{,2})\n"
      "  -x / -X     lock / unlock the agent with a password\n"
      "  -s / -e p   add / remove the keys of PKCS#11 provider p\n"
      "  -T pubkey   test that the agent signs with each key (verified locally)\n"
      "  -T          (tessera) test every key in the agent: one line per key with\n"
      "              its fingerprint, comment, ok or FAILED: reason, and time in ms\n"
      "  -q / -v     quiet / more verbose\n"
      "  -K          add the resident keys of a FIDO authenticator (asks its PIN)\n"
      "  -S p        middleware for security keys (default $SSH_SK_PROVIDER, else\n"
      "              \"internal\": tessera's own on libfido2)\n"
      "  --status    (tessera) report tessera-agent's state: readers, PKCS#11\n"
      "              providers and their helpers, tokens and PIN states with\n"
      "              advice, keys and their constraints, signature counters;\n"
      "              --json for scripts. Exit status 0 (no problem found),\n"
      "              1 (refused or broken answer), 2 (no agent), 3 (problems)\n"
      "Exit status: 0 success, 1 failure, 2 no agent, 255 fatal error.\n");
}

[[noreturn]] void fatal(const std::string& message) {
  tessera::add::log_message("%s", message.c_str());
  std::exit(255);
}

// tessera-add --status [--json].
int status(int argc, char** argv) {
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (std::strcmp(argv[i], "--status") != 0) {
      std::fprintf(stderr, "tessera-add: --status takes only --json, not \"%s\"\n", argv[i]);
      std::fprintf(stderr, "usage: tessera-add --status [--json]\n");
      return tessera::add::kStatusNoReport;
    }
  }
  const char* sock = std::getenv("SSH_AUTH_SOCK");
  if (sock == nullptr || *sock == '\0') {
    std::fprintf(stderr, "Could not open a connection to your authentication agent.\n");
    return tessera::add::kStatusNoAgent;
  }
  auto agent = tessera::agent::AgentClient::connect(sock);
  if (!agent.ok()) {
    std::fprintf(stderr, "Error connecting to agent: %s\n", agent.error().message().c_str());
    return tessera::add::kStatusNoAgent;
  }
  auto report = agent->status();
  if (!report.ok()) {
    if (tessera::agent::is_agent_refusal(report.error())) {
      std::fprintf(stderr,
                   "The agent refused the status request: it is not tessera-agent, it is locked (tessera-add -X "
                   "unlocks it), or this is a forwarded connection.\n");
    } else {
      std::fprintf(stderr, "Cannot read the agent's status: %s\n", report.error().message().c_str());
    }
    return tessera::add::kStatusNoReport;
  }
  const std::string text = json ? tessera::add::status_json(*report) : tessera::add::status_text(*report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (std::fflush(stdout) != 0) return tessera::add::kStatusNoReport;
  return tessera::add::status_problems(*report).empty() ? tessera::add::kStatusOk : tessera::add::kStatusProblems;
}

bool option_takes_argument(int c) {
  const char* p = std::strchr(kOptString + 1, c);
  return p != nullptr && c != ':' && p[1] == ':';
}

}  // namespace

int main(int argc, char** argv) {
  if (!tessera::sys::sanitise_standard_fds().ok()) return 2;
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc >= 2 && std::strcmp(argv[1], "--help") == 0) {
    help();
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--status") == 0) return status(argc, argv);
  }

  // As ssh-add, find the agent before reading the options.
  const char* sock = std::getenv("SSH_AUTH_SOCK");
  if (sock == nullptr || *sock == '\0') {
    std::fprintf(stderr, "Could not open a connection to your authentication agent.\n");
    return 2;
  }
  auto connected = tessera::agent::AgentClient::connect(sock);
  if (!connected.ok()) {
    const std::string& detail = connected.error().detail();
    size_t colon = detail.rfind(": ");
    std::fprintf(stderr, "Error connecting to agent: %s\n",
                 colon == std::string::npos ? detail.c_str() : detail.c_str() + colon + 2);
    return 2;
  }
  tessera::agent::AgentClient agent = std::move(*connected);

  Options o;
  bool load_resident = false;
  const char* sk_provider = nullptr;
  char lflag = 0, xflag = 0;
  bool dflag_all = false;
  std::vector<std::string> dest_specs, hostkey_files;
  opterr = 0;
  int ch;
  while ((ch = getopt(argc, argv, kOptString)) != -1) {
    switch (ch) {
      case 'v': ++o.verbose; break;
      case 'E': {
        auto h = tessera::key::parse_fingerprint_hash(optarg);
        if (!h.ok()) fatal(std::string("Invalid hash algorithm \"") + optarg + "\"");
        o.hash = *h;
        break;
      }
      case 'H': hostkey_files.emplace_back(optarg); break;
      case 'h': dest_specs.emplace_back(optarg); break;
      case 'k': o.key_only = true; break;
      case 'C': o.cert_only = true; break;
      case 'K': load_resident = true; break;
      case 'S': sk_provider = optarg; break;
      case 'l':
      case 'L':
        if (lflag != 0) fatal(std::string("-") + lflag + " flag already specified");
        lflag = static_cast<char>(ch);
        break;
      case 'x':
      case 'X':
        if (xflag != 0) fatal(std::string("-") + xflag + " flag already specified");
        xflag = static_cast<char>(ch);
        break;
      case 'c': o.confirm = true; break;
      case 'm':
      case 'M':
        std::fprintf(stderr, "tessera-add: -%c applies to XMSS keys, which are not supported\n", ch);
        return 1;
      case 'd': o.deleting = true; break;
      case 'D': dflag_all = true; break;
      case 's': o.pkcs11_provider = optarg; break;
      case 'e':
        o.deleting = true;
        o.pkcs11_provider = optarg;
        break;
      case 't': {
        long life = tessera::add::convert_time(optarg);
        if (life < 0 || static_cast<unsigned long>(life) > UINT32_MAX) {
          std::fprintf(stderr, "Invalid lifetime\n");
          return 1;
        }
        o.lifetime = static_cast<uint32_t>(life);
        break;
      }
      case 'q': o.quiet = true; break;
      case 'T': o.test = true; break;
      default:
        if (option_takes_argument(optopt)) {
          tessera::add::log_message("option requires an argument -- %c", optopt);
        } else {
          tessera::add::log_message("unknown option -- %c", optopt);
        }
        usage();
        return 1;
    }
  }

  // As ssh-add: -S, else $SSH_SK_PROVIDER, else the built-in middleware.
  if (sk_provider == nullptr) sk_provider = std::getenv("SSH_SK_PROVIDER");
  if (sk_provider != nullptr && *sk_provider != '\0') o.sk_provider = sk_provider;
  Adder adder(agent, o);
  if ((xflag != 0) + (lflag != 0) + (dflag_all ? 1 : 0) > 1) fatal("Invalid combination of actions");
  if (xflag != 0) return adder.lock(xflag == 'x') ? 0 : 1;
  if (lflag != 0) return adder.list(lflag == 'l') ? 0 : 1;
  if (dflag_all) return adder.delete_all() ? 0 : 1;

  if (hostkey_files.empty()) hostkey_files = tessera::add::default_known_hosts_files();
  for (const auto& spec : dest_specs) {
    auto dc = tessera::add::parse_destination_constraint(spec, hostkey_files);
    if (!dc.ok()) fatal(dc.error().detail());
    o.destinations.push_back(std::move(*dc));
  }
  if (load_resident) return adder.load_resident_keys() ? 0 : 1;

  const std::vector<std::string> files(argv + optind, argv + argc);
  if (o.test) {
    if (files.empty()) return adder.test_all_keys() ? 0 : 1;
    bool ok = true;
    for (const auto& f : files) ok = adder.test_key_file(f) && ok;
    return ok ? 0 : 1;
  }
  if (o.pkcs11_provider) {
    std::vector<tessera::key::Certificate> certs;
    for (const auto& f : files) {
      auto loaded = tessera::add::load_public(f);
      if (!loaded.ok()) fatal("load certificate " + f + ": " + loaded.error().message());
      if (!loaded->pub.cert) fatal("load certificate " + f + ": not a certificate");
      certs.push_back(*loaded->pub.cert);
    }
    adder.debug(2, "loaded " + std::to_string(certs.size()) + " certificates");
    return adder.update_card(!o.deleting, *o.pkcs11_provider, certs) ? 0 : 1;
  }

  auto do_file = [&](const std::string& path) {
    return o.deleting ? adder.delete_file(path) : adder.add_file(path);
  };
  int ret = 0;
  if (files.empty()) {
    const std::string home = tessera::add::home_dir();
    int count = 0;
    for (const char* rel : kDefaultIdentities) {
      const std::string path = home + "/" + rel;
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) continue;
      if (do_file(path)) {
        ++count;
      } else {
        ret = 1;
      }
    }
    if (count == 0) ret = 1;
  } else {
    for (const auto& f : files) {
      if (!do_file(f)) ret = 1;
    }
  }
  return ret;
}
