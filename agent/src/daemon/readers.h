// PC/SC reader and card events, followed through pcsc-lite (pcscd) on a
// thread of their own and handed to the event loop, so that a card pulled
// out hides its token's keys at once and a card put in shows them at once.
//
// The thread waits in SCardGetStatusChange on every reader plus the
// "\\?PnP?\Notification" pseudo-reader (readers plugged in and out). It never
// blocks the loop: events reach it through EventLoop::post. pcscd may be
// missing at start (the thread tries again, 1 s then up to every 10 s,
// quietly), killed or restarted (the thread connects again; the readers it
// knew count as unplugged meanwhile), and stop() ends the wait at once
// (SCardCancel).
//
// Everything pcscd says is untrusted: reader lists are parsed with exact
// bounds, names are capped in length and number, and a reader name with
// control characters is ignored.
#ifndef TESSERA_AGENT_DAEMON_READERS_H_
#define TESSERA_AGENT_DAEMON_READERS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "daemon/event_loop.h"
#include "tessera/key/error.h"

namespace tessera::agent::daemon {

// Longest reader name taken from pcscd (pcsc-lite's MAX_READERNAME is 128,
// with the terminating NUL).
inline constexpr size_t kMaxReaderNameBytes = 127;
// Most readers followed at once (pcsc-lite itself serves 16).
inline constexpr size_t kMaxReaders = 64;
// Largest reader list (SCardListReaders' multi-string) accepted from pcscd.
inline constexpr size_t kMaxReaderListBytes = 64 * 1024;
// CK_SLOT_INFO.slotDescription is 64 bytes: a longer reader name is cut there.
inline constexpr size_t kSlotDescriptionBytes = 64;

struct ReaderInfo {
  std::string name;
  bool card_present = false;
};

// What the watcher knows now, for status reports.
struct ReadersSnapshot {
  enum class Service { kNotWatched, kRunning, kAbsent } service = Service::kNotWatched;
  std::vector<ReaderInfo> readers;
};

struct ReaderEvent {
  enum class Kind { kReaderAdded, kReaderRemoved, kCardInserted, kCardRemoved };
  Kind kind = Kind::kReaderAdded;
  std::string reader;
  bool card_present = false;  // after the event (a removed reader holds no card)
};

// "reader 'X': card inserted", for logs.
std::string describe(const ReaderEvent& event);

// A reader list as SCardListReaders returns it: NUL-terminated names, then
// an empty name (a list that ends right after a name's NUL is taken too).
// Fails (kMalformed) on a name without its NUL or bytes after the final
// empty name. Names that are too long, hold control characters, repeat, or
// come after kMaxReaders are left out and counted in `skipped`.
struct ReaderList {
  std::vector<std::string> names;
  size_t skipped = 0;
};
key::Result<ReaderList> parse_reader_list(std::span<const char> bytes);

// Whether a PKCS#11 slot description (trailing spaces removed, as the helper
// reports it) names this reader: the same text, or the reader's name cut at
// the 64 bytes of CK_SLOT_INFO.slotDescription (trailing spaces trimmed).
bool slot_names_reader(std::string_view slot_description, std::string_view reader);

class ReaderWatcher {
 public:
  // on_event runs on the loop's thread, never after stop().
  using Handler = std::function<void(const ReaderEvent&)>;

  ReaderWatcher(EventLoop& loop, Handler on_event);
  // stop().
  ~ReaderWatcher();
  ReaderWatcher(const ReaderWatcher&) = delete;
  ReaderWatcher& operator=(const ReaderWatcher&) = delete;

  // Starts the thread (once; after any fork). Loop thread.
  void start();
  // Ends the thread: cancels its wait and joins it. Events not yet handled
  // are dropped. Loop thread; safe to call twice.
  void stop();

  // Thread-safe.
  ReadersSnapshot snapshot() const;

  struct Shared;  // between the loop and the thread

 private:
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace tessera::agent::daemon

#endif  // TESSERA_AGENT_DAEMON_READERS_H_
