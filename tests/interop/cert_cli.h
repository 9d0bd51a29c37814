// Helpers shared by the certificate tests of tessera-keygen (cert_*_test.cc):
// running both programs, making keys, reading certificates back.
#ifndef TESSERA_TESTS_INTEROP_CERT_CLI_H_
#define TESSERA_TESTS_INTEROP_CERT_CLI_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tessera/key/cert.h"
#include "tessera/key/encoding.h"
#include "tessera/key/format.h"
#include "tessera/key/key.h"
#include "test_support.h"

namespace tessera::certtest {

using test::CommandResult;

// Both programs run in UTC, so that -V and -L agree whatever the machine's zone.
inline const std::vector<std::string> kEnv = {"TZ=UTC"};

inline CommandResult tessera_keygen(std::vector<std::string> args, const std::string& input = {},
                                    std::vector<std::string> env = kEnv) {
  args.insert(args.begin(), test::tessera_bin("tessera-keygen"));
  return test::run(args, input, env);
}

inline CommandResult ssh_keygen(std::vector<std::string> args, const std::string& input = {},
                                std::vector<std::string> env = kEnv) {
  args.insert(args.begin(), "ssh-keygen");
  return test::run(args, input, env);
}

// ssh-keygen ends its messages with "\r\n", tessera-keygen with "\n".
inline std::string without_cr(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  return s;
}

// A fresh key pair made by ssh-keygen; returns the private key's path.
inline std::string make_key(const test::TempDir& dir, const std::string& name, const std::string& type,
                            const std::string& bits = {}) {
  std::vector<std::string> args = {"-q", "-t", type, "-N", "", "-C", name + " comment", "-f", dir.file(name)};
  if (!bits.empty()) {
    args.push_back("-b");
    args.push_back(bits);
  }
  CommandResult r = ssh_keygen(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir.file(name);
}

// Copies a public key file to dir/name.pub (so that each signing writes its own certificate).
inline std::string copy_pub(const test::TempDir& dir, const std::string& from, const std::string& name) {
  std::string to = dir.file(name + ".pub");
  test::write_file(to, test::read_file(from), 0644);
  return to;
}

// The certificate in a -cert.pub file.
inline key::Certificate read_cert(const std::string& path) {
  std::string text = test::read_file(path);
  size_t a = text.find(' ');
  size_t b = text.find_first_of(" \n", a + 1);
  auto blob = key::base64_decode(text.substr(a + 1, b - a - 1));
  if (!blob.ok()) {
    ADD_FAILURE() << path << ": not base64";
    std::abort();
  }
  auto cert = key::Certificate::from_blob(*blob);
  if (!cert.ok()) {
    ADD_FAILURE() << path << ": " << cert.error().message();
    std::abort();
  }
  return std::move(cert).value();
}

// The line of `text` that starts (after blanks) with `prefix`, or "".
inline std::string line_with(const std::string& text, const std::string& prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    size_t start = line.find_first_not_of(' ');
    if (start != std::string::npos && line.compare(start, prefix.size(), prefix) == 0) return line;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return {};
}

}  // namespace tessera::certtest

#endif  // TESSERA_TESTS_INTEROP_CERT_CLI_H_
