#include "server/monitor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tessera::ssh::server {

using key::Errc;
using key::Error;

namespace {

// Requests a connection's processes may make in all (a client with many
// keys queries and signs with each; OpenSSH's MaxAuthTries stops it long
// before this).
constexpr unsigned kMaxPublickeyRequests = 256;
constexpr uint32_t kMaxBlobs = 64;

enum class ReplyStatus : uint8_t { kOk = 0, kRefused = 1 };

key::Status write_all(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(Errc::kIo, std::string("monitor socket: ") + std::strerror(errno));
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return key::ok_status();
}

key::Status read_all(int fd, std::span<uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = read(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(Errc::kIo, std::string("monitor socket: ") + std::strerror(errno));
    }
    if (n == 0) return Error(Errc::kIo, "monitor socket closed");
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return key::ok_status();
}

void write_blobs(key::Writer& w, std::span<const key::Bytes> blobs) {
  w.u32(static_cast<uint32_t>(blobs.size()));
  for (const key::Bytes& b : blobs) w.string(b);
}

key::Result<std::vector<key::Bytes>> read_blobs(key::Reader& in) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t n, in.u32());
  if (n > kMaxBlobs) return Error(Errc::kTooLarge, "too many keys in one request");
  std::vector<key::Bytes> out;
  for (uint32_t i = 0; i < n; ++i) {
    TESSERA_ASSIGN_OR_RETURN(auto blob, in.string());
    out.emplace_back(blob.begin(), blob.end());
  }
  return out;
}

void write_keys(key::Writer& w, const transport::DirectionKeys& keys) {
  w.string(keys.iv.reveal());
  w.string(keys.encryption_key.reveal());
  w.string(keys.mac_key.reveal());
}

key::Result<transport::DirectionKeys> read_keys(key::Reader& in) {
  transport::DirectionKeys keys;
  TESSERA_ASSIGN_OR_RETURN(auto iv, in.string());
  TESSERA_ASSIGN_OR_RETURN(auto k, in.string());
  TESSERA_ASSIGN_OR_RETURN(auto mac, in.string());
  keys.iv = key::SecretBytes::copy_of(iv);
  keys.encryption_key = key::SecretBytes::copy_of(k);
  keys.mac_key = key::SecretBytes::copy_of(mac);
  return keys;
}

key::Bytes bytes_of(std::span<const uint8_t> s) { return key::Bytes(s.begin(), s.end()); }

}  // namespace

key::Status write_frame(int fd, std::span<const uint8_t> payload) {
  if (payload.size() > kMaxMonitorFrame) return Error(Errc::kTooLarge, "monitor frame too large");
  key::Writer w;
  w.u32(static_cast<uint32_t>(payload.size()));
  w.bytes(payload);
  return write_all(fd, w.data());
}

key::Result<key::SecretBytes> read_frame(int fd) {
  uint8_t head[4];
  TESSERA_TRY(read_all(fd, head));
  const uint32_t length = (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
  if (length == 0 || length > kMaxMonitorFrame) return Error(Errc::kTooLarge, "bad monitor frame length");
  key::SecretBytes frame(length);
  TESSERA_TRY(read_all(fd, frame.reveal_mutable()));
  return frame;
}

key::Result<key::SecretBytes> MonitorClient::call(MonitorRequest type, std::span<const uint8_t> fields) {
  key::Writer w;
  w.u8(static_cast<uint8_t>(type));
  w.bytes(fields);
  TESSERA_TRY(write_frame(fd_, w.data()));
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes reply, read_frame(fd_));
  const auto bytes = reply.reveal();
  if (bytes[0] == static_cast<uint8_t>(ReplyStatus::kOk)) return key::SecretBytes::copy_of(bytes.subspan(1));
  key::Reader in(bytes.subspan(1));
  auto message = in.text();
  return Error(Errc::kInvalidArgument, message.ok() ? std::string(*message) : "refused by the monitor");
}

key::Bytes encode_kex_answer(const transport::KexAnswer& a) {
  key::Writer w;
  w.string(a.reply);
  const transport::Negotiated& n = a.negotiated;
  for (const std::string* s : {&n.kex, &n.host_key, &n.cipher_c2s, &n.cipher_s2c, &n.mac_c2s, &n.mac_s2c,
                               &n.compression_c2s, &n.compression_s2c}) {
    w.string(*s);
  }
  w.string(a.exchange_hash);
  w.string(a.session_id);
  write_keys(w, a.client_to_server);
  write_keys(w, a.server_to_client);
  return w.take();
}

key::Result<transport::KexAnswer> decode_kex_answer(std::span<const uint8_t> fields) {
  key::Reader in(fields);
  transport::KexAnswer a;
  TESSERA_ASSIGN_OR_RETURN(auto reply, in.string());
  a.reply = bytes_of(reply);
  transport::Negotiated& n = a.negotiated;
  for (std::string* s : {&n.kex, &n.host_key, &n.cipher_c2s, &n.cipher_s2c, &n.mac_c2s, &n.mac_s2c,
                         &n.compression_c2s, &n.compression_s2c}) {
    TESSERA_ASSIGN_OR_RETURN(std::string_view text, in.text());
    *s = std::string(text);
  }
  TESSERA_ASSIGN_OR_RETURN(auto hash, in.string());
  a.exchange_hash = bytes_of(hash);
  TESSERA_ASSIGN_OR_RETURN(auto session_id, in.string());
  a.session_id = bytes_of(session_id);
  TESSERA_ASSIGN_OR_RETURN(a.client_to_server, read_keys(in));
  TESSERA_ASSIGN_OR_RETURN(a.server_to_client, read_keys(in));
  TESSERA_TRY(in.expect_end());
  if (a.reply.empty()) return Error(Errc::kMalformed, "empty key exchange reply");
  return a;
}

// ---- the processes' side

key::Result<key::Bytes> RemoteKexAuthority::server_kexinit() {
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes reply, monitor_.call(MonitorRequest::kKexInit, {}));
  key::Reader in(reply.reveal());
  TESSERA_ASSIGN_OR_RETURN(auto kexinit, in.string());
  TESSERA_TRY(in.expect_end());
  return bytes_of(kexinit);
}

key::Result<key::Bytes> RemoteKexAuthority::gex_group(std::string_view client_version,
                                                      std::span<const uint8_t> client_kexinit,
                                                      std::span<const uint8_t> request) {
  key::Writer w;
  w.string(client_version);
  w.string(client_kexinit);
  w.string(request);
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes reply, monitor_.call(MonitorRequest::kKexGroup, w.data()));
  key::Reader in(reply.reveal());
  TESSERA_ASSIGN_OR_RETURN(auto group, in.string());
  TESSERA_TRY(in.expect_end());
  if (group.empty()) return Error(Errc::kMalformed, "empty DH GEX group");
  return bytes_of(group);
}

key::Result<transport::KexAnswer> RemoteKexAuthority::answer(std::string_view client_version,
                                                             std::span<const uint8_t> client_kexinit,
                                                             std::span<const uint8_t> kex_message) {
  key::Writer w;
  w.string(client_version);
  w.string(client_kexinit);
  w.string(kex_message);
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes reply, monitor_.call(MonitorRequest::kKexAnswer, w.data()));
  return decode_kex_answer(reply.reveal());
}

std::vector<key::Bytes> RemoteKexAuthority::host_key_blobs() {
  auto reply = monitor_.call(MonitorRequest::kHostKeys, {});
  if (!reply.ok()) return {};
  key::Reader in(reply->reveal());
  auto blobs = read_blobs(in);
  return blobs.ok() ? std::move(*blobs) : std::vector<key::Bytes>{};
}

key::Result<std::vector<key::Bytes>> RemoteKexAuthority::prove_host_keys(std::span<const key::Bytes> blobs) {
  key::Writer w;
  write_blobs(w, blobs);
  TESSERA_ASSIGN_OR_RETURN(key::SecretBytes reply, monitor_.call(MonitorRequest::kProveHostKeys, w.data()));
  key::Reader in(reply.reveal());
  return read_blobs(in);
}

auth::AuthDecision RemoteAuthDecider::publickey(const auth::PublickeyAttempt& attempt) {
  key::Writer w;
  w.string(attempt.user);
  w.string(attempt.algorithm);
  w.string(attempt.key_blob);
  w.boolean(attempt.signature.has_value());
  if (attempt.signature) w.string(*attempt.signature);
  auto reply = monitor_.call(MonitorRequest::kPublickey, w.data());
  if (!reply.ok()) return {.accepted = false, .disconnect = reply.error().message()};
  key::Reader in(reply->reveal());
  auto accepted = in.boolean();
  if (!accepted.ok()) return {.accepted = false, .disconnect = std::string("malformed monitor reply")};
  return {.accepted = *accepted, .disconnect = std::nullopt};
}

// ---- the monitor's side

key::Bytes MonitorService::handle(std::span<const uint8_t> request) {
  key::Writer reply;
  key::Reader in(request);
  auto type = in.u8();
  key::Result<key::Bytes> result = Error(Errc::kMalformed, "empty request");
  if (type.ok()) result = dispatch(static_cast<MonitorRequest>(*type), in);
  if (result.ok()) {
    reply.u8(static_cast<uint8_t>(ReplyStatus::kOk));
    reply.bytes(*result);
  } else {
    broken_ = true;
    failure_ = result.error().message();
    reply.u8(static_cast<uint8_t>(ReplyStatus::kRefused));
    reply.string(result.error().message());
  }
  return reply.take();
}

key::Result<key::Bytes> MonitorService::dispatch(MonitorRequest type, key::Reader& in) {
  const bool pre_auth = phase_ == MonitorPhase::kPreAuth;
  key::Writer out;
  switch (type) {
    case MonitorRequest::kKexInit: {
      TESSERA_TRY(in.expect_end());
      TESSERA_ASSIGN_OR_RETURN(key::Bytes kexinit, authority_.server_kexinit());
      out.string(kexinit);
      return out.take();
    }
    case MonitorRequest::kKexGroup: {
      // The authority refuses a group outside an exchange it started, a
      // second one, and one for an exchange that is not group exchange.
      TESSERA_ASSIGN_OR_RETURN(std::string_view version, in.text());
      TESSERA_ASSIGN_OR_RETURN(auto kexinit, in.string());
      TESSERA_ASSIGN_OR_RETURN(auto gex_request, in.string());
      TESSERA_TRY(in.expect_end());
      TESSERA_ASSIGN_OR_RETURN(key::Bytes group, authority_.gex_group(version, kexinit, gex_request));
      out.string(group);
      return out.take();
    }
    case MonitorRequest::kKexAnswer: {
      TESSERA_ASSIGN_OR_RETURN(std::string_view version, in.text());
      TESSERA_ASSIGN_OR_RETURN(auto kexinit, in.string());
      TESSERA_ASSIGN_OR_RETURN(auto message, in.string());
      TESSERA_TRY(in.expect_end());
      TESSERA_ASSIGN_OR_RETURN(transport::KexAnswer answer, authority_.answer(version, kexinit, message));
      return encode_kex_answer(answer);
    }
    case MonitorRequest::kPublickey:
      if (!pre_auth || authenticated_) return Error(Errc::kInvalidArgument, "authentication is over");
      return on_publickey(in);
    case MonitorRequest::kHandOver: {
      if (!pre_auth || !authenticated_ || handed_over_) {
        return Error(Errc::kInvalidArgument, "hand-over before authentication");
      }
      TESSERA_ASSIGN_OR_RETURN(auto state, in.string());
      TESSERA_TRY(in.expect_end());
      handed_over_ = key::SecretBytes::copy_of(state);
      return key::Bytes{};
    }
    case MonitorRequest::kHostKeys: {
      TESSERA_TRY(in.expect_end());
      if (pre_auth) return Error(Errc::kInvalidArgument, "host keys are announced after authentication");
      write_blobs(out, authority_.host_key_blobs());
      return out.take();
    }
    case MonitorRequest::kProveHostKeys: {
      if (pre_auth) return Error(Errc::kInvalidArgument, "host key proofs come after authentication");
      TESSERA_ASSIGN_OR_RETURN(std::vector<key::Bytes> blobs, read_blobs(in));
      TESSERA_TRY(in.expect_end());
      TESSERA_ASSIGN_OR_RETURN(std::vector<key::Bytes> proofs, authority_.prove_host_keys(blobs));
      write_blobs(out, proofs);
      return out.take();
    }
    case MonitorRequest::kLog: {
      TESSERA_ASSIGN_OR_RETURN(uint8_t level, in.u8());
      TESSERA_ASSIGN_OR_RETURN(auto text, in.string());
      TESSERA_TRY(in.expect_end());
      if (level < 1 || level > 7) return Error(Errc::kMalformed, "log level " + std::to_string(level));
      std::string line(key::as_text(text).substr(0, kMaxMonitorLogLine));
      for (char& ch : line) {
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
      }
      if (hooks_.log) hooks_.log(level, line);
      return key::Bytes{};
    }
    case MonitorRequest::kPtyRecord: {
      if (pre_auth) return Error(Errc::kInvalidArgument, "no ptys before authentication");
      TESSERA_ASSIGN_OR_RETURN(bool login, in.boolean());
      TESSERA_ASSIGN_OR_RETURN(std::string_view tty, in.text());
      TESSERA_ASSIGN_OR_RETURN(uint32_t pid, in.u32());
      TESSERA_TRY(in.expect_end());
      if (!hooks_.record_pty) return key::Bytes{};
      TESSERA_TRY(hooks_.record_pty(login, tty, pid));
      return key::Bytes{};
    }
  }
  return Error(Errc::kUnsupported, "unknown monitor request " + std::to_string(static_cast<int>(type)));
}

key::Result<key::Bytes> MonitorService::on_publickey(key::Reader& in) {
  if (++attempts_ > kMaxPublickeyRequests || refusals_ >= max_auth_tries_) {
    return Error(Errc::kInvalidArgument, "too many authentication requests");
  }
  auth::PublickeyAttempt attempt;
  TESSERA_ASSIGN_OR_RETURN(std::string_view user, in.text());
  TESSERA_ASSIGN_OR_RETURN(std::string_view algorithm, in.text());
  TESSERA_ASSIGN_OR_RETURN(auto blob, in.string());
  TESSERA_ASSIGN_OR_RETURN(bool has_signature, in.boolean());
  if (has_signature) {
    TESSERA_ASSIGN_OR_RETURN(auto signature, in.string());
    attempt.signature = bytes_of(signature);
  }
  TESSERA_TRY(in.expect_end());
  attempt.user = std::string(user);
  attempt.algorithm = std::string(algorithm);
  attempt.key_blob = bytes_of(blob);
  if (authority_.session_id().empty()) return Error(Errc::kInvalidArgument, "authentication before key exchange");
  if (!first_user_.empty() && first_user_ != attempt.user) {
    return Error(Errc::kInvalidArgument, "the user changed during authentication");
  }
  first_user_ = attempt.user;

  KeyVerdict verdict = hooks_.check_key ? hooks_.check_key(attempt) : KeyVerdict{};
  bool accepted = verdict.allowed;
  std::string detail = verdict.log_detail;
  if (accepted && attempt.signature) {
    // The signed data comes from our own session id: nothing the child
    // relays decides what is verified.
    auto verified = auth::verify_publickey_signature(authority_.session_id(), attempt);
    if (!verified.ok()) {
      accepted = false;
      detail = "signature did not verify: " + verified.error().message();
    } else if (auto flags = auth::security_key_signature_flags(*attempt.signature)) {
      // sshd's words for the two refusals.
      if (verdict.require_user_presence && (*flags & auth::kSkUserPresent) == 0) {
        accepted = false;
        detail = "public key " + detail + " signature lacks user presence";
      } else if (verdict.require_user_verification && (*flags & auth::kSkUserVerified) == 0) {
        accepted = false;
        detail = "public key " + detail + " signature lacks user verification";
      }
    }
  }
  if (hooks_.log_attempt) hooks_.log_attempt(attempt, accepted, detail);
  if (!accepted) ++refusals_;
  if (accepted && attempt.signature) authenticated_ = std::move(attempt);
  key::Writer out;
  out.boolean(accepted);
  return out.take();
}

}  // namespace tessera::ssh::server
