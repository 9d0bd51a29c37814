// tessera-p11-fault: a PKCS#11 module for tests. It forwards every call to a
// real module (SoftHSM2 by default) and, when told to through a control file,
// injects what SoftHSM2 cannot show: token removal and return, a PIN pad, PIN
// counter states up to a locked PIN, hangs, crashes and CKR_USER_NOT_LOGGED_IN.
// See README.md for the control keys.
//
// Session handles are the module's own (never reused), mapped to the real
// module's, so that a session opened before a removal stays dead even when
// the real module hands out the same number again.

#include <dlfcn.h>
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <winscard.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr const char* kDefaultModule = "/usr/lib/softhsm/libsofthsm2.so";
constexpr const char* kModuleEnv = "TESSERA_P11_FAULT_MODULE";
constexpr const char* kControlEnv = "TESSERA_P11_FAULT_CONTROL";
constexpr const char* kStateEnv = "TESSERA_P11_FAULT_STATE";
// A control file is small; anything larger is a mistake and is ignored.
constexpr size_t kMaxControlSize = 64 * 1024;
constexpr size_t kMaxStateSize = 64 * 1024;
// File timestamps advance in clock ticks of a few milliseconds, so a file
// written twice within one tick keeps its mtime. A file modified this
// recently is therefore always read again instead of trusting its stat.
constexpr long long kRecentlyModifiedNs = 500'000'000;
// How often a hang looks at the control file to see whether it was lifted.
constexpr auto kHangPollInterval = std::chrono::milliseconds(20);
// With reader=NAME, how long an answer of pcscd about the reader is reused
// before pcscd is asked again (each call asks otherwise).
constexpr auto kReaderStateLifetime = std::chrono::milliseconds(5);
// What a PC/SC module's slots report as their manufacturer (at most 32 bytes).
constexpr const char* kPcscSlotManufacturer = "tessera-p11-fault PC/SC";
// Longest reader name accepted in reader= (pcsc-lite's own limit).
constexpr size_t kMaxReaderName = 127;

void log_line(const char* fmt, const char* arg) {
  std::fprintf(stderr, "tessera-p11-fault: ");
  std::fprintf(stderr, fmt, arg);
  std::fprintf(stderr, "\n");
}

// ---------------------------------------------------------------------------
// Control file

struct Hang {
  bool forever = false;
  long long ms = 0;
  bool operator==(const Hang&) const = default;
};

struct Config {
  std::optional<CK_SLOT_ID> slot;  // token faults apply to this slot only
  bool removed = false;
  bool pinpad = false;
  std::optional<std::string> pinpad_pin;
  std::optional<unsigned long> pin_tries;
  bool count_low = false;
  bool pin_to_be_changed = false;
  std::map<std::string, Hang> hangs;
  std::set<std::string> crashes;
  std::set<std::string> garbage;
  std::map<std::string, bool> not_logged_in;  // function -> once
  // reader=NAME: a PC/SC module's slot. Its slotDescription is the reader's
  // name, and its token is present only while pcscd has a card in it.
  std::optional<std::string> reader;

  bool applies(CK_SLOT_ID s) const { return !slot || *slot == s; }
  bool applies(std::optional<CK_SLOT_ID> s) const { return !s || applies(*s); }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<bool> parse_bool(std::string_view v) {
  if (v == "1" || v == "yes" || v == "true" || v == "on") return true;
  if (v == "0" || v == "no" || v == "false" || v == "off" || v.empty()) return false;
  return std::nullopt;
}

std::optional<unsigned long long> parse_number(std::string_view v) {
  if (v.empty() || v.size() > 20) return std::nullopt;
  std::string s(v);
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || end == nullptr || *end != '\0' || s[0] == '-') return std::nullopt;
  return n;
}

// "C_Sign:5", "C_Sign:0.5", "C_Sign:forever".
std::optional<std::pair<std::string, Hang>> parse_hang(std::string_view item) {
  size_t colon = item.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string name(trim(item.substr(0, colon)));
  std::string arg(trim(item.substr(colon + 1)));
  Hang h;
  if (arg == "forever") {
    h.forever = true;
  } else {
    char* end = nullptr;
    double seconds = std::strtod(arg.c_str(), &end);
    if (arg.empty() || end == nullptr || *end != '\0' || !(seconds >= 0) || seconds > 86400) return std::nullopt;
    h.ms = static_cast<long long>(seconds * 1000.0);
  }
  if (name.empty()) return std::nullopt;
  return std::make_pair(name, h);
}

template <typename F>
void for_each_item(std::string_view value, F f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

Config parse_control(std::string_view text) {
  Config c;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    size_t eq = line.find('=');
    std::string key(trim(line.substr(0, eq)));
    std::string_view value = eq == std::string_view::npos ? std::string_view() : trim(line.substr(eq + 1));
    bool ok = true;
    if (key == "removed" || key == "pinpad" || key == "count_low" || key == "pin_to_be_changed") {
      auto b = parse_bool(value);
      ok = b.has_value();
      if (ok) {
        (key == "removed"     ? c.removed
         : key == "pinpad"    ? c.pinpad
         : key == "count_low" ? c.count_low
                              : c.pin_to_be_changed) = *b;
      }
    } else if (key == "slot") {
      auto n = parse_number(value);
      ok = n.has_value();
      if (ok) c.slot = static_cast<CK_SLOT_ID>(*n);
    } else if (key == "reader") {
      ok = !value.empty() && value.size() <= kMaxReaderName;
      if (ok) c.reader = std::string(value);
    } else if (key == "pinpad_pin") {
      c.pinpad_pin = std::string(value);
    } else if (key == "pin_tries") {
      auto n = parse_number(value);
      ok = n.has_value() && *n < 1000;
      if (ok) c.pin_tries = static_cast<unsigned long>(*n);
    } else if (key == "hang") {
      for_each_item(value, [&](std::string_view item) {
        auto h = parse_hang(item);
        if (h) c.hangs[h->first] = h->second;
        else ok = false;
      });
    } else if (key == "crash") {
      for_each_item(value, [&](std::string_view item) { c.crashes.emplace(item); });
    } else if (key == "garbage") {
      for_each_item(value, [&](std::string_view item) { c.garbage.emplace(item); });
    } else if (key == "not_logged_in") {
      for_each_item(value, [&](std::string_view item) {
        size_t colon = item.find(':');
        std::string name(trim(item.substr(0, colon)));
        std::string_view mode = colon == std::string_view::npos ? "always" : trim(item.substr(colon + 1));
        if (mode == "once" || mode == "always") c.not_logged_in[name] = mode == "once";
        else ok = false;
      });
    } else {
      log_line("ignoring unknown control key '%s'", key.c_str());
      continue;
    }
    if (!ok) log_line("ignoring bad control line '%s'", std::string(line).c_str());
  }
  return c;
}

// ---------------------------------------------------------------------------
// Module state

struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  long long mtime_ns = 0;
  long long ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

struct Session {
  CK_SESSION_HANDLE real = 0;
  CK_SLOT_ID slot = 0;
  bool dead = false;  // the token was removed while it was open
};

struct State {
  std::mutex mu;
  void* library = nullptr;
  CK_FUNCTION_LIST* real = nullptr;
  std::string control_path;
  std::string state_path;

  std::optional<FileIdentity> control_identity;
  std::string control_text;
  // The control file as written, and the configuration in force: the same,
  // but with removed=1 while reader= names a reader without a card.
  std::shared_ptr<const Config> parsed = std::make_shared<Config>();
  std::shared_ptr<const Config> config = std::make_shared<Config>();
  bool card_absent = false;  // reader= and pcscd has no card there (or cannot be asked)

  // pcscd, for reader=; only touched with mu held.
  std::optional<SCARDCONTEXT> pcsc;
  std::string reader_asked;
  std::chrono::steady_clock::time_point reader_asked_at{};
  bool reader_had_card = false;
  // pcscd's count of card events in the reader (the upper 16 bits of its
  // state), as last seen with a card in: a new count means the card was out
  // in between, even if no call came while it was.
  std::optional<DWORD> card_events;
  bool card_seen_out = false;  // a look found no card (or no pcscd) since then
  std::set<std::string> once_fired;  // not_logged_in "once" entries used up since the last change

  std::map<CK_SESSION_HANDLE, Session> sessions;
  CK_SESSION_HANDLE next_handle = 0x100;
};

// Never destroyed: a thread may still hang inside the module at exit.
State& state() {
  static State* s = new State;
  return *s;
}

long long to_ns(const struct timespec& t) { return static_cast<long long>(t.tv_sec) * 1'000'000'000LL + t.tv_nsec; }

// Reads at most `limit` bytes from the start of an open file; nullopt if it is larger.
std::optional<std::string> read_fd(int fd, size_t limit) {
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(text.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > limit) return std::nullopt;
  }
  return text;
}

std::optional<std::string> read_small_file(const std::string& path, size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  auto text = read_fd(fd, limit);
  ::close(fd);
  return text;
}

// Re-reads the control file if it changed; true if it did.
bool reread_control_locked(State& s) {
  if (s.control_path.empty()) return false;
  struct stat sb {};
  std::optional<FileIdentity> id;
  if (::stat(s.control_path.c_str(), &sb) == 0) {
    id = FileIdentity{sb.st_dev, sb.st_ino, sb.st_size, to_ns(sb.st_mtim), to_ns(sb.st_ctim)};
  }
  if (id == s.control_identity) {
    if (!id) return false;
    struct timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    if (to_ns(now) - id->mtime_ns > kRecentlyModifiedNs) return false;
  }
  std::string text;
  if (id) {
    auto t = read_small_file(s.control_path, kMaxControlSize);
    if (t) text = std::move(*t);
    else if (id->size > 0) log_line("cannot read control file %s (or it is too large)", s.control_path.c_str());
  }
  if (id == s.control_identity && text == s.control_text) return false;
  s.control_identity = id;
  s.control_text = std::move(text);
  s.parsed = std::make_shared<const Config>(parse_control(s.control_text));
  s.once_fired.clear();
  return true;
}

// What pcscd says of `reader`: whether a card is in it (no when pcscd
// cannot be asked, as a PC/SC module sees no token then), and whether the
// card was pulled out since the last look (a real card then forgets its
// sessions and login, whether or not anyone looked while it was out).
// Answers are reused for a few ms.
struct ReaderLook {
  bool card = false;
  bool was_out = false;
};

ReaderLook look_at_reader_locked(State& s, const std::string& reader) {
  const auto now = std::chrono::steady_clock::now();
  if (reader == s.reader_asked && now - s.reader_asked_at < kReaderStateLifetime) return {s.reader_had_card, false};
  if (reader != s.reader_asked) {
    s.card_events.reset();
    s.card_seen_out = false;
  }
  s.reader_asked = reader;
  s.reader_asked_at = now;
  s.reader_had_card = false;
  if (!s.pcsc) {
    SCARDCONTEXT context = 0;
    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context) != SCARD_S_SUCCESS) {
      s.card_seen_out = true;
      return {};
    }
    s.pcsc = context;
  }
  SCARD_READERSTATE state{};
  state.szReader = reader.c_str();
  state.dwCurrentState = SCARD_STATE_UNAWARE;
  LONG rv = SCardGetStatusChange(*s.pcsc, 0, &state, 1);
  if (rv != SCARD_S_SUCCESS) {
    // pcscd went away (or restarted): connect again next time.
    SCardReleaseContext(*s.pcsc);
    s.pcsc.reset();
    s.card_seen_out = true;
    return {};
  }
  const DWORD gone = SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE | SCARD_STATE_UNAVAILABLE;
  s.reader_had_card = (state.dwEventState & SCARD_STATE_PRESENT) && !(state.dwEventState & gone);
  ReaderLook look{s.reader_had_card, false};
  const DWORD events = state.dwEventState >> 16;
  if (!s.reader_had_card) {
    s.card_seen_out = true;
  } else {
    look.was_out = s.card_seen_out || (s.card_events && *s.card_events != events);
    s.card_seen_out = false;
    s.card_events = events;
  }
  return look;
}

// Re-reads the control file if it changed, and asks pcscd about reader=.
// Sessions on a token that the new configuration removes die here; their
// real sessions go to `to_close`.
void reload_locked(State& s, std::vector<CK_SESSION_HANDLE>& to_close) {
  const bool reread = reread_control_locked(s);
  ReaderLook look{true, false};
  if (s.parsed->reader) look = look_at_reader_locked(s, *s.parsed->reader);
  const bool absent = !look.card;
  if (!reread && absent == s.card_absent && !look.was_out) return;
  s.card_absent = absent;
  if (absent && !s.parsed->removed) {
    auto out = std::make_shared<Config>(*s.parsed);
    out->removed = true;
    s.config = std::move(out);
  } else {
    s.config = s.parsed;
  }
  if (s.config->removed || look.was_out) {
    for (auto& [handle, session] : s.sessions) {
      if (!session.dead && s.config->applies(session.slot)) {
        session.dead = true;
        to_close.push_back(session.real);
      }
    }
  }
}

// A removed token forgets its sessions and its login: close the real ones.
void close_real_sessions(State& s, const std::vector<CK_SESSION_HANDLE>& to_close) {
  for (CK_SESSION_HANDLE h : to_close) s.real->C_CloseSession(h);
}

std::shared_ptr<const Config> current_config() {
  State& s = state();
  std::vector<CK_SESSION_HANDLE> to_close;
  std::shared_ptr<const Config> config;
  {
    std::lock_guard lock(s.mu);
    reload_locked(s, to_close);
    config = s.config;
  }
  close_real_sessions(s, to_close);
  return config;
}

// Crashes and hangs, by function name. Returns true if the call hung.
bool inject(const char* function, std::optional<CK_SLOT_ID> slot) {
  auto config = current_config();
  if (!config->applies(slot)) return false;
  if (config->crashes.count(function) != 0) {
    log_line("crash injected in %s", function);
    std::abort();
  }
  if (config->garbage.count(function) != 0) {
    // What a module that prints to standard output does to a program whose
    // stdout is a pipe or socket (tessera-pkcs11-helper's is the agent).
    static const char kGarbage[] = "\xff\xff\xff\xfftessera-p11-fault: garbage on stdout\n";
    log_line("garbage written to stdout in %s", function);
    (void)!::write(1, kGarbage, sizeof kGarbage - 1);
  }
  auto it = config->hangs.find(function);
  if (it == config->hangs.end()) return false;
  const Hang hang = it->second;
  log_line("hanging in %s", function);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(hang.ms);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (!hang.forever && now >= deadline) break;
    auto step = kHangPollInterval;
    if (!hang.forever) {
      step = std::min(step, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(step);
    // Lifting or changing the hang in the control file ends it early.
    auto again = current_config();
    auto still = again->hangs.find(function);
    if (still == again->hangs.end() || !(still->second == hang)) break;
  }
  return true;
}

bool take_not_logged_in(const char* function, CK_SLOT_ID slot) {
  State& s = state();
  std::lock_guard lock(s.mu);
  const Config& c = *s.config;
  if (!c.applies(slot)) return false;
  auto it = c.not_logged_in.find(function);
  if (it == c.not_logged_in.end()) return false;
  if (!it->second) return true;
  return s.once_fired.insert(function).second;
}

struct Resolved {
  CK_SESSION_HANDLE real = 0;
  CK_SLOT_ID slot = 0;
};

CK_RV resolve(CK_SESSION_HANDLE handle, Resolved& out) {
  State& s = state();
  std::vector<CK_SESSION_HANDLE> to_close;
  CK_RV rv = CKR_OK;
  {
    std::lock_guard lock(s.mu);
    reload_locked(s, to_close);
    auto it = s.sessions.find(handle);
    if (it == s.sessions.end()) {
      rv = CKR_SESSION_HANDLE_INVALID;
    } else if (it->second.dead) {
      // While the token is out: "device removed"; once back, the old session stays invalid.
      rv = s.config->removed && s.config->applies(it->second.slot) ? CKR_DEVICE_REMOVED : CKR_SESSION_HANDLE_INVALID;
    } else {
      out = Resolved{it->second.real, it->second.slot};
    }
  }
  close_real_sessions(s, to_close);
  return rv;
}

// The common start of every call on a session: session check, crash, hang,
// and (unless the caller handles it) an injected CKR_USER_NOT_LOGGED_IN.
CK_RV enter_session(const char* function, CK_SESSION_HANDLE handle, Resolved& r, bool check_not_logged_in = true) {
  if (state().real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  CK_RV rv = resolve(handle, r);
  if (rv != CKR_OK) return rv;
  if (inject(function, r.slot)) {
    rv = resolve(handle, r);  // the token may have gone while the call hung
    if (rv != CKR_OK) return rv;
  }
  if (check_not_logged_in && take_not_logged_in(function, r.slot)) return CKR_USER_NOT_LOGGED_IN;
  return CKR_OK;
}

// Start of every call that names a slot: crash, hang, and token presence.
CK_RV enter_slot(const char* function, CK_SLOT_ID slot, bool needs_token) {
  if (state().real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  inject(function, slot);
  if (needs_token) {
    auto config = current_config();
    if (config->removed && config->applies(slot)) return CKR_TOKEN_NOT_PRESENT;
  }
  return CKR_OK;
}

// ---------------------------------------------------------------------------
// PIN counter, kept in a state file next to the control file so that it
// survives the process (a real card keeps its counter across restarts and
// removals). Lines: "SLOT START LEFT".

struct Counter {
  unsigned long start = 0;
  unsigned long left = 0;
};

std::map<CK_SLOT_ID, Counter> parse_counters(const std::string& text) {
  std::map<CK_SLOT_ID, Counter> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    unsigned long long slot = 0, start = 0, left = 0;
    if (std::sscanf(line.c_str(), "%llu %llu %llu", &slot, &start, &left) == 3) {
      out[static_cast<CK_SLOT_ID>(slot)] = Counter{static_cast<unsigned long>(start), static_cast<unsigned long>(left)};
    }
  }
  return out;
}

unsigned long counter_left(const std::map<CK_SLOT_ID, Counter>& counters, CK_SLOT_ID slot, unsigned long start) {
  auto it = counters.find(slot);
  // A different start value in the control file starts a fresh counter.
  if (it == counters.end() || it->second.start != start) return start;
  return std::min(it->second.left, start);
}

unsigned long pin_tries_left(CK_SLOT_ID slot, unsigned long start) {
  const std::string& path = state().state_path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return start;
  ::flock(fd, LOCK_SH);
  auto text = read_fd(fd, kMaxStateSize);
  ::close(fd);
  return text ? counter_left(parse_counters(*text), slot, start) : start;
}

// Applies a wrong (decrement) or right (reset) PIN to the counter.
void record_pin_result(CK_SLOT_ID slot, unsigned long start, bool correct) {
  const std::string& path = state().state_path;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    log_line("cannot write PIN counter state %s", path.c_str());
    return;
  }
  ::flock(fd, LOCK_EX);
  // A state file that is not ours (too large) starts over.
  auto text = read_fd(fd, kMaxStateSize);
  auto counters = parse_counters(text.value_or(""));
  unsigned long left = counter_left(counters, slot, start);
  counters[slot] = Counter{start, correct ? start : (left > 0 ? left - 1 : 0)};
  std::string out;
  for (const auto& [id, c] : counters) {
    out += std::to_string(id) + " " + std::to_string(c.start) + " " + std::to_string(c.left) + "\n";
  }
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
    log_line("cannot write PIN counter state %s", path.c_str());
  }
  ::close(fd);
}

// ---------------------------------------------------------------------------
// Functions with special behaviour

CK_FUNCTION_LIST g_list;

CK_RV w_GetFunctionList(CK_FUNCTION_LIST** list);

CK_RV w_Initialize(void* args) {
  State& s = state();
  if (s.real == nullptr) return CKR_GENERAL_ERROR;
  inject("C_Initialize", std::nullopt);
  return s.real->C_Initialize(args);
}

CK_RV w_Finalize(void* reserved) {
  State& s = state();
  if (s.real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  inject("C_Finalize", std::nullopt);
  CK_RV rv = s.real->C_Finalize(reserved);
  if (rv == CKR_OK) {
    std::lock_guard lock(s.mu);
    s.sessions.clear();
  }
  return rv;
}

CK_RV w_GetInfo(CK_INFO* info) {
  State& s = state();
  if (s.real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  inject("C_GetInfo", std::nullopt);
  return s.real->C_GetInfo(info);
}

CK_RV w_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID* list, CK_ULONG* count) {
  State& s = state();
  if (s.real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  inject("C_GetSlotList", std::nullopt);
  auto config = current_config();
  if (!token_present || !config->removed) return s.real->C_GetSlotList(token_present, list, count);
  if (count == nullptr) return CKR_ARGUMENTS_BAD;
  std::vector<CK_SLOT_ID> slots;
  CK_RV rv;
  do {
    CK_ULONG n = 0;
    rv = s.real->C_GetSlotList(CK_TRUE, nullptr, &n);
    if (rv != CKR_OK) return rv;
    slots.resize(n);
    rv = s.real->C_GetSlotList(CK_TRUE, slots.data(), &n);
    if (rv == CKR_OK) slots.resize(n);
  } while (rv == CKR_BUFFER_TOO_SMALL);
  if (rv != CKR_OK) return rv;
  std::erase_if(slots, [&](CK_SLOT_ID id) { return config->applies(id); });
  const CK_ULONG n = slots.size();
  if (list == nullptr) {
    *count = n;
    return CKR_OK;
  }
  if (*count < n) {
    *count = n;
    return CKR_BUFFER_TOO_SMALL;
  }
  std::copy(slots.begin(), slots.end(), list);
  *count = n;
  return CKR_OK;
}

// A PKCS#11 text field: the text, cut to the field, padded with spaces.
void pad_field(CK_UTF8CHAR* field, size_t size, std::string_view text) {
  std::memset(field, ' ', size);
  std::memcpy(field, text.data(), std::min(size, text.size()));
}

CK_RV w_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO* info) {
  CK_RV rv = enter_slot("C_GetSlotInfo", slot, false);
  if (rv != CKR_OK) return rv;
  rv = state().real->C_GetSlotInfo(slot, info);
  if (rv != CKR_OK || info == nullptr) return rv;
  // The token behind this module can always be pulled out.
  info->flags |= CKF_REMOVABLE_DEVICE;
  auto config = current_config();
  if (config->removed && config->applies(slot)) info->flags &= ~CKF_TOKEN_PRESENT;
  if (config->reader && config->applies(slot)) {
    // As a PC/SC module (OpenSC) describes a slot: the reader's name, cut
    // at the field's 64 bytes and padded with spaces.
    pad_field(info->slotDescription, sizeof info->slotDescription, *config->reader);
    pad_field(info->manufacturerID, sizeof info->manufacturerID, kPcscSlotManufacturer);
    info->flags |= CKF_HW_SLOT;
  }
  return rv;
}

CK_RV w_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO* info) {
  CK_RV rv = enter_slot("C_GetTokenInfo", slot, true);
  if (rv != CKR_OK) return rv;
  rv = state().real->C_GetTokenInfo(slot, info);
  if (rv != CKR_OK || info == nullptr) return rv;
  auto config = current_config();
  if (!config->applies(slot)) return rv;
  if (config->pinpad) info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
  if (config->pin_tries) {
    const unsigned long start = *config->pin_tries;
    const unsigned long left = pin_tries_left(slot, start);
    info->flags &= ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
    if (left < start) info->flags |= CKF_USER_PIN_COUNT_LOW;
    if (left == 1) info->flags |= CKF_USER_PIN_FINAL_TRY;
    if (left == 0) info->flags |= CKF_USER_PIN_LOCKED;
  }
  if (config->count_low) info->flags |= CKF_USER_PIN_COUNT_LOW;
  if (config->pin_to_be_changed) info->flags |= CKF_USER_PIN_TO_BE_CHANGED;
  return rv;
}

CK_RV w_WaitForSlotEvent(CK_FLAGS, CK_SLOT_ID*, void*) {
  if (state().real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  inject("C_WaitForSlotEvent", std::nullopt);
  // As SoftHSM2: whoever wants events polls C_GetSlotList / C_GetSlotInfo.
  return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV w_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE* list, CK_ULONG* count) {
  CK_RV rv = enter_slot("C_GetMechanismList", slot, true);
  return rv != CKR_OK ? rv : state().real->C_GetMechanismList(slot, list, count);
}

CK_RV w_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO* info) {
  CK_RV rv = enter_slot("C_GetMechanismInfo", slot, true);
  return rv != CKR_OK ? rv : state().real->C_GetMechanismInfo(slot, type, info);
}

CK_RV w_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR* pin, CK_ULONG pin_len, CK_UTF8CHAR* label) {
  CK_RV rv = enter_slot("C_InitToken", slot, true);
  return rv != CKR_OK ? rv : state().real->C_InitToken(slot, pin, pin_len, label);
}

CK_RV w_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void* application, CK_NOTIFY notify,
                    CK_SESSION_HANDLE* session) {
  CK_RV rv = enter_slot("C_OpenSession", slot, true);
  if (rv != CKR_OK) return rv;
  if (session == nullptr) return CKR_ARGUMENTS_BAD;
  State& s = state();
  CK_SESSION_HANDLE real = 0;
  rv = s.real->C_OpenSession(slot, flags, application, notify, &real);
  if (rv != CKR_OK) return rv;
  std::vector<CK_SESSION_HANDLE> to_close;
  {
    std::lock_guard lock(s.mu);
    reload_locked(s, to_close);
    if (s.config->removed && s.config->applies(slot)) {
      to_close.push_back(real);  // removed while it was being opened
      rv = CKR_TOKEN_NOT_PRESENT;
    } else {
      CK_SESSION_HANDLE handle = s.next_handle++;
      s.sessions[handle] = Session{real, slot, false};
      *session = handle;
    }
  }
  close_real_sessions(s, to_close);
  return rv;
}

CK_RV w_CloseSession(CK_SESSION_HANDLE handle) {
  State& s = state();
  if (s.real == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  Resolved r;
  CK_RV rv = resolve(handle, r);
  if (rv == CKR_OK) inject("C_CloseSession", r.slot);
  std::vector<CK_SESSION_HANDLE> to_close;
  {
    std::lock_guard lock(s.mu);
    reload_locked(s, to_close);
    auto it = s.sessions.find(handle);
    if (it == s.sessions.end()) return CKR_SESSION_HANDLE_INVALID;
    Session session = it->second;
    s.sessions.erase(it);
    if (session.dead) {
      // Its real session was closed at removal; forget the handle.
      rv = s.config->removed && s.config->applies(session.slot) ? CKR_DEVICE_REMOVED : CKR_SESSION_HANDLE_INVALID;
    } else {
      r.real = session.real;
      rv = CKR_OK;
    }
  }
  close_real_sessions(s, to_close);
  if (rv != CKR_OK) return rv;
  return s.real->C_CloseSession(r.real);
}

CK_RV w_CloseAllSessions(CK_SLOT_ID slot) {
  CK_RV rv = enter_slot("C_CloseAllSessions", slot, false);
  if (rv != CKR_OK) return rv;
  State& s = state();
  {
    std::lock_guard lock(s.mu);
    std::erase_if(s.sessions, [&](const auto& entry) { return entry.second.slot == slot; });
  }
  return s.real->C_CloseAllSessions(slot);
}

CK_RV w_Login(CK_SESSION_HANDLE handle, CK_USER_TYPE user, CK_UTF8CHAR* pin, CK_ULONG pin_len) {
  Resolved r;
  CK_RV rv = enter_session("C_Login", handle, r);
  if (rv != CKR_OK) return rv;
  auto config = current_config();
  const bool applies = config->applies(r.slot);
  const bool counted = applies && config->pin_tries && (user == CKU_USER || user == CKU_CONTEXT_SPECIFIC);
  if (counted && pin_tries_left(r.slot, *config->pin_tries) == 0) return CKR_PIN_LOCKED;
  std::string keypad_pin;
  if (applies && config->pinpad && pin == nullptr) {
    // What the user would type on the reader's keypad.
    if (!config->pinpad_pin) return CKR_FUNCTION_CANCELED;
    keypad_pin = *config->pinpad_pin;
    pin = reinterpret_cast<CK_UTF8CHAR*>(keypad_pin.data());
    pin_len = keypad_pin.size();
  }
  rv = state().real->C_Login(r.real, user, pin, pin_len);
  if (!keypad_pin.empty()) explicit_bzero(keypad_pin.data(), keypad_pin.size());
  if (counted && rv == CKR_PIN_INCORRECT) record_pin_result(r.slot, *config->pin_tries, false);
  if (counted && rv == CKR_OK) record_pin_result(r.slot, *config->pin_tries, true);
  return rv;
}

// An injected CKR_USER_NOT_LOGGED_IN ends the signing operation, as a real
// failure does: finish the real one and throw its result away.
template <typename Finish>
void end_real_sign(Finish finish) {
  CK_ULONG len = 0;
  if (finish(nullptr, &len) != CKR_OK) return;
  std::vector<CK_BYTE> scratch(std::max<CK_ULONG>(len, 1));
  finish(scratch.data(), &len);
}

CK_RV w_Sign(CK_SESSION_HANDLE handle, CK_BYTE* data, CK_ULONG data_len, CK_BYTE* sig, CK_ULONG* sig_len) {
  Resolved r;
  CK_RV rv = enter_session("C_Sign", handle, r, false);
  if (rv != CKR_OK) return rv;
  CK_FUNCTION_LIST* real = state().real;
  if (take_not_logged_in("C_Sign", r.slot)) {
    end_real_sign([&](CK_BYTE* out, CK_ULONG* len) { return real->C_Sign(r.real, data, data_len, out, len); });
    return CKR_USER_NOT_LOGGED_IN;
  }
  return real->C_Sign(r.real, data, data_len, sig, sig_len);
}

CK_RV w_SignFinal(CK_SESSION_HANDLE handle, CK_BYTE* sig, CK_ULONG* sig_len) {
  Resolved r;
  CK_RV rv = enter_session("C_SignFinal", handle, r, false);
  if (rv != CKR_OK) return rv;
  CK_FUNCTION_LIST* real = state().real;
  if (take_not_logged_in("C_SignFinal", r.slot)) {
    end_real_sign([&](CK_BYTE* out, CK_ULONG* len) { return real->C_SignFinal(r.real, out, len); });
    return CKR_USER_NOT_LOGGED_IN;
  }
  return real->C_SignFinal(r.real, sig, sig_len);
}

// ---------------------------------------------------------------------------
// Every other call on a session: checks and faults, then the real function.

template <size_t N>
struct FunctionName {
  char text[N];
  constexpr FunctionName(const char (&s)[N]) { std::copy_n(s, N, text); }
};

template <FunctionName Name, auto Member, typename Signature>
struct SessionCall;

template <FunctionName Name, auto Member, typename... Rest>
struct SessionCall<Name, Member, CK_RV (*)(CK_SESSION_HANDLE, Rest...)> {
  static CK_RV call(CK_SESSION_HANDLE handle, Rest... rest) {
    Resolved r;
    CK_RV rv = enter_session(Name.text, handle, r);
    if (rv != CKR_OK) return rv;
    auto function = state().real->*Member;
    if (function == nullptr) return CKR_FUNCTION_NOT_SUPPORTED;
    return function(r.real, rest...);
  }
};

#define TESSERA_FORWARD_SESSION(fn) \
  g_list.fn = &SessionCall<#fn, &CK_FUNCTION_LIST::fn, decltype(CK_FUNCTION_LIST::fn)>::call

void fill_function_list() {
  g_list.version.major = 2;
  g_list.version.minor = 40;
  g_list.C_Initialize = w_Initialize;
  g_list.C_Finalize = w_Finalize;
  g_list.C_GetInfo = w_GetInfo;
  g_list.C_GetFunctionList = w_GetFunctionList;
  g_list.C_GetSlotList = w_GetSlotList;
  g_list.C_GetSlotInfo = w_GetSlotInfo;
  g_list.C_GetTokenInfo = w_GetTokenInfo;
  g_list.C_GetMechanismList = w_GetMechanismList;
  g_list.C_GetMechanismInfo = w_GetMechanismInfo;
  g_list.C_InitToken = w_InitToken;
  TESSERA_FORWARD_SESSION(C_InitPIN);
  TESSERA_FORWARD_SESSION(C_SetPIN);
  g_list.C_OpenSession = w_OpenSession;
  g_list.C_CloseSession = w_CloseSession;
  g_list.C_CloseAllSessions = w_CloseAllSessions;
  TESSERA_FORWARD_SESSION(C_GetSessionInfo);
  TESSERA_FORWARD_SESSION(C_GetOperationState);
  TESSERA_FORWARD_SESSION(C_SetOperationState);
  g_list.C_Login = w_Login;
  TESSERA_FORWARD_SESSION(C_Logout);
  TESSERA_FORWARD_SESSION(C_CreateObject);
  TESSERA_FORWARD_SESSION(C_CopyObject);
  TESSERA_FORWARD_SESSION(C_DestroyObject);
  TESSERA_FORWARD_SESSION(C_GetObjectSize);
  TESSERA_FORWARD_SESSION(C_GetAttributeValue);
  TESSERA_FORWARD_SESSION(C_SetAttributeValue);
  TESSERA_FORWARD_SESSION(C_FindObjectsInit);
  TESSERA_FORWARD_SESSION(C_FindObjects);
  TESSERA_FORWARD_SESSION(C_FindObjectsFinal);
  TESSERA_FORWARD_SESSION(C_EncryptInit);
  TESSERA_FORWARD_SESSION(C_Encrypt);
  TESSERA_FORWARD_SESSION(C_EncryptUpdate);
  TESSERA_FORWARD_SESSION(C_EncryptFinal);
  TESSERA_FORWARD_SESSION(C_DecryptInit);
  TESSERA_FORWARD_SESSION(C_Decrypt);
  TESSERA_FORWARD_SESSION(C_DecryptUpdate);
  TESSERA_FORWARD_SESSION(C_DecryptFinal);
  TESSERA_FORWARD_SESSION(C_DigestInit);
  TESSERA_FORWARD_SESSION(C_Digest);
  TESSERA_FORWARD_SESSION(C_DigestUpdate);
  TESSERA_FORWARD_SESSION(C_DigestKey);
  TESSERA_FORWARD_SESSION(C_DigestFinal);
  TESSERA_FORWARD_SESSION(C_SignInit);
  g_list.C_Sign = w_Sign;
  TESSERA_FORWARD_SESSION(C_SignUpdate);
  g_list.C_SignFinal = w_SignFinal;
  TESSERA_FORWARD_SESSION(C_SignRecoverInit);
  TESSERA_FORWARD_SESSION(C_SignRecover);
  TESSERA_FORWARD_SESSION(C_VerifyInit);
  TESSERA_FORWARD_SESSION(C_Verify);
  TESSERA_FORWARD_SESSION(C_VerifyUpdate);
  TESSERA_FORWARD_SESSION(C_VerifyFinal);
  TESSERA_FORWARD_SESSION(C_VerifyRecoverInit);
  TESSERA_FORWARD_SESSION(C_VerifyRecover);
  TESSERA_FORWARD_SESSION(C_DigestEncryptUpdate);
  TESSERA_FORWARD_SESSION(C_DecryptDigestUpdate);
  TESSERA_FORWARD_SESSION(C_SignEncryptUpdate);
  TESSERA_FORWARD_SESSION(C_DecryptVerifyUpdate);
  TESSERA_FORWARD_SESSION(C_GenerateKey);
  TESSERA_FORWARD_SESSION(C_GenerateKeyPair);
  TESSERA_FORWARD_SESSION(C_WrapKey);
  TESSERA_FORWARD_SESSION(C_UnwrapKey);
  TESSERA_FORWARD_SESSION(C_DeriveKey);
  TESSERA_FORWARD_SESSION(C_SeedRandom);
  TESSERA_FORWARD_SESSION(C_GenerateRandom);
  TESSERA_FORWARD_SESSION(C_GetFunctionStatus);
  TESSERA_FORWARD_SESSION(C_CancelFunction);
  g_list.C_WaitForSlotEvent = w_WaitForSlotEvent;
}

#undef TESSERA_FORWARD_SESSION

// Loads the real module once. Returns false (and says why on stderr) if it cannot.
bool load_real_module() {
  State& s = state();
  std::lock_guard lock(s.mu);
  if (s.real != nullptr) return true;
  const char* path = std::getenv(kModuleEnv);
  if (path == nullptr || *path == '\0') path = kDefaultModule;
  void* library = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    log_line("cannot load the real module: %s", ::dlerror());
    return false;
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(library, "C_GetFunctionList"));
  CK_FUNCTION_LIST* real = nullptr;
  if (get_list == nullptr || get_list(&real) != CKR_OK || real == nullptr) {
    log_line("%s has no usable C_GetFunctionList", path);
    ::dlclose(library);
    return false;
  }
  const char* control = std::getenv(kControlEnv);
  s.control_path = control != nullptr ? control : "";
  const char* state_file = std::getenv(kStateEnv);
  s.state_path = state_file != nullptr && *state_file != '\0' ? std::string(state_file) : s.control_path + ".state";
  fill_function_list();
  s.library = library;
  s.real = real;
  return true;
}

CK_RV w_GetFunctionList(CK_FUNCTION_LIST** list) {
  if (list == nullptr) return CKR_ARGUMENTS_BAD;
  if (!load_real_module()) return CKR_GENERAL_ERROR;
  *list = &g_list;
  return CKR_OK;
}

}  // namespace

// The module's only exported symbol.
extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST** list) {
  return w_GetFunctionList(list);
}
