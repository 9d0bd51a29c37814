#include "tessera/sys/path.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace tessera::sys {

std::string home_directory() {
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  return "/";
}

key::Result<std::string> expand_tilde(std::string_view path, std::string_view home) {
  if (!path.starts_with('~')) return std::string(path);
  size_t slash = path.find('/');
  std::string user(path.substr(1, slash == std::string_view::npos ? std::string_view::npos : slash - 1));
  std::string rest(slash == std::string_view::npos ? std::string_view() : path.substr(slash));
  std::string dir;
  if (!user.empty()) {
    const passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr || pw->pw_dir == nullptr) {
      return key::Error(key::Errc::kInvalidArgument, "No such user " + user);
    }
    dir = pw->pw_dir;
  } else {
    dir = home.empty() ? home_directory() : std::string(home);
  }
  // "/" as a home must not give "//x".
  if (!dir.empty() && dir.back() == '/' && !rest.empty()) dir.pop_back();
  return dir + rest;
}

}  // namespace tessera::sys
