// --serial-file: certificate serial numbers kept in a state file, so that a
// CA never issues the same serial twice, whatever runs at the same time or
// dies half-way.
//
// The file holds the next serial free to issue. A run takes an exclusive
// flock(2) on "<path>.lock" (a file never replaced, unlike the state file)
// and keeps it until it ends, so concurrent runs take turns. Serials are
// reserved in blocks: before the first serial of a block is issued, the end
// of the block is written as the next free serial, durably (temporary file,
// fsync, rename, fsync of the directory). A run that dies therefore leaves
// a state above every serial it issued (it may skip the rest of its block);
// a run that ends normally records the true next serial, so nothing is
// skipped. Serials only ever increase across runs.
#ifndef TESSERA_KEYGEN_SERIAL_STATE_H_
#define TESSERA_KEYGEN_SERIAL_STATE_H_

#include <cstdint>
#include <string>

#include "tessera/key/error.h"

namespace tessera::keygen {

// Most serials one reservation takes: what a crash may skip, against one
// durable write per block.
inline constexpr uint64_t kMaxSerialBlock = 65536;
// The first serial of a state file that does not exist yet.
inline constexpr uint64_t kFirstSerial = 1;

class SerialState {
 public:
  // Opens (creating if needed) and locks the state of `path`, waiting for
  // another run that holds it. `expected` is how many serials this run will
  // probably take (the block size, up to kMaxSerialBlock). Errors name the
  // file and the problem.
  static key::Result<SerialState> open(const std::string& path, uint64_t expected);

  SerialState(SerialState&& other) noexcept;
  SerialState& operator=(SerialState&&) = delete;
  SerialState(const SerialState&) = delete;
  ~SerialState();  // releases the lock (without recording: call finish())

  // The next serial, reserving a new block first when the current one is used up.
  key::Result<uint64_t> next();
  // Records the true next serial (durably) if it is below the reservation.
  key::Status finish();

 private:
  SerialState(std::string path, int lock_fd, uint64_t next, uint64_t expected)
      : path_(std::move(path)), lock_fd_(lock_fd), next_(next), reserved_end_(next), expected_(expected) {}
  key::Status write(uint64_t next_free);

  std::string path_;
  int lock_fd_ = -1;
  uint64_t next_;          // the next serial to issue
  uint64_t reserved_end_;  // what the file says: every serial below it may have been issued
  uint64_t expected_;      // serials this run still expects to issue
};

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_SERIAL_STATE_H_
