// Fuzzes tessera-keygen's issuance log reader (keygen/src/issuance_log.cc):
// the input is a whole log file, read as --revoke-from-log reads it (through
// a memfd, so the file reading and line splitting run too). Every line is
// either a record or a reported problem; and a record written by the
// writer's own JSON escaping reads back with the same key id.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

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

  // Any bytes as a key id survive the writer's escaping and the reader.
  const std::string id(reinterpret_cast<const char*>(data), size);
  const std::string line = "{\"serial\":7,\"key_id\":" + json_string(id) + ",\"ca_fingerprint\":\"SHA256:x\"}";
  auto record = parse_issuance_record(line);
  if (!record || record->serial != 7) __builtin_trap();
  if (json_string(record->key_id) != json_string(id)) __builtin_trap();
  return 0;
}
