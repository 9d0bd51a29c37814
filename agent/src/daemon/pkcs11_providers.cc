#include "daemon/pkcs11_providers.h"

#include <set>
#include <utility>

#include "daemon/log.h"
#include "daemon/pkcs11_process.h"
#include "daemon/readers.h"
#include "tessera/prompts/pin.h"
#include "tessera/agent/protocol.h"

namespace tessera::agent::daemon {

// Every sign request a client may send fits in a helper frame.
static_assert(kMaxMessageBytes <= pkcs11::kMaxSignDataBytes);

using pkcs11::ErrorCode;
using pkcs11::ErrorReply;
using pkcs11::KeyId;
using pkcs11::KeyInfo;
using pkcs11::KeyList;
using pkcs11::ReplyBody;
using pkcs11::TokenId;

namespace {

// Confirmer lane for PIN prompts (connections use lanes from 1 up).
constexpr uint64_t kPinPromptLane = 0;
// A helper that dies sooner than this after starting is restarted by the
// poller only after a growing pause (a module that crashes at once would
// otherwise be restarted at every poll).
constexpr std::chrono::seconds kStableHelperLifetime{10};
constexpr std::chrono::seconds kMaxRestartBackoff{60};
// A token missing from this many listings in a row is taken as removed. One
// miss is not enough: some modules (SoftHSM2 while another process rewrites
// the token's files) skip a token for a moment. An operation that fails with
// CKR_DEVICE_REMOVED or CKR_TOKEN_NOT_PRESENT counts at once.
constexpr unsigned kMissedListingsForRemoval = 2;

// Readers remembered as holding no card (readers come and go by name; a
// pcscd that invents names without end cannot grow the set past this).
constexpr size_t kMaxEmptyReaders = 256;

constexpr uint32_t kTokenFlagMask = pkcs11::kTokenPinCountLow | pkcs11::kTokenPinFinalTry | pkcs11::kTokenPinLocked |
                                    pkcs11::kTokenProtectedAuthPath | pkcs11::kTokenLoginRequired |
                                    pkcs11::kTokenLoggedIn | pkcs11::kTokenPinToBeChanged;
// The status report calls a running helper hung when a request has waited
// this many times its usual answer time, and at least kHungAfterAtLeast (a
// login through a PIN pad, which waits for a person, excepted).
constexpr unsigned kHungFactor = 10;
constexpr std::chrono::seconds kHungAfterAtLeast{3};
// Removed tokens the status report remembers, per provider.
constexpr size_t kMaxAbsentTokens = 16;

std::string quoted(const std::string& label) { return "'" + label + "'"; }

std::string blob_key(std::span<const uint8_t> blob) { return std::string(blob.begin(), blob.end()); }

}  // namespace

// ---------------------------------------------------------------------------

class Pkcs11Providers::Provider : public std::enable_shared_from_this<Provider> {
 public:
  Provider(Pkcs11Providers& owner, tokens::ProviderSpec spec, TokenKeyConstraints constraints)
      : owner_(owner), spec_(std::move(spec)), constraints_(std::move(constraints)) {}

  ~Provider() {
    if (poll_timer_) owner_.loop_.cancel_timer(*poll_timer_);
    // Nobody may wait forever: fail what waits on this provider.
    auto starting = std::move(start_waiters_);
    for (auto& waiter : starting) waiter(gone_error());
    for (auto& [id, token] : tokens_) {
      auto waiters = std::move(token.login_waiters);
      for (auto& waiter : waiters) waiter(gone_error());
    }
    helper_.reset();  // kills the helper; its pending requests fail
  }

  void start(key::SecretBytes pin, AddDone done) {
    auto weak = weak_from_this();
    auto shared_pin = std::make_shared<key::SecretBytes>(std::move(pin));
    list(true, [weak, shared_pin, done = std::move(done)](key::Status status) mutable {
      auto self = weak.lock();
      if (!self) return done(gone_error());
      if (!status.ok()) return done(status.error());
      if (self->keys_.empty()) {
        return done(key::Error(key::Errc::kInvalidArgument,
                               spec_text(self->spec_) + " has no keys (no token, or no key matches)"));
      }
      std::vector<TokenId> to_log_in;
      if (!shared_pin->empty()) {
        for (auto& [id, token] : self->tokens_) {
          if (!(token.flags & pkcs11::kTokenLoginRequired)) continue;
          token.pin = shared_pin->clone();
          to_log_in.push_back(id);
        }
      }
      self->login_each(std::move(to_log_in), 0, [weak, done = std::move(done)](key::Status login) {
        auto provider = weak.lock();
        if (!provider) return done(gone_error());
        if (!login.ok()) return done(login.error());
        provider->published_ = true;
        for (const auto& [blob, listed] : provider->keys_) provider->publish(listed);
        provider->owner_.changed_();
        provider->schedule_poll();
        done(provider->keys_.size());
      });
    });
  }

  void sign(const KeyId& key, Bytes data, std::string algorithm, SignDone done) {
    auto call = std::make_shared<SignCall>();
    call->key = key;
    call->data = std::move(data);
    call->algorithm = std::move(algorithm);
    track_sign(*call, std::move(done));
    auto weak = weak_from_this();
    with_helper([weak, call](key::Status ready) {
      auto self = weak.lock();
      if (!self) return call->done(gone_error());
      if (!ready.ok()) return call->done(ready.error());
      Token* token = self->find_token(call->key.token);
      if (token == nullptr) return call->done(self->absent_error(call->key));
      // A PIN the agent holds but a new helper never saw: log in first.
      if (token->pin && !token->logged_in) {
        return self->login(call->key.token, [weak, call](key::Status login) {
          auto provider = weak.lock();
          if (!provider) return call->done(gone_error());
          if (!login.ok()) return call->done(login.error());
          provider->send_sign(call);
        });
      }
      self->send_sign(call);
    });
  }

  // pcscd says `reader` holds no card: the tokens in slots named after it
  // are gone, and signatures waiting on them are told so now rather than
  // when the helper gives up (its late answer is dropped). The helper lists
  // too, so that its module sees the card gone and the helper drops the
  // sessions it held (a card put back holds neither sessions nor login).
  void reader_emptied(const std::string& reader) {
    std::set<TokenId> hit;
    for (const auto& [id, token] : tokens_) {
      if (slot_names_reader(id.slot_description, reader)) hit.insert(id);
    }
    for (const auto& [serial, in_flight] : in_flight_) {
      if (slot_names_reader(in_flight.token.slot_description, reader)) hit.insert(in_flight.token);
    }
    for (const auto& id : hit) {
      const std::string why = "was removed from reader " + quoted(reader);
      fail_signs(id, key::Error(key::Errc::kIo, token_name(id) + " " + why + ": insert it and try again")
                         .with_subcode(static_cast<uint32_t>(ErrorCode::kTokenRemoved)));
      token_gone(id, why);
    }
    if (!hit.empty()) relist_now();
  }

  // A card arrived: list again now (after the listing running, if any).
  void relist_now() {
    if (!published_) return;  // still being added: its own listing reads the tokens
    if (listing_) {
      relist_again_ = true;
      return;
    }
    poll();
  }

  // Takes every key of this provider out of the key store.
  void withdraw_all() {
    for (const auto& [blob, listed] : keys_) withdraw(listed);
    keys_.clear();
    published_ = false;
  }

  // The provider for the status report; adds its keys' flags to key_flags.
  StatusProvider report(const WallClock& clock, std::map<Bytes, uint32_t>& key_flags) const {
    StatusProvider out;
    out.module_path = spec_.module_path;
    out.filter_uri = spec_.filter_uri;
    out.module_description = module_description_;
    out.timeout_ms = static_cast<uint64_t>(owner_.settings_.timeout.count());
    out.restarts = helpers_started_ > 0 ? helpers_started_ - 1 : 0;
    if (!last_error_.empty()) {
      out.last_error = last_error_;
      out.last_error_time = clock.seconds(last_error_at_);
    }
    const bool running = helper_ && helper_->alive();
    if (running) {
      out.pid = static_cast<uint32_t>(helper_->pid());
      out.in_flight = static_cast<uint32_t>(helper_->pending());
      out.usual_answer_us = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(helper_->usual_answer_time()).count());
      out.state_since = clock.seconds(started_at_);
      out.state = helper_ready_ ? HelperState::kRunning : HelperState::kStarting;
      if (auto oldest = helper_->oldest_pending()) {
        auto waited = clock.steady_now - *oldest;
        out.oldest_request_ms =
            static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
        auto hung_after = std::max<Clock::duration>(kHungAfterAtLeast, helper_->usual_answer_time() * kHungFactor);
        if (helper_ready_ && waited > hung_after && !pinpad_login_running()) out.state = HelperState::kHung;
      }
    } else if (helpers_started_ > 0) {
      out.state = HelperState::kRestarting;
      out.state_since = clock.seconds(ended_at_);
      out.next_start = clock.seconds(std::max(restart_not_before_, clock.steady_now));
    }
    for (const auto& [id, token] : tokens_) out.tokens.push_back(token_status(token));
    for (const auto& [id, absent] : absent_) {
      if (!tokens_.count(id)) out.tokens.push_back(absent);
    }
    for (const auto& [blob, listed] : keys_) key_flags[listed.info.public_key] = listed.info.flags;
    return out;
  }

 private:
  struct Token {
    TokenId id;
    std::string label;
    uint32_t flags = 0;                    // kToken* bits, as last reported
    std::optional<key::SecretBytes> pin;   // the user PIN, while the token is present
    bool logged_in = false;                // in the running helper
    bool login_running = false;
    std::vector<std::function<void(key::Status)>> login_waiters;
    unsigned missed_listings = 0;          // listings in a row without this token
  };

  // A listed key and its parsed public key.
  struct ListedKey {
    KeyInfo info;
    key::PublicKey key;
  };

  struct SignCall {
    KeyId key;
    Bytes data;
    std::string algorithm;
    SignDone done;
    std::optional<key::SecretBytes> context_pin;
    bool logged_in_again = false;
    std::shared_ptr<SignDone> unanswered;  // empty once done was called (track_sign)
    bool answered() const { return !unanswered || !*unanswered; }
  };

  using Ready = std::function<void(key::Status)>;
  using Answer = std::function<void(key::Result<ReplyBody>)>;

  // A sign call not answered yet, by token (reader events fail them early).
  struct InFlightSign {
    TokenId token;
    std::shared_ptr<SignDone> done;  // empty once answered
  };

  // Wraps a sign call's answer so that it is given once: by the helper, or
  // earlier by fail_signs(); whichever comes second is dropped.
  void track_sign(SignCall& call, SignDone done) {
    const uint64_t serial = next_sign_serial_++;
    auto answer = std::make_shared<SignDone>(std::move(done));
    in_flight_.emplace(serial, InFlightSign{call.key.token, answer});
    call.unanswered = answer;
    auto weak = weak_from_this();
    call.done = [weak, serial, answer](key::Result<Bytes> result) {
      if (!*answer) return;
      SignDone deliver = std::move(*answer);
      *answer = nullptr;
      if (auto self = weak.lock()) self->in_flight_.erase(serial);
      deliver(std::move(result));
    };
  }

  void fail_signs(const TokenId& token, const key::Error& error) {
    std::vector<SignDone> failed;
    for (auto it = in_flight_.begin(); it != in_flight_.end();) {
      if (it->second.token == token) {
        if (*it->second.done) failed.push_back(std::move(*it->second.done));
        *it->second.done = nullptr;
        it = in_flight_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& deliver : failed) deliver(error);
  }

  // The provider's last error, for the status report.
  void note_error(const std::string& text) {
    last_error_ = text;
    last_error_at_ = owner_.loop_.now();
  }

  bool pinpad_login_running() const {
    for (const auto& [id, token] : tokens_) {
      if (token.login_running && !token.pin && (token.flags & pkcs11::kTokenProtectedAuthPath)) return true;
    }
    return false;
  }

  // A token as the status report shows it; its model and manufacturer come
  // from its keys' URIs, where the helper puts them.
  StatusToken token_status(const Token& token) const {
    StatusToken out;
    out.label = token.label;
    out.serial = token.id.serial;
    out.slot_description = token.id.slot_description;
    out.flags = token.flags;
    out.logged_in = token.logged_in;
    out.pin_cached = token.pin.has_value();
    for (const auto& [blob, listed] : keys_) {
      if (listed.info.id.token != token.id) continue;
      if (out.keys++ == 0) {
        auto fields = tokens::uri_token_fields(listed.info.uri);
        out.manufacturer = std::move(fields.manufacturer);
        out.model = std::move(fields.model);
      }
    }
    return out;
  }

  // Keeps what the status report says of a token that went away.
  void remember_absent(const Token& token) {
    StatusToken gone = token_status(token);
    gone.present = false;
    gone.logged_in = false;
    gone.pin_cached = false;
    gone.keys = 0;
    gone.absent_since = WallClock::now(owner_.loop_).seconds_now();
    if (absent_.size() >= kMaxAbsentTokens && !absent_.count(token.id)) {
      auto oldest = absent_.begin();
      for (auto it = absent_.begin(); it != absent_.end(); ++it) {
        if (it->second.absent_since < oldest->second.absent_since) oldest = it;
      }
      absent_.erase(oldest);
    }
    absent_[token.id] = std::move(gone);
  }

  static key::Error gone_error() {
    return key::Error(key::Errc::kIo, "the PKCS#11 provider was removed");
  }
  static std::string spec_text(const tokens::ProviderSpec& spec) {
    return "PKCS#11 provider " + spec.module_path + (spec.filter_uri.empty() ? "" : " (" + spec.filter_uri + ")");
  }

  Token* find_token(const TokenId& id) {
    auto it = tokens_.find(id);
    return it == tokens_.end() ? nullptr : &it->second;
  }

  std::string token_name(const TokenId& id) const {
    auto it = tokens_.find(id);
    std::string label = it != tokens_.end() ? it->second.label : std::string();
    if (label.empty()) label = "serial " + id.serial;
    return "token " + quoted(label);
  }

  key::Error absent_error(const KeyId& key) const {
    return key::Error(key::Errc::kIo, token_name(key.token) + " is not present: insert it and try again")
        .with_subcode(static_cast<uint32_t>(ErrorCode::kTokenRemoved));
  }

  // An error from the helper, in words for the user, with the PIN state;
  // it keeps the helper's code (for the counters) and is the provider's last
  // error.
  key::Error helper_error(const TokenId* token, const ErrorReply& error) {
    // The helper names the token in its messages already.
    std::string prefix = (token ? token_name(*token) : spec_text(spec_)) + ": ";
    std::string text = error.message.starts_with(prefix) ? error.message : prefix + error.message;
    std::string state = prompts::pin_state_text(error.token_flags);
    if (!state.empty()) text += " (" + state + ")";
    note_error(text);
    return key::Error(key::Errc::kIo, text).with_subcode(static_cast<uint32_t>(error.code), error.token_flags);
  }

  // Starts the helper unless it runs, then calls `ready`.
  void with_helper(Ready ready) {
    if (helper_ && helper_->alive() && helper_ready_) return ready(key::Status());
    start_waiters_.push_back(std::move(ready));
    if (starting_) return;
    starting_ = true;
    if (helper_) {
      // A new process holds no login, whatever the old one did.
      for (auto& [id, token] : tokens_) token.logged_in = false;
      helper_ready_ = false;
      helper_.reset();
    }
    auto weak = weak_from_this();
    auto spawned = HelperProcess::spawn(owner_.loop_, owner_.settings_.helper_program, spec_.module_path,
                                        [weak](const std::string& why) {
                                          if (auto self = weak.lock()) self->on_helper_exit(why);
                                        });
    if (!spawned.ok()) return started(spawned.error());
    helper_ = std::move(*spawned);
    started_at_ = owner_.loop_.now();
    ++helpers_started_;
    helper_->request(pkcs11::Hello{}, owner_.settings_.timeout, [weak](key::Result<ReplyBody> reply) {
      auto self = weak.lock();
      if (!self) return;
      if (!reply.ok()) return self->started(reply.error());
      if (auto* hello = std::get_if<pkcs11::HelloReply>(&*reply)) {
        if (hello->version != pkcs11::kProtocolVersion) {
          return self->started(key::Error(key::Errc::kUnsupported, "tessera-pkcs11-helper speaks protocol version " +
                                                                        std::to_string(hello->version)));
        }
        log_verbose("PKCS#11 provider " + self->spec_.module_path + ": " + hello->module);
        self->module_description_ = hello->module;
        self->helper_ready_ = true;
        return self->started(key::Status());
      }
      if (auto* error = std::get_if<ErrorReply>(&*reply)) return self->started(self->helper_error(nullptr, *error));
      self->started(key::Error(key::Errc::kMalformed, "tessera-pkcs11-helper answered Hello out of turn"));
    });
  }

  void started(key::Status status) {
    starting_ = false;
    if (!status.ok()) {
      log_error(spec_text(spec_) + ": " + status.error().message());
      note_error(status.error().message());
      ended_at_ = owner_.loop_.now();
    }
    auto waiters = std::move(start_waiters_);
    start_waiters_.clear();
    for (auto& waiter : waiters) waiter(status);
  }

  void on_helper_exit(const std::string& why) {
    helper_ready_ = false;
    for (auto& [id, token] : tokens_) token.logged_in = false;  // a new helper needs new logins
    auto lived = owner_.loop_.now() - started_at_;
    restart_backoff_ = lived < kStableHelperLifetime
                           ? std::min<Clock::duration>(std::max<Clock::duration>(restart_backoff_ * 2,
                                                                                 owner_.settings_.poll_interval),
                                                       kMaxRestartBackoff)
                           : Clock::duration(owner_.settings_.poll_interval);
    restart_not_before_ = owner_.loop_.now() + restart_backoff_;
    ended_at_ = owner_.loop_.now();
    note_error(why);
    log_verbose(why + "; it starts again at the next use");
  }

  // Sends a request once the helper runs.
  void request(pkcs11::RequestBody body, Clock::duration timeout, Answer answer) {
    auto weak = weak_from_this();
    auto shared_body = std::make_shared<pkcs11::RequestBody>(std::move(body));
    with_helper([weak, shared_body, timeout, answer = std::move(answer)](key::Status ready) mutable {
      auto self = weak.lock();
      if (!self) return answer(gone_error());
      if (!ready.ok()) return answer(ready.error());
      self->helper_->request(std::move(*shared_body), timeout, std::move(answer));
    });
  }

  // Lists the keys and brings the key store in line with them. rescan:
  // have the helper read every key again (else only tokens that changed).
  void list(bool rescan, Ready done) {
    auto listing = std::make_shared<Listing>();
    listing->rescan = rescan;
    list_page(listing, std::move(done));
  }

  // A listing being read a page at a time.
  struct Listing {
    bool rescan = true;
    KeyList keys;
    int attempts = 1;
    int pages = 0;
  };

  void list_page(const std::shared_ptr<Listing>& listing, Ready done) {
    auto weak = weak_from_this();
    pkcs11::ListKeys page_request{static_cast<uint32_t>(listing->keys.keys.size()), listing->rescan};
    request(page_request, owner_.settings_.timeout,
            [weak, listing, done = std::move(done)](key::Result<ReplyBody> reply) mutable {
              auto self = weak.lock();
              if (!self) return done(gone_error());
              if (!reply.ok()) return done(reply.error());
              if (auto* error = std::get_if<ErrorReply>(&*reply)) return done(self->helper_error(nullptr, *error));
              auto* page = std::get_if<KeyList>(&*reply);
              if (page == nullptr) {
                return done(key::Error(key::Errc::kMalformed, "tessera-pkcs11-helper answered ListKeys out of turn"));
              }
              ++listing->pages;
              auto added = pkcs11::add_page(listing->keys, std::move(*page));
              if (!added.ok()) {
                return done(key::Error(key::Errc::kMalformed, "tessera-pkcs11-helper: " + added.error().message()));
              }
              if (!*added) {  // another listing started meanwhile: read the new one
                if (++listing->attempts > pkcs11::kListingAttempts) {
                  return done(key::Error(key::Errc::kIo, "the key listing of " + spec_text(self->spec_) +
                                                             " kept changing while it was read"));
                }
                listing->keys = KeyList{};
                listing->pages = 0;
                return self->list_page(listing, std::move(done));
              }
              if (listing->keys.keys.size() < listing->keys.total) return self->list_page(listing, std::move(done));
              if (listing->pages > 1) {
                log_verbose(spec_text(self->spec_) + ": " + std::to_string(listing->keys.total) +
                            " keys came in " + std::to_string(listing->pages) + " replies");
              }
              self->apply_listing(listing->keys);
              done(key::Status());
            });
  }

  void apply_listing(const KeyList& list) {
    std::map<std::string, ListedKey> listed;
    std::set<TokenId> present;
    for (const auto& info : list.keys) {
      if (!tokens::key_matches_uri(info, spec_.filter_uri)) continue;
      // A listing answered before a card removal reached the module.
      if (owner_.reader_is_empty(info.id.token.slot_description)) continue;
      std::string blob = blob_key(info.public_key);
      auto known = keys_.find(blob);
      std::optional<key::PublicKey> key;
      if (known != keys_.end()) {
        key = known->second.key;  // parsed when first listed
      } else {
        auto parsed = key::PublicKey::from_blob(info.public_key);
        if (!parsed.ok()) continue;  // the helper checked it; be sure
        key = std::move(*parsed);
      }
      present.insert(info.id.token);
      absent_.erase(info.id.token);
      Token& token = tokens_[info.id.token];
      token.id = info.id.token;
      token.label = info.token_label;
      token.flags = info.flags & kTokenFlagMask;
      token.missed_listings = 0;
      listed.emplace(std::move(blob), ListedKey{info, std::move(*key)});
    }
    std::vector<TokenId> gone;
    for (auto& [id, token] : tokens_) {
      if (present.count(id)) continue;
      if (++token.missed_listings >= kMissedListingsForRemoval) {
        gone.push_back(id);
        continue;
      }
      for (const auto& [blob, kept] : keys_) {
        if (kept.info.id.token == id) listed.emplace(blob, kept);  // kept until the next listing tells
      }
    }
    for (const auto& id : gone) token_gone(id, "is no longer present");

    bool changed = false;
    for (const auto& [blob, old] : keys_) {
      if (!listed.count(blob)) {
        withdraw(old);
        changed = true;
      }
    }
    for (const auto& [blob, now] : listed) {
      if (!keys_.count(blob)) {
        publish(now);
        changed = true;
      }
    }
    keys_ = std::move(listed);
    if (changed && published_) owner_.changed_();
  }

  // The identities a token key stands for: the key itself (unless
  // certs_only) and the associated certificates that certify it.
  std::vector<StoredIdentity> identities_of(const ListedKey& listed) const {
    std::vector<StoredIdentity> out;
    const KeyInfo& info = listed.info;
    auto identity = [&](Bytes blob, std::optional<key::Certificate> cert) {
      return StoredIdentity{
          .blob = std::move(blob),
          .key = listed.key,
          .certificate = std::move(cert),
          .comment = info.uri,
          .shielded = std::nullopt,
          .token = TokenKeyRef{spec_.module_path, info.id},
          .expires = constraints_.expires,
          .confirm = constraints_.confirm,
          .destinations = constraints_.destinations,
          .sk_provider = std::nullopt,
      };
    };
    if (!constraints_.certs_only) out.push_back(identity(info.public_key, std::nullopt));
    for (const auto& cert : constraints_.certs) {
      if (cert.key == listed.key) out.push_back(identity(cert.blob(), cert));
    }
    return out;
  }

  void publish(const ListedKey& listed) {
    if (!published_) return;
    if (constraints_.expires && *constraints_.expires <= owner_.loop_.now()) return;
    for (auto& identity : identities_of(listed)) {
      log_verbose("adding token " + std::string(identity.certificate ? "certificate " : "key ") + listed.info.uri);
      owner_.keys_.put(std::move(identity));
    }
  }

  void withdraw(const ListedKey& listed) {
    for (const auto& identity : identities_of(listed)) {
      const StoredIdentity* stored = owner_.keys_.find(identity.blob);
      if (stored == nullptr || !stored->token || stored->token->provider != spec_.module_path) continue;
      log_verbose("removing token " + std::string(identity.certificate ? "certificate " : "key ") +
                  listed.info.uri);
      owner_.keys_.remove(identity.blob);
    }
  }

  // The token went away: its keys leave the store, its PIN is wiped, and
  // whoever waits for a login to it is told.
  void token_gone(const TokenId& id, const std::string& why) {
    auto it = tokens_.find(id);
    if (it == tokens_.end()) return;
    log_info(token_name(id) + " " + why + ": its keys are withdrawn and its PIN forgotten until it returns");
    remember_absent(it->second);
    bool changed = false;
    for (auto key = keys_.begin(); key != keys_.end();) {
      if (key->second.info.id.token == id) {
        withdraw(key->second);
        key = keys_.erase(key);
        changed = true;
      } else {
        ++key;
      }
    }
    auto waiters = std::move(it->second.login_waiters);
    std::string name = token_name(id);
    tokens_.erase(it);  // the PIN is wiped with it
    for (auto& waiter : waiters) {
      waiter(key::Error(key::Errc::kIo, name + " was removed").with_subcode(static_cast<uint32_t>(ErrorCode::kTokenRemoved)));
    }
    if (changed && published_) owner_.changed_();
  }

  // Logs in to the tokens one after the other (with the PIN each holds);
  // stops at the first failure so a wrong PIN is tried on one token only.
  void login_each(std::vector<TokenId> tokens, size_t next, Ready done) {
    if (next == tokens.size()) return done(key::Status());
    auto weak = weak_from_this();
    TokenId id = tokens[next];
    login(id, [weak, tokens = std::move(tokens), next, done = std::move(done)](key::Status status) mutable {
      auto self = weak.lock();
      if (!self) return done(gone_error());
      if (!status.ok()) return done(status);
      self->login_each(std::move(tokens), next + 1, std::move(done));
    });
  }

  // Logs in to a token: with its cached PIN, through its PIN pad, or with a
  // PIN asked for now. Concurrent callers share one login.
  void login(const TokenId& id, Ready done) {
    Token* token = find_token(id);
    if (token == nullptr) return done(key::Error(key::Errc::kIo, token_name(id) + " is not present"));
    token->login_waiters.push_back(std::move(done));
    if (token->login_running) return;
    token->login_running = true;
    if (token->pin) return send_login(id, token->pin->clone(), false);
    if (token->flags & pkcs11::kTokenPinLocked) {
      return finish_login(id, key::Error(key::Errc::kIo, token_name(id) + ": " + prompts::pin_state_text(token->flags))
                                  .with_subcode(static_cast<uint32_t>(ErrorCode::kPinLocked), token->flags));
    }
    if (token->flags & pkcs11::kTokenProtectedAuthPath) {
      log_info(token_name(id) + " has a PIN pad: enter the PIN on the reader's keypad");
      return send_login(id, std::nullopt, false);
    }
    auto weak = weak_from_this();
    EventLoop* loop = &owner_.loop_;
    owner_.prompts_.ask_pin(kPinPromptLane, prompts::pin_prompt(token->label, token->flags),
                            [weak, loop, id](std::optional<key::SecretBytes> pin) {
                              auto shared = std::make_shared<std::optional<key::SecretBytes>>(std::move(pin));
                              loop->post([weak, id, shared] {
                                auto self = weak.lock();
                                if (!self) return;
                                if (!*shared) {
                                  return self->finish_login(
                                      id, key::Error(key::Errc::kIo, "no PIN was given for " + self->token_name(id) +
                                                                         " (askpass was cancelled or cannot run)")
                                              .with_subcode(kNoPinGiven));
                                }
                                self->send_login(id, std::move(**shared), true);
                              });
                            });
  }

  void send_login(const TokenId& id, std::optional<key::SecretBytes> pin, bool remember) {
    auto weak = weak_from_this();
    auto timeout = pin ? owner_.settings_.timeout : owner_.settings_.pinpad_timeout;
    pkcs11::Login request{id, std::nullopt};
    if (pin) request.pin = pin->clone();
    auto kept = std::make_shared<std::optional<key::SecretBytes>>(remember ? std::move(pin) : std::nullopt);
    this->request(std::move(request), timeout, [weak, id, kept](key::Result<ReplyBody> reply) {
      auto self = weak.lock();
      if (!self) return;
      if (!reply.ok()) return self->finish_login(id, reply.error());
      Token* token = self->find_token(id);
      if (token == nullptr) return;  // removed meanwhile: its waiters were told
      if (std::holds_alternative<pkcs11::Ok>(*reply)) {
        token->logged_in = true;
        if (*kept) token->pin = std::move(**kept);
        log_verbose("logged in to " + self->token_name(id));
        // Keys hidden before the login (and their always-authenticate flag)
        // show now; the helper re-reads what the login changed.
        return self->list(false, [weak, id](key::Status) {
          if (auto provider = weak.lock()) provider->finish_login(id, key::Status());
        });
      }
      if (auto* error = std::get_if<ErrorReply>(&*reply)) {
        if (error->code == ErrorCode::kTokenRemoved) {
          self->token_gone(id, "was removed");
          return;
        }
        token->flags = (token->flags & ~kTokenFlagMask) | (error->token_flags & kTokenFlagMask);
        if (error->code == ErrorCode::kPinIncorrect || error->code == ErrorCode::kPinLocked ||
            error->code == ErrorCode::kPinInvalid) {
          token->pin.reset();  // never tried again by itself
        }
        return self->finish_login(id, self->helper_error(&id, *error));
      }
      self->finish_login(id, key::Error(key::Errc::kMalformed, "tessera-pkcs11-helper answered Login out of turn"));
    });
  }

  void finish_login(const TokenId& id, key::Status status) {
    Token* token = find_token(id);
    if (token == nullptr || !token->login_running) return;
    token->login_running = false;
    if (!status.ok()) {
      log_error(status.error().message());
      note_error(status.error().message());
    }
    auto waiters = std::move(token->login_waiters);
    token->login_waiters.clear();
    for (auto& waiter : waiters) waiter(status);
  }

  const KeyInfo* find_key(const KeyId& id) const {
    for (const auto& [blob, listed] : keys_) {
      if (listed.info.id == id) return &listed.info;
    }
    return nullptr;
  }

  void send_sign(const std::shared_ptr<SignCall>& call) {
    if (call->answered()) return;  // failed meanwhile (its card was pulled out)
    auto weak = weak_from_this();
    pkcs11::Sign request{call->key, call->data, call->algorithm, std::nullopt};
    if (call->context_pin) request.context_pin = call->context_pin->clone();
    call->context_pin.reset();
    bool sent_context_pin = request.context_pin.has_value();
    this->request(std::move(request), owner_.settings_.timeout,
                  [weak, call, sent_context_pin](key::Result<ReplyBody> reply) {
                    if (call->answered()) return;  // a late answer for a call failed early
                    auto self = weak.lock();
                    if (!self) return call->done(gone_error());
                    if (!reply.ok()) return call->done(reply.error());
                    if (auto* signature = std::get_if<pkcs11::SignatureReply>(&*reply)) {
                      return call->done(std::move(signature->signature));
                    }
                    if (auto* error = std::get_if<ErrorReply>(&*reply)) {
                      return self->sign_failed(call, *error, sent_context_pin);
                    }
                    call->done(key::Error(key::Errc::kMalformed, "tessera-pkcs11-helper answered Sign out of turn"));
                  });
  }

  void sign_failed(const std::shared_ptr<SignCall>& call, const ErrorReply& error, bool sent_context_pin) {
    const TokenId& id = call->key.token;
    if (error.code == ErrorCode::kTokenRemoved) {
      std::string name = token_name(id);
      token_gone(id, "was removed");
      return call->done(key::Error(key::Errc::kIo, name + " was removed: insert it and try again")
                            .with_subcode(static_cast<uint32_t>(ErrorCode::kTokenRemoved)));
    }
    Token* token = find_token(id);
    if (token == nullptr) return call->done(absent_error(call->key));
    token->flags = (token->flags & ~kTokenFlagMask) | (error.token_flags & kTokenFlagMask);
    if (error.code != ErrorCode::kNotLoggedIn) return call->done(helper_error(&id, error));

    const KeyInfo* info = find_key(call->key);
    bool always_authenticate = info != nullptr && (info->flags & pkcs11::kKeyAlwaysAuthenticate);
    auto weak = weak_from_this();
    if (always_authenticate && token->logged_in && !sent_context_pin) {
      return context_pin(call, *token, info->label.empty() ? info->uri : info->label);
    }
    if (call->logged_in_again) return call->done(helper_error(&id, error));
    // CKR_USER_NOT_LOGGED_IN: the login is gone (or never was): log in again
    // and sign once more.
    call->logged_in_again = true;
    token->logged_in = false;
    login(id, [weak, call](key::Status status) {
      auto self = weak.lock();
      if (!self) return call->done(gone_error());
      if (!status.ok()) return call->done(status.error());
      self->send_sign(call);
    });
  }

  // The PIN for one signature with an always-authenticate key.
  void context_pin(const std::shared_ptr<SignCall>& call, const Token& token, const std::string& key_label) {
    if (owner_.settings_.reuse_pin_for_always_authenticate && token.pin) {
      call->context_pin = token.pin->clone();
      return send_sign(call);
    }
    auto weak = weak_from_this();
    EventLoop* loop = &owner_.loop_;
    std::string name = token_name(token.id);
    owner_.prompts_.ask_pin(kPinPromptLane, prompts::context_pin_prompt(token.label, key_label, token.flags),
                            [weak, loop, call, name](std::optional<key::SecretBytes> pin) {
                              auto shared = std::make_shared<std::optional<key::SecretBytes>>(std::move(pin));
                              loop->post([weak, call, shared, name] {
                                auto self = weak.lock();
                                if (!self) return call->done(gone_error());
                                if (!*shared) {
                                  return call->done(key::Error(
                                      key::Errc::kIo, "no PIN was given to sign with a key of " + name +
                                                          " that asks for its PIN at every use (askpass was "
                                                          "cancelled or cannot run)")
                                                        .with_subcode(kNoPinGiven));
                                }
                                call->context_pin = std::move(**shared);
                                self->send_sign(call);
                              });
                            });
  }

  void schedule_poll() {
    auto weak = weak_from_this();
    poll_timer_ = owner_.loop_.add_timer(owner_.loop_.now() + owner_.settings_.poll_interval, [weak] {
      auto self = weak.lock();
      if (!self) return;
      self->poll_timer_.reset();
      self->poll();
      self->schedule_poll();
    });
  }

  void poll() {
    if (listing_) return;
    bool running = helper_ && helper_->alive() && helper_ready_;
    if (!running && owner_.loop_.now() < restart_not_before_) return;
    listing_ = true;
    auto weak = weak_from_this();
    list(false, [weak](key::Status status) {
      auto self = weak.lock();
      if (!self) return;
      self->listing_ = false;
      if (!status.ok()) {
        log_verbose("polling " + spec_text(self->spec_) + ": " + status.error().message());
        self->note_error(status.error().message());
      }
      if (self->relist_again_) {
        self->relist_again_ = false;
        self->poll();
      }
    });
  }

  Pkcs11Providers& owner_;
  tokens::ProviderSpec spec_;
  TokenKeyConstraints constraints_;
  std::unique_ptr<HelperProcess> helper_;
  bool helper_ready_ = false;
  bool starting_ = false;
  std::vector<Ready> start_waiters_;
  Clock::time_point started_at_{};
  Clock::duration restart_backoff_{};
  Clock::time_point restart_not_before_{};
  std::map<TokenId, Token> tokens_;
  std::map<std::string, ListedKey> keys_;  // by public key blob: the last listing that matched the filter
  bool published_ = false;               // keys_ are in the key store (after a successful add)
  bool listing_ = false;                 // a poll's ListKeys is in flight
  bool relist_again_ = false;            // a card arrived while it was: list once more after it
  std::map<uint64_t, InFlightSign> in_flight_;  // sign calls not answered yet
  uint64_t next_sign_serial_ = 1;
  std::optional<EventLoop::TimerId> poll_timer_;
  // For the status report.
  std::string module_description_;
  unsigned helpers_started_ = 0;
  Clock::time_point ended_at_{};         // when the last helper ended or failed to start
  std::string last_error_;
  Clock::time_point last_error_at_{};
  std::map<TokenId, StatusToken> absent_;  // tokens that went away and have not returned
};

// ---------------------------------------------------------------------------

Pkcs11Providers::Pkcs11Providers(Pkcs11Settings settings, EventLoop& loop, Confirmer& prompts, KeyStore& keys,
                                 std::function<void()> changed)
    : settings_(std::move(settings)), loop_(loop), prompts_(prompts), keys_(keys), changed_(std::move(changed)) {}

Pkcs11Providers::~Pkcs11Providers() { shutdown(); }

void Pkcs11Providers::add(tokens::ProviderSpec spec, key::SecretBytes pin, TokenKeyConstraints constraints, AddDone done) {
  std::string path = spec.module_path;
  if (providers_.count(path)) {
    return done(key::Error(key::Errc::kInvalidArgument, "PKCS#11 provider " + path + " is already added"));
  }
  auto provider = std::make_shared<Provider>(*this, std::move(spec), std::move(constraints));
  providers_.emplace(path, provider);
  Provider* started = provider.get();
  provider->start(std::move(pin), [this, path, started, done = std::move(done)](key::Result<size_t> result) {
    if (!result.ok()) {
      // Not from inside the provider's own call chain: drop it from the loop
      // (unless it was removed, and maybe added again, meanwhile).
      loop_.post([this, path, started] {
        auto it = providers_.find(path);
        if (it == providers_.end() || it->second.get() != started) return;
        it->second->withdraw_all();
        providers_.erase(it);
      });
    }
    done(std::move(result));
  });
}

key::Status Pkcs11Providers::remove(const std::string& module_path) {
  auto it = providers_.find(module_path);
  if (it == providers_.end()) {
    return key::Error(key::Errc::kInvalidArgument, "PKCS#11 provider " + module_path + " is not added");
  }
  auto provider = std::move(it->second);
  providers_.erase(it);
  provider->withdraw_all();
  changed_();
  return key::Status();
}

void Pkcs11Providers::sign(const TokenKeyRef& key, Bytes data, std::string algorithm, SignDone done) {
  auto it = providers_.find(key.provider);
  if (it == providers_.end()) {
    return done(key::Error(key::Errc::kIo, "PKCS#11 provider " + key.provider + " is not added"));
  }
  auto provider = it->second;  // stays alive through the call even if removed meanwhile
  provider->sign(key.key, std::move(data), std::move(algorithm), std::move(done));
}

void Pkcs11Providers::reader_event(const std::string& reader, bool card_present) {
  if (card_present) {
    empty_readers_.erase(reader);
  } else if (empty_readers_.size() < kMaxEmptyReaders) {
    empty_readers_.insert(reader);
  }
  // Copies: what a provider does may remove providers.
  std::vector<std::shared_ptr<Provider>> providers;
  for (const auto& [path, provider] : providers_) providers.push_back(provider);
  for (const auto& provider : providers) {
    if (card_present) {
      provider->relist_now();
    } else {
      provider->reader_emptied(reader);
    }
  }
}

bool Pkcs11Providers::reader_is_empty(const std::string& slot_description) const {
  for (const auto& reader : empty_readers_) {
    if (slot_names_reader(slot_description, reader)) return true;
  }
  return false;
}

Pkcs11Providers::Report Pkcs11Providers::report(const WallClock& clock) const {
  Report out;
  for (const auto& [path, provider] : providers_) out.providers.push_back(provider->report(clock, out.key_flags));
  return out;
}

void Pkcs11Providers::shutdown() {
  auto providers = std::move(providers_);
  providers_.clear();
  for (auto& [path, provider] : providers) provider->withdraw_all();
  providers.clear();
}

}  // namespace tessera::agent::daemon
