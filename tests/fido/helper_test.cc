// tessera-sk-helper's parts in this process: which file a provider names,
// loading a middleware, and refusing what a middleware returns when it is
// NULL, too long, lies about its length or is not a valid key.

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "helper.h"
#include "tessera/fido/protocol.h"
#include "test_support.h"

namespace tessera::fido::helper {
namespace {

uint8_t* dup(const Bytes& bytes) {
  auto* p = static_cast<uint8_t*>(std::malloc(bytes.empty() ? 1 : bytes.size()));
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return p;
}

Bytes ed25519_point() {
  auto key = key::PrivateKey::generate(key::KeyType::kEd25519);
  Bytes blob = key->public_key().blob();
  return Bytes(blob.end() - 32, blob.end());
}

Bytes ecdsa_point() {
  auto key = key::PrivateKey::generate(key::KeyType::kEcdsaP256);
  Bytes blob = key->public_key().blob();
  return Bytes(blob.end() - 65, blob.end());
}

sk_enroll_response* enroll_response(const Bytes& public_key, const Bytes& key_handle) {
  auto* r = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
  r->flags = SSH_SK_USER_PRESENCE_REQD;
  r->public_key = dup(public_key);
  r->public_key_len = public_key.size();
  r->key_handle = dup(key_handle);
  r->key_handle_len = key_handle.size();
  return r;
}

void expect_bad_response(const Error& error, std::string_view words) {
  EXPECT_EQ(sk_error_code(error), ErrorCode::kBadResponse) << error.message();
  EXPECT_NE(error.message().find(words), std::string::npos) << error.message();
}

TEST(FidoHelper, ResolvesProviders) {
  test::TempDir dir;
  // "internal" without the file beside the helper: the installed one.
  auto installed = resolve_provider("internal", dir.path().string(), "/opt/lib/tessera");
  ASSERT_TRUE(installed.ok());
  EXPECT_EQ(*installed, "/opt/lib/tessera/tessera-sk-fido2.so");
  test::write_file(dir.file("tessera-sk-fido2.so"), "");
  auto beside = resolve_provider("INTERNAL", dir.path().string(), "/opt/lib/tessera");
  ASSERT_TRUE(beside.ok());
  EXPECT_EQ(*beside, dir.file("tessera-sk-fido2.so"));
  EXPECT_EQ(*resolve_provider("/abs/mw.so", dir.path().string()), "/abs/mw.so");
  for (const char* bad : {"", "mw.so", "./mw.so", "lib/mw.so", "internal2"}) {
    auto resolved = resolve_provider(bad, dir.path().string());
    ASSERT_FALSE(resolved.ok()) << bad;
    EXPECT_EQ(sk_error_code(resolved.error()), ErrorCode::kBadRequest);
  }
  EXPECT_NE(resolve_provider("mw.so", "").error().message().find("not an absolute path"), std::string::npos);
  EXPECT_FALSE(program_directory().empty());
}

TEST(FidoHelper, LoadsAMiddlewareAndChecksIt) {
  auto soft = Middleware::load(TESSERA_SK_SOFT_PATH, TESSERA_SK_SOFT_PATH);
  ASSERT_TRUE(soft.ok()) << soft.error().message();
  EXPECT_EQ((*soft)->version(), static_cast<uint32_t>(SSH_SK_VERSION_MAJOR));

  auto missing = Middleware::load("/nonexistent/mw.so", "/nonexistent/mw.so");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(sk_error_code(missing.error()), ErrorCode::kProviderError);
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos) << missing.error().message();

  auto partial = Middleware::load(TESSERA_SK_SOFT_PARTIAL_PATH, "partial");
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.error().message().find("has no sk_load_resident_keys"), std::string::npos)
      << partial.error().message();

  // Not a shared object at all.
  test::TempDir dir;
  test::write_file(dir.file("text.so"), "not an ELF file\n");
  auto text = Middleware::load(dir.file("text.so"), dir.file("text.so"));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(sk_error_code(text.error()), ErrorCode::kProviderError);
}

TEST(FidoHelper, TakesAValidEnrolment) {
  const Bytes point = ecdsa_point();
  auto* r = enroll_response(point, Bytes(40, 7));
  r->flags = SSH_SK_USER_PRESENCE_REQD | SSH_SK_USER_VERIFICATION_REQD;  // the middleware added UV
  r->signature = dup(Bytes(70, 1));
  r->signature_len = 70;
  auto reply = take_enroll_response(Algorithm::kEcdsaP256, SSH_SK_USER_PRESENCE_REQD | SSH_SK_FORCE_OPERATION, r);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  EXPECT_EQ(reply->public_key, point);
  EXPECT_EQ(reply->key_handle.size(), 40u);
  EXPECT_EQ(reply->attestation_signature.size(), 70u);
  EXPECT_EQ(reply->flags, SSH_SK_USER_PRESENCE_REQD | SSH_SK_USER_VERIFICATION_REQD);

  // A middleware cannot drop a requirement.
  auto* dropped = enroll_response(ed25519_point(), Bytes(8, 1));
  dropped->flags = 0;
  auto kept = take_enroll_response(Algorithm::kEd25519, SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY, dropped);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->flags, SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY);
}

TEST(FidoHelper, RefusesBadEnrolments) {
  expect_bad_response(take_enroll_response(Algorithm::kEd25519, 1, nullptr).error(), "no enrolment");

  auto* null_key = enroll_response(ed25519_point(), Bytes(8, 1));
  std::free(null_key->public_key);
  null_key->public_key = nullptr;
  expect_bad_response(take_enroll_response(Algorithm::kEd25519, 1, null_key).error(), "NULL");

  Bytes short_key = ed25519_point();
  short_key.pop_back();
  expect_bad_response(take_enroll_response(Algorithm::kEd25519, 1, enroll_response(short_key, Bytes(8, 1))).error(),
                      "31 bytes");

  Bytes off_curve = ecdsa_point();
  off_curve[64] ^= 1;
  expect_bad_response(take_enroll_response(Algorithm::kEcdsaP256, 1, enroll_response(off_curve, Bytes(8, 1))).error(),
                      "public key");
  expect_bad_response(
      take_enroll_response(Algorithm::kEcdsaP256, 1, enroll_response(ed25519_point(), Bytes(8, 1))).error(),
      "uncompressed");

  auto* null_handle = enroll_response(ed25519_point(), Bytes(8, 1));
  std::free(null_handle->key_handle);
  null_handle->key_handle = nullptr;
  expect_bad_response(take_enroll_response(Algorithm::kEd25519, 1, null_handle).error(), "key handle");

  expect_bad_response(
      take_enroll_response(Algorithm::kEd25519, 1, enroll_response(ed25519_point(), Bytes(kMaxKeyHandleBytes + 1, 1)))
          .error(),
      "over the limit");

  auto* lying = enroll_response(ed25519_point(), Bytes(16, 1));
  lying->key_handle_len = 1000;  // within the limit, but the buffer holds 16 bytes
  expect_bad_response(take_enroll_response(Algorithm::kEd25519, 1, lying).error(), "buffer is smaller");

  auto* null_cert = enroll_response(ed25519_point(), Bytes(8, 1));
  null_cert->attestation_cert_len = 10;  // with a NULL pointer
  expect_bad_response(take_enroll_response(Algorithm::kEd25519, 1, null_cert).error(), "attestation certificate");

  auto* big_authdata = enroll_response(ed25519_point(), Bytes(8, 1));
  big_authdata->authdata = dup(Bytes(kMaxAuthdataBytes + 1, 0));
  big_authdata->authdata_len = kMaxAuthdataBytes + 1;
  expect_bad_response(take_enroll_response(Algorithm::kEd25519, 1, big_authdata).error(), "authenticator data");
}

sk_sign_response* sign_response(const Bytes& r, const Bytes& s) {
  auto* response = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
  response->flags = 1;
  response->counter = 42;
  if (!r.empty()) {
    response->sig_r = dup(r);
    response->sig_r_len = r.size();
  }
  if (!s.empty()) {
    response->sig_s = dup(s);
    response->sig_s_len = s.size();
  }
  return response;
}

TEST(FidoHelper, TakesAndRefusesSignatures) {
  auto ed = take_sign_response(Algorithm::kEd25519, sign_response(Bytes(64, 1), Bytes(5, 5)));
  ASSERT_TRUE(ed.ok()) << ed.error().message();
  EXPECT_EQ(ed->counter, 42u);
  EXPECT_TRUE(ed->sig_s.empty());  // unused for Ed25519
  auto ec = take_sign_response(Algorithm::kEcdsaP256, sign_response(Bytes(32, 1), Bytes(31, 2)));
  ASSERT_TRUE(ec.ok()) << ec.error().message();

  expect_bad_response(take_sign_response(Algorithm::kEd25519, nullptr).error(), "no signature");
  expect_bad_response(take_sign_response(Algorithm::kEd25519, sign_response({}, {})).error(), "missing");
  expect_bad_response(take_sign_response(Algorithm::kEd25519, sign_response(Bytes(63, 1), {})).error(), "63 bytes");
  expect_bad_response(take_sign_response(Algorithm::kEd25519, sign_response(Bytes(65, 1), {})).error(),
                      "over the limit");
  expect_bad_response(take_sign_response(Algorithm::kEcdsaP256, sign_response(Bytes(32, 1), {})).error(), "s");
  expect_bad_response(take_sign_response(Algorithm::kEcdsaP256, sign_response(Bytes(100, 1), Bytes(32, 1))).error(),
                      "over the limit");
  expect_bad_response(take_sign_response(Algorithm::kEcdsaP256, sign_response(Bytes(33, 1), Bytes(32, 1))).error(),
                      "over 256 bits");
  auto* lying = sign_response(Bytes(32, 1), Bytes(32, 1));
  std::free(lying->sig_s);
  lying->sig_s = static_cast<uint8_t*>(std::calloc(1, 1));  // malloc gives at most 24 bytes for this
  lying->sig_s_len = 33;
  expect_bad_response(take_sign_response(Algorithm::kEcdsaP256, lying).error(), "buffer is smaller");
}

sk_resident_key* resident(uint32_t alg, const char* application, const Bytes& public_key, const Bytes& user_id) {
  auto* key = static_cast<sk_resident_key*>(std::calloc(1, sizeof(sk_resident_key)));
  key->alg = alg;
  key->application = application != nullptr ? strdup(application) : nullptr;
  key->key.public_key = dup(public_key);
  key->key.public_key_len = public_key.size();
  key->key.key_handle = dup(Bytes(12, 3));
  key->key.key_handle_len = 12;
  key->flags = SSH_SK_USER_VERIFICATION_REQD;
  key->user_id = dup(user_id);
  key->user_id_len = user_id.size();
  return key;
}

sk_resident_key** array(std::vector<sk_resident_key*> keys) {
  auto** out = static_cast<sk_resident_key**>(std::calloc(keys.size() + 1, sizeof(sk_resident_key*)));
  for (size_t i = 0; i < keys.size(); ++i) out[i] = keys[i];
  return out;
}

TEST(FidoHelper, TakesResidentKeysAndDropsForeignOnes) {
  auto** keys = array({resident(SSH_SK_ED25519, "ssh:a", ed25519_point(), Bytes(32, 0)),
                       resident(SSH_SK_ED25519, "web:example.com", ed25519_point(), Bytes(8, 1)),
                       resident(77, "ssh:other-alg", Bytes(3, 1), Bytes(8, 1)),
                       resident(SSH_SK_ECDSA, "ssh:b", ecdsa_point(), Bytes{})});
  auto reply = take_resident_keys(keys, 4);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  ASSERT_EQ(reply->keys.size(), 2u);
  EXPECT_EQ(reply->keys[0].application, "ssh:a");
  EXPECT_EQ(reply->keys[0].flags, SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY | SSH_SK_USER_VERIFICATION_REQD);
  EXPECT_EQ(reply->keys[0].user_id, Bytes(32, 0));
  EXPECT_EQ(reply->keys[1].alg, Algorithm::kEcdsaP256);

  auto empty = take_resident_keys(nullptr, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->keys.empty());
}

TEST(FidoHelper, RefusesBadResidentKeys) {
  expect_bad_response(take_resident_keys(nullptr, 3).error(), "gave none");
  expect_bad_response(take_resident_keys(array({nullptr, nullptr}), 2).error(), "missing");
  expect_bad_response(
      take_resident_keys(array({resident(SSH_SK_ED25519, nullptr, ed25519_point(), Bytes{})}), 1).error(),
      "application");
  const std::string long_application = "ssh:" + std::string(kMaxApplicationBytes, 'a');
  expect_bad_response(
      take_resident_keys(array({resident(SSH_SK_ED25519, long_application.c_str(), ed25519_point(), Bytes{})}), 1)
          .error(),
      "over the limit");
  expect_bad_response(
      take_resident_keys(array({resident(SSH_SK_ED25519, "ssh:", ed25519_point(), Bytes(kMaxUserIdBytes + 1, 0))}), 1)
          .error(),
      "user id");
  expect_bad_response(
      take_resident_keys(array({resident(SSH_SK_ECDSA, "ssh:", ed25519_point(), Bytes{})}), 1).error(),
      "resident key 0");
  // A count beyond the array: refused, and its entries are left alone (they
  // cannot be trusted to be pointers); only the array is freed.
  for (size_t lie : {size_t{100000}, size_t{1000}}) {
    sk_resident_key* entry = resident(SSH_SK_ED25519, "ssh:", ed25519_point(), Bytes{});
    expect_bad_response(take_resident_keys(array({entry}), lie).error(),
                        lie > kMaxListedResidentKeys ? "at most 4096 are read" : "smaller array");
    free_resident_keys(array({entry}), 1);
  }
  std::vector<sk_resident_key*> many;
  for (size_t i = 0; i <= kMaxResidentKeys; ++i) many.push_back(resident(SSH_SK_ED25519, "ssh:", ed25519_point(), {}));
  expect_bad_response(take_resident_keys(array(many), many.size()).error(), "more than");
}

TEST(FidoHelper, RefusesRequestsBeforeLoadingAnything) {
  SignRequest sign;
  sign.provider = "/nonexistent.so";
  sign.application = "web:example.com";
  sign.key_handle = SecretBytes::copy_of(std::string_view("kh"));
  Reply reply = handle(Request{kProtocolVersion, std::move(sign)}, "");
  auto* error = std::get_if<ErrorReply>(&reply.body);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->code, ErrorCode::kBadRequest);
  EXPECT_NE(error->message.find("does not start with \"ssh:\""), std::string::npos) << error->message;

  EnrollRequest enroll;
  enroll.provider = "/nonexistent.so";
  enroll.application = "ssh:";
  enroll.challenge = Bytes(4, 1);
  enroll.pin = SecretBytes::copy_of(std::string_view("12\0" "34", 5));
  Reply nul = handle(Request{kProtocolVersion, std::move(enroll)}, "");
  ASSERT_NE(std::get_if<ErrorReply>(&nul.body), nullptr);
  EXPECT_NE(std::get<ErrorReply>(nul.body).message.find("NUL"), std::string::npos);

  Reply malformed = handle_body(Bytes{0, 0, 0, 1, 9}, "");
  ASSERT_NE(std::get_if<ErrorReply>(&malformed.body), nullptr);
  EXPECT_EQ(std::get<ErrorReply>(malformed.body).code, ErrorCode::kBadRequest);

  ErrorReply cut = error_reply(Error(key::Errc::kIo, std::string(5000, 'x')));
  EXPECT_EQ(cut.message.size(), kMaxErrorTextBytes);
  EXPECT_EQ(cut.code, ErrorCode::kGeneral);
}

}  // namespace
}  // namespace tessera::fido::helper
