// Fuzzes tessera-keygen's issuance log reader (keygen/src/issuance_log.cc):
// the input is a whole log file, read as --revoke-from-log reads it (through
// a memfd, so the file reading and line splitting run too). Every line is
// either a record or a reported problem; and a record written by the
// writer's own JSON escaping reads back with the same key id (and the
// members --import-log reads: principals, type, validity, time of issue).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "issuance_log.h"

using namespace tessera::keygen;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = ::memfd_create("issuance-log", MFD_CLOEXEC);
  if (fd < 0) return 0;
  if (::write(fd, data, size) == static_cast<ssize_t>(size)) {
    auto contents = read_issuance_log("/proc/self/fd/" + std::to_string(fd));
    if (contents.ok() && contents->records.size() + contents->problems.size() > size) __builtin_trap();
  }
  ::close(fd);

  // Any bytes as a key id make a record the reader takes (invalid UTF-8
  // becomes U+FFFD), and what it reads back goes round exactly.
  auto record_with = [](std::string_view id) {
    return parse_issuance_record("{\"serial\":7,\"key_id\":" + json_string(id) +
                                 ",\"ca_fingerprint\":\"SHA256:x\"}");
  };
  auto record = record_with(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!record || record->serial != 7) __builtin_trap();
  auto again = record_with(record->key_id);
  if (!again || again->key_id != record->key_id) __builtin_trap();

  // The members --import-log reads go round too: the bytes as principals.
  const std::string principal = json_string(std::string_view(reinterpret_cast<const char*>(data), size / 2));
  auto full = parse_issuance_record("{\"serial\":1,\"key_id\":\"k\",\"principals\":[" + principal + "," + principal +
                                    "],\"type\":\"host\",\"valid_after\":5,\"valid_before\":18446744073709551615,"
                                    "\"ca_fingerprint\":\"SHA256:x\",\"issued_at\":9}");
  if (!full || full->principals.size() != 2 || full->principals[0] != full->principals[1] || full->type != "host" ||
      full->valid_after != 5 || full->valid_before != UINT64_MAX || full->issued_at != 9) {
    __builtin_trap();
  }
  return 0;
}
