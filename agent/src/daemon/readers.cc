#include "daemon/readers.h"

#include <winscard.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "daemon/log.h"

namespace tessera::agent::daemon {

namespace {

using std::chrono::milliseconds;

// The pseudo-reader whose state changes when a reader is plugged in or out.
constexpr const char* kPnpReader = "\\\\?PnP?\\Notification";
// Pauses between attempts to reach pcscd: the first, and the longest.
constexpr milliseconds kFirstRetry{1000};
constexpr milliseconds kMaxRetry{10'000};
// A wait in SCardGetStatusChange ends after this even when nothing happens,
// so that a cancel that came between two waits cannot hold the thread long.
constexpr DWORD kWaitMs = 30'000;
// Without the PnP pseudo-reader, readers are listed again this often.
constexpr DWORD kWaitWithoutPnpMs = 2'000;
// How long stop() keeps cancelling before it leaves the thread behind.
constexpr milliseconds kStopGrace{2000};
constexpr milliseconds kCancelRepeat{20};
// Reading a reader list that grows between the size and the copy.
constexpr int kListAttempts = 4;
// More wake-ups than this in a second (a pcscd that reports changes without
// end) and the thread pauses a little between them.
constexpr int kMaxWakeupsPerSecond = 50;
constexpr milliseconds kFloodPause{100};

std::string pcsc_text(LONG rv) {
  switch (rv) {
    case SCARD_E_NO_SERVICE: return "the PC/SC service is not running";
    case SCARD_E_SERVICE_STOPPED: return "the PC/SC service stopped";
    case SCARD_F_COMM_ERROR: return "lost the connection to the PC/SC service";
    case SCARD_E_NO_READERS_AVAILABLE: return "no readers";
    case SCARD_E_READER_UNAVAILABLE: return "a reader is unavailable";
    case SCARD_E_INVALID_HANDLE: return "the PC/SC context is no longer valid";
    case SCARD_E_NO_MEMORY: return "the PC/SC service is out of memory";
    default: break;
  }
  char text[32];
  std::snprintf(text, sizeof text, "PC/SC error 0x%08lx", static_cast<unsigned long>(rv) & 0xffffffffUL);
  return text;
}

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

std::string_view trim_trailing_spaces(std::string_view text) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

}  // namespace

std::string describe(const ReaderEvent& event) {
  std::string what;
  switch (event.kind) {
    case ReaderEvent::Kind::kReaderAdded:
      what = event.card_present ? "plugged in, with a card" : "plugged in, no card";
      break;
    case ReaderEvent::Kind::kReaderRemoved: what = "unplugged"; break;
    case ReaderEvent::Kind::kCardInserted: what = "card inserted"; break;
    case ReaderEvent::Kind::kCardRemoved: what = "card removed"; break;
  }
  return "reader '" + event.reader + "': " + what;
}

key::Result<ReaderList> parse_reader_list(std::span<const char> bytes) {
  ReaderList list;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const char* start = bytes.data() + pos;
    const size_t remaining = bytes.size() - pos;
    const void* nul = std::memchr(start, '\0', remaining);
    if (nul == nullptr) {
      return key::Error(key::Errc::kTruncated, "a reader name in pcscd's reader list has no terminating NUL");
    }
    const auto length = static_cast<size_t>(static_cast<const char*>(nul) - start);
    pos += length + 1;
    if (length == 0) {  // the empty name that ends the list
      if (pos != bytes.size()) {
        return key::Error(key::Errc::kTrailingData, "pcscd's reader list has " + std::to_string(bytes.size() - pos) +
                                                        " bytes after its end");
      }
      return list;
    }
    std::string_view name(start, length);
    const bool usable = length <= kMaxReaderNameBytes && !has_control_characters(name) && name != kPnpReader &&
                        list.names.size() < kMaxReaders &&
                        std::find(list.names.begin(), list.names.end(), name) == list.names.end();
    if (usable) {
      list.names.emplace_back(name);
    } else {
      ++list.skipped;
    }
  }
  return list;
}

bool slot_names_reader(std::string_view slot_description, std::string_view reader) {
  slot_description = trim_trailing_spaces(slot_description);
  if (slot_description.empty()) return false;
  if (slot_description == trim_trailing_spaces(reader)) return true;
  return reader.size() > kSlotDescriptionBytes &&
         slot_description == trim_trailing_spaces(reader.substr(0, kSlotDescriptionBytes));
}

// ---------------------------------------------------------------------------

struct ReaderWatcher::Shared {
  explicit Shared(EventLoop& event_loop, Handler on_event) : loop(&event_loop), handler(std::move(on_event)) {}

  mutable std::mutex mu;
  std::condition_variable changed;
  bool stopping = false;                  // mu
  bool finished = false;                  // mu: the thread has ended
  std::optional<SCARDCONTEXT> context;    // mu: while established (stop() cancels it)
  ReadersSnapshot snapshot;               // mu
  EventLoop* loop;                        // mu: null once stopping, so nothing more is posted
  std::atomic<bool> delivering{true};     // read and cleared on the loop's thread
  Handler handler;                        // called on the loop's thread only
};

namespace {

// The watcher's thread: one pcscd connection after the other.
class Follower {
 public:
  explicit Follower(std::shared_ptr<ReaderWatcher::Shared> shared) : shared_(std::move(shared)) {}

  void run() {
    milliseconds delay = kFirstRetry;
    bool said_absent = false;
    while (!stopping()) {
      SCARDCONTEXT context = 0;
      LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context);
      if (rv != SCARD_S_SUCCESS) {
        publish(ReadersSnapshot::Service::kAbsent);
        if (!said_absent) {
          log_verbose("reader events: cannot reach pcscd (" + pcsc_text(rv) +
                      "); trying again in the background, and tokens are polled meanwhile");
          said_absent = true;
        }
        if (!pause(delay)) break;
        delay = std::min(delay * 2, kMaxRetry);
        continue;
      }
      {
        std::lock_guard lock(shared_->mu);
        if (shared_->stopping) {
          SCardReleaseContext(context);
          break;
        }
        shared_->context = context;
      }
      said_absent = false;
      log_verbose("reader events: following PC/SC readers and cards through pcscd");
      const bool lost = follow(context);
      {
        std::lock_guard lock(shared_->mu);
        shared_->context.reset();
      }
      SCardReleaseContext(context);
      // Without pcscd no PC/SC token can be used: the readers it served
      // count as unplugged until it is back.
      for (const auto& reader : readers_) {
        if (reader.reported) post({ReaderEvent::Kind::kReaderRemoved, reader.name, false});
      }
      readers_.clear();
      publish(ReadersSnapshot::Service::kAbsent);
      if (!lost) break;
      delay = kFirstRetry;
      if (!pause(delay)) break;
    }
    std::lock_guard lock(shared_->mu);
    shared_->finished = true;
    shared_->changed.notify_all();
  }

 private:
  struct Reader {
    std::string name;
    DWORD state = SCARD_STATE_UNAWARE;  // as pcscd last reported it (without CHANGED)
    bool card = false;
    bool reported = false;  // the loop has heard of this reader
  };

  struct Listing {
    LONG rv = SCARD_S_SUCCESS;
    std::optional<ReaderList> list;
    std::string malformed;  // set when pcscd's answer made no sense
  };

  bool stopping() const {
    std::lock_guard lock(shared_->mu);
    return shared_->stopping;
  }

  // Sleeps unless stop() comes first; false if it did.
  bool pause(milliseconds how_long) {
    std::unique_lock lock(shared_->mu);
    return !shared_->changed.wait_for(lock, how_long, [this] { return shared_->stopping; });
  }

  void post(ReaderEvent event) {
    std::lock_guard lock(shared_->mu);
    if (shared_->loop == nullptr) return;
    shared_->loop->post([shared = shared_, event = std::move(event)] {
      if (shared->delivering.load()) shared->handler(event);
    });
  }

  void publish(ReadersSnapshot::Service service) {
    ReadersSnapshot snapshot;
    snapshot.service = service;
    for (const auto& reader : readers_) {
      if (reader.reported) snapshot.readers.push_back(ReaderInfo{reader.name, reader.card});
    }
    std::lock_guard lock(shared_->mu);
    if (!shared_->stopping) shared_->snapshot = std::move(snapshot);
  }

  static Listing list_readers(SCARDCONTEXT context) {
    Listing out;
    auto no_readers = [&out] {
      out.rv = SCARD_S_SUCCESS;
      out.list = ReaderList{};
      return out;
    };
    for (int attempt = 0; attempt < kListAttempts; ++attempt) {
      DWORD size = 0;
      out.rv = SCardListReaders(context, nullptr, nullptr, &size);
      if (out.rv == SCARD_E_NO_READERS_AVAILABLE || (out.rv == SCARD_S_SUCCESS && size == 0)) return no_readers();
      if (out.rv != SCARD_S_SUCCESS) return out;
      if (size > kMaxReaderListBytes) {
        out.malformed = "pcscd announced a reader list of " + std::to_string(size) + " bytes (at most " +
                        std::to_string(kMaxReaderListBytes) + " are read)";
        return out;
      }
      std::vector<char> buffer(size);
      DWORD filled = size;
      out.rv = SCardListReaders(context, nullptr, buffer.data(), &filled);
      if (out.rv == SCARD_E_INSUFFICIENT_BUFFER) continue;  // a reader came meanwhile
      if (out.rv == SCARD_E_NO_READERS_AVAILABLE) return no_readers();
      if (out.rv != SCARD_S_SUCCESS) return out;
      if (filled > size) {
        out.malformed = "pcscd claimed " + std::to_string(filled) + " bytes of readers in a buffer of " +
                        std::to_string(size);
        return out;
      }
      auto parsed = parse_reader_list(std::span<const char>(buffer.data(), filled));
      if (!parsed.ok()) {
        out.malformed = parsed.error().message();
        return out;
      }
      out.list = std::move(*parsed);
      return out;
    }
    out.malformed = "the reader list kept changing while it was read";
    return out;
  }

  // Brings readers_ in line with pcscd's list: readers gone are reported
  // unplugged; new ones are reported after their first state arrives.
  void apply_list(const ReaderList& list) {
    std::vector<Reader> kept;
    for (auto& reader : readers_) {
      if (std::find(list.names.begin(), list.names.end(), reader.name) != list.names.end()) {
        kept.push_back(std::move(reader));
      } else if (reader.reported) {
        post({ReaderEvent::Kind::kReaderRemoved, reader.name, false});
      }
    }
    for (const auto& name : list.names) {
      auto known = std::find_if(kept.begin(), kept.end(), [&](const Reader& r) { return r.name == name; });
      if (known == kept.end()) kept.push_back(Reader{name});
    }
    readers_ = std::move(kept);
    if (list.skipped != skipped_) {
      skipped_ = list.skipped;
      if (skipped_ > 0) {
        log_verbose("reader events: " + std::to_string(skipped_) +
                    " readers of pcscd are not followed (a name too long, with control characters or repeated, "
                    "or more than " + std::to_string(kMaxReaders) + " readers)");
      }
    }
  }

  // A reader's new state; true if the reader is gone (list again).
  bool apply_state(Reader& reader, DWORD event_state) {
    const DWORD previous = reader.state;
    reader.state = event_state & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
    if (event_state & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE)) return true;
    const bool card = (event_state & SCARD_STATE_PRESENT) != 0;
    if (!reader.reported) {
      reader.reported = true;
      reader.card = card;
      post({ReaderEvent::Kind::kReaderAdded, reader.name, card});
      return false;
    }
    // pcscd counts card events in the upper 16 bits: a card still present
    // under a new count was pulled out and put back (or swapped) between
    // two looks.
    const bool swapped = reader.card && card && (previous >> 16) != (event_state >> 16);
    if (swapped) {
      post({ReaderEvent::Kind::kCardRemoved, reader.name, false});
      post({ReaderEvent::Kind::kCardInserted, reader.name, true});
    } else if (card != reader.card) {
      post({card ? ReaderEvent::Kind::kCardInserted : ReaderEvent::Kind::kCardRemoved, reader.name, card});
    }
    reader.card = card;
    return false;
  }

  // Keeps a pcscd that reports changes without end from making this thread
  // (and the loop it posts to) spin.
  void pace_wakeups() {
    auto now = std::chrono::steady_clock::now();
    if (now - window_start_ > std::chrono::seconds(1)) {
      window_start_ = now;
      wakeups_ = 0;
    }
    if (++wakeups_ > kMaxWakeupsPerSecond) (void)pause(kFloodPause);
  }

  // Follows readers and cards on one connection; true when the connection
  // was lost, false when stop() ended it.
  bool follow(SCARDCONTEXT context) {
    std::optional<DWORD> pnp_state;
    bool pnp_works = true;
    bool relist = true;
    while (!stopping()) {
      if (relist) {
        Listing listing = list_readers(context);
        if (!listing.malformed.empty()) {
          log_error("reader events: " + listing.malformed + "; connecting to pcscd again");
          return true;
        }
        if (listing.rv != SCARD_S_SUCCESS) {
          log_verbose("reader events: " + pcsc_text(listing.rv) + "; connecting to pcscd again");
          return true;
        }
        apply_list(*listing.list);
        if (!pnp_state) {
          pnp_state = static_cast<DWORD>((listing.list->names.size() + listing.list->skipped) << 16);
        }
        relist = false;
      }
      std::vector<SCARD_READERSTATE> states(1 + readers_.size());
      states[0].szReader = kPnpReader;
      states[0].dwCurrentState = *pnp_state;
      for (size_t i = 0; i < readers_.size(); ++i) {
        states[i + 1].szReader = readers_[i].name.c_str();
        states[i + 1].dwCurrentState = readers_[i].state;
      }
      const DWORD timeout = pnp_works ? kWaitMs : kWaitWithoutPnpMs;
      LONG rv = SCardGetStatusChange(context, timeout, states.data(), static_cast<DWORD>(states.size()));
      pace_wakeups();
      if (rv == SCARD_E_TIMEOUT) {
        relist = !pnp_works;
        continue;
      }
      if (rv == SCARD_E_CANCELLED) continue;  // stop() cancels; the loop's test sees it
      if (rv == SCARD_E_UNKNOWN_READER) {
        relist = true;
        continue;
      }
      if (rv != SCARD_S_SUCCESS) {
        log_verbose("reader events: " + pcsc_text(rv) + "; connecting to pcscd again");
        return true;
      }
      const DWORD pnp = states[0].dwEventState;
      if (pnp & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE)) {
        if (pnp_works) log_verbose("reader events: pcscd has no reader plug-and-play notification; polling the list");
        pnp_works = false;
      }
      if (pnp & SCARD_STATE_CHANGED) {
        pnp_state = pnp & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
        relist = true;
      }
      for (size_t i = 0; i < readers_.size(); ++i) {
        if (apply_state(readers_[i], states[i + 1].dwEventState)) relist = true;
      }
      publish(ReadersSnapshot::Service::kRunning);
    }
    return false;
  }

  std::shared_ptr<ReaderWatcher::Shared> shared_;
  std::vector<Reader> readers_;  // in pcscd's order
  size_t skipped_ = 0;
  std::chrono::steady_clock::time_point window_start_{};
  int wakeups_ = 0;
};

}  // namespace

ReaderWatcher::ReaderWatcher(EventLoop& loop, Handler on_event)
    : shared_(std::make_shared<Shared>(loop, std::move(on_event))) {}

ReaderWatcher::~ReaderWatcher() { stop(); }

void ReaderWatcher::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->stopping) return;
    shared_->snapshot.service = ReadersSnapshot::Service::kAbsent;  // until pcscd answers
  }
  thread_ = std::thread([shared = shared_] { Follower(shared).run(); });
}

void ReaderWatcher::stop() {
  shared_->delivering.store(false);
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
    shared_->loop = nullptr;
    shared_->snapshot = ReadersSnapshot{};
  }
  shared_->changed.notify_all();
  if (!thread_.joinable()) return;
  // The thread may be between two waits when a cancel arrives, and a
  // cancel outside a wait is lost: repeat it until the thread has ended.
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  std::unique_lock lock(shared_->mu);
  while (!shared_->finished) {
    if (shared_->context) SCardCancel(*shared_->context);
    if (std::chrono::steady_clock::now() >= deadline) break;
    shared_->changed.wait_for(lock, kCancelRepeat, [this] { return shared_->finished; });
  }
  const bool finished = shared_->finished;
  lock.unlock();
  if (finished) {
    thread_.join();
  } else {
    // pcscd does not answer: leave the thread to end on its own. It holds
    // its own reference to what it uses and posts nothing more.
    log_error("reader events: pcscd did not let the watcher stop in time; leaving it behind");
    thread_.detach();
  }
}

ReadersSnapshot ReaderWatcher::snapshot() const {
  std::lock_guard lock(shared_->mu);
  return shared_->snapshot;
}

}  // namespace tessera::agent::daemon
