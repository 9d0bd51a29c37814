// The protocol version exchange (RFC 4253 section 4.2).
//
// Each side sends "SSH-2.0-softwareversion [comments]" CR LF. A server may
// send other lines first (a banner); a client may not. Limits are OpenSSH's,
// so a peer that OpenSSH accepts is accepted here and nothing larger: lines
// of up to kMaxVersionLineBytes, up to kMaxPreVersionLines lines before the
// identification. CR is allowed only right before LF; NUL nowhere.
#ifndef TESSERA_SSH_TRANSPORT_VERSION_H_
#define TESSERA_SSH_TRANSPORT_VERSION_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/key/error.h"

namespace tessera::ssh::transport {

inline constexpr size_t kMaxVersionLineBytes = 8192;
inline constexpr size_t kMaxPreVersionLines = 1024;

// Our identification, without CR LF.
inline constexpr std::string_view kOurVersion = "SSH-2.0-tessera_0.1.0";

class VersionReader {
 public:
  // peer_is_server: only a server's identification may follow other lines.
  explicit VersionReader(bool peer_is_server) : peer_is_server_(peer_is_server) {}

  // Reads from in up to and including the identification line, never past
  // it. Returns the number of bytes consumed; done() tells whether the
  // identification has been read. Fails (kMalformed / kTooLarge /
  // kUnsupported) on a broken line, too many lines, or a version other than
  // 2.0 (or 1.99, which means 2.0 as well).
  key::Result<size_t> feed(std::span<const uint8_t> in);

  bool done() const { return done_; }
  // Continues a connection whose identification another process read.
  void restore(std::string peer_version) {
    peer_version_ = std::move(peer_version);
    done_ = true;
  }
  // The peer's identification without CR LF (it goes into the exchange hash).
  const std::string& peer_version() const { return peer_version_; }
  // The software version field ("OpenSSH_9.2p1").
  std::string_view peer_software() const;
  // Lines the server sent before its identification.
  const std::vector<std::string>& banner_lines() const { return banner_lines_; }

 private:
  key::Status finish_line();

  bool peer_is_server_;
  bool done_ = false;
  bool saw_cr_ = false;
  std::string line_;
  std::string peer_version_;
  std::vector<std::string> banner_lines_;
};

}  // namespace tessera::ssh::transport

#endif  // TESSERA_SSH_TRANSPORT_VERSION_H_
