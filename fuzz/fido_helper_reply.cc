// Fuzzes what a caller of tessera-sk-helper parses from it: one reply frame
// body. Whatever parses must serialize back to the same bytes; its keys must
// be valid SSH security keys and its signatures valid SSH signature blobs;
// and the helper's own checks of a middleware's answers (take_*_response)
// must accept the same values handed over as the middleware ABI's structs
// and give them back unchanged.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "helper.h"
#include "tessera/fido/protocol.h"

using namespace tessera::fido;

namespace {

uint8_t* copy(std::span<const uint8_t> bytes) {
  auto* p = static_cast<uint8_t*>(std::malloc(bytes.empty() ? 1 : bytes.size()));
  if (p == nullptr) __builtin_trap();
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return p;
}

void check_enrolment(const EnrollReply& reply) {
  if (!tessera::key::security_key_public(key_type(reply.alg), reply.public_key, "ssh:").ok()) __builtin_trap();
  auto* raw = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
  raw->flags = reply.flags;
  raw->public_key = copy(reply.public_key);
  raw->public_key_len = reply.public_key.size();
  raw->key_handle = copy(reply.key_handle.reveal());
  raw->key_handle_len = reply.key_handle.size();
  raw->signature = copy(reply.attestation_signature);
  raw->signature_len = reply.attestation_signature.size();
  raw->attestation_cert = copy(reply.attestation_certificate);
  raw->attestation_cert_len = reply.attestation_certificate.size();
  raw->authdata = copy(reply.authdata);
  raw->authdata_len = reply.authdata.size();
  auto taken = helper::take_enroll_response(reply.alg, reply.flags, raw);
  if (!taken.ok() || taken->public_key != reply.public_key || !taken->key_handle.equals(reply.key_handle) ||
      taken->authdata != reply.authdata) {
    __builtin_trap();
  }
}

void check_signature(const SignReply& reply) {
  if (!ssh_signature(reply.alg, reply.flags, reply.counter, reply.sig_r, reply.sig_s).ok()) __builtin_trap();
  auto* raw = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
  raw->flags = reply.flags;
  raw->counter = reply.counter;
  raw->sig_r = copy(reply.sig_r);
  raw->sig_r_len = reply.sig_r.size();
  if (!reply.sig_s.empty()) {
    raw->sig_s = copy(reply.sig_s);
    raw->sig_s_len = reply.sig_s.size();
  }
  auto taken = helper::take_sign_response(reply.alg, raw);
  if (!taken.ok() || taken->sig_r != reply.sig_r || taken->sig_s != reply.sig_s || taken->counter != reply.counter) {
    __builtin_trap();
  }
}

void check_resident_keys(const ResidentKeysReply& reply) {
  const size_t count = reply.keys.size();
  auto** raw = static_cast<sk_resident_key**>(std::calloc(count + 1, sizeof(sk_resident_key*)));
  for (size_t i = 0; i < count; ++i) {
    const ResidentKey& key = reply.keys[i];
    if (!tessera::key::security_key_public(key_type(key.alg), key.public_key, key.application).ok()) __builtin_trap();
    auto* rk = static_cast<sk_resident_key*>(std::calloc(1, sizeof(sk_resident_key)));
    rk->alg = static_cast<uint32_t>(key.alg);
    rk->slot = i;
    rk->application = strdup(key.application.c_str());
    rk->key.public_key = copy(key.public_key);
    rk->key.public_key_len = key.public_key.size();
    rk->key.key_handle = copy(key.key_handle.reveal());
    rk->key.key_handle_len = key.key_handle.size();
    rk->flags = key.flags;
    rk->user_id = copy(key.user_id);
    rk->user_id_len = key.user_id.size();
    raw[i] = rk;
  }
  auto taken = helper::take_resident_keys(raw, count);
  if (!taken.ok() || taken->keys.size() != count) __builtin_trap();
  for (size_t i = 0; i < count; ++i) {
    if (taken->keys[i].application != reply.keys[i].application ||
        taken->keys[i].public_key != reply.keys[i].public_key || taken->keys[i].user_id != reply.keys[i].user_id) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  auto reply = parse_reply(input);
  if (!reply.ok()) return 0;
  const SecretBytes again = serialize_reply(*reply);
  if (!again.equals(SecretBytes::copy_of(input))) __builtin_trap();
  if (!frame(again).ok()) __builtin_trap();
  if (const auto* enrolled = std::get_if<EnrollReply>(&reply->body)) check_enrolment(*enrolled);
  if (const auto* signed_ = std::get_if<SignReply>(&reply->body)) check_signature(*signed_);
  if (const auto* listed = std::get_if<ResidentKeysReply>(&reply->body)) check_resident_keys(*listed);
  return 0;
}
