#include "daemon/dispatcher.h"

#include <strings.h>

#include <chrono>
#include <cstdio>
#include <utility>

#include "daemon/destination.h"
#include "daemon/log.h"
#include "tessera/key/shield.h"
#include "tessera/prompts/askpass.h"
#include "tessera/tokens/names.h"

namespace tessera::agent::daemon {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

uint64_t epoch_seconds() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

std::string message_name(uint8_t type) {
  switch (static_cast<MessageType>(type)) {
    case MessageType::kRemoveAllRsaIdentities: return "REMOVE_ALL_RSA_IDENTITIES";
    case MessageType::kRequestIdentities: return "REQUEST_IDENTITIES";
    case MessageType::kSignRequest: return "SIGN_REQUEST";
    case MessageType::kAddIdentity: return "ADD_IDENTITY";
    case MessageType::kRemoveIdentity: return "REMOVE_IDENTITY";
    case MessageType::kRemoveAllIdentities: return "REMOVE_ALL_IDENTITIES";
    case MessageType::kAddSmartcardKey: return "ADD_SMARTCARD_KEY";
    case MessageType::kRemoveSmartcardKey: return "REMOVE_SMARTCARD_KEY";
    case MessageType::kLock: return "LOCK";
    case MessageType::kUnlock: return "UNLOCK";
    case MessageType::kAddIdConstrained: return "ADD_ID_CONSTRAINED";
    case MessageType::kAddSmartcardKeyConstrained: return "ADD_SMARTCARD_KEY_CONSTRAINED";
    case MessageType::kExtension: return "EXTENSION";
    default: return "message type " + std::to_string(type);
  }
}

key::SignatureAlgorithm signature_algorithm(key::KeyType type, uint32_t flags) {
  if (type != key::KeyType::kRsa) return key::SignatureAlgorithm::kDefault;
  // As ssh-agent's agent_decode_alg(): SHA-256 wins if both flags are set.
  if (flags & kSignFlagRsaSha256) return key::SignatureAlgorithm::kRsaSha256;
  if (flags & kSignFlagRsaSha512) return key::SignatureAlgorithm::kRsaSha512;
  return key::SignatureAlgorithm::kDefault;
}

std::string algorithm_name(const key::PublicKey& key, key::SignatureAlgorithm algorithm) {
  switch (algorithm) {
    case key::SignatureAlgorithm::kRsaSha256: return "rsa-sha2-256";
    case key::SignatureAlgorithm::kRsaSha512: return "rsa-sha2-512";
    case key::SignatureAlgorithm::kRsaSha1: return "ssh-rsa";
    case key::SignatureAlgorithm::kDefault: break;
  }
  return std::string(key.ssh_name());
}

// The key a listed blob stands for: the key itself, or a certificate's key.
std::optional<key::PublicKey> key_of_blob(std::span<const uint8_t> blob) {
  if (auto plain = key::PublicKey::from_blob(blob); plain.ok()) return *plain;
  if (auto cert = key::Certificate::from_blob(blob); cert.ok()) return cert->key;
  return std::nullopt;
}

// Keys whose signature, unshielding included, costs about what handing it to
// a thread and back costs (tens of microseconds): signed on the loop. The
// others (RSA, ECDSA P-384 and P-521: hundreds of microseconds to
// milliseconds) go to the signing threads, so that they never hold up the
// loop and the other clients.
bool signs_on_loop(key::KeyType type) { return type == key::KeyType::kEd25519 || type == key::KeyType::kEcdsaP256; }

// Most signatures made on the loop in one round of events: a burst of
// pipelined requests beyond that goes to the signing threads, so that the
// loop comes back to the other clients within a millisecond or so.
constexpr unsigned kLoopSignaturesPerRound = 8;

std::string seconds_text(std::chrono::milliseconds delay) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(delay.count()) / 1000.0);
  return buf;
}

}  // namespace

Dispatcher::Dispatcher(DispatcherConfig config, EventLoop& loop, WorkerPool& signers, Confirmer& confirmer,
                       AuditLog* audit)
    : config_(std::move(config)),
      loop_(loop),
      signers_(signers),
      confirmer_(confirmer),
      audit_(audit),
      providers_(config_.pkcs11, loop, confirmer, keys_, [this] { schedule_expiry(); }),
      readers_(loop,
               [this](const ReaderEvent& event) {
                 log_verbose(describe(event));
                 providers_.reader_event(event.reader, event.card_present);
               }),
      security_keys_(config_.security_keys, confirmer),
      stats_(loop.now()) {}

Dispatcher::~Dispatcher() {
  if (expiry_timer_) loop_.cancel_timer(*expiry_timer_);
}

void Dispatcher::answer(RequestContext& context, Answer outcome) {
  Bytes payload;
  std::string result;
  auto what = [&context] {
    return message_name(context.type) + " on connection " + std::to_string(context.connection_id);
  };
  if (auto* response = std::get_if<Response>(&outcome)) {
    payload = serialize_response(*response);
    result = "ok";
    if (context.type == static_cast<uint8_t>(MessageType::kSignRequest) && log_enabled(LogLevel::kDebug)) {
      log_debug(what() + " answered");
    }
  } else if (auto* serialized = std::get_if<Serialized>(&outcome)) {
    payload = std::move(serialized->payload);
    result = "ok";
  } else if (auto* refused = std::get_if<Refused>(&outcome)) {
    log_verbose(what() + " refused: " + refused->reason);
    payload = serialize_response(Failure{});
    result = "refused: " + refused->reason;
  } else {
    const auto& fault = std::get<Faulted>(outcome);
    log_debug(what() + " failed: " + fault.reason);
    payload = serialize_response(Failure{});
    result = "error: " + fault.reason;
  }
  if (context.audit) count_sign_outcome(context, outcome);
  if (context.audit && audit_ != nullptr) {
    context.audit->result = result;
    audit_->write(*context.audit);
  }
  context.reply(std::move(payload));
}

void Dispatcher::handle(Connection& connection, std::span<const uint8_t> payload, Reply reply) {
  auto context = std::make_shared<RequestContext>();
  context->connection_id = connection.id();
  context->type = payload.empty() ? 0 : payload[0];
  context->reply = std::move(reply);
  expire_identities();

  // While locked, only UNLOCK is looked at: no parsing of keys or data.
  if (lock_.locked() && context->type != static_cast<uint8_t>(MessageType::kUnlock)) {
    if (context->type == static_cast<uint8_t>(MessageType::kRequestIdentities)) {
      return answer(*context, Response{IdentitiesAnswer{}});
    }
    if (context->type == static_cast<uint8_t>(MessageType::kSignRequest)) {
      context->audit = audit_record(connection);
      auto parsed = parse_request(payload);
      if (parsed.ok()) {
        if (auto* request = std::get_if<SignRequest>(&*parsed)) {
          if (auto key = key_of_blob(request->key_blob)) context->audit->key_fingerprint = key_fingerprint(*key);
        }
      }
    }
    return answer(*context, Refused{"agent is locked", FailureCause::kLocked});
  }

  auto parsed = parse_request(payload);
  if (!parsed.ok()) {
    if (context->type == static_cast<uint8_t>(MessageType::kSignRequest)) context->audit = audit_record(connection);
    return answer(*context, Faulted{"malformed request: " + parsed.error().message(), FailureCause::kMalformed});
  }
  std::visit(Overloaded{
                 [&](RequestIdentities&) { answer(*context, list_identities(connection)); },
                 [&](SignRequest& r) { sign(connection, context, std::move(r)); },
                 [&](AddIdentity& r) { answer(*context, add_identity(connection, std::move(r))); },
                 [&](RemoveIdentity& r) { answer(*context, remove_identity(connection, r)); },
                 [&](RemoveAllIdentities&) {
                   size_t n = keys_.remove_all();
                   schedule_expiry();
                   log_debug("removed all " + std::to_string(n) + " identities");
                   answer(*context, Response{Success{}});
                 },
                 [&](SmartcardRequest& r) { smartcard(connection, context, std::move(r)); },
                 [&](LockRequest& r) {
                   if (r.lock) return answer(*context, lock(r));
                   unlock(context, std::make_shared<key::SecretBytes>(std::move(r.passphrase)));
                 },
                 [&](SessionBind& r) { answer(*context, session_bind(connection, r)); },
                 [&](QueryRequest&) { answer(*context, Response{make_query_response(supported_extensions())}); },
                 [&](StatusRequest& r) { answer(*context, status(connection, r)); },
                 [&](UnknownExtension& r) { answer(*context, Refused{"unsupported extension \"" + r.name + "\""}); },
             },
             *parsed);
}

Dispatcher::Answer Dispatcher::list_identities(const Connection& connection) {
  // Unless a key is restricted to destinations, every connection sees the
  // same answer, and the store keeps it ready.
  std::optional<IdentitiesListing> own;
  if (keys_.has_destination_constraints()) {
    uint64_t now = epoch_seconds();
    // A key restricted to destinations is hidden where it could not be used.
    own = keys_.listing([&](const StoredIdentity& id) {
      return id.destinations.empty() || identity_visible(id.destinations, connection.bindings(), now);
    });
  }
  const IdentitiesListing& listing = own ? *own : keys_.listing();
  // The answer must fit in one message (clients, ssh-add included, refuse
  // larger ones): the identities beyond that are left out, and said so.
  if (listing.left_out > 0 && truncation_logged_ != std::pair{listing.listed, listing.left_out}) {
    truncation_logged_ = {listing.listed, listing.left_out};
    log_info("listing only " + std::to_string(listing.listed) + " identities: " + std::to_string(listing.left_out) +
             " more do not fit in one answer of at most " + std::to_string(kMaxMessageBytes) + " bytes");
  }
  if (log_enabled(LogLevel::kDebug)) {
    log_debug("listing " + std::to_string(listing.listed) + " of " + std::to_string(keys_.size()) + " identities");
  }
  return Serialized{own ? std::move(own->payload) : listing.payload};
}

AuditRecord Dispatcher::audit_record(const Connection& connection) const {
  AuditRecord record;
  record.time = std::chrono::system_clock::now();
  record.peer = connection.peer();
  const auto& hops = connection.bindings().hops();
  if (!hops.empty()) {
    record.bound_host_key = key_fingerprint(hops.back().host_key);
    record.bound_forwarded = hops.back().forwarding;
  }
  return record;
}

std::string Dispatcher::key_fingerprint(const key::PublicKey& key) const {
  return key::fingerprint(key, config_.fingerprint_hash);
}

void Dispatcher::sign(Connection& connection, const Context& context, SignRequest request) {
  context->audit = audit_record(connection);
  const auto* id = keys_.find(request.key_blob);
  if (id == nullptr) {
    if (auto key = key_of_blob(request.key_blob)) {
      context->audit->key_fingerprint = key_fingerprint(*key);
      context->audit->algorithm = algorithm_name(*key, signature_algorithm(key->type(), request.flags));
    }
    return answer(*context, Refused{"key not found", FailureCause::kKeyNotFound});
  }
  auto job = std::make_shared<SignJob>();
  job->algorithm = signature_algorithm(id->key.type(), request.flags);
  context->audit->key_fingerprint = key_fingerprint(id->key);
  context->audit->key_comment = id->comment;
  context->audit->algorithm = algorithm_name(id->key, job->algorithm);

  std::string destination;
  if (!id->destinations.empty()) {
    auto permitted = sign_permitted(id->destinations, connection.bindings(), request.key_blob, request.data,
                                    epoch_seconds(), &destination);
    if (!permitted.ok()) {
      return answer(*context,
                    Refused{"destination constraint: " + permitted.error().message(), FailureCause::kDestination});
    }
  }
  job->key_blob = std::move(request.key_blob);
  job->data = std::move(request.data);
  job->destination = std::move(destination);

  if (id->confirm) {
    std::string prompt = prompts::confirmation_prompt(id->comment, key_fingerprint(id->key), job->destination);
    log_debug("asking for confirmation to use key " + id->comment);
    EventLoop* loop = &loop_;
    confirmer_.ask(context->connection_id, std::move(prompt), [this, loop, context, job](bool allowed) {
      loop->post([this, context, job, allowed] { after_confirmation(context, job, allowed); });
    });
    return;
  }
  start_signing(context, job, *id);
}

void Dispatcher::after_confirmation(const Context& context, const std::shared_ptr<SignJob>& job, bool allowed) {
  if (!allowed) {
    return answer(*context, Refused{"user refused the key (confirmation denied)", FailureCause::kConfirmDenied});
  }
  // The world may have changed while the dialog was open.
  if (lock_.locked()) {
    return answer(*context, Refused{"agent was locked while asking for confirmation", FailureCause::kLocked});
  }
  expire_identities();
  const auto* id = keys_.find(job->key_blob);
  if (id == nullptr) {
    return answer(*context, Refused{"key was removed while asking for confirmation", FailureCause::kKeyRemoved});
  }
  start_signing(context, job, *id);
}

void Dispatcher::start_signing(const Context& context, const std::shared_ptr<SignJob>& job,
                               const StoredIdentity& identity) {
  if (identity.token) return sign_on_token(context, job, identity);
  if (identity.sk_provider) return sign_on_authenticator(context, job, identity);
  const key::ShieldedKey& key = *identity.shielded;
  if (signs_on_loop(key.type())) {
    if (loop_.round() != loop_signatures_round_) {
      loop_signatures_round_ = loop_.round();
      loop_signatures_ = 0;
    }
    if (loop_signatures_ < kLoopSignaturesPerRound) {
      ++loop_signatures_;
      return answer_signature(*context, key.sign(job->data, job->algorithm));
    }
  }
  EventLoop* loop = &loop_;
  signers_.submit(context->connection_id, [this, loop, context, job, key] {
    key::Result<Bytes> signature = key.sign(job->data, job->algorithm);
    loop->post([this, context, signature = std::move(signature)]() mutable {
      answer_signature(*context, std::move(signature));
    });
  });
}

void Dispatcher::answer_signature(RequestContext& context, key::Result<Bytes> signature) {
  if (!signature.ok()) {
    return answer(context, Faulted{"signing failed: " + signature.error().message(), FailureCause::kSigningFailed});
  }
  answer(context, Response{SignResponse{std::move(*signature)}});
}

void Dispatcher::sign_on_token(const Context& context, const std::shared_ptr<SignJob>& job,
                               const StoredIdentity& identity) {
  // The helper signs; the loop only waits for its answer.
  providers_.sign(*identity.token, job->data, algorithm_name(identity.key, job->algorithm),
                  [this, context](key::Result<Bytes> signature) {
                    if (!signature.ok()) {
                      if (signature.error().code() == key::Errc::kTooLarge) {
                        return answer(*context, Refused{"too large for the token: " + signature.error().message(),
                                                        FailureCause::kTooLarge});
                      }
                      return answer(*context, Faulted{"token signature failed: " + signature.error().message(),
                                                      token_failure_cause(signature.error())});
                    }
                    answer(*context, Response{SignResponse{*signature}});
                  });
}

void Dispatcher::sign_on_authenticator(const Context& context, const std::shared_ptr<SignJob>& job,
                                       const StoredIdentity& identity) {
  // As ssh-agent: a key made for another application than "ssh:" (a web
  // sign-in's, say) signs SSH authentication requests and nothing else, so a
  // forwarded agent cannot be used to sign in elsewhere.
  if (config_.restrict_websafe && !identity.key.sk_application().starts_with("ssh:") &&
      !is_userauth_request(job->data, job->key_blob)) {
    return answer(*context, Refused{"refusing use of security key for application \"" +
                                        identity.key.sk_application() + "\" outside SSH authentication",
                                    FailureCause::kApplicationRefused});
  }
  SecurityKeySigner::Request request{.key = *identity.shielded,
                                     .provider = *identity.sk_provider,
                                     .fingerprint = key_fingerprint(identity.key),
                                     .destination = job->destination,
                                     .data = job->data};
  EventLoop* loop = &loop_;
  security_keys_.sign(context->connection_id, std::move(request), [this, loop, context](key::Result<Bytes> signature) {
    loop->post([this, context, signature = std::move(signature)] {
      if (!signature.ok()) {
        return answer(*context, Faulted{"security key signature failed: " + signature.error().message(),
                                        FailureCause::kSecurityKeyFailed});
      }
      answer(*context, Response{SignResponse{*signature}});
    });
  });
}

// The middleware a security key is added with: "internal" (tessera's own),
// or a library the -P allowlist admits, by its canonical path. As ssh-agent,
// a forwarded connection may not name a library unless -O allow-remote-pkcs11.
key::Result<std::string> Dispatcher::security_key_provider(const Connection& connection,
                                                           const std::string& provider) const {
  if (strcasecmp(provider.c_str(), "internal") == 0) return std::string("internal");
  if (!config_.allow_remote_pkcs11 && !connection.bindings().hops().empty()) {
    return key::Error(key::Errc::kInvalidArgument, "remote addition of providers is disabled (-O allow-remote-pkcs11)");
  }
  return tokens::allowed_provider_path(provider, config_.allowed_providers);
}

Dispatcher::Answer Dispatcher::add_identity(const Connection& connection, AddIdentity request) {
  // Keep the clear private key only in this scope: it is shielded below and
  // `request` (the only holder) dies when this function returns.
  const auto& constraints = request.constraints;
  std::optional<std::string> sk_provider;
  if (constraints.sk_provider && request.key.security_key() == nullptr) {
    return Refused{"cannot add provider: " + std::string(request.key.public_key().ssh_name()) +
                   " is not an authenticator-hosted key"};
  }
  if (request.key.security_key() != nullptr) {
    // ssh-add always names the middleware; a client that does not means the
    // built-in one.
    auto provider = security_key_provider(connection, constraints.sk_provider.value_or("internal"));
    if (!provider.ok()) {
      return Refused{"refusing add of security key with provider \"" + constraints.sk_provider.value_or("internal") +
                     "\": " + provider.error().message()};
    }
    sk_provider = std::move(*provider);
  }
  if (constraints.associated_certs) return Refused{"associated-certs constraint is only valid for smartcard keys"};

  Bytes blob = request.key.public_key().blob();
  if (request.certificate) {
    if (!(request.certificate->key == request.key.public_key())) {
      return Faulted{"certificate does not certify the private key sent with it"};
    }
    blob = request.certificate->blob();
  }
  uint64_t now = epoch_seconds();
  if (const auto* existing = keys_.find(blob)) {
    // As ssh-agent: a key this connection cannot see cannot be replaced from it.
    if (!existing->destinations.empty() && !identity_visible(existing->destinations, connection.bindings(), now)) {
      return Refused{"identity exists but is not visible on this connection"};
    }
  }
  auto shielded = key::ShieldedKey::shield(request.key);
  if (!shielded.ok()) return Faulted{"cannot shield private key: " + shielded.error().message()};

  std::optional<Clock::time_point> expires;
  uint32_t lifetime = constraints.lifetime_seconds.value_or(config_.default_lifetime);
  if (constraints.lifetime_seconds || lifetime != 0) expires = loop_.now() + std::chrono::seconds(lifetime);

  StoredIdentity identity{
      .blob = std::move(blob),
      .key = request.key.public_key(),
      .certificate = std::move(request.certificate),
      .comment = std::move(request.comment),
      .shielded = std::move(*shielded),
      .token = std::nullopt,
      .expires = expires,
      .confirm = constraints.confirm,
      .destinations = std::move(request.constraints.destinations),
      .sk_provider = std::move(sk_provider),
  };
  log_debug("add " + std::string(identity.key.ssh_name()) + " " + key_fingerprint(identity.key) + " \"" +
            identity.comment + "\" (life: " + std::to_string(expires ? lifetime : 0) +
            ") (confirm: " + (identity.confirm ? "1" : "0") +
            ") (destination constraints: " + std::to_string(identity.destinations.size()) + ")" +
            (identity.sk_provider ? " (provider: " + *identity.sk_provider + ")" : ""));
  keys_.put(std::move(identity));
  schedule_expiry();
  return Response{Success{}};
}

Dispatcher::Answer Dispatcher::remove_identity(const Connection& connection, const RemoveIdentity& request) {
  const auto* id = keys_.find(request.key_blob);
  if (id == nullptr) return Refused{"key not found"};
  if (!id->destinations.empty() && !identity_visible(id->destinations, connection.bindings(), epoch_seconds())) {
    return Refused{"key is not visible on this connection"};
  }
  log_debug("remove " + key_fingerprint(id->key) + " \"" + id->comment + "\"");
  keys_.remove(request.key_blob);
  schedule_expiry();
  return Response{Success{}};
}

void Dispatcher::smartcard(const Connection& connection, const Context& context, SmartcardRequest request) {
  const char* verb = request.add ? "add" : "remove";
  if (request.add && !config_.allow_remote_pkcs11 && !connection.bindings().hops().empty()) {
    // As ssh-agent: a forwarded (session-bound) connection may not make the
    // agent load a library unless -O allow-remote-pkcs11.
    return answer(*context, Refused{"refusing PKCS#11 add of \"" + request.provider +
                                    "\": remote addition of providers is disabled (-O allow-remote-pkcs11)"});
  }
  auto spec = tokens::resolve_provider(request.provider, config_.allowed_providers);
  if (!spec.ok()) {
    return answer(*context, Refused{std::string("refusing PKCS#11 ") + verb + " of \"" + request.provider +
                                    "\": " + spec.error().message()});
  }
  if (!request.add) {
    auto removed = providers_.remove(spec->module_path);
    if (!removed.ok()) return answer(*context, Refused{removed.error().message()});
    log_debug("removed PKCS#11 provider " + spec->module_path);
    return answer(*context, Response{Success{}});
  }
  const auto& constraints = request.constraints;
  if (constraints.sk_provider) return answer(*context, Refused{"sk-provider constraint is invalid for smartcard keys"});
  TokenKeyConstraints token_constraints;
  uint32_t lifetime = constraints.lifetime_seconds.value_or(config_.default_lifetime);
  if (constraints.lifetime_seconds || lifetime != 0) {
    token_constraints.expires = loop_.now() + std::chrono::seconds(lifetime);
  }
  token_constraints.confirm = constraints.confirm;
  token_constraints.destinations = std::move(request.constraints.destinations);
  if (request.constraints.associated_certs) {
    token_constraints.certs = std::move(request.constraints.associated_certs->certs);
    token_constraints.certs_only = request.constraints.associated_certs->certs_only;
  }
  std::string path = spec->module_path;
  log_debug("adding PKCS#11 provider " + path);
  providers_.add(std::move(*spec), std::move(request.pin), std::move(token_constraints),
                 [this, context, path](key::Result<size_t> added) {
                   if (!added.ok()) {
                     return answer(*context, Faulted{"PKCS#11 add of " + path + ": " + added.error().message()});
                   }
                   log_verbose("PKCS#11 provider " + path + ": " + std::to_string(*added) + " keys added");
                   answer(*context, Response{Success{}});
                 });
}

Dispatcher::Answer Dispatcher::lock(const LockRequest& request) {
  auto status = lock_.lock(request.passphrase);
  if (!status.ok()) return Refused{status.error().message()};
  log_debug("agent locked");
  return Response{Success{}};
}

void Dispatcher::unlock(const Context& context, const std::shared_ptr<key::SecretBytes>& passphrase) {
  // Attempts are looked at one at a time, and not before the delay after the
  // last wrong one has passed: many connections cannot guess in parallel.
  Clock::time_point now = loop_.now();
  if (now < unlock_gate_) {
    loop_.add_timer(unlock_gate_, [this, context, passphrase] { unlock(context, passphrase); });
    return;
  }
  auto status = lock_.unlock(*passphrase);
  if (status.ok()) {
    log_debug("agent unlocked");
    return answer(*context, Response{Success{}});
  }
  if (status.error().code() != key::Errc::kWrongPassphrase) return answer(*context, Refused{status.error().message()});
  auto delay = lock_.failure_delay();
  unlock_gate_ = now + delay;
  log_debug("unlock failed, delaying " + seconds_text(delay) + " seconds");
  loop_.add_timer(unlock_gate_, [this, context] { answer(*context, Refused{"wrong unlock passphrase"}); });
}

Dispatcher::Answer Dispatcher::session_bind(Connection& connection, const SessionBind& request) {
  auto status = connection.bindings().bind(request);
  if (!status.ok()) return Refused{"session-bind: " + status.error().message()};
  log_debug("bound connection " + std::to_string(connection.id()) + " to host key " +
            key_fingerprint(request.host_key) + (request.forwarding ? " (forwarding)" : " (authentication)"));
  return Response{Success{}};
}

void Dispatcher::expire_identities() {
  auto expired = keys_.expire(loop_.now());
  if (expired.empty()) return;  // the timer is still right
  for (const auto& gone : expired) log_debug("expiring key '" + gone.comment + "'");
  schedule_expiry();
}

void Dispatcher::schedule_expiry() {
  auto next = keys_.next_expiry();
  if (expiry_timer_) {
    loop_.cancel_timer(*expiry_timer_);
    expiry_timer_.reset();
  }
  if (!next) return;
  expiry_timer_ = loop_.add_timer(*next, [this] {
    expiry_timer_.reset();
    expire_identities();
    schedule_expiry();
  });
}

}  // namespace tessera::agent::daemon
