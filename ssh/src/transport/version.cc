#include "transport/version.h"

#include <string>

namespace tessera::ssh::transport {

using key::Errc;
using key::Error;

key::Result<size_t> VersionReader::feed(std::span<const uint8_t> in) {
  size_t used = 0;
  while (!done_ && used < in.size()) {
    const char c = static_cast<char>(in[used++]);
    if (c == '\n') {
      TESSERA_TRY(finish_line());
      continue;
    }
    if (saw_cr_) return Error(Errc::kMalformed, "protocol identification: CR not followed by LF");
    if (c == '\r') {
      saw_cr_ = true;
      continue;
    }
    if (c == '\0') return Error(Errc::kMalformed, "protocol identification: NUL byte in line");
    if (line_.size() + 2 >= kMaxVersionLineBytes) {
      return Error(Errc::kTooLarge, "protocol identification: line longer than " +
                                        std::to_string(kMaxVersionLineBytes) + " bytes");
    }
    line_.push_back(c);
  }
  return used;
}

key::Status VersionReader::finish_line() {
  saw_cr_ = false;
  std::string line;
  line.swap(line_);
  if (!std::string_view(line).starts_with("SSH-")) {
    if (!peer_is_server_) return Error(Errc::kMalformed, "client sent something other than an SSH identification");
    if (banner_lines_.size() >= kMaxPreVersionLines) {
      return Error(Errc::kTooLarge, "no SSH identification in the server's first " +
                                        std::to_string(kMaxPreVersionLines) + " lines");
    }
    banner_lines_.push_back(std::move(line));
    return key::ok_status();
  }
  // SSH-protoversion-softwareversion[ SP comments]
  const std::string_view rest = std::string_view(line).substr(4);
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos) return Error(Errc::kMalformed, "protocol identification has no software version");
  const std::string_view proto = rest.substr(0, dash);
  if (proto != "2.0" && proto != "1.99") {
    return Error(Errc::kUnsupported, "peer speaks SSH protocol " + std::string(proto) + ", not 2.0");
  }
  const std::string_view software = rest.substr(dash + 1);
  if (software.empty() || software.front() == ' ') {
    return Error(Errc::kMalformed, "protocol identification has an empty software version");
  }
  peer_version_ = std::move(line);
  done_ = true;
  return key::ok_status();
}

std::string_view VersionReader::peer_software() const {
  std::string_view v = peer_version_;
  const size_t dash = v.find('-', 4);
  if (dash == std::string_view::npos) return {};
  v = v.substr(dash + 1);
  return v.substr(0, v.find(' '));
}

}  // namespace tessera::ssh::transport
