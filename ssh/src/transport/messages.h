// SSH message numbers (RFC 4250 section 4.1, RFC 8308, OpenSSH's PROTOCOL).
#ifndef TESSERA_SSH_TRANSPORT_MESSAGES_H_
#define TESSERA_SSH_TRANSPORT_MESSAGES_H_

#include <cstdint>

namespace tessera::ssh {

namespace msg {
// Transport layer generic (1-19).
inline constexpr uint8_t kDisconnect = 1;
inline constexpr uint8_t kIgnore = 2;
inline constexpr uint8_t kUnimplemented = 3;
inline constexpr uint8_t kDebug = 4;
inline constexpr uint8_t kServiceRequest = 5;
inline constexpr uint8_t kServiceAccept = 6;
inline constexpr uint8_t kExtInfo = 7;
// Algorithm negotiation (20-29).
inline constexpr uint8_t kKexInit = 20;
inline constexpr uint8_t kNewKeys = 21;
// Key exchange method specific (30-49). The ECDH-style methods (RFC 5656,
// 8731, the fixed DH groups and the sntrup761 hybrid) use 30/31; group
// exchange (RFC 4419) uses 30-34 with its own meanings.
inline constexpr uint8_t kKexEcdhInit = 30;
inline constexpr uint8_t kKexEcdhReply = 31;
inline constexpr uint8_t kKexDhGexGroup = 31;
inline constexpr uint8_t kKexDhGexInit = 32;
inline constexpr uint8_t kKexDhGexReply = 33;
inline constexpr uint8_t kKexDhGexRequest = 34;
// User authentication (50-79).
inline constexpr uint8_t kUserauthRequest = 50;
inline constexpr uint8_t kUserauthFailure = 51;
inline constexpr uint8_t kUserauthSuccess = 52;
inline constexpr uint8_t kUserauthBanner = 53;
inline constexpr uint8_t kUserauthPkOk = 60;  // also PASSWD_CHANGEREQ and INFO_REQUEST
inline constexpr uint8_t kUserauthInfoRequest = 60;
inline constexpr uint8_t kUserauthInfoResponse = 61;
// Connection protocol (80-127).
inline constexpr uint8_t kGlobalRequest = 80;
inline constexpr uint8_t kRequestSuccess = 81;
inline constexpr uint8_t kRequestFailure = 82;
inline constexpr uint8_t kChannelOpen = 90;
inline constexpr uint8_t kChannelOpenConfirmation = 91;
inline constexpr uint8_t kChannelOpenFailure = 92;
inline constexpr uint8_t kChannelWindowAdjust = 93;
inline constexpr uint8_t kChannelData = 94;
inline constexpr uint8_t kChannelExtendedData = 95;
inline constexpr uint8_t kChannelEof = 96;
inline constexpr uint8_t kChannelClose = 97;
inline constexpr uint8_t kChannelRequest = 98;
inline constexpr uint8_t kChannelSuccess = 99;
inline constexpr uint8_t kChannelFailure = 100;
// ping@openssh.com (OpenSSH's PROTOCOL section 1.9).
inline constexpr uint8_t kPing = 192;
inline constexpr uint8_t kPong = 193;
}  // namespace msg

// Reason codes of SSH_MSG_DISCONNECT (RFC 4253 section 11.1).
enum class DisconnectReason : uint32_t {
  kHostNotAllowedToConnect = 1,
  kProtocolError = 2,
  kKeyExchangeFailed = 3,
  kReserved = 4,
  kMacError = 5,
  kCompressionError = 6,
  kServiceNotAvailable = 7,
  kProtocolVersionNotSupported = 8,
  kHostKeyNotVerifiable = 9,
  kConnectionLost = 10,
  kByApplication = 11,
  kTooManyConnections = 12,
  kAuthCancelledByUser = 13,
  kNoMoreAuthMethodsAvailable = 14,
  kIllegalUserName = 15,
};

}  // namespace tessera::ssh

#endif  // TESSERA_SSH_TRANSPORT_MESSAGES_H_
