#include "output.h"

#include <langinfo.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <cwctype>

namespace tessera::keygen {
namespace {

bool g_utf8_locale = false;

void append_octal(std::string& out, unsigned char byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\%03o", static_cast<unsigned>(byte));
  out += buf;
}

}  // namespace

void print_error(std::string_view message) {
  std::fflush(stdout);
  std::string line(message);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

int fatal(std::string_view message) {
  print_error(message);
  return kExitFatal;
}

namespace {
// Marks the subcode of an Error as tessera-keygen's exit status (other
// components use subcodes for codes of their own).
constexpr uint32_t kExitStatusMark = 0x65786974;  // "exit"
}  // namespace

key::Error fatal_failure(std::string message, int status) {
  return key::Error(key::Errc::kIo, std::move(message)).with_subcode(static_cast<uint32_t>(status), kExitStatusMark);
}

int report_failure(const key::Error& error) {
  if (!error.detail().empty()) print_error(error.detail());
  return error.flags() == kExitStatusMark ? static_cast<int>(error.subcode()) : kExitFatal;
}

int failure(std::string_view message) {
  print_error(message);
  return kExitFailure;
}

void print_out(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

void init_locale() {
  // As msetlocale(): the first of LC_ALL, LC_CTYPE, LANG that names a UTF-8
  // locale is used; otherwise "C".
  for (const char* var : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* value = std::getenv(var);
    if (value == nullptr || strcasestr(value, "UTF-8") == nullptr) continue;
    if (std::setlocale(LC_CTYPE, value) != nullptr) {
      const char* codeset = nl_langinfo(CODESET);
      g_utf8_locale = codeset != nullptr && std::strcmp(codeset, "UTF-8") == 0;
      return;
    }
  }
  std::setlocale(LC_CTYPE, "C");
  g_utf8_locale = false;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::mbstate_t state{};
  size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\t' || byte == '\r' || byte == '\n' || (byte >= 0x20 && byte < 0x7f)) {
      out += static_cast<char>(byte);
      ++i;
      continue;
    }
    if (byte >= 0x80 && g_utf8_locale) {
      wchar_t wc = 0;
      size_t len = std::mbrtowc(&wc, text.data() + i, text.size() - i, &state);
      if (len != static_cast<size_t>(-1) && len != static_cast<size_t>(-2) && len != 0 &&
          std::iswprint(static_cast<wint_t>(wc))) {
        out.append(text.substr(i, len));
        i += len;
        continue;
      }
      state = std::mbstate_t{};
    }
    append_octal(out, byte);
    ++i;
  }
  return out;
}

std::string describe(const key::Error& error) {
  switch (error.code()) {
    case key::Errc::kWrongPassphrase:
    case key::Errc::kPassphraseRequired:
      return "incorrect passphrase supplied to decrypt private key";
    default:
      return error.message();
  }
}

}  // namespace tessera::keygen
