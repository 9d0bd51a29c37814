// The agent's request handling: one parsed request in, one answer out, with
// every failure mapped to SSH_AGENT_FAILURE here and nowhere else (and its
// reason logged, and audited for sign requests).
//
// Runs on the event loop's thread. Work that may take long goes elsewhere
// and comes back through the loop: signatures to the signing pool (but for
// the fast keys', ed25519 and ECDSA P-256, made on the loop, a few per round),
// confirmation prompts to the Confirmer, unlock delays to timers.
#ifndef TESSERA_AGENT_DAEMON_DISPATCHER_H_
#define TESSERA_AGENT_DAEMON_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "daemon/askpass.h"
#include "daemon/audit.h"
#include "daemon/connection.h"
#include "daemon/event_loop.h"
#include "daemon/keystore.h"
#include "daemon/lock.h"
#include "daemon/pkcs11_providers.h"
#include "daemon/readers.h"
#include "daemon/security_keys.h"
#include "daemon/stats.h"
#include "daemon/worker_pool.h"
#include "tessera/agent/protocol.h"
#include "tessera/key/fingerprint.h"

namespace tessera::agent::daemon {

// The extensions tessera-agent answers (the query extension lists them).
inline const std::vector<std::string>& supported_extensions() {
  static const std::vector<std::string> names = {std::string(kExtQuery), std::string(kExtSessionBind),
                                                 std::string(kExtStatus)};
  return names;
}

struct DispatcherConfig {
  uint32_t default_lifetime = 0;  // seconds; 0: keys live until removed
  key::FingerprintHash fingerprint_hash = key::FingerprintHash::kSha256;
  std::string allowed_providers;  // -P
  bool allow_remote_pkcs11 = false;  // -O allow-remote-pkcs11
  Pkcs11Settings pkcs11;
  SecurityKeySettings security_keys;
  // Security keys of applications other than ssh: sign SSH authentication
  // requests only (-O no-restrict-websafe lifts it), as ssh-agent.
  bool restrict_websafe = true;
};

class Dispatcher {
 public:
  // Delivers an answer payload (unframed) for one request. Called exactly
  // once per request, on the loop's thread, possibly after handle() returned.
  using Reply = std::function<void(Bytes payload)>;

  // audit may be null (no audit trail). All references must outlive the
  // dispatcher; the pools must be shut down before it is destroyed.
  Dispatcher(DispatcherConfig config, EventLoop& loop, WorkerPool& signers, Confirmer& confirmer, AuditLog* audit);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Handles one request payload (type byte onwards) from the connection.
  void handle(Connection& connection, std::span<const uint8_t> payload, Reply reply);

  // Starts the security key signing threads and the reader watcher (after
  // any fork).
  void start() {
    security_keys_.start();
    if (config_.pkcs11.reader_events) readers_.start();
  }
  // Ends the PKCS#11 helpers; their pending requests are answered with
  // failure. Call while the connections still exist.
  void shutdown() {
    readers_.stop();
    providers_.shutdown();
    security_keys_.shutdown();
  }

  // PC/SC readers and cards as the agent sees them (thread-safe).
  ReadersSnapshot readers() const { return readers_.snapshot(); }

  const KeyStore& keys() const { return keys_; }
  bool locked() const { return lock_.locked(); }

 private:
  struct Refused {
    std::string reason;  // a policy said no: locked, unknown key, denied, constraint
    FailureCause cause = FailureCause::kOther;  // counted for sign requests
  };
  struct Faulted {
    std::string reason;  // the request was broken or an operation failed
    FailureCause cause = FailureCause::kOther;
  };
  struct Serialized {
    Bytes payload;  // an answer already serialized (type byte onwards)
  };
  using Answer = std::variant<Response, Refused, Faulted, Serialized>;

  struct RequestContext {
    uint64_t connection_id = 0;
    uint8_t type = 0;
    Reply reply;
    std::optional<AuditRecord> audit;  // set for sign requests
  };
  using Context = std::shared_ptr<RequestContext>;

  struct SignJob {
    Bytes key_blob;
    Bytes data;
    std::string destination;  // what the confirmation said of it, if anything
    key::SignatureAlgorithm algorithm = key::SignatureAlgorithm::kDefault;
  };

  // The one place where outcomes become protocol answers.
  void answer(RequestContext& context, Answer answer);

  Answer list_identities(const Connection& connection);
  void sign(Connection& connection, const Context& context, SignRequest request);
  void after_confirmation(const Context& context, const std::shared_ptr<SignJob>& job, bool allowed);
  void start_signing(const Context& context, const std::shared_ptr<SignJob>& job, const StoredIdentity& identity);
  void answer_signature(RequestContext& context, key::Result<Bytes> signature);
  Answer add_identity(const Connection& connection, AddIdentity request);
  Answer remove_identity(const Connection& connection, const RemoveIdentity& request);
  void smartcard(const Connection& connection, const Context& context, SmartcardRequest request);
  void sign_on_token(const Context& context, const std::shared_ptr<SignJob>& job, const StoredIdentity& identity);
  void sign_on_authenticator(const Context& context, const std::shared_ptr<SignJob>& job,
                             const StoredIdentity& identity);
  key::Result<std::string> security_key_provider(const Connection& connection, const std::string& provider) const;
  Answer lock(const LockRequest& request);
  void unlock(const Context& context, const std::shared_ptr<key::SecretBytes>& passphrase);
  Answer session_bind(Connection& connection, const SessionBind& request);
  // status@tessera.dev (the report is put together in status_report.cc).
  Answer status(const Connection& connection, const StatusRequest& request);
  StatusReport status_report();
  void count_sign_outcome(const RequestContext& context, const Answer& outcome);

  AuditRecord audit_record(const Connection& connection) const;
  std::string key_fingerprint(const key::PublicKey& key) const;
  void expire_identities();
  void schedule_expiry();

  DispatcherConfig config_;
  EventLoop& loop_;
  WorkerPool& signers_;
  Confirmer& confirmer_;
  AuditLog* audit_;
  KeyStore keys_;
  Pkcs11Providers providers_;  // after keys_: its identities live there
  ReaderWatcher readers_;      // after providers_: its events go there
  SecurityKeySigner security_keys_;
  AgentLock lock_;
  Clock::time_point unlock_gate_{};  // no unlock attempt is looked at before this
  std::optional<EventLoop::TimerId> expiry_timer_;
  AgentStats stats_;
  // The last truncated listing logged (identities listed, left out): said once, not per request.
  std::pair<size_t, size_t> truncation_logged_{0, 0};
  // Signatures made on the loop in its round loop_signatures_round_.
  uint64_t loop_signatures_round_ = 0;
  unsigned loop_signatures_ = 0;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_DISPATCHER_H_
