// -s: sign public keys with a CA key, as ssh-keygen 9.2's do_ca_sign():
// for each file, <name>-cert.pub (".pub" dropped from the name first) and,
// unless -q, one line on stderr:
//   Signed user key id_ed25519-cert.pub: id "alice" serial 7 for alice valid forever
//
// The CA key is loaded once per run (one passphrase prompt, one agent
// connection, one token login) and stays where it lives: a key file, the
// agent (-U) or a PKCS#11 token (-D): each is a key::CertificateSigner.
//
// Beyond ssh-keygen: --serial-file (serial_state.h) and --issuance-log
// (issuance_log.h).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ca_store.h"
#include "ca_store_pg.h"
#include "issuance_log.h"
#include "keyfile.h"
#include "modes.h"
#include "output.h"
#include "serial_state.h"
#include "tessera/agent/client.h"
#include "tessera/key/cert.h"
#include "tessera/key/fingerprint.h"
#include "token.h"

namespace tessera::keygen {

std::string certificate_path(const std::string& path) {
  size_t dot = path.rfind('.');
  bool pub = dot != std::string::npos && path.compare(dot, std::string::npos, ".pub") == 0;
  return (pub ? path.substr(0, dot) : path) + "-cert.pub";
}

namespace {

// Certificates loaded, then signed together, then written: big enough to keep
// every core busy, small enough that output follows input closely.
constexpr size_t kSigningBatch = 256;
// Most threads that sign at once.
constexpr size_t kMaxSigningThreads = 8;

// -U: the CA private key stays in the agent; each certificate is one sign request.
class AgentSigner final : public key::CertificateSigner {
 public:
  AgentSigner(agent::AgentClient client, key::PublicKey ca)
      : client_(std::move(client)), ca_(std::move(ca)), ca_blob_(ca_.blob()) {}

  const key::PublicKey& public_key() const override { return ca_; }

  key::Result<key::Bytes> sign(std::span<const uint8_t> data, std::string_view algorithm) override {
    TESSERA_TRY(key::certificate_algorithm_allowed(ca_, algorithm));
    uint32_t flags = algorithm == "rsa-sha2-256"   ? agent::kSignFlagRsaSha256
                     : algorithm == "rsa-sha2-512" ? agent::kSignFlagRsaSha512
                                                   : 0;
    TESSERA_ASSIGN_OR_RETURN(key::Bytes signature, client_.sign(ca_blob_, data, flags));
    // The agent is another process: a certificate is only written if its
    // signature is the CA's.
    TESSERA_TRY(ca_.verify(signature, data));
    return signature;
  }

 private:
  agent::AgentClient client_;
  key::PublicKey ca_;
  key::Bytes ca_blob_;
};

// The CA key from a private key file, as ssh-keygen's load_identity().
key::Result<std::unique_ptr<key::CertificateSigner>> load_file_ca(const Options& o, const std::string& path) {
  const key::SecretBytes* passphrase = o.passphrase ? &*o.passphrase : nullptr;
  auto loaded = load_private_key(path, passphrase, "Enter passphrase: ");
  if (!loaded.ok()) {
    return fatal_failure("Load key \"" + path + "\": " + describe(loaded.error()));
  }
  return std::unique_ptr<key::CertificateSigner>(std::make_unique<key::PrivateKeySigner>(std::move(loaded->key)));
}

// -U: `path` names the CA public key, which the agent must hold.
key::Result<std::unique_ptr<key::CertificateSigner>> load_agent_ca(const std::string& path) {
  std::optional<PublicKeyWithComment> ca = load_public_key(path);
  if (!ca) {
    return fatal_failure("Cannot load CA public key " + path + ": " + std::strerror(ENOENT));
  }
  const char* socket = std::getenv(std::string(agent::kAuthSockEnv).c_str());
  if (socket == nullptr || *socket == '\0') {
    return fatal_failure("Cannot use public key for CA signature: agent not present");
  }
  auto client = agent::AgentClient::connect(socket);
  if (!client.ok()) {
    return fatal_failure("Cannot use public key for CA signature: " + client.error().message());
  }
  auto identities = client->list_identities();
  if (!identities.ok() || identities->empty()) {
    return fatal_failure("Retrieve agent key list: " +
                    (identities.ok() ? std::string("agent contains no identities") : identities.error().message()));
  }
  const key::Bytes ca_blob = ca->key.blob();
  bool found = false;
  for (const agent::Identity& id : *identities) found = found || id.key_blob == ca_blob;
  if (!found) {
    return fatal_failure("CA key " + path + " not found in agent");
  }
  return std::unique_ptr<key::CertificateSigner>(std::make_unique<AgentSigner>(std::move(*client), std::move(ca->key)));
}

// -D: the CA private key stays on a PKCS#11 token; each certificate is one
// sign request to tessera-pkcs11-helper, after one login for the run.
class TokenSigner final : public key::CertificateSigner {
 public:
  TokenSigner(TokenSession token, pkcs11::KeyInfo key, key::PublicKey ca)
      : token_(std::move(token)), key_(std::move(key)), ca_(std::move(ca)) {}

  const key::PublicKey& public_key() const override { return ca_; }

  key::Result<key::Bytes> sign(std::span<const uint8_t> data, std::string_view algorithm) override {
    TESSERA_TRY(key::certificate_algorithm_allowed(ca_, algorithm));
    TESSERA_ASSIGN_OR_RETURN(key::Bytes signature, token_.sign(key_, data, std::string(algorithm)));
    // The helper is another process: a certificate is only written if its
    // signature is the CA's.
    TESSERA_TRY(ca_.verify(signature, data));
    return signature;
  }

 private:
  TokenSession token_;
  pkcs11::KeyInfo key_;
  key::PublicKey ca_;
};

// -D: `path` names the CA public key, which must be on the provider's token.
key::Result<std::unique_ptr<key::CertificateSigner>> load_token_ca(const Options& o, const std::string& path) {
  std::optional<PublicKeyWithComment> ca = load_public_key(path);
  if (!ca) {
    return fatal_failure("Cannot load CA public key " + path + ": " + std::strerror(ENOENT));
  }
  TESSERA_ASSIGN_OR_RETURN(TokenSession token, TokenSession::open(*o.pkcs11_provider));
  const pkcs11::KeyInfo* found = token.find(ca->key.blob());
  if (found == nullptr) {
    return fatal_failure("CA key " + path + " not found on a token of " + *o.pkcs11_provider + " (tessera-keygen -D " +
                    *o.pkcs11_provider + " lists the keys there)");
  }
  pkcs11::KeyInfo key = *found;
  return std::unique_ptr<key::CertificateSigner>(
      std::make_unique<TokenSigner>(std::move(token), std::move(key), std::move(ca->key)));
}

key::Result<std::unique_ptr<key::CertificateSigner>> load_ca(const Options& o) {
  TESSERA_ASSIGN_OR_RETURN(const std::string path, expanded_path(*o.ca_key));
  if (o.pkcs11_provider) return load_token_ca(o, path);
  if (o.ca_in_agent) return load_agent_ca(path);
  return load_file_ca(o, path);
}

// -t with -s names the CA's signature algorithm; it must name the CA key's
// type as sshkey_type_from_name() does (any ECDSA curve names "ECDSA").
bool names_key_type(std::string_view name, const key::PublicKey& ca) {
  std::optional<NamedKeyType> named = parse_key_type_name(name);
  if (!named || !named->type) return false;
  auto family = [](key::KeyType t) {
    bool ecdsa = t == key::KeyType::kEcdsaP256 || t == key::KeyType::kEcdsaP384 || t == key::KeyType::kEcdsaP521;
    return ecdsa ? key::KeyType::kEcdsaP256 : t;
  };
  return family(*named->type) == family(ca.type());
}

// libkey's signing errors in ssh-keygen's words.
std::string signing_problem(const key::Error& error) {
  if (agent::is_agent_refusal(error)) return std::string(agent::kAgentRefusedText);
  switch (error.code()) {
    case key::Errc::kInvalidArgument: return "invalid argument";
    case key::Errc::kUnsupported: return "signature algorithm not supported";
    default: return error.message();
  }
}

// Where serial numbers come from in the file store: -z (fixed, or +N
// incrementing) or --serial-file.
class SerialSource {
 public:
  // issued_at_least: the highest serial the issuance log records for this CA.
  static key::Result<SerialSource> open(const Options& o, uint64_t issued_at_least) {
    SerialSource source(o);
    if (o.serial_file) {
      auto state = SerialState::open(*o.serial_file, o.files.size(),
                                     o.new_serial_file ? SerialState::Mode::kCreate : SerialState::Mode::kExisting,
                                     issued_at_least);
      if (!state.ok()) return fatal_failure(state.error().message());
      source.state_.emplace(std::move(*state));
    }
    return source;
  }

  key::Result<uint64_t> next() {
    if (state_) return state_->next();
    uint64_t serial = serial_;
    if (increments_) ++serial_;
    return serial;
  }

  key::Status finish() { return state_ ? state_->finish() : key::Status(); }

 private:
  explicit SerialSource(const Options& o) : serial_(o.serial), increments_(o.serial_increments) {}
  uint64_t serial_;
  bool increments_;
  std::optional<SerialState> state_;
};

// The public key to certify, as ssh-keygen's sshkey_load_public(); a
// certificate, or a file without a key, ends the run.
key::Result<PublicKeyWithComment> load_subject(const std::string& path) {
  if (auto found = load_public_key(path)) return std::move(*found);
  auto contents = read_key_file(path, false);
  if (!contents.ok()) return fatal_failure("load pubkey \"" + path + "\": " + contents.error().message());
  std::string_view text = contents->reveal_text();
  text.remove_prefix(std::min(text.find_first_not_of(" \t\r\n"), text.size()));
  if (auto any = read_any_key_text(text); any.ok() && any->certificate) {
    return fatal_failure("do_ca_sign: key \"" + path + "\" type " +
                       std::string(any->certificate->key.info().display_name) + "-CERT cannot be certified");
  }
  return fatal_failure("load pubkey \"" + path + "\": invalid format");
}

// What every certificate of the run says.
struct CertificateForm {
  key::CertType type = key::CertType::kUser;
  std::vector<std::string> principals;
  std::vector<key::CertOption> critical_options;
  std::vector<key::CertOption> extensions;
};

// The file store: serials from -z or --serial-file, records in the
// --issuance-log (if any), synced before the certificates are written.
class FileCaStore final : public CaStore {
 public:
  FileCaStore(SerialSource serials, std::optional<IssuanceLog> log, std::string ca_fingerprint)
      : serials_(std::move(serials)), log_(std::move(log)), ca_fingerprint_(std::move(ca_fingerprint)) {}

  key::Status issue(std::span<CertificateToIssue> batch, const SignBatch& sign) override {
    for (CertificateToIssue& p : batch) {
      auto serial = serials_.next();
      if (!serial.ok()) return fatal_failure(serial.error().message());
      p.cert.serial = *serial;
    }
    sign(batch);
    // The records of the batch's certificates, up to the first that failed,
    // are on disk before any of their files exists: the log never misses a
    // certificate that reached its holder, even after a power cut.
    if (!log_) return {};
    size_t logged = 0;
    for (const CertificateToIssue& p : batch) {
      if (!p.signed_ok.ok()) break;
      if (auto appended = log_->append(p.cert, ca_fingerprint_, certificate_path(p.path)); !appended.ok()) {
        return fatal_failure(appended.error().message());
      }
      ++logged;
    }
    if (logged > 0) {
      if (auto synced = log_->sync(); !synced.ok()) return fatal_failure(synced.error().message());
    }
    return {};
  }

  key::Status finish() override {
    // Whether the run ended early or not, what was issued is recorded.
    key::Status status = serials_.finish();
    if (!status.ok()) status = fatal_failure(status.error().message());
    if (log_) {
      if (auto closed = log_->close(); !closed.ok() && status.ok()) status = fatal_failure(closed.error().message());
    }
    return status;
  }

 private:
  SerialSource serials_;
  std::optional<IssuanceLog> log_;
  std::string ca_fingerprint_;
};

struct Run {
  const Options& options;
  key::CertificateSigner& signer;
  std::string algorithm;
  CertificateForm form;
  CaStore& store;
};

// Loads the key; the store gives it its serial, and it is signed later.
key::Result<CertificateToIssue> prepare(Run& run, const std::string& file) {
  TESSERA_ASSIGN_OR_RETURN(const std::string path, expanded_path(file));
  TESSERA_ASSIGN_OR_RETURN(PublicKeyWithComment subject, load_subject(path));
  return CertificateToIssue{
      .path = path,
      .comment = std::move(subject.comment),
      .cert = key::Certificate{
          .key = std::move(subject.key),
          .nonce = {},
          .serial = 0,
          .type = run.form.type,
          .key_id = *run.options.key_id,
          .principals = run.form.principals,
          .valid_after = run.options.validity.valid_after,
          .valid_before = run.options.validity.valid_before,
          .critical_options = run.form.critical_options,
          .extensions = run.form.extensions,
          .reserved = {},
          .signature_key = run.signer.public_key(),
          .signature = {},
      },
      .signed_ok = {},
      .refused = std::nullopt,
  };
}

// Signs a batch: on every core when the signer allows it (a key in memory),
// one by one otherwise (an agent connection takes one request at a time).
void sign_all(Run& run, std::span<CertificateToIssue> batch) {
  auto sign_one = [&](CertificateToIssue& p) {
    p.signed_ok = key::sign_certificate(p.cert, run.signer, run.algorithm);
  };
  size_t threads = run.signer.concurrent() ? std::min<size_t>({std::thread::hardware_concurrency(), kMaxSigningThreads,
                                                              batch.size()})
                                           : 1;
  if (threads <= 1) {
    for (CertificateToIssue& p : batch) sign_one(p);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < batch.size();) sign_one(batch[i]);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

// Writes and reports one signed certificate (or why it could not be signed).
int finish(Run& run, const CertificateToIssue& p) {
  if (p.refused) return fatal(*p.refused);
  if (!p.signed_ok.ok()) {
    std::string how = run.options.ca_in_agent ? "Couldn't certify " + p.path + " via agent: "
                                              : "Couldn't certify key " + p.path + ": ";
    return fatal(how + signing_problem(p.signed_ok.error()));
  }
  const key::Certificate& cert = p.cert;
  const std::string out = certificate_path(p.path);
  if (auto saved = save_certificate(out, cert, p.comment); !saved.ok()) {
    return fatal("Unable to save public key to " + out + ": " + saved.error().message());
  }
  if (!run.options.quiet) {
    const std::string& principals = run.options.principals.value_or("");
    print_error(printable("Signed " + std::string(cert.type == key::CertType::kHost ? "host" : "user") + " key " +
                          out + ": id \"" + cert.key_id + "\" serial " + std::to_string(cert.serial) +
                          (run.options.principals ? " for " + principals : std::string()) + " valid " +
                          format_validity(cert.valid_after, cert.valid_before)));
  }
  return kExitOk;
}

// Certifies the files in order, a batch at a time. As with ssh-keygen, the
// first file that fails ends the run; every certificate before it is written.
int certify_files(Run& run, const std::vector<std::string>& files) {
  for (size_t start = 0; start < files.size(); start += kSigningBatch) {
    std::vector<CertificateToIssue> batch;
    std::optional<key::Error> load_failure;
    for (size_t i = start; i < std::min(files.size(), start + kSigningBatch); ++i) {
      key::Result<CertificateToIssue> p = prepare(run, files[i]);
      if (!p.ok()) {
        load_failure = p.error();
        break;
      }
      batch.push_back(std::move(*p));
    }
    if (!batch.empty()) {
      // The store records the certificates before any of their files exists.
      auto issued = run.store.issue(batch, [&](std::span<CertificateToIssue> b) { sign_all(run, b); });
      if (!issued.ok()) return report_failure(issued.error());
    }
    for (const CertificateToIssue& p : batch) {
      if (int status = finish(run, p); status != kExitOk) return status;
    }
    if (load_failure) return report_failure(*load_failure);
  }
  return kExitOk;
}

DatabaseSerialRange database_serial_range(const Options& options) {
  return DatabaseSerialRange{.first = options.serial_range_first, .last = options.serial_range_last};
}

key::Result<std::unique_ptr<CaStore>> open_file_store(const Options& options, const std::string& ca_fingerprint) {
  // A serial state never hands out a serial the log already records (a
  // state restored from a backup, or started anew by mistake).
  uint64_t issued_at_least = 0;
  if (options.serial_file && options.issuance_log && ::access(options.issuance_log->c_str(), F_OK) == 0) {
    auto recorded = read_issuance_log(*options.issuance_log);
    if (!recorded.ok()) return fatal_failure(recorded.error().message());
    for (const IssuedCertificate& issued : recorded->records) {
      if (issued.ca_fingerprint == ca_fingerprint) issued_at_least = std::max(issued_at_least, issued.serial);
    }
  }
  TESSERA_ASSIGN_OR_RETURN(SerialSource serials, SerialSource::open(options, issued_at_least));
  std::optional<IssuanceLog> log;
  if (options.issuance_log) {
    auto opened = IssuanceLog::open(*options.issuance_log);
    if (!opened.ok()) return fatal_failure(opened.error().message());
    log.emplace(std::move(*opened));
  }
  return std::unique_ptr<CaStore>(std::make_unique<FileCaStore>(std::move(serials), std::move(log), ca_fingerprint));
}

}  // namespace

int run_certify(const Options& options) {
  auto loaded_ca = load_ca(options);
  if (!loaded_ca.ok()) return report_failure(loaded_ca.error());
  std::unique_ptr<key::CertificateSigner> signer = std::move(*loaded_ca);
  const key::PublicKey& ca = signer->public_key();

  std::string algorithm(key::default_certificate_algorithm(ca));
  if (options.key_type_name) {
    if (!names_key_type(*options.key_type_name, ca)) {
      return fatal("CA key type " + std::string(ca.ssh_name()) + " doesn't match specified " + *options.key_type_name);
    }
    algorithm = *options.key_type_name;
  }

  CertificateForm form;
  form.type = options.host_certificate ? key::CertType::kHost : key::CertType::kUser;
  if (options.principals) {
    auto principals = split_principals(*options.principals);
    if (!principals.ok()) return fatal(principals.error().detail());
    form.principals = std::move(*principals);
  }
  if (auto built = options.sections.build(form.critical_options, form.extensions); !built.ok()) {
    return fatal("Cannot certify: " + built.error().detail() + " (a certificate carries each name once)");
  }

  const std::string ca_fingerprint = key::fingerprint(ca, key::FingerprintHash::kSha256);
  auto opened = options.ca_store ? open_database_ca_store(*options.ca_store, ca, database_serial_range(options))
                                 : open_file_store(options, ca_fingerprint);
  if (!opened.ok()) return report_failure(opened.error());
  std::unique_ptr<CaStore> store = std::move(*opened);
  Run run{options, *signer, algorithm, std::move(form), *store};

  int status = certify_files(run, options.files);
  if (auto finished = store->finish(); !finished.ok() && status == kExitOk) status = report_failure(finished.error());
  return status;
}

}  // namespace tessera::keygen
