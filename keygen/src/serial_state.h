// --serial-file: certificate serial numbers kept in a state file, so that a
// CA never issues the same serial twice, whatever runs at the same time or
// dies half-way.
//
// The file holds the next serial free to issue ("next 42", after an optional
// "#" comment line). A run takes an exclusive flock(2) on "<file>.lock" (a
// file never replaced, unlike the state file; it holds the PID of the run
// that has it) and keeps it until it ends, so concurrent runs take turns.
// Serials are reserved in blocks: before the first serial of a block is
// issued, the end of the block is written as the next free serial, durably
// (temporary file, fsync, rename, fsync of the directory). A run that dies
// therefore leaves a state above every serial it issued (it may skip the rest
// of its block); a run that ends normally records the true next serial, so
// nothing is skipped. Serials only ever increase across runs.
//
// A state file that is a symbolic link is followed: the state is written
// beside its target, and the lock is the target's. A missing state file is
// an error unless the run starts a new serial space (--new-serial-file), so a
// mistyped or lost file never silently starts again at 1. The file keeps its
// mode and owner.
#ifndef TESSERA_KEYGEN_SERIAL_STATE_H_
#define TESSERA_KEYGEN_SERIAL_STATE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/key/error.h"

namespace tessera::keygen {

// Most serials one reservation takes: what a crash may skip, against one
// durable write per block.
inline constexpr uint64_t kMaxSerialBlock = 65536;
// The first serial of a new serial space.
inline constexpr uint64_t kFirstSerial = 1;

// Parses a state file's text: the next serial (at least 1). Errors say what
// is wrong and never suggest removing the file (that would restart at 1).
key::Result<uint64_t> parse_serial_state(std::string_view text);

class SerialState {
 public:
  enum class Mode {
    kExisting,  // the state file must exist
    kCreate,    // start a new serial space: the file must not exist yet
  };
  // Opens and locks the state of `path`, waiting for another run that holds
  // it (saying so after a second). `expected` is how many serials this run
  // will probably take (the block size, up to kMaxSerialBlock). No serial at
  // or below `issued_at_least` (the highest serial the issuance log records)
  // is handed out. Errors name the file and the problem.
  static key::Result<SerialState> open(const std::string& path, uint64_t expected, Mode mode,
                                       uint64_t issued_at_least = 0);

  SerialState(SerialState&& other) noexcept;
  SerialState& operator=(SerialState&&) = delete;
  SerialState(const SerialState&) = delete;
  ~SerialState();  // releases the lock (without recording: call finish())

  // The next serial, reserving a new block first when the current one is used up.
  key::Result<uint64_t> next();
  // Records the true next serial (durably) if it is below the reservation.
  key::Status finish();

 private:
  SerialState(std::string path, int lock_fd, uint64_t next, uint64_t reserved_end, uint64_t expected)
      : path_(std::move(path)), lock_fd_(lock_fd), next_(next), reserved_end_(reserved_end), expected_(expected) {}
  key::Status write(uint64_t next_free);


  std::string path_;  // the state file itself (a symbolic link followed)
  int lock_fd_ = -1;
  uint64_t next_;          // the next serial to issue
  uint64_t reserved_end_;  // what the file says: every serial below it may have been issued
  uint64_t expected_;      // serials this run still expects to issue
  mode_t file_mode_ = 0600;        // kept from the existing file
  std::optional<uid_t> file_uid_;  // set when the file belongs to someone else (we run as root)
  gid_t file_gid_ = 0;
};

}  // namespace tessera::keygen

#endif  // TESSERA_KEYGEN_SERIAL_STATE_H_
