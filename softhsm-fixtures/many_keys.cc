// softhsm-many-keys MODULE TOKEN_LABEL PIN COUNT LABEL_LENGTH
//
// Generates COUNT ECDSA P-256 key pairs on the token with that label, in one
// session (pkcs11-tool would start a process per key): CKA_ID is the key's
// index as two bytes big-endian from 0x1000 on, CKA_LABEL "many-NNNN-" padded
// with 'x' to LABEL_LENGTH characters. For tests and benchmarks of tokens
// with hundreds of keys; the token must be initialised with that user PIN.
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what, CK_RV rv) {
  std::fprintf(stderr, "softhsm-many-keys: %s failed: 0x%lx\n", what, static_cast<unsigned long>(rv));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: softhsm-many-keys MODULE TOKEN_LABEL PIN COUNT LABEL_LENGTH\n");
    return 2;
  }
  const std::string token_label = argv[2];
  const std::string pin = argv[3];
  const long count = std::strtol(argv[4], nullptr, 10);
  const long label_length = std::strtol(argv[5], nullptr, 10);
  if (count <= 0 || count > 0xefff || label_length < 10 || label_length > 1024) {
    std::fprintf(stderr, "softhsm-many-keys: COUNT must be 1..61439 and LABEL_LENGTH 10..1024\n");
    return 2;
  }
  void* module = dlopen(argv[1], RTLD_NOW);
  if (module == nullptr) {
    std::fprintf(stderr, "softhsm-many-keys: %s\n", dlerror());
    return 1;
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(module, "C_GetFunctionList"));
  CK_FUNCTION_LIST_PTR p11 = nullptr;
  if (get_list == nullptr || get_list(&p11) != CKR_OK) return fail("C_GetFunctionList", CKR_GENERAL_ERROR);
  if (CK_RV rv = p11->C_Initialize(nullptr); rv != CKR_OK) return fail("C_Initialize", rv);

  CK_ULONG slot_count = 0;
  if (CK_RV rv = p11->C_GetSlotList(CK_TRUE, nullptr, &slot_count); rv != CKR_OK) return fail("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(slot_count);
  if (CK_RV rv = p11->C_GetSlotList(CK_TRUE, slots.data(), &slot_count); rv != CKR_OK) {
    return fail("C_GetSlotList", rv);
  }
  CK_SLOT_ID slot = 0;
  bool found = false;
  for (CK_ULONG i = 0; i < slot_count && !found; ++i) {
    CK_TOKEN_INFO info{};
    if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    std::string label(reinterpret_cast<const char*>(info.label), sizeof info.label);
    label.erase(label.find_last_not_of(' ') + 1);
    if (label == token_label) {
      slot = slots[i];
      found = true;
    }
  }
  if (!found) {
    std::fprintf(stderr, "softhsm-many-keys: no token labelled '%s'\n", token_label.c_str());
    return 1;
  }
  CK_SESSION_HANDLE session;
  if (CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session);
      rv != CKR_OK) {
    return fail("C_OpenSession", rv);
  }
  if (CK_RV rv = p11->C_Login(session, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(pin.data())),
                              pin.size());
      rv != CKR_OK) {
    return fail("C_Login", rv);
  }
  static const CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  CK_MECHANISM mechanism{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_BBOOL yes = CK_TRUE;
  for (long i = 0; i < count; ++i) {
    const unsigned id_value = 0x1000 + static_cast<unsigned>(i);
    CK_BYTE id[2] = {static_cast<CK_BYTE>(id_value >> 8), static_cast<CK_BYTE>(id_value)};
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "many-%04ld-", i);
    std::string label = prefix;
    label.resize(static_cast<size_t>(label_length), 'x');
    CK_ATTRIBUTE public_template[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256), sizeof kP256},
        {CKA_ID, id, sizeof id},
        {CKA_LABEL, label.data(), label.size()},
    };
    CK_ATTRIBUTE private_template[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_ID, id, sizeof id},
        {CKA_LABEL, label.data(), label.size()},
    };
    CK_OBJECT_HANDLE public_key, private_key;
    if (CK_RV rv = p11->C_GenerateKeyPair(session, &mechanism, public_template, 5, private_template, 6, &public_key,
                                          &private_key);
        rv != CKR_OK) {
      return fail("C_GenerateKeyPair", rv);
    }
  }
  p11->C_Logout(session);
  p11->C_CloseSession(session);
  p11->C_Finalize(nullptr);
  return 0;
}
