// The SoftHSM2 tokens of softhsm-fixtures/ for tests: made once per build
// tree (the script is idempotent; flock keeps parallel test processes from
// racing on it), then copied for each test, because wrong PINs change a
// token's files and tests run in parallel.
#ifndef TESSERA_TESTS_SUPPORT_SOFTHSM_TOKENS_H_
#define TESSERA_TESTS_SUPPORT_SOFTHSM_TOKENS_H_

#include <string>

namespace tessera::test {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr const char* kFixturePin = "1234";

// Why SoftHSM2 tests cannot run here ("" if they can).
std::string softhsm_missing();

// Copies the fixture tokens into `dir`/tokens and writes `dir`/softhsm2.conf
// for them; returns that file's path (for SOFTHSM2_CONF). Empty on failure,
// with a test failure recorded.
std::string copy_fixture_tokens(const std::string& dir);

}  // namespace tessera::test

#endif  // TESSERA_TESTS_SUPPORT_SOFTHSM_TOKENS_H_
