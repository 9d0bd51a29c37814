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
// the environment, replacing a variable of the same name. Never uses a shell.
CommandResult run(const std::vector<std::string>& argv, const std::string& input = {},
                  const std::vector<std::string>& extra_env = {});

// A program running in the background for the length of a test: stdin from
// /dev/null, stdout and stderr to files. Killed (SIGTERM, then SIGKILL) and
// reaped on destruction.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& log_path,
                    const std::vector<std::string>& extra_env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  bool started() const { return pid_ > 0; }
  int pid() const { return pid_; }
  // True while the process has not exited.
  bool running();
  // Sends SIGTERM and waits up to timeout_ms; returns the exit status (-1 if killed).
  int stop(int timeout_ms = 5000);
  // Sends a signal while the process runs; false if it has already ended.
  // (Never kill(pid(), ...): once the process is reaped pid() is -1, and
  // kill(-1, SIGKILL) would end every process of the user.)
  bool signal(int signal_number);

 private:
  int pid_ = -1;
  int status_ = -1;
};

// Polls until `path` accepts a Unix-socket connection, up to timeout_ms.
bool wait_for_unix_socket(const std::string& path, int timeout_ms = 5000);
// Polls until 127.0.0.1:port accepts a TCP connection, up to timeout_ms.
bool wait_for_tcp_port(int port, int timeout_ms = 5000);
// A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close).
int free_tcp_port();

// Path of a tessera program in the build tree ("tessera-keygen").
std::string tessera_bin(const std::string& name);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& contents, unsigned mode = 0600);
// Replaces the file whole (a temporary file renamed over it), so that a
// process reading it concurrently never sees it half written.
void write_file_atomically(const std::string& path, const std::string& contents);

// True if a program is found in PATH.
bool have_program(const std::string& name);

}  // namespace tessera::test

#endif  // TESSERA_TESTS_SUPPORT_TEST_SUPPORT_H_
