// The helper's state over one module: its tokens, a small pool of sessions
// per token, the keys found on each, and the handling of every request.
// handle() is thread-safe: the worker threads call it concurrently, and
// requests on different sessions of a token run in parallel.
#ifndef TESSERA_PKCS11_HELPER_HELPER_H_
#define TESSERA_PKCS11_HELPER_HELPER_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "discovery.h"
#include "module.h"
#include "tessera/pkcs11/protocol.h"

namespace tessera::pkcs11::helper {

// Most sessions the helper opens on one token (besides the one holding the
// login). SoftHSM2 signs in parallel on separate sessions.
inline constexpr size_t kMaxSessionsPerToken = 8;

class Helper {
 public:
  // module may be null when loading failed; every request but Hello is then
  // answered with load_failure.
  Helper(std::unique_ptr<Module> module, std::optional<key::Error> load_failure);
  ~Helper();
  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;

  ReplyBody handle(const RequestBody& request);

 private:
  struct KeyRecord {
    key::PublicKey public_key;
    std::string label;
    std::optional<PrivateKeyObject> private_key;  // cached once found
  };

  struct Token {
    CK_SLOT_ID slot = 0;
    TokenId id;
    std::string label, manufacturer, model;
    std::set<CK_MECHANISM_TYPE> mechanisms;

    std::mutex mu;  // guards everything below
    std::condition_variable session_returned;
    std::vector<Session> idle;
    size_t open_sessions = 0;  // idle + leased
    bool removed = false;      // the token went away: sessions are not reused
    std::map<Bytes, KeyRecord> keys;
    // What the token said of itself when `keys` were read: a poll re-reads
    // them only when this changes.
    struct State {
      std::string label;
      CK_FLAGS flags = 0;
      bool logged_in = false;
      bool operator==(const State&) const = default;
    };
    std::optional<State> keys_read_at;
    KeyObjects key_objects;  // what `keys` were read from

    std::mutex login_mu;  // serializes login and logout
    Session login_session;  // holds the user login while logged in
    bool logged_in = false;  // guarded by mu
  };

  // A session borrowed from a token's pool; returned on destruction unless
  // discarded (after a failure that may leave an operation active).
  class Lease {
   public:
    Lease(std::shared_ptr<Token> token, Session session) : token_(std::move(token)), session_(std::move(session)) {}
    ~Lease();
    Lease(Lease&&) = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    CK_SESSION_HANDLE handle() const { return session_.handle(); }
    void discard() { discard_ = true; }

   private:
    std::shared_ptr<Token> token_;
    Session session_;
    bool discard_ = false;
  };

  ReplyBody hello();
  ReplyBody list_keys(const ListKeys& request);
  // Makes a new listing (listing_mu_ held).
  key::Status make_listing(bool rescan);
  // The token's state now; nullopt when C_GetTokenInfo fails.
  std::optional<Token::State> token_state(Token& token);
  ReplyBody login(const Login& request);
  // The login itself, under the token's login lock.
  key::Status log_in(Token& token, const std::optional<SecretBytes>& pin);
  ReplyBody logout(const Logout& request);
  ReplyBody sign(const Sign& request);
  ReplyBody sign_once(const Sign& request);

  // Rescans the slots; tokens no longer present are dropped.
  key::Result<std::vector<std::shared_ptr<Token>>> scan_tokens();
  // The token with this identity, rescanning once if it is not known.
  key::Result<std::shared_ptr<Token>> find_token(const TokenId& id);
  key::Result<Lease> acquire(const std::shared_ptr<Token>& token);
  // Reads the token's keys into token->keys. reuse_public: keep the public
  // keys read before if the token's key objects are the same ones (a login
  // then only makes the private keys visible); else read every key.
  key::Status refresh_keys(const std::shared_ptr<Token>& token, Lease& lease, bool reuse_public = false);
  // kToken* bits from C_GetTokenInfo plus the helper's login state.
  uint32_t token_flags(Token& token);
  // After kTokenRemoved: forget the token's sessions, login and keys.
  void forget(const std::shared_ptr<Token>& token);
  ErrorReply error_reply(const key::Error& failure, Token* token);

  std::unique_ptr<Module> module_;
  std::optional<key::Error> load_failure_;
  std::mutex scan_mu_;  // one slot scan at a time, so a token is never created twice
  std::mutex tokens_mu_;
  std::map<TokenId, std::shared_ptr<Token>> tokens_;

  std::mutex listing_mu_;  // one listing at a time; guards the two below
  std::vector<KeyInfo> listing_;  // the last listing, served a page at a time
  uint32_t generation_ = 0;       // of listing_; 0 before the first
};

// An RFC 7512 PKCS#11 URI for a key.
std::string key_uri(const std::string& token_label, const std::string& manufacturer, const std::string& model,
                    const std::string& serial, std::span<const uint8_t> cka_id, const std::string& object_label);

}  // namespace tessera::pkcs11::helper

#endif  // TESSERA_PKCS11_HELPER_HELPER_H_
