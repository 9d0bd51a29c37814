// Fuzzes tessera-agent's parse of pcscd's reader list (the multi-string
// SCardListReaders returns; agent/src/daemon/readers.cc), and the match of a
// slot description against each reader name it yields. The input is the
// list as pcscd would hand it over; its first line is also used as a slot
// description.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "daemon/readers.h"

using namespace tessera::agent::daemon;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so that any read past the end is caught.
  char* copy = static_cast<char*>(std::malloc(size == 0 ? 1 : size));
  if (size > 0) std::memcpy(copy, data, size);
  auto list = parse_reader_list(std::span<const char>(copy, size));
  if (list.ok()) {
    if (list->names.size() > kMaxReaders) __builtin_trap();
    std::string_view whole(copy, size);
    std::string_view description = whole.substr(0, std::min<size_t>(whole.find('\n'), kSlotDescriptionBytes + 8));
    for (const auto& name : list->names) {
      if (name.empty() || name.size() > kMaxReaderNameBytes) __builtin_trap();
      for (char c : name) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
      }
      // A reader's own name, and its cut at 64 bytes, always name it.
      if (!slot_names_reader(name, name) && name.find_first_not_of(' ') != std::string::npos) __builtin_trap();
      if (name.size() > kSlotDescriptionBytes && name.substr(0, kSlotDescriptionBytes).find_first_not_of(' ') !=
                                                     std::string::npos &&
          !slot_names_reader(name.substr(0, kSlotDescriptionBytes), name)) {
        __builtin_trap();
      }
      (void)slot_names_reader(description, name);
      (void)describe({ReaderEvent::Kind::kCardRemoved, name, false});
    }
  }
  std::free(copy);
  return 0;
}
