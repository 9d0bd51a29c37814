// Helpers for tests: temporary directories, running programs, files.
#ifndef TESSERA_TESTS_SUPPORT_TEST_SUPPORT_H_
#define TESSERA_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <filesystem>
#include <string>
#include <vector>

namespace tessera::test {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 if the program did not exit normally
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) with stdin fed from `input`, stdout and
// stderr captured separately. extra_env entries ("NAME=value") are added to
// the environment. Never uses a shell.
CommandResult run(const std::vector<std::string>& argv, const std::string& input = {},
                  const std::vector<std::string>& extra_env = {});

// Path of a tessera program in the build tree ("tessera-keygen").
std::string tessera_bin(const std::string& name);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& contents, unsigned mode = 0600);

// True if a program is found in PATH.
bool have_program(const std::string& name);

}  // namespace tessera::test

#endif  // TESSERA_TESTS_SUPPORT_TEST_SUPPORT_H_
