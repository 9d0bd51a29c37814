/* The security key middleware ABI of OpenSSH 9.2 (its sk-api.h, API version
 * 0x000a0000), declared here from the specification so that tessera can load
 * any middleware OpenSSH can, and OpenSSH can load tessera's.
 *
 * A middleware is a shared object exporting the four functions below with C
 * linkage. The caller owns what it passes in; the middleware allocates every
 * response (and each buffer in it) with malloc, and the caller frees them
 * with free() after use (zeroing key handles first).
 *
 * Plain C, so that a middleware written in C can include it too. */
#ifndef TESSERA_FIDO_SK_API_H_
#define TESSERA_FIDO_SK_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Credential flags (the "flags" byte of sk key files and of signatures). */
#define SSH_SK_USER_PRESENCE_REQD 0x01     /* a touch is needed for each signature */
#define SSH_SK_USER_VERIFICATION_REQD 0x04 /* a PIN (or biometric) for each signature */
#define SSH_SK_FORCE_OPERATION 0x10        /* sk_enroll: replace a resident credential of the same
                                              application and user (never stored in keys) */
#define SSH_SK_RESIDENT_KEY 0x20           /* the credential lives on the authenticator */

/* Algorithms. */
#define SSH_SK_ECDSA 0x00   /* ECDSA on NIST P-256 with SHA-256 (COSE ES256) */
#define SSH_SK_ED25519 0x01 /* Ed25519 (COSE EdDSA) */

/* Return values of sk_enroll, sk_sign and sk_load_resident_keys (0 is success). */
#define SSH_SK_ERR_GENERAL (-1)
#define SSH_SK_ERR_UNSUPPORTED (-2)
#define SSH_SK_ERR_PIN_REQUIRED (-3)
#define SSH_SK_ERR_DEVICE_NOT_FOUND (-4)
#define SSH_SK_ERR_CREDENTIAL_EXISTS (-5)

/* What enrolment returns: the new credential's public key (Ed25519: 32 raw
 * bytes; ECDSA: the uncompressed P-256 point), its key handle (the credential
 * id), and the attestation (signature, certificate, authenticator data). */
struct sk_enroll_response {
  uint8_t flags; /* the credential's flags as made (may add USER_VERIFICATION_REQD) */
  uint8_t* public_key;
  size_t public_key_len;
  uint8_t* key_handle;
  size_t key_handle_len;
  uint8_t* signature;
  size_t signature_len;
  uint8_t* attestation_cert;
  size_t attestation_cert_len;
  uint8_t* authdata;
  size_t authdata_len;
};

/* What a signature returns: the authenticator data's flags and counter and
 * the signature (Ed25519: the 64 bytes in sig_r, sig_s unused; ECDSA: r and
 * s as unsigned big-endian integers). */
struct sk_sign_response {
  uint8_t flags;
  uint32_t counter;
  uint8_t* sig_r;
  size_t sig_r_len;
  uint8_t* sig_s;
  size_t sig_s_len;
};

/* A credential stored on the authenticator (sk_load_resident_keys). */
struct sk_resident_key {
  uint32_t alg;
  size_t slot;
  char* application;
  struct sk_enroll_response key; /* public key and key handle; no attestation */
  uint8_t flags;
  uint8_t* user_id;
  size_t user_id_len;
};

/* A name=value option ("device", "user"); the array is NULL-terminated. A
 * middleware that does not know an option marked `required` must fail. */
struct sk_option {
  char* name;
  char* value;
  uint8_t required;
};

#define SSH_SK_VERSION_MAJOR 0x000a0000
#define SSH_SK_VERSION_MAJOR_MASK 0xffff0000

/* The ABI version the middleware implements; its major part must equal
 * SSH_SK_VERSION_MAJOR. */
uint32_t sk_api_version(void);

/* Makes a credential for `application` ("ssh:..."). `challenge` is hashed
 * (SHA-256) into the attestation's client data; `pin` may be NULL. */
int sk_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application, uint8_t flags,
              const char* pin, struct sk_option** options, struct sk_enroll_response** enroll_response);

/* Signs `data` (the whole message; the middleware hashes it with SHA-256 as
 * the client data hash) with the credential `key_handle`. */
int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application, const uint8_t* key_handle,
            size_t key_handle_len, uint8_t flags, const char* pin, struct sk_option** options,
            struct sk_sign_response** sign_response);

/* Lists the authenticator's resident credentials for "ssh:" applications. */
int sk_load_resident_keys(const char* pin, struct sk_option** options, struct sk_resident_key*** rks, size_t* nrks);

/* The function types, for a loader's dlsym(). */
typedef uint32_t (*sk_api_version_fn)(void);
typedef int (*sk_enroll_fn)(uint32_t, const uint8_t*, size_t, const char*, uint8_t, const char*, struct sk_option**,
                            struct sk_enroll_response**);
typedef int (*sk_sign_fn)(uint32_t, const uint8_t*, size_t, const char*, const uint8_t*, size_t, uint8_t, const char*,
                          struct sk_option**, struct sk_sign_response**);
typedef int (*sk_load_resident_keys_fn)(const char*, struct sk_option**, struct sk_resident_key***, size_t*);

#ifdef __cplusplus
}
#endif

#endif /* TESSERA_FIDO_SK_API_H_ */
