#include "softhsm_tokens.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>

#include "test_support.h"

namespace tessera::test {

std::string softhsm_missing() {
  if (!have_program("softhsm2-util") || !std::filesystem::exists(kSoftHsmModule) || !have_program("pkcs11-tool")) {
    return "SoftHSM2 or OpenSC is not installed";
  }
  return {};
}

std::string copy_fixture_tokens(const std::string& dir) {
  static std::once_flag made_once;
  static bool made = false;
  const std::string fixture = std::string(TESSERA_BIN_DIR) + "/../softhsm-tokens";
  std::call_once(made_once, [&] {
    std::filesystem::create_directories(fixture);
    auto result = run({"flock", fixture + ".lock", std::string(TESSERA_SOURCE_DIR) + "/softhsm-fixtures/make-tokens.sh",
                       fixture});
    made = result.exit_code == 0;
    if (!made) ADD_FAILURE() << "make-tokens.sh: " << result.out << result.err;
  });
  if (!made) return {};
  std::filesystem::copy(fixture + "/tokens", dir + "/tokens", std::filesystem::copy_options::recursive);
  const std::string conf = dir + "/softhsm2.conf";
  write_file(conf, "directories.tokendir = " + dir + "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n");
  return conf;
}

}  // namespace tessera::test
