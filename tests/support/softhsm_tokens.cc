#include "softhsm_tokens.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
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
  // Under the fixture's lock (shared): another test process's make-tokens.sh
  // logs in to these tokens, and SoftHSM2 may rewrite a token file then; a
  // copy taken meanwhile can hold a torn file, which SoftHSM2 skips ("token
  // not present").
  const int lock = ::open((fixture + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock >= 0) {
    while (::flock(lock, LOCK_SH) != 0 && errno == EINTR) {
    }
  }
  std::filesystem::copy(fixture + "/tokens", dir + "/tokens", std::filesystem::copy_options::recursive);
  if (lock >= 0) ::close(lock);
  const std::string conf = dir + "/softhsm2.conf";
  write_file(conf, "directories.tokendir = " + dir + "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n");
  return conf;
}

}  // namespace tessera::test
